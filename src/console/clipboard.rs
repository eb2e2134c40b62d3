//! `[Copy key]`: the clipboard policy of the console. `auto` uses the system clipboard where
//! there is a display and no SSH session, OSC 52 otherwise or when the system clipboard fails;
//! `system`, `osc52` and `off` force one way. Nothing is opened until the first copy, so a
//! headless machine starts as fast as any other.
//!
//! The system clipboard can wait forever (an X server that accepts and never answers), so it is
//! only ever touched from a thread of its own, and the console waits for it at most
//! [`SYSTEM_DEADLINE`] (docs/console.md, Terminal manners: "gives up within 2 s"). A thread that stays
//! stuck is left behind: it holds no lock the console needs and does not keep the process alive.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::args::ClipboardMode;
use crate::console::msg::CopyOutcome;
use crate::credential::Secret;

/// How long a copy waits for the system clipboard before it gives up (and, in `auto`, falls back
/// to OSC 52); also how long leaving the console waits for the clipboard to be cleared.
pub const SYSTEM_DEADLINE: Duration = Duration::from_secs(2);

/// Where a copy should go, decided from the mode and the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    System,
    /// The system clipboard first, OSC 52 when it fails.
    SystemThenOsc52,
    Osc52,
    Off,
}

/// What the environment says about where we run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Environment {
    pub ssh: bool,
    pub display: bool,
    /// Inside tmux (`$TMUX`), which drops OSC 52 unless `set-clipboard` lets it through.
    pub tmux: bool,
    /// Inside GNU screen (`$STY`), which drops a bare OSC 52 and passes on what is wrapped for
    /// its passthrough.
    pub screen: bool,
}

impl Environment {
    pub fn detect() -> Self {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        Environment {
            ssh: set("SSH_CONNECTION") || set("SSH_TTY") || set("SSH_CLIENT"),
            display: set("DISPLAY") || set("WAYLAND_DISPLAY"),
            tmux: set("TMUX"),
            screen: set("STY"),
        }
    }
}

fn route(mode: ClipboardMode, env: Environment) -> Route {
    match mode {
        ClipboardMode::Off => Route::Off,
        ClipboardMode::Osc52 => Route::Osc52,
        ClipboardMode::System => Route::System,
        // Over SSH a display is usually a forwarded X server the admin cannot paste from.
        ClipboardMode::Auto if env.ssh || !env.display => Route::Osc52,
        ClipboardMode::Auto => Route::SystemThenOsc52,
    }
}

/// `ESC ] 52 ; c ; <base64> BEL`, built in memory that is wiped when dropped.
pub fn osc52_sequence(text: &str) -> Zeroizing<Vec<u8>> {
    let encoded_len = text.len().div_ceil(3) * 4;
    let mut b64 = Zeroizing::new(vec![0u8; encoded_len]);
    let n = STANDARD
        .encode_slice(text.as_bytes(), &mut b64[..])
        .expect("the buffer is sized for the encoding");
    let mut out = Zeroizing::new(Vec::with_capacity(n + 8));
    out.extend_from_slice(b"\x1b]52;c;");
    out.extend_from_slice(&b64[..n]);
    out.push(0x07);
    out
}

/// The longest string GNU screen passes on in one piece, less the 4 bytes of `ESC P` and
/// `ESC \` (256 until screen 4.2.0, 512 until 4.2.1, 768 since: the smallest serves all).
const SCREEN_CHUNK: usize = 256 - 4;

/// `seq` wrapped for GNU screen's passthrough: each piece of at most [`SCREEN_CHUNK`] bytes in a
/// DCS string (`ESC P … ESC \`), whose content screen writes to its own terminal unchanged
/// (docs/console.md, GNU screen).
pub fn screen_passthrough(seq: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(
        seq.len() + seq.len().div_ceil(SCREEN_CHUNK) * 4,
    ));
    for piece in seq.chunks(SCREEN_CHUNK) {
        out.extend_from_slice(b"\x1bP");
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\x1b\\");
    }
    out
}

type Shared = Arc<Mutex<Option<arboard::Clipboard>>>;

/// What a copy hands back: how it went, and OSC 52 bytes the loop must write to the terminal.
pub type Copied = (CopyOutcome, Option<Zeroizing<Vec<u8>>>);

/// The clipboard state shared with copy tasks and clear timers.
struct Inner {
    mode: ClipboardMode,
    env: Environment,
    clear_after_secs: u64,
    system: Shared,
    /// Digest of what we last put on the system clipboard, to clear it only if still ours.
    placed: Mutex<Option<[u8; 32]>>,
}

/// The console's clipboard. Dropping it clears a key it left on the system clipboard (waiting
/// at most [`SYSTEM_DEADLINE`]).
pub struct Clipboard {
    inner: Arc<Inner>,
}

impl Clipboard {
    pub fn new(mode: ClipboardMode, clear_after_secs: u64) -> Self {
        Self::with_environment(mode, clear_after_secs, Environment::detect())
    }

