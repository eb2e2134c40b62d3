//! The Audit trail popup (issue 9): what `a` asks for, paging to the oldest event, the filter,
//! reload and close.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::msg::{ApiCall, ApiResult, Msg};
use crate::console::popups::Popup;
use crate::wire::{AuditAction, AuditEvent, AuditPage, Role, Timestamp};

/// `n` events numbered from `from` downwards (newest first), one minute apart.
pub(crate) fn events(from: u32, n: u32) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            let k = from - i;
            AuditEvent {
                at: Timestamp::from_unix(T0 - (10_000 - i64::from(k)) * 60),
                actor: format!("tok_{k:04}"),
                role: Role::Manager,
                action: if k % 2 == 0 {
                    AuditAction::ApiKeyIssue
                } else {
                    AuditAction::ApiKeyWhois
                },
                service_id: "svc_0001".into(),
                key_id: Some(format!("key_{k:04}")),
                masked: Some(format!("ragk_Ab{:02}********wXyZ", k % 100)),
                remote_addr: "10.0.4.17".into(),
                outcome: "ok".into(),
                changes: None,
                url: None,
                source: None,
            }
        })
        .collect()
}

pub(crate) fn page(from: u32, n: u32, next: Option<&str>) -> ApiResult {
    ApiResult::AuditPage(Ok(AuditPage {
        events: events(from, n),
        next: next.map(str::to_string),
    }))
}

fn audit(m: &crate::console::model::Model) -> &crate::console::popups::audit::AuditPopup {
    match top(m) {
        Popup::Audit(p) => p,
        other => panic!("not the audit trail: {other:?}"),
    }
}

#[test]
fn a_on_keys_asks_for_this_service_and_on_services_for_everything() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let (_, call) = only_call(&update(&mut m, key('a')));
    assert!(
        matches!(&call, ApiCall::AuditPage { service_id: Some(s), before: None, oldest_first: false } if s == "svc_0001"),
        "{call:?}"
    );
    let mut m = on_services(3, Role::Viewer);
    let (_, call) = only_call(&update(&mut m, key('a')));
    assert!(
        matches!(
            call,
            ApiCall::AuditPage {
                service_id: None,
                before: None,
                oldest_first: false
            }
        ),
        "{call:?}"
    );
}

