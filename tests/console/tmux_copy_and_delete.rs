//! The console in a real terminal (tmux), against a real key service: issue a key, copy it with
//! OSC 52 into the terminal's clipboard, see it masked, delete it, and leave nothing behind.

use crate::common::api::Api;
use crate::common::tmux::{Tmux, find_key, sh_quote};
use crate::common::{BIN, Server};

pub(crate) fn console_command(
    server: &Server,
    home: &std::path::Path,
    token: &str,
    extra: &str,
) -> String {
    console_command_in(server, home, token, "C.UTF-8", extra)
}

/// [`console_command`] in the locale `lang` (`LANG`; `LC_ALL` and `LC_CTYPE` unset).
pub(crate) fn console_command_in(
    server: &Server,
    home: &std::path::Path,
    token: &str,
    lang: &str,
    extra: &str,
) -> String {
    format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT -u LC_ALL -u LC_CTYPE HOME={home} \
         XDG_CONFIG_HOME={home}/config XDG_DATA_HOME={home}/data LANG={lang} \
         RAGKEYS_TOKEN={token} {bin} --endpoint {url} {extra}",
        lang = sh_quote(lang),
        home = sh_quote(&home.display().to_string()),
        token = sh_quote(token),
        bin = sh_quote(BIN),
        url = sh_quote(&server.url()),
    )
}

