//! Rotate API Key (issue 8; docs/console.md, Rotate API Key): the grace the old key keeps, when it
//! stops, and for a rotation that stops it now the impact line. The successor is shown once in
//! the API Key copy popup, with every rule of that popup.

use super::answers::{offer_retry, owner, replace_at};
use super::form::{DIALOG, call_for_popup, impact};
use super::{Button, Choice, Dialog, Focus, Handlers, Popup, error, key_copy};
use crate::client::{ApiError, Issued};
use crate::console::format;
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::Model;
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::text::Tone;
use crate::console::update::usage::fetch_usage;
use crate::console::update::{errors, refresh_keys, selected_for, service_gone};
use crate::sanitize::clean;
use crate::wire::{ApiKey, ErrorCode, RotateApiKey, Timestamp};

/// The grace choices of a rotation, in seconds, as the popup offers them: Now, 1 hour,
/// 24 hours, 7 days (docs/console.md, Rotate API Key; docs/api.md allows 0 to 604800).
pub const GRACES: [u32; 4] = [0, 3_600, 86_400, 604_800];
/// The grace the Rotate popup starts on: 24 hours.
pub const GRACE_DEFAULT: usize = 2;

/// The Rotate API Key popup (issue 8).
#[derive(Debug)]
pub struct RotatePopup {
    pub service_id: String,
    pub key: ApiKey,
    /// Index into [`GRACES`].
    pub grace: usize,
    pub focus: Focus,
    /// Chosen when the popup opens and reused by every retry of this rotation, so that a retry
    /// after a lost answer gets the same successor (docs/api.md, Retry-safe issuance).
    pub idempotency_key: String,
    pub in_flight: Option<RequestId>,
}

const HANDLERS: Handlers = Handlers {
    press,
    choose,
    place,
    ..DIALOG
};

impl Dialog for RotatePopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        if self.key.leaked_and_stopped() {
            return &[Focus::Button(Button::Rotate), Focus::Button(Button::Cancel)];
        }
        &[
            Focus::Choice(Choice::Grace),
            Focus::Button(Button::Rotate),
            Focus::Button(Button::Cancel),
        ]
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
        Some(Button::Rotate)
    }

    fn chosen(&self, c: Choice) -> Option<usize> {
        (c == Choice::Grace && !self.key.leaked_and_stopped()).then_some(self.grace)
    }

    fn sent(&self, call: &ApiCall) -> bool {
        matches!(call, ApiCall::RotateKey { .. })
    }

    fn may_leave_a_key(&self) -> bool {
        true
    }
}

/// `R` (docs/console.md, Rotate API Key): the grace choice starts on 24 hours, with focus on it.
/// A key that is not active is still offered: the service's 409 says why, in the page's words.
pub fn open(m: &mut Model) -> Vec<Effect> {
    let Some((service_id, key)) = selected_for(m, "what.rotate") else {
        return Vec::new();
    };
    open_for(m, service_id, key)
}

/// The Rotate popup for `key` of `service_id`. A leaked key that is stopped is replaced at once
/// (docs/console.md, Leaked keys): no grace choice, the focus on `[Rotate]`, nothing to review.
pub fn open_for(m: &mut Model, service_id: String, key: ApiKey) -> Vec<Effect> {
    let leaked = key.leaked_and_stopped();
    // Fetched at once so that the impact line is ready when the grace is set to Now.
    let usage = if leaked {
        Vec::new()
    } else {
        fetch_usage(m, &service_id, &key.id, true)
    };
    m.popups.push(Popup::Rotate(RotatePopup {
        service_id,
        key,
        grace: if leaked { 0 } else { GRACE_DEFAULT },
        focus: if leaked {
            Focus::Button(Button::Rotate)
        } else {
            Focus::Choice(Choice::Grace)
        },
        idempotency_key: crate::client::new_idempotency_key(),
        in_flight: None,
    }));
    usage
}

/// A grace chosen (clamped to the last), by key or click; the focus goes to the choice. Frozen
/// while the rotation runs: what is being sent is what the popup shows.
fn choose(m: &mut Model, c: Choice, i: usize) {
    if let (Some(Popup::Rotate(p)), Choice::Grace) = (m.popups.last_mut(), c)
        && p.in_flight.is_none()
        && !p.key.leaked_and_stopped()
    {
        p.focus = Focus::Choice(c);
        p.grace = i.min(GRACES.len() - 1);
    }
}

