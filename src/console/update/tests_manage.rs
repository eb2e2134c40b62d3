//! `update` through delete, create service, a viewer, error messages, fields and the mouse.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::fixtures::*;
use super::update;
use crate::console::layout::{self, Body, Hit};
use crate::console::model::Model;
use crate::console::msg::{ApiCall, ApiResult, Effect, Msg};
use crate::console::popups::{Button, Choice, Field, Focus, Popup};
use crate::wire::{ErrorCode, Role};

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
fn every_error_code_has_its_message() {
    let m = model();
    let cases = [
        (
            ErrorCode::ApiKeyLimitExceeded,
            "If you exceed the maximum number of issuable API Keys",
        ),
        (ErrorCode::Unauthorized, "refused the admin token (401)"),
        (ErrorCode::InvalidApiKey, "refused the admin token (401)"),
        (ErrorCode::Forbidden, "may only read (403)"),
        (ErrorCode::ServiceLimitExceeded, "up to 999 services"),
        (ErrorCode::ServiceNameTaken, "already exists"),
        (ErrorCode::ServiceNotFound, "service no longer exists"),
        (ErrorCode::ApiKeyNotFound, "already deleted"),
        (ErrorCode::NotFound, "Not found: the message"),
        (ErrorCode::IdempotencyInProgress, "still running"),
        (
            ErrorCode::IdempotencySecretUnavailable,
            "can no longer be shown",
        ),
        (
            ErrorCode::IdempotencyKeyReused,
            "does not match the first request",
        ),
        (ErrorCode::PayloadTooLarge, "too large"),
        (ErrorCode::RateLimited, "Too many requests"),
        (ErrorCode::Internal, "internal error"),
        (
            ErrorCode::InvalidRequest,
            "refused the request: the message",
        ),
        (ErrorCode::Unknown, "the message (unknown)"),
    ];
    for (code, want) in cases {
        let msg = super::errors::message(&m, &api_err(code, "the message"));
        assert!(msg.contains(want), "{code}: {msg}");
    }
    let limited = crate::client::ApiError::Api {
        status: 429,
        code: ErrorCode::RateLimited,
        message: String::new(),
        retry_after: Some(7),
    };
    assert!(super::errors::message(&m, &limited).contains("7 s"));
    // A hostile message cannot reach the terminal as an escape sequence.
    let hostile = super::errors::message(&m, &api_err(ErrorCode::InvalidRequest, "x\u{1b}[2Jy"));
    assert!(!hostile.contains('\u{1b}'));
}

#[test]
fn a_refused_token_shows_a_popup_once() {
    let mut m = model();
    let fx = super::start(&mut m);
    for (id, _) in calls(&fx) {
        let result = if id == 1 {
            ApiResult::Me(Err(api_err(ErrorCode::Unauthorized, "no")))
        } else {
            ApiResult::Services(Err(api_err(ErrorCode::Unauthorized, "no")))
        };
        respond(&mut m, id, result);
    }
    assert_eq!(m.popups.len(), 1);
    let Popup::Error(e) = top(&m) else {
        panic!("no popup")
    };
    assert_eq!(e.title, "Access denied");
    assert!(e.message.contains("401"));
}

#[test]
fn a_lost_connection_while_loading_says_press_r() {
    let mut m = on_services(2, Role::Manager);
    let (id, _) = only_call(&update(&mut m, key('r')));
    respond(&mut m, id, ApiResult::Services(Err(unreachable())));
    let n = m.notice.clone().unwrap();
    assert_eq!(
        n.text,
        "Connection lost. Press r to retry. (Connection refused (os error 111))"
    );
    assert_eq!(m.services.visible().len(), 2, "what was shown stays");
    // Once the service answers again, the notice goes.
    let (id, _) = only_call(&update(&mut m, key('r')));
    respond(
        &mut m,
        id,
        ApiResult::Services(Ok(crate::wire::ServiceList {
            services: vec![svc(1, 0)],
        })),
    );
    assert_eq!(m.notice, None);
}

