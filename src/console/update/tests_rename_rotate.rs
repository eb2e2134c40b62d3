//! `update` through Rename and Rotate API Key (issue 8): the PATCH of a name, the rotation with
//! its grace and Idempotency-Key, the successor in the copy popup.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::client::Issued;
use crate::console::model::{Model, Want};
use crate::console::msg::{ApiCall, ApiResult, CopyOutcome, Msg};
use crate::console::popups::rotate::GRACES;
use crate::console::popups::{Button, Choice, Field, Focus, Popup};
use crate::credential::{Kind, generate};
use crate::wire::{ErrorCode, IssuedKey, Role};

fn named(ids: &[u32]) -> Model {
    let mut m = on_keys(ids, Role::Manager);
    if let Some(l) = m.keys.as_mut().and_then(|k| k.list.as_mut()) {
        l.api_keys[0].name = Some("billing".into());
    }
    m
}

fn rotated(i: u32) -> ApiResult {
    ApiResult::Rotated(Ok(Issued {
        key: IssuedKey {
            api_key: api_key(i),
            key: generate(Kind::ApiKey),
        },
        replayed: false,
    }))
}

fn name_in_popup(m: &Model) -> String {
    match top(m) {
        Popup::Rename(p) => p.name.value().to_string(),
        other => panic!("not the rename popup: {other:?}"),
    }
}

#[test]
fn e_opens_rename_prefilled_and_enter_saves_via_patch() {
    let mut m = named(&[1, 2]);
    assert!(update(&mut m, key('e')).is_empty());
    assert_eq!(name_in_popup(&m), "billing");
    assert_eq!(focus(&m), Some(Focus::Field(Field::Name)));
    // Letters go to the field, not to the shortcuts (e, x, R among them).
    for c in "-eu".chars() {
        assert!(update(&mut m, key(c)).is_empty());
    }
    assert_eq!(name_in_popup(&m), "billing-eu");
    let (id, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(
        call,
        ApiCall::UpdateKey { ref key_id, ref body, .. }
            if key_id == "key_0002"
                && body.name == Some(Some("billing-eu".into()))
                && body.enabled.is_none()
                && body.expires_at.is_none()
    ));
    assert!(
        update(&mut m, code(KeyCode::Enter)).is_empty(),
        "no second save while the first runs"
    );
    let mut k = api_key(2);
    k.name = Some("billing-eu".into());
    let fx = respond(&mut m, id, ApiResult::KeyUpdated(Ok(k)));
    assert!(m.popups.is_empty());
    assert_eq!(
        notice(&m),
        Some("API Key renamed: ragk_Ab02********wXyZ is now billing-eu")
    );
    assert!(matches!(only_call(&fx).1, ApiCall::ListKeys { .. }));
    assert_eq!(
        m.keys.as_ref().and_then(|k| k.want.clone()),
        Some(Want::Id("key_0002".into())),
        "the selection is kept"
    );
}

#[test]
fn an_empty_name_clears_it_with_null() {
    let mut m = named(&[1, 2]);
    update(&mut m, key('e'));
    for _ in 0.."billing".len() {
        update(&mut m, code(KeyCode::Backspace));
    }
    assert_eq!(name_in_popup(&m), "");
    let (_, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(
        call,
        ApiCall::UpdateKey { ref body, .. } if body.name == Some(None)
    ));
}

#[test]
fn a_refused_rename_is_shown_in_the_popup() {
    let mut m = named(&[1, 2]);
    update(&mut m, key('e'));
    let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
    let err = api_err(ErrorCode::InvalidRequest, "name: too long");
    let fx = respond(&mut m, id, ApiResult::KeyUpdated(Err(err)));
    assert!(fx.is_empty());
    match top(&m) {
        Popup::Rename(p) => {
            assert!(p.in_flight.is_none(), "Save works again");
            assert!(
                p.name_error
                    .as_deref()
                    .is_some_and(|e| e.contains("name: too long")),
                "{:?}",
                p.name_error
            );
        }
        other => panic!("{other:?}"),
    }
    // Save again: the same PATCH goes out.
    let (_, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(call, ApiCall::UpdateKey { .. }));
}

