//! The Details popup (issue 9; docs/console.md, Popups): `v` or the menu's Details, for every role.
//! Every field of the key, its calls per hour over 24 hours and per day over 30 days as
//! sparklines (read from `Model::usage`), and its own audit events. Read-only; lines scroll as
//! a whole; `r` loads the key, its usage and its events again; Esc closes it. What it shows is
//! laid out in `details/document.rs`.

mod document;

use crossterm::event::KeyEvent;

use super::answers::answer_for;
use super::scrolling::{popup_page, scrolled};
use super::{Button, Dialog, Focus, Handlers, Popup};
use crate::client::ApiError;
use crate::console::keymap::{Action, Context};
use crate::console::model::{Model, NoticeKind};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::update::usage::fetch_usage;
use crate::console::update::{call, errors, refresh_keys};
use crate::wire::{ApiKey, AuditEvent, AuditPage};
pub use document::LEVELS;

/// Details (issue 9; docs/console.md, Popups): every field of the key, its usage charts (read from
/// `Model::usage`) and its own audit events. Read-only; lines scroll; Esc closes.
#[derive(Debug)]
pub struct DetailsPopup {
    pub service_id: String,
    pub key: ApiKey,
    /// The first line shown.
    pub scroll: usize,
    /// The key's events, newest first, once loaded.
    pub events: Option<Vec<AuditEvent>>,
    /// Why the events could not be loaded, in the console's words.
    pub events_error: Option<String>,
    /// The request for the events.
    pub in_flight: Option<RequestId>,
}

const HANDLERS: Handlers = Handlers {
    key,
    press,
    wheel,
    click_outside,
    place: document::place,
    ..Handlers::NONE
};

impl Dialog for DetailsPopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn context(&self) -> Context {
        Context::Details
    }

    fn in_flight(&self) -> Option<RequestId> {
        self.in_flight
    }

    fn set_in_flight(&mut self, id: Option<RequestId>) {
        self.in_flight = id;
    }

    fn scroll(&self) -> usize {
        self.scroll
    }

    fn focus(&self) -> Option<Focus> {
        self.key
            .leaked_and_stopped()
            .then_some(Focus::Button(Button::Rotate))
    }
}

/// Whether Details ends with `[Rotate]`: a leaked key that is stopped, for a manager
/// (docs/console.md, Leaked keys).
pub fn offers_rotate(m: &Model, p: &DetailsPopup) -> bool {
    m.can_manage() && p.key.leaked_and_stopped()
}

/// `[Rotate]` (Enter, or a click): Details gives way to the Rotate popup for its key, which
/// replaces a leaked stopped key at once.
fn press(m: &mut Model, _b: Button) -> Vec<Effect> {
    let Some(Popup::Details(p)) = m.popups.last() else {
        return Vec::new();
    };
    if !offers_rotate(m, p) {
        return Vec::new();
    }
    let Some(Popup::Details(p)) = m.popups.pop() else {
        return Vec::new();
    };
    if let Some(id) = p.in_flight {
        m.pending.remove(&id);
    }
    super::rotate::open_for(m, p.service_id, p.key)
}

/// `v`, or the menu's Details (every role may read): the popup, and its usage and events.
pub fn open(m: &mut Model) -> Vec<Effect> {
    let tr = m.tr;
    let Some(k) = m.keys.as_ref() else {
        return Vec::new();
    };
    let Some(key) = k.selected_key().cloned() else {
        m.notice(NoticeKind::Info, tr.t("notice.no_key").to_string());
        return Vec::new();
    };
    let service_id = k.service.id.clone();
    let mut out = fetch_usage(m, &service_id, &key.id, true);
    let events = call(
        m,
        ApiCall::KeyAudit {
            service_id: service_id.clone(),
            key_id: key.id.clone(),
        },
    );
    let in_flight = match &events {
        Effect::Call { id, .. } => Some(*id),
        _ => None,
    };
    out.push(events);
    m.popups.push(Popup::Details(DetailsPopup {
        service_id,
        key,
        scroll: 0,
        events: None,
        events_error: None,
        in_flight,
    }));
    out
}

