//! The console inside GNU screen inside a real terminal (tmux, which takes OSC 52 into its
//! buffer): `[Copy key]` reaches the outer terminal through screen's passthrough, the notice
//! says screen is in the way, and a single Esc acts with mouse capture on (docs/console.md,
//! GNU screen).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::Server;
use crate::common::api::Api;
use crate::common::tmux::{Tmux, find_key, sh_quote};
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
    // No user or system screenrc: screen as it comes. Mouse capture stays on (the default).
    let session = format!("ragkeys-test-{}", std::process::id());
    let _quit = QuitScreen(session.clone());
    let term = Tmux::start(
        &format!(
            "env SCREENRC=/dev/null SYSSCREENRC=/dev/null screen -c /dev/null -S {session} sh -c {}",
            sh_quote(&console)
        ),
        100,
        30,
    );
    term.wait_text("screen-svc");
    term.keys(&["Enter"]);
    term.wait_text("[Issue API Key]");
    term.keys(&["i"]);
    term.wait_text("[Issue]");
    term.keys(&["Enter"]);
    let screen = term.wait_for("the new key", |s| find_key(s).is_some());
    let key = find_key(&screen).unwrap();

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
