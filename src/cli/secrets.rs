//! Secrets where other users of the host would see them (docs/cli.md, Secrets on a shared
//! host): `ps` shows every user's arguments, so a token or a database password typed there
//! still works but is warned about once, and `--token -` reads the token from stdin instead.

use std::io::{IsTerminal, Read, Write};

use zeroize::Zeroizing;

use super::error::CliError;
use super::output::warning;
use crate::args::{Command, GlobalArgs, KeysCommand};

/// More than any admin token; a longer stdin is not one token.
const MAX_TOKEN_INPUT: usize = 4096;

pub const TOKEN_WARNING: &str = "--token on the command line is seen by every user of this host \
     (ps, /proc/PID/cmdline): set RAGKEYS_TOKEN, use token_command in a profile, or pass \
     --token - to read it from stdin";

pub const DATABASE_WARNING: &str = "a password in --database is seen by every user of this host \
     (ps, /proc/PID/cmdline): give the URL in RAGKEYS_DATABASE_URL, or the password in a \
     .pgpass file";

/// Before any command runs: warns once about a secret typed on the command line, and replaces
/// `--token -` by the token read from stdin. `--token -` with a command that reads its own
/// secret from stdin (`keys whois`, `keys leak`) is a usage error.
pub fn settle(cmd: Option<&Command>, global: &mut GlobalArgs) -> Result<(), CliError> {
    if global.database_typed && database_url(cmd).is_some_and(|u| u.has_password()) {
        warning(DATABASE_WARNING);
    }
    if global.token.as_deref() == Some("-") {
        if let Some(Command::Keys(k)) = cmd {
            let reads_a_key = match k.command {
                KeysCommand::Whois { .. } => Some("keys whois"),
                KeysCommand::Leak { .. } => Some("keys leak"),
                _ => None,
            };
            if let Some(command) = reads_a_key {
                return Err(CliError::usage(format!(
                    "--token - reads the token from stdin, where {command} reads the key: give \
                     the token in RAGKEYS_TOKEN or a profile's token_command"
                )));
            }
        }
        global.token = Some(read_token()?.to_string());
    } else if global.token_typed {
        warning(TOKEN_WARNING);
    }
    Ok(())
}

fn database_url(cmd: Option<&Command>) -> Option<&crate::server::store::postgres::DatabaseUrl> {
    match cmd? {
        Command::Serve(s) => s.serve.store.database.as_ref(),
        Command::Tokens(t) => t.store.database.as_ref(),
        _ => None,
    }
}

/// The token from stdin: a hidden prompt on a terminal, else the first line of what is piped.
fn read_token() -> Result<Zeroizing<String>, CliError> {
    let stdin = std::io::stdin();
    let text = if stdin.is_terminal() {
        read_hidden("Admin token (input hidden): ", MAX_TOKEN_INPUT)?
    } else {
        let mut buf = Zeroizing::new(Vec::new());
        stdin
            .lock()
            .take(MAX_TOKEN_INPUT as u64)
            .read_to_end(&mut buf)
            .map_err(|e| CliError::other(format!("cannot read the token from stdin: {e}")))?;
        Zeroizing::new(String::from_utf8_lossy(&buf).into_owned())
    };
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(CliError::usage(
            "--token -: no token on stdin: pipe it in (e.g. `pass show ragkeys | ragkeys --token - \
             …`) or type it at the prompt",
        ));
    }
    Ok(Zeroizing::new(token.to_owned()))
}

/// Restores the terminal however the read ends.
struct RawMode;

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// One line typed or pasted on the terminal with echo off, at most `max` bytes: crossterm's
/// raw mode on stdin (the terminal the user types on), read byte by byte. Enter ends it;
/// Backspace, Ctrl-U, Ctrl-C.
pub fn read_hidden(prompt: &str, max: usize) -> Result<Zeroizing<String>, CliError> {
    // Echo off before the prompt shows: what is typed as soon as it appears is never echoed.
    crossterm::terminal::enable_raw_mode()
        .map_err(|e| CliError::other(format!("cannot turn off the terminal's echo: {e}")))?;
    let guard = RawMode;
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{prompt}").and_then(|()| err.flush());
    let mut line = Zeroizing::new(Vec::new());
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    let outcome = loop {
        match stdin.read(&mut byte) {
            Ok(0) => break Ok(()),
            Ok(_) => match byte[0] {
                b'\r' | b'\n' => break Ok(()),
                // Ctrl-C: raw mode turns off the signal, so it is honoured here.
                3 => break Err(CliError::other("cancelled: nothing was sent")),
                // Ctrl-D on an empty line: end of input.
                4 if line.is_empty() => break Ok(()),
                // Backspace (DEL or ^H), and Ctrl-U for the whole line.
                0x7f | 8 => {
                    line.pop();
                }
                0x15 => line.clear(),
                b if line.len() < max => line.push(b),
                _ => {}
            },
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                break Err(CliError::other(format!(
                    "cannot read from the terminal: {e}"
                )));
            }
        }
    };
    drop(guard);
    let _ = writeln!(err);
    outcome?;
    Ok(Zeroizing::new(String::from_utf8_lossy(&line).into_owned()))
}
