//! `update` on the two screens and in the loop's basics: starting, moving through lists, the
//! filter, refreshing, the help, quitting, terminals too small, ticks, dropped answers.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::fixtures::*;
use super::update;
use crate::client::Issued;
use crate::console::keymap::Context;
use crate::console::model::{KeysFocus, NoticeKind, Screen, ServicesFocus};
use crate::console::msg::{ApiCall, ApiResult, Effect, Msg};
use crate::console::popups::{Button, Field, Focus, Popup};
use crate::credential::{Kind, Secret, generate};
use crate::wire::{IssuedKey, Role};

#[test]
fn start_asks_who_we_are_and_for_the_services() {
    let mut m = model();
    let fx = super::start(&mut m);
    let c: Vec<ApiCall> = calls(&fx).into_iter().map(|(_, c)| c).collect();
    assert!(matches!(c.as_slice(), [ApiCall::Me, ApiCall::ListServices]));
    assert!(m.needs_tick(), "a request is in flight: the spinner turns");
}

#[test]
fn services_list_moves_with_arrows_vim_keys_and_pages() {
    let mut m = on_services(40, Role::Manager);
    assert_eq!(m.services.selected, 0, "focus starts on the first row");
    assert_eq!(m.services.focus, ServicesFocus::Table);
    update(&mut m, key('j'));
    update(&mut m, code(KeyCode::Down));
    assert_eq!(m.services.selected, 2);
    update(&mut m, key('k'));
    assert_eq!(m.services.selected, 1);
    update(&mut m, key('G'));
    assert_eq!(m.services.selected, 39);
    assert!(m.services.offset > 0, "the last row is scrolled into view");
    update(&mut m, key('g'));
    assert_eq!((m.services.selected, m.services.offset), (0, 0));
    update(&mut m, code(KeyCode::PageDown));
    let page = m.services.selected;
    assert!(page > 5, "a page is a screenful: {page}");
    update(&mut m, code(KeyCode::PageUp));
    assert_eq!(m.services.selected, 0);
    update(&mut m, code(KeyCode::Up));
    assert_eq!(m.services.selected, 0);
}

#[test]
fn enter_opens_the_selected_service_and_esc_or_q_goes_back() {
    let mut m = on_services(3, Role::Manager);
    update(&mut m, key('j'));
    let fx = update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.screen, Screen::Keys);
    let (_, call) = only_call(&fx);
    assert!(matches!(call, ApiCall::ListKeys { service_id } if service_id == "svc_0002"));
    // Esc goes back at once, abandoning the load in flight: its answer will be dropped.
    let (load, _) = only_call(&fx);
    let fx = update(&mut m, code(KeyCode::Esc));
    assert_eq!(m.screen, Screen::Services);
    assert!(!m.pending.contains_key(&load));
    assert!(matches!(only_call(&fx).1, ApiCall::ListServices));
    // On the start screen, Esc abandons the load in flight.
    update(&mut m, code(KeyCode::Esc));
    assert!(m.pending.is_empty());
    assert_eq!(notice(&m), Some("Request cancelled."));
    update(&mut m, code(KeyCode::Enter));
    let fx = update(&mut m, key('q'));
    assert_eq!(
        m.screen,
        Screen::Services,
        "q goes back from API Key management"
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::Quit)));
    let fx = update(&mut m, key('q'));
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Quit)),
        "q quits from the start screen"
    );
}

#[test]
fn ctrl_c_quits_from_anywhere() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    assert_eq!(focus(&m), Some(Focus::Field(Field::Name)));
    let fx = update(&mut m, ctrl_c());
    assert!(fx.iter().any(|e| matches!(e, Effect::Quit)));
    assert!(m.popups.is_empty() && m.quit);
    let mut m = on_services(1, Role::Manager);
    update(&mut m, key('?'));
    assert!(
        update(&mut m, ctrl_c())
            .iter()
            .any(|e| matches!(e, Effect::Quit))
    );
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

#[test]
fn tab_moves_between_the_table_and_the_buttons() {
    let mut m = on_services(2, Role::Manager);
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(m.services.focus, ServicesFocus::CreateButton);
    update(&mut m, code(KeyCode::BackTab));
    assert_eq!(m.services.focus, ServicesFocus::Table);
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(top(&m), Popup::CreateService(_)));

    let mut m = on_keys(&[1, 2], Role::Manager);
    assert_eq!(m.keys.as_ref().map(|k| k.focus), Some(KeysFocus::Table));
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(
        m.keys.as_ref().map(|k| k.focus),
        Some(KeysFocus::IssueButton)
    );
    update(&mut m, key(' '));
    assert!(
        matches!(top(&m), Popup::Issue(_)),
        "Space presses the focused button"
    );
}

