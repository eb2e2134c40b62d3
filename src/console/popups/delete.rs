//! Delete API Key, and Disable API Key (issue 8), the same confirmation (docs/console.md, Popups):
//! the key, its name and creation, the caution, the impact line (its recent use), Cancel
//! focused. `x` on a disabled key enables it at once, without a popup; its answer lands here.

use super::answers::{close_and_refresh, offer_retry, owner, replace_at};
use super::form::{DIALOG, call_for_popup, impact};
use super::{Button, Dialog, Focus, Handlers, Popup, error};
use crate::client::ApiError;
use crate::console::format;
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::{Model, NoticeKind, Want};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::text::Tone;
use crate::console::update::usage::fetch_usage;
use crate::console::update::{call, errors, refresh_keys, selected_for, service_gone};
use crate::sanitize::clean;
use crate::wire::{ApiKey, ErrorCode, KeyState, UpdateApiKey};

/// The confirmation of a delete, or of a disable.
#[derive(Debug)]
pub struct DeletePopup {
    pub service_id: String,
    pub key: ApiKey,
    /// The Disable API Key popup (issue 8): the same confirmation, `[Disable]` instead of
    /// `[Delete]`, and the caution that callers get 401 until the key is enabled again.
    pub disable: bool,
    /// The confirmation of enabling a leaked key (docs/console.md, Leaked keys): it names the
    /// leak; `[Enable]`, Cancel focused.
    pub enable: bool,
    pub focus: Focus,
    pub in_flight: Option<RequestId>,
}

const HANDLERS: Handlers = Handlers {
    press,
    place,
    ..DIALOG
};

impl Dialog for DeletePopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        use Focus::Button as B;
        if self.enable {
            &[B(Button::Enable), B(Button::Cancel)]
        } else if self.disable {
            &[B(Button::Disable), B(Button::Cancel)]
        } else {
            &[B(Button::Delete), B(Button::Cancel)]
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

    fn sent(&self, call: &ApiCall) -> bool {
        matches!(call, ApiCall::DeleteKey { .. } | ApiCall::UpdateKey { .. })
    }
}

/// `d` or the menu's Delete: the confirmation, Cancel focused.
pub fn open(m: &mut Model) -> Vec<Effect> {
    let Some((service_id, key)) = selected_for(m, "what.delete") else {
        return Vec::new();
    };
    // The impact line (issue 9) wants the key's recent use.
    let usage = fetch_usage(m, &service_id, &key.id, true);
    m.popups.push(Popup::Delete(DeletePopup {
        service_id,
        key,
        disable: false,
        enable: false,
        focus: Focus::Button(Button::Cancel),
        in_flight: None,
    }));
    usage
}

/// `x` (docs/console.md, Keys): a disabled key is enabled at once; any other key is disabled after
/// the Disable API Key popup (Cancel focused), as a delete is confirmed.
pub fn toggle_enabled(m: &mut Model) -> Vec<Effect> {
    let Some((service_id, key)) = selected_for(m, "what.toggle") else {
        return Vec::new();
    };
    let tr = m.tr;
    if key.state == KeyState::Disabled && key.leak.is_some() {
        m.popups.push(Popup::Delete(DeletePopup {
            service_id,
            key,
            disable: false,
            enable: true,
            focus: Focus::Button(Button::Cancel),
            in_flight: None,
        }));
        return Vec::new();
    }
    if key.state == KeyState::Disabled {
        m.notice(NoticeKind::Info, tr.t("disable.enabling").to_string());
        let body = UpdateApiKey {
            enabled: Some(true),
            ..Default::default()
        };
        return vec![call(
            m,
            ApiCall::UpdateKey {
                service_id,
                key_id: key.id,
                body,
            },
        )];
    }
    let usage = fetch_usage(m, &service_id, &key.id, true);
    m.popups.push(Popup::Delete(DeletePopup {
        service_id,
        key,
        disable: true,
        enable: false,
        focus: Focus::Button(Button::Cancel),
        in_flight: None,
    }));
    usage
}

/// `[Delete]` or `[Disable]`.
fn press(m: &mut Model, _b: Button) -> Vec<Effect> {
    let Some(Popup::Delete(p)) = m.popups.last() else {
        return Vec::new();
    };
    let c = if p.enable {
        ApiCall::UpdateKey {
            service_id: p.service_id.clone(),
            key_id: p.key.id.clone(),
            body: UpdateApiKey {
                enabled: Some(true),
                ..Default::default()
            },
        }
    } else if p.disable {
        ApiCall::UpdateKey {
            service_id: p.service_id.clone(),
            key_id: p.key.id.clone(),
            body: UpdateApiKey {
                enabled: Some(false),
                ..Default::default()
            },
        }
    } else {
        ApiCall::DeleteKey {
            service_id: p.service_id.clone(),
            key_id: p.key.id.clone(),
        }
    };
    call_for_popup(m, c)
}

