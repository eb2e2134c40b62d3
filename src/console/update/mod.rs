//! `update(&mut Model, Msg) -> Vec<Effect>`: the whole behaviour of the console, pure. It never
//! awaits and does no I/O; what it wants done comes back as effects.
//!
//! Split by message: `keys` routes a key (to the top popup, else the screen), `mouse` a
//! click or the wheel, `paste` a paste, `answers` the service's answers. What no popup owns is
//! here too: the two screens (`screens`), the usage of keys (`usage`), the error wording
//! (`errors`). Each popup's own keys, buttons and answers are in `popups/<name>.rs`; this
//! module holds what they share with the screens (requests, reloads, moving between screens).

mod answers;
pub mod errors;
#[cfg(test)]
pub(crate) mod fixtures;
mod keys;
mod mouse;
pub mod narrowing;
mod paste;
mod screens;
pub mod usage;

#[cfg(test)]
mod tests_abandoned;
#[cfg(test)]
mod tests_access;
#[cfg(test)]
pub(crate) mod tests_audit;
#[cfg(test)]
mod tests_delete_disable;
#[cfg(test)]
mod tests_details;
#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_fields;
#[cfg(test)]
mod tests_issue_copy;
#[cfg(test)]
mod tests_issue_expiry;
#[cfg(test)]
pub(crate) mod tests_leaks;
#[cfg(test)]
mod tests_menu;
#[cfg(test)]
mod tests_mouse;
#[cfg(test)]
mod tests_rename_rotate;
#[cfg(test)]
mod tests_screens;
#[cfg(test)]
pub(crate) mod tests_whois;

use crate::console::keymap::Action;
use crate::console::model::{KeysView, Model, NoticeKind, Screen, Want};
use crate::console::msg::{ApiCall, Effect, Msg};
use crate::wire::{ApiKey, Service};

pub use errors::orphan_key_id;

/// One message in, the effects it asks for out.
pub fn update(m: &mut Model, msg: Msg) -> Vec<Effect> {
    let mut out = on_msg(m, msg);
    out.extend(answers::after(m));
    out
}

fn on_msg(m: &mut Model, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(k) => {
            m.dirty = true;
            keys::on_key(m, k)
        }
        Msg::Mouse(ev) => mouse::on_mouse(m, ev),
        // Below the minimum size nothing is visible, so a paste goes nowhere (docs/console.md).
        Msg::Paste(_) if m.too_small() => Vec::new(),
        Msg::Paste(mut s) => {
            m.dirty = true;
            paste::on_paste(m, &s);
            // A paste may be a key (Who owns this key?): no copy of it outlives this message.
            zeroize::Zeroize::zeroize(&mut s);
            Vec::new()
        }
        Msg::Resize { width, height } => {
            m.width = width;
            m.height = height;
            m.dirty = true;
            screens::keep_selection_visible(m);
            Vec::new()
        }
        Msg::Tick => {
            if m.needs_tick() {
                m.spinner = (m.spinner + 1) % crate::console::model::SPINNER.len();
                m.dirty = true;
            }
            Vec::new()
        }
        Msg::ServiceClock(reading) => {
            on_service_clock(m, reading);
            Vec::new()
        }
        Msg::Api { id, result } => answers::on_result(m, id, result),
        Msg::Copied(outcome) => {
            answers::on_copied(m, outcome);
            Vec::new()
        }
    }
}

/// An answer's `Date`: the skew it shows, and `now` moved onto the service's clock with it.
fn on_service_clock(m: &mut Model, reading: crate::clock::ClockReading) {
    let skew = reading.skew();
    if skew != m.skew {
        let local = m.now.unix() + m.skew;
        m.skew = skew;
        m.now = crate::wire::Timestamp::from_unix(local - skew);
        m.dirty = true;
    }
}

/// What the console asks for when it starts: who we are, and the services.
pub fn start(m: &mut Model) -> Vec<Effect> {
    let mut out = vec![call(m, ApiCall::Me)];
    out.extend(refresh_services(m));
    out
}

/// `q` on Services, or Ctrl-C anywhere: the loop ends.
pub(crate) fn quit(m: &mut Model) -> Vec<Effect> {
    m.quit = true;
    // Dropping the popups wipes a key still shown, and the late keys one not shown yet.
    m.popups.clear();
    m.late_keys.clear();
    vec![Effect::Quit]
}

/// Records call `c` as pending and asks the loop to make it.
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

/// API Key management of `s`, its keys asked for.
pub(crate) fn open_service(m: &mut Model, s: Service) -> Vec<Effect> {
    m.keys = Some(KeysView::new(s));
    m.screen = Screen::Keys;
    m.notice = None;
    refresh_keys(m, None)
}

/// Back to the Services screen, reloaded.
pub(crate) fn back_to_services(m: &mut Model) -> Vec<Effect> {
    m.keys = None;
    m.screen = Screen::Services;
    // Requests for the keys screen are no longer of interest.
    m.pending
        .retain(|_, c| !matches!(c, ApiCall::ListKeys { .. }));
    refresh_services(m)
}

/// The open service is gone (deleted elsewhere): every popup closes, and Services says so.
pub(crate) fn service_gone(m: &mut Model) -> Vec<Effect> {
    m.popups.clear();
    let out = back_to_services(m);
    m.notice(
        NoticeKind::Error,
        m.tr.t("error.service_not_found").to_string(),
    );
    out
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

/// A viewer asked for what only a manager may do: the footer says so, naming `what`.
pub(crate) fn viewer_notice(m: &mut Model, what: &str) {
    let what = m.tr.t(what).to_string();
    let text = m.tr.f("notice.viewer_cannot", &[("what", &what)]);
    m.notice(NoticeKind::Error, text);
}

/// The selected key and its service, for a popup about it; `what` names the action for the
/// viewer's refusal (a viewer may only read).
pub(crate) fn selected_for(m: &mut Model, what: &str) -> Option<(String, ApiKey)> {
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
