//! `update(&mut Model, Msg) -> Vec<Effect>`: the whole behaviour of the console, pure. It never
//! awaits and does no I/O; what it wants done comes back as effects.

mod api;
mod audit;
pub(crate) mod details;
mod errors;
mod fields;
#[cfg(test)]
pub(crate) mod fixtures;
mod mouse;
mod popups;
mod screens;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_audit;
#[cfg(test)]
mod tests_details;
#[cfg(test)]
mod tests_expiry;
#[cfg(test)]
mod tests_issue;
#[cfg(test)]
mod tests_lifecycle;
#[cfg(test)]
mod tests_lifecycle2;
#[cfg(test)]
mod tests_manage;
#[cfg(test)]
pub(crate) mod tests_whois;
mod whois;

use crossterm::event::KeyEvent;

use crate::console::keymap::{Action, Context};
use crate::console::layout::{self, table};
use crate::console::model::{KeysView, Model, NoticeKind, Screen, Want};
use crate::console::msg::{ApiCall, Effect, Msg};
use crate::console::popup::Popup;
use crate::wire::Service;

pub use errors::orphan_key_id;

pub fn update(m: &mut Model, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(k) => {
            m.dirty = true;
            on_key(m, k)
        }
        Msg::Mouse(ev) => mouse::on_mouse(m, ev),
        // Below the minimum size nothing is visible, so a paste goes nowhere (CONSOLE.md).
        Msg::Paste(_) if m.too_small() => Vec::new(),
        Msg::Paste(mut s) => {
            m.dirty = true;
            if !whois::paste(m, &s) {
                fields::paste(m, &s);
            }
            // A paste may be a key (Who owns this key?): no copy of it outlives this message.
            zeroize::Zeroize::zeroize(&mut s);
            Vec::new()
        }
        Msg::Resize { width, height } => {
            m.width = width;
            m.height = height;
            m.dirty = true;
            keep_selection_visible(m);
            Vec::new()
        }
        Msg::Tick => {
            if m.needs_tick() {
                m.spinner = (m.spinner + 1) % crate::console::model::SPINNER.len();
                m.dirty = true;
            }
            Vec::new()
        }
        Msg::Api { id, result } => api::on_result(m, id, result),
        Msg::Copied(outcome) => {
            if let Some(Popup::KeyCopy(p)) = m
                .popups
                .iter_mut()
                .rev()
                .find(|p| matches!(p, Popup::KeyCopy(_)))
            {
                p.copied = Some(outcome);
                m.dirty = true;
            }
            Vec::new()
        }
    }
}

/// What the console asks for when it starts: who we are, and the services.
pub fn start(m: &mut Model) -> Vec<Effect> {
    let mut out = vec![call(m, ApiCall::Me)];
    out.extend(refresh_services(m));
    out
}

fn on_key(m: &mut Model, k: KeyEvent) -> Vec<Effect> {
    let ctx = m.context();
    let action = m.keymap.action(ctx, &k);
    // Quitting and the terminal's own manners act everywhere, even below the minimum size.
    match action {
        Some(Action::ForceQuit) => return quit(m),
        Some(Action::Redraw) => return vec![Effect::Redraw],
        Some(Action::Suspend) => return vec![Effect::Suspend],
        _ => {}
    }
    // Nothing is visible below the minimum size, so nothing but quitting acts.
    if m.too_small() {
        return Vec::new();
    }
    // The context says whether a popup is open: the top one then gets every key.
    match ctx {
        Context::Help => popups::help_key(m, action),
        Context::Menu => popups::menu_key(m, action),
        Context::Field if matches!(m.popups.last(), Some(Popup::Whois(_))) => {
            whois::field_key(m, action, k)
        }
        Context::Field => popups::text_field_key(m, action, k),
        Context::Choice => popups::choice_key(m, action),
        Context::Popup => popups::popup_key(m, action),
        Context::Filter if matches!(m.popups.last(), Some(Popup::Audit(_))) => {
            audit::filter_key(m, action, k)
        }
        Context::Filter => screens::filter_key(m, action, k),
        Context::Audit => audit::audit_key(m, action),
        Context::Details => details::details_key(m, action),
        Context::Services => screens::services_key(m, action),
        Context::Keys => screens::keys_key(m, action),
    }
}

pub(crate) fn quit(m: &mut Model) -> Vec<Effect> {
    m.quit = true;
    // Dropping the popups wipes a key still shown.
    m.popups.clear();
    vec![Effect::Quit]
}

