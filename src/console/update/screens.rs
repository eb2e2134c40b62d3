//! The two screens (no popup open): Services, its filter field, API Key management. Their
//! keys, and their selection kept in view; a key that opens a popup calls that popup's `open`.

use crossterm::event::{Event, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::{back_to_services, moved, open_service, quit, refresh};
use crate::console::keymap::{Action, Context};
use crate::console::layout::{self, table};
use crate::console::model::{KeysFocus, Model, NoticeKind, Screen, ServicesFocus};
use crate::console::msg::{ApiCall, Effect};
use crate::console::popups::form::{FILTER_MAX, field_full_notice, insert_capped};
use crate::console::popups::{
    access, audit, create_service, delete, details, help, issue, menu, rename, rotate, whois,
};
use crate::sanitize::clean;

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

/// Keys on Services.
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
            ServicesFocus::CreateButton => create_service::open(m),
            _ => match s.selected_service().cloned() {
                Some(svc) => open_service(m, svc),
                None => Vec::new(),
            },
        },
        Action::CreateService => create_service::open(m),
        Action::Audit => audit::open(m),
        Action::Whois => whois::open(m),
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
            help::open(m, Context::Services);
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

/// Keys while the Services filter has them: Enter or Tab keeps it, Esc clears it, the rest
/// edit it (the list starts again from its top).
pub(super) fn filter_key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    match action {
        Some(Action::Submit | Action::NextFocus | Action::PrevFocus) => {
            m.services.focus = ServicesFocus::Table;
        }
        Some(Action::Cancel) => clear_filter(m),
        _ => {
            if let Some(req) = to_input_request(&Event::Key(k)) {
                if let tui_input::InputRequest::InsertChar(c) = req {
                    let filter = &mut m.services.filter;
                    if insert_capped(filter, c.encode_utf8(&mut [0; 4]), FILTER_MAX) {
                        field_full_notice(m, FILTER_MAX);
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

/// Keys on API Key management.
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
            KeysFocus::IssueButton => issue::open(m),
            KeysFocus::Table => menu::open(m),
        },
        Action::Issue => issue::open(m),
        Action::Delete => delete::open(m),
        Action::Menu => menu::open(m),
        Action::ToggleEnabled => delete::toggle_enabled(m),
        Action::Rename => rename::open(m),
        Action::Access => access::open(m),
        Action::Rotate => rotate::open(m),
        Action::Audit => audit::open(m),
        Action::Whois => whois::open(m),
        Action::Details => details::open(m),
        Action::Refresh => refresh(m),
        // Going back abandons the screen's load in flight, if any.
        Action::Back | Action::Quit => back_to_services(m),
        Action::Help => {
            help::open(m, Context::Keys);
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// A paste while the Services filter has the keys: cleaned, capped, the list from its top.
pub(super) fn paste_into_filter(m: &mut Model, s: &str) {
    let cut = insert_capped(&mut m.services.filter, &clean(s), FILTER_MAX);
    // The list it filters changed: start from its top, as typing does.
    m.services.selected = 0;
    m.services.offset = 0;
    if cut {
        field_full_notice(m, FILTER_MAX);
    }
}

/// Rows the current table shows at once.
pub(crate) fn table_capacity(m: &Model) -> usize {
    layout::current_table(&layout::for_model(m)).map_or(1, |t| t.capacity)
}

/// Clamps selections to their lists and scrolls them into view.
pub(crate) fn keep_selection_visible(m: &mut Model) {
    let cap = table_capacity(m);
    let len = m.services.visible().len();
    let s = &mut m.services;
    s.selected = s.selected.min(len.saturating_sub(1));
    if m.screen == Screen::Services {
        s.offset = table::scroll_to(s.offset, s.selected, cap, len);
    }
    if let Some(k) = m.keys.as_mut() {
        let len = k.keys().len();
        k.selected = k.selected.min(len.saturating_sub(1));
        if m.screen == Screen::Keys {
            k.offset = table::scroll_to(k.offset, k.selected, cap, len);
        }
    }
}
