//! The API Key copy popup (docs/console.md, Popups): the only time a new key is shown, in place of
//! the popup that asked for it (an issue or a rotation). `[Copy key]`; `[OK]` closes it, after
//! a confirmation when nothing was copied; closing wipes the key and shows the new masked row.

use crossterm::event::KeyEvent;

use super::answers::{owner, replace_at};
use super::confirm_close::ConfirmPopup;
use super::form::{self, DIALOG};
use super::{Button, Dialog, Focus, Handlers, Popup};
use crate::client::Issued;
use crate::console::expiry;
use crate::console::format;
use crate::console::keymap::Action;
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::{KeysFocus, Model, NoticeKind, Screen, Want};
use crate::console::msg::{CopyOutcome, Effect, RequestId};
use crate::console::text::Tone;
use crate::console::update::refresh_keys;
use crate::credential::Secret;
use crate::sanitize::clean;
use crate::wire::{ApiKey, IssuedKey};

/// Holds the only copy of the plaintext key; it is wiped when the popup is dropped.
#[derive(Debug)]
pub struct KeyCopyPopup {
    pub service_id: String,
    pub key: Secret,
    pub api_key: ApiKey,
    pub focus: Focus,
    pub copied: Option<CopyOutcome>,
}

const HANDLERS: Handlers = Handlers {
    key,
    press,
    place,
    ..DIALOG
};

impl Dialog for KeyCopyPopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        &[Focus::Button(Button::CopyKey), Focus::Button(Button::Ok)]
    }

    fn focus(&self) -> Option<Focus> {
        Some(self.focus)
    }

    fn set_focus(&mut self, f: Focus) {
        self.focus = f;
    }
}

/// The copy popup for a key just made (issued, or a rotation's successor), in place of the
/// popup that asked for it (request `id`), or on top when that popup has closed meanwhile.
pub fn show(m: &mut Model, id: RequestId, service_id: String, issued: Issued) {
    // Moved, not copied: the popup holds the only plaintext.
    let Issued {
        key: IssuedKey { api_key, key },
        ..
    } = issued;
    let popup = Popup::KeyCopy(KeyCopyPopup {
        service_id,
        key,
        api_key,
        focus: Focus::Button(Button::CopyKey),
        copied: None,
    });
    let at = owner(m, id);
    replace_at(m, at, popup);
}

/// The key of an issue or rotation abandoned with Esc (docs/console.md, A request abandoned
/// with Esc): still on its service, it waits for the popups to close and then opens as any new
/// key does; elsewhere, a notice names it, masked, so that it can be deleted.
pub fn arrived_late(m: &mut Model, service_id: String, issued: Issued) -> Vec<Effect> {
    m.late_keys.push((service_id, issued));
    let here = m.late_keys.last().is_some_and(|(s, _)| on_service(m, s));
    show_late(m);
    if !here {
        return Vec::new();
    }
    if !m.popups.is_empty()
        && let Some((_, waiting)) = m.late_keys.last()
    {
        let masked = clean(&waiting.key.api_key.masked).into_owned();
        m.notice(
            NoticeKind::Info,
            m.tr.f("notice.key_waiting", &[("masked", &masked)]),
        );
    }
    refresh_keys(m, None)
}

/// Whether API Key management of `service_id` is the screen showing.
fn on_service(m: &Model, service_id: &str) -> bool {
    m.screen == Screen::Keys && m.keys.as_ref().is_some_and(|k| k.service.id == service_id)
}

/// Late keys: one of the service showing opens once no popup is open; one of a service the admin
/// has left is named in a notice and wiped.
pub fn show_late(m: &mut Model) {
    if m.late_keys.is_empty() {
        return;
    }
    let (here, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut m.late_keys)
        .into_iter()
        .partition(|(s, _)| on_service(m, s));
    m.late_keys = here;
    for (service_id, issued) in gone {
        let masked = clean(&issued.key.api_key.masked).into_owned();
        let service = m
            .services
            .list
            .iter()
            .flatten()
            .find(|s| s.id == service_id)
            .map_or(service_id.clone(), |s| clean(&s.name).into_owned());
        // Dropped here: the plaintext is wiped, the masked key is what the admin can act on.
        drop(issued);
        m.notice(
            NoticeKind::Info,
            m.tr.f(
                "notice.key_left",
                &[("masked", &masked), ("service", &service)],
            ),
        );
        m.dirty = true;
    }
    if m.popups.is_empty() && !m.late_keys.is_empty() {
        let (service_id, issued) = m.late_keys.remove(0);
        let Issued {
            key: IssuedKey { api_key, key },
            ..
        } = issued;
        // The notice that said it was waiting is over once it shows.
        let masked = clean(&api_key.masked).into_owned();
        let waiting = m.tr.f("notice.key_waiting", &[("masked", &masked)]);
        if m.notice.as_ref().is_some_and(|n| n.text == waiting) {
            m.notice = None;
        }
        m.popups.push(Popup::KeyCopy(KeyCopyPopup {
            service_id,
            key,
            api_key,
            focus: Focus::Button(Button::CopyKey),
            copied: None,
        }));
        m.dirty = true;
    }
}