pub(crate) fn call(m: &mut Model, c: ApiCall) -> Effect {
    let (id, call) = m.start(c);
    Effect::Call { id, call }
}

/// Reloads the services unless that is already under way.
pub(crate) fn refresh_services(m: &mut Model) -> Vec<Effect> {
    if m.pending
        .values()
        .any(|c| matches!(c, ApiCall::ListServices))
    {
        return Vec::new();
    }
    vec![call(m, ApiCall::ListServices)]
}

/// Reloads the open service's keys, then selects `want`.
pub(crate) fn refresh_keys(m: &mut Model, want: Option<Want>) -> Vec<Effect> {
    let Some(k) = m.keys.as_mut() else {
        return Vec::new();
    };
    let want = want.or_else(|| k.selected_key().map(|key| Want::Id(key.id.clone())));
    k.want = want;
    let service_id = k.service.id.clone();
    if m.pending
        .values()
        .any(|c| matches!(c, ApiCall::ListKeys { service_id: s } if *s == service_id))
    {
        return Vec::new();
    }
    vec![call(m, ApiCall::ListKeys { service_id })]
}

/// `r`: the current screen again from the service (and who we are, if that failed).
pub(crate) fn refresh(m: &mut Model) -> Vec<Effect> {
    let mut out = Vec::new();
    if m.me.is_none() && !m.pending.values().any(|c| matches!(c, ApiCall::Me)) {
        out.push(call(m, ApiCall::Me));
    }
    match m.screen {
        Screen::Services => out.extend(refresh_services(m)),
        Screen::Keys => out.extend(refresh_keys(m, None)),
    }
    out
}

pub(crate) fn open_service(m: &mut Model, s: Service) -> Vec<Effect> {
    m.keys = Some(KeysView::new(s));
    m.screen = Screen::Keys;
    m.notice = None;
    refresh_keys(m, None)
}

pub(crate) fn back_to_services(m: &mut Model) -> Vec<Effect> {
    m.keys = None;
    m.screen = Screen::Services;
    // Requests for the keys screen are no longer of interest.
    m.pending
        .retain(|_, c| !matches!(c, ApiCall::ListKeys { .. }));
    refresh_services(m)
}

/// Where a list movement takes the selection.
pub(crate) fn moved(action: Action, selected: usize, len: usize, page: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let last = len - 1;
    let page = page.max(1);
    match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (selected + 1).min(last),
        Action::First => 0,
        Action::Last => last,
        Action::PageUp => selected.saturating_sub(page),
        Action::PageDown => (selected + page).min(last),
        _ => selected.min(last),
    }
}

/// The top popup's scrolling window: lines a page shows (at least 1), and all its lines.
pub(crate) fn popup_page(m: &Model) -> (usize, usize) {
    layout::for_model(m)
        .popups
        .last()
        .map_or((1, 0), |p| (p.visible_lines.max(1), p.total_lines))
}

/// Where a scrolling key (↑ ↓, g G, PgUp PgDn) moves a popup's window, whose first line goes
/// from 0 to `len - page`; None for any other key.
pub(crate) fn scrolled(
    action: Option<Action>,
    scroll: usize,
    page: usize,
    len: usize,
) -> Option<usize> {
    let max = len.saturating_sub(page);
    match action? {
        a @ (Action::Up
        | Action::Down
        | Action::First
        | Action::Last
        | Action::PageUp
        | Action::PageDown) => Some(moved(a, scroll.min(max), max + 1, page)),
        _ => None,
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

pub(crate) fn help(m: &mut Model, context: Context) {
    m.popups.push(Popup::Help(crate::console::popup::HelpPopup {
        context,
        scroll: 0,
    }));
}

/// Moves the focus of the top popup along its order.
pub(crate) fn cycle_focus(m: &mut Model, forward: bool) {
    let Some(p) = m.popups.last_mut() else {
        return;
    };
    let order = p.focus_order();
    let Some(current) = p.focus() else {
        return;
    };
    if order.is_empty() {
        return;
    }
    let i = order.iter().position(|f| *f == current).unwrap_or(0);
    let n = order.len();
    let next = if forward {
        (i + 1) % n
    } else {
        (i + n - 1) % n
    };
    p.set_focus(order[next]);
}

pub(crate) fn viewer_notice(m: &mut Model, what: &str) {
    let what = m.tr.t(what).to_string();
    let text = m.tr.f("notice.viewer_cannot", &[("what", &what)]);
    m.notice(NoticeKind::Error, text);
}
