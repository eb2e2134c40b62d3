//! `ragkeys tokens …`: admin tokens, straight on the data dir (no HTTP), also while the service
//! runs: the service looks tokens up on every request, so changes count at once.

use std::io::Write;

use super::output::to_stderr;
use crate::args::{GlobalArgs, RoleArg, StoreArgs, TokensCommand};
use crate::server::setup;
use crate::server::store::{Store, StoreError, TokenRecord};
use crate::wire::{Role, Timestamp, validate_text};

const EXIT_OTHER: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NOT_FOUND: u8 = 3;

/// One `error: …` line on stderr, as every command writes it.
fn error(message: &str) {
    super::output::print_error(&super::error::CliError::other(message));
}

/// Writes `text` to stdout; the OS's reason when that fails (`/dev/full`, a closed pipe).
fn write_stdout(text: &str) -> Result<(), std::io::Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush())
}

/// `ragkeys tokens …` on the data dir's SQLite, or on the PostgreSQL database of `--database`
/// (with `--pepper-file`): tokens made there count on every replica at once.
pub fn main(global: &GlobalArgs, cmd: &TokensCommand, store: &StoreArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error(&format!("cannot start the async runtime: {e}"));
            return EXIT_OTHER;
        }
    };
    runtime.block_on(run(global, cmd, store))
}

async fn run(global: &GlobalArgs, cmd: &TokensCommand, store: &StoreArgs) -> u8 {
    if let TokensCommand::Create { name, .. } = cmd
        && let Err(msg) = validate_text("name", name, 1, 50)
    {
        error(&msg.to_string());
        return EXIT_USAGE;
    }
    let dir = crate::config::data_dir(global);
    let data = match setup::open_with(&dir, store, setup::TOKENS_DB_WAIT).await {
        Ok(d) => d,
        Err(e) => {
            error(&format!("{e:#}"));
            return EXIT_OTHER;
        }
    };
    let code = match cmd {
        TokensCommand::Create { name, role } => create(&data, name, *role, global.json).await,
        TokensCommand::List => list(data.store.as_ref(), global.json).await,
        TokensCommand::Revoke { name } => revoke(data.store.as_ref(), name, global.json).await,
    };
    if let Err(e) = data.store.close().await {
        error(&format!("closing the database failed: {e}"));
        return EXIT_OTHER;
    }
    code
}

/// `tokens create --json`: the token as listed, and the token itself.
#[derive(serde::Serialize)]
struct Created<'a> {
    name: &'a str,
    role: Role,
    created_at: Timestamp,
    masked: &'a str,
    token: &'a str,
}

/// A token as `tokens list --json` shows it.
fn token_json(t: &TokenRecord) -> serde_json::Value {
    let mut v = serde_json::json!({
        "name": t.name,
        "role": t.role,
        "created_at": Timestamp::from_unix(t.created_at),
        "masked": t.masked,
    });
    // A console's own token says whose process it is (docs/console.md, Who did it).
    if let Some(pid) = t.console_pid {
        v["console_pid"] = pid.into();
    }
    v
}

async fn create(data: &setup::DataDir, name: &str, role: RoleArg, json: bool) -> u8 {
    let role = match role {
        RoleArg::Viewer => Role::Viewer,
        RoleArg::Manager => Role::Manager,
    };
    match setup::create_token(data.store.as_ref(), &data.pepper, name, role, None).await {
        Ok((token, record)) => {
            let line = zeroize::Zeroizing::new(if json {
                // docs/cli.md, Output: the listed object plus the token, serialized straight into
                // the buffer that is wiped (no copy of the token left in a JSON value).
                let created = Created {
                    name: &record.name,
                    role: record.role,
                    created_at: Timestamp::from_unix(record.created_at),
                    masked: &record.masked,
                    token: token.expose(),
                };
                let mut text = serde_json::to_string(&created).unwrap_or_default();
                text.push('\n');
                text
            } else {
                format!("{}\n", token.expose())
            });
            if let Err(e) = write_stdout(&line) {
                // Nobody received the token: do not leave a live one behind (this one by its
                // record, never a token another process made under the same name since).
                let revoked = data.store.revoke_listed_token(record).await.is_ok();
                error(&format!(
                    "cannot write the token to stdout: {e}; {}",
                    if revoked {
                        format!("the token {name:?} was revoked again, nothing was created")
                    } else {
                        format!("revoke it: ragkeys tokens revoke {name}")
                    }
                ));
                return EXIT_OTHER;
            }
            0
        }
        Err(StoreError::NameTaken) if held_by_a_console(data.store.as_ref(), name).await => {
            error(&format!(
                "{name:?} is the name of a running console's own token: choose another name \
                 (a console's token goes when its console ends)"
            ));
            EXIT_OTHER
        }
        Err(StoreError::NameTaken) => {
            error(&format!(
                "an admin token named {name:?} already exists \
                 (revoke it first: ragkeys tokens revoke {name})"
            ));
            EXIT_OTHER
        }
        Err(e) => {
            error(&e.to_string());
            EXIT_OTHER
        }
    }
}

