//! The popups. They form a stack in the model; the top one gets every key.
//!
//! One popup, one file: each `popups/<name>.rs` holds that popup's state, its focus order, what
//! its keys and buttons do, what it does with the service's answers, and its content for
//! `layout`. What several popups share lives once: [`form`] (focus, buttons, text fields,
//! choices, validation), [`answers`] (finding the popup that waits for an answer),
//! [`scrolling`] (the window of a popup whose lines scroll), `layout::popups` (the frame every
//! dialog is placed in, and the rows it holds) and `view::popups` (the one drawing of them all).
//!
//! `enum Popup` stays an enum, because `update` and the tests ask which popup is where
//! (`matches!(p, Popup::KeyCopy(_))`) and read a popup's state directly; a trait object alone
//! would turn each of those into a downcast. What every popup answers alike goes through the
//! [`Dialog`] trait, whose defaults let a popup state only what it has (a menu has no focus
//! order, an error no field); [`Popup::dialog`] is the one `match` that lends each arm as a
//! `Dialog`. `Dialog` never names the model, so the model can hold the stack without an import
//! circle; what a popup does to the model (its keys, buttons, paste, wheel, its place on screen)
//! is in its [`Handlers`], plain functions of its own file that `update` and `layout` call
//! without naming the file.
//!
//! Adding a popup: a file here with its state, `impl Dialog` and its `HANDLERS`; one arm in
//! `enum Popup` and in [`Popup::dialog`] / [`Popup::dialog_mut`]; its strings in
//! `assets/locales`; its key bindings in `assets/keymap.toml`. A popup opened by a new key also
//! needs that key's `keymap::Action` and the line of `update::screens` that calls its `open`; a
//! popup that sends a new kind of request, the request in `msg` and its answer's route in
//! `update::answers`.

pub mod access;
pub mod answers;
pub mod audit;
pub mod confirm_close;
pub mod create_service;
pub mod delete;
pub mod details;
pub mod error;
pub mod form;
pub mod handlers;
pub mod help;
pub mod issue;
pub mod key_copy;
pub mod menu;
pub mod policy_form;
pub mod rename;
pub mod rotate;
pub mod scrolling;
pub mod whois;

use tui_input::Input;

use crate::console::keymap::Context;
use crate::console::msg::{ApiCall, RequestId};
use crate::policy::Scope;
pub use handlers::Handlers;

/// A text field of a popup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Description,
    /// The `YYYY-MM-DD` of the expiry choice `Date…`.
    Date,
    /// The Who owns this key? popup's key (issue 9): shown only as dots, never an `Input`.
    Key,
    /// `Rate limit (optional)`: `100/s`, `6000/min`, `10000/h`.
    RateLimit,
    /// `Allowed from (optional)`: CIDRs separated by commas or spaces.
    AllowedFrom,
    /// Who owns this key?: where a leaked key was found (optional).
    Url,
}

/// A button of a popup; its label is `layout::popups::button_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Issue,
    Cancel,
    CopyKey,
    Ok,
    Delete,
    Create,
    Retry,
    Disable,
    Rotate,
    Save,
    /// Who owns this key?: look the typed key up.
    Lookup,
    /// Who owns this key?: go to the owner's API Key management, the key selected.
    Open,
    /// Edit access: propose the scopes and networks the key was used with.
    Narrow,
    /// Enable a leaked key, after its confirmation.
    Enable,
    /// Who owns this key?: report the key leaked (it is disabled at once).
    Leak,
}

/// A row of options that ←/→ move through (docs/console.md, Popups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The Rotate popup's grace: one of `rotate::GRACES`.
    Grace,
    /// The Issue popup's expiry: one of `expiry::LIFETIMES` (issue 8).
    Expiry,
    /// Access: `Full · Query only · Ingest only · Custom…` (`policy_form::ACCESS_CHOICES`).
    Access,
}

/// What has the focus inside a popup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Field(Field),
    Button(Button),
    Choice(Choice),
    /// A check box of Access: Custom…, by its scope.
    Check(Scope),
}

/// Every popup, by kind; its state is in its own file.
#[derive(Debug)]
// A stack of a few popups, pushed once and then edited in place: boxing the forms would add an
// allocation and a level of indirection to every access for no saving worth having.
#[allow(clippy::large_enum_variant)]
pub enum Popup {
    Issue(issue::IssuePopup),
    KeyCopy(key_copy::KeyCopyPopup),
    /// `[OK]` on the key popup before any copy: the key will not be shown again.
    ConfirmClose(confirm_close::ConfirmPopup),
    Delete(delete::DeletePopup),
    Menu(menu::MenuPopup),
    CreateService(create_service::CreateServicePopup),
    Error(error::ErrorPopup),
    Help(help::HelpPopup),
    Rename(rename::RenamePopup),
    Rotate(rotate::RotatePopup),
    /// The Audit trail (issue 9, `a`).
    Audit(audit::AuditPopup),
    /// Who owns this key? (issue 9, `w`).
    Whois(whois::WhoisPopup),
    /// The key's Details (issue 9, `v` or the menu): read-only.
    Details(details::DetailsPopup),
    /// Edit access (`p` or the menu): scopes, rate limit, allowed networks, and narrowing.
    Access(access::AccessPopup),
}

/// What every popup answers alike, from its own state. The defaults fit a popup without
/// fields, buttons or requests (the menu, the help).
pub trait Dialog {
    /// What this popup does to the model: keys, buttons, a paste, its place on screen.
    fn handlers(&self) -> &'static Handlers;

