//! The console's manners toward its terminal, in a real one (tmux), on the embedded service:
//! nothing blocks the loop (a hung clipboard, a huge paste), job control (Ctrl-Z, SIGTSTP, `fg`),
//! a terminal that goes away, resizes, and pastes into a terminal too small to show them.
//! docs/console.md, Keys and Terminal manners.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::tmux::{Tmux, find_key, sh_quote};
use crate::common::{BIN, token_names};

/// The embedded console over `data`, with `env` (e.g. `DISPLAY=…`) added to a clean
/// environment: no SSH session, no Wayland, no profile.
fn console_line(home: &Path, data: &Path, env: &str, args: &str) -> String {
    format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT -u RAGKEYS_TOKEN -u SSH_CONNECTION -u SSH_TTY \
         -u SSH_CLIENT -u WAYLAND_DISPLAY -u DISPLAY HOME={home} XDG_CONFIG_HOME={home}/config \
         XDG_DATA_HOME={home}/data LANG=C.UTF-8 {env} {bin} --data-dir {data} --lang en {args}",
        home = sh_quote(&home.display().to_string()),
        data = sh_quote(&data.display().to_string()),
        bin = sh_quote(BIN),
    )
}

/// The header's token name (the person at the keyboard) and the process id beside the data
/// dir's one console token.
fn console_token(term: &Tmux, data: &std::path::Path) -> (String, i32) {
    let screen = term.wait_text(" · manager");
    let header = screen.lines().next().unwrap_or_default();
    let end = header.find(" · manager").unwrap();
    let start = header[..end].rfind(' ').map_or(0, |i| i + 1);
    let name = header[start..end].to_string();
    match &crate::common::console_tokens(data)[..] {
        [(listed, pid)] if *listed == name => (name, *pid as i32),
        other => panic!("not one embedded console's token named {name:?}: {other:?}"),
    }
}

/// The screen's words in order, borders dropped: text wrapped in a popup reads as one line.
fn words(screen: &str) -> String {
    screen
        .replace(['│', '┌', '┐', '└', '┘', '─'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn wait_words(term: &Tmux, text: &str) -> String {
    term.wait_for(text, |s| words(s).contains(text))
}

/// Whether a process with this pid is still running (neither gone nor a zombie).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Kills the process when the test ends, should it still run (a console that missed the hangup
/// would otherwise spin on, orphaned).
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if running(self.0) {
            // SAFETY: only signals a pid this test started and saw running just now.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fake X server that accepts connections and never says a word: `DISPLAY=127.0.0.1:N`.
fn hung_x_server() -> (String, Arc<Mutex<Vec<TcpStream>>>) {
    let listener = (100..1000).find_map(|n| {
        TcpListener::bind(("127.0.0.1", 6000 + n))
            .ok()
            .map(|l| (n, l))
    });
    let (n, listener) = listener.expect("a free X display port");
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            keep.lock().unwrap().push(stream);
        }
    });
    (format!("127.0.0.1:{n}"), held)
}

/// Kind 2: `DISPLAY` at an X server that never answers, then [Copy key]: the copy gives up
/// within 2 s and goes by OSC 52, saying so (and, inside tmux, how to let it through); the
/// console still answers keys and SIGTERM, and revokes its token.
#[test]
fn a_clipboard_that_never_answers_cannot_freeze_the_console() {
    let (display, held) = hung_x_server();
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let line = console_line(home.path(), &data, &format!("DISPLAY={display}"), "");
    let term = Tmux::start(&line, 100, 30);
    term.wait_text("rag-demo");
    let (name, pid) = console_token(&term, &data);
    term.keys(&["Enter"]);
    term.wait_text("[Issue API Key]");
    let (_, key) = term.issue_key();

    // [Copy key] has focus.
    let asked = Instant::now();
    term.keys(&["Enter"]);
    let screen = wait_words(&term, "did not answer within 2 s");
    let took = asked.elapsed();
    assert!(
        !held.lock().unwrap().is_empty(),
        "the console never called the X server"
    );
    let said = words(&screen);
    assert!(
        said.contains("sent to the terminal by OSC 52 instead"),
        "{said}"
    );
    assert!(said.contains("set -g set-clipboard on"), "{said}");
    assert!(took >= Duration::from_secs(2), "gave up after {took:?}");
    wait_until("the key in the tmux buffer", || {
        term.buffer().as_deref() == Some(key.as_str())
    });

    // Copy again (another stuck attempt under way), then SIGTERM: the console ends at once.
    term.keys(&["Enter"]);
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    term.wait_dead();
    assert_eq!(term.wait_end(pid), Ok(128 + libc::SIGTERM));
    assert!(!token_names(&data).contains(&name));
    assert!(
        find_key(&term.history()).is_none(),
        "the key is in the scrollback"
    );
}

/// Kind 2: a 200 KB bracketed paste (with escape sequences and newlines in it) into the `/`
/// filter, Create service's name and the Issue popup's name lands at once, stops at each field's
/// maximum with a notice, and leaves no control character behind.
#[test]
fn a_huge_paste_lands_at_once_and_stops_at_the_field_maximum() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let term = Tmux::start(
        &console_line(home.path(), &data, "", "--clipboard off"),
        100,
        30,
    );
    term.wait_text("rag-demo");
    let chunk = "pasted\u{1b}]2;PWNED\u{7}\u{1b}[2J\r\nxyz";
    let huge = chunk.repeat(200 * 1024 / chunk.len() + 1);
    let title = term.format("#{pane_title}");

    term.keys(&["/"]);
    term.paste(&huge);
    wait_words(&term, "at most 24 characters");
    term.keys(&["Escape"]);
    term.wait_text("rag-demo");

    term.keys(&["c"]);
    term.wait_text("[Create]");
    term.paste(&huge);
    let screen = wait_words(&term, "at most 20 characters");
    assert!(screen.contains("pasted]2;PWNED[2Jxyz"), "{screen}");
    term.keys(&["Escape"]);
    term.wait_gone_text("[Create]");

    term.keys(&["Enter"]);
    term.wait_text("[Issue API Key]");
    term.keys(&["i"]);
    term.wait_text("[Issue]");
    term.paste(&huge);
    let screen = wait_words(&term, "at most 50 characters");
    assert!(
        screen.contains("API Key management"),
        "the screen was cleared:\n{screen}"
    );
    assert_eq!(
        term.format("#{pane_title}"),
        title,
        "a pasted OSC 2 set the title"
    );
    term.keys(&["C-c"]);
    term.wait_dead();
}