#[test]
fn create_service_validates_inline_and_sends_once() {
    let mut m = on_services(1, Role::Manager);
    update(&mut m, key('c'));
    assert_eq!(focus(&m), Some(Focus::Field(Field::Name)));
    for c in "ab".chars() {
        update(&mut m, key(c));
    }
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    let Popup::CreateService(p) = top(&m) else {
        panic!("no popup")
    };
    assert_eq!(
        p.name_error.as_deref(),
        Some("Service name: 3 to 20 characters.")
    );
    update(&mut m, key('c'));
    assert!(
        matches!(top(&m), Popup::CreateService(p) if p.name_error.is_none()),
        "fixed as typed"
    );
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Field(Field::Description)));
    update(&mut m, Msg::Paste("Demo\u{1b}[31m retrieval\n".into()));
    let fx = update(&mut m, code(KeyCode::Enter));
    let (id, call) = only_call(&fx);
    let ApiCall::CreateService(body) = call else {
        panic!("expected a create")
    };
    assert_eq!(
        (body.name.as_str(), body.description.as_str()),
        ("abc", "Demo[31m retrieval")
    );
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    respond(
        &mut m,
        id,
        ApiResult::ServiceCreated(Err(api_err(ErrorCode::ServiceNameTaken, "taken"))),
    );
    let Popup::CreateService(p) = top(&m) else {
        panic!("the popup stays")
    };
    assert!(
        p.name_error
            .as_deref()
            .is_some_and(|e| e.contains("already exists"))
    );
    assert_eq!(p.focus, Focus::Field(Field::Name));
}

#[test]
fn arrows_leave_a_text_field_only_past_its_ends() {
    let mut m = on_keys(&[], Role::Manager);
    update(&mut m, key('i'));
    update(&mut m, key('x'));
    update(&mut m, code(KeyCode::Left));
    assert_eq!(
        focus(&m),
        Some(Focus::Field(Field::Name)),
        "the cursor moved"
    );
    update(&mut m, code(KeyCode::Left));
    assert_eq!(
        focus(&m),
        Some(Focus::Button(Button::Cancel)),
        "past the start"
    );
    update(&mut m, code(KeyCode::Right));
    assert_eq!(focus(&m), Some(Focus::Field(Field::Name)));
    update(&mut m, code(KeyCode::End));
    update(&mut m, code(KeyCode::Right));
    // Name → expiry → [Issue] → [Cancel] (issue 8).
    assert_eq!(focus(&m), Some(Focus::Choice(Choice::Expiry)));
    // Typing stops at the field's maximum (50), with a notice saying so.
    update(&mut m, code(KeyCode::BackTab));
    for _ in 0..60 {
        update(&mut m, key('n'));
    }
    assert!(matches!(top(&m), Popup::Issue(p) if p.name.value().chars().count() == 50));
    assert!(matches!(top(&m), Popup::Issue(p) if p.name_error.is_none()));
    let notice = m
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(notice.contains("at most 50 characters"), "{notice}");
}

#[test]
fn a_huge_paste_is_linear_capped_and_without_control_characters() {
    // 200 KB with escape sequences and newlines in it: one pass, cut at each field's maximum.
    let chunk = "ab\u{1b}[31mc\u{7}d\r\n\u{202e}e";
    let huge: String = chunk.repeat(200 * 1024 / chunk.len() + 1);
    let started = std::time::Instant::now();
    let mut m = on_keys(&[], Role::Manager);
    update(&mut m, key('i'));
    update(&mut m, Msg::Paste(huge.clone()));
    let Popup::Issue(p) = top(&m) else {
        panic!("the issue popup is gone")
    };
    assert_eq!(p.name.value().chars().count(), 50);
    assert!(
        p.name.value().starts_with("ab[31mcde"),
        "{}",
        p.name.value()
    );
    assert!(
        !p.name
            .value()
            .chars()
            .any(|c| c.is_control() || c == '\u{202e}')
    );
    assert_eq!(p.name.cursor(), 50);
    let notice = m
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(notice.contains("at most 50 characters"), "{notice}");

    // Create service: the name stops at 20, the description at 50.
    let mut m = on_services(2, Role::Manager);
    update(&mut m, key('c'));
    update(&mut m, Msg::Paste(huge.clone()));
    let Popup::CreateService(p) = top(&m) else {
        panic!("no Create service popup")
    };
    assert_eq!(p.name.value().chars().count(), 20);
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, Msg::Paste(huge.clone()));
    let Popup::CreateService(p) = top(&m) else {
        panic!("no Create service popup")
    };
    assert_eq!(p.description.value().chars().count(), 50);

    // The `/` filter stops at the longest thing it can match.
    let mut m = on_services(2, Role::Manager);
    update(&mut m, key('/'));
    update(&mut m, Msg::Paste(huge));
    assert_eq!(
        m.services.filter.value().chars().count(),
        crate::console::popups::form::FILTER_MAX
    );
    // Quadratic insertion took 18.5 s for this; linear takes milliseconds.
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn a_paste_into_a_too_small_terminal_goes_nowhere() {
    let mut m = on_keys(&[], Role::Manager);
    update(&mut m, key('i'));
    update(
        &mut m,
        Msg::Resize {
            width: 50,
            height: 12,
        },
    );
    update(&mut m, Msg::Paste("hello".into()));
    update(
        &mut m,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    assert!(matches!(top(&m), Popup::Issue(p) if p.name.value().is_empty()));
}

#[test]
fn redraw_and_suspend_act_everywhere_even_too_small() {
    let ctrl = |c| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    let mut m = on_keys(&[], Role::Manager);
    update(&mut m, key('i'));
    assert!(matches!(update(&mut m, ctrl('l'))[..], [Effect::Redraw]));
    assert!(matches!(update(&mut m, ctrl('z'))[..], [Effect::Suspend]));
    update(
        &mut m,
        Msg::Resize {
            width: 50,
            height: 12,
        },
    );
    assert!(matches!(update(&mut m, ctrl('l'))[..], [Effect::Redraw]));
    assert!(matches!(update(&mut m, ctrl('z'))[..], [Effect::Suspend]));
    // Nothing reached the field.
    assert!(matches!(top(&m), Popup::Issue(p) if p.name.value().is_empty()));
}

fn click(m: &mut Model, hit: Hit) -> Vec<Effect> {
    let l = layout::for_model(m);
    let (x, y) = find_hit(&l, hit).unwrap_or_else(|| panic!("{hit:?} is not on screen"));
    update(
        m,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: x,
            row: y,
            modifiers: KeyModifiers::NONE,
        }),
    )
}