    pub fn with_environment(mode: ClipboardMode, clear_after_secs: u64, env: Environment) -> Self {
        Clipboard {
            inner: Arc::new(Inner {
                mode,
                env,
                clear_after_secs,
                system: Arc::new(Mutex::new(None)),
                placed: Mutex::new(None),
            }),
        }
    }

    /// Copies the key; the future never waits longer than [`SYSTEM_DEADLINE`] and owns all it
    /// needs, so the loop can spawn it. The bytes returned, if any, must be written to the
    /// terminal (OSC 52).
    pub fn copy(&self, secret: &Secret) -> impl Future<Output = Copied> + Send + 'static {
        let inner = self.inner.clone();
        let secret = secret.clone();
        async move {
            let Environment { tmux, screen, .. } = inner.env;
            let osc52 = |fallback: Option<String>| {
                let seq = osc52_sequence(secret.expose());
                let bytes = if screen {
                    screen_passthrough(&seq)
                } else {
                    seq
                };
                (
                    CopyOutcome::Osc52 {
                        fallback,
                        tmux,
                        screen,
                    },
                    Some(bytes),
                )
            };
            match route(inner.mode, inner.env) {
                Route::Off => (CopyOutcome::Disabled, None),
                Route::Osc52 => osc52(None),
                Route::System => match copy_system(&inner, &secret).await {
                    Ok(outcome) => (outcome, None),
                    Err(why) => (CopyOutcome::Failed(why), None),
                },
                Route::SystemThenOsc52 => match copy_system(&inner, &secret).await {
                    Ok(outcome) => (outcome, None),
                    Err(why) => osc52(Some(why)),
                },
            }
        }
    }
}

/// The system copy on a thread of its own, awaited for at most [`SYSTEM_DEADLINE`].
async fn copy_system(inner: &Arc<Inner>, secret: &Secret) -> Result<CopyOutcome, String> {
    let (tx, rx) = oneshot::channel();
    let (worker, secret) = (inner.clone(), secret.clone());
    let spawned = std::thread::Builder::new()
        .name("clipboard".into())
        .spawn(move || {
            let _ = tx.send(copy_system_blocking(&worker, &secret));
        });
    if let Err(e) = spawned {
        return Err(e.to_string());
    }
    match tokio::time::timeout(SYSTEM_DEADLINE, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err("the clipboard thread ended without an answer".into()),
        Err(_) => Err(format!(
            "the system clipboard did not answer within {} s",
            SYSTEM_DEADLINE.as_secs()
        )),
    }
}

fn copy_system_blocking(inner: &Arc<Inner>, secret: &Secret) -> Result<CopyOutcome, String> {
    let mut guard = inner.system.lock().map_err(|_| "clipboard lock poisoned")?;
    if guard.is_none() {
        *guard = Some(arboard::Clipboard::new().map_err(|e| e.to_string())?);
    }
    let cb = guard.as_mut().ok_or("no clipboard")?;
    cb.set_text(secret.expose()).map_err(|e| e.to_string())?;
    let digest: [u8; 32] = Sha256::digest(secret.expose().as_bytes()).into();
    if let Ok(mut p) = inner.placed.lock() {
        *p = Some(digest);
    }
    drop(guard);
    if inner.clear_after_secs > 0 {
        let timer = inner.clone();
        let after = Duration::from_secs(inner.clear_after_secs);
        std::thread::spawn(move || {
            std::thread::sleep(after);
            clear_if_ours(&timer, digest);
        });
    }
    Ok(CopyOutcome::System {
        clear_after_secs: inner.clear_after_secs,
    })
}

/// Clears the system clipboard if it still holds what we put there (and nothing newer of ours).
/// Locks in the copy's order (clipboard, then digest), so a timer and a copy never deadlock.
fn clear_if_ours(inner: &Inner, digest: [u8; 32]) {
    let Ok(mut guard) = inner.system.lock() else {
        return;
    };
    let Ok(mut p) = inner.placed.lock() else {
        return;
    };
    if *p != Some(digest) {
        return;
    }
    if let Some(cb) = guard.as_mut() {
        let current = cb.get_text().map(Zeroizing::new);
        if let Ok(text) = current
            && <[u8; 32]>::from(Sha256::digest(text.as_bytes())) == digest
        {
            let _ = cb.clear();
        }
    }
    *p = None;
}

