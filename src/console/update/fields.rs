//! Text fields in popups: typing, pasting, and validation as the service validates.

use crossterm::event::{Event, KeyCode, KeyEvent};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use super::cycle_focus;
use crate::console::model::Model;
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
    let Some(input) = p.input_mut(f) else {
        return;
    };
    let at_start = input.cursor() == 0;
    let at_end = input.cursor() == input.value().chars().count();
    match (k.code, k.modifiers.is_empty()) {
        (KeyCode::Left, true) if at_start => cycle_focus(m, false),
        (KeyCode::Right, true) if at_end => cycle_focus(m, true),
        _ => {
            if let Some(req) = to_input_request(&Event::Key(k)) {
                input.handle(req);
                revalidate(m, f);
            }
        }
    }
}

/// A paste goes into the focused field (without control characters), or the filter.
pub(super) fn paste(m: &mut Model, s: &str) {
    let cleaned = clean(s).into_owned();
    let target: Option<&mut Input> = match m.popups.last_mut() {
        Some(p) if p.in_flight().is_some() => None,
        Some(p) => match p.focus() {
            Some(Focus::Field(f)) => p.input_mut(f),
            _ => None,
        },
        None if m.services.focus == crate::console::model::ServicesFocus::Filter => {
            Some(&mut m.services.filter)
        }
        None => None,
    };
    if let Some(input) = target {
        for c in cleaned.chars() {
            input.handle(InputRequest::InsertChar(c));
        }
    }
    if let Some(Focus::Field(f)) = m.popups.last().and_then(Popup::focus) {
        revalidate(m, f);
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

/// Inline validation as the user types (an empty service name is only flagged on submit).
pub(super) fn revalidate(m: &mut Model, f: Field) {
    let value = match m.popups.last().and_then(|p| p.input(f)) {
        Some(i) => i.value().to_string(),
        None => return,
    };
    let err = match (m.popups.last(), f) {
        (Some(Popup::Issue(_)), _) => key_name_error(m, &value),
        (Some(Popup::CreateService(_)), Field::Name) if value.trim().is_empty() => None,
        (Some(Popup::CreateService(_)), Field::Name) => service_name_error(m, &value),
        (Some(Popup::CreateService(_)), Field::Description) => description_error(m, &value),
        _ => None,
    };
    match (m.popups.last_mut(), f) {
        (Some(Popup::Issue(p)), _) => p.name_error = err,
        (Some(Popup::CreateService(p)), Field::Name) => p.name_error = err,
        (Some(Popup::CreateService(p)), Field::Description) => p.description_error = err,
        _ => {}
    }
}