/// `[Rotate]` (or Enter on the grace choice): POST the rotation with the popup's
/// Idempotency-Key, the same on every retry.
fn press(m: &mut Model, _b: Button) -> Vec<Effect> {
    let Some(Popup::Rotate(p)) = m.popups.last() else {
        return Vec::new();
    };
    // A leaked stopped key has no grace to give (docs/api.md, Rotating a leaked key).
    let grace = if p.key.leaked_and_stopped() {
        0
    } else {
        GRACES
            .get(p.grace)
            .copied()
            .unwrap_or(GRACES[GRACE_DEFAULT])
    };
    let c = ApiCall::RotateKey {
        service_id: p.service_id.clone(),
        key_id: p.key.id.clone(),
        body: RotateApiKey {
            grace_seconds: grace,
            ..RotateApiKey::default()
        },
        idempotency_key: p.idempotency_key.clone(),
    };
    call_for_popup(m, c)
}

/// A rotation answered (issue 8): on success the API Key copy popup for the successor, with
/// every rule of that popup; closing it refreshes the list onto the new row. A key that is not
/// active (409) is explained in the console's words; a lost answer offers the retry, which
/// reuses the popup's Idempotency-Key and so gets the same successor.
pub fn on_rotated(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<Issued, ApiError>,
) -> Vec<Effect> {
    let service_id = match &call {
        ApiCall::RotateKey { service_id, .. } => service_id.clone(),
        _ => String::new(),
    };
    match r {
        Ok(issued) => {
            key_copy::show(m, id, service_id, issued);
            Vec::new()
        }
        Err(e) if e.code() == Some(ErrorCode::ServiceNotFound) => service_gone(m),
        Err(e) if errors::retryable(&e) => offer_retry(m, id, &e, call),
        Err(e) => {
            let at = owner(m, id);
            let mut p = error::popup(m, &e, None);
            if e.code() == Some(ErrorCode::ApiKeyNotActive)
                && let Popup::Error(err) = &mut p
            {
                err.message = m.tr.t("rotate.not_active").to_string();
            }
            replace_at(m, at, p);
            // Whatever the key became (disabled, rotated elsewhere), the list shows it.
            refresh_keys(m, None)
        }
    }
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Rotate(p) = p else {
        return PopupLayout::default();
    };
    let tr = m.tr;
    let k = &p.key;
    // The name beside the key, when it has one.
    let name = k
        .name
        .as_deref()
        .map(|n| format!("  ({})", clean(n)))
        .unwrap_or_default();
    if k.leaked_and_stopped() {
        return place_leaked(m, p, name, screen);
    }
    let grace = GRACES.get(p.grace).copied().unwrap_or(0);
    // When the old key stops, if rotated now: exact to the second a reader needs.
    let ends = Timestamp::from_unix(m.now.unix() + i64::from(grace));
    let outcome = if grace == 0 {
        Part::Text(tr.t("rotate.now_caution").to_string(), Tone::Caution)
    } else {
        Part::Text(
            tr.f("rotate.ends", &[("at", &format::with_offset(ends, m.tz))]),
            Tone::Note,
        )
    };
    let options = ["rotate.now", "rotate.hour", "rotate.day", "rotate.week"]
        .iter()
        .map(|k| tr.t(k).to_string())
        .collect();
    let mut parts = vec![
        Part::Text(
            format!("{}: {}{}", tr.t("delete.key"), clean(&k.masked), name),
            Tone::Bold,
        ),
        Part::Text(tr.t("rotate.body").to_string(), Tone::Normal),
        Part::Blank,
        Part::Choice(
            Choice::Grace,
            tr.t("rotate.grace").to_string(),
            options,
            p.grace,
        ),
        outcome,
    ];
    // Only a rotation that stops the old key at once has an impact to review.
    if grace == 0 {
        parts.push(impact(m, &k.id));
    }
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("rotate.rotating"));
        parts.push(Part::Text(s, Tone::Dim));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(vec![Button::Rotate, Button::Cancel]));
    centered(m, p, (tr.t("rotate.title").to_string(), parts), screen.area)
}

/// The popup for a leaked stopped key: what happens, and the buttons; no grace, no impact line
/// (the key already refuses every call).
fn place_leaked(m: &Model, p: &RotatePopup, name: String, screen: &ScreenLayout) -> PopupLayout {
    let tr = m.tr;
    let mut parts = vec![
        Part::Text(
            format!("{}: {}{}", tr.t("delete.key"), clean(&p.key.masked), name),
            Tone::Bold,
        ),
        Part::Text(tr.t("rotate.leaked_body").to_string(), Tone::Caution),
    ];
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("rotate.rotating"));
        parts.push(Part::Text(s, Tone::Dim));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(vec![Button::Rotate, Button::Cancel]));
    centered(m, p, (tr.t("rotate.title").to_string(), parts), screen.area)
}
