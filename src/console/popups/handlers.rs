//! What a popup does to the model, as plain functions of its own file: `update` and `layout`
//! reach every popup through these, never by naming its file, so no popup file is imported by
//! the code it imports.

use crossterm::event::KeyEvent;

use super::{Button, Choice, Field, Popup};
use crate::console::keymap::Action;
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::Model;
use crate::console::msg::Effect;
use crate::policy::Scope;

/// One popup's behaviour. Each popup file has a `HANDLERS` built on `form::DIALOG` (the
/// dialogs' shared keys) or on [`Handlers::NONE`], naming only what it does differently.
pub struct Handlers {
    /// A key while this popup is on top (it gets every key).
    pub key: fn(&mut Model, Option<Action>, KeyEvent) -> Vec<Effect>,
    /// A button of this popup pressed, by Enter, Space or a click; `Cancel` and disabled
    /// buttons never reach it (`form::press`).
    pub press: fn(&mut Model, Button) -> Vec<Effect>,
    /// Option `i` of choice `c` chosen, by ←/→ or a click.
    pub choose: fn(&mut Model, Choice, usize),
    /// Inline validation of field `f` after an edit.
    pub revalidate: fn(&mut Model, Field),
    /// The check box of scope `s` toggled, by Space or a click.
    pub toggle: fn(&mut Model, Scope),
    /// A paste while this popup is on top.
    pub paste: fn(&mut Model, &str),
    /// The mouse wheel over the screen while this popup is on top.
    pub wheel: fn(&mut Model, Action),
    /// A click beside this popup.
    pub click_outside: fn(&mut Model) -> Vec<Effect>,
    /// After every message while this popup is on top: the requests its state now calls for
    /// (Edit access asks what its form would have refused, once the last answer is in).
    pub after: fn(&mut Model) -> Vec<Effect>,
    /// Where this popup sits and what is on each of its lines, over `screen` (whose earlier
    /// popups are already placed). Given the popup itself, which is of this file's kind.
    pub place: fn(&Model, &Popup, &ScreenLayout) -> PopupLayout,
}

impl Handlers {
    /// Does nothing, anywhere: the base of a popup that handles its own keys.
    pub const NONE: Handlers = Handlers {
        key: |_, _, _| Vec::new(),
        press: |_, _| Vec::new(),
        choose: |_, _, _| {},
        revalidate: |_, _| {},
        toggle: |_, _| {},
        paste: |_, _| {},
        wheel: |_, _| {},
        click_outside: |_| Vec::new(),
        after: |_| Vec::new(),
        place: |_, _, _| PopupLayout::default(),
    };
}
