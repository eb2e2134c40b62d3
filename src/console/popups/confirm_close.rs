//! The confirmation before the key popup closes without a copy (docs/console.md, Popups): the key
//! will not be shown again. `[OK]` does what the popup beneath asked for; Cancel is focused.

use super::form::DIALOG;
use super::{Button, Dialog, Focus, Handlers, Popup};
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::Model;
use crate::console::msg::Effect;
use crate::console::text::Tone;

/// `[OK]` / `[Cancel]` over the popup that asked.
#[derive(Debug)]
pub struct ConfirmPopup {
    pub focus: Focus,
    /// What `[OK]` does once this popup has closed.
    pub then: fn(&mut Model) -> Vec<Effect>,
}

impl ConfirmPopup {
    /// The confirmation, Cancel focused; `[OK]` runs `then`.
    pub fn new(then: fn(&mut Model) -> Vec<Effect>) -> Self {
        ConfirmPopup {
            focus: Focus::Button(Button::Cancel),
            then,
        }
    }
}

const HANDLERS: Handlers = Handlers {
    press,
    place,
    ..DIALOG
};

impl Dialog for ConfirmPopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        &[Focus::Button(Button::Ok), Focus::Button(Button::Cancel)]
    }

    fn focus(&self) -> Option<Focus> {
        Some(self.focus)
    }

    fn set_focus(&mut self, f: Focus) {
        self.focus = f;
    }
}

/// `[OK]`: this popup closes, and what it confirms happens.
fn press(m: &mut Model, _b: Button) -> Vec<Effect> {
    match m.popups.pop() {
        Some(Popup::ConfirmClose(p)) => (p.then)(m),
        _ => Vec::new(),
    }
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let tr = m.tr;
    let parts = vec![
        Part::Text(tr.t("confirm.body").to_string(), Tone::Caution),
        Part::Blank,
        Part::Buttons(vec![Button::Ok, Button::Cancel]),
    ];
    centered(
        m,
        p.dialog(),
        (tr.t("confirm.title").to_string(), parts),
        screen.area,
    )
}
