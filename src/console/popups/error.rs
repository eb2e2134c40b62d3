//! An error in the console's words (docs/console.md, Popups): `[OK]`; `[Retry]` where sending the
//! same request again is the right move; `[Delete]` for the key of a replayed issue that can no
//! longer be shown.

use super::form::{DIALOG, call_for_popup};
use super::{Button, Dialog, Focus, Handlers, Popup};
use crate::client::ApiError;
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::Model;
use crate::console::msg::{ApiCall, Effect};
use crate::console::text::Tone;
use crate::console::update::{call, errors};
use crate::sanitize::clean;

/// What an error popup offers besides closing.
#[derive(Debug)]
pub enum ErrorKind {
    /// Just `[OK]`.
    Plain,
    /// The call failed because the service could not be reached: `[Retry]` sends it again as it
    /// was (an issue keeps its Idempotency-Key).
    Retry(ApiCall),
    /// A replayed issue whose key can no longer be shown: `[Delete]` frees its slot.
    DeleteOrphan { service_id: String, key_id: String },
}

/// An error: its title and message in the console's words, and what it offers.
#[derive(Debug)]
pub struct ErrorPopup {
    pub title: String,
    pub message: String,
    pub kind: ErrorKind,
    pub focus: Focus,
    pub in_flight: Option<crate::console::msg::RequestId>,
}

const HANDLERS: Handlers = Handlers {
    press,
    place,
    ..DIALOG
};

impl Dialog for ErrorPopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        use Focus::Button as B;
        match self.kind {
            ErrorKind::Plain => &[B(Button::Ok)],
            ErrorKind::Retry(_) => &[B(Button::Retry), B(Button::Cancel)],
            ErrorKind::DeleteOrphan { .. } => &[B(Button::Delete), B(Button::Cancel)],
        }
    }

    fn focus(&self) -> Option<Focus> {
        Some(self.focus)
    }

    fn set_focus(&mut self, f: Focus) {
        self.focus = f;
    }

    fn in_flight(&self) -> Option<crate::console::msg::RequestId> {
        self.in_flight
    }

    fn set_in_flight(&mut self, id: Option<crate::console::msg::RequestId>) {
        self.in_flight = id;
    }
}

/// An error popup for a failed call, with `[Retry]` where retrying makes sense.
pub fn popup(m: &Model, e: &ApiError, retry: Option<ApiCall>) -> Popup {
    let kind = match retry {
        Some(c) if errors::retryable(e) => ErrorKind::Retry(c),
        _ => ErrorKind::Plain,
    };
    let focus = Focus::Button(match kind {
        ErrorKind::Retry(_) => Button::Retry,
        _ => Button::Ok,
    });
    Popup::Error(ErrorPopup {
        title: errors::title(m, e),
        message: errors::message(m, e),
        kind,
        focus,
        in_flight: None,
    })
}

/// A replayed issue whose key can no longer be shown (docs/api.md, Retry-safe issuance): the
/// service's words name the key, and a manager gets `[Delete]` to free its slot (Cancel
/// focused); anyone else just `[OK]`.
pub fn orphan(m: &Model, e: &ApiError, service_id: String) -> Popup {
    let msg = match e {
        ApiError::Api { message, .. } => clean(message).into_owned(),
        _ => String::new(),
    };
    let kind = match errors::orphan_key_id(&msg) {
        Some(key_id) if m.can_manage() => ErrorKind::DeleteOrphan { service_id, key_id },
        _ => ErrorKind::Plain,
    };
    let focus = Focus::Button(match kind {
        ErrorKind::Plain => Button::Ok,
        _ => Button::Cancel,
    });
    Popup::Error(ErrorPopup {
        title: errors::title(m, e),
        message: errors::message(m, e),
        kind,
        focus,
        in_flight: None,
    })
}

fn press(m: &mut Model, b: Button) -> Vec<Effect> {
    let Some(Popup::Error(e)) = m.popups.last() else {
        return Vec::new();
    };
    match (&e.kind, b) {
        (ErrorKind::Retry(c), Button::Retry) => {
            let c = c.clone();
            retry(m, c)
        }
        (ErrorKind::DeleteOrphan { service_id, key_id }, Button::Delete) => {
            let c = ApiCall::DeleteKey {
                service_id: service_id.clone(),
                key_id: key_id.clone(),
            };
            call_for_popup(m, c)
        }
        _ => {
            m.popups.pop();
            Vec::new()
        }
    }
}

/// `[Retry]`: this popup closes and the call goes again; the popup underneath that sent it
/// waits for it again.
fn retry(m: &mut Model, c: ApiCall) -> Vec<Effect> {
    m.popups.pop();
    let effect = call(m, c.clone());
    if let (Some(p), Effect::Call { id, .. }) = (m.popups.last_mut(), &effect)
        && p.dialog().sent(&c)
    {
        p.set_in_flight(Some(*id));
    }
    vec![effect]
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Error(e) = p else {
        return PopupLayout::default();
    };
    let tr = m.tr;
    let buttons = match e.kind {
        ErrorKind::Plain => vec![Button::Ok],
        ErrorKind::Retry(_) => vec![Button::Retry, Button::Cancel],
        ErrorKind::DeleteOrphan { .. } => vec![Button::Delete, Button::Cancel],
    };
    let mut parts = vec![Part::Text(e.message.clone(), Tone::Normal)];
    if e.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("app.working"));
        parts.push(Part::Text(s, Tone::Dim));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(buttons));
    centered(m, e, (e.title.clone(), parts), screen.area)
}
