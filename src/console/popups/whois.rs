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
use crate::wire::{ErrorCode, LeakAnswer, WhoisAnswer};
use tui_input::Input;

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
    /// Where the key was found, once `[Disable it: it leaked]` asks (docs/console.md, Leaked
    /// keys); None before.
    pub url: Option<Input>,
    /// Whether the admin may report a leak (a manager), as known when the popup opened.
    pub may_report: bool,
}

/// The most characters the Where was it found? field takes: any real URL, far below the
/// service's body limit.
pub const URL_MAX: usize = 2048;

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
        if self.url.is_some() {
            return &[Fld(Field::Url), Btn(Button::Disable), Btn(Button::Cancel)];
        }
        if self.offers_leak() {
            return &[
                Fld(Field::Key),
                Btn(Button::Lookup),
                Btn(Button::Open),
                Btn(Button::Leak),
                Btn(Button::Cancel),
            ];
        }
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
        if self.url.is_some() {
            Some(Button::Disable)
        } else {
            Some(Button::Lookup)
        }
    }

    fn input(&self, f: Field) -> Option<&Input> {
        self.url.as_ref().filter(|_| f == Field::Url)
    }

    fn input_mut(&mut self, f: Field) -> Option<&mut Input> {
        self.url.as_mut().filter(|_| f == Field::Url)
    }

    fn field_max(&self, _f: Field) -> usize {
        URL_MAX
    }

    fn sent(&self, call: &ApiCall) -> bool {
        matches!(call, ApiCall::Whois(_) | ApiCall::ReportLeak { .. })
    }
}

impl WhoisPopup {
    /// Whether the found key may be reported leaked: a key that exists and is not already
    /// leaked and stopped, for a manager.
    fn offers_leak(&self) -> bool {
        self.may_report
            && self
                .found
                .as_ref()
                .is_some_and(|w| !w.api_key.leaked_and_stopped())
    }
}

/// Whether the popup ends with `[Disable it: it leaked]`: a live key, for a manager.
pub fn offers_leak(m: &Model, p: &WhoisPopup) -> bool {
    m.can_manage() && p.offers_leak()
}

/// `w`: the popup, focus in its field.
pub fn open(m: &mut Model) -> Vec<Effect> {
    let may_report = m.can_manage();
    m.popups.push(Popup::Whois(WhoisPopup {
        key: TypedKey::default(),
        error: None,
        found: None,
        focus: Focus::Field(Field::Key),
        in_flight: None,
        url: None,
        may_report,
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
    let on_key = matches!(top(m), Some(p) if p.focus == Focus::Field(Field::Key));
    if m.context() == Context::Field && on_key {
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
    if p.focus == Focus::Field(Field::Url) {
        // Where it was found: cleaned of control characters like every pasted text.
        form::paste(m, s);
        return;
    }
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
        Button::Leak => ask_url(m),
        Button::Disable => report(m),
        _ => lookup(m),
    }
}

/// `[Disable it: it leaked]`: the popup asks where the key was found (optional), the focus in
/// that field; `[Disable]` then reports it.
fn ask_url(m: &mut Model) -> Vec<Effect> {
    let allowed = m.can_manage();
    if let Some(p) = top(m)
        && allowed
        && p.offers_leak()
    {
        p.url = Some(Input::default());
        p.error = None;
        p.focus = Focus::Field(Field::Url);
    }
    Vec::new()
}

/// `[Disable]` (or Enter in the field): `POST /v1/leaks` with the key and the URL, if given.
fn report(m: &mut Model) -> Vec<Effect> {
    let allowed = m.can_manage();
    let Some(p) = top(m) else {
        return Vec::new();
    };
    if p.in_flight.is_some() || !allowed || !p.offers_leak() {
        return Vec::new();
    }
    let url = p
        .url
        .as_ref()
        .map(|i| i.value().trim().to_string())
        .filter(|u| !u.is_empty());
    let key = Secret::new(p.key.expose().to_string());
    let effect = call(m, ApiCall::ReportLeak { key, url });
    if let (Some(p), Effect::Call { id, .. }) = (top(m), &effect) {
        p.in_flight = Some(*id);
    }
    vec![effect]
}

/// A report answered: the popup closes (the key is wiped), the footer says the key is
/// disabled, and the list shows it (docs/console.md, Leaked keys). A refusal stays in the
/// popup in its words; a lost connection offers the retry, which changes nothing twice.
pub fn on_leaked(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    result: Result<LeakAnswer, ApiError>,
) -> Vec<Effect> {
    if let Err(e) = &result
        && errors::retryable(e)
        && super::answers::owner(m, id).is_some()
    {
        return super::answers::offer_retry(m, id, e, call);
    }
    let at = super::answers::owner(m, id);
    let Some((p, result)) = answer_for(m, id, result, say, |p| match p {
        Popup::Whois(w) => Some(w),
        _ => None,
    }) else {
        return Vec::new();
    };
    match result {
        Ok(answer) => {
            let key = answer.api_key;
            if let Some(i) = at {
                m.popups.truncate(i);
            }
            m.services.attention.insert(answer.service_id.clone(), true);
            let text = m.tr.f("whois.leaked", &[("masked", &clean(&key.masked))]);
            m.notice(NoticeKind::Success, text);
            let here = m
                .keys
                .as_ref()
                .is_some_and(|k| k.service.id == answer.service_id);
            let want = here.then_some(Want::Id(key.id));
            let mut out = refresh_keys(m, want);
            out.extend(refresh_services(m));
            out
        }
        Err(msg) => {
            p.error = Some(msg);
            Vec::new()
        }
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
    if p.in_flight.is_some() && p.url.is_none() {
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
        let state = crate::console::lifecycle::state_cell(
            tr,
            k,
            std::slice::from_ref(k),
            (m.now, m.tz),
            m.monochrome(),
        );
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
    if p.url.is_some() {
        // docs/console.md, Leaked keys: what a report does, then where it was found.
        parts.push(Part::Text(
            tr.t("whois.leak_body").to_string(),
            Tone::Caution,
        ));
        parts.push(Part::Field(Field::Url, tr.t("whois.url").to_string()));
        if p.in_flight.is_some() {
            let s = format!("{} {}", m.spinner_frame(), tr.t("whois.reporting"));
            parts.push(Part::Text(s, Tone::Dim));
        }
        parts.push(Part::Blank);
    }
    let buttons = if p.url.is_some() {
        vec![Button::Disable, Button::Cancel]
    } else if offers_leak(m, p) {
        vec![Button::Lookup, Button::Open, Button::Leak, Button::Cancel]
    } else if p.found.is_some() {
        vec![Button::Lookup, Button::Open, Button::Cancel]
    } else {
        vec![Button::Lookup, Button::Cancel]
    };
    parts.push(Part::Buttons(buttons));
    centered(m, p, (tr.t("whois.title").to_string(), parts), screen.area)
}
