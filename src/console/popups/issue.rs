//! Issue API Key (docs/console.md, Popups): the service, the slots left, an optional Name, the
//! expiry (issue 8: Never, a number of days, or a date), the access (scopes, rate limit,
//! allowed networks: `policy_form`), `[Issue]`. The popup chooses its
//! Idempotency-Key when it opens and sends the same body again on a retry while the form is
//! unchanged. The new key is shown by the API Key copy popup, in this popup's place; an issue
//! abandoned with Esc whose answer still comes shows in the list, masked.

use tui_input::Input;

use super::answers::{clear_owner, owner, replace_at};
use super::form::{DIALOG, call_for_popup, date_error, key_name_error};
use super::policy_form::{Access, FormValues, PolicyForm};
use super::{Button, Choice, Dialog, Field, Focus, Handlers, Popup, error, key_copy};
use crate::client::{ApiError, Issued};
use crate::console::expiry::{self, DATE_MAX, LIFETIMES, Lifetime};
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::{KeysFocus, Model, NoticeKind};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::text::Tone;
use crate::console::update::{errors, refresh_keys, service_gone, viewer_notice};
use crate::policy::{Scope, ScopeSet};
use crate::sanitize::clean;
use crate::wire::{ErrorCode, IssueApiKey, limits};

/// The Issue API Key form.
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
    /// Access, Rate limit and Allowed from.
    pub access: PolicyForm,
    /// The first line shown when the form is taller than the screen.
    pub scroll: usize,
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
    pub access: FormValues,
    pub body: IssueApiKey,
}

const HANDLERS: Handlers = Handlers {
    press,
    choose,
    revalidate,
    toggle,
    place,
    ..DIALOG
};

// The focus orders: Name, the expiry (its Date field when chosen), Access (Custom's check
// boxes when chosen), Rate limit, Allowed from, [Issue], [Cancel] (docs/console.md, Focus
// inside popups).
use Focus::{Button as Btn, Check as Chk, Choice as Cho, Field as Fld};
const ORDER: [Focus; 7] = [
    Fld(Field::Name),
    Cho(Choice::Expiry),
    Cho(Choice::Access),
    Fld(Field::RateLimit),
    Fld(Field::AllowedFrom),
    Btn(Button::Issue),
    Btn(Button::Cancel),
];
const ORDER_DATE: [Focus; 8] = [
    Fld(Field::Name),
    Cho(Choice::Expiry),
    Fld(Field::Date),
    Cho(Choice::Access),
    Fld(Field::RateLimit),
    Fld(Field::AllowedFrom),
    Btn(Button::Issue),
    Btn(Button::Cancel),
];
const ORDER_CUSTOM: [Focus; 10] = [
    Fld(Field::Name),
    Cho(Choice::Expiry),
    Cho(Choice::Access),
    Chk(Scope::Query),
    Chk(Scope::Ingest),
    Chk(Scope::Manage),
    Fld(Field::RateLimit),
    Fld(Field::AllowedFrom),
    Btn(Button::Issue),
    Btn(Button::Cancel),
];
const ORDER_DATE_CUSTOM: [Focus; 11] = [
    Fld(Field::Name),
    Cho(Choice::Expiry),
    Fld(Field::Date),
    Cho(Choice::Access),
    Chk(Scope::Query),
    Chk(Scope::Ingest),
    Chk(Scope::Manage),
    Fld(Field::RateLimit),
    Fld(Field::AllowedFrom),
    Btn(Button::Issue),
    Btn(Button::Cancel),
];

