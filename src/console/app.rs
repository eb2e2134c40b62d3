//! The event loop: terminal events, API results and signals in; one draw per wake-up, and only
//! when something changed. No timer runs while idle; a tick exists only while a request is in
//! flight, to turn the spinner. Generic over the ratatui backend and the event source, so tests
//! drive this very loop with a `TestBackend` and scripted events.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, Write};
use std::time::Duration;

use crossterm::event::{Event, KeyEventKind};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::Client;
use crate::console::clipboard::{Clipboard, Copied};
use crate::console::model::Model;
use crate::console::msg::{ApiCall, ApiResult, CopyOutcome, Effect, Msg};
use crate::console::scroll::{self, Tracked};
use crate::console::update;
use crate::wire::Timestamp;

/// How often the spinner turns while a request is in flight.
pub const TICK: Duration = Duration::from_millis(100);

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `q` on the start screen, or Ctrl-C.
    Quit,
    /// The terminal's input ended or failed (a dropped SSH session).
    EndOfInput,
    /// Writing to the terminal failed as a terminal that went away fails (EIO, EPIPE, ENXIO):
    /// the console ends as cleanly as `q` (docs/console.md, Terminal manners).
    TerminalGone,
    /// SIGTERM, SIGHUP or SIGINT: the signal's number.
    Signal(i32),
}

#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("cannot draw on the terminal: {0}")]
    Draw(String),
}

/// A job-control signal the loop acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSignal {
    /// SIGTSTP (from `kill`; in raw mode Ctrl-Z arrives as a key): suspend as Ctrl-Z does.
    Stop,
    /// SIGCONT: the process was continued (`fg`), maybe after a stop it did not make itself.
    Continue,
}

/// What stopping and continuing does to the terminal: `terminal::Job` for the real one, a
/// recorder in tests (where stopping the process would stop the test).
pub trait JobControl {
    /// Restore the terminal, stop until continued, then take the terminal back.
    fn suspend(&mut self) -> io::Result<()>;
    /// Take the terminal back after the process was continued.
    fn resume(&mut self) -> io::Result<()>;
}

/// Whether a terminal error means the terminal itself is gone (hangup, closed pty).
pub fn terminal_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EPIPE | libc::ENXIO | libc::EBADF)
    ) || e.kind() == io::ErrorKind::BrokenPipe
}

/// A backend's failure: its I/O error when it has one.
fn backend_failed<E: std::error::Error + 'static>(e: &E) -> Result<Exit, LoopError> {
    match (e as &dyn std::error::Error).downcast_ref::<io::Error>() {
        Some(io) => draw_failed(io),
        None => Err(LoopError::Draw(e.to_string())),
    }
}

/// A failed write to the terminal: the end of the console when the terminal is gone, else an
/// error to report.
fn draw_failed(e: &io::Error) -> Result<Exit, LoopError> {
    if terminal_gone(e) {
        Ok(Exit::TerminalGone)
    } else {
        Err(LoopError::Draw(e.to_string()))
    }
}

/// A terminal event as a message; key releases and focus changes are not messages.
pub fn to_msg(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) if matches!(k.kind, KeyEventKind::Press | KeyEventKind::Repeat) => {
            Some(Msg::Key(k))
        }
        Event::Mouse(m) => Some(Msg::Mouse(m)),
        Event::Paste(s) => Some(Msg::Paste(s)),
        Event::Resize(width, height) => Some(Msg::Resize { width, height }),
        _ => None,
    }
}

