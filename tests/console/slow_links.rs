//! Keys over a slow link (docs/console.md, Slow links): the bytes of one key
//! written to a real pty in two writes, as a network splits them, and an Esc that arrives
//! together with the next key.

use std::time::Duration;

use crate::common::Server;
use crate::common::api::Api;
use crate::scroll_bytes::Console;

fn shows(rows: &[String], text: &str) -> bool {
    rows.iter().any(|r| r.contains(text))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arrow_split_by_the_network_and_esc_with_a_key_act_as_typed() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    Api::new(&server).create_service("slow-svc").await;
    let home = tempfile::tempdir().unwrap();
    let mut c = Console::start(&server, home.path(), 100, 30);
    c.wait("the service", |r| shows(r, "slow-svc"));
    c.send(b"\r");
    // Loaded: `i` before the list has come only says "still loading".
    c.wait("the keys screen", |r| shows(r, "[Issue API Key] 0 / 5"));
    c.send(b"i");
    c.wait("the Issue popup", |r| shows(r, "[Issue]"));
    c.send(b"alpha");
    c.wait("the typed name", |r| shows(r, "alpha"));

    // Left arrow, its Esc in one write and `[D` 25 ms later (well inside the 100 ms): the
    // cursor moves left, the popup stays, the name is kept.
    c.send(b"\x1b");
    std::thread::sleep(Duration::from_millis(25));
    c.send(b"[D");
    c.send(b"X");
    c.wait("X typed before the last letter, in the open popup", |r| {
        shows(r, "alphXa") && shows(r, "[Issue]")
    });

    // Esc and `i` in one read: Esc closes the popup, `i` opens a fresh one.
    c.send(b"\x1bi");
    c.wait("a fresh Issue popup", |r| {
        shows(r, "[Issue]") && !shows(r, "alphXa")
    });

    // A lone Esc acts once nothing follows, without waiting for another key.
    c.send(b"\x1b");
    c.wait("the popup closed by the lone Esc", |r| {
        !shows(r, "[Issue]") && shows(r, "[Issue API Key]")
    });
}