impl Dialog for IssuePopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        let custom = self.access.access == Access::Custom;
        match (self.lifetime == Lifetime::Date, custom) {
            (false, false) => &ORDER,
            (true, false) => &ORDER_DATE,
            (false, true) => &ORDER_CUSTOM,
            (true, true) => &ORDER_DATE_CUSTOM,
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

    fn input(&self, f: Field) -> Option<&Input> {
        match f {
            Field::Name => Some(&self.name),
            Field::Date => Some(&self.date),
            _ => self.access.input(f),
        }
    }

    fn input_mut(&mut self, f: Field) -> Option<&mut Input> {
        match f {
            Field::Name => Some(&mut self.name),
            Field::Date => Some(&mut self.date),
            _ => self.access.input_mut(f),
        }
    }

    fn main_button(&self) -> Option<Button> {
        Some(Button::Issue)
    }

    fn chosen(&self, c: Choice) -> Option<usize> {
        match c {
            Choice::Expiry => Some(self.lifetime.index()),
            Choice::Access => Some(self.access.access.index()),
            _ => None,
        }
    }

    fn field_max(&self, f: Field) -> usize {
        match f {
            Field::Date => DATE_MAX,
            _ => PolicyForm::field_max(f).unwrap_or(limits::KEY_NAME_MAX),
        }
    }

    fn scroll(&self) -> usize {
        self.scroll
    }

    fn set_scroll(&mut self, first: usize) {
        self.scroll = first;
    }

    fn sent(&self, call: &ApiCall) -> bool {
        matches!(call, ApiCall::IssueKey { .. })
    }

    fn may_leave_a_key(&self) -> bool {
        true
    }
}

/// `[Issue API Key]`: refused with the reason for a viewer, before the list is known, and at
/// the limit (with the page's note).
pub fn open(m: &mut Model) -> Vec<Effect> {
    if !m.can_manage() {
        viewer_notice(m, "what.issue");
        return Vec::new();
    }
    let tr = m.tr;
    let Some(k) = m.keys.as_mut() else {
        return Vec::new();
    };
    if k.list.is_none() {
        m.notice(NoticeKind::Info, tr.t("notice.loading").to_string());
        return Vec::new();
    }
    if k.at_limit() {
        m.notice(NoticeKind::Error, tr.t("keys.limit_note").to_string());
        return Vec::new();
    }
    k.focus = KeysFocus::IssueButton;
    let (limit, count) = (k.limit(), k.count());
    let service_id = k.service.id.clone();
    m.popups.push(Popup::Issue(IssuePopup {
        service_id,
        name: Input::default(),
        name_error: None,
        focus: Focus::Field(Field::Name),
        idempotency_key: crate::client::new_idempotency_key(),
        in_flight: None,
        limit,
        remaining: limit.saturating_sub(count),
        lifetime: Lifetime::Never,
        date: Input::default(),
        expiry_error: None,
        access: PolicyForm::default(),
        scroll: 0,
        sent: None,
    }));
    Vec::new()
}

/// An expiry chosen (clamped to the last), by key or click; the focus goes to the choice.
/// Frozen while the issue runs, as the fields are: what is being sent is what the popup shows.
fn choose(m: &mut Model, c: Choice, i: usize) {
    let Some(Popup::Issue(p)) = m.popups.last_mut() else {
        return;
    };
    if p.in_flight.is_some() {
        return;
    }
    if c == Choice::Access {
        p.focus = Focus::Choice(c);
        p.access.choose(i);
        return;
    }
    if c != Choice::Expiry {
        return;
    }
    p.focus = Focus::Choice(c);
    let to = LIFETIMES[i.min(LIFETIMES.len() - 1)];
    p.lifetime = to;
    // An error about the date says nothing about another choice; back on Date… it is checked
    // again as typed.
    p.expiry_error = None;
    if to == Lifetime::Date {
        revalidate(m, Field::Date);
    }
}

/// A check box of Custom toggled; frozen while the issue runs, as the fields are.
fn toggle(m: &mut Model, s: Scope) {
    let tr = m.tr;
    if let Some(Popup::Issue(p)) = m.popups.last_mut()
        && p.in_flight.is_none()
    {
        p.access.toggle(tr, s);
    }
}

/// Inline validation as the user types: the name, the date as the service will check it, the
/// rate and the allowlist as the service will read them.
fn revalidate(m: &mut Model, f: Field) {
    let tr = m.tr;
    if let (Field::RateLimit | Field::AllowedFrom, Some(Popup::Issue(p))) = (f, m.popups.last_mut())
    {
        p.access.revalidate(tr, f);
        return;
    }
    let Some(Popup::Issue(p)) = m.popups.last() else {
        return;
    };
    let err = match f {
        Field::Date => date_error(m, p.date.value()),
        _ => key_name_error(m, p.name.value()),
    };
    if let Some(Popup::Issue(p)) = m.popups.last_mut() {
        match f {
            Field::Date => p.expiry_error = err,
            _ => p.name_error = err,
        }
    }
}

