//! Rename (issue 8; docs/console.md, Rename): the key's Name, prefilled; `[Save]` or Enter sends
//! the PATCH, and an empty name clears it (`name: null`). The service's refusal shows under
//! the field, the popup kept open.

use tui_input::Input;

use super::answers::{close_and_refresh, offer_retry, owner};
use super::delete::refused_update;
use super::form::{DIALOG, call_for_popup, key_name_error};
use super::{Button, Dialog, Field, Focus, Handlers, Popup};
use crate::client::ApiError;
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::{Model, NoticeKind, Want};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::text::Tone;
use crate::console::update::{errors, selected_for, service_gone};
use crate::sanitize::clean;
use crate::wire::{ApiKey, ErrorCode, UpdateApiKey};

/// The Rename popup (issue 8): the key's Name, prefilled; an empty name clears it.
#[derive(Debug)]
pub struct RenamePopup {
    pub service_id: String,
    pub key: ApiKey,
    pub name: Input,
    /// Inline validation, or the service's refusal of the PATCH.
    pub name_error: Option<String>,
    pub focus: Focus,
    pub in_flight: Option<RequestId>,
}

const HANDLERS: Handlers = Handlers {
    press,
    revalidate,
    place,
    ..DIALOG
};

impl Dialog for RenamePopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        &[
            Focus::Field(Field::Name),
            Focus::Button(Button::Save),
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

    fn input(&self, f: Field) -> Option<&Input> {
        (f == Field::Name).then_some(&self.name)
    }

    fn input_mut(&mut self, f: Field) -> Option<&mut Input> {
        (f == Field::Name).then_some(&mut self.name)
    }

    fn main_button(&self) -> Option<Button> {
        Some(Button::Save)
    }

    fn sent(&self, call: &ApiCall) -> bool {
        matches!(call, ApiCall::UpdateKey { .. })
    }
}

/// `e` (docs/console.md, Rename): the Name field prefilled with the key's name, cursor at its end.
pub fn open(m: &mut Model) -> Vec<Effect> {
    let Some((service_id, key)) = selected_for(m, "what.rename") else {
        return Vec::new();
    };
    // The name as the row shows it: cleaned of what the console never draws.
    let name = key
        .name
        .as_deref()
        .map(|n| clean(n).into_owned())
        .unwrap_or_default();
    m.popups.push(Popup::Rename(RenamePopup {
        service_id,
        key,
        name: Input::new(name),
        name_error: None,
        focus: Focus::Field(Field::Name),
        in_flight: None,
    }));
    Vec::new()
}

/// Inline validation as the user types.
fn revalidate(m: &mut Model, _f: Field) {
    let Some(Popup::Rename(p)) = m.popups.last() else {
        return;
    };
    let err = key_name_error(m, p.name.value());
    if let Some(Popup::Rename(p)) = m.popups.last_mut() {
        p.name_error = err;
    }
}

/// `[Save]` (or Enter) on Rename: PATCH the name; an empty field clears it (`name: null`).
fn press(m: &mut Model, _b: Button) -> Vec<Effect> {
    let Some(Popup::Rename(p)) = m.popups.last() else {
        return Vec::new();
    };
    let name = p.name.value().trim().to_string();
    let name_error = key_name_error(m, &name);
    let c = ApiCall::UpdateKey {
        service_id: p.service_id.clone(),
        key_id: p.key.id.clone(),
        body: UpdateApiKey {
            name: Some((!name.is_empty()).then_some(name)),
            ..Default::default()
        },
    };
    if let Some(Popup::Rename(p)) = m.popups.last_mut() {
        p.name_error = name_error;
        if p.name_error.is_some() {
            p.focus = Focus::Field(Field::Name);
            return Vec::new();
        }
    }
    call_for_popup(m, c)
}

/// The PATCH of a name answered: the popup closes and the footer says the new name, or the
/// refusal shows under the field.
pub fn on_renamed(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<ApiKey, ApiError>,
) -> Vec<Effect> {
    let at = owner(m, id);
    match r {
        Ok(key) => {
            let masked = clean(&key.masked).into_owned();
            let text = match key.name.as_deref() {
                Some(name) => m.tr.f(
                    "rename.renamed",
                    &[("masked", &masked), ("name", &clean(name))],
                ),
                None => m.tr.f("rename.cleared", &[("masked", &masked)]),
            };
            close_and_refresh(m, at, NoticeKind::Success, text, Want::Id(key.id))
        }
        Err(e) if e.code() == Some(ErrorCode::ServiceNotFound) => service_gone(m),
        Err(e) if errors::retryable(&e) => offer_retry(m, id, &e, call),
        Err(e) => {
            // Rename shows the service's refusal under its field, the popup kept open.
            let msg = errors::message(m, &e);
            if let Some(Popup::Rename(p)) = at.and_then(|i| m.popups.get_mut(i)) {
                p.in_flight = None;
                p.focus = Focus::Field(Field::Name);
                p.name_error = Some(msg);
                return Vec::new();
            }
            refused_update(m, at, &e)
        }
    }
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Rename(p) = p else {
        return PopupLayout::default();
    };
    let tr = m.tr;
    let mut parts = vec![
        Part::Text(
            format!("{}: {}", tr.t("delete.key"), clean(&p.key.masked)),
            Tone::Bold,
        ),
        Part::Text(tr.t("rename.body").to_string(), Tone::Normal),
        Part::Blank,
        Part::Field(Field::Name, tr.t("rename.name").to_string()),
    ];
    if let Some(e) = &p.name_error {
        parts.push(Part::Text(e.clone(), Tone::Error));
    }
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("rename.saving"));
        parts.push(Part::Text(s, Tone::Dim));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(vec![Button::Save, Button::Cancel]));
    centered(m, p, (tr.t("rename.title").to_string(), parts), screen.area)
}
