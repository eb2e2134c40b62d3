//! The terminal console: the "API Key management" page of the cloud console, Elm style.
//! `model` holds all state, `update` is the pure behaviour, `view` the pure drawing (from
//! `layout`, which mouse clicks are hit-tested against too), and `app` the one effectful loop.
//!
//! `main` resolves the settings, starts the embedded key service when no endpoint is
//! configured, enters the terminal (`terminal::TerminalGuard`) and runs `app::run` with a
//! backend that writes the colours the terminal has (`terminal::paint`) and the own input
//! decoder (`input`) until `q`, Ctrl-C, a signal or the end of input.

/// `eprintln!` that never panics: see [`say`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::say(format_args!($($arg)*))
    };
}

pub mod access;
pub mod app;
pub mod clipboard;
pub mod expiry;
pub mod format;
pub mod i18n;
pub mod input;
pub mod keymap;
pub mod layout;
pub mod lifecycle;
pub mod model;
pub mod msg;
pub mod popups;
pub mod scroll;
pub mod terminal;
pub mod text;
pub mod update;
pub mod usage;
pub mod view;

use std::io;

use ratatui::Terminal;

use crate::args::{ConsoleArgs, GlobalArgs};
use crate::charset::Charset;
use crate::client::{Client, ClientOptions, parse_endpoint};
use crate::config::{self, Connection, Settings};
use app::{Exit, Io};
use clipboard::Clipboard;
use model::{Model, NoticeKind, Options, Tz};
use scroll::Tracked;

/// `ragkeys` with no subcommand: returns the process exit code.
pub fn main(global: &GlobalArgs, args: &ConsoleArgs) -> u8 {
    let settings = match config::resolve(global, args) {
        Ok(s) => s,
        Err(e) => {
            say!("ragkeys: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say!("ragkeys: cannot start the async runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(session(settings))
}

/// Inside GNU screen: `$STY` names its session.
pub fn inside_screen() -> bool {
    std::env::var_os("STY").is_some_and(|v| !v.is_empty())
}

/// The header's "where": `local` for the embedded service, else the endpoint's host.
pub fn connection_label(endpoint: &str) -> String {
    parse_endpoint(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| endpoint.to_string())
}

/// Resolves when a signal asks the console to end: SIGTERM, SIGHUP (the terminal went away)
/// or SIGINT (from `kill`; in raw mode Ctrl-C arrives as a key).
pub async fn signals() -> Exit {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => Exit::Signal(libc::SIGTERM),
        _ = hup.recv() => Exit::Signal(libc::SIGHUP),
        _ = int.recv() => Exit::Signal(libc::SIGINT),
    }
}

/// Resolves when the terminal hangs up (its pty closed: tmux kill-session, an SSH drop), even
/// when no SIGHUP reaches the console (it is not the session leader and nobody forwards one):
/// crossterm's reader never reports a hung-up terminal, so a thread waits for POLLHUP on stdin.
pub async fn hangup() -> Exit {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("hangup".into())
        .spawn(move || {
            // No events asked for: poll reports only hangup and errors, which it always does.
            let mut fd = libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: 0,
                revents: 0,
            };
            loop {
                // SAFETY: one valid pollfd, for the duration of the call.
                let n = unsafe { libc::poll(&mut fd, 1, -1) };
                if n > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                    let _ = tx.send(());
                    return;
                }
                if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    return;
                }
            }
        });
    match spawned {
        Ok(_) if rx.await.is_ok() => Exit::TerminalGone,
        _ => std::future::pending().await,
    }
}

/// SIGTSTP and SIGCONT, forwarded to the loop (docs/console.md, Keys: Ctrl-Z). Handling SIGTSTP
/// replaces its default action, so the loop stops the process itself once the terminal is
/// restored.
fn job_signals() -> tokio::sync::mpsc::UnboundedReceiver<app::JobSignal> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (Ok(mut stop), Ok(mut cont)) = (
        signal(SignalKind::from_raw(libc::SIGTSTP)),
        signal(SignalKind::from_raw(libc::SIGCONT)),
    ) else {
        return rx;
    };
    tokio::spawn(async move {
        loop {
            let signal = tokio::select! {
                Some(()) = stop.recv() => app::JobSignal::Stop,
                Some(()) = cont.recv() => app::JobSignal::Continue,
                else => return,
            };
            if tx.send(signal).is_err() {
                return;
            }
        }
    });
    rx
}

/// Writes one line to stderr, ignoring failure: once the terminal has gone away (hangup, EIO),
/// `eprintln!` would panic, and there is nobody left to read the line anyway.
pub fn say(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = io::stderr().lock();
    // The locale's character set: a C locale's terminal gets `...`, not UTF-8 bytes.
    let line = std::fmt::format(args);
    let _ = err.write_all(Charset::choose(false).text(&line).as_bytes());
    let _ = err.write_all(b"\n");
}