/// `[Issue]` (or Enter): the name and expiry checked, then the issue sent with the popup's
/// Idempotency-Key.
fn press(m: &mut Model, _b: Button) -> Vec<Effect> {
    let Some(Popup::Issue(p)) = m.popups.last() else {
        return Vec::new();
    };
    let name = p.name.value().trim().to_string();
    let name_error = key_name_error(m, &name);
    let form = SentIssue {
        name: name.clone(),
        lifetime: p.lifetime,
        date: p.date.value().trim().to_string(),
        access: p.access.values(),
        body: IssueApiKey::default(),
    };
    // The form unchanged since it was sent: the very same body again (docs/api.md, Retry-safe
    // issuance: the same Idempotency-Key with the same body is a replay, not a second key).
    let same = p.sent.as_ref().filter(|s| {
        (s.name.as_str(), s.lifetime, s.date.as_str(), &s.access)
            == (
                form.name.as_str(),
                form.lifetime,
                form.date.as_str(),
                &form.access,
            )
    });
    // A fixed lifetime goes as `lifetime_seconds`, a date as `expires_at` (docs/api.md, Time).
    let expiry = match same {
        Some(s) => Ok((s.body.expires_at, s.body.lifetime_seconds)),
        None if form.lifetime == Lifetime::Date && form.date.is_empty() => {
            Err(m.tr.t("expiry.error_empty").to_string())
        }
        None => match form.lifetime.seconds() {
            Some(n) => Ok((None, Some(n))),
            None => expiry::expires_at(form.lifetime, &form.date, m.now, m.tz)
                .map(|at| (at, None))
                .map_err(|e| e.message(m.tr, &form.date)),
        },
    };
    let (service_id, idempotency_key) = (p.service_id.clone(), p.idempotency_key.clone());
    let tr = m.tr;
    let Some(Popup::Issue(p)) = m.popups.last_mut() else {
        return Vec::new();
    };
    p.name_error = name_error;
    if p.name_error.is_some() {
        p.focus = Focus::Field(Field::Name);
        return Vec::new();
    }
    let (expires_at, lifetime_seconds) = match expiry {
        Ok(e) => e,
        Err(e) => {
            // `[Issue]` is refused until the date is one the service takes.
            p.expiry_error = Some(e);
            p.focus = Focus::Field(Field::Date);
            return Vec::new();
        }
    };
    let policy = match p.access.policy(tr) {
        Ok(policy) => policy,
        Err(field) => {
            p.focus = field;
            return Vec::new();
        }
    };
    // Full access is the service's default: the request says nothing of scopes then.
    let full = ScopeSet::of(&policy.scopes) == ScopeSet::FULL;
    let body = IssueApiKey {
        name: (!name.is_empty()).then_some(name),
        expires_at,
        lifetime_seconds,
        scopes: (!full).then_some(policy.scopes),
        rate_limit: policy.rate_limit,
        allowed_cidrs: policy.allowed_cidrs,
    };
    p.sent = Some(SentIssue {
        body: body.clone(),
        ..form
    });
    let c = ApiCall::IssueKey {
        service_id,
        body,
        idempotency_key,
    };
    call_for_popup(m, c)
}

