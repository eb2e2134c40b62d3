//! Create service (docs/console.md, Popups): a name and a description, checked as the service checks
//! them while typing; `[Create]` sends them once. A name taken or refused shows under the field.

use tui_input::Input;

use super::answers::{clear_owner, owner, replace_at};
use super::form::{DIALOG, call_for_popup, description_error, service_name_error};
use super::{Button, Dialog, Field, Focus, Handlers, Popup, error};
use crate::client::ApiError;
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::{Model, NoticeKind, ServicesFocus};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::text::Tone;
use crate::console::update::{errors, refresh_services, viewer_notice};
use crate::sanitize::clean;
use crate::wire::{CreateService, ErrorCode, Service, limits};

/// The Create service form.
#[derive(Debug)]
pub struct CreateServicePopup {
    pub name: Input,
    pub description: Input,
    pub name_error: Option<String>,
    pub description_error: Option<String>,
    pub focus: Focus,
    pub in_flight: Option<RequestId>,
}

const HANDLERS: Handlers = Handlers {
    press,
    revalidate,
    place,
    ..DIALOG
};

impl Dialog for CreateServicePopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        &[
            Focus::Field(Field::Name),
            Focus::Field(Field::Description),
            Focus::Button(Button::Create),
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
        match f {
            Field::Name => Some(&self.name),
            Field::Description => Some(&self.description),
            _ => None,
        }
    }

    fn input_mut(&mut self, f: Field) -> Option<&mut Input> {
        match f {
            Field::Name => Some(&mut self.name),
            Field::Description => Some(&mut self.description),
            _ => None,
        }
    }

    fn main_button(&self) -> Option<Button> {
        Some(Button::Create)
    }

    fn field_max(&self, f: Field) -> usize {
        match f {
            Field::Description => limits::SERVICE_DESCRIPTION_MAX,
            _ => limits::SERVICE_NAME_MAX,
        }
    }

    fn sent(&self, call: &ApiCall) -> bool {
        matches!(call, ApiCall::CreateService(_))
    }
}

/// `c` or `[Create service]`: refused with the reason for a viewer.
pub fn open(m: &mut Model) -> Vec<Effect> {
    if !m.can_manage() {
        viewer_notice(m, "what.create_service");
        return Vec::new();
    }
    m.popups.push(Popup::CreateService(CreateServicePopup {
        name: Input::default(),
        description: Input::default(),
        name_error: None,
        description_error: None,
        focus: Focus::Field(Field::Name),
        in_flight: None,
    }));
    Vec::new()
}

/// Inline validation as the user types (an empty name is only flagged on submit).
fn revalidate(m: &mut Model, f: Field) {
    let Some(Popup::CreateService(p)) = m.popups.last() else {
        return;
    };
    let err = match f {
        Field::Name if p.name.value().trim().is_empty() => None,
        Field::Name => service_name_error(m, p.name.value()),
        Field::Description => description_error(m, p.description.value()),
        _ => return,
    };
    if let Some(Popup::CreateService(p)) = m.popups.last_mut() {
        match f {
            Field::Name => p.name_error = err,
            _ => p.description_error = err,
        }
    }
}

/// `[Create]` (or Enter): both fields checked, then sent once.
fn press(m: &mut Model, _b: Button) -> Vec<Effect> {
    let Some(Popup::CreateService(p)) = m.popups.last() else {
        return Vec::new();
    };
    let name = p.name.value().trim().to_string();
    let description = p.description.value().trim().to_string();
    let name_error = service_name_error(m, &name);
    let description_error = description_error(m, &description);
    if name_error.is_some() || description_error.is_some() {
        if let Some(Popup::CreateService(p)) = m.popups.last_mut() {
            p.focus = Focus::Field(if name_error.is_some() {
                Field::Name
            } else {
                Field::Description
            });
            p.name_error = name_error;
            p.description_error = description_error;
        }
        return Vec::new();
    }
    call_for_popup(
        m,
        ApiCall::CreateService(CreateService { name, description }),
    )
}

/// The service created: the popup closes and the list selects it; a name taken or refused
/// shows under the field.
pub fn on_created(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<Service, ApiError>,
) -> Vec<Effect> {
    match r {
        Ok(svc) => {
            if let Some(i) = owner(m, id) {
                m.popups.truncate(i);
            }
            m.notice(
                NoticeKind::Success,
                m.tr.f("notice.created", &[("name", &clean(&svc.name))]),
            );
            m.services.want = Some(svc.id);
            m.services.focus = ServicesFocus::Table;
            refresh_services(m)
        }
        Err(e) => {
            let at = owner(m, id);
            clear_owner(m, id);
            let inline = matches!(
                e.code(),
                Some(ErrorCode::ServiceNameTaken | ErrorCode::InvalidRequest)
            );
            if inline {
                let msg = errors::message(m, &e);
                if let Some(Popup::CreateService(p)) = at.and_then(|i| m.popups.get_mut(i)) {
                    p.name_error = Some(msg);
                    p.focus = Focus::Field(Field::Name);
                    return Vec::new();
                }
            }
            if errors::retryable(&e) {
                m.popups.push(error::popup(m, &e, Some(call)));
            } else {
                let p = error::popup(m, &e, None);
                replace_at(m, at, p);
            }
            Vec::new()
        }
    }
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::CreateService(p) = p else {
        return PopupLayout::default();
    };
    let tr = m.tr;
    let mut parts = vec![
        Part::Text(tr.t("service.body").to_string(), Tone::Normal),
        Part::Blank,
        Part::Field(Field::Name, tr.t("service.name").to_string()),
    ];
    if let Some(e) = &p.name_error {
        parts.push(Part::Text(e.clone(), Tone::Error));
    }
    parts.push(Part::Field(
        Field::Description,
        tr.t("service.description").to_string(),
    ));
    if let Some(e) = &p.description_error {
        parts.push(Part::Text(e.clone(), Tone::Error));
    }
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("service.creating"));
        parts.push(Part::Text(s, Tone::Dim));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(vec![Button::Create, Button::Cancel]));
    centered(
        m,
        p,
        (tr.t("service.title").to_string(), parts),
        screen.area,
    )
}