/// Kind 9: below 60×16 nothing acts but quitting, a paste included; back at full size the
/// field holds only what was typed there.
#[test]
fn a_paste_into_a_too_small_terminal_goes_nowhere() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let term = Tmux::start(
        &console_line(home.path(), &data, "", "--clipboard off"),
        100,
        30,
    );
    term.wait_text("rag-demo");
    term.keys(&["c"]);
    term.wait_text("[Create]");
    term.command(&["resize-window", "-t", "t", "-x", "50", "-y", "12"]);
    wait_words(&term, "Terminal too small");
    term.paste("from-the-paste");
    term.keys(&["q"]);
    term.command(&["resize-window", "-t", "t", "-x", "100", "-y", "30"]);
    term.wait_text("[Create]");
    term.keys(&["t", "y", "p", "e", "d"]);
    let screen = term.wait_text("typed");
    assert!(!screen.contains("from-the-paste"), "{screen}");
    term.keys(&["C-c"]);
    term.wait_dead();
}

/// Writes straight to the pane's terminal, behind the console's back: what a terminal that
/// lost or garbled its content looks like to the console.
fn scribble(term: &Tmux, text: &str) {
    let tty = term.format("#{pane_tty}");
    let mut f = std::fs::OpenOptions::new().write(true).open(&tty).unwrap();
    std::io::Write::write_all(&mut f, format!("\u{1b}[5;5H{text}").as_bytes()).unwrap();
}

/// Kind 9: every resize redraws the whole screen, even a burst that ends at the old size
/// (where a diffing renderer sees nothing to do while the terminal may have lost or reflowed
/// what it showed); Ctrl-L too (docs/console.md, Keys).
#[test]
fn every_resize_and_ctrl_l_redraw_the_whole_screen() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let term = Tmux::start(
        &console_line(home.path(), &data, "", "--clipboard off"),
        100,
        30,
    );
    term.wait_text("rag-demo");
    // The help popup: a screen that does not change by itself.
    term.keys(&["?"]);
    let before = term.wait_text("Quit from anywhere");
    for round in 0..3 {
        scribble(&term, &format!("GARBAGE-{round}"));
        term.wait_text(&format!("GARBAGE-{round}"));
        term.command(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            "60",
            "-y",
            "16",
            ";",
            "resize-window",
            "-t",
            "t",
            "-x",
            "100",
            "-y",
            "30",
        ]);
        term.wait_for(&format!("the whole screen after burst {round}"), |s| {
            s == before
        });
    }
    scribble(&term, "GARBAGE-L");
    term.wait_text("GARBAGE-L");
    term.keys(&["C-l"]);
    term.wait_for("the whole screen after Ctrl-L", |s| s == before);
    term.keys(&["C-c"]);
    term.wait_dead();
}

