//! Who owns this key? (issue 9; docs/console.md, Popups): `w` from any screen; a field that takes a
//! typed or pasted key and shows it only as dots; the format and checksum checked here first
//! (no request for what is not a ragkeys API key); then `POST /v1/whois`; `[Open]` goes to the
//! owner's API Key management with the key selected. Closing the popup wipes the key.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::answers::answer_for;
use super::form::{self, DIALOG, cycle_focus};
use super::{Button, Dialog, Field, Focus, Handlers, Popup};
use crate::client::ApiError;
use crate::console::format;
use crate::console::keymap::{Action, Context};
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::{Model, NoticeKind, Want};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::text::Tone;
use crate::console::update::{call, errors, open_service, refresh_keys, refresh_services};
use crate::credential::{self, Kind, Secret};
use crate::sanitize::clean;
use crate::wire::{ErrorCode, WhoisAnswer};

/// The most characters the Who owns this key? field takes (an API key is 41); a longer paste
/// is cut, and the field never grows past its first allocation.
pub const WHOIS_MAX: usize = 64;

/// The typed or pasted key of Who owns this key?: allocated once at [`WHOIS_MAX`] bytes so that
/// no reallocation leaves a copy behind, wiped when dropped (the popup closes), never in Debug.
pub struct TypedKey(zeroize::Zeroizing<String>);

impl Default for TypedKey {
    fn default() -> Self {
        TypedKey(zeroize::Zeroizing::new(String::with_capacity(
            WHOIS_MAX * 4,
        )))
    }
}

impl TypedKey {
    /// Appends what fits of `text` (control characters already removed); true when cut.
    pub fn push_str(&mut self, text: &str) -> bool {
        let mut cut = false;
        for c in text.chars() {
            if self.0.chars().count() >= WHOIS_MAX {
                cut = true;
                break;
            }
            self.0.push(c);
        }
        cut
    }

    /// Removes the last character (Backspace).
    pub fn pop(&mut self) {
        self.0.pop();
    }

    /// Wipes the text in place, keeping the allocation.
    pub fn clear(&mut self) {
        zeroize::Zeroize::zeroize(&mut *self.0);
        self.0.reserve(WHOIS_MAX * 4);
    }

    /// The typed text, for the local check and the request only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Characters typed: what the dots show.
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    /// Whether nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for TypedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[redacted; {} chars]", self.len())
    }
}

/// Who owns this key? (issue 9; docs/console.md, Popups): the key is checked locally first (format
/// and checksum), then looked up by `POST /v1/whois`.
#[derive(Debug)]
pub struct WhoisPopup {
    pub key: TypedKey,
    /// `not a ragkeys API key`, or the service's refusal in the page's words.
    pub error: Option<String>,
    pub found: Option<WhoisAnswer>,
    pub focus: Focus,
    pub in_flight: Option<RequestId>,
}

const HANDLERS: Handlers = Handlers {
    key,
    press,
    paste,
    place,
    ..DIALOG
};

impl Dialog for WhoisPopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        use Focus::{Button as Btn, Field as Fld};
        if self.found.is_some() {
            &[
                Fld(Field::Key),
                Btn(Button::Lookup),
                Btn(Button::Open),
                Btn(Button::Cancel),
            ]
        } else {
            &[Fld(Field::Key), Btn(Button::Lookup), Btn(Button::Cancel)]
        }
    }

    fn focus(&self) -> Option<Focus> {
        Some(self.focus)
    }

    fn set_focus(&mut self, f: Focus) {
        self.focus = f;
    }

    fn in_flight(&self) -> Option<RequestId> {
        self.in_flight
    }

    fn set_in_flight(&mut self, id: Option<RequestId>) {
        self.in_flight = id;
    }

    fn main_button(&self) -> Option<Button> {
        Some(Button::Lookup)
    }
}

/// `w`: the popup, focus in its field.
pub fn open(m: &mut Model) -> Vec<Effect> {
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

/// Keys in the field go to [`field_key`]; elsewhere as in every dialog.
fn key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    if m.context() == Context::Field {
        field_key(m, action, k)
    } else {
        form::dialog_key(m, action, k)
    }
}

