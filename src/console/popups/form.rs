//! What the dialogs share: Tab through their focus order, Enter and Space on a button, ←/→ on
//! a choice, typing and pasting into a text field, Esc, a button that sends a request, and
//! validation as the service validates. A popup builds its `HANDLERS` on [`DIALOG`].

use crossterm::event::{Event, KeyCode, KeyEvent};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use super::{Button, Choice, Field, Focus, Handlers, help};
use crate::console::expiry::date_expiry;
use crate::console::keymap::{Action, Context};
use crate::console::layout::popups::Part;
use crate::console::layout::{Row, for_model};
use crate::console::model::{Model, NoticeKind};
use crate::console::msg::{ApiCall, Effect};
use crate::console::update::call;
use crate::policy::Scope;
use crate::sanitize::clean;
use crate::wire::{is_forbidden_char, limits, validate_text};

/// The dialogs' keys and paste; a dialog adds its buttons, choices, validation and place.
pub const DIALOG: Handlers = Handlers {
    key: dialog_key,
    paste,
    ..Handlers::NONE
};

/// A key in a dialog, by where its focus is: a text field, a choice, or a button.
pub fn dialog_key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    match m.context() {
        Context::Field => text_field_key(m, action, k),
        Context::Choice => choice_key(m, action),
        Context::Check => check_key(m, action),
        _ => button_key(m, action),
    }
}

/// Keys of a popup whose focus is on a button.
pub fn button_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    match action {
        Some(Action::NextFocus) => cycle_focus(m, true),
        Some(Action::PrevFocus) => cycle_focus(m, false),
        Some(Action::Press) => {
            return match m.popups.last().and_then(|p| p.focus()) {
                Some(Focus::Button(b)) => press(m, b),
                _ => Vec::new(),
            };
        }
        Some(Action::Cancel) => return cancel(m),
        Some(Action::Help) => help::open(m, Context::Popup),
        _ => {}
    }
    Vec::new()
}

/// Keys of a popup's text field: Enter submits, focus moves and Esc as on a button, the rest
/// edits the field.
fn text_field_key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    match action {
        Some(Action::Submit) => submit(m),
        Some(a @ (Action::NextFocus | Action::PrevFocus | Action::Cancel)) => {
            button_key(m, Some(a))
        }
        _ => {
            field_key(m, k);
            Vec::new()
        }
    }
}

/// Keys of a popup whose focus is on a choice (the Rotate popup's grace, the Issue popup's
/// expiry): ←/→ change it, Enter submits the popup's main action, Tab and Esc as on a button.
fn choice_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    match action {
        Some(a @ (Action::ChoicePrev | Action::ChoiceNext)) => {
            let Some(p) = m.popups.last() else {
                return Vec::new();
            };
            let Some(Focus::Choice(c)) = p.focus() else {
                return Vec::new();
            };
            let Some(at) = p.dialog().chosen(c) else {
                return Vec::new();
            };
            // At either end it stays: the options do not wrap round.
            let to = match a {
                Action::ChoicePrev => at.saturating_sub(1),
                _ => at + 1,
            };
            choose(m, c, to);
            Vec::new()
        }
        Some(Action::Submit) => submit(m),
        Some(Action::Help) => {
            help::open(m, Context::Choice);
            Vec::new()
        }
        Some(a @ (Action::NextFocus | Action::PrevFocus | Action::Cancel)) => {
            button_key(m, Some(a))
        }
        _ => Vec::new(),
    }
}

/// Keys of a popup whose focus is on a check box: Space toggles it, Enter submits the popup's
/// main action, Tab, ←/→ and Esc as on a button.
fn check_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    match action {
        Some(Action::Toggle) => {
            if let Some(Focus::Check(s)) = m.popups.last().and_then(|p| p.focus()) {
                toggle(m, s);
            }
            Vec::new()
        }
        Some(Action::Submit) => submit(m),
        Some(Action::Help) => {
            help::open(m, Context::Check);
            Vec::new()
        }
        Some(a @ (Action::NextFocus | Action::PrevFocus | Action::Cancel)) => {
            button_key(m, Some(a))
        }
        _ => Vec::new(),
    }
}

/// Toggles the top popup's check box of scope `s`, by Space or a click.
pub fn toggle(m: &mut Model, s: Scope) {
    if let Some(p) = m.popups.last() {
        let toggle = p.handlers().toggle;
        toggle(m, s);
    }
}

/// After every message: a form taller than its popup keeps the window the layout placed
/// around its focus, so that it moves again only when the focus leaves it (docs/console.md,
/// Forms that scroll).
pub fn follow_focus(m: &mut Model) {
    if m.too_small() || m.popups.last().and_then(|p| p.focus()).is_none() {
        return;
    }
    let l = for_model(m);
    let first = l.popups.last().map_or(0, |p| {
        p.rows
            .iter()
            .find_map(|(_, r)| match r {
                Row::More { first, .. } => Some(*first),
                _ => None,
            })
            .unwrap_or(0)
    });
    if let Some(p) = m.popups.last_mut() {
        p.dialog_mut().set_scroll(first);
    }
}

/// Chooses option `i` of the top popup's choice `c`, by key or click.
pub fn choose(m: &mut Model, c: Choice, i: usize) {
    if let Some(p) = m.popups.last() {
        let choose = p.handlers().choose;
        choose(m, c, i);
    }
}

/// Enter in a text field or on a choice: the popup's main action.
fn submit(m: &mut Model) -> Vec<Effect> {
    match m.popups.last().and_then(|p| p.dialog().main_button()) {
        Some(b) => press(m, b),
        None => Vec::new(),
    }
}