/// Kind 6: Ctrl-Z and SIGTSTP restore the terminal and stop the console as a shell job; `fg`
/// brings it back in raw mode, on the alternate screen, with mouse capture, fully redrawn.
#[test]
fn ctrl_z_and_sigtstp_suspend_and_fg_brings_the_console_back() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let shell = "env PS1='shell$ ' HISTFILE=/dev/null bash --norc --noprofile -i";
    let term = Tmux::start(shell, 100, 30);
    term.wait_text("shell$");
    let line = console_line(home.path(), &data, "", "--clipboard off");
    term.command(&["send-keys", "-t", "t", "-l", &line]);
    term.keys(&["Enter"]);
    term.wait_text("rag-demo");
    let (_, pid) = console_token(&term, &data);
    let modes = || {
        (
            term.format("#{alternate_on}"),
            term.format("#{mouse_any_flag}"),
        )
    };
    let on = modes();
    assert_eq!(on.0, "1", "not on the alternate screen");

    for (how, stop) in [("Ctrl-Z", true), ("SIGTSTP", false)] {
        if stop {
            term.keys(&["C-z"]);
        } else {
            assert_eq!(unsafe { libc::kill(pid, libc::SIGTSTP) }, 0);
        }
        let screen = term.wait_for(&format!("the shell after {how}"), |s| {
            s.contains("Stopped") && s.trim_end().ends_with("shell$")
        });
        assert!(!screen.contains("rag-demo"), "{how}: {screen}");
        assert_eq!(
            modes(),
            ("0".into(), "0".into()),
            "{how} left the terminal in the console's modes"
        );
        term.command(&["send-keys", "-t", "t", "-l", "fg"]);
        term.keys(&["Enter"]);
        term.wait_text("rag-demo");
        assert_eq!(modes(), on, "after {how} and fg");
        // Raw mode again: one key acts without Enter.
        term.keys(&["c"]);
        term.wait_text("[Create]");
        term.keys(&["Escape"]);
        term.wait_gone_text("[Create]");
    }
    term.keys(&["q"]);
    term.wait_for("the shell after q", |s| s.trim_end().ends_with("shell$"));
    assert!(!running(pid));
}

/// Kind 7: closing the terminal (tmux kill-session, like an SSH drop) while the console is the
/// session leader (it gets SIGHUP, then every write fails with EIO): it ends as `q` does, its
/// own token revoked (a panic on the dead stderr used to skip that).
#[test]
fn a_hangup_ends_the_console_and_revokes_its_token() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let line = format!(
        "exec {}",
        console_line(home.path(), &data, "", "--clipboard off")
    );
    let term = Tmux::start(&line, 100, 30);
    term.wait_text("rag-demo");
    let (name, pid) = console_token(&term, &data);
    let _reap = KillOnDrop(pid);
    assert!(token_names(&data).contains(&name));
    term.command(&["kill-session", "-t", "t"]);
    wait_until("the console to end", || !running(pid));
    let names = token_names(&data);
    assert!(!names.contains(&name), "its token stays: {names:?}");
}

/// Kind 7: the terminal goes away and no SIGHUP reaches the console (its shell survives the
/// hangup and forwards nothing): it sees the hangup itself, ends with no panic (101), and
/// revokes its token.
#[test]
fn a_terminal_gone_without_sighup_ends_the_console_and_revokes_its_token() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let status = home.path().join("status");
    // The shell outlives the hangup to record how the console ended.
    let line = format!(
        "trap : HUP; {console}; echo $? > {status}",
        console = console_line(home.path(), &data, "", "--clipboard off"),
        status = sh_quote(&status.display().to_string()),
    );
    let term = Tmux::start(&line, 100, 30);
    term.wait_text("rag-demo");
    let (name, pid) = console_token(&term, &data);
    let _reap = KillOnDrop(pid);
    assert!(token_names(&data).contains(&name));
    term.command(&["kill-session", "-t", "t"]);
    wait_until("the console to end", || !running(pid));
    let recorded = || std::fs::read_to_string(&status).is_ok_and(|s| s.ends_with('\n'));
    wait_until("the exit status", recorded);
    let code = std::fs::read_to_string(&status).unwrap();
    assert_eq!(
        code.trim(),
        "0",
        "the console ended with {code} (101 is a panic)"
    );
    let names = token_names(&data);
    assert!(!names.contains(&name), "its token stays: {names:?}");
}
