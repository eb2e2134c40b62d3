//! Keys on the two screens (no popup open): Services, its filter field, API Key management.

use crossterm::event::{Event, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::{
    back_to_services, help, keep_selection_visible, moved, open_service, quit, refresh,
    table_capacity, viewer_notice,
};
use crate::console::expiry::Lifetime;
use crate::console::keymap::{Action, Context};
use crate::console::model::{KeysFocus, Model, NoticeKind, ServicesFocus};
use crate::console::msg::{ApiCall, Effect};
use crate::console::popup::{
    Button, Choice, CreateServicePopup, DeletePopup, Field, Focus, GRACE_DEFAULT, IssuePopup,
    MenuPopup, Popup, RenamePopup, RotatePopup,
};

fn is_move(a: Action) -> bool {
    matches!(
        a,
        Action::Up
            | Action::Down
            | Action::First
            | Action::Last
            | Action::PageUp
            | Action::PageDown
    )
}

/// Esc with list loads in flight abandons them; their answers will be dropped.
fn abandon_loads(m: &mut Model) -> bool {
    let before = m.pending.len();
    m.pending
        .retain(|_, c| !matches!(c, ApiCall::ListServices | ApiCall::ListKeys { .. }));
    let abandoned = m.pending.len() != before;
    if abandoned {
        m.notice(NoticeKind::Info, m.tr.t("notice.cancelled").to_string());
    }
    abandoned
}

pub(super) fn services_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    let Some(a) = action else {
        return Vec::new();
    };
    let page = table_capacity(m);
    let s = &mut m.services;
    match a {
        a if is_move(a) => {
            s.focus = ServicesFocus::Table;
            s.selected = moved(a, s.selected, s.visible().len(), page);
            keep_selection_visible(m);
            Vec::new()
        }
        Action::NextFocus | Action::PrevFocus => {
            s.focus = match s.focus {
                ServicesFocus::Table => ServicesFocus::CreateButton,
                _ => ServicesFocus::Table,
            };
            Vec::new()
        }
        Action::Press => match s.focus {
            ServicesFocus::CreateButton => open_create_service(m),
            _ => match s.selected_service().cloned() {
                Some(svc) => open_service(m, svc),
                None => Vec::new(),
            },
        },
        Action::CreateService => open_create_service(m),
        Action::Audit => super::audit::open(m),
        Action::Whois => super::whois::open(m),
        Action::Filter => {
            s.focus = ServicesFocus::Filter;
            Vec::new()
        }
        Action::Refresh => refresh(m),
        // The start screen has no screen to go back to: Esc clears the filter, or abandons a load.
        Action::Back => {
            if !m.services.filter.value().is_empty() {
                clear_filter(m);
            } else {
                abandon_loads(m);
            }
            Vec::new()
        }
        Action::Quit => quit(m),
        Action::Help => {
            help(m, Context::Services);
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn clear_filter(m: &mut Model) {
    let s = &mut m.services;
    // Keep the selected service selected once every row is back.
    let keep = s.selected_service().map(|x| x.id.clone());
    s.filter = Input::default();
    s.focus = ServicesFocus::Table;
    if let Some(id) = keep {
        s.selected = s.visible().iter().position(|x| x.id == id).unwrap_or(0);
    }
    keep_selection_visible(m);
}

pub(super) fn filter_key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    match action {
        Some(Action::Submit | Action::NextFocus | Action::PrevFocus) => {
            m.services.focus = ServicesFocus::Table;
        }
        Some(Action::Cancel) => clear_filter(m),
        _ => {
            if let Some(req) = to_input_request(&Event::Key(k)) {
                if let tui_input::InputRequest::InsertChar(c) = req {
                    let max = super::fields::FILTER_MAX;
                    let filter = &mut m.services.filter;
                    if super::fields::insert_capped(filter, c.encode_utf8(&mut [0; 4]), max) {
                        let text = m.tr.f("notice.field_full", &[("max", &max)]);
                        m.notice(crate::console::model::NoticeKind::Info, text);
                    }
                } else {
                    m.services.filter.handle(req);
                }
                m.services.selected = 0;
                m.services.offset = 0;
            }
        }
    }
    Vec::new()
}

pub(crate) fn open_create_service(m: &mut Model) -> Vec<Effect> {
    if !m.can_manage() {
        viewer_notice(m, "what.create_service");
        return Vec::new();
    }
    m.popups.push(Popup::CreateService(CreateServicePopup {
        name: Input::default(),
        description: Input::default(),
        name_error: None,
        description_error: None,
        focus: Focus::Field(Field::Name),
        in_flight: None,
    }));
    Vec::new()
}

pub(super) fn keys_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    let Some(a) = action else {
        return Vec::new();
    };
    let page = table_capacity(m);
    let Some(k) = m.keys.as_mut() else {
        return Vec::new();
    };
    match a {
        a if is_move(a) => {
            k.focus = KeysFocus::Table;
            k.selected = moved(a, k.selected, k.keys().len(), page);
            keep_selection_visible(m);
            Vec::new()
        }
        Action::NextFocus | Action::PrevFocus => {
            k.focus = match k.focus {
                KeysFocus::Table => KeysFocus::IssueButton,
                KeysFocus::IssueButton => KeysFocus::Table,
            };
            Vec::new()
        }
        Action::Press => match k.focus {
            KeysFocus::IssueButton => open_issue(m),
            KeysFocus::Table => open_menu(m),
        },
        Action::Issue => open_issue(m),
        Action::Delete => open_delete(m),
        Action::Menu => open_menu(m),
        Action::ToggleEnabled => toggle_enabled(m),
        Action::Rename => open_rename(m),
        Action::Rotate => open_rotate(m),
        Action::Audit => super::audit::open(m),
        Action::Whois => super::whois::open(m),
        Action::Details => super::details::open(m),
        Action::Refresh => refresh(m),
        // Going back abandons the screen's load in flight, if any.
        Action::Back | Action::Quit => back_to_services(m),
        Action::Help => {
            help(m, Context::Keys);
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// `[Issue API Key]`: refused with the reason for a viewer, before the list is known, and at
/// the limit (with the page's note).
pub(crate) fn open_issue(m: &mut Model) -> Vec<Effect> {
    if !m.can_manage() {
        viewer_notice(m, "what.issue");
        return Vec::new();
    }
    let tr = m.tr;
    let Some(k) = m.keys.as_mut() else {
        return Vec::new();
    };
    if k.list.is_none() {
        m.notice(NoticeKind::Info, tr.t("notice.loading").to_string());
        return Vec::new();
    }
    if k.at_limit() {
        m.notice(NoticeKind::Error, tr.t("keys.limit_note").to_string());
        return Vec::new();
    }
    k.focus = KeysFocus::IssueButton;
    let (limit, count) = (k.limit(), k.count());
    let service_id = k.service.id.clone();
    m.popups.push(Popup::Issue(IssuePopup {
        service_id,
        name: Input::default(),
        name_error: None,
        focus: Focus::Field(Field::Name),
        idempotency_key: crate::client::new_idempotency_key(),
        in_flight: None,
        limit,
        remaining: limit.saturating_sub(count),
        lifetime: Lifetime::Never,
        date: Input::default(),
        expiry_error: None,
        sent: None,
    }));
    Vec::new()
}

pub(crate) fn open_delete(m: &mut Model) -> Vec<Effect> {
    let Some((service_id, key)) = selected_for(m, "what.delete") else {
        return Vec::new();
    };
    // The impact line (issue 9) wants the key's recent use.
    let usage = super::details::fetch_usage(m, &service_id, &key.id, true);
    m.popups.push(Popup::Delete(DeletePopup {
        service_id,
        key,
        disable: false,
        focus: Focus::Button(Button::Cancel),
        in_flight: None,
    }));
    usage
}

pub(crate) fn open_menu(m: &mut Model) -> Vec<Effect> {
    let tr = m.tr;
    let Some(k) = m.keys.as_mut() else {
        return Vec::new();
    };
    let Some(key) = k.selected_key() else {
        m.notice(NoticeKind::Info, tr.t("notice.no_key").to_string());
        return Vec::new();
    };
    let key_id = key.id.clone();
    k.focus = KeysFocus::Table;
    let row = k.selected;
    m.popups.push(Popup::Menu(MenuPopup {
        row,
        key_id,
        selected: crate::console::popup::MENU_DELETE,
    }));
    Vec::new()
}

/// `x` (CONSOLE.md, Keys): a disabled key is enabled at once; any other key is disabled after
/// the Disable API Key popup (Cancel focused), as a delete is confirmed.
pub(crate) fn toggle_enabled(m: &mut Model) -> Vec<Effect> {
    let Some((service_id, key)) = selected_for(m, "what.toggle") else {
        return Vec::new();
    };
    let tr = m.tr;
    if key.state == crate::wire::KeyState::Disabled {
        m.notice(NoticeKind::Info, tr.t("disable.enabling").to_string());
        let body = crate::wire::UpdateApiKey {
            enabled: Some(true),
            ..Default::default()
        };
        return vec![crate::console::update::call(
            m,
            ApiCall::UpdateKey {
                service_id,
                key_id: key.id,
                body,
            },
        )];
    }
    let usage = super::details::fetch_usage(m, &service_id, &key.id, true);
    m.popups.push(Popup::Delete(DeletePopup {
        service_id,
        key,
        disable: true,
        focus: Focus::Button(Button::Cancel),
        in_flight: None,
    }));
    usage
}

/// The selected key and its service, for a popup about it; `what` names the action for the
/// viewer's refusal (a viewer may only read).
fn selected_for(m: &mut Model, what: &str) -> Option<(String, crate::wire::ApiKey)> {
    if !m.can_manage() {
        viewer_notice(m, what);
        return None;
    }
    let tr = m.tr;
    let k = m.keys.as_ref()?;
    let Some(key) = k.selected_key().cloned() else {
        m.notice(NoticeKind::Info, tr.t("notice.no_key").to_string());
        return None;
    };
    Some((k.service.id.clone(), key))
}

/// `e` (CONSOLE.md, Rename): the Name field prefilled with the key's name, cursor at its end.
pub(crate) fn open_rename(m: &mut Model) -> Vec<Effect> {
    let Some((service_id, key)) = selected_for(m, "what.rename") else {
        return Vec::new();
    };
    // The name as the row shows it: cleaned of what the console never draws.
    let name = key
        .name
        .as_deref()
        .map(|n| crate::sanitize::clean(n).into_owned())
        .unwrap_or_default();
    m.popups.push(Popup::Rename(RenamePopup {
        service_id,
        key,
        name: Input::new(name),
        name_error: None,
        focus: Focus::Field(Field::Name),
        in_flight: None,
    }));
    Vec::new()
}

/// `R` (CONSOLE.md, Rotate API Key): the grace choice starts on 24 hours, with focus on it.
/// A key that is not active is still offered: the service's 409 says why, in the page's words.
pub(crate) fn open_rotate(m: &mut Model) -> Vec<Effect> {
    let Some((service_id, key)) = selected_for(m, "what.rotate") else {
        return Vec::new();
    };
    // Fetched at once so that the impact line is ready when the grace is set to Now.
    let usage = super::details::fetch_usage(m, &service_id, &key.id, true);
    m.popups.push(Popup::Rotate(RotatePopup {
        service_id,
        key,
        grace: GRACE_DEFAULT,
        focus: Focus::Choice(Choice::Grace),
        idempotency_key: crate::client::new_idempotency_key(),
        in_flight: None,
    }));
    usage
}
