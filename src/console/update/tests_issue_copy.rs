//! `update` through the issue flow: the popups, copy, the limit, retries and failures.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::model::Want;
use crate::console::msg::{ApiCall, ApiResult, CopyOutcome, Effect, Msg};
use crate::console::popups::error::ErrorKind;
use crate::console::popups::{Button, Field, Focus, Popup};
use crate::wire::{ErrorCode, Role};

/// The one issue among `fx`: its request, Idempotency-Key and name.
fn issue_call(fx: &[Effect]) -> (u64, String, Option<String>) {
    let (id, body, idem) = issue_sent(fx);
    (id, idem, body.name)
}

#[test]
fn issue_copy_ok_refreshes_and_selects_the_new_key() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    update(&mut m, key('i'));
    let Popup::Issue(p) = top(&m) else {
        panic!("no issue popup")
    };
    assert_eq!((p.limit, p.remaining), (5, 3));
    assert_eq!(
        p.focus,
        Focus::Field(Field::Name),
        "focus starts in the Name field"
    );
    // Letters go to the field, shortcuts included.
    for c in "ci-bot".chars() {
        update(&mut m, key(c));
    }
    let fx = update(&mut m, code(KeyCode::Enter));
    let (id, idem, name) = issue_call(&fx);
    assert_eq!(name.as_deref(), Some("ci-bot"));
    assert!(!idem.is_empty());
    // A second Enter while issuing does nothing.
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    assert!(update(&mut m, code(KeyCode::Tab)).is_empty());
    assert!(update(&mut m, key(' ')).is_empty());
    respond(&mut m, id, issued(7));
    let Popup::KeyCopy(k) = top(&m) else {
        panic!("the copy popup replaces the issue popup")
    };
    assert_eq!(k.focus, Focus::Button(Button::CopyKey));
    assert_eq!(m.popups.len(), 1);
    let fx = update(&mut m, code(KeyCode::Enter));
    assert!(matches!(fx.as_slice(), [Effect::Copy(_)]));
    update(
        &mut m,
        Msg::Copied(CopyOutcome::Osc52 {
            fallback: None,
            tmux: false,
            screen: false,
        }),
    );
    update(&mut m, code(KeyCode::Right));
    let fx = update(&mut m, code(KeyCode::Enter));
    assert!(m.popups.is_empty(), "OK after a copy closes at once");
    let (id, call) = only_call(&fx);
    assert!(matches!(call, ApiCall::ListKeys { .. }));
    assert_eq!(
        m.keys.as_ref().and_then(|k| k.want.clone()),
        Some(Want::Id("key_0007".into()))
    );
    respond(&mut m, id, keys_result("svc_0001", &[1, 2, 7, 0]));
    let k = m.keys.as_ref().unwrap();
    assert_eq!(k.selected_key().map(|k| k.id.as_str()), Some("key_0007"));
}

#[test]
fn ok_before_any_copy_asks_once_more() {
    let mut m = on_keys(&[], Role::Manager);
    update(&mut m, key('i'));
    let (id, _, name) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!(name, None, "an empty name sends {{}}");
    respond(&mut m, id, issued(1));
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Enter));
    let Popup::ConfirmClose(c) = top(&m) else {
        panic!("no confirmation")
    };
    assert_eq!(c.focus, Focus::Button(Button::Cancel));
    update(&mut m, code(KeyCode::Enter));
    assert!(
        matches!(top(&m), Popup::KeyCopy(_)),
        "Cancel goes back to the key"
    );
    // Esc on the key popup is its OK: it asks too.
    update(&mut m, code(KeyCode::Esc));
    assert!(matches!(top(&m), Popup::ConfirmClose(_)));
    update(&mut m, code(KeyCode::Left));
    let fx = update(&mut m, code(KeyCode::Enter));
    assert!(m.popups.is_empty(), "OK closes both, wiping the key");
    assert!(matches!(only_call(&fx).1, ApiCall::ListKeys { .. }));
}

#[test]
fn a_failed_copy_does_not_count_as_a_copy() {
    let mut m = on_keys(&[], Role::Manager);
    update(&mut m, key('i'));
    let (id, _, _) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    respond(&mut m, id, issued(1));
    update(
        &mut m,
        Msg::Copied(CopyOutcome::Failed("no display".into())),
    );
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(top(&m), Popup::ConfirmClose(_)));
    update(&mut m, code(KeyCode::Esc));
    update(&mut m, Msg::Copied(CopyOutcome::Disabled));
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(top(&m), Popup::ConfirmClose(_)));
}

#[test]
fn esc_abandons_an_issue_and_its_key_is_shown_when_it_arrives() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    let (id, _, _) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    update(&mut m, code(KeyCode::Esc));
    assert!(m.popups.is_empty() && !m.pending.contains_key(&id));
    let fx = respond(&mut m, id, issued(2));
    // The admin asked for the key: its copy popup opens, and the list shows it masked.
    assert!(
        matches!(top(&m), Popup::KeyCopy(p) if p.api_key.id == "key_0002"),
        "the key of an abandoned issue is shown once"
    );
    assert!(matches!(only_call(&fx).1, ApiCall::ListKeys { .. }));
}

