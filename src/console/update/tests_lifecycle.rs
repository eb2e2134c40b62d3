//! `update` tests of the key lifecycle (issue 8): `x` disables after a confirmation with Cancel
//! focused, enables at once, and a viewer is told why not.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::msg::{ApiCall, ApiResult};
use crate::console::popups::{Button, Focus, Popup};
use crate::wire::{KeyState, Role};

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

#[test]
fn the_menu_starts_on_delete_and_offers_disable_then_enable() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    update(&mut m, key('m'));
    assert!(matches!(top(&m), Popup::Menu(p) if p.selected == crate::console::popups::menu::MENU_DELETE));
    let labels = crate::console::popups::menu::labels(&m, "key_0002");
    assert_eq!(labels, ["Details", "Rename", "Disable", "Rotate", "Delete"]);
    update(&mut m, code(KeyCode::Up));
    update(&mut m, code(KeyCode::Up));
    assert!(only_usage(
        &update(&mut m, code(KeyCode::Enter)),
        "key_0002"
    ));
    assert!(matches!(top(&m), Popup::Delete(p) if p.disable));
    update(&mut m, code(KeyCode::Esc));
    if let Some(l) = m.keys.as_mut().and_then(|k| k.list.as_mut()) {
        l.api_keys[0].state = KeyState::Disabled;
    }
    let labels = crate::console::popups::menu::labels(&m, "key_0002");
    assert_eq!(labels, ["Details", "Rename", "Enable", "Rotate", "Delete"]);
    update(&mut m, key('m'));
    update(&mut m, code(KeyCode::Up));
    update(&mut m, code(KeyCode::Up));
    let (_, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(call, ApiCall::UpdateKey { ref body, .. } if body.enabled == Some(true)));
}
