//! A real terminal for end-to-end tests: a private tmux server (its own socket, no user config)
//! running one pane, driven with send-keys and read with capture-pane.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a `width`×`height` pane. The pane stays after
    /// the program exits, so its scrollback can still be read.
    pub fn start(command: &str, width: u16, height: u16) -> Tmux {
        let socket = format!("ragkeys-test-{}-{}", std::process::id(), unique());
        let t = Tmux { socket };
        let (w, h) = (width.to_string(), height.to_string());
        // Options first, in the same invocation: a program that exits at once must still leave
        // its pane (and scrollback) behind, and OSC 52 from applications must reach the buffer.
        t.run(&[
            "-f",
            "/dev/null",
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "set-option",
            "-g",
            "set-clipboard",
            "on",
            ";",
            "set-option",
            "-g",
            "history-limit",
            "5000",
            ";",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &w,
            "-y",
            &h,
            command,
        ])
        .expect("tmux new-session");
        t
    }

    fn run(&self, args: &[&str]) -> Result<Output, String> {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .map_err(|e| format!("tmux: {e}"))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Sends tmux key names (`Enter`, `Left`, `BTab`, `q`, …) one by one.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "t", k]).expect("send-keys");
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// The visible screen as text.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The whole history of the pane: scrollback plus the visible screen.
    pub fn history(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t", "-S", "-", "-E", "-"])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The newest tmux paste buffer, if any was set.
    pub fn buffer(&self) -> Option<String> {
        self.run(&["show-buffer"])
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    pub fn format(&self, fmt: &str) -> String {
        self.run(&["display-message", "-p", "-t", "t", fmt])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }

    /// Runs any tmux command on this server (e.g. `resize-window`); panics when it fails.
    pub fn command(&self, args: &[&str]) {
        if let Err(e) = self.run(args) {
            panic!("tmux {args:?}: {e}");
        }
    }

    /// Pastes `text` into the pane as a terminal paste does: bracketed (`paste-buffer -p`) when
    /// the program asked for bracketed paste. Goes through a file, so any size works.
    pub fn paste(&self, text: &str) {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("write the paste");
        let path = file.path().display().to_string();
        self.command(&["load-buffer", "-b", "paste", &path]);
        self.command(&["paste-buffer", "-p", "-d", "-b", "paste", "-t", "t"]);
    }

    /// The exit status of the pane's program once it is dead (`#{pane_dead_status}`).
    pub fn exit_status(&self) -> Option<i32> {
        self.format("#{pane_dead_status}").parse().ok()
    }

    /// The program's exit code once it has ended, `128 + N` when signal N killed it, as a shell
    /// says (see [`Tmux::wait_end`]).
    pub fn wait_exit_status(&self) -> i32 {
        let pid = self.format("#{pane_pid}").parse().unwrap_or(0);
        self.wait_end(pid).unwrap_or_else(|signal| 128 + signal)
    }

    /// How process `pid` (the pane's program) ended: `Ok(exit code)`, or `Err(signal)` when a
    /// signal killed it. tmux's record, or, while tmux has yet to reap it (a pane reads dead when
    /// its pty closes, and tmux can take its time to wait for the child), the kernel's record of
    /// the zombie: /proc/PID/stat field 52, in waitpid's form. Panics with the screen after 20 s.
    pub fn wait_end(&self, pid: i32) -> Result<i32, i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(code) = self.exit_status() {
                return Ok(code);
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the command name, which ends at the last ')': state is field 3.
            let fields: Vec<&str> = stat
                .rfind(')')
                .map(|i| stat[i + 1..].split_whitespace().collect())
                .unwrap_or_default();
            if fields.first() == Some(&"Z")
                && let Some(status) = fields.get(49).and_then(|c| c.parse::<i32>().ok())
            {
                return match status & 0x7f {
                    0 => Ok((status >> 8) & 0xff),
                    signal => Err(signal),
                };
            }
            if Instant::now() > deadline {
                panic!(
                    "no exit status for pid {pid}; the screen was:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pane_dead(&self) -> bool {
        self.format("#{pane_dead}") == "1"
    }

    /// On API Key management: `i`, Enter in the Issue popup (no name), and the copy popup's
    /// screen with the new key it shows.
    pub fn issue_key(&self) -> (String, String) {
        self.keys(&["i"]);
        self.wait_text("[Issue]");
        self.keys(&["Enter"]);
        let screen = self.wait_for("the new key", |s| find_key(s).is_some());
        let key = find_key(&screen).expect("a key on the screen");
        (screen, key)
    }

    /// Waits until `pred` holds for the screen; panics with the screen when it never does.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen was:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }

    pub fn wait_gone_text(&self, text: &str) -> String {
        self.wait_for(&format!("{text} to go"), |s| !s.contains(text))
    }

    pub fn wait_dead(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.pane_dead() {
            if Instant::now() > deadline {
                panic!(
                    "the program did not exit; the screen was:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Quotes a string for the shell tmux runs the command with.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The first API key (`ragk_` + 36 base62) on the screen.
pub fn find_key(screen: &str) -> Option<String> {
    let bytes = screen.as_bytes();
    let mut from = 0;
    while let Some(i) = screen[from..].find("ragk_") {
        let start = from + i;
        let body = &bytes[start + 5..];
        let n = body
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if n == 36 {
            return Some(screen[start..start + 41].to_string());
        }
        from = start + 5;
    }
    None
}

/// The console's command line in a private home against `url`, English unless `extra` says
/// otherwise (`--lang ko`); OSC 52 for copies, so that nothing reaches a real clipboard.
pub fn console_at(url: &str, token: &str, home: &std::path::Path, extra: &str) -> String {
    format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT HOME={home} XDG_CONFIG_HOME={home}/config \
         XDG_DATA_HOME={home}/data LANG=C.UTF-8 RAGKEYS_TOKEN={token} {bin} --endpoint {url} \
         --clipboard osc52 {extra}",
        home = sh_quote(&home.display().to_string()),
        token = sh_quote(token),
        bin = sh_quote(crate::common::BIN),
        url = sh_quote(url),
    )
}