impl Drop for Clipboard {
    /// Leaving the console does not leave the key behind on the system clipboard; a clipboard
    /// that does not answer delays the exit by [`SYSTEM_DEADLINE`] at most.
    fn drop(&mut self) {
        let digest = self.inner.placed.lock().ok().and_then(|p| *p);
        let Some(d) = digest else { return };
        let inner = self.inner.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("clipboard-clear".into())
            .spawn(move || {
                clear_if_ours(&inner, d);
                let _ = tx.send(());
            });
        if spawned.is_ok() {
            let _ = rx.recv_timeout(SYSTEM_DEADLINE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_bytes_are_exact() {
        let seq = osc52_sequence("ragk_abc");
        assert_eq!(&seq[..], b"\x1b]52;c;cmFna19hYmM=\x07");
        assert_eq!(&osc52_sequence("")[..], b"\x1b]52;c;\x07");
    }

    #[test]
    fn inside_screen_osc52_goes_in_passthrough_pieces() {
        let short = screen_passthrough(&osc52_sequence("ragk_abc"));
        assert_eq!(&short[..], b"\x1bP\x1b]52;c;cmFna19hYmM=\x07\x1b\\");
        // A long payload: pieces of at most 252 bytes, each in its own DCS string.
        let seq = osc52_sequence(&"k".repeat(600));
        let wrapped = screen_passthrough(&seq);
        let pieces: Vec<&[u8]> = wrapped
            .split(|&b| b == 0x1b)
            .filter(|p| p.first() == Some(&b'P'))
            .map(|p| &p[1..])
            .collect();
        assert!(pieces.len() > 1 && pieces.iter().all(|p| p.len() <= SCREEN_CHUNK));
        assert_eq!(
            wrapped.len(),
            seq.len() + seq.len().div_ceil(SCREEN_CHUNK) * 4
        );
        assert!(wrapped.starts_with(b"\x1bP\x1b]52;c;") && wrapped.ends_with(b"\x07\x1b\\"));
    }

    #[test]
    fn auto_prefers_osc52_over_ssh_or_without_a_display() {
        let ssh = Environment {
            ssh: true,
            display: true,
            tmux: false,
            screen: false,
        };
        let headless = Environment::default();
        let desktop = Environment {
            display: true,
            ..Environment::default()
        };
        assert_eq!(route(ClipboardMode::Auto, ssh), Route::Osc52);
        assert_eq!(route(ClipboardMode::Auto, headless), Route::Osc52);
        assert_eq!(route(ClipboardMode::Auto, desktop), Route::SystemThenOsc52);
        assert_eq!(route(ClipboardMode::System, ssh), Route::System);
        assert_eq!(route(ClipboardMode::Off, desktop), Route::Off);
    }

    #[tokio::test]
    async fn copy_follows_the_mode() {
        let key = Secret::new("ragk_0123456789".into());
        let off = Clipboard::with_environment(ClipboardMode::Off, 30, Environment::default());
        assert_eq!(off.copy(&key).await, (CopyOutcome::Disabled, None));
        let osc = Clipboard::with_environment(ClipboardMode::Osc52, 30, Environment::default());
        let (outcome, bytes) = osc.copy(&key).await;
        let plain = CopyOutcome::Osc52 {
            fallback: None,
            tmux: false,
            screen: false,
        };
        assert_eq!(outcome, plain);
        assert!(bytes.is_some_and(|b| b.starts_with(b"\x1b]52;c;")));
        // Inside tmux the outcome says so, for the popup to tell how to let OSC 52 through.
        let in_tmux = Environment {
            tmux: true,
            ..Environment::default()
        };
        let osc = Clipboard::with_environment(ClipboardMode::Osc52, 30, in_tmux);
        assert_eq!(
            osc.copy(&key).await.0,
            CopyOutcome::Osc52 {
                fallback: None,
                tmux: true,
                screen: false,
            }
        );
        // Inside screen the bytes go wrapped for its passthrough, and the outcome says so.
        let in_screen = Environment {
            screen: true,
            ..Environment::default()
        };
        let osc = Clipboard::with_environment(ClipboardMode::Osc52, 30, in_screen);
        let (outcome, bytes) = osc.copy(&key).await;
        assert_eq!(
            outcome,
            CopyOutcome::Osc52 {
                fallback: None,
                tmux: false,
                screen: true,
            }
        );
        assert!(bytes.is_some_and(|b| b.starts_with(b"\x1bP\x1b]52;c;")));
    }

    #[tokio::test]
    async fn system_without_a_display_says_why_it_failed() {
        // No X or Wayland server here: the copy fails with the clipboard's reason, not silently.
        if Environment::detect().display {
            return;
        }
        let key = Secret::new("ragk_0123456789".into());
        let sys = Clipboard::with_environment(ClipboardMode::System, 30, Environment::default());
        match sys.copy(&key).await {
            (CopyOutcome::Failed(why), None) => assert!(!why.is_empty()),
            other => panic!("expected a failure without a display, got {other:?}"),
        }
        // auto falls back to OSC 52 when the system clipboard fails, and says why.
        let desktop = Environment {
            display: true,
            ..Environment::default()
        };
        let auto = Clipboard::with_environment(ClipboardMode::Auto, 30, desktop);
        match auto.copy(&key).await {
            (
                CopyOutcome::Osc52 {
                    fallback: Some(why),
                    tmux: false,
                    screen: false,
                },
                Some(_),
            ) => {
                assert!(!why.is_empty())
            }
            other => panic!("expected OSC 52 after the failure, got {other:?}"),
        }
    }
}
