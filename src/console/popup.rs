//! The popups' state. They form a stack in the model; the top one gets every key.

use tui_input::Input;

use crate::console::expiry::Lifetime;
use crate::console::keymap::Context;
use crate::console::msg::{ApiCall, CopyOutcome, RequestId};
use crate::credential::Secret;
use crate::wire::{ApiKey, AuditEvent, IssueApiKey, WhoisAnswer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Description,
    /// The `YYYY-MM-DD` of the expiry choice `Date…`.
    Date,
    /// The Who owns this key? popup's key (issue 9): shown only as dots, never an `Input`.
    Key,
}

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
}

/// A row of options that ←/→ move through (CONSOLE.md, Popups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The Rotate popup's grace: one of [`GRACES`].
    Grace,
    /// The Issue popup's expiry: one of `expiry::LIFETIMES` (issue 8).
    Expiry,
}

/// What has the focus inside a popup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Field(Field),
    Button(Button),
    Choice(Choice),
}

#[derive(Debug)]
pub enum Popup {
    Issue(IssuePopup),
    KeyCopy(KeyCopyPopup),
    /// `[OK]` on the key popup before any copy: the key will not be shown again.
    ConfirmClose(ConfirmPopup),
    Delete(DeletePopup),
    Menu(MenuPopup),
    CreateService(CreateServicePopup),
    Error(ErrorPopup),
    Help(HelpPopup),
    Rename(RenamePopup),
    Rotate(RotatePopup),
    /// The Audit trail (issue 9, `a`).
    Audit(AuditPopup),
    /// Who owns this key? (issue 9, `w`).
    Whois(WhoisPopup),
    /// The key's Details (issue 9, `v` or the menu): read-only.
    Details(DetailsPopup),
}

#[derive(Debug)]
pub struct IssuePopup {
    pub service_id: String,
    pub name: Input,
    pub name_error: Option<String>,
    pub focus: Focus,
    /// Chosen when the popup opens and reused by every retry of this issue.
    pub idempotency_key: String,
    pub in_flight: Option<RequestId>,
    pub limit: u32,
    pub remaining: u32,
    /// The expiry choice; `Never` when the popup opens.
    pub lifetime: Lifetime,
    /// The date typed for `Lifetime::Date`, at most `YYYY-MM-DD`.
    pub date: Input,
    /// Why the expiry cannot be sent (a bad date, or the service's answer about it).
    pub expiry_error: Option<String>,
    /// The last body sent with this popup's Idempotency-Key, with the form it came from: sent
    /// again as it was while the form is unchanged, so that a retry after a network failure is
    /// the same request (a relative expiry is not counted again from a later "now").
    pub sent: Option<SentIssue>,
}

/// What an Issue popup sent: the form as it stood, and the body made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentIssue {
    pub name: String,
    pub lifetime: Lifetime,
    pub date: String,
    pub body: IssueApiKey,
}

/// Holds the only copy of the plaintext key; it is wiped when the popup is dropped.
#[derive(Debug)]
pub struct KeyCopyPopup {
    pub service_id: String,
    pub key: Secret,
    pub api_key: ApiKey,
    pub focus: Focus,
    pub copied: Option<CopyOutcome>,
}

#[derive(Debug)]
pub struct ConfirmPopup {
    pub focus: Focus,
}

#[derive(Debug)]
pub struct DeletePopup {
    pub service_id: String,
    pub key: ApiKey,
    /// The Disable API Key popup (issue 8): the same confirmation, `[Disable]` instead of
    /// `[Delete]`, and the caution that callers get 401 until the key is enabled again.
    pub disable: bool,
    pub focus: Focus,
    pub in_flight: Option<RequestId>,
}

/// The ≡ menu of one row of the key table.
#[derive(Debug)]
pub struct MenuPopup {
    pub row: usize,
    pub key_id: String,
    pub selected: usize,
}

#[derive(Debug)]
pub struct CreateServicePopup {
    pub name: Input,
    pub description: Input,
    pub name_error: Option<String>,
    pub description_error: Option<String>,
    pub focus: Focus,
    pub in_flight: Option<RequestId>,
}

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

#[derive(Debug)]
pub struct ErrorPopup {
    pub title: String,
    pub message: String,
    pub kind: ErrorKind,
    pub focus: Focus,
    pub in_flight: Option<RequestId>,
}

#[derive(Debug)]
pub struct HelpPopup {
    /// Whose keys are listed: where `?` was pressed.
    pub context: Context,
    pub scroll: usize,
}

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

/// The grace choices of a rotation, in seconds, as the popup offers them: Now, 1 hour,
/// 24 hours, 7 days (CONSOLE.md, Rotate API Key; API.md allows 0 to 604800).
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
    /// after a lost answer gets the same successor (API.md, Idempotency).
    pub idempotency_key: String,
    pub in_flight: Option<RequestId>,
}

