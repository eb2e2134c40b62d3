//! A profile's `token_command`, run the way git runs a credential helper (issue 7, kind 5):
//!
//! - `sh -c COMMAND` with the terminal's stdin and stderr, so that a prompt (on stderr or
//!   `/dev/tty`) is seen and answered. It runs before the console enters the alternate screen.
//! - In a process group of its own, made the terminal's foreground group while it runs (so that
//!   reading `/dev/tty` works and Ctrl-C reaches it, not ragkeys), then handed back.
//! - With a deadline (`token_command_timeout`, seconds, default [`DEFAULT_TIMEOUT_SECS`]): on
//!   timeout, and when ragkeys gets SIGTERM, SIGINT or SIGHUP meanwhile, its whole process group
//!   is killed, so no `sh` or `sleep` outlives ragkeys.
//! - Its stdout is read as `pass` users expect: the first line, surrounding whitespace (and the
//!   CR of a CRLF) trimmed; an empty first line is an error.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::SettingsError;
use crate::credential::Secret;

/// Seconds a token_command may take when the profile does not say.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// The process group of the running token_command (0: none), for the signal handler.
static GROUP: AtomicI32 = AtomicI32::new(0);
/// Our own process group, to hand the terminal back to from the signal handler.
static OWN_GROUP: AtomicI32 = AtomicI32::new(0);

/// Runs `command` for `profile` and returns the token, or an error naming the profile (and the
/// `token_command_timeout` setting when the deadline passed).
pub fn run(profile: &str, command: &str, timeout: Duration) -> Result<Secret, SettingsError> {
    let failed =
        |what: String| SettingsError::Failed(format!("token_command of profile {profile} {what}"));
    let foreground = Foreground::take_if_ours();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let give_tty = foreground.is_some();
    // SAFETY: only async-signal-safe calls (setpgid, signal, tcsetpgrp, getpid) between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            // The child inherited the mask that holds these signals back in ragkeys.
            let set = signal_set();
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if give_tty {
                // A background group may not take the terminal unless SIGTTOU is ignored.
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let guard = SignalGuard::install();
    // Until the group is recorded, a signal waits: the handler must know whom to kill.
    let blocked = Blocked::signals();
    let spawned = cmd.spawn();
    if let Ok(child) = &spawned {
        GROUP.store(child.id() as i32, Ordering::SeqCst);
    }
    drop(blocked);
    let mut child = spawned.map_err(|e| failed(format!("could not be started: {e}")))?;
    let group = child.id() as i32;
    let outcome = wait(&mut child, group, timeout);
    GROUP.store(0, Ordering::SeqCst);
    drop(guard);
    drop(foreground);
    let (status, stdout) = match outcome {
        Waited::Done(status, stdout) => (status, stdout),
        Waited::TimedOut => {
            return Err(failed(format!(
                "did not finish within {} s and was stopped; raise token_command_timeout \
                 (seconds) in the profile if it needs longer",
                timeout.as_secs()
            )));
        }
        Waited::Failed(e) => return Err(failed(format!("could not be waited for: {e}"))),
    };
    if !status.success() {
        let how = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(libc::SIGINT)) => "interrupted".to_string(),
            (None, _) => "killed by a signal".to_string(),
        };
        return Err(failed(format!("failed ({how}); its messages are above")));
    }
    parse_output(&stdout).map_err(|what| failed(what.to_string()))
}

/// The token in a helper's stdout: its first line, trimmed.
pub fn parse_output(stdout: &[u8]) -> Result<Secret, &'static str> {
    let first = stdout.split(|b| *b == b'\n').next().unwrap_or_default();
    let text = std::str::from_utf8(first).map_err(|_| "printed a first line that is not UTF-8")?;
    let token = text.trim();
    if token.is_empty() {
        return Err("printed no token (its first line on stdout is empty)");
    }
    Ok(Secret::new(token.to_string()))
}

enum Waited {
    Done(std::process::ExitStatus, Zeroizing<Vec<u8>>),
    TimedOut,
    Failed(std::io::Error),
}

/// Reads stdout on a thread and polls for the exit until the deadline; kills the group after.
fn wait(child: &mut Child, group: i32, timeout: Duration) -> Waited {
    let deadline = Instant::now() + timeout;
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(mut out) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut buf = Zeroizing::new(Vec::new());
            let _ = out.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(group);
                let _ = child.wait();
                return Waited::TimedOut;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(group);
                return Waited::Failed(e);
            }
        }
    };
    // A process it left behind may hold stdout open: wait for EOF only until the deadline.
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(200);
    match rx.recv_timeout(left) {
        Ok(buf) => Waited::Done(status, buf),
        Err(_) => {
            kill_group(group);
            Waited::TimedOut
        }
    }
}

