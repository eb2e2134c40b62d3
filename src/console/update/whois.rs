//! Who owns this key? (issue 9; CONSOLE.md, Popups): `w` from any screen; a field that takes a
//! typed or pasted key and shows it only as dots; the format and checksum checked here first
//! (no request for what is not a ragkeys API key); then `POST /v1/whois`; `[Open]` goes to the
//! owner's API Key management with the key selected. Closing the popup wipes the key.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{call, cycle_focus, errors, open_service, refresh_keys};
use crate::client::ApiError;
use crate::console::keymap::Action;
use crate::console::model::{Model, NoticeKind, Want};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::popup::{Button, Field, Focus, Popup, TypedKey, WHOIS_MAX, WhoisPopup};
use crate::credential::{self, Kind, Secret};
use crate::sanitize::clean;
use crate::wire::{ErrorCode, WhoisAnswer};

/// `w`: the popup, focus in its field.
pub(crate) fn open(m: &mut Model) -> Vec<Effect> {
    m.popups.push(Popup::Whois(WhoisPopup {
        key: TypedKey::default(),
        error: None,
        found: None,
        focus: Focus::Field(Field::Key),
        in_flight: None,
    }));
    Vec::new()
}

fn top(m: &mut Model) -> Option<&mut WhoisPopup> {
    match m.popups.last_mut() {
        Some(Popup::Whois(p)) => Some(p),
        _ => None,
    }
}

/// Keys while the field has the focus: Enter looks up, Tab/Esc as everywhere, Backspace and
/// Ctrl-U edit, printable characters are added (an earlier answer no longer applies).
pub(super) fn field_key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    match action {
        Some(Action::Submit) => return lookup(m),
        Some(a @ (Action::NextFocus | Action::PrevFocus | Action::Cancel)) => {
            return super::popups::popup_key(m, Some(a));
        }
        _ => {}
    }
    let mut full = false;
    let Some(p) = top(m) else {
        return Vec::new();
    };
    if p.in_flight.is_some() {
        return Vec::new();
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    match k.code {
        KeyCode::Backspace => p.key.pop(),
        KeyCode::Char('u') if ctrl => p.key.clear(),
        KeyCode::Right => {
            cycle_focus(m, true);
            return Vec::new();
        }
        KeyCode::Char(c) if !ctrl && !c.is_control() => {
            full = p.key.push_str(c.encode_utf8(&mut [0; 4]));
        }
        _ => return Vec::new(),
    }
    p.error = None;
    p.found = None;
    if full {
        full_notice(m);
    }
    Vec::new()
}

fn full_notice(m: &mut Model) {
    let text = m.tr.f("notice.field_full", &[("max", &WHOIS_MAX)]);
    m.notice(NoticeKind::Info, text);
}

/// A paste into the field: cleaned (no control characters), cut at [`WHOIS_MAX`]; surrounding
/// whitespace (a copied line's newline) dropped. False when the popup is not Whois.
pub(super) fn paste(m: &mut Model, s: &str) -> bool {
    let Some(p) = top(m) else {
        return false;
    };
    if p.in_flight.is_some() || p.focus != Focus::Field(Field::Key) {
        return true;
    }
    let cleaned = zeroize::Zeroizing::new(clean(s.trim()).into_owned());
    let full = p.key.push_str(&cleaned);
    p.error = None;
    p.found = None;
    if full {
        full_notice(m);
    }
    true
}

/// Enter or `[Look up]`: the local check, then the request.
pub(super) fn lookup(m: &mut Model) -> Vec<Effect> {
    let not_a_key = m.tr.t("whois.not_a_key").to_string();
    let Some(p) = top(m) else {
        return Vec::new();
    };
    if p.in_flight.is_some() {
        return Vec::new();
    }
    p.found = None;
    if credential::parse(Kind::ApiKey, p.key.expose()).is_err() {
        // Format or checksum wrong: nothing is sent (API.md, whois: checksum first).
        p.error = Some(not_a_key);
        return Vec::new();
    }
    p.error = None;
    let secret = Secret::new(p.key.expose().to_string());
    let effect = call(m, ApiCall::Whois(secret));
    if let (Some(p), Effect::Call { id, .. }) = (top(m), &effect) {
        p.in_flight = Some(*id);
    }
    vec![effect]
}

/// The service's answer: whose it is, or why not in the page's words.
pub(super) fn on_answer(
    m: &mut Model,
    id: RequestId,
    result: Result<WhoisAnswer, ApiError>,
) -> Vec<Effect> {
    let Some((p, result)) = errors::answer_for(m, id, result, say, |p| match p {
        Popup::Whois(w) => Some(w),
        _ => None,
    }) else {
        return Vec::new();
    };
    match result {
        Ok(found) => {
            p.found = Some(found);
            p.error = None;
            p.focus = Focus::Button(Button::Open);
        }
        Err(msg) => p.error = Some(msg),
    }
    Vec::new()
}

/// Why a lookup found no owner: an unknown key in the popup's words, else the error's.
fn say(m: &Model, e: &ApiError) -> String {
    if e.code() == Some(ErrorCode::ApiKeyNotFound) {
        m.tr.t("whois.not_found").to_string()
    } else {
        errors::message(m, e)
    }
}

/// `[Open]`: every popup closes (the key is wiped), and the owner's API Key management opens
/// with the key's row selected.
pub(super) fn open_owner(m: &mut Model) -> Vec<Effect> {
    let Some(found) = top(m).and_then(|p| p.found.clone()) else {
        return Vec::new();
    };
    m.popups.clear();
    let key_id = found.api_key.id.clone();
    let service = m
        .services
        .list
        .iter()
        .flatten()
        .find(|s| s.id == found.service_id)
        .cloned();
    let Some(service) = service else {
        let text = m.tr.t("whois.service_unknown").to_string();
        m.notice(NoticeKind::Error, text);
        return super::refresh_services(m);
    };
    let mut out = open_service(m, service);
    out.extend(refresh_keys(m, Some(Want::Id(key_id))));
    out
}