/// Makes one API call; what the spawned task sends back.
pub async fn execute(client: &Client, call: ApiCall) -> ApiResult {
    match call {
        ApiCall::Me => ApiResult::Me(client.me().await),
        ApiCall::ListServices => ApiResult::Services(client.list_services_with_attention().await),
        ApiCall::CreateService(body) => {
            ApiResult::ServiceCreated(client.create_service(&body).await)
        }
        ApiCall::ListKeys { service_id } => {
            let result = client.list_keys(&service_id).await;
            ApiResult::Keys { service_id, result }
        }
        ApiCall::IssueKey {
            service_id,
            body,
            idempotency_key,
        } => ApiResult::Issued(client.issue_key(&service_id, &body, &idempotency_key).await),
        ApiCall::DeleteKey { service_id, key_id } => {
            let result = client.delete_key(&service_id, &key_id).await;
            ApiResult::KeyDeleted {
                service_id,
                key_id,
                result,
            }
        }
        ApiCall::UpdateKey {
            service_id,
            key_id,
            body,
        } => ApiResult::KeyUpdated(client.update_key(&service_id, &key_id, &body).await),
        ApiCall::RotateKey {
            service_id,
            key_id,
            body,
            idempotency_key,
        } => ApiResult::Rotated(
            client
                .rotate_key(&service_id, &key_id, &body, &idempotency_key)
                .await,
        ),
        ApiCall::AuditPage {
            service_id,
            before,
            oldest_first,
        } => {
            let query = crate::client::AuditQuery {
                service_id,
                action: None,
                limit: Some(crate::console::popups::audit::AUDIT_PAGE),
                before,
                oldest_first,
            };
            ApiResult::AuditPage(client.audit_page_raw(&query).await.map(|r| r.value))
        }
        ApiCall::Whois(key) => ApiResult::Whois(client.whois_raw(&key).await.map(|r| r.value)),
        ApiCall::ReportLeak { key, url } => {
            ApiResult::Leaked(client.report_leak(&key, url.as_deref()).await)
        }
        ApiCall::KeyUsage { service_id, key_id } => {
            let result = client.key_usage(&service_id, &key_id).await;
            ApiResult::Usage { key_id, result }
        }
        ApiCall::KeyAudit { service_id, key_id } => {
            let query = crate::client::AuditQuery {
                service_id: Some(service_id),
                action: None,
                limit: Some(crate::wire::limits::AUDIT_PAGE_MAX),
                before: None,
                oldest_first: false,
            };
            let result = client.audit_page_raw(&query).await.map(|r| r.value);
            ApiResult::KeyAudit { key_id, result }
        }
        ApiCall::KeyNarrowing {
            service_id,
            key_id,
            candidate,
        } => {
            let result = client
                .narrowing(&service_id, &key_id, candidate.as_ref())
                .await;
            ApiResult::Narrowing { key_id, result }
        }
    }
}

/// The parts of the outside world the loop talks to.
pub struct Io<'a, B: Backend, W: Write> {
    /// Wrapped so that drawing knows whether the screen still shows its last frame.
    pub terminal: &'a mut Terminal<Tracked<B>>,
    /// The terminal's output, for OSC 52 bytes (written between draws).
    pub osc52: &'a mut W,
    pub client: &'a Client,
    pub clipboard: &'a Clipboard,
    /// Suspends and resumes the terminal (Ctrl-Z, SIGTSTP, SIGCONT).
    pub job: &'a mut dyn JobControl,
    /// SIGTSTP and SIGCONT as they arrive.
    pub job_signals: mpsc::UnboundedReceiver<JobSignal>,
}