fn find_hit(l: &layout::ScreenLayout, want: Hit) -> Option<(u16, u16)> {
    (0..l.area.height)
        .flat_map(|y| (0..l.area.width).map(move |x| (x, y)))
        .find(|(x, y)| layout::hit(l, *x, *y) == Some(want))
}

#[test]
fn clicks_press_buttons_open_menus_and_select_rows() {
    let mut m = on_services(3, Role::Manager);
    let fx = click(&mut m, Hit::OpenService(2));
    assert!(
        matches!(only_call(&fx).1, ApiCall::ListKeys { service_id } if service_id == "svc_0003")
    );
    let (id, _) = only_call(&fx);
    respond(&mut m, id, keys_result("svc_0003", &[1, 2, 3]));
    click(&mut m, Hit::Row(2));
    assert_eq!(m.keys.as_ref().map(|k| k.selected), Some(2));
    click(&mut m, Hit::RowMenu(1));
    assert!(matches!(top(&m), Popup::Menu(p) if p.row == 1));
    // The menu is anchored to its row: right next to the ≡.
    let l = layout::for_model(&m);
    let Body::Keys(k) = &l.body else { panic!() };
    let row = k.table.row_rect(1).unwrap();
    assert_eq!(l.popups[0].area.y, row.y + 1);
    click(&mut m, Hit::MenuItem(crate::console::popups::menu::MENU_DELETE));
    assert!(matches!(top(&m), Popup::Delete(d) if d.key.id == "key_0002" && !d.disable));
    click(&mut m, Hit::PopupButton(Button::Cancel));
    assert!(m.popups.is_empty());
    click(&mut m, Hit::IssueKey);
    assert!(matches!(top(&m), Popup::Issue(_)));
    let fx = click(&mut m, Hit::PopupButton(Button::Issue));
    assert!(matches!(only_call(&fx).1, ApiCall::IssueKey { .. }));
}

#[test]
fn a_click_outside_closes_a_menu_but_not_a_dialog() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('m'));
    update(
        &mut m,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert!(m.popups.is_empty());
    update(&mut m, key('d'));
    update(
        &mut m,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert!(matches!(top(&m), Popup::Delete(_)));
}

#[test]
fn a_refusal_notice_outlives_a_list_that_lands_after_it() {
    // The viewer presses `c` while the services list is still on its way: the reason stays.
    let mut m = on_services(1, Role::Viewer);
    let (id, _) = only_call(&update(&mut m, key('r')));
    update(&mut m, key('c'));
    let reason = m.notice.clone().expect("a notice").text;
    assert!(reason.contains("viewer"), "{reason}");
    respond(
        &mut m,
        id,
        ApiResult::Services(Ok(crate::wire::ServiceList {
            services: vec![svc(1, 0)],
        })),
    );
    assert_eq!(m.notice.map(|n| n.text), Some(reason));
}
