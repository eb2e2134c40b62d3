//! Locales without UTF-8 (docs/console.md, Locale): in GNU screen with `LANG=C` the console
//! draws a clean ASCII screen, and with `LANG=ko_KR.EUC-KR` it speaks English and writes not
//! one byte above 0x7F to the terminal.

use serde_json::json;

use crate::common::Server;
use crate::common::api::Api;
use crate::common::tmux::{Tmux, sh_quote};
use crate::gnu_screen::{QuitScreen, require_screen};
use crate::scroll_bytes::Console;
use crate::tmux_copy_and_delete::console_command_in;

/// A service at its limit of 5 keys, one of them named in Korean.
async fn full_service(server: &Server, name: &str) {
    let api = Api::new(server);
    let sid = api.create_service(name).await;
    for i in 0..5 {
        let key_name = if i == 0 {
            "배포용 키".to_string()
        } else {
            format!("key {i}")
        };
        api.issue(&sid, json!({ "name": key_name }))
            .await
            .expect(201);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn in_gnu_screen_with_lang_c_the_screen_is_clean_ascii() {
    require_screen();
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    full_service(&server, "c-locale-svc").await;
    let home = tempfile::tempdir().unwrap();
    let console = console_command_in(&server, home.path(), &server.token, "C", "");
    // Screen itself in the C locale too, as on a bastion host whose locale is C.
    let session = format!("ragkeys-ascii-{}", std::process::id());
    let _quit = QuitScreen(session.clone());
    let term = Tmux::start(
        &format!(
            "env -u LC_ALL -u LC_CTYPE LANG=C SCREENRC=/dev/null SYSSCREENRC=/dev/null \
             screen -c /dev/null -S {session} sh -c {}",
            sh_quote(&console)
        ),
        100,
        30,
    );
    term.wait_text("c-locale-svc");
    // Said once, in the footer of the first screen.
    let first = term.wait_text("No UTF-8 locale: ASCII and English only.");
    assert!(first.is_ascii(), "{first}");
    term.keys(&["Enter"]);
    let screen = term.wait_for("API Key management with its five keys", |s| {
        s.contains("[Issue API Key]") && s.matches("ragk_").count() == 5
    });
    let lines: Vec<&str> = screen.lines().collect();
    // The header is whole, the count reads `5 / 5`, the box is drawn with `+-|`.
    assert!(
        lines[0].contains("ragkeys") && lines[0].contains("- manager"),
        "{screen}"
    );
    assert!(screen.contains("[Issue API Key] 5 / 5"), "{screen}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("+-----") && l.ends_with("-+")),
        "{screen}"
    );
    assert!(lines.iter().any(|l| l.starts_with("|> ragk_")), "{screen}");
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("ragk_"))
            .all(|l| l.ends_with("=|")),
        "{screen}"
    );
    // The Korean name reads one `?` per syllable; nothing of an escape sequence shows as text.
    assert!(screen.contains(" ??? ? "), "{screen}");
    assert!(
        !screen.contains("49m") && !screen.contains("[0m"),
        "{screen}"
    );
    assert!(screen.is_ascii(), "{screen}");
    term.keys(&["q", "q"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_euc_kr_locale_the_console_speaks_english_in_seven_bit_ascii() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    full_service(&server, "서비스-euc").await;
    let home = tempfile::tempdir().unwrap();
    // No --lang: the locale alone would pick Korean.
    let mut c = Console::start_with(
        &server,
        home.path(),
        (100, 30),
        &[("TERM", "xterm-256color"), ("LANG", "ko_KR.EUC-KR")],
        &[],
    );
    c.wait("the services", |r| r.iter().any(|l| l.contains("???-euc")));
    c.send(b"\r");
    c.wait("API Key management", |r| {
        r.iter().any(|l| l.contains("[Issue API Key] 5 / 5"))
    });
    // The row menu, Help and Details draw more of the console's glyphs.
    for (key, shows) in [
        (&b"m"[..], "Details"),
        (b"\x1b", "[Issue API Key]"),
        (b"?", "Help"),
        (b"\x1b", "[Issue API Key]"),
        (b"v", "Details"),
    ] {
        c.send(key);
        c.wait(shows, |r| r.iter().any(|l| l.contains(shows)));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let raw = c.raw();
    let high: Vec<(usize, u8)> = raw
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, b)| *b > 0x7F)
        .collect();
    assert!(
        high.is_empty(),
        "{} bytes above 0x7F, first at {:?}: {}",
        high.len(),
        high.first(),
        c.rows().join("\n")
    );
    c.send(b"\x1bqq");
}