/// Runs the console until it quits, its input ends, its terminal goes away, or `shutdown`
/// resolves (signals). Nothing here waits on anything but the `select!`: API calls and copies
/// run as tasks (a copy's system clipboard on a thread, with a deadline) and answer as messages.
pub async fn run<B, W, E, S>(
    model: &mut Model,
    io: Io<'_, B, W>,
    mut events: E,
    shutdown: S,
) -> Result<Exit, LoopError>
where
    B: Backend,
    B::Error: 'static,
    W: Write,
    E: Stream<Item = io::Result<Event>> + Unpin,
    S: Future<Output = Exit>,
{
    let Io {
        terminal,
        osc52,
        client,
        clipboard,
        job,
        mut job_signals,
    } = io;
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (copy_tx, mut copy_rx) = mpsc::unbounded_channel::<Copied>();
    let size = match terminal.size() {
        Ok(size) => size,
        Err(e) => return backend_failed(&e),
    };
    let mut queue: VecDeque<Msg> = VecDeque::new();
    queue.push_back(Msg::Resize {
        width: size.width,
        height: size.height,
    });
    let start = update::start(model);
    let mut effects: VecDeque<Effect> = start.into();
    tokio::pin!(shutdown);
    let mut next_tick: Option<Instant> = None;
    let mut input_ended = false;
    // Clear and draw every cell at the next draw: after a resize (even a burst that ends at the
    // old size), Ctrl-L, or a suspend, the screen may not hold what ratatui last drew.
    let mut full_redraw = false;
    loop {
        model.set_local_now(Timestamp::now());
        // Everything that arrived is handled before the next draw.
        loop {
            while let Some(effect) = effects.pop_front() {
                match effect {
                    Effect::Quit => return Ok(Exit::Quit),
                    Effect::Call { id, call } => {
                        let (client, tx) = (client.clone(), tx.clone());
                        tokio::spawn(async move {
                            let result = execute(&client, call).await;
                            // The clock first, so that the answer is read on it.
                            if let Some(reading) = client.clock() {
                                let _ = tx.send(Msg::ServiceClock(reading));
                            }
                            let _ = tx.send(Msg::Api { id, result });
                        });
                    }
                    Effect::Copy(secret) => {
                        let copying = clipboard.copy(&secret);
                        drop(secret);
                        let copy_tx = copy_tx.clone();
                        tokio::spawn(async move {
                            let _ = copy_tx.send(copying.await);
                        });
                    }
                    Effect::Redraw => {
                        full_redraw = true;
                        model.dirty = true;
                    }
                    Effect::Suspend => {
                        if let Err(e) = job.suspend() {
                            return draw_failed(&e);
                        }
                        full_redraw = true;
                        model.dirty = true;
                    }
                }
            }
            let Some(msg) = queue.pop_front() else {
                break;
            };
            if matches!(msg, Msg::Resize { .. }) {
                full_redraw = true;
            }
            effects.extend(update::update(model, msg));
        }
        // Keys typed before the input ended have been handled; now the input is gone.
        if input_ended {
            return Ok(Exit::EndOfInput);
        }
        if full_redraw {
            // `resize` clears the screen and forgets the last frame without asking the
            // terminal where its cursor is (`clear` would, reading stdin behind the event
            // stream's back).
            let cleared = terminal
                .size()
                .and_then(|size| terminal.resize(size.into()));
            if let Err(e) = cleared {
                return backend_failed(&e);
            }
            full_redraw = false;
            model.dirty = true;
        }
        if model.dirty {
            if let Err(e) = scroll::draw(terminal, model) {
                return backend_failed(&e);
            }
            model.dirty = false;
        }
        next_tick = match (model.needs_tick(), next_tick) {
            (true, Some(t)) => Some(t),
            (true, None) => Some(Instant::now() + TICK),
            (false, _) => None,
        };
        let tick_at = next_tick.unwrap_or_else(Instant::now);
        // Wait for the first thing to happen, then take whatever else is ready at once.
        let mut first = true;
        loop {
            tokio::select! {
                biased;
                exit = &mut shutdown => return Ok(exit),
                Some(signal) = job_signals.recv() => {
                    let done = match signal {
                        JobSignal::Stop => job.suspend(),
                        JobSignal::Continue => job.resume(),
                    };
                    if let Err(e) = done {
                        return draw_failed(&e);
                    }
                    full_redraw = true;
                }
                ev = events.next() => match ev {
                    Some(Ok(ev)) => queue.extend(to_msg(ev)),
                    Some(Err(_)) | None => {
                        input_ended = true;
                        break;
                    }
                },
                Some(msg) = rx.recv() => queue.push_back(msg),
                Some((outcome, bytes)) = copy_rx.recv() => {
                    let mut outcome = outcome;
                    if let Some(bytes) = bytes
                        && let Err(e) = osc52.write_all(&bytes).and_then(|()| osc52.flush())
                    {
                        if terminal_gone(&e) {
                            return Ok(Exit::TerminalGone);
                        }
                        outcome = CopyOutcome::Failed(e.to_string());
                    }
                    queue.push_back(Msg::Copied(outcome));
                }
                () = tokio::time::sleep_until(tick_at), if first && next_tick.is_some() => {
                    next_tick = Some(tick_at + TICK);
                    queue.push_back(Msg::Tick);
                }
                () = std::future::ready(()), if !first => break,
            }
            first = false;
        }
    }
}