#[test]
fn a_network_failure_offers_retry_with_the_same_idempotency_key() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    let (id, idem, _) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    respond(&mut m, id, ApiResult::Issued(Err(unreachable())));
    let Popup::Error(e) = top(&m) else {
        panic!("no error popup")
    };
    assert!(matches!(e.kind, ErrorKind::Retry(_)));
    assert_eq!(e.focus, Focus::Button(Button::Retry));
    assert!(
        e.message.contains("Cannot reach the service"),
        "{}",
        e.message
    );
    let (id2, idem2, _) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!(idem2, idem, "the retry reuses the Idempotency-Key");
    assert_ne!(id2, id);
    assert!(matches!(top(&m), Popup::Issue(p) if p.in_flight == Some(id2)));
    // Cancel on the error popup, then [Issue] again: still the same key.
    respond(&mut m, id2, ApiResult::Issued(Err(unreachable())));
    update(&mut m, code(KeyCode::Esc));
    assert!(matches!(top(&m), Popup::Issue(p) if p.in_flight.is_none()));
    let (_, idem3, _) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!(idem3, idem);
}

#[test]
fn a_new_issue_popup_gets_a_new_idempotency_key() {
    let mut m = on_keys(&[], Role::Manager);
    update(&mut m, key('i'));
    let (_, a, _) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    update(&mut m, code(KeyCode::Esc));
    update(&mut m, key('i'));
    let (_, b, _) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    assert_ne!(a, b);
}

#[test]
fn at_the_limit_issue_is_refused_with_the_page_note() {
    let mut m = on_keys(&[1, 2, 3, 4, 5], Role::Manager);
    assert!(m.keys.as_ref().unwrap().at_limit());
    let fx = update(&mut m, key('i'));
    assert!(fx.is_empty() && m.popups.is_empty());
    let n = m.notice.clone().unwrap();
    assert!(
        n.text
            .starts_with("If you exceed the maximum number of issuable API Keys")
    );
    // The service says so too (another admin issued meanwhile).
    let mut m = on_keys(&[1, 2, 3, 4], Role::Manager);
    update(&mut m, key('i'));
    let (id, _, _) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    let fx = respond(
        &mut m,
        id,
        ApiResult::Issued(Err(api_err(
            ErrorCode::ApiKeyLimitExceeded,
            "You can issue up to 5 API Keys.",
        ))),
    );
    let Popup::Error(e) = top(&m) else {
        panic!("no error popup")
    };
    assert_eq!(m.popups.len(), 1, "it replaces the issue popup");
    assert_eq!(e.title, "Limit reached");
    assert_eq!(
        e.message,
        "If you exceed the maximum number of issuable API Keys, you cannot issue a new one. Delete an existing API Key and try again."
    );
    assert!(matches!(only_call(&fx).1, ApiCall::ListKeys { .. }));
}

#[test]
fn an_orphaned_replay_offers_to_delete_its_key() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    let (id, _, _) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    respond(
        &mut m,
        id,
        ApiResult::Issued(Err(api_err(
            ErrorCode::IdempotencySecretUnavailable,
            "the key key_9f3 was issued but can no longer be shown",
        ))),
    );
    let Popup::Error(e) = top(&m) else {
        panic!("no error popup")
    };
    assert!(matches!(&e.kind, ErrorKind::DeleteOrphan { key_id, .. } if key_id == "key_9f3"));
    assert!(e.message.contains("key_9f3"));
    assert_eq!(e.focus, Focus::Button(Button::Cancel));
    update(&mut m, code(KeyCode::Tab));
    let (id, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(call, ApiCall::DeleteKey { ref key_id, .. } if key_id == "key_9f3"));
    respond(
        &mut m,
        id,
        ApiResult::KeyDeleted {
            service_id: "svc_0001".into(),
            key_id: "key_9f3".into(),
            result: Ok(()),
        },
    );
    assert!(m.popups.is_empty());
    let notice = m.notice.clone().expect("a notice").text;
    assert!(
        notice.contains("key_9f3"),
        "the notice names the deleted key: {notice}"
    );
}

#[test]
fn the_name_field_is_frozen_while_the_issue_runs() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    for c in "aaa".chars() {
        update(&mut m, key(c));
    }
    let (_, _, name) = issue_call(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!(name.as_deref(), Some("aaa"));
    for c in "bbb".chars() {
        update(&mut m, key(c));
    }
    update(&mut m, Msg::Paste("ccc".into()));
    let Popup::Issue(p) = top(&m) else {
        panic!("no issue popup")
    };
    assert_eq!(p.name.value(), "aaa", "the field shows what was sent");
}