/// An issue answered: the copy popup in this popup's place (or on top, if it has closed
/// meanwhile), or why not: the limit, an orphaned replay (with `[Delete]` of its key), a name
/// or expiry refused (under its field), access denied, or a lost connection (`[Retry]`).
pub fn on_issued(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<Issued, ApiError>,
) -> Vec<Effect> {
    let service_id = match &call {
        ApiCall::IssueKey { service_id, .. } => service_id.clone(),
        _ => String::new(),
    };
    let e = match r {
        Ok(issued) => {
            key_copy::show(m, id, service_id, issued);
            return Vec::new();
        }
        Err(e) => e,
    };
    let at = owner(m, id);
    clear_owner(m, id);
    match e.code() {
        Some(ErrorCode::ApiKeyLimitExceeded) => {
            let p = error::popup(m, &e, None);
            replace_at(m, at, p);
            refresh_keys(m, None)
        }
        Some(ErrorCode::IdempotencySecretUnavailable) => {
            let p = error::orphan(m, &e, service_id);
            replace_at(m, at, p);
            refresh_keys(m, None)
        }
        Some(ErrorCode::ServiceNotFound) => service_gone(m),
        Some(ErrorCode::InvalidRequest) => {
            let msg = errors::message(m, &e);
            // The service names the field it refuses: its words go under that field.
            let about = |field: &str| matches!(&e, ApiError::Api { message, .. } if message.contains(field));
            let about_expiry = about("expires_at") || about("lifetime_seconds");
            if let Some(Popup::Issue(p)) = at.and_then(|i| m.popups.get_mut(i)) {
                if about_expiry {
                    p.expiry_error = Some(msg);
                    // Sent again only as a new body: the form must change first.
                    p.sent = None;
                } else if about("scopes") {
                    p.access.scopes_error = Some(msg);
                } else if about("rate_limit") {
                    p.access.rate_error = Some(msg);
                } else if about("allowed_cidrs") {
                    p.access.cidrs_error = Some(msg);
                } else {
                    p.name_error = Some(msg);
                }
            } else {
                m.popups.push(error::popup(m, &e, None));
            }
            Vec::new()
        }
        Some(ErrorCode::Unauthorized | ErrorCode::Forbidden) => {
            let p = error::popup(m, &e, None);
            replace_at(m, at, p);
            Vec::new()
        }
        _ => {
            // Lost connection and friends: the issue popup stays, with its Idempotency-Key,
            // under a popup that offers the retry.
            m.popups.push(error::popup(m, &e, Some(call)));
            Vec::new()
        }
    }
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Issue(p) = p else {
        return PopupLayout::default();
    };
    let tr = m.tr;
    let service = m
        .keys
        .as_ref()
        .map(|k| clean(&k.service.name).into_owned())
        .unwrap_or_default();
    let mut parts = vec![
        Part::Text(tr.f("issue.body", &[("service", &service)]), Tone::Normal),
        Part::Text(
            tr.f(
                "issue.slots",
                &[("limit", &p.limit), ("remaining", &p.remaining)],
            ),
            Tone::Bold,
        ),
        Part::Blank,
        Part::Field(Field::Name, tr.t("issue.name").to_string()),
    ];
    if let Some(e) = &p.name_error {
        parts.push(Part::Text(e.clone(), Tone::Error));
    }
    parts.extend(expiry_parts(m, p));
    parts.extend(p.access.parts(tr));
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("issue.issuing"));
        parts.push(Part::Text(s, Tone::Dim));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(vec![Button::Issue, Button::Cancel]));
    centered(m, p, (tr.t("issue.title").to_string(), parts), screen.area)
}

/// The expiry: the choice, and for `Date…` the date field with what it means and what is
/// wrong with it.
fn expiry_parts(m: &Model, p: &IssuePopup) -> Vec<Part> {
    let tr = m.tr;
    let options = LIFETIMES
        .iter()
        .map(|l| tr.t(l.label_key()).to_string())
        .collect();
    let mut parts = vec![Part::Choice(
        Choice::Expiry,
        tr.t("expiry.label").to_string(),
        options,
        p.lifetime.index(),
    )];
    if p.lifetime == Lifetime::Date {
        parts.push(Part::Field(
            Field::Date,
            tr.t("expiry.date_label").to_string(),
        ));
        let zone = expiry::zone_label(m.now, m.tz);
        parts.push(Part::Text(
            tr.f("expiry.date_help", &[("zone", &zone)]),
            Tone::Dim,
        ));
    }
    if let Some(e) = &p.expiry_error {
        parts.push(Part::Text(e.clone(), Tone::Error));
    }
    parts
}