#[test]
fn the_menu_opens_rename_and_rotate() {
    let mut m = named(&[1, 2]);
    update(&mut m, key('m'));
    update(&mut m, code(KeyCode::Up));
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(top(&m), Popup::Rotate(_)));
    update(&mut m, code(KeyCode::Esc));
    update(&mut m, key('m'));
    // Delete, Rotate, Disable, Access…, Rename: four up.
    for _ in 0..4 {
        update(&mut m, code(KeyCode::Up));
    }
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(name_in_popup(&m), "billing");
}

#[test]
fn r_opens_rotate_on_24_hours_and_arrows_move_the_grace() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    assert!(only_usage(&update(&mut m, key('R')), "key_0002"));
    let grace = |m: &Model| match top(m) {
        Popup::Rotate(p) => GRACES[p.grace],
        other => panic!("{other:?}"),
    };
    assert_eq!(grace(&m), 86_400, "24 hours first");
    assert_eq!(focus(&m), Some(Focus::Choice(Choice::Grace)));
    update(&mut m, code(KeyCode::Right));
    assert_eq!(grace(&m), 604_800);
    update(&mut m, code(KeyCode::Right));
    assert_eq!(grace(&m), 604_800, "stays on the last");
    for _ in 0..5 {
        update(&mut m, code(KeyCode::Left));
    }
    assert_eq!(grace(&m), 0, "Now");
    update(&mut m, code(KeyCode::Right));
    assert_eq!(grace(&m), 3_600);
    // Tab leaves the choice for [Rotate]; there ←/→ move between the buttons again.
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Rotate)));
    update(&mut m, code(KeyCode::Right));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Cancel)));
    assert_eq!(grace(&m), 3_600);
    update(&mut m, code(KeyCode::Enter));
    assert!(m.popups.is_empty(), "Cancel closes");
    // Only the impact line's usage request is left; its answer is kept for the next popup.
    assert!(
        m.pending
            .values()
            .all(|c| matches!(c, ApiCall::KeyUsage { .. }))
    );
}

/// Rotate with the default grace; returns the request id and the Idempotency-Key sent.
fn press_rotate(m: &mut Model) -> (u64, String) {
    update(m, key('R'));
    update(m, code(KeyCode::Tab));
    let (id, call) = only_call(&update(m, code(KeyCode::Enter)));
    match call {
        ApiCall::RotateKey {
            key_id,
            body,
            idempotency_key,
            ..
        } => {
            assert_eq!(key_id, "key_0002");
            assert_eq!(body.grace_seconds, 86_400);
            (id, idempotency_key)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rotate_leads_into_the_copy_popup_and_selects_the_successor() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let (id, _) = press_rotate(&mut m);
    assert!(matches!(top(&m), Popup::Rotate(p) if p.in_flight == Some(id)));
    assert!(
        update(&mut m, code(KeyCode::Enter)).is_empty(),
        "no second rotation while the first runs"
    );
    assert!(update(&mut m, code(KeyCode::Left)).is_empty());
    assert!(
        matches!(top(&m), Popup::Rotate(p) if p.grace == 2),
        "frozen"
    );
    respond(&mut m, id, rotated(3));
    assert_eq!(
        m.popups.len(),
        1,
        "the copy popup replaces the rotate popup"
    );
    assert!(matches!(top(&m), Popup::KeyCopy(p) if p.api_key.id == "key_0003"));
    assert_eq!(focus(&m), Some(Focus::Button(Button::CopyKey)));
    // [OK] before any copy asks once more.
    update(&mut m, code(KeyCode::Tab));
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    assert!(matches!(top(&m), Popup::ConfirmClose(_)));
    update(&mut m, code(KeyCode::Esc));
    // A copy, then OK closes at once, wipes the key and refreshes onto the successor.
    update(&mut m, code(KeyCode::BackTab));
    let fx = update(&mut m, code(KeyCode::Enter));
    assert!(matches!(
        fx.as_slice(),
        [crate::console::msg::Effect::Copy(_)]
    ));
    update(
        &mut m,
        Msg::Copied(CopyOutcome::Osc52 {
            fallback: None,
            tmux: false,
            screen: false,
        }),
    );
    update(&mut m, code(KeyCode::Tab));
    let fx = update(&mut m, code(KeyCode::Enter));
    assert!(m.popups.is_empty());
    assert!(matches!(only_call(&fx).1, ApiCall::ListKeys { .. }));
    assert_eq!(
        m.keys.as_ref().and_then(|k| k.want.clone()),
        Some(Want::Id("key_0003".into()))
    );
}

#[test]
fn a_rotation_retried_after_a_network_failure_reuses_its_idempotency_key() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let (id, first) = press_rotate(&mut m);
    respond(&mut m, id, ApiResult::Rotated(Err(unreachable())));
    assert!(matches!(top(&m), Popup::Error(_)));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Retry)));
    let (id2, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(
        call,
        ApiCall::RotateKey { ref idempotency_key, .. } if *idempotency_key == first
    ));
    assert!(matches!(top(&m), Popup::Rotate(p) if p.in_flight == Some(id2)));
    // A new popup is a new rotation: a new key.
    update(&mut m, code(KeyCode::Esc));
    let (_, second) = press_rotate(&mut m);
    assert_ne!(first, second);
}

