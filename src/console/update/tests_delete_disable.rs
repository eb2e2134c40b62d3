//! `update` through Delete API Key and Disable API Key (issue 8): the confirmations, what a
//! viewer is told, enabling at once, refusals.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::msg::{ApiCall, ApiResult};
use crate::console::popups::{Button, Focus, Popup};
use crate::wire::{KeyState, Role};

#[test]
fn a_viewer_sees_the_reason_and_nothing_is_sent() {
    let mut m = on_keys(&[1, 2], Role::Viewer);
    for k in [key('i'), key('d'), code(KeyCode::Delete)] {
        let fx = update(&mut m, k);
        assert!(fx.is_empty());
        assert!(m.popups.is_empty());
        let n = m.notice.clone().unwrap();
        assert!(n.text.contains("viewer"), "{}", n.text);
    }
    // The menu opens (it is how the page shows Delete) but Delete is refused.
    update(&mut m, key('m'));
    let fx = update(&mut m, code(KeyCode::Enter));
    assert!(fx.is_empty() && m.popups.is_empty());
    let mut m = on_services(1, Role::Viewer);
    assert!(update(&mut m, key('c')).is_empty());
    assert!(m.popups.is_empty());
}

#[test]
fn delete_starts_on_cancel_and_the_selection_lands_on_an_existing_row() {
    let mut m = on_keys(&[1, 2, 3], Role::Manager);
    update(&mut m, key('j'));
    update(&mut m, key('d'));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Cancel)));
    assert!(
        update(&mut m, code(KeyCode::Enter)).is_empty(),
        "Enter on Cancel"
    );
    assert!(m.popups.is_empty());
    update(&mut m, code(KeyCode::Delete));
    update(&mut m, code(KeyCode::Left));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Delete)));
    let fx = update(&mut m, code(KeyCode::Enter));
    let (id, call) = only_call(&fx);
    assert!(matches!(call, ApiCall::DeleteKey { ref key_id, .. } if key_id == "key_0002"));
    assert!(
        update(&mut m, code(KeyCode::Enter)).is_empty(),
        "no double delete"
    );
    let fx = respond(
        &mut m,
        id,
        ApiResult::KeyDeleted {
            service_id: "svc_0001".into(),
            key_id: "key_0002".into(),
            result: Ok(()),
        },
    );
    assert!(m.popups.is_empty());
    assert_eq!(notice(&m), Some("API Key deleted: ragk_Ab02********wXyZ"));
    let (id, _) = only_call(&fx);
    respond(&mut m, id, keys_result("svc_0001", &[1, 3]));
    let k = m.keys.as_ref().unwrap();
    assert_eq!(k.selected_key().map(|k| k.id.as_str()), Some("key_0001"));
    // Deleting the last row selects the new last row.
    let mut m = on_keys(&[1, 2], Role::Manager);
    update(&mut m, key('G'));
    update(&mut m, key('d'));
    update(&mut m, code(KeyCode::BackTab));
    let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
    let fx = respond(
        &mut m,
        id,
        ApiResult::KeyDeleted {
            service_id: "svc_0001".into(),
            key_id: "key_0001".into(),
            result: Ok(()),
        },
    );
    let (id, _) = only_call(&fx);
    respond(&mut m, id, keys_result("svc_0001", &[2]));
    assert_eq!(
        m.keys
            .as_ref()
            .and_then(|k| k.selected_key())
            .map(|k| k.id.as_str()),
        Some("key_0002")
    );
}

#[test]
fn x_disables_after_a_confirmation_that_starts_on_cancel() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    assert!(
        only_usage(&update(&mut m, key('x')), "key_0002"),
        "no request but the impact line's before the confirmation"
    );
    assert!(matches!(top(&m), Popup::Delete(p) if p.disable && p.key.id == "key_0002"));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Cancel)));
    assert!(
        update(&mut m, code(KeyCode::Enter)).is_empty(),
        "Enter on Cancel"
    );
    assert!(m.popups.is_empty());
    update(&mut m, key('x'));
    update(&mut m, code(KeyCode::Left));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Disable)));
    let (id, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(
        call,
        ApiCall::UpdateKey { ref key_id, ref body, .. }
            if key_id == "key_0002" && body.enabled == Some(false) && body.name.is_none()
    ));
    assert!(
        update(&mut m, code(KeyCode::Enter)).is_empty(),
        "no double disable"
    );
    let mut k = api_key(2);
    k.state = KeyState::Disabled;
    let fx = respond(&mut m, id, ApiResult::KeyUpdated(Ok(k)));
    assert!(m.popups.is_empty());
    assert_eq!(notice(&m), Some("API Key disabled: ragk_Ab02********wXyZ"));
    let (_, call) = only_call(&fx);
    assert!(
        matches!(call, ApiCall::ListKeys { .. }),
        "the list refreshes"
    );
}

#[test]
fn x_enables_a_disabled_key_at_once() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    if let Some(l) = m.keys.as_mut().and_then(|k| k.list.as_mut()) {
        l.api_keys[0].state = KeyState::Disabled;
    }
    let (id, call) = only_call(&update(&mut m, key('x')));
    assert!(m.popups.is_empty(), "enabling needs no confirmation");
    assert!(matches!(
        call,
        ApiCall::UpdateKey { ref body, .. } if body.enabled == Some(true)
    ));
    respond(&mut m, id, ApiResult::KeyUpdated(Ok(api_key(2))));
    assert_eq!(notice(&m), Some("API Key enabled: ragk_Ab02********wXyZ"));
}

#[test]
fn a_viewer_cannot_disable() {
    let mut m = on_keys(&[1, 2], Role::Viewer);
    assert!(update(&mut m, key('x')).is_empty());
    assert!(m.popups.is_empty());
    assert!(
        m.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("disabling"))
    );
}

#[test]
fn a_refused_disable_says_why_and_refreshes() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    update(&mut m, key('x'));
    update(&mut m, code(KeyCode::Left));
    let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
    let err = api_err(crate::wire::ErrorCode::ApiKeyNotActive, "not active");
    let fx = respond(&mut m, id, ApiResult::KeyUpdated(Err(err)));
    assert!(matches!(top(&m), Popup::Error(_)));
    assert!(matches!(only_call(&fx).1, ApiCall::ListKeys { .. }));
}
