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
use crate::console::clipboard::Clipboard;
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
    /// SIGTERM, SIGHUP or SIGINT: the signal's number.
    Signal(i32),
}

#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("cannot draw on the terminal: {0}")]
    Draw(String),
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
        ApiCall::ListServices => ApiResult::Services(client.list_services().await),
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
    }
}

/// The parts of the outside world the loop talks to.
pub struct Io<'a, B: Backend, W: Write> {
    /// Wrapped so that drawing knows whether the screen still shows its last frame.
    pub terminal: &'a mut Terminal<Tracked<B>>,
    /// The terminal's output, for OSC 52 bytes (written between draws).
    pub osc52: &'a mut W,
    pub client: &'a Client,
    pub clipboard: &'a mut Clipboard,
}

/// Runs the console until it quits, its input ends, or `shutdown` resolves (signals).
pub async fn run<B, W, E, S>(
    model: &mut Model,
    io: Io<'_, B, W>,
    mut events: E,
    shutdown: S,
) -> Result<Exit, LoopError>
where
    B: Backend,
    W: Write,
    E: Stream<Item = io::Result<Event>> + Unpin,
    S: Future<Output = Exit>,
{
    let Io {
        terminal,
        osc52,
        client,
        clipboard,
    } = io;
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let size = terminal
        .size()
        .map_err(|e| LoopError::Draw(e.to_string()))?;
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
    loop {
        model.now = Timestamp::now();
        // Everything that arrived is handled before the next draw.
        loop {
            while let Some(effect) = effects.pop_front() {
                match effect {
                    Effect::Quit => return Ok(Exit::Quit),
                    Effect::Call { id, call } => {
                        let (client, tx) = (client.clone(), tx.clone());
                        tokio::spawn(async move {
                            let result = execute(&client, call).await;
                            let _ = tx.send(Msg::Api { id, result });
                        });
                    }
                    Effect::Copy(secret) => {
                        let (mut outcome, bytes) = clipboard.copy(&secret);
                        drop(secret);
                        if let Some(bytes) = bytes
                            && let Err(e) = osc52.write_all(&bytes).and_then(|()| osc52.flush())
                        {
                            outcome = CopyOutcome::Failed(e.to_string());
                        }
                        queue.push_back(Msg::Copied(outcome));
                    }
                }
            }
            let Some(msg) = queue.pop_front() else {
                break;
            };
            effects.extend(update::update(model, msg));
        }
        // Keys typed before the input ended have been handled; now the input is gone.
        if input_ended {
            return Ok(Exit::EndOfInput);
        }
        if model.dirty {
            scroll::draw(terminal, model).map_err(|e| LoopError::Draw(e.to_string()))?;
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
                ev = events.next() => match ev {
                    Some(Ok(ev)) => queue.extend(to_msg(ev)),
                    Some(Err(_)) | None => {
                        input_ended = true;
                        break;
                    }
                },
                Some(msg) = rx.recv() => queue.push_back(msg),
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