/// Esc: the popup's cancel. A request it waits for is abandoned: its answer will be dropped.
pub fn cancel(m: &mut Model) -> Vec<Effect> {
    let Some(p) = m.popups.pop() else {
        return Vec::new();
    };
    if let Some(id) = p.in_flight() {
        let call = m.pending.remove(&id);
        // An abandoned issue or rotation may still make a key: it is shown when it arrives.
        if p.dialog().may_leave_a_key() {
            let service_id = match call {
                Some(
                    ApiCall::IssueKey { service_id, .. } | ApiCall::RotateKey { service_id, .. },
                ) => service_id,
                _ => String::new(),
            };
            m.abandoned_issues.insert(id, service_id);
            let what = if matches!(p, super::Popup::Rotate(_)) {
                "notice.rotation_abandoned"
            } else {
                "notice.issue_abandoned"
            };
            m.notice(NoticeKind::Info, m.tr.t(what).to_string());
        } else {
            m.notice(NoticeKind::Info, m.tr.t("notice.cancelled").to_string());
        }
    }
    Vec::new()
}

/// A button pressed, by Enter, Space or a click.
pub fn press(m: &mut Model, b: Button) -> Vec<Effect> {
    let Some(top) = m.popups.last() else {
        return Vec::new();
    };
    // While its request runs, a popup's buttons but Cancel do nothing: no second Enter.
    if !top.enabled(b) {
        return Vec::new();
    }
    if b == Button::Cancel {
        return cancel(m);
    }
    let press = top.handlers().press;
    press(m, b)
}

/// Sends `c` for the top popup, which shows that it waits and disables its buttons meanwhile.
pub fn call_for_popup(m: &mut Model, c: ApiCall) -> Vec<Effect> {
    let effect = call(m, c);
    if let (Some(p), Effect::Call { id, .. }) = (m.popups.last_mut(), &effect) {
        p.set_in_flight(Some(*id));
    }
    vec![effect]
}

/// Moves the focus of the top popup along its order.
pub fn cycle_focus(m: &mut Model, forward: bool) {
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

/// Letters, Backspace, Home/End… go to the focused field; ← and → past its ends move the focus.
fn field_key(m: &mut Model, k: KeyEvent) {
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
    let max = p.dialog().field_max(f);
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

/// The top popup's inline validation of field `f`.
fn revalidate(m: &mut Model, f: Field) {
    if let Some(p) = m.popups.last() {
        let revalidate = p.handlers().revalidate;
        revalidate(m, f);
    }
}

/// The longest text a `/` filter can match: a service name or id (`svc_` + 20 characters,
/// as `server::handlers::new_id` makes them).
pub const FILTER_MAX: usize = {
    let id = 4 + 20;
    if limits::SERVICE_NAME_MAX > id {
        limits::SERVICE_NAME_MAX
    } else {
        id
    }
};

/// Inserts `text` at the cursor in one pass, keeping the field to `max` characters; true when
/// some of `text` did not fit. Linear in the field plus what is inserted (a 200 KB paste costs
/// the same as a short one), where inserting char by char would be quadratic.
pub fn insert_capped(input: &mut Input, text: &str, max: usize) -> bool {
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

/// The footer's note that a field is full.
pub fn field_full_notice(m: &mut Model, max: usize) {
    let text = m.tr.f("notice.field_full", &[("max", &max)]);
    m.notice(NoticeKind::Info, text);
}

/// A paste goes into the focused field (without control characters), up to the field's
/// maximum length; what does not fit is dropped, with a notice.
pub fn paste(m: &mut Model, s: &str) {
    let Some(p) = m.popups.last_mut() else {
        return;
    };
    if p.in_flight().is_some() {
        return;
    }
    let Some(Focus::Field(f)) = p.focus() else {
        return;
    };
    // A list of networks pasted one a line (or from a table's cells) keeps its separators,
    // instead of gluing `10.0.4.0/24` and `10.0.5.0/24` into one bad entry.
    let spaced;
    let s = if f == Field::AllowedFrom {
        spaced = s.replace(['\n', '\r', '\t'], " ");
        spaced.as_str()
    } else {
        s
    };
    let cleaned = clean(s);
    let max = p.dialog().field_max(f);
    let Some(input) = p.input_mut(f) else {
        return;
    };
    let cut = insert_capped(input, &cleaned, max);
    revalidate(m, f);
    if cut {
        field_full_notice(m, max);
    }
}

/// The page's limits, checked as the service checks them, in the console's words.
pub fn check(m: &Model, value: &str, min: usize, max: usize, key: &str) -> Option<String> {
    validate_text("", value, min, max).err().map(|_| {
        if value.chars().any(is_forbidden_char) {
            m.tr.t("validate.forbidden").to_string()
        } else {
            m.tr.t(key).to_string()
        }
    })
}

/// What is wrong with a key's name, if anything; an empty name is no name.
pub fn key_name_error(m: &Model, v: &str) -> Option<String> {
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

/// What is wrong with a service's name, if anything.
pub fn service_name_error(m: &Model, v: &str) -> Option<String> {
    check(
        m,
        v.trim(),
        limits::SERVICE_NAME_MIN,
        limits::SERVICE_NAME_MAX,
        "validate.service_name",
    )
}

/// What is wrong with a service's description, if anything.
pub fn description_error(m: &Model, v: &str) -> Option<String> {
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
pub fn date_error(m: &Model, v: &str) -> Option<String> {
    if v.trim().is_empty() {
        return None;
    }
    date_expiry(v, m.now, m.tz)
        .err()
        .map(|e| e.message(m.tr, v.trim()))
}

/// The impact line under the caution of a popup that stops a key (issue 9; docs/console.md, Popups).
pub fn impact(m: &Model, key_id: &str) -> Part {
    let (s, tone) = crate::console::usage::impact(m.tr, m.now, m.usage.get(key_id));
    Part::Text(s, tone)
}