pub(crate) fn mask(key: &str) -> String {
    format!("{}********{}", &key[..9], &key[key.len() - 4..])
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_copy_delete_in_a_real_terminal_leaves_no_key_behind() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    Api::new(&server).create_service("e2e-service").await;
    let home = tempfile::tempdir().unwrap();
    let term = Tmux::start(
        &console_command(
            &server,
            home.path(),
            &server.token,
            "--clipboard osc52 --lang en",
        ),
        100,
        30,
    );

    // Services: the list with the first row selected; Enter opens API Key management.
    term.wait_text("e2e-service");
    term.keys(&["Enter"]);
    term.wait_text("[Issue API Key]");
    term.wait_text("0 / 5");

    // Issue: the popup's Name field has focus, Enter submits; the key is shown once.
    let (screen, key) = term.issue_key();
    assert!(
        screen.contains("[Copy key]") && screen.contains("[OK]"),
        "{screen}"
    );
    assert_eq!(Api::new(&server).verify(&key).await.status, 200);

    // [Copy key] has focus: Enter copies through OSC 52 into the terminal's clipboard.
    term.keys(&["Enter"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while term.buffer().as_deref() != Some(key.as_str()) {
        assert!(
            std::time::Instant::now() < deadline,
            "OSC 52 never reached the tmux buffer: {:?}\n{}",
            term.buffer(),
            term.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // [OK] closes the popup; the list shows the key masked, never in full.
    term.keys(&["Right", "Enter"]);
    let masked = mask(&key);
    let screen = term.wait_text(&masked);
    assert!(
        find_key(&screen).is_none(),
        "the full key is still on screen:\n{screen}"
    );
    term.wait_text("1 / 5");

    // Delete: Cancel has focus when the popup opens; move to [Delete] and press it.
    term.keys(&["d"]);
    term.wait_text("[Delete]");
    term.keys(&["Left", "Enter"]);
    // The row is gone (the footer's notice may still name the masked key).
    term.wait_for(&format!("the row {masked} to go"), |s| {
        s.contains("0 / 5") && s.contains("No API Keys yet") && s.matches(&masked).count() <= 1
    });
    assert_eq!(Api::new(&server).verify(&key).await.status, 401);

    // q goes back, q again quits; nothing of the key is in the pane's scrollback.
    term.keys(&["q"]);
    term.wait_text("[API Key management]");
    term.keys(&["q"]);
    term.wait_dead();
    let history = term.history();
    assert!(
        !history.contains(&key),
        "the key is in the scrollback:\n{history}"
    );
    assert!(find_key(&history).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn too_small_a_terminal_says_so_and_quits_cleanly() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let term = Tmux::start(
        &console_command(&server, home.path(), &server.token, "--lang en"),
        50,
        12,
    );
    let screen = term.wait_for("the too-small screen", |s| {
        s.to_lowercase().contains("too small")
    });
    assert!(
        screen.contains("60"),
        "the message names the minimum size:\n{screen}"
    );
    term.keys(&["C-c"]);
    term.wait_dead();
}

#[tokio::test(flavor = "multi_thread")]
async fn q_quits_from_the_too_small_screen_and_other_keys_do_nothing() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let term = Tmux::start(
        &console_command(&server, home.path(), &server.token, "--lang en"),
        50,
        12,
    );
    let screen = term.wait_for("the too-small screen", |s| {
        s.to_lowercase().contains("too small")
    });
    assert!(screen.contains("press q"), "the hint names q:\n{screen}");
    // `c` (Create service) and `?` (Help) act on nothing that cannot be seen.
    term.keys(&["c", "?"]);
    term.keys(&["q"]);
    term.wait_dead();
}

/// Runs the console under a shell that reports, after it ends, its exit status and the tty mode.
fn console_then_report(server: &Server, home: &std::path::Path) -> Tmux {
    let console = console_command(server, home, &server.token, "--lang en");
    let script = format!("{console}; rc=$?; stty -a; echo \"exit=$rc DONE\"");
    Tmux::start(&format!("sh -c {}", sh_quote(&script)), 100, 30)
}

fn console_pid(term: &Tmux) -> i32 {
    let shell = term.format("#{pane_pid}");
    let out = std::process::Command::new("pgrep")
        .args(["-P", &shell])
        .output()
        .expect("pgrep");
    let pids = String::from_utf8_lossy(&out.stdout);
    pids.split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no console process under the shell {shell}"))
}

/// After the console is gone: the normal screen, no mouse reporting, a cooked tty.
fn assert_terminal_restored(term: &Tmux, expected_exit: &str) {
    term.wait_text("DONE");
    let screen = term.history();
    assert!(
        screen.contains(&format!("exit={expected_exit} DONE")),
        "{screen}"
    );
    assert_eq!(
        term.format("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(
        term.format("#{mouse_any_flag}"),
        "0",
        "mouse capture left on"
    );
    let words: Vec<&str> = screen.split_whitespace().collect();
    for mode in ["echo", "icanon", "isig"] {
        assert!(
            words.contains(&mode),
            "tty mode {mode} not restored:\n{screen}"
        );
    }
    assert!(
        !screen.contains("ragkeys  VPC"),
        "the console's screen was left behind:\n{screen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_restores_the_terminal() {
    let server = Server::start();
    Api::new(&server).create_service("term-svc").await;
    let home = tempfile::tempdir().unwrap();
    let term = console_then_report(&server, home.path());
    term.wait_text("term-svc");
    assert_eq!(term.format("#{alternate_on}"), "1");
    unsafe { libc::kill(console_pid(&term), libc::SIGTERM) };
    assert_terminal_restored(&term, "143");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_from_a_dropped_session_restores_the_terminal() {
    let server = Server::start();
    Api::new(&server).create_service("hup-svc").await;
    let home = tempfile::tempdir().unwrap();
    let term = console_then_report(&server, home.path());
    term.wait_text("hup-svc");
    // Open a popup first: the key-less Issue popup must not keep the console alive either.
    term.keys(&["Enter"]);
    term.wait_text("[Issue API Key]");
    unsafe { libc::kill(console_pid(&term), libc::SIGHUP) };
    assert_terminal_restored(&term, "129");
}

#[tokio::test(flavor = "multi_thread")]
async fn q_quits_with_zero_and_a_clean_terminal() {
    let server = Server::start();
    Api::new(&server).create_service("quit-svc").await;
    let home = tempfile::tempdir().unwrap();
    let term = console_then_report(&server, home.path());
    term.wait_text("quit-svc");
    term.keys(&["q"]);
    assert_terminal_restored(&term, "0");
}