/// Keys while the field has the focus: Enter looks up, Tab/Esc as everywhere, Backspace and
/// Ctrl-U edit, printable characters are added (an earlier answer no longer applies).
fn field_key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    match action {
        Some(Action::Submit) => return lookup(m),
        Some(a @ (Action::NextFocus | Action::PrevFocus | Action::Cancel)) => {
            return form::button_key(m, Some(a));
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
        form::field_full_notice(m, WHOIS_MAX);
    }
    Vec::new()
}

/// A paste into the field: cleaned (no control characters), cut at [`WHOIS_MAX`]; surrounding
/// whitespace (a copied line's newline) dropped.
fn paste(m: &mut Model, s: &str) {
    let Some(p) = top(m) else {
        return;
    };
    if p.in_flight.is_some() || p.focus != Focus::Field(Field::Key) {
        return;
    }
    let cleaned = zeroize::Zeroizing::new(clean(s.trim()).into_owned());
    let full = p.key.push_str(&cleaned);
    p.error = None;
    p.found = None;
    if full {
        form::field_full_notice(m, WHOIS_MAX);
    }
}

fn press(m: &mut Model, b: Button) -> Vec<Effect> {
    match b {
        Button::Open => open_owner(m),
        _ => lookup(m),
    }
}

/// Enter or `[Look up]`: the local check, then the request.
fn lookup(m: &mut Model) -> Vec<Effect> {
    let not_a_key = m.tr.t("whois.not_a_key").to_string();
    let Some(p) = top(m) else {
        return Vec::new();
    };
    if p.in_flight.is_some() {
        return Vec::new();
    }
    p.found = None;
    if credential::parse(Kind::ApiKey, p.key.expose()).is_err() {
        // Format or checksum wrong: nothing is sent (docs/api.md, whois: checksum first).
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
pub fn on_answer(
    m: &mut Model,
    id: RequestId,
    result: Result<WhoisAnswer, ApiError>,
) -> Vec<Effect> {
    let Some((p, result)) = answer_for(m, id, result, say, |p| match p {
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
fn open_owner(m: &mut Model) -> Vec<Effect> {
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
        return refresh_services(m);
    };
    let mut out = open_service(m, service);
    out.extend(refresh_keys(m, Some(Want::Id(key_id))));
    out
}

/// The key as dots only (its length), then the error or whose it is; every string from the
/// service cleaned.
fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Whois(p) = p else {
        return PopupLayout::default();
    };
    let tr = m.tr;
    let focused = p.focus == Focus::Field(Field::Key);
    let dots = "•".repeat(p.key.len());
    let cursor = if focused { "▏" } else { "" };
    let count = if p.key.is_empty() {
        String::new()
    } else {
        format!("  ({})", p.key.len())
    };
    let mut parts = vec![
        Part::Text(tr.t("whois.body").to_string(), Tone::Normal),
        Part::Blank,
        Part::Text(
            format!("{}: {dots}{cursor}{count}", tr.t("whois.key")),
            if focused { Tone::Bold } else { Tone::Normal },
        ),
        Part::Blank,
    ];
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("whois.looking"));
        parts.push(Part::Text(s, Tone::Dim));
    } else if let Some(e) = &p.error {
        parts.push(Part::Text(e.clone(), Tone::Error));
    } else if let Some(w) = &p.found {
        let k = &w.api_key;
        let name = k
            .name
            .as_deref()
            .map(|n| clean(n).into_owned())
            .unwrap_or_else(|| tr.t("delete.no_name").to_string());
        let state =
            crate::console::lifecycle::state_label(tr, k, std::slice::from_ref(k), m.now, m.tz);
        let rows = [
            (
                "whois.service",
                format!("{} ({})", clean(&w.service_name), clean(&w.service_id)),
            ),
            ("whois.masked", clean(&k.masked).into_owned()),
            ("whois.name", name),
            ("whois.state", state),
            ("whois.access", crate::console::access::cell(k)),
            ("whois.created", format::with_offset(k.created_at, m.tz)),
            (
                "whois.last_used",
                format::last_used(tr, m.now, k.last_used_at),
            ),
        ];
        for (label, value) in rows {
            parts.push(Part::Text(
                format!("{}: {value}", tr.t(label)),
                Tone::Normal,
            ));
        }
    }
    parts.push(Part::Blank);
    let buttons = if p.found.is_some() {
        vec![Button::Lookup, Button::Open, Button::Cancel]
    } else {
        vec![Button::Lookup, Button::Cancel]
    };
    parts.push(Part::Buttons(buttons));
    centered(m, p, (tr.t("whois.title").to_string(), parts), screen.area)
}
