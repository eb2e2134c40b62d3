//! What the console switches on for the terminal it runs in (docs/console.md, Terminal
//! capabilities), read from the bytes it writes to a real pty: colours as the terminfo entry of
//! `TERM` says (none for `vt100`, `dumb`, an unset or unknown type, or with `NO_COLOR`; the 8
//! classic codes for `xterm`; 256-colour codes for `xterm-256color`), mouse reports asked for
//! only where the entry has `kmous`; and, without colour, every state still reads in plain text.

use crate::common::Server;
use crate::common::api::Api;
use crate::scroll_bytes::Console;

/// Fails, naming the package, where the terminfo entries the cases use are missing.
fn require_terminfo() {
    let found = ["xterm-256color", "xterm", "xterm-mono", "vt100", "dumb"]
        .iter()
        .all(|t| {
            let first = &t[..1];
            ["/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo"]
                .iter()
                .any(|d| std::path::Path::new(&format!("{d}/{first}/{t}")).exists())
        });
    assert!(
        found,
        "terminfo entries missing: apt-get install ncurses-base"
    );
}

/// The colour codes of every SGR sequence (`ESC [ … m`) in `raw`: `38;5`/`48;5` (256 colours),
/// `38;2`/`48;2` (24-bit), the classic ones by number (30–37, 39, 40–47, 49, 90–97, 100–107).
fn colour_codes(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut out = Vec::new();
    for seq in text.split("\x1b[").skip(1) {
        let end = seq
            .find(|c: char| !(c.is_ascii_digit() || c == ';' || c == ':'))
            .unwrap_or(seq.len());
        if !seq[end..].starts_with('m') {
            continue;
        }
        let params: Vec<u16> = seq[..end]
            .split([';', ':'])
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        let mut i = 0;
        while i < params.len() {
            match params[i] {
                p @ (38 | 48 | 58) => {
                    let kind = params.get(i + 1).copied().unwrap_or(0);
                    out.push(format!("{p};{kind}"));
                    i += if kind == 2 { 5 } else { 3 };
                    continue;
                }
                p @ (30..=37 | 39 | 40..=47 | 49 | 90..=97 | 100..=107) => out.push(p.to_string()),
                _ => {}
            }
            i += 1;
        }
    }
    out
}

/// Whether `raw` asks the terminal for mouse reports (X10, button, any-motion, SGR or urxvt).
fn asks_for_the_mouse(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    ["1000", "1002", "1003", "1005", "1006", "1015"]
        .iter()
        .any(|m| text.contains(&format!("\x1b[?{m}h")))
}

fn shows(rows: &[String], text: &str) -> bool {
    rows.iter().any(|r| r.contains(text))
}

/// The console's bytes on a pty with `env`, through Services and API Key management.
fn bytes_with(server: &Server, env: &[(&str, &str)]) -> Vec<u8> {
    let home = tempfile::tempdir().unwrap();
    let mut c = Console::start_with(server, home.path(), (100, 30), env, &["--lang", "en"]);
    c.wait("the service", |r| shows(r, "caps-svc"));
    c.send(b"\r");
    c.wait("the keys screen and its key", |r| {
        shows(r, "Issue API Key]") && shows(r, "ragk_")
    });
    // The Delete popup: focus, a destructive button, the caution.
    c.send(b"d");
    c.wait("the Delete popup", |r| shows(r, ">[Cancel]"));
    c.settle();
    c.raw()
}

