//! The Audit trail popup (issue 9; docs/console.md, Popups): `a` opens it, lines scroll, reaching
//! the end asks for the next page until the service has none, `End`/`G` jumps to the oldest
//! events in one request (`order=oldest`), `/` filters the loaded rows, `r` loads it again, Esc
//! closes it. Its table is laid out in `audit/table.rs`.

mod table;

use crossterm::event::{Event, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::answers::answer_for;
use super::form::{FILTER_MAX, field_full_notice, insert_capped};
use super::scrolling::{popup_page, scrolled};
use super::{Dialog, Handlers, Popup};
use crate::client::ApiError;
use crate::console::keymap::{Action, Context};
use crate::console::model::{Model, Screen};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::update::{call, errors};
use crate::sanitize::clean;
use crate::wire::{AuditEvent, AuditPage};
pub use table::{AuditCol, cells, columns, visible};

/// Events asked for per page of the Audit trail (docs/api.md allows 1 to 500).
pub const AUDIT_PAGE: u32 = 100;

/// The Audit trail popup (issue 9; docs/console.md, Popups): the events loaded so far, newest first,
/// scrolled by line; reaching the end asks for the next page until the service has none.
#[derive(Debug)]
pub struct AuditPopup {
    /// `None`: every service's events (opened on Services), deleted services included.
    pub service_id: Option<String>,
    pub events: Vec<AuditEvent>,
    /// The `before` of the next page: older events, or with `from_oldest` newer ones; `None`
    /// once that end of the trail is loaded.
    pub next: Option<String>,
    /// The events were loaded from the oldest end (`End`/`G`): `events` still runs newest first,
    /// and the next page, newer, goes above them.
    pub from_oldest: bool,
    /// False until the first page arrives.
    pub loaded: bool,
    /// The first line shown, into the filtered events.
    pub scroll: usize,
    /// `/`: a text match over the loaded rows, as the Services filter.
    pub filter: Input,
    /// Whether the filter field has the keys.
    pub filtering: bool,
    /// Why the last page could not be loaded, in the console's words.
    pub error: Option<String>,
    pub in_flight: Option<RequestId>,
}

impl AuditPopup {
    /// The trail of `service_id` (every service's when `None`), nothing loaded yet.
    pub fn new(service_id: Option<String>) -> Self {
        AuditPopup {
            service_id,
            events: Vec::new(),
            next: None,
            from_oldest: false,
            loaded: false,
            scroll: 0,
            filter: Input::default(),
            filtering: false,
            error: None,
            in_flight: None,
        }
    }
}

const HANDLERS: Handlers = Handlers {
    key,
    paste,
    place: table::place,
    ..Handlers::NONE
};

impl Dialog for AuditPopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn context(&self) -> Context {
        if self.filtering {
            Context::Filter
        } else {
            Context::Audit
        }
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
}

/// `a`: this service's trail on API Key management, every service's on Services.
pub fn open(m: &mut Model) -> Vec<Effect> {
    let service_id = match m.screen {
        Screen::Keys => m.keys.as_ref().map(|k| k.service.id.clone()),
        Screen::Services => None,
    };
    m.popups.push(Popup::Audit(AuditPopup::new(service_id)));
    fetch(m, false)
}

fn top(m: &mut Model) -> Option<&mut AuditPopup> {
    match m.popups.last_mut() {
        Some(Popup::Audit(p)) => Some(p),
        _ => None,
    }
}

/// Asks for the first page (`restart`) or the next one, unless one is already on its way; from
/// the end the popup was loaded from.
fn fetch(m: &mut Model, restart: bool) -> Vec<Effect> {
    let Some(p) = top(m) else {
        return Vec::new();
    };
    if p.in_flight.is_some() && !restart {
        return Vec::new();
    }
    let old = p.in_flight.take();
    if !restart && p.loaded && p.next.is_none() {
        return Vec::new();
    }
    let before = if restart { None } else { p.next.clone() };
    let service_id = p.service_id.clone();
    let oldest_first = p.from_oldest;
    if let Some(id) = old {
        m.pending.remove(&id);
    }
    let effect = call(
        m,
        ApiCall::AuditPage {
            service_id,
            before,
            oldest_first,
        },
    );
    if let (Some(p), Effect::Call { id, .. }) = (top(m), &effect) {
        p.in_flight = Some(*id);
        p.error = None;
    }
    vec![effect]
}

/// Asks for the next page when the last loaded row is on screen (the first, for a trail loaded
/// from the oldest end) and the filter shows everything (a filter matches loaded rows only; it
/// never pages on its own).
fn more_if_at_end(m: &mut Model) -> Vec<Effect> {
    let (page, len) = popup_page(m);
    let Some(p) = top(m) else {
        return Vec::new();
    };
    let at_end = if p.from_oldest {
        p.scroll == 0
    } else {
        p.scroll.saturating_add(page) >= len
    };
    if at_end && p.loaded && p.next.is_some() && p.filter.value().is_empty() {
        fetch(m, false)
    } else {
        Vec::new()
    }
}

fn key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    match top(m) {
        Some(p) if p.filtering => filter_key(m, action, k),
        _ => trail_key(m, action),
    }
}

