//! The Issue popup's expiry in the console's real loop against a real `ragkeys serve` (issue 8;
//! docs/console.md, Popups): `30 days` and a typed date reach the service as the `expires_at` they
//! stand for, and a date that is not one is refused before anything is sent.

use chrono::{Duration, FixedOffset, Utc};
use crossterm::event::KeyCode;
use ragkeys::wire::{AuditAction, Timestamp};

use super::driver::{Console, Setup, run};
use super::support::{client, open_first_service, service};
use crate::common::Server;

/// `[Copy key]`, then `[OK]`, and back on the list with `count` keys.
async fn copy_and_close(c: &mut Console, count: usize) {
    c.key(KeyCode::Enter);
    c.wait_for("Sent to the terminal by OSC 52").await;
    c.key(KeyCode::Tab);
    c.key(KeyCode::Enter);
    c.wait_for(&format!("[Issue API Key] {count} / 5")).await;
    c.wait_gone("┌ API Key copy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_days_and_a_date_are_sent_as_the_expiry_the_service_keeps() {
    let server = Server::start();
    let api = client(&server.url(), &server.token);
    let svc = service(&api, "rag-demo").await;
    // The console of the driver shows times in UTC+09:00: a date is the end of that day there.
    let kst = FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!());
    let day = (Utc::now().with_timezone(&kst) + Duration::days(10)).date_naive();
    let date = day.format("%Y-%m-%d").to_string();
    let day_end = day
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(kst).single())
        .map(|t| t.timestamp())
        .unwrap_or_else(|| unreachable!());
    let before = Timestamp::now().unix();
    let date2 = date.clone();
    run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            open_first_service(&mut c).await;
            c.ch('i');
            c.wait_for("┌ Issue API Key").await;
            let text = c.text();
            assert!(text.contains("[Never]"), "Never is chosen first:\n{text}");
            c.typed("thirty");
            c.key(KeyCode::Tab);
            c.key(KeyCode::Right);
            c.key(KeyCode::Right);
            c.wait_for("[30 days]").await;
            c.key(KeyCode::Enter);
            let popup = c.popup("API Key copy").await;
            assert!(popup.contains("in 30 d."), "{popup}");
            copy_and_close(&mut c, 1).await;

            // Date…: a day that is not in the calendar is refused inline, nothing is sent.
            c.ch('i');
            c.wait_for("┌ Issue API Key").await;
            c.typed("dated");
            c.key(KeyCode::Tab);
            for _ in 0..5 {
                c.key(KeyCode::Right);
            }
            c.wait_for("[Date…]").await;
            c.key(KeyCode::Tab);
            c.typed("2027-02-29");
            c.wait_for("2027-02-29 is not a date of the calendar.")
                .await;
            c.key(KeyCode::Enter);
            // From the date past Access, Rate limit and Allowed from to [Issue].
            for _ in 0..4 {
                c.key(KeyCode::Tab);
            }
            c.wait_for(">[Issue]").await;
            c.key(KeyCode::Enter);
            // Refused: the focus went back to the date field, and no copy popup came.
            c.wait_gone(">[Issue]").await;
            assert!(!c.text().contains("┌ API Key copy"));
            for _ in 0..10 {
                c.key(KeyCode::Backspace);
            }
            c.typed(&date2);
            c.wait_gone("not a date of the calendar").await;
            c.key(KeyCode::Enter);
            let popup = c.popup("API Key copy").await;
            assert!(
                popup.contains(&format!(
                    "Expires: {} 00:00:00 (UTC+09:00)",
                    day.succ_opt().unwrap_or(day).format("%Y-%m-%d")
                )),
                "{popup}"
            );
            copy_and_close(&mut c, 2).await;
        },
    )
    .await;
    let after = Timestamp::now().unix();
    let keys = api
        .list_keys(&svc.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let expiry = |name: &str| {
        keys.api_keys
            .iter()
            .find(|k| k.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no key {name}: {:?}", keys.api_keys))
            .expires_at
            .map(|t| t.unix())
    };
    let thirty = expiry("thirty").unwrap_or_else(|| panic!("thirty never expires"));
    let days30 = 30 * 86_400;
    assert!(
        (before + days30..=after + days30).contains(&thirty),
        "30 days from the issue: {thirty} not in {}..={}",
        before + days30,
        after + days30
    );
    assert_eq!(
        expiry("dated"),
        Some(day_end),
        "through {date} in UTC+09:00"
    );
    // The refused date sent nothing: two issues in the audit trail, both successful.
    let audit = api.audit(&svc.id).await.unwrap_or_else(|e| panic!("{e}"));
    let issues: Vec<_> = audit
        .events
        .iter()
        .filter(|e| e.action == AuditAction::ApiKeyIssue)
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(issues, ["ok", "ok"]);
}
