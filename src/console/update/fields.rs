//! Text fields in popups: typing, pasting, and validation as the service validates.

use crossterm::event::{Event, KeyCode, KeyEvent};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use super::cycle_focus;
use crate::console::expiry::{DATE_MAX, date_expiry};
use crate::console::model::{Model, NoticeKind, ServicesFocus};
use crate::console::popup::{Field, Focus, Popup};
use crate::sanitize::clean;
use crate::wire::{is_forbidden_char, limits, validate_text};

/// Letters, Backspace, Home/End… go to the focused field; ← and → past its ends move the focus.
pub(super) fn field_key(m: &mut Model, k: KeyEvent) {
    let Some(p) = m.popups.last_mut() else {
        return;
    };
    // What is being sent is what the field shows: it is frozen until the answer comes.
    if p.in_flight().is_some() {
        return;
    }
    let Some(Focus::Field(f)) = p.focus() else {
        return;
    };
    let max = field_max(p, f);
    let Some(input) = p.input_mut(f) else {
        return;
    };
    let at_start = input.cursor() == 0;
    let at_end = input.cursor() == input.value().chars().count();
    match (k.code, k.modifiers.is_empty()) {
        (KeyCode::Left, true) if at_start => cycle_focus(m, false),
        (KeyCode::Right, true) if at_end => cycle_focus(m, true),
        _ => match to_input_request(&Event::Key(k)) {
            Some(InputRequest::InsertChar(c)) => {
                let cut = insert_capped(input, c.encode_utf8(&mut [0; 4]), max);
                revalidate(m, f);
                if cut {
                    field_full_notice(m, max);
                }
            }
            Some(req) => {
                input.handle(req);
                revalidate(m, f);
            }
            None => {}
        },
    }
}

/// The longest text the `/` filter can match: a service name or id (`svc_` + 20 characters,
/// as `server::handlers::new_id` makes them).
pub(crate) const FILTER_MAX: usize = {
    let id = 4 + 20;
    if limits::SERVICE_NAME_MAX > id {
        limits::SERVICE_NAME_MAX
    } else {
        id
    }
};

/// The most characters a popup's field takes: the service's own limit for what it holds
/// (API.md limits, as `wire::limits`), so typing or pasting past it is pointless.
pub(crate) fn field_max(p: &Popup, f: Field) -> usize {
    match (p, f) {
        (Popup::CreateService(_), Field::Name) => limits::SERVICE_NAME_MAX,
        (Popup::CreateService(_), Field::Description) => limits::SERVICE_DESCRIPTION_MAX,
        (_, Field::Date) => DATE_MAX,
        _ => limits::KEY_NAME_MAX,
    }
}

/// Inserts `text` at the cursor in one pass, keeping the field to `max` characters; true when
/// some of `text` did not fit. Linear in the field plus what is inserted (a 200 KB paste costs
/// the same as a short one), where inserting char by char would be quadratic.
pub(crate) fn insert_capped(input: &mut Input, text: &str, max: usize) -> bool {
    let value = input.value();
    let room = max.saturating_sub(value.chars().count());
    let cursor = input.cursor();
    let at = value
        .char_indices()
        .nth(cursor)
        .map_or(value.len(), |(i, _)| i);
    let end = text.char_indices().nth(room).map_or(text.len(), |(i, _)| i);
    let (taken, cut) = (&text[..end], end < text.len());
    if taken.is_empty() {
        return cut;
    }
    let mut out = String::with_capacity(value.len() + taken.len());
    out.push_str(&value[..at]);
    out.push_str(taken);
    out.push_str(&value[at..]);
    *input = Input::new(out).with_cursor(cursor + taken.chars().count());
    cut
}

fn field_full_notice(m: &mut Model, max: usize) {
    let text = m.tr.f("notice.field_full", &[("max", &max)]);
    m.notice(NoticeKind::Info, text);
}

/// A paste goes into the focused field (without control characters), or the filter, up to the
/// field's maximum length; what does not fit is dropped, with a notice.
pub(super) fn paste(m: &mut Model, s: &str) {
    if super::audit::paste(m, s) {
        return;
    }
    let cleaned = clean(s);
    let cut = match m.popups.last_mut() {
        Some(p) if p.in_flight().is_some() => return,
        Some(p) => {
            let Some(Focus::Field(f)) = p.focus() else {
                return;
            };
            let max = field_max(p, f);
            let Some(input) = p.input_mut(f) else {
                return;
            };
            let cut = insert_capped(input, &cleaned, max);
            revalidate(m, f);
            cut.then_some(max)
        }
        None if m.services.focus == ServicesFocus::Filter => {
            let cut = insert_capped(&mut m.services.filter, &cleaned, FILTER_MAX);
            // The list it filters changed: start from its top, as typing does.
            m.services.selected = 0;
            m.services.offset = 0;
            cut.then_some(FILTER_MAX)
        }
        None => return,
    };
    if let Some(max) = cut {
        field_full_notice(m, max);
    }
}

/// The page's limits, checked as the service checks them, in the console's words.
pub(super) fn check(m: &Model, value: &str, min: usize, max: usize, key: &str) -> Option<String> {
    validate_text("", value, min, max).err().map(|_| {
        if value.chars().any(is_forbidden_char) {
            m.tr.t("validate.forbidden").to_string()
        } else {
            m.tr.t(key).to_string()
        }
    })
}

pub(super) fn key_name_error(m: &Model, v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    check(
        m,
        v,
        limits::KEY_NAME_MIN,
        limits::KEY_NAME_MAX,
        "validate.key_name",
    )
}

pub(super) fn service_name_error(m: &Model, v: &str) -> Option<String> {
    check(
        m,
        v.trim(),
        limits::SERVICE_NAME_MIN,
        limits::SERVICE_NAME_MAX,
        "validate.service_name",
    )
}

pub(super) fn description_error(m: &Model, v: &str) -> Option<String> {
    check(
        m,
        v.trim(),
        0,
        limits::SERVICE_DESCRIPTION_MAX,
        "validate.description",
    )
}

/// The typed expiry date checked as the service will check it, at the model's clock and in its
/// time zone; an empty field is only flagged on submit.
pub(super) fn date_error(m: &Model, v: &str) -> Option<String> {
    if v.trim().is_empty() {
        return None;
    }
    date_expiry(v, m.now, m.tz)
        .err()
        .map(|e| e.message(m.tr, v.trim()))
}

/// Inline validation as the user types (an empty service name is only flagged on submit).
pub(crate) fn revalidate(m: &mut Model, f: Field) {
    let value = match m.popups.last().and_then(|p| p.input(f)) {
        Some(i) => i.value().to_string(),
        None => return,
    };
    let err = match (m.popups.last(), f) {
        (Some(Popup::Issue(_)), Field::Date) => date_error(m, &value),
        (Some(Popup::Issue(_) | Popup::Rename(_)), _) => key_name_error(m, &value),
        (Some(Popup::CreateService(_)), Field::Name) if value.trim().is_empty() => None,
        (Some(Popup::CreateService(_)), Field::Name) => service_name_error(m, &value),
        (Some(Popup::CreateService(_)), Field::Description) => description_error(m, &value),
        _ => None,
    };
    match (m.popups.last_mut(), f) {
        (Some(Popup::Issue(p)), Field::Date) => p.expiry_error = err,
        (Some(Popup::Issue(p)), _) => p.name_error = err,
        (Some(Popup::Rename(p)), _) => p.name_error = err,
        (Some(Popup::CreateService(p)), Field::Name) => p.name_error = err,
        (Some(Popup::CreateService(p)), Field::Description) => p.description_error = err,
        _ => {}
    }
}
