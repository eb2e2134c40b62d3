//! The commands for scripts: `services`, `keys`, `audit` and `completions`. Each is a thin layer over the
//! one typed [`Client`]: tables for people, the service's own JSON with `--json`, one `error: …`
//! line on stderr and a documented exit code when something fails.

mod audit;
pub mod backup;
pub mod confirm;
pub mod error;
mod keys;
mod lifetime;
pub mod output;
pub mod retry;
mod services;
pub mod tokens;
mod usage;
mod whois;

use clap::CommandFactory;

use crate::args::{Cli, Command, ConsoleArgs, GlobalArgs, KeysCommand, ServicesCommand};
use crate::client::Client;
use crate::config::{self, Connection};
use error::CliError;

/// What every command works with.
pub struct Ctx {
    pub client: Client,
    pub json: bool,
}

/// `ragkeys services|keys|completions`: returns the process exit code.
pub fn main(global: &GlobalArgs, cmd: Command) -> u8 {
    match run(global, cmd) {
        Ok(()) => error::OK,
        Err(e) => {
            output::print_error(&e);
            e.code
        }
    }
}

fn run(global: &GlobalArgs, cmd: Command) -> Result<(), CliError> {
    // Refuse a delete that cannot be confirmed before running token_command or touching the net.
    match &cmd {
        Command::Services(s) if matches!(s.command, ServicesCommand::Delete { yes: false, .. }) => {
            confirm::check_can_ask(false)?
        }
        Command::Keys(k) if matches!(k.command, KeysCommand::Delete { yes: false, .. }) => {
            confirm::check_can_ask(false)?
        }
        Command::Keys(k) => match &k.command {
            KeysCommand::Disable { yes, .. } => confirm::check_can_ask_to(*yes, "disable")?,
            // Grace 0 stops the old key at once, with the guarantee of a delete: asked as one.
            KeysCommand::Rotate { yes, grace, .. } => {
                let stops_now = lifetime::parse_grace(grace)? == 0;
                confirm::check_can_ask_to(*yes || !stops_now, "rotate with --grace 0")?
            }
            _ => {}
        },
        _ => {}
    }
    match cmd {
        Command::Completions { shell } => completions(shell),
        Command::Services(c) => {
            let ctx = connect(global)?;
            block_on(services::run(&ctx, c.command))
        }
        // The key is read and checked before anything connects (or runs token_command).
        Command::Keys(c) if matches!(c.command, KeysCommand::Whois { .. }) => {
            if let KeysCommand::Whois { argv } = &c.command
                && !argv.is_empty()
            {
                return Err(whois::refuse_argv());
            }
            let key = whois::read_checked_key()?;
            let ctx = connect(global)?;
            block_on(whois::run(&ctx, key))
        }
        Command::Keys(c) => {
            let ctx = connect(global)?;
            block_on(keys::run(&ctx, c.command))
        }
        Command::Audit(a) => {
            let ctx = connect(global)?;
            block_on(audit::run(&ctx, a))
        }
        Command::Serve(_) | Command::Tokens(_) | Command::Backup(_) => Err(CliError::other(
            "this command is not handled by the CLI module",
        )),
    }
}

/// The settings, their warnings (on every run), and the one client.
pub fn connect(global: &GlobalArgs) -> Result<Ctx, CliError> {
    let settings = config::load(global, &ConsoleArgs::default())?;
    for w in settings.warnings() {
        output::warning(&w);
    }
    match &settings.connection {
        Connection::Embedded { .. } => Err(CliError::usage(format!(
            "no endpoint configured: pass --endpoint URL and --token TOKEN, set RAGKEYS_ENDPOINT \
             and RAGKEYS_TOKEN, or add a profile to {} (for the local data dir, run `ragkeys \
             serve` and use its address)",
            config::config_path().display()
        ))),
        Connection::Remote(opts) => Ok(Ctx {
            client: Client::new(opts)?,
            json: global.json,
        }),
    }
}

/// One small runtime per command: a single thread starts fastest and is all one request needs.
fn block_on<F: std::future::Future<Output = Result<(), CliError>>>(f: F) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::other(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(f)
}

fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ragkeys", &mut buf);
    output::stdout(&String::from_utf8_lossy(&buf))
}