    /// The keymap's context while this popup is on top: by default where its focus is.
    fn context(&self) -> Context {
        match self.focus() {
            Some(Focus::Field(_)) => Context::Field,
            Some(Focus::Choice(_)) => Context::Choice,
            Some(Focus::Check(_)) => Context::Check,
            _ => Context::Popup,
        }
    }

    /// The fields, choices and buttons Tab cycles through, in order.
    fn focus_order(&self) -> &'static [Focus] {
        &[]
    }

    /// What has the focus; `None` for a popup without focus (the menu, the help).
    fn focus(&self) -> Option<Focus> {
        None
    }

    /// Moves the focus to `f`.
    fn set_focus(&mut self, _f: Focus) {}

    /// The request this popup waits for, if any.
    fn in_flight(&self) -> Option<RequestId> {
        None
    }

    /// Makes this popup wait for request `id`, or wait no more.
    fn set_in_flight(&mut self, _id: Option<RequestId>) {}

    /// A text field's input, for drawing and editing.
    fn input(&self, _f: Field) -> Option<&Input> {
        None
    }

    /// A text field's input, to edit.
    fn input_mut(&mut self, _f: Field) -> Option<&mut Input> {
        None
    }

    /// The button Enter presses from a field or a choice: the popup's main action.
    fn main_button(&self) -> Option<Button> {
        None
    }

    /// The index of the option chosen in choice `c`, if this popup has that choice.
    fn chosen(&self, _c: Choice) -> Option<usize> {
        None
    }

    /// The most characters field `f` takes (docs/api.md limits, as `wire::limits`).
    fn field_max(&self, _f: Field) -> usize {
        crate::wire::limits::KEY_NAME_MAX
    }

    /// Whether this popup sent `call`: a `[Retry]` of it makes this popup wait again.
    fn sent(&self, _call: &ApiCall) -> bool {
        false
    }

    /// Whether abandoning this popup's request may still leave a new key behind (an issue, a
    /// rotation): the list then shows it when the answer comes.
    fn may_leave_a_key(&self) -> bool {
        false
    }

    /// The first line shown, for a popup whose lines scroll.
    fn scroll(&self) -> usize {
        0
    }

    /// Keeps the first line shown of a form that scrolls with its focus, so that the window
    /// moves only when the focus leaves it.
    fn set_scroll(&mut self, _first: usize) {}
}

impl Popup {
    /// This popup as a [`Dialog`]: the one place that names every arm.
    pub fn dialog(&self) -> &dyn Dialog {
        match self {
            Popup::Issue(p) => p,
            Popup::KeyCopy(p) => p,
            Popup::ConfirmClose(p) => p,
            Popup::Delete(p) => p,
            Popup::Menu(p) => p,
            Popup::CreateService(p) => p,
            Popup::Error(p) => p,
            Popup::Help(p) => p,
            Popup::Rename(p) => p,
            Popup::Rotate(p) => p,
            Popup::Audit(p) => p,
            Popup::Whois(p) => p,
            Popup::Details(p) => p,
            Popup::Access(p) => p,
        }
    }

    /// This popup as a mutable [`Dialog`].
    pub fn dialog_mut(&mut self) -> &mut dyn Dialog {
        match self {
            Popup::Issue(p) => p,
            Popup::KeyCopy(p) => p,
            Popup::ConfirmClose(p) => p,
            Popup::Delete(p) => p,
            Popup::Menu(p) => p,
            Popup::CreateService(p) => p,
            Popup::Error(p) => p,
            Popup::Help(p) => p,
            Popup::Rename(p) => p,
            Popup::Rotate(p) => p,
            Popup::Audit(p) => p,
            Popup::Whois(p) => p,
            Popup::Details(p) => p,
            Popup::Access(p) => p,
        }
    }

    /// What this popup does to the model.
    pub fn handlers(&self) -> &'static Handlers {
        self.dialog().handlers()
    }

    /// The keymap's context while this popup is on top.
    pub fn context(&self) -> Context {
        self.dialog().context()
    }

    /// The fields and buttons Tab cycles through, in order.
    pub fn focus_order(&self) -> &'static [Focus] {
        self.dialog().focus_order()
    }

    /// What has the focus, for a popup that has one.
    pub fn focus(&self) -> Option<Focus> {
        self.dialog().focus()
    }

    /// Moves the focus to `f` (a click, Tab).
    pub fn set_focus(&mut self, f: Focus) {
        self.dialog_mut().set_focus(f);
    }

    /// The request this popup waits for, if any.
    pub fn in_flight(&self) -> Option<RequestId> {
        self.dialog().in_flight()
    }

    /// Makes this popup wait for request `id`, or wait no more.
    pub fn set_in_flight(&mut self, id: Option<RequestId>) {
        self.dialog_mut().set_in_flight(id);
    }

    /// Text field `f`'s input, if this popup has that field.
    pub fn input(&self, f: Field) -> Option<&Input> {
        self.dialog().input(f)
    }

    /// Text field `f`'s input, to edit.
    pub fn input_mut(&mut self, f: Field) -> Option<&mut Input> {
        self.dialog_mut().input_mut(f)
    }

    /// Whether a button can be pressed now (buttons are disabled while a request runs).
    pub fn enabled(&self, b: Button) -> bool {
        self.in_flight().is_none() || b == Button::Cancel
    }

    /// The first line shown, for a popup whose lines scroll.
    pub fn scroll(&self) -> usize {
        self.dialog().scroll()
    }
}