/// Events asked for per page of the Audit trail (API.md allows 1 to 500).
pub const AUDIT_PAGE: u32 = 100;

/// The Audit trail popup (issue 9; CONSOLE.md, Popups): the events loaded so far, newest first,
/// scrolled by line; reaching the end asks for the next page until the service has none.
#[derive(Debug)]
pub struct AuditPopup {
    /// `None`: every service's events (opened on Services), deleted services included.
    pub service_id: Option<String>,
    pub events: Vec<AuditEvent>,
    /// The `before` of the next (older) page; `None` once the oldest event is loaded.
    pub next: Option<String>,
    /// False until the first page arrives.
    pub loaded: bool,
    /// The first line shown, into the filtered events.
    pub scroll: usize,
    /// `/`: a text match over the loaded rows, as the Services filter.
    pub filter: Input,
    /// Whether the filter field has the keys.
    pub filtering: bool,
    /// Why the last page could not be loaded, in the console's words.
    pub error: Option<String>,
    pub in_flight: Option<RequestId>,
}

impl AuditPopup {
    pub fn new(service_id: Option<String>) -> Self {
        AuditPopup {
            service_id,
            events: Vec::new(),
            next: None,
            loaded: false,
            scroll: 0,
            filter: Input::default(),
            filtering: false,
            error: None,
            in_flight: None,
        }
    }
}

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

    pub fn pop(&mut self) {
        self.0.pop();
    }

    /// Wipes the text in place, keeping the allocation.
    pub fn clear(&mut self) {
        zeroize::Zeroize::zeroize(&mut *self.0);
        self.0.reserve(WHOIS_MAX * 4);
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Characters typed: what the dots show.
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for TypedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[redacted; {} chars]", self.len())
    }
}

/// Who owns this key? (issue 9; CONSOLE.md, Popups): the key is checked locally first (format
/// and checksum), then looked up by `POST /v1/whois`.
#[derive(Debug)]
pub struct WhoisPopup {
    pub key: TypedKey,
    /// `not a ragkeys API key`, or the service's refusal in the page's words.
    pub error: Option<String>,
    pub found: Option<WhoisAnswer>,
    pub focus: Focus,
    pub in_flight: Option<RequestId>,
}

/// Details (issue 9; CONSOLE.md, Popups): every field of the key, its usage charts (read from
/// `Model::usage`) and its own audit events. Read-only; lines scroll; Esc closes.
#[derive(Debug)]
pub struct DetailsPopup {
    pub service_id: String,
    pub key: ApiKey,
    /// The first line shown.
    pub scroll: usize,
    /// The key's events, newest first, once loaded.
    pub events: Option<Vec<AuditEvent>>,
    /// Why the events could not be loaded, in the console's words.
    pub events_error: Option<String>,
    /// The request for the events.
    pub in_flight: Option<RequestId>,
}

/// The ≡ menu's items, in CONSOLE.md's order; focus starts on Delete.
pub const MENU_DETAILS: usize = 0;
pub const MENU_RENAME: usize = 1;
pub const MENU_TOGGLE: usize = 2;
pub const MENU_ROTATE: usize = 3;
pub const MENU_DELETE: usize = 4;
pub const MENU_ITEMS: usize = 5;