/// Whether a console's own token has this name (docs/console.md, Who did it): only to explain a
/// refusal, so a failing lookup counts as no.
async fn held_by_a_console(store: &dyn Store, name: &str) -> bool {
    store.list_tokens().await.is_ok_and(|tokens| {
        tokens
            .iter()
            .any(|t| t.name == name && t.console_pid.is_some())
    })
}

fn table(tokens: &[TokenRecord]) -> String {
    // A console's own token shares its name with the person's other consoles: its process id
    // tells them apart, in a column shown only when there is one.
    let consoles = tokens.iter().any(|t| t.console_pid.is_some());
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            let mut row = vec![
                crate::sanitize::clean(&t.name).into_owned(),
                t.role.to_string(),
                Timestamp::from_unix(t.created_at).to_string(),
                t.masked.clone(),
            ];
            if consoles {
                row.push(t.console_pid.map_or_else(String::new, |p| p.to_string()));
            }
            row
        })
        .collect();
    let mut header: Vec<String> = ["NAME", "ROLE", "CREATED", "MASKED"]
        .map(String::from)
        .to_vec();
    if consoles {
        header.push("CONSOLE PID".into());
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(unicode_width::UnicodeWidthStr::width(cell.as_str()));
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths.iter().copied()).enumerate() {
            line.push_str(cell);
            if i + 1 < r.len() {
                let pad = w - unicode_width::UnicodeWidthStr::width(cell.as_str()) + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

async fn list(store: &dyn Store, json: bool) -> u8 {
    let tokens = match store.list_tokens().await {
        Ok(t) => t,
        Err(e) => {
            error(&e.to_string());
            return EXIT_OTHER;
        }
    };
    let text = if json {
        let items: Vec<_> = tokens.iter().map(token_json).collect();
        format!("{}\n", serde_json::Value::Array(items))
    } else if tokens.is_empty() {
        // docs/cli.md, Output: an empty list prints nothing on stdout and says so on stderr.
        to_stderr(
            "No admin tokens yet. Create one with: ragkeys tokens create --name NAME --role \
             manager|viewer\n",
        );
        return 0;
    } else {
        table(&tokens)
    };
    match write_stdout(&text) {
        Ok(()) => 0,
        // `| head` closing the pipe is not worth a message, as for the other commands.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            error(&format!("cannot write to stdout: {e}"));
            EXIT_OTHER
        }
    }
}

async fn revoke(store: &dyn Store, name: &str, json: bool) -> u8 {
    match store.revoke_token(name.to_owned()).await {
        Ok(()) => {
            to_stderr(&format!("revoked the admin token {name:?}\n"));
            if json {
                let v = serde_json::json!({ "name": name, "revoked": true });
                if let Err(e) = write_stdout(&format!("{v}\n"))
                    && e.kind() != std::io::ErrorKind::BrokenPipe
                {
                    error(&format!("cannot write to stdout: {e}"));
                    return EXIT_OTHER;
                }
            }
            0
        }
        Err(StoreError::TokenNotFound) if held_by_a_console(store, name).await => {
            error(&format!(
                "no admin token named {name:?} that a person made: the tokens of that name are \
                 consoles' own, revoked when each console ends"
            ));
            EXIT_NOT_FOUND
        }
        Err(StoreError::TokenNotFound) => {
            error(&format!("no admin token named {name:?}"));
            EXIT_NOT_FOUND
        }
        Err(e) => {
            error(&e.to_string());
            EXIT_OTHER
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up_and_never_shows_a_token() {
        let t = TokenRecord {
            id: 1,
            name: "alice".into(),
            role: Role::Viewer,
            masked: "ragadm_Ab********wXyZ".into(),
            created_at: 1_795_671_470,
            console_pid: None,
        };
        let out = table(&[t]);
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines[0], "NAME   ROLE    CREATED               MASKED");
        assert_eq!(
            lines[1],
            "alice  viewer  2026-11-26T05:37:50Z  ragadm_Ab********wXyZ"
        );
    }
}