#[test]
fn the_filter_is_a_text_field_enter_keeps_it_esc_clears_it() {
    let mut m = on_services(12, Role::Manager);
    update(&mut m, key('/'));
    assert_eq!(m.context(), Context::Filter);
    for c in "e-1".chars() {
        update(&mut m, key(c));
    }
    // "q" and "c" are letters for the field here, not shortcuts.
    let names: Vec<String> = m
        .services
        .visible()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(
        names,
        ["service-1", "service-10", "service-11", "service-12"]
    );
    update(&mut m, key('q'));
    assert!(!m.quit);
    assert_eq!(m.services.filter.value(), "e-1q");
    update(&mut m, code(KeyCode::Backspace));
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.services.focus, ServicesFocus::Table);
    assert_eq!(m.services.visible().len(), 4, "Enter keeps the filter");
    update(&mut m, key('j'));
    assert_eq!(
        m.services.selected_service().map(|s| s.id.as_str()),
        Some("svc_0010")
    );
    update(&mut m, key('/'));
    update(&mut m, code(KeyCode::Esc));
    assert_eq!(m.services.visible().len(), 12, "Esc clears it");
    assert_eq!(
        m.services.selected_service().map(|s| s.id.as_str()),
        Some("svc_0010"),
        "the selected service stays selected"
    );
    // Filtering by id works too.
    update(&mut m, key('/'));
    for c in "svc_0003".chars() {
        update(&mut m, key(c));
    }
    assert_eq!(m.services.visible().len(), 1);
}

#[test]
fn refresh_reloads_the_current_screen() {
    let mut m = on_services(2, Role::Manager);
    assert!(matches!(
        only_call(&update(&mut m, key('r'))).1,
        ApiCall::ListServices
    ));
    // A second r while the first is in flight sends nothing more.
    assert!(calls(&update(&mut m, key('r'))).is_empty());
    let mut m = on_keys(&[1], Role::Manager);
    assert!(matches!(
        only_call(&update(&mut m, key('r'))).1,
        ApiCall::ListKeys { .. }
    ));
}

#[test]
fn help_lists_the_bindings_of_the_screen_from_the_keymap() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('?'));
    let Popup::Help(h) = top(&m) else {
        panic!("no help")
    };
    assert_eq!(h.context, Context::Keys);
    let lines = crate::console::popups::help::help_lines(&m, Context::Keys);
    assert!(
        lines
            .iter()
            .any(|(k, d)| k == "d / Delete" && d == "Delete the selected API Key")
    );
    assert!(lines.iter().any(|(k, _)| k == "i"));
    assert!(lines.iter().any(|(k, _)| k == "Ctrl-C"));
    update(&mut m, key('j'));
    update(&mut m, code(KeyCode::Esc));
    assert!(m.popups.is_empty());
    // In a popup, ? shows the popup's keys.
    update(&mut m, key('d'));
    update(&mut m, key('?'));
    assert!(matches!(top(&m), Popup::Help(h) if h.context == Context::Popup));
    update(&mut m, key('q'));
    assert!(
        matches!(top(&m), Popup::Delete(_)),
        "q closes the help only"
    );
}

#[test]
fn results_of_abandoned_or_unknown_requests_are_dropped() {
    let mut m = on_services(2, Role::Manager);
    m.dirty = false;
    let before = m.services.list.clone();
    let fx = respond(
        &mut m,
        999,
        ApiResult::Services(Ok(crate::wire::ServiceList { services: vec![] })),
    );
    assert!(fx.is_empty());
    assert_eq!(m.services.list, before);
    assert!(!m.dirty, "a dropped result does not redraw");
}

#[test]
fn ticks_redraw_only_while_a_request_is_in_flight() {
    let mut m = on_services(1, Role::Manager);
    m.dirty = false;
    update(&mut m, Msg::Tick);
    assert!(!m.dirty);
    update(&mut m, key('r'));
    m.dirty = false;
    update(&mut m, Msg::Tick);
    assert!(m.dirty && m.spinner == 1);
}