async fn session(settings: Settings) -> u8 {
    use std::io::IsTerminal;
    // Before anything starts (the embedded service included): without a terminal, say so.
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        say!(
            "ragkeys: the console needs a terminal on stdin and stdout (for scripts, use `ragkeys services …` / `ragkeys keys …`)"
        );
        return 2;
    }
    let (opts, label) = match settings.connection.clone() {
        Connection::Remote(opts) => {
            let label = connection_label(&opts.endpoint);
            (opts, label)
        }
        Connection::Embedded { data_dir } => {
            let server = match crate::server::start_embedded(&data_dir).await {
                Ok(s) => s,
                Err(e) => {
                    say!(
                        "ragkeys: cannot start the embedded key service over {}: {e:#}",
                        data_dir.display()
                    );
                    return 1;
                }
            };
            let opts = ClientOptions::embedded(server.endpoint(), server.token().clone());
            let code = run_remote(&settings, &opts, "local".to_string()).await;
            server.shutdown().await;
            return code;
        }
    };
    run_remote(&settings, &opts, label).await
}

async fn run_remote(settings: &Settings, opts: &ClientOptions, label: String) -> u8 {
    let client = match Client::new(opts) {
        Ok(c) => c,
        Err(e) => {
            say!("ragkeys: {e}");
            return 1;
        }
    };
    let warnings = settings.warnings();
    for w in &warnings {
        say!("ragkeys: warning: {w}");
    }
    let caps = terminal::caps::Capabilities::detect();
    let mut model = Model::new(Options {
        lang: i18n::choose(settings.lang),
        colors: caps.colors,
        tz: Tz::Local,
        connection: label,
    });
    // Said once, in the footer: a later notice replaces it (docs/console.md, Locale).
    if Charset::choose(settings.ascii).is_ascii() {
        model.use_ascii();
        let why = if settings.ascii {
            "notice.ascii_forced"
        } else {
            "notice.ascii"
        };
        model.notice(NoticeKind::Info, model.tr.t(why).to_string());
    }
    // The same warning stays in sight in the footer until something else is said.
    if opts.insecure {
        model.notice(
            NoticeKind::Warning,
            model.tr.t("notice.insecure").to_string(),
        );
    } else if !warnings.is_empty() {
        model.notice(
            NoticeKind::Warning,
            model.tr.t("notice.plain_http").to_string(),
        );
    }
    let exit = run_in_terminal(settings, caps, &mut model, &client).await;
    // The model may still hold a key in a popup: drop (wipe) it now.
    drop(model);
    match exit {
        // A terminal that went away ends the console as `q` does (docs/console.md, Terminal manners).
        Ok(Exit::Quit | Exit::EndOfInput | Exit::TerminalGone) => 0,
        Ok(Exit::Signal(n)) => (128 + n).clamp(0, 255) as u8,
        Err(e) => {
            say!("ragkeys: {e}");
            1
        }
    }
}

/// Enters the terminal, runs the loop, and restores the terminal on every way out.
async fn run_in_terminal(
    settings: &Settings,
    caps: terminal::caps::Capabilities,
    model: &mut Model,
    client: &Client,
) -> Result<Exit, String> {
    terminal::install_panic_hook();
    // GNU screen, once its window asks for mouse reports, holds a lone Esc until the next key
    // (it waits for a mouse report to follow): inside screen the mouse is not captured, so
    // that Esc acts (docs/console.md, GNU screen). Elsewhere only a terminal whose entry has
    // `kmous` is asked for mouse reports (docs/console.md, Terminal capabilities).
    let mouse = settings.mouse && caps.mouse && !inside_screen();
    let guard = terminal::TerminalGuard::enter(mouse).map_err(|e| e.to_string())?;
    let mut term = Terminal::new(
        Tracked::new(terminal::paint::Painted::new(io::stdout(), caps.colors))
            .scrolling(scroll::term_scrolls(std::env::var("TERM").ok().as_deref())),
    )
    .map_err(|e| e.to_string())?;
    let clipboard = Clipboard::new(settings.clipboard, settings.clipboard_clear_secs);
    let mut out = io::stdout();
    let result = app::run(
        model,
        Io {
            terminal: &mut term,
            osc52: &mut out,
            client,
            clipboard: &clipboard,
            job: &mut terminal::Job,
            job_signals: job_signals(),
        },
        // Screen 4 passes no bracketed paste on: a paste arrives as typed keys there.
        input::events(
            |k| keymap::Keymap::default_map().binds_alt(k),
            inside_screen(),
        ),
        async {
            tokio::select! {
                exit = signals() => exit,
                exit = hangup() => exit,
            }
        },
    )
    .await;
    // ratatui's Terminal, dropped, shows the cursor and `eprintln!`s when that fails, which
    // panics on a terminal that went away; the guard's restore shows the cursor instead.
    std::mem::forget(term);
    drop(guard);
    // After the terminal is restored: a clipboard that does not answer delays this 2 s at most.
    drop(clipboard);
    result.map_err(|e| e.to_string())
}
