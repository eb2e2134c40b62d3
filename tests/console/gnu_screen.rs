//! The console inside GNU screen inside a real terminal (tmux, which takes OSC 52 into its
//! buffer): `[Copy key]` reaches the outer terminal through screen's passthrough, the notice
//! says screen is in the way, a single Esc acts with mouse capture on, and a paste, which screen
//! passes on as typed keys, acts as no key (docs/console.md, GNU screen).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::Server;
use crate::common::api::Api;
use crate::common::tmux::{Tmux, sh_quote};
use crate::tmux_copy_and_delete::{console_command, mask};

/// Fails, naming the package, where GNU screen is not installed.
pub(crate) fn require_screen() {
    let found = Command::new("screen")
        .arg("-v")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Screen version"));
    assert!(found, "GNU screen is missing: apt-get install screen");
}

/// Ends the screen session when the test ends, passed or not: screen outlives the tmux pane
/// that started it.
pub(crate) struct QuitScreen(pub(crate) String);

impl Drop for QuitScreen {
    fn drop(&mut self) {
        let _ = Command::new("screen")
            .args(["-S", &self.0, "-X", "quit"])
            .output();
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

/// `console` (a shell command) inside GNU screen inside tmux, as session `ragkeys-test-PID-tag`.
fn in_screen(console: &str, tag: &str) -> (Tmux, QuitScreen) {
    // No user or system screenrc: screen as it comes. Mouse capture stays on (the default).
    let session = format!("ragkeys-test-{}-{tag}", std::process::id());
    let quit = QuitScreen(session.clone());
    let term = Tmux::start(
        &format!(
            "env SCREENRC=/dev/null SYSSCREENRC=/dev/null screen -c /dev/null -S {session} sh -c {}",
            sh_quote(console)
        ),
        100,
        30,
    );
    (term, quit)
}

/// Types `text` into the screen session's window in one write (`screen -X stuff`), as screen
/// passes on a paste.
fn stuff(session: &QuitScreen, text: &str) {
    let out = Command::new("screen")
        .args(["-S", &session.0, "-X", "stuff", text])
        .output()
        .expect("screen -X stuff");
    assert!(out.status.success(), "screen -X stuff: {out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn inside_gnu_screen_osc52_reaches_the_outer_terminal_and_a_lone_esc_acts() {
    require_screen();
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    Api::new(&server).create_service("screen-svc").await;
    let home = tempfile::tempdir().unwrap();
    let console = console_command(
        &server,
        home.path(),
        &server.token,
        "--clipboard osc52 --lang en",
    );
    let (term, _quit) = in_screen(&console, "osc52");
    term.wait_text("screen-svc");
    term.keys(&["Enter"]);
    term.wait_text("[Issue API Key]");
    let (_, key) = term.issue_key();

    // [Copy key]: the key reaches the terminal outside screen (tmux's buffer).
    term.keys(&["Enter"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while term.buffer().as_deref() != Some(key.as_str()) {
        assert!(
            Instant::now() < deadline,
            "OSC 52 never got through screen: {:?}\n{}",
            term.buffer(),
            term.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    term.wait_for("the screen notice", |s| {
        words(s).contains("Inside GNU screen, OSC 52 went wrapped for screen's passthrough")
    });
    term.keys(&["Right", "Enter"]);
    term.wait_text(&mask(&key));

    // A single Esc closes a popup on its own: nothing holds it until the next key.
    term.keys(&["i"]);
    term.wait_text("[Issue]");
    term.keys(&["Escape"]);
    term.wait_gone_text("[Issue]");
    term.keys(&["q"]);
    term.wait_text("[API Key management]");
    term.keys(&["q"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn inside_gnu_screen_a_paste_acts_as_no_key_and_a_short_burst_fills_the_field_it_opens() {
    require_screen();
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("screen-svc").await;
    api.create_service("other-svc").await;
    api.issue_ok(&sid).await;
    let home = tempfile::tempdir().unwrap();
    let console = console_command(&server, home.path(), &server.token, "--lang en");
    let (term, session) = in_screen(&console, "paste");
    term.wait_text("screen-svc");
    term.keys(&["Enter"]);
    term.wait_for("the key list", |s| {
        s.contains("[Issue API Key]") && s.contains("ragk_")
    });

    // A pasted text full of `d` and `x` (Delete, Disable) in one read: no popup, and the footer
    // says it was taken as a paste.
    stuff(&session, "dxdxdxdx");
    let screen = term.wait_text("Taken as a paste and ignored");
    for popup in ["Delete API Key", "Disable API Key"] {
        assert!(!screen.contains(popup), "{popup} opened:\n{screen}");
    }

    // A short burst is typed keys: `/` opens the filter and the rest of the read goes into it.
    term.keys(&["q"]);
    term.wait_text("[API Key management]");
    stuff(&session, "/oth");
    term.wait_for("the filter holding the rest of the burst", |s| {
        s.lines().any(|l| l.trim_end().ends_with(": oth"))
            && s.contains("other-svc")
            && !s.contains("screen-svc")
    });
    term.keys(&["Escape"]);
    term.wait_text("screen-svc");
    term.keys(&["q"]);
}