#[test]
fn scrolling_to_the_end_pages_until_the_oldest_then_stops() {
    let mut m = on_services(1, Role::Manager);
    update(
        &mut m,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    let (id, _) = only_call(&update(&mut m, key('a')));
    // A first page that fills the screen: nothing more is asked for until the end is reached.
    assert!(respond(&mut m, id, page(250, 100, Some("c150"))).is_empty());
    let mut pages = 1;
    let mut id_next = None;
    for _ in 0..400 {
        let eff = update(&mut m, key('j'));
        if let Some((id, call)) = calls(&eff).into_iter().next() {
            let ApiCall::AuditPage { before, .. } = call else {
                panic!("{call:?}")
            };
            let from = 250 - 100 * pages;
            let before = before.unwrap_or_default();
            assert_eq!(
                before,
                format!("c{}", from),
                "the previous page's next is passed back"
            );
            let n = from.min(100);
            let next = (from > 100).then(|| format!("c{}", from - 100));
            pages += 1;
            id_next = Some(id);
            let more = respond(&mut m, id, page(from, n, next.as_deref()));
            assert!(more.is_empty());
        }
    }
    assert!(id_next.is_some());
    assert_eq!(pages, 3);
    let p = audit(&m);
    assert_eq!(p.events.len(), 250);
    assert!(p.next.is_none());
    assert_eq!(p.events.last().map(|e| e.actor.as_str()), Some("tok_0001"));
    // At the oldest event, G asks for nothing more.
    assert!(update(&mut m, key('G')).is_empty());
}

#[test]
fn the_filter_matches_loaded_rows_and_esc_clears_it_then_closes() {
    let mut m = on_services(1, Role::Manager);
    let (id, _) = only_call(&update(&mut m, key('a')));
    respond(&mut m, id, page(20, 20, None));
    update(&mut m, key('/'));
    for c in "tok_0007".chars() {
        update(&mut m, key(c));
    }
    let shown = crate::console::popups::audit::visible(&m, audit(&m)).len();
    assert_eq!(shown, 1);
    // A paste into the filter is capped and cleaned like the Services filter's.
    update(&mut m, Msg::Paste("\u{1b}[31m".repeat(1000)));
    assert!(audit(&m).filter.value().len() <= crate::console::popups::form::FILTER_MAX);
    assert!(!audit(&m).filter.value().contains('\u{1b}'));
    update(&mut m, code(KeyCode::Esc));
    assert!(audit(&m).filter.value().is_empty());
    assert_eq!(
        crate::console::popups::audit::visible(&m, audit(&m)).len(),
        20
    );
    update(&mut m, code(KeyCode::Esc));
    assert!(m.popups.is_empty());
}

#[test]
fn r_reloads_from_the_newest_and_esc_abandons_a_page_in_flight() {
    let mut m = on_keys(&[1], Role::Manager);
    let (id, _) = only_call(&update(&mut m, key('a')));
    respond(&mut m, id, page(5, 5, None));
    let (id2, call) = only_call(&update(&mut m, key('r')));
    assert!(matches!(call, ApiCall::AuditPage { before: None, .. }));
    assert!(audit(&m).events.is_empty());
    update(&mut m, code(KeyCode::Esc));
    assert!(m.popups.is_empty());
    assert!(!m.pending.contains_key(&id2));
    // Its late answer lands nowhere.
    assert!(respond(&mut m, id2, page(5, 5, None)).is_empty());
}

#[test]
fn a_failed_page_says_why_and_r_tries_again() {
    let mut m = on_services(1, Role::Manager);
    let (id, _) = only_call(&update(&mut m, key('a')));
    respond(&mut m, id, ApiResult::AuditPage(Err(unreachable())));
    assert!(audit(&m).error.is_some());
    assert_eq!(calls(&update(&mut m, key('r'))).len(), 1);
}

/// Oldest first, as `order=oldest` answers: `n` events numbered from `from` upwards.
fn oldest_page(from: u32, n: u32, next: Option<&str>) -> ApiResult {
    let mut evs = events(from + n - 1, n);
    evs.reverse();
    ApiResult::AuditPage(Ok(AuditPage {
        events: evs,
        next: next.map(str::to_string),
    }))
}

fn status(m: &crate::console::model::Model) -> String {
    let l = crate::console::layout::for_model(m);
    let pl = l.popups.last().unwrap();
    match &pl.rows.last().unwrap().1 {
        crate::console::layout::Row::Text(s, _) => s.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn g_reaches_the_oldest_event_in_one_request_and_the_status_waits_for_it() {
    let mut m = on_services(1, Role::Manager);
    let (id, _) = only_call(&update(&mut m, key('a')));
    respond(&mut m, id, page(20_000, 100, Some("e19900")));
    // Loaded to the end of a page is not the oldest event: the status does not say so.
    assert!(!status(&m).contains("the oldest event"), "{}", status(&m));
    let (id, call) = only_call(&update(&mut m, key('G')));
    assert!(
        matches!(
            &call,
            ApiCall::AuditPage {
                before: None,
                oldest_first: true,
                ..
            }
        ),
        "{call:?}"
    );
    assert!(!status(&m).contains("the oldest event"));
    // One answer, and the oldest event is the last row on screen.
    assert!(respond(&mut m, id, oldest_page(1, 100, Some("e100"))).is_empty());
    let p = audit(&m);
    assert_eq!(p.events.first().map(|e| e.actor.as_str()), Some("tok_0100"));
    assert_eq!(p.events.last().map(|e| e.actor.as_str()), Some("tok_0001"));
    let l = crate::console::layout::for_model(&m);
    let shown: Vec<String> = l.popups[0]
        .rows
        .iter()
        .filter_map(|(_, r)| match r {
            crate::console::layout::Row::Text(s, _) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert!(
        shown
            .iter()
            .rev()
            .nth(1)
            .is_some_and(|s| s.contains("tok_0001")),
        "{shown:#?}"
    );
    assert!(status(&m).contains("the oldest event"), "{}", status(&m));
    // G again asks for nothing; scrolling up to the top asks for the newer events, with the
    // same cursor and order, and keeps the rows on screen in place.
    assert!(update(&mut m, key('G')).is_empty());
    let mut asked = None;
    for _ in 0..200 {
        let eff = update(&mut m, key('k'));
        if let Some((id, call)) = calls(&eff).into_iter().next() {
            asked = Some((id, call));
            break;
        }
    }
    let (id, call) = asked.expect("scrolling up asks for newer events");
    assert!(
        matches!(&call, ApiCall::AuditPage { before: Some(b), oldest_first: true, .. } if b == "e100"),
        "{call:?}"
    );
    assert!(!status(&m).contains("the oldest event"));
    let top_before = audit(&m).scroll;
    respond(&mut m, id, oldest_page(101, 100, Some("e200")));
    assert_eq!(audit(&m).events.len(), 200);
    assert_eq!(audit(&m).scroll, top_before + 100);
    assert_eq!(audit(&m).events[0].actor, "tok_0200");
    // Home goes back to the newest in one request too.
    let (_, call) = only_call(&update(&mut m, key('g')));
    assert!(matches!(
        call,
        ApiCall::AuditPage {
            before: None,
            oldest_first: false,
            ..
        }
    ));
}