/// SIGTERM to the group (a prompt gets to restore the terminal), then SIGKILL.
fn kill_group(group: i32) {
    // SAFETY: plain syscalls on a group id we created.
    unsafe {
        libc::killpg(group, libc::SIGTERM);
    }
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        // SAFETY: signal 0 only checks that the group still exists.
        if unsafe { libc::killpg(group, 0) } != 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
    }
}

/// The terminal's foreground group while the command runs; given back on drop.
struct Foreground {
    own: libc::pid_t,
}

impl Foreground {
    /// Only when stdin is a terminal whose foreground group is ours (not in a pipeline's
    /// background, not under a test harness without a terminal).
    fn take_if_ours() -> Option<Foreground> {
        // SAFETY: plain queries of the process and its stdin.
        unsafe {
            if libc::isatty(libc::STDIN_FILENO) != 1 {
                return None;
            }
            let own = libc::getpgrp();
            (libc::tcgetpgrp(libc::STDIN_FILENO) == own).then(|| {
                OWN_GROUP.store(own, Ordering::SeqCst);
                Foreground { own }
            })
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        give_terminal_back(self.own);
        OWN_GROUP.store(0, Ordering::SeqCst);
    }
}

/// Async-signal-safe: also called from the signal handler.
fn give_terminal_back(own: libc::pid_t) {
    // SAFETY: a background process may take the terminal back only with SIGTTOU ignored.
    unsafe {
        let old = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(libc::STDIN_FILENO, own);
        libc::signal(libc::SIGTTOU, old);
    }
}

const SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// While installed, SIGTERM/SIGINT/SIGHUP kill the token_command's group, hand the terminal
/// back and then end ragkeys as the signal would have.
struct SignalGuard {
    old: [libc::sigaction; 3],
}

extern "C" fn on_signal(sig: libc::c_int) {
    let group = GROUP.load(Ordering::SeqCst);
    // SAFETY: killpg, tcsetpgrp, signal and raise are async-signal-safe.
    unsafe {
        if group > 0 {
            libc::killpg(group, libc::SIGKILL);
        }
        let own = OWN_GROUP.load(Ordering::SeqCst);
        if own > 0 {
            give_terminal_back(own);
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

impl SignalGuard {
    fn install() -> SignalGuard {
        // SAFETY: sigaction with a handler that only makes async-signal-safe calls; the old
        // actions are kept and restored on drop.
        unsafe {
            let mut old: [libc::sigaction; 3] = std::mem::zeroed();
            for (i, sig) in SIGNALS.iter().enumerate() {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut act.sa_mask);
                libc::sigaction(*sig, &act, &mut old[i]);
            }
            SignalGuard { old }
        }
    }
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in SIGNALS {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// SIGTERM/SIGINT/SIGHUP held back on this thread until dropped.
struct Blocked {
    old: libc::sigset_t,
}

impl Blocked {
    fn signals() -> Blocked {
        let set = signal_set();
        // SAFETY: changes this thread's mask; the old one is restored on drop.
        unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            Blocked { old }
        }
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `signals`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (i, sig) in SIGNALS.iter().enumerate() {
            // SAFETY: restores the action saved by `install`.
            unsafe {
                libc::sigaction(*sig, &self.old[i], std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_read_like_a_credential_helper_s() {
        let ok = |s: &str| parse_output(s.as_bytes()).map(|t| t.expose().to_string());
        assert_eq!(ok("ragadm_x\n").unwrap(), "ragadm_x");
        assert_eq!(
            ok("  ragadm_x \r\nurl: keys.example\nuser: me\n").unwrap(),
            "ragadm_x"
        );
        assert_eq!(ok("ragadm_x").unwrap(), "ragadm_x");
        assert!(ok("").is_err());
        assert!(ok("\nragadm_x\n").is_err());
        assert!(ok("  \r\n").is_err());
    }

    #[test]
    fn a_command_past_its_deadline_is_stopped() {
        let started = Instant::now();
        let e = run("p", "sleep 30", Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(e.to_string().contains("token_command_timeout"), "{e}");
    }
}