/// `r`: the key (through the list, which updates every popup showing it), its usage and its
/// events again from the service.
fn refresh(m: &mut Model) -> Vec<Effect> {
    let Some(Popup::Details(p)) = m.popups.last() else {
        return Vec::new();
    };
    let (service_id, key_id, old) = (p.service_id.clone(), p.key.id.clone(), p.in_flight);
    if let Some(id) = old {
        m.pending.remove(&id);
    }
    let mut out = refresh_keys(m, None);
    out.extend(fetch_usage(m, &service_id, &key_id, false));
    let events = call(m, ApiCall::KeyAudit { service_id, key_id });
    if let (Some(Popup::Details(p)), Effect::Call { id, .. }) = (m.popups.last_mut(), &events) {
        p.in_flight = Some(*id);
    }
    out.push(events);
    out
}

/// Whether the newest event that changes a key's state says something the key as shown does
/// not (rotated elsewhere, disabled or enabled by another admin): the key is then stale.
fn contradicts(key: &ApiKey, events: &[AuditEvent]) -> bool {
    use crate::wire::{AuditAction as A, KeyState};
    let newest = events.iter().find(|e| {
        matches!(
            e.action,
            A::ApiKeyRotate
                | A::ApiKeyDisable
                | A::ApiKeyEnable
                | A::ApiKeyDelete
                | A::ApiKeyRetire
        ) && e.outcome == "ok"
    });
    match newest.map(|e| e.action) {
        Some(A::ApiKeyRotate) => key.replaced_by.is_none(),
        Some(A::ApiKeyDisable) => key.state != KeyState::Disabled,
        Some(A::ApiKeyEnable) => key.state == KeyState::Disabled,
        Some(A::ApiKeyDelete | A::ApiKeyRetire) => true,
        _ => false,
    }
}

/// The service's newest events: Details keeps its key's.
pub fn on_key_audit(
    m: &mut Model,
    id: RequestId,
    key_id: &str,
    result: Result<AuditPage, ApiError>,
) -> Vec<Effect> {
    let Some((p, result)) = answer_for(m, id, result, errors::message, |p| match p {
        Popup::Details(d) => Some(d),
        _ => None,
    }) else {
        return Vec::new();
    };
    match result {
        Ok(page) => {
            let mine: Vec<AuditEvent> = page
                .events
                .into_iter()
                .filter(|e| e.key_id.as_deref() == Some(key_id))
                .collect();
            let stale = contradicts(&p.key, &mine);
            p.events = Some(mine);
            p.events_error = None;
            // The events say the key changed since it was listed: the list again, and with it
            // every line that shows the key.
            if stale {
                return refresh_keys(m, None);
            }
        }
        Err(msg) => p.events_error = Some(msg),
    }
    Vec::new()
}

/// Keys of the Details popup: lines scroll, Esc (or `q`, `v`) closes it.
fn key(m: &mut Model, action: Option<Action>, _k: KeyEvent) -> Vec<Effect> {
    let (page, len) = popup_page(m);
    let Some(Popup::Details(p)) = m.popups.last_mut() else {
        return Vec::new();
    };
    if let Some(to) = scrolled(action, p.scroll, page, len) {
        p.scroll = to;
        return Vec::new();
    }
    if action == Some(Action::Refresh) {
        return refresh(m);
    }
    if action == Some(Action::Press) {
        return press(m, Button::Rotate);
    }
    if action == Some(Action::Cancel)
        && let Some(Popup::Details(p)) = m.popups.pop()
        && let Some(id) = p.in_flight
    {
        m.pending.remove(&id);
    }
    Vec::new()
}

/// The wheel scrolls the lines as ↑ and ↓ do.
fn wheel(m: &mut Model, a: Action) {
    let k = KeyEvent::from(crossterm::event::KeyCode::Null);
    key(m, Some(a), k);
}

/// A click beside Details (read-only) closes it, as Esc does.
fn click_outside(m: &mut Model) -> Vec<Effect> {
    let k = KeyEvent::from(crossterm::event::KeyCode::Null);
    key(m, Some(Action::Cancel), k)
}