impl Popup {
    /// The fields and buttons Tab cycles through, in order.
    pub fn focus_order(&self) -> &'static [Focus] {
        use Button as B;
        use Focus::{Button as Btn, Field as Fld};
        match self {
            Popup::Issue(p) if p.lifetime == Lifetime::Date => &[
                Fld(Field::Name),
                Focus::Choice(Choice::Expiry),
                Fld(Field::Date),
                Btn(B::Issue),
                Btn(B::Cancel),
            ],
            Popup::Issue(_) => &[
                Fld(Field::Name),
                Focus::Choice(Choice::Expiry),
                Btn(B::Issue),
                Btn(B::Cancel),
            ],
            Popup::KeyCopy(_) => &[Btn(B::CopyKey), Btn(B::Ok)],
            Popup::ConfirmClose(_) => &[Btn(B::Ok), Btn(B::Cancel)],
            Popup::Delete(p) if p.disable => &[Btn(B::Disable), Btn(B::Cancel)],
            Popup::Delete(_) => &[Btn(B::Delete), Btn(B::Cancel)],
            Popup::CreateService(_) => &[
                Fld(Field::Name),
                Fld(Field::Description),
                Btn(B::Create),
                Btn(B::Cancel),
            ],
            Popup::Error(e) => match e.kind {
                ErrorKind::Plain => &[Btn(B::Ok)],
                ErrorKind::Retry(_) => &[Btn(B::Retry), Btn(B::Cancel)],
                ErrorKind::DeleteOrphan { .. } => &[Btn(B::Delete), Btn(B::Cancel)],
            },
            Popup::Rename(_) => &[Fld(Field::Name), Btn(B::Save), Btn(B::Cancel)],
            Popup::Rotate(_) => &[Focus::Choice(Choice::Grace), Btn(B::Rotate), Btn(B::Cancel)],
            Popup::Whois(w) if w.found.is_some() => &[
                Fld(Field::Key),
                Btn(B::Lookup),
                Btn(B::Open),
                Btn(B::Cancel),
            ],
            Popup::Whois(_) => &[Fld(Field::Key), Btn(B::Lookup), Btn(B::Cancel)],
            Popup::Menu(_) | Popup::Help(_) | Popup::Audit(_) | Popup::Details(_) => &[],
        }
    }

    pub fn focus(&self) -> Option<Focus> {
        match self {
            Popup::Issue(p) => Some(p.focus),
            Popup::KeyCopy(p) => Some(p.focus),
            Popup::ConfirmClose(p) => Some(p.focus),
            Popup::Delete(p) => Some(p.focus),
            Popup::CreateService(p) => Some(p.focus),
            Popup::Error(p) => Some(p.focus),
            Popup::Rename(p) => Some(p.focus),
            Popup::Rotate(p) => Some(p.focus),
            Popup::Whois(p) => Some(p.focus),
            Popup::Menu(_) | Popup::Help(_) | Popup::Audit(_) | Popup::Details(_) => None,
        }
    }

    pub fn set_focus(&mut self, f: Focus) {
        match self {
            Popup::Issue(p) => p.focus = f,
            Popup::KeyCopy(p) => p.focus = f,
            Popup::ConfirmClose(p) => p.focus = f,
            Popup::Delete(p) => p.focus = f,
            Popup::CreateService(p) => p.focus = f,
            Popup::Error(p) => p.focus = f,
            Popup::Rename(p) => p.focus = f,
            Popup::Rotate(p) => p.focus = f,
            Popup::Whois(p) => p.focus = f,
            Popup::Menu(_) | Popup::Help(_) | Popup::Audit(_) | Popup::Details(_) => {}
        }
    }

    /// The request this popup waits for, if any.
    pub fn in_flight(&self) -> Option<RequestId> {
        match self {
            Popup::Issue(p) => p.in_flight,
            Popup::Delete(p) => p.in_flight,
            Popup::CreateService(p) => p.in_flight,
            Popup::Error(p) => p.in_flight,
            Popup::Rename(p) => p.in_flight,
            Popup::Rotate(p) => p.in_flight,
            Popup::Audit(p) => p.in_flight,
            Popup::Whois(p) => p.in_flight,
            Popup::Details(p) => p.in_flight,
            _ => None,
        }
    }

    pub fn set_in_flight(&mut self, id: Option<RequestId>) {
        match self {
            Popup::Issue(p) => p.in_flight = id,
            Popup::Delete(p) => p.in_flight = id,
            Popup::CreateService(p) => p.in_flight = id,
            Popup::Error(p) => p.in_flight = id,
            Popup::Rename(p) => p.in_flight = id,
            Popup::Rotate(p) => p.in_flight = id,
            Popup::Audit(p) => p.in_flight = id,
            Popup::Whois(p) => p.in_flight = id,
            Popup::Details(p) => p.in_flight = id,
            _ => {}
        }
    }

    pub fn input(&self, f: Field) -> Option<&Input> {
        match (self, f) {
            (Popup::Issue(p), Field::Name) => Some(&p.name),
            (Popup::Rename(p), Field::Name) => Some(&p.name),
            (Popup::Issue(p), Field::Date) => Some(&p.date),
            (Popup::CreateService(p), Field::Name) => Some(&p.name),
            (Popup::CreateService(p), Field::Description) => Some(&p.description),
            _ => None,
        }
    }

    pub fn input_mut(&mut self, f: Field) -> Option<&mut Input> {
        match (self, f) {
            (Popup::Issue(p), Field::Name) => Some(&mut p.name),
            (Popup::Rename(p), Field::Name) => Some(&mut p.name),
            (Popup::Issue(p), Field::Date) => Some(&mut p.date),
            (Popup::CreateService(p), Field::Name) => Some(&mut p.name),
            (Popup::CreateService(p), Field::Description) => Some(&mut p.description),
            _ => None,
        }
    }

    /// Whether a button can be pressed now (buttons are disabled while a request runs).
    pub fn enabled(&self, b: Button) -> bool {
        self.in_flight().is_none() || b == Button::Cancel
    }
}