/// Esc is `[OK]`: the key is never dropped without the same question.
fn key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    match action {
        Some(Action::Cancel) => form::press(m, Button::Ok),
        _ => form::dialog_key(m, action, k),
    }
}

fn press(m: &mut Model, b: Button) -> Vec<Effect> {
    let Some(Popup::KeyCopy(p)) = m.popups.last() else {
        return Vec::new();
    };
    match b {
        Button::CopyKey => vec![Effect::Copy(p.key.clone())],
        // Only a copy that went somewhere counts; after a failed one, ask as before.
        _ if matches!(
            p.copied,
            Some(CopyOutcome::System { .. } | CopyOutcome::Osc52 { .. })
        ) =>
        {
            close(m)
        }
        _ => {
            m.popups.push(Popup::ConfirmClose(ConfirmPopup::new(close)));
            Vec::new()
        }
    }
}

/// What became of a copy: the copy popup says so.
pub fn on_copied(m: &mut Model, outcome: CopyOutcome) {
    if let Some(Popup::KeyCopy(p)) = m
        .popups
        .iter_mut()
        .rev()
        .find(|p| matches!(p, Popup::KeyCopy(_)))
    {
        p.copied = Some(outcome);
        m.dirty = true;
    }
}

/// The key popup closes: the key is dropped (wiped) and the list shows the new masked row.
fn close(m: &mut Model) -> Vec<Effect> {
    let Some(i) = m
        .popups
        .iter()
        .rposition(|p| matches!(p, Popup::KeyCopy(_)))
    else {
        return Vec::new();
    };
    let Popup::KeyCopy(p) = m.popups.remove(i) else {
        return Vec::new();
    };
    let masked = clean(&p.api_key.masked).into_owned();
    let id = p.api_key.id.clone();
    drop(p);
    m.notice(
        NoticeKind::Success,
        m.tr.f("notice.issued", &[("masked", &masked)]),
    );
    if let Some(k) = m.keys.as_mut() {
        k.focus = KeysFocus::Table;
    }
    refresh_keys(m, Some(Want::Id(id)))
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::KeyCopy(p) = p else {
        return PopupLayout::default();
    };
    let tr = m.tr;
    let mut parts = vec![
        Part::Text(tr.t("copy.intro").to_string(), Tone::Normal),
        Part::Secret,
        Part::Text(copy_expiry(m, p.api_key.expires_at), Tone::Normal),
        Part::Blank,
        Part::Text(tr.t("copy.caution").to_string(), Tone::Caution),
    ];
    if let Some(outcome) = &p.copied {
        parts.push(copied(m, outcome));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(vec![Button::CopyKey, Button::Ok]));
    centered(m, p, (tr.t("copy.title").to_string(), parts), screen.area)
}

/// What became of the copy, in the popup's words.
fn copied(m: &Model, outcome: &CopyOutcome) -> Part {
    let tr = m.tr;
    let (s, tone) = match outcome {
        CopyOutcome::System {
            clear_after_secs: 0,
        } => (
            tr.t("copy.copied_system_no_clear").to_string(),
            Tone::Success,
        ),
        CopyOutcome::System { clear_after_secs } => (
            tr.f("copy.copied_system", &[("secs", clear_after_secs)]),
            Tone::Success,
        ),
        CopyOutcome::Osc52 {
            fallback,
            tmux,
            screen,
        } => {
            let mut s = match fallback {
                None => tr.t("copy.copied_osc52").to_string(),
                Some(why) => tr.f("copy.copied_osc52_fallback", &[("reason", &clean(why))]),
            };
            // Inside both, screen is the nearer one: it is what the bytes were wrapped for.
            if *screen {
                s.push(' ');
                s.push_str(tr.t("copy.screen_osc52"));
            } else if *tmux {
                s.push(' ');
                s.push_str(tr.t("copy.tmux_osc52"));
            }
            (s, Tone::Success)
        }
        CopyOutcome::Disabled => (tr.t("copy.copy_disabled").to_string(), Tone::Error),
        CopyOutcome::Failed(why) => (
            tr.f("copy.copy_failed", &[("reason", &clean(why))]),
            Tone::Error,
        ),
    };
    Part::Text(s, tone)
}

/// `Expires: 2026-12-26 14:43:12 (UTC+09:00), in 30 d` or `Expires: never`, under the key.
fn copy_expiry(m: &Model, at: Option<crate::wire::Timestamp>) -> String {
    match at {
        None => m.tr.t("expiry.copy_never").to_string(),
        Some(at) => m.tr.f(
            "expiry.copy_at",
            &[
                ("at", &format::with_offset(at, m.tz)),
                ("left", &expiry::time_left(m.tr, at, m.now)),
            ],
        ),
    }
}
