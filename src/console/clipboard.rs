//! `[Copy key]`: the clipboard policy of the console. `auto` uses the system clipboard where
//! there is a display and no SSH session, OSC 52 otherwise or when the system clipboard fails;
//! `system`, `osc52` and `off` force one way. Nothing is opened until the first copy, so a
//! headless machine starts as fast as any other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::args::ClipboardMode;
use crate::console::msg::CopyOutcome;
use crate::credential::Secret;

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
}

impl Environment {
    pub fn detect() -> Self {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        Environment {
            ssh: set("SSH_CONNECTION") || set("SSH_TTY") || set("SSH_CLIENT"),
            display: set("DISPLAY") || set("WAYLAND_DISPLAY"),
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

type Shared = Arc<Mutex<Option<arboard::Clipboard>>>;

pub struct Clipboard {
    mode: ClipboardMode,
    env: Environment,
    clear_after_secs: u64,
    system: Shared,
    /// Digest of what we last put on the system clipboard, to clear it only if still ours.
    placed: Arc<Mutex<Option<[u8; 32]>>>,
}

impl Clipboard {
    pub fn new(mode: ClipboardMode, clear_after_secs: u64) -> Self {
        Self::with_environment(mode, clear_after_secs, Environment::detect())
    }

    pub fn with_environment(mode: ClipboardMode, clear_after_secs: u64, env: Environment) -> Self {
        Clipboard {
            mode,
            env,
            clear_after_secs,
            system: Arc::new(Mutex::new(None)),
            placed: Arc::new(Mutex::new(None)),
        }
    }

    /// Copies the key. The bytes returned, if any, must be written to the terminal (OSC 52).
    pub fn copy(&mut self, secret: &Secret) -> (CopyOutcome, Option<Zeroizing<Vec<u8>>>) {
        match route(self.mode, self.env) {
            Route::Off => (CopyOutcome::Disabled, None),
            Route::Osc52 => (CopyOutcome::Osc52, Some(osc52_sequence(secret.expose()))),
            Route::System => match self.copy_system(secret) {
                Ok(outcome) => (outcome, None),
                Err(why) => (CopyOutcome::Failed(why), None),
            },
            Route::SystemThenOsc52 => match self.copy_system(secret) {
                Ok(outcome) => (outcome, None),
                Err(_) => (CopyOutcome::Osc52, Some(osc52_sequence(secret.expose()))),
            },
        }
    }

    fn copy_system(&mut self, secret: &Secret) -> Result<CopyOutcome, String> {
        let mut guard = self.system.lock().map_err(|_| "clipboard lock poisoned")?;
        if guard.is_none() {
            *guard = Some(arboard::Clipboard::new().map_err(|e| e.to_string())?);
        }
        let cb = guard.as_mut().ok_or("no clipboard")?;
        cb.set_text(secret.expose()).map_err(|e| e.to_string())?;
        let digest: [u8; 32] = Sha256::digest(secret.expose().as_bytes()).into();
        if let Ok(mut p) = self.placed.lock() {
            *p = Some(digest);
        }
        drop(guard);
        if self.clear_after_secs > 0 {
            let (system, placed) = (self.system.clone(), self.placed.clone());
            let after = Duration::from_secs(self.clear_after_secs);
            std::thread::spawn(move || {
                std::thread::sleep(after);
                clear_if_ours(&system, &placed, digest);
            });
        }
        Ok(CopyOutcome::System {
            clear_after_secs: self.clear_after_secs,
        })
    }
}

/// Clears the system clipboard if it still holds what we put there (and nothing newer of ours).
fn clear_if_ours(system: &Shared, placed: &Mutex<Option<[u8; 32]>>, digest: [u8; 32]) {
    let Ok(mut p) = placed.lock() else { return };
    if *p != Some(digest) {
        return;
    }
    let Ok(mut guard) = system.lock() else { return };
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
    /// Leaving the console does not leave the key behind on the system clipboard.
    fn drop(&mut self) {
        let digest = self.placed.lock().ok().and_then(|p| *p);
        if let Some(d) = digest {
            clear_if_ours(&self.system, &self.placed, d);
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
    fn auto_prefers_osc52_over_ssh_or_without_a_display() {
        let ssh = Environment {
            ssh: true,
            display: true,
        };
        let headless = Environment::default();
        let desktop = Environment {
            ssh: false,
            display: true,
        };
        assert_eq!(route(ClipboardMode::Auto, ssh), Route::Osc52);
        assert_eq!(route(ClipboardMode::Auto, headless), Route::Osc52);
        assert_eq!(route(ClipboardMode::Auto, desktop), Route::SystemThenOsc52);
        assert_eq!(route(ClipboardMode::System, ssh), Route::System);
        assert_eq!(route(ClipboardMode::Off, desktop), Route::Off);
    }

    #[test]
    fn copy_follows_the_mode() {
        let key = Secret::new("ragk_0123456789".into());
        let mut off = Clipboard::with_environment(ClipboardMode::Off, 30, Environment::default());
        assert_eq!(off.copy(&key), (CopyOutcome::Disabled, None));
        let mut osc = Clipboard::with_environment(ClipboardMode::Osc52, 30, Environment::default());
        let (outcome, bytes) = osc.copy(&key);
        assert_eq!(outcome, CopyOutcome::Osc52);
        assert!(bytes.is_some_and(|b| b.starts_with(b"\x1b]52;c;")));
    }

    #[test]
    fn system_without_a_display_says_why_it_failed() {
        // No X or Wayland server here: the copy fails with the clipboard's reason, not silently.
        if Environment::detect().display {
            return;
        }
        let key = Secret::new("ragk_0123456789".into());
        let mut sys =
            Clipboard::with_environment(ClipboardMode::System, 30, Environment::default());
        match sys.copy(&key) {
            (CopyOutcome::Failed(why), None) => assert!(!why.is_empty()),
            other => panic!("expected a failure without a display, got {other:?}"),
        }
        // auto falls back to OSC 52 when the system clipboard fails.
        let mut auto = Clipboard::with_environment(
            ClipboardMode::Auto,
            30,
            Environment {
                ssh: false,
                display: true,
            },
        );
        assert_eq!(auto.copy(&key).0, CopyOutcome::Osc52);
    }
}
