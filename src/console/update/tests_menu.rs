//! `update` through the ≡ menu: where it starts, what it offers, and what a viewer may choose.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::msg::ApiCall;
use crate::console::popups::Popup;
use crate::console::popups::menu::item_disabled as menu_item_disabled;
use crate::console::popups::menu::{MENU_DETAILS, MENU_ITEMS, MENU_RENAME, MENU_ROTATE};
use crate::wire::{KeyState, Role};

#[test]
fn the_menu_starts_on_delete_and_offers_disable_then_enable() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    update(&mut m, key('m'));
    assert!(
        matches!(top(&m), Popup::Menu(p) if p.selected == crate::console::popups::menu::MENU_DELETE)
    );
    let labels = crate::console::popups::menu::labels(&m, "key_0002");
    assert_eq!(
        labels,
        [
            "Details",
            "Rename",
            "Access…",
            "Disable",
            "Rotate",
            "Delete"
        ]
    );
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
    assert_eq!(
        labels,
        ["Details", "Rename", "Access…", "Enable", "Rotate", "Delete"]
    );
    update(&mut m, key('m'));
    update(&mut m, code(KeyCode::Up));
    update(&mut m, code(KeyCode::Up));
    let (_, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(call, ApiCall::UpdateKey { ref body, .. } if body.enabled == Some(true)));
}

#[test]
fn details_is_for_every_role_and_a_viewer_sees_every_other_item_disabled() {
    for role in [Role::Manager, Role::Viewer] {
        let mut m = on_keys(&[1, 2], role);
        assert_eq!(menu_item_disabled(&m, MENU_DETAILS), None, "{role:?}");
        update(&mut m, key('m'));
        for _ in 0..MENU_ITEMS {
            update(&mut m, code(KeyCode::Up));
        }
        let fx = update(&mut m, code(KeyCode::Enter));
        assert!(
            matches!(top(&m), Popup::Details(p) if p.key.id == "key_0002"),
            "{role:?}"
        );
        let calls = calls(&fx);
        assert!(
            calls.iter().any(
                |(_, c)| matches!(c, ApiCall::KeyUsage { key_id, .. } if key_id == "key_0002")
            ),
            "{calls:?}"
        );
        assert!(
            calls.iter().any(
                |(_, c)| matches!(c, ApiCall::KeyAudit { key_id, .. } if key_id == "key_0002")
            ),
            "{calls:?}"
        );
    }

    let mut m = on_keys(&[1, 2], Role::Manager);
    for i in MENU_RENAME..MENU_ITEMS {
        assert_eq!(menu_item_disabled(&m, i), None, "item {i}");
    }
    let mut v = on_keys(&[1, 2], Role::Viewer);
    for i in MENU_RENAME..MENU_ITEMS {
        assert!(menu_item_disabled(&v, i).is_some(), "item {i}");
    }
    update(&mut v, key('m'));
    update(&mut v, code(KeyCode::Up));
    assert!(update(&mut v, code(KeyCode::Enter)).is_empty());
    assert!(v.pending.is_empty() && v.popups.is_empty());
    for c in ['e', 'R'] {
        assert!(update(&mut v, key(c)).is_empty());
        assert!(v.popups.is_empty(), "{c}");
    }
    assert!(
        v.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("rotating")),
        "{:?}",
        v.notice
    );
    update(&mut m, key('v'));
    assert!(matches!(top(&m), Popup::Details(_)));
    update(&mut m, code(KeyCode::Esc));
    assert!(m.popups.is_empty(), "Esc closes Details");
    let _ = MENU_ROTATE;
}
