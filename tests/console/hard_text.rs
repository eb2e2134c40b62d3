//! Hard text in a real terminal (tmux): emoji presentation sequences never shift a row, and a name
//! too long for its column is cut with `…` in every script (docs/console.md, Text width).

use serde_json::json;

use crate::common::Server;
use crate::common::api::Api;
use crate::common::tmux::Tmux;
use crate::tmux_copy_and_delete::console_command;

/// 21 Arabic letters, a lam-alef pair among them: 21 columns on a terminal.
pub(crate) const ARABIC_21: &str = "شركة البيانات لاعبينة";

/// Columns of a captured line, as the terminal placed its characters.
fn columns(line: &str) -> usize {
    ragkeys::charset::width(line)
}

#[tokio::test(flavor = "multi_thread")]
async fn emoji_rows_keep_their_border_and_an_arabic_name_is_cut_with_an_ellipsis() {
    ragkeys::client::install_crypto_provider();
    let server = Server::start();
    let api = Api::new(&server);
    let sid = api.create_service("hard-text").await;
    for name in [
        "ok \u{2714}\u{FE0F} checked",
        "team \u{1F3F3}\u{FE0F}\u{200D}\u{1F308} pride",
        ARABIC_21,
    ] {
        api.issue(&sid, json!({ "name": name })).await.expect(201);
    }
    let home = tempfile::tempdir().unwrap();
    let term = Tmux::start(
        &console_command(&server, home.path(), &server.token, "--lang en"),
        100,
        30,
    );
    term.wait_text("hard-text");
    term.keys(&["Enter"]);
    let screen = term.wait_for("the three keys", |s| {
        s.contains("pride") && s.contains("checked")
    });
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("checked") || l.contains("pride") || l.contains("شركة"))
        .collect();
    assert_eq!(rows.len(), 3, "{screen}");
    for row in &rows {
        // The table's right border stays in the terminal's last column on every row.
        assert!(
            row.ends_with('│') && columns(row) == 100,
            "a row shifted ({} columns): {row:?}\n{screen}",
            columns(row)
        );
    }
    // Each emoji sequence is one replacement character; the Arabic name is cut with `…`.
    assert!(
        rows.iter().any(|r| r.contains("ok \u{FFFD} checked")),
        "{screen}"
    );
    assert!(
        rows.iter().any(|r| r.contains("team \u{FFFD} pride")),
        "{screen}"
    );
    let arabic = rows.iter().find(|r| r.contains("شركة")).unwrap();
    assert!(
        arabic.contains("شركة البيان") && arabic.contains('…') && !arabic.contains(ARABIC_21),
        "the 21-character name is not cut with `…`: {arabic:?}\n{screen}"
    );
    term.keys(&["q", "q"]);
}
