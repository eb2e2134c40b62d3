//! A request abandoned with Esc whose key still comes (docs/console.md, A request abandoned with
//! Esc): the copy popup once no popup is open, or a notice naming the masked key once the admin
//! has left its service; the plaintext never outlives either.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::model::Screen;
use crate::console::msg::Msg;
use crate::console::popups::Popup;
use crate::wire::Role;

/// An issue sent and abandoned with Esc on API Key management: its request id.
fn abandoned_issue(m: &mut crate::console::model::Model) -> u64 {
    update(m, key('i'));
    let (id, _, _) = issue_sent(&update(m, code(KeyCode::Enter)));
    update(m, code(KeyCode::Esc));
    assert!(m.popups.is_empty());
    assert!(notice(m).is_some_and(|n| n.starts_with("Issue abandoned")));
    id
}

#[test]
fn a_late_key_waits_for_the_open_popup_then_opens() {
    let mut m = on_keys(&[1], Role::Manager);
    let id = abandoned_issue(&mut m);
    // Help is open when the key arrives: a notice says it waits, naming it masked.
    update(&mut m, key('?'));
    assert!(matches!(top(&m), Popup::Help(_)));
    respond(&mut m, id, issued(2));
    assert!(
        matches!(top(&m), Popup::Help(_)),
        "the open popup keeps the keys"
    );
    assert_eq!(m.late_keys.len(), 1);
    let n = notice(&m).unwrap_or_default();
    assert!(
        n.contains("ragk_Ab02********wXyZ") && n.contains("when this popup closes"),
        "{n}"
    );
    update(&mut m, code(KeyCode::Esc));
    assert!(matches!(top(&m), Popup::KeyCopy(p) if p.api_key.id == "key_0002"));
    assert!(m.late_keys.is_empty());
    assert_eq!(m.popups.len(), 1);
    // The popup it waited for is over, and so is the notice that said so.
    let n = notice(&m).unwrap_or_default();
    assert!(!n.contains("when this popup closes"), "{n}");
}

#[test]
fn a_late_key_after_leaving_the_service_is_named_in_a_notice() {
    let mut m = on_keys(&[1], Role::Manager);
    let id = abandoned_issue(&mut m);
    update(&mut m, code(KeyCode::Esc));
    assert_eq!(m.screen, Screen::Services);
    respond(&mut m, id, issued(2));
    assert!(m.popups.is_empty(), "no key popup on another screen");
    assert!(m.late_keys.is_empty(), "the plaintext is not kept");
    let n = notice(&m).unwrap_or_default();
    assert!(
        n.contains("ragk_Ab02********wXyZ") && n.contains("service-1"),
        "{n}"
    );
}

#[test]
fn a_waiting_key_whose_service_is_left_is_named_and_wiped() {
    let mut m = on_keys(&[1], Role::Manager);
    let id = abandoned_issue(&mut m);
    update(&mut m, key('?'));
    respond(&mut m, id, issued(2));
    assert_eq!(m.late_keys.len(), 1);
    // Help closes and the key popup opens: the admin sees it before leaving. A key that
    // arrives while a Details popup is open and is left behind is named instead.
    update(&mut m, code(KeyCode::Esc));
    assert!(matches!(top(&m), Popup::KeyCopy(_)));
    m.late_keys.clear();
    m.popups.clear();
    let id = abandoned_issue(&mut m);
    update(&mut m, key('?'));
    respond(&mut m, id, issued(3));
    m.popups.clear();
    crate::console::update::back_to_services(&mut m);
    update(&mut m, Msg::Tick);
    assert!(m.late_keys.is_empty());
    assert!(m.popups.is_empty());
    assert!(notice(&m).is_some_and(|n| n.contains("ragk_Ab03********wXyZ")));
}

#[test]
fn a_late_failure_is_dropped() {
    let mut m = on_keys(&[1], Role::Manager);
    let id = abandoned_issue(&mut m);
    let fx = respond(
        &mut m,
        id,
        crate::console::msg::ApiResult::Issued(Err(unreachable())),
    );
    assert!(fx.is_empty() && m.popups.is_empty() && m.late_keys.is_empty());
}
