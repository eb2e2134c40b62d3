//! Snapshots and checks of the key lifecycle on screen (issue 8): every state in the State
//! column, the attention line, and the `!` beside Keys on Services.

use crossterm::event::KeyCode;

use super::test_support::{draw, keys_with, screen_text, snapshot};
use crate::args::Lang;
use crate::console::model::Model;
use crate::console::msg::Msg;
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::wire::{KeyState, Role, Timestamp};

/// Keys 1–5 (newest 5): 5 the successor of 4 (rotating, grace ends in 2 h), 3 disabled,
/// 2 expired, 1 active and expiring in 3 days and an hour.
fn every_state(lang: Lang) -> Model {
    let mut m = keys_with(&[1, 2, 3, 4, 5], Role::Manager, lang);
    let keys = &mut m
        .keys
        .as_mut()
        .expect("on keys")
        .list
        .as_mut()
        .expect("list")
        .api_keys;
    for k in keys.iter_mut() {
        match k.id.as_str() {
            "key_0004" => {
                k.state = KeyState::Rotating;
                k.expires_at = Some(Timestamp::from_unix(T0 + 2 * 3600));
                k.replaced_by = Some("key_0005".into());
            }
            "key_0003" => k.state = KeyState::Disabled,
            "key_0002" => {
                k.state = KeyState::Expired;
                k.expires_at = Some(Timestamp::from_unix(T0 - 60));
            }
            "key_0001" => k.expires_at = Some(Timestamp::from_unix(T0 + 3 * 86_400 + 3600)),
            _ => {}
        }
    }
    m
}

#[test]
fn every_key_state() {
    snapshot("lifecycle_states", every_state);
}

#[test]
fn the_state_column_and_the_key_survive_the_narrowest_width() {
    let mut m = every_state(Lang::En);
    let text = screen_text(&draw(&mut m, 60, 16));
    for want in [
        "Active · new",
        "Rotating · ends",
        "Disabled",
        "Expired",
        "expires in 3 d",
        "ragk_Ab04",
        "≡",
    ] {
        assert!(text.contains(want), "{want:?} missing at 60×16:\n{text}");
    }
    assert!(!text.contains("Last used"), "{text}");
}

#[test]
fn the_attention_line_names_expiring_and_disabled_keys() {
    let mut m = every_state(Lang::En);
    let text = screen_text(&draw(&mut m, 100, 30));
    assert!(
        text.contains("1 key expires in 3 days · 1 key is disabled"),
        "{text}"
    );
    let mut calm = keys_with(&[1, 2], Role::Manager, Lang::En);
    let text = screen_text(&draw(&mut calm, 100, 30));
    assert!(
        !text.contains("expires") && !text.contains("disabled"),
        "{text}"
    );
}

/// Opens the first service, answers its ListKeys with keys 1 and 2 (key 2 in `state`), goes
/// back, and returns the Services screen at 100×30.
fn services_after_listing(state: KeyState) -> String {
    let mut m = on_services(3, Role::Manager);
    let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
    let mut result = keys_result("svc_0001", &[1, 2]);
    if let crate::console::msg::ApiResult::Keys { result: Ok(l), .. } = &mut result {
        for k in l.api_keys.iter_mut().filter(|k| k.id == "key_0002") {
            k.state = state;
        }
    }
    update(&mut m, Msg::Api { id, result });
    update(&mut m, code(KeyCode::Esc));
    screen_text(&draw(&mut m, 100, 30))
}

#[test]
fn services_mark_a_service_whose_keys_need_attention() {
    let flagged = services_after_listing(KeyState::Disabled);
    let row = flagged
        .lines()
        .find(|l| l.contains("svc_0001"))
        .unwrap_or_default();
    assert!(row.contains(" !"), "{flagged}");
    let calm = services_after_listing(KeyState::Active);
    assert!(!calm.contains(" !"), "{calm}");
}

#[test]
fn disable_popup() {
    snapshot("disable", |l| {
        let mut m = keys_with(&[1, 2], Role::Manager, l);
        update(&mut m, crate::console::update::fixtures::key('x'));
        m
    });
}

/// Keys 1–2 with key 2 named, on API Key management.
fn named(lang: Lang) -> Model {
    let mut m = keys_with(&[1, 2], Role::Manager, lang);
    if let Some(l) = m.keys.as_mut().and_then(|k| k.list.as_mut()) {
        l.api_keys[0].name = Some("billing".into());
    }
    m
}

#[test]
fn rename_popup() {
    snapshot("rename", |l| {
        let mut m = named(l);
        update(&mut m, key('e'));
        m
    });
}

#[test]
fn rename_popup_refused() {
    snapshot("rename_refused", |l| {
        let mut m = named(l);
        update(&mut m, key('e'));
        let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
        let err = api_err(crate::wire::ErrorCode::InvalidRequest, "name: not allowed");
        update(
            &mut m,
            Msg::Api {
                id,
                result: crate::console::msg::ApiResult::KeyUpdated(Err(err)),
            },
        );
        m
    });
}

#[test]
fn rotate_popup() {
    snapshot("rotate", |l| {
        let mut m = named(l);
        update(&mut m, key('R'));
        m
    });
}

#[test]
fn rotate_popup_now() {
    snapshot("rotate_now", |l| {
        let mut m = named(l);
        update(&mut m, key('R'));
        update(&mut m, code(KeyCode::Left));
        update(&mut m, code(KeyCode::Left));
        m
    });
}

#[test]
fn rotate_popup_while_rotating() {
    snapshot("rotate_running", |l| {
        let mut m = named(l);
        update(&mut m, key('R'));
        update(&mut m, code(KeyCode::Tab));
        update(&mut m, code(KeyCode::Enter));
        m
    });
}

#[test]
fn rotate_refused_for_a_key_that_is_not_active() {
    snapshot("rotate_not_active", |l| {
        let mut m = named(l);
        update(&mut m, key('R'));
        update(&mut m, code(KeyCode::Tab));
        let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
        let err = api_err(crate::wire::ErrorCode::ApiKeyNotActive, "not active");
        update(
            &mut m,
            Msg::Api {
                id,
                result: crate::console::msg::ApiResult::Rotated(Err(err)),
            },
        );
        m
    });
}

#[test]
fn menu_of_a_viewer() {
    snapshot("menu_viewer", |l| {
        let mut m = keys_with(&[1, 2], Role::Viewer, l);
        update(&mut m, key('m'));
        m
    });
}

#[test]
fn menu_on_details() {
    snapshot("menu_details", |l| {
        let mut m = keys_with(&[1, 2], Role::Manager, l);
        update(&mut m, key('m'));
        for _ in 0..crate::console::popups::menu::MENU_ITEMS {
            update(&mut m, code(KeyCode::Up));
        }
        m
    });
}

#[test]
fn the_rotate_popup_shows_every_grace_and_when_the_old_key_stops() {
    for (w, h) in [(100, 30), (60, 16)] {
        let mut m = named(Lang::En);
        update(&mut m, key('R'));
        let text = screen_text(&draw(&mut m, w, h));
        for want in [
            "Now",
            "1 hour",
            "[24 hours]",
            "7 days",
            "[Rotate]",
            "[Cancel]",
        ] {
            assert!(text.contains(want), "{want:?} missing at {w}×{h}:\n{text}");
        }
    }
}