#[test]
fn the_keys_screen_starts_on_the_newest_key_or_on_issue_when_empty() {
    let m = on_keys(&[1, 2, 3], Role::Manager);
    let k = m.keys.as_ref().unwrap();
    assert_eq!(k.focus, KeysFocus::Table);
    assert_eq!(k.selected_key().map(|k| k.id.as_str()), Some("key_0003"));
    let m = on_keys(&[], Role::Manager);
    assert_eq!(m.keys.as_ref().unwrap().focus, KeysFocus::IssueButton);
}

#[test]
fn keys_table_moves_and_menu_opens_on_the_selected_row() {
    let mut m = on_keys(&[1, 2, 3], Role::Manager);
    update(&mut m, key('j'));
    update(&mut m, key('m'));
    let Popup::Menu(menu) = top(&m) else {
        panic!("no menu")
    };
    assert_eq!((menu.row, menu.key_id.as_str()), (1, "key_0002"));
    update(&mut m, code(KeyCode::Esc));
    update(&mut m, code(KeyCode::Enter));
    assert!(
        matches!(top(&m), Popup::Menu(_)),
        "Enter on a row opens its menu"
    );
    update(&mut m, code(KeyCode::Enter));
    let Popup::Delete(d) = top(&m) else {
        panic!("Delete in the menu opens the confirmation")
    };
    assert_eq!(d.key.id, "key_0002");
    assert_eq!(d.focus, Focus::Button(Button::Cancel));
}

#[test]
fn too_small_terminals_ignore_keys_but_quitting() {
    let mut m = on_services(3, Role::Manager);
    update(
        &mut m,
        Msg::Resize {
            width: 50,
            height: 10,
        },
    );
    assert!(m.too_small());
    update(&mut m, key('j'));
    update(&mut m, key('c'));
    assert_eq!(m.services.selected, 0);
    assert!(m.popups.is_empty() && !m.quit);
    // A paste holding `q` is not a key: it goes nowhere.
    update(&mut m, Msg::Paste("q".into()));
    assert!(!m.quit);
    assert!(
        update(&mut m, key('q'))
            .iter()
            .any(|e| matches!(e, Effect::Quit))
    );
    let mut m = on_services(3, Role::Manager);
    update(
        &mut m,
        Msg::Resize {
            width: 50,
            height: 10,
        },
    );
    assert!(
        update(&mut m, ctrl_c())
            .iter()
            .any(|e| matches!(e, Effect::Quit))
    );
}

#[test]
fn too_small_terminals_leave_a_popup_s_field_alone() {
    let mut m = on_services(3, Role::Manager);
    update(&mut m, key('c'));
    assert!(!m.popups.is_empty());
    update(
        &mut m,
        Msg::Resize {
            width: 50,
            height: 10,
        },
    );
    // `q` would be a letter of the service's name here: nothing happens.
    assert!(update(&mut m, key('q')).is_empty());
    assert!(!m.quit && !m.popups.is_empty());
}

#[test]
fn mouse_moves_do_not_redraw_clicks_do() {
    let mut m = on_services(3, Role::Manager);
    m.dirty = false;
    let moved = MouseEvent {
        kind: MouseEventKind::Moved,
        column: 10,
        row: 10,
        modifiers: KeyModifiers::NONE,
    };
    update(&mut m, Msg::Mouse(moved));
    assert!(!m.dirty);
    update(
        &mut m,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            ..moved
        }),
    );
    assert!(m.dirty);
    assert_eq!(m.services.selected, 1, "the wheel scrolls the list");
}

#[test]
fn a_secret_never_shows_in_debug_output_of_the_model() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    let fx = update(&mut m, code(KeyCode::Enter));
    let (id, _) = only_call(&fx);
    let secret = generate(Kind::ApiKey);
    let plain = secret.expose().to_string();
    let result = ApiResult::Issued(Ok(Issued {
        key: IssuedKey {
            api_key: api_key(9),
            key: Secret::new(plain.clone()),
        },
        replayed: false,
    }));
    respond(&mut m, id, result);
    assert!(matches!(top(&m), Popup::KeyCopy(_)));
    assert!(!format!("{m:?}").contains(&plain));
    assert!(
        m.notice
            .as_ref()
            .is_none_or(|n| n.kind != NoticeKind::Error)
    );
}