/// Keys on the trail: scrolling, `/`, `r`, Esc.
fn trail_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    let (page, len) = popup_page(m);
    let Some(p) = top(m) else {
        return Vec::new();
    };
    // The far end of a trail not loaded that far is one request away, not a page per key.
    let unfiltered = p.filter.value().is_empty();
    let far = match action {
        Some(Action::Last) => !p.from_oldest,
        Some(Action::First) => p.from_oldest,
        _ => false,
    };
    if far && unfiltered && p.loaded && p.next.is_some() {
        p.from_oldest = !p.from_oldest;
        p.events.clear();
        p.next = None;
        p.loaded = false;
        p.scroll = 0;
        return fetch(m, true);
    }
    if let Some(to) = scrolled(action, p.scroll, page, len) {
        p.scroll = to;
        return more_if_at_end(m);
    }
    match action {
        Some(Action::Filter) => {
            p.filtering = true;
            Vec::new()
        }
        Some(Action::Refresh) => {
            p.events.clear();
            p.from_oldest = false;
            p.next = None;
            p.loaded = false;
            p.scroll = 0;
            fetch(m, true)
        }
        Some(Action::Cancel) => {
            if let Some(Popup::Audit(p)) = m.popups.pop()
                && let Some(id) = p.in_flight
            {
                m.pending.remove(&id);
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Keys while the filter field has them: Enter keeps the filter, Esc clears it, the rest edit it.
fn filter_key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    let mut full = false;
    if let Some(p) = top(m) {
        match action {
            Some(Action::Submit | Action::NextFocus | Action::PrevFocus) => p.filtering = false,
            Some(Action::Cancel) => {
                p.filtering = false;
                p.filter = Input::default();
            }
            _ => {
                if let Some(req) = to_input_request(&Event::Key(k)) {
                    if let tui_input::InputRequest::InsertChar(c) = req {
                        full = insert_capped(&mut p.filter, c.encode_utf8(&mut [0; 4]), FILTER_MAX);
                    } else {
                        p.filter.handle(req);
                    }
                }
            }
        }
        p.scroll = 0;
    }
    if full {
        field_full_notice(m, FILTER_MAX);
    }
    more_if_at_end(m)
}

/// A paste while the filter field has the keys: cleaned and capped as the Services filter.
fn paste(m: &mut Model, s: &str) {
    let Some(p) = top(m).filter(|p| p.filtering) else {
        return;
    };
    let cleaned = clean(s);
    let full = insert_capped(&mut p.filter, &cleaned, FILTER_MAX);
    p.scroll = 0;
    if full {
        field_full_notice(m, FILTER_MAX);
    }
}

/// A page arrived: appended (older events below), or the error kept for the status line.
pub fn on_page(m: &mut Model, id: RequestId, result: Result<AuditPage, ApiError>) -> Vec<Effect> {
    let Some((p, result)) = answer_for(m, id, result, errors::message, |p| match p {
        Popup::Audit(a) => Some(a),
        _ => None,
    }) else {
        return Vec::new();
    };
    match result {
        Ok(page) if p.from_oldest => {
            // Oldest first from the service; shown newest first, above what is loaded, with
            // the rows on screen kept in place (the oldest at the bottom on the first page).
            let mut newer = page.events;
            newer.reverse();
            let added = newer.len();
            let first = !p.loaded;
            newer.append(&mut p.events);
            p.events = newer;
            p.next = page.next;
            p.loaded = true;
            p.error = None;
            let (rows, len) = popup_page(m);
            if let Some(p) = top(m) {
                p.scroll = if first {
                    len.saturating_sub(rows)
                } else {
                    p.scroll + added
                };
            }
            more_if_at_end(m)
        }
        Ok(page) => {
            p.events.extend(page.events);
            p.next = page.next;
            p.loaded = true;
            p.error = None;
            // The page may not fill the screen: keep going until it does or the trail ends.
            more_if_at_end(m)
        }
        Err(msg) => {
            p.error = Some(msg);
            Vec::new()
        }
    }
}