#[test]
fn rotating_a_key_that_is_not_active_says_so_in_the_console_words() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let (id, _) = press_rotate(&mut m);
    let err = api_err(ErrorCode::ApiKeyNotActive, "api key key_0002 is disabled");
    let fx = respond(&mut m, id, ApiResult::Rotated(Err(err)));
    match top(&m) {
        Popup::Error(e) => assert!(
            e.message.starts_with(
                "Only an active API Key, or a leaked one that is stopped, can be rotated"
            ),
            "{}",
            e.message
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.popups.len(), 1);
    assert!(matches!(only_call(&fx).1, ApiCall::ListKeys { .. }));
}

#[test]
fn an_abandoned_rotation_that_succeeded_shows_its_successor_and_the_list() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let (id, _) = press_rotate(&mut m);
    update(&mut m, code(KeyCode::Esc));
    assert!(m.popups.is_empty());
    assert!(notice(&m).is_some_and(|n| n.starts_with("Rotation abandoned")));
    let fx = respond(&mut m, id, rotated(3));
    assert!(
        matches!(top(&m), Popup::KeyCopy(p) if p.api_key.id == "key_0003"),
        "the successor of an abandoned rotation is shown once"
    );
    assert!(matches!(only_call(&fx).1, ApiCall::ListKeys { .. }));
}

#[test]
fn a_rotated_key_shares_its_successor_slot_in_the_count() {
    let mut m = on_keys(&[1, 2, 3, 4, 5, 6], Role::Manager);
    let k = m.keys.as_mut().expect("on keys");
    assert_eq!(k.count(), 6);
    if let Some(l) = k.list.as_mut() {
        for key in l.api_keys.iter_mut().filter(|x| x.id == "key_0005") {
            key.state = crate::wire::KeyState::Rotating;
            key.replaced_by = Some("key_0006".into());
        }
    }
    assert_eq!(
        k.count(),
        5,
        "the old key of a rotation holds no slot of its own"
    );
    assert!(k.at_limit());
}

#[test]
fn a_click_on_a_grace_option_chooses_it() {
    use crate::console::layout::{self, Row};
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    for (w, h) in [(100, 30), (60, 16)] {
        let mut m = on_keys(&[1, 2], Role::Manager);
        update(
            &mut m,
            Msg::Resize {
                width: w,
                height: h,
            },
        );
        update(&mut m, key('R'));
        update(&mut m, code(KeyCode::Tab));
        let l = layout::for_model(&m);
        let week = l
            .popups
            .last()
            .and_then(|p| {
                p.rows.iter().find_map(|(_, r)| match r {
                    Row::Choice { options, .. } => options.get(3).map(|(_, at)| *at),
                    _ => None,
                })
            })
            .unwrap_or_else(|| panic!("no choice at {w}×{h}"));
        update(
            &mut m,
            Msg::Mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column: week.x + 1,
                row: week.y,
                modifiers: KeyModifiers::NONE,
            }),
        );
        assert!(
            matches!(top(&m), Popup::Rotate(p) if GRACES[p.grace] == 604_800
                && p.focus == Focus::Choice(Choice::Grace)),
            "{w}×{h}"
        );
    }
}