#[tokio::test(flavor = "multi_thread")]
async fn colours_and_the_mouse_follow_the_terminfo_entry_of_term() {
    require_terminfo();
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("caps-svc").await;
    api.issue_ok(&sid).await;

    // No colour at all: not even a reset to the default colour.
    for (what, env, mouse) in [
        ("TERM=vt100", &[("TERM", "vt100")][..], false),
        ("TERM=dumb", &[("TERM", "dumb")][..], false),
        ("TERM unset", &[][..], false),
        (
            "a TERM with no entry",
            &[("TERM", "no-such-terminal")][..],
            false,
        ),
        (
            "TERM=vt100 whatever COLORTERM says",
            &[("TERM", "vt100"), ("COLORTERM", "truecolor")][..],
            false,
        ),
        (
            "NO_COLOR on xterm-256color",
            &[("TERM", "xterm-256color"), ("NO_COLOR", "1")][..],
            true,
        ),
        (
            "TERM=xterm-mono (kmous, no colours)",
            &[("TERM", "xterm-mono")][..],
            true,
        ),
    ] {
        let raw = bytes_with(&server, env);
        let codes = colour_codes(&raw);
        assert!(codes.is_empty(), "{what}: colour codes {codes:?}");
        assert_eq!(asks_for_the_mouse(&raw), mouse, "{what}: mouse reports");
    }

    // 8 colours: the classic codes only, no 256-colour, 24-bit or bright ones.
    let raw = bytes_with(&server, &[("TERM", "xterm")]);
    let codes = colour_codes(&raw);
    assert!(
        codes.iter().any(|c| c == "44") && codes.iter().any(|c| c == "46"),
        "TERM=xterm: the header's blue and the focus's cyan: {codes:?}"
    );
    for c in &codes {
        let n: u16 = c.parse().unwrap_or(0);
        assert!(
            matches!(n, 30..=37 | 39 | 40..=47 | 49),
            "TERM=xterm (8 colours) was sent {c}: {codes:?}"
        );
    }
    assert!(asks_for_the_mouse(&raw), "TERM=xterm has kmous");

    // 256 colours: as before.
    let raw = bytes_with(&server, &[("TERM", "xterm-256color")]);
    let codes = colour_codes(&raw);
    assert!(
        codes.iter().any(|c| c == "38;5") && codes.iter().any(|c| c == "48;5"),
        "TERM=xterm-256color: {codes:?}"
    );
    assert!(asks_for_the_mouse(&raw), "TERM=xterm-256color has kmous");
}

/// Without colour (TERM=vt100), the states that colour marks read in plain text: what cannot be
/// chosen now carries `-` before it, the selection and the focus `>`.
#[tokio::test(flavor = "multi_thread")]
async fn without_colour_disabled_buttons_and_menu_items_read_differently() {
    require_terminfo();
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("caps-svc").await;
    api.issue_ok(&sid).await;
    let home = tempfile::tempdir().unwrap();
    let vt100 = [("TERM", "vt100")];

    // A manager below the limit: everything can be chosen.
    let mut c = Console::start_with(&server, home.path(), (100, 30), &vt100, &["--lang", "en"]);
    c.wait("the service", |r| shows(r, "caps-svc"));
    let rows = c.wait("Create service", |r| shows(r, " [Create service]"));
    assert!(
        rows.iter().any(|r| r.starts_with("│>")),
        "the selected service is marked:\n{}",
        rows.join("\n")
    );
    c.send(b"\r");
    c.wait("the keys screen", |r| {
        shows(r, " [Issue API Key] 1 / 5") && shows(r, "ragk_")
    });
    c.send(b"m");
    let rows = c.wait("the menu", |r| shows(r, ">Delete"));
    for item in ["Details", "Rename", "Disable", "Rotate"] {
        assert!(
            rows.iter().any(|r| r.contains(&format!("│ {item} "))),
            "{item} enabled:\n{}",
            rows.join("\n")
        );
    }
    drop(c);

    // A viewer: Create service, Issue API Key and all of the menu but Details cannot be chosen.
    let viewer = server.create_token("vera", "viewer");
    let home = tempfile::tempdir().unwrap();
    let mut c = Console::start_with(
        &server,
        home.path(),
        (100, 30),
        &[("TERM", "vt100"), ("RAGKEYS_TOKEN", &viewer)],
        &["--lang", "en"],
    );
    c.wait("the viewer's services", |r| {
        shows(r, "caps-svc") && shows(r, "vera")
    });
    c.wait("Create service disabled", |r| shows(r, "-[Create service]"));
    c.send(b"\r");
    c.wait("Issue API Key disabled", |r| {
        shows(r, "-[Issue API Key] 1 / 5") && shows(r, "ragk_")
    });
    c.send(b"m");
    // Delete, selected, says why at the menu's foot.
    let rows = c.wait("the viewer's menu", |r| {
        shows(r, ">Delete") && shows(r, "Needs the manager role")
    });
    assert!(
        rows.iter().any(|r| r.contains("│ Details ")),
        "Details stays enabled:\n{}",
        rows.join("\n")
    );
    for item in ["Rename", "Disable", "Rotate"] {
        assert!(
            rows.iter().any(|r| r.contains(&format!("│-{item} "))),
            "{item} disabled:\n{}",
            rows.join("\n")
        );
    }
    drop(c);

    // A manager at the limit: Issue API Key cannot be pressed.
    for _ in 0..4 {
        api.issue_ok(&sid).await;
    }
    let home = tempfile::tempdir().unwrap();
    let mut c = Console::start_with(&server, home.path(), (100, 30), &vt100, &["--lang", "en"]);
    c.wait("the service", |r| shows(r, "caps-svc"));
    c.send(b"\r");
    c.wait("Issue API Key disabled at the limit", |r| {
        shows(r, "-[Issue API Key] 5 / 5")
    });
}
