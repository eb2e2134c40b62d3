//! The commands for scripts: `services`, `keys`, `audit` and `completions`. Each is a thin layer over the
//! one typed [`Client`]: tables for people, the service's own JSON with `--json`, one `error: …`
//! line on stderr and a documented exit code when something fails.

mod access;
mod audit;
pub mod backup;
pub mod confirm;
pub mod deadline;
pub mod error;
mod keys;
mod leak;
mod lifetime;
mod narrow;
pub mod output;
pub mod retry;
pub mod secrets;
mod services;
mod target;
pub mod tokens;
mod usage;
mod whois;

use clap::CommandFactory;

use crate::args::{Cli, Command, ConsoleArgs, GlobalArgs, KeysCommand, ServicesCommand};
use crate::charset::Charset;
use crate::client::Client;
use crate::config::{self, Connection};
use crate::sanitize::clean;
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
    // Before anything is printed, usage errors included (docs/cli.md, Output).
    output::use_charset(Charset::choose(global.ascii));
    target::check(&cmd)?;
    if let Command::Keys(k) = &cmd {
        access::check(&k.command)?;
    }
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
                let grace = grace.as_deref().unwrap_or(lifetime::DEFAULT_GRACE);
                let stops_now = lifetime::parse_grace(grace)? == 0;
                confirm::check_can_ask_to(*yes || !stops_now, "rotate with --grace 0")?
            }
            _ => {}
        },
        _ => {}
    }
    if let Command::Completions { shell } = cmd {
        return completions(shell);
    }
    // The key is read and checked before anything connects (or runs token_command), and the
    // time a person takes to type it is not the command's.
    let stdin_key = match &cmd {
        Command::Keys(c) => match &c.command {
            KeysCommand::Whois { argv } if !argv.is_empty() => {
                return Err(whois::refuse_argv("keys whois"));
            }
            KeysCommand::Leak { argv, .. } if !argv.is_empty() => {
                return Err(whois::refuse_argv("keys leak"));
            }
            KeysCommand::Whois { .. } => Some(whois::read_checked_key("keys whois")?),
            KeysCommand::Leak { .. } => Some(whois::read_checked_key("keys leak")?),
            _ => None,
        },
        _ => None,
    };
    let limit = std::time::Duration::from_secs(global.timeout.unwrap_or(deadline::DEFAULT_SECS));
    let deadline = deadline::Deadline::start(limit);
    let hint = after_timeout(&cmd);
    let ctx = match connect(global) {
        Ok(ctx) => ctx,
        Err(_) if deadline.passed() => {
            return Err(CliError::new(
                error::UNREACHABLE,
                format!(
                    "gave up after {} s (--timeout SECONDS): the profile's token_command did not finish in time",
                    limit.as_secs()
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    let work = async {
        match cmd {
            Command::Services(c) => services::run(&ctx, c.command).await,
            Command::Keys(c) if stdin_key.is_some() => {
                let key = stdin_key.expect("checked");
                match c.command {
                    KeysCommand::Leak { url, .. } => leak::run(&ctx, key, url.as_deref()).await,
                    _ => whois::run(&ctx, key).await,
                }
            }
            Command::Keys(c) => keys::run(&ctx, c.command).await,
            Command::Audit(a) => audit::run(&ctx, a).await,
            Command::Completions { .. }
            | Command::Serve(_)
            | Command::Tokens(_)
            | Command::Backup(_) => Err(CliError::other(
                "this command is not handled by the CLI module",
            )),
        }
    };
    let done = block_on(async {
        match deadline.within(work).await {
            Some(result) => result,
            None => Err(CliError::new(
                error::UNREACHABLE,
                format!(
                    "gave up after {} s (--timeout SECONDS): the service at {} did not answer in time{hint}",
                    limit.as_secs(),
                    clean(ctx.client.endpoint())
                ),
            )),
        }
    });
    warn_of_skew(&ctx.client);
    done
}

/// Once per command, when this machine's clock and the service's (its answers' `Date`) differ
/// by more than a minute: times this machine computes would be off (docs/cli.md, Time).
fn warn_of_skew(client: &Client) {
    if let Some(note) = client
        .clock()
        .and_then(|c| crate::clock::skew_note(c.skew()))
    {
        output::warning(&format!(
            "{note}: this machine's clock differs from the service's; lifetimes such as \
             --expires 7d are counted on the service's clock"
        ));
    }
}

/// What a command cut short by its deadline may have left behind, and how to look.
fn after_timeout(cmd: &Command) -> String {
    let Command::Keys(k) = cmd else {
        return String::new();
    };
    match &k.command {
        KeysCommand::Issue { service_id, .. } => format!(
            "; the key may have been created: look for it with `ragkeys keys list {}` and delete              one you do not want with `ragkeys keys delete {} KEY_ID`",
            clean(service_id),
            clean(service_id)
        ),
        KeysCommand::Rotate {
            service_id, key_id, ..
        } => format!(
            "; the successor of {} may have been created (then {} is rotating): look with              `ragkeys keys list {}`",
            clean(key_id),
            clean(key_id),
            clean(service_id)
        ),
        _ => String::new(),
    }
}

/// The settings, their warnings (on every run), and the one client.
pub fn connect(global: &GlobalArgs) -> Result<Ctx, CliError> {
    let settings = config::load(global, &ConsoleArgs::default())?;
    if settings.ascii {
        output::use_charset(Charset::Ascii);
    }
    for w in settings.warnings() {
        output::warning(&w);
    }
    match &settings.connection {
        Connection::Embedded { .. } => Err(CliError::usage(format!(
            "no endpoint configured: set RAGKEYS_ENDPOINT and RAGKEYS_TOKEN, pass --endpoint URL \
             (with --token - to read the token from stdin), or add a profile to {} (for the local data dir, run `ragkeys \
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