/// A delete answered (from this popup, or from an error popup's `[Delete]` of an orphaned
/// key): the popup closes and the list refreshes with the selection at the same place.
pub fn on_deleted(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<(), ApiError>,
) -> Vec<Effect> {
    let at = owner(m, id);
    // Named as the row shows it; an orphaned key (no row, no Delete popup) by its id.
    let masked = match (at.and_then(|i| m.popups.get(i)), &call) {
        (Some(Popup::Delete(p)), _) => clean(&p.key.masked).into_owned(),
        (_, ApiCall::DeleteKey { key_id, .. }) => m
            .keys
            .as_ref()
            .and_then(|k| k.keys().iter().find(|x| &x.id == key_id))
            .map_or_else(
                || clean(key_id).into_owned(),
                |x| clean(&x.masked).into_owned(),
            ),
        _ => String::new(),
    };
    // After a delete the selection stays at the same place: the next row, or the last.
    let index = m.keys.as_ref().map_or(0, |k| k.selected);
    match r {
        Ok(()) => {
            let text = m.tr.f("notice.deleted", &[("masked", &masked)]);
            close_and_refresh(m, at, NoticeKind::Success, text, Want::Index(index))
        }
        Err(e) if e.code() == Some(ErrorCode::ApiKeyNotFound) => {
            let text = m.tr.t("error.key_not_found").to_string();
            close_and_refresh(m, at, NoticeKind::Info, text, Want::Index(index))
        }
        Err(e) if e.code() == Some(ErrorCode::ServiceNotFound) => service_gone(m),
        Err(e) if errors::retryable(&e) => offer_retry(m, id, &e, call),
        Err(e) => {
            let p = error::popup(m, &e, None);
            replace_at(m, at, p);
            Vec::new()
        }
    }
}

/// A disable or enable answered (issue 8): the popup that asked closes, the footer says what
/// happened, and the list refreshes with the key still selected.
pub fn on_toggled(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<ApiKey, ApiError>,
) -> Vec<Effect> {
    let at = owner(m, id);
    match r {
        Ok(key) => {
            let what = if key.state == KeyState::Disabled {
                "disable.disabled"
            } else {
                "disable.enabled"
            };
            let masked = clean(&key.masked).into_owned();
            let text = m.tr.f(what, &[("masked", &masked)]);
            close_and_refresh(m, at, NoticeKind::Success, text, Want::Id(key.id))
        }
        Err(e) if e.code() == Some(ErrorCode::ServiceNotFound) => service_gone(m),
        Err(e) if errors::retryable(&e) => offer_retry(m, id, &e, call),
        Err(e) => refused_update(m, at, &e),
    }
}

/// A PATCH refused for good: an error popup in place of the popup that asked, and the list
/// again (whatever the key became, it shows it).
pub fn refused_update(m: &mut Model, at: Option<usize>, e: &ApiError) -> Vec<Effect> {
    let p = error::popup(m, e, None);
    replace_at(m, at, p);
    let index = m.keys.as_ref().map_or(0, |k| k.selected);
    refresh_keys(m, Some(Want::Index(index)))
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Delete(p) = p else {
        return PopupLayout::default();
    };
    if p.enable {
        return place_enable(m, p, screen);
    }
    let tr = m.tr;
    let k = &p.key;
    let name = k
        .name
        .as_deref()
        .map(|n| clean(n).into_owned())
        .unwrap_or_else(|| tr.t("delete.no_name").to_string());
    let mut parts = vec![
        Part::Text(
            format!("{}: {}", tr.t("delete.key"), clean(&k.masked)),
            Tone::Bold,
        ),
        Part::Text(format!("{}: {}", tr.t("delete.name"), name), Tone::Normal),
        Part::Text(
            format!(
                "{}: {}",
                tr.t("delete.created"),
                format::with_offset(k.created_at, m.tz)
            ),
            Tone::Normal,
        ),
        Part::Blank,
    ];
    let (title, caution, busy, main) = if p.disable {
        (
            "disable.title",
            "disable.caution",
            "disable.disabling",
            Button::Disable,
        )
    } else {
        (
            "delete.title",
            "delete.caution",
            "delete.deleting",
            Button::Delete,
        )
    };
    parts.push(Part::Text(tr.t(caution).to_string(), Tone::Caution));
    parts.push(impact(m, &k.id));
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t(busy));
        parts.push(Part::Text(s, Tone::Dim));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(vec![main, Button::Cancel]));
    centered(m, p, (tr.t(title).to_string(), parts), screen.area)
}

/// The leak in one sentence: by whom, when, and where when known (cleaned of control
/// characters), ending in the question (docs/console.md, Leaked keys).
pub fn leak_question(m: &Model, k: &ApiKey) -> String {
    let Some(leak) = &k.leak else {
        return String::new();
    };
    let by = clean(&leak.by);
    let at = format::with_offset(leak.reported_at, m.tz);
    match leak.url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => m.tr.f(
            "disable.leaked_at",
            &[("by", &by), ("at", &at), ("url", &clean(url))],
        ),
        None => m.tr.f("disable.leaked", &[("by", &by), ("at", &at)]),
    }
}

/// Enabling a leaked key: the key, the leak named, what enabling it means, Cancel focused.
fn place_enable(m: &Model, p: &DeletePopup, screen: &ScreenLayout) -> PopupLayout {
    let tr = m.tr;
    let k = &p.key;
    let name = k
        .name
        .as_deref()
        .map(|n| format!("  ({})", clean(n)))
        .unwrap_or_default();
    let mut parts = vec![
        Part::Text(
            format!("{}: {}{name}", tr.t("delete.key"), clean(&k.masked)),
            Tone::Bold,
        ),
        Part::Blank,
        Part::Text(leak_question(m, k), Tone::Caution),
        Part::Text(tr.t("disable.enable_caution").to_string(), Tone::Normal),
    ];
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("disable.enabling"));
        parts.push(Part::Text(s, Tone::Dim));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(vec![Button::Enable, Button::Cancel]));
    centered(
        m,
        p,
        (tr.t("disable.enable_title").to_string(), parts),
        screen.area,
    )
}
