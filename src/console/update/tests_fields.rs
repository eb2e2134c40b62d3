//! `update` and the text fields of popups: inline validation as the service validates, the
//! arrows at a field's ends, pastes capped and cleaned.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::msg::{ApiCall, ApiResult, Msg};
use crate::console::popups::{Button, Choice, Field, Focus, Popup};
use crate::wire::{ErrorCode, Role};

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
fn a_paste_where_no_text_field_has_the_focus_acts_as_no_key_and_says_so() {
    // API Key management, a key selected: a pasted `d` or `x` opens neither Delete nor Disable.
    let mut m = on_keys(&[1, 2], Role::Manager);
    assert!(update(&mut m, Msg::Paste("dxdxdxdx".into())).is_empty());
    assert!(m.popups.is_empty(), "{:?}", m.popups);
    assert_eq!(
        notice(&m),
        Some("Taken as a paste and ignored: no text field has the focus.")
    );
    // A popup whose focus is on a button takes no paste either.
    update(&mut m, key('d'));
    update(&mut m, Msg::Paste("qqqqqqqq".into()));
    assert!(
        matches!(top(&m), Popup::Delete(_)),
        "still the Delete popup"
    );
    assert_eq!(
        notice(&m),
        Some("Taken as a paste and ignored: no text field has the focus.")
    );
}

#[test]
fn keys_that_open_a_field_send_the_rest_of_their_read_into_it() {
    // `/` then typed letters, as one short read decodes: the filter gets the letters.
    let mut m = on_services(3, Role::Manager);
    for c in "/svc".chars() {
        update(&mut m, key(c));
    }
    assert_eq!(m.services.filter.value(), "svc");
    // A paste while the filter has the focus goes into it.
    update(&mut m, Msg::Paste("-0001xyz".into()));
    assert_eq!(m.services.filter.value(), "svc-0001xyz");
    assert_eq!(notice(&m), None);
}
