//! Edit access (docs/console.md, Access; `p`, or `Access…` in the ≡ menu; managers): the key's
//! scopes, rate limit and allowed networks in the fields Issue API Key has (`policy_form`),
//! prefilled; `[Narrow to what it used]` fills them with the service's proposal (what the key
//! was used for in 30 days); every change shows, before anything is saved, the difference line
//! by line and the impact line (what the last 30 days' calls would have met); `[Save]` sends a
//! PATCH of only what changed.

mod diff;

use tui_input::Input;

use super::answers::{close_and_refresh, offer_retry, owner};
use super::delete::refused_update;
use super::form::{DIALOG, call_for_popup};
use super::policy_form::{Access, FOCUS, FOCUS_CUSTOM, PolicyForm};
use super::{Button, Choice, Dialog, Field, Focus, Handlers, Popup};
use crate::client::ApiError;
use crate::console::layout::popups::{Part, centered};
use crate::console::layout::{PopupLayout, ScreenLayout};
use crate::console::model::{Model, NoticeKind, Want};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::text::Tone;
use crate::console::update::usage::fetch_usage;
use crate::console::update::{call, errors, selected_for, service_gone};
use crate::policy::{Policy, Scope, ScopeSet};
use crate::sanitize::clean;
use crate::wire::{ApiKey, ErrorCode, Narrowing, NarrowingCandidate, UpdateApiKey};

pub use diff::{candidate, changed};

/// The Edit access popup of one key.
#[derive(Debug)]
pub struct AccessPopup {
    pub service_id: String,
    /// The key as listed: its policy is what the form is compared with.
    pub key: ApiKey,
    pub form: PolicyForm,
    pub focus: Focus,
    /// The first line shown when the form is taller than the screen.
    pub scroll: usize,
    /// `[Narrow to what it used]` or `[Save]`, while it runs.
    pub in_flight: Option<RequestId>,
    /// The service's answer to `[Narrow to what it used]`: its reasons stay shown.
    pub proposal: Option<Narrowing>,
    /// Why the proposal could not be had.
    pub error: Option<String>,
    pub impact: Impact,
}

/// The impact line's requests: at most one in flight; when it is answered and the form has
/// changed meanwhile, the form as it is then is asked about (the latest form wins).
#[derive(Debug, Default)]
pub struct Impact {
    pub in_flight: Option<RequestId>,
    /// What the request in flight asks about.
    pub asked: Option<NarrowingCandidate>,
    /// The latest answer, with the candidate it judged.
    pub answer: Option<(NarrowingCandidate, Result<Narrowing, String>)>,
}

const HANDLERS: Handlers = Handlers {
    press,
    choose,
    revalidate,
    toggle,
    after,
    place,
    ..DIALOG
};

// The access fields, then `[Narrow to what it used]`, `[Save]`, `[Cancel]`.
const ORDER: [Focus; 6] = [
    FOCUS[0],
    FOCUS[1],
    FOCUS[2],
    Focus::Button(Button::Narrow),
    Focus::Button(Button::Save),
    Focus::Button(Button::Cancel),
];
const ORDER_CUSTOM: [Focus; 9] = [
    FOCUS_CUSTOM[0],
    FOCUS_CUSTOM[1],
    FOCUS_CUSTOM[2],
    FOCUS_CUSTOM[3],
    FOCUS_CUSTOM[4],
    FOCUS_CUSTOM[5],
    Focus::Button(Button::Narrow),
    Focus::Button(Button::Save),
    Focus::Button(Button::Cancel),
];

impl Dialog for AccessPopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn focus_order(&self) -> &'static [Focus] {
        if self.form.access == Access::Custom {
            &ORDER_CUSTOM
        } else {
            &ORDER
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
        self.form.input(f)
    }

    fn input_mut(&mut self, f: Field) -> Option<&mut Input> {
        self.form.input_mut(f)
    }

    fn main_button(&self) -> Option<Button> {
        Some(Button::Save)
    }

    fn chosen(&self, c: Choice) -> Option<usize> {
        (c == Choice::Access).then_some(self.form.access.index())
    }

    fn field_max(&self, f: Field) -> usize {
        PolicyForm::field_max(f).unwrap_or(0)
    }

    fn sent(&self, call: &ApiCall) -> bool {
        matches!(call, ApiCall::UpdateKey { .. })
    }

    fn scroll(&self) -> usize {
        self.scroll
    }

    fn set_scroll(&mut self, first: usize) {
        self.scroll = first;
    }
}

/// `p` or the menu's `Access…`: the form prefilled from the key, the focus on `[Narrow to what
/// it used]` (what the popup is for); the key's usage asked for, for the figures of the diff.
pub fn open(m: &mut Model) -> Vec<Effect> {
    let Some((service_id, key)) = selected_for(m, "what.access") else {
        return Vec::new();
    };
    let usage = fetch_usage(m, &service_id, &key.id, true);
    m.popups.push(Popup::Access(AccessPopup {
        service_id,
        form: PolicyForm::from_policy(&key.policy),
        key,
        focus: Focus::Button(Button::Narrow),
        scroll: 0,
        in_flight: None,
        proposal: None,
        error: None,
        impact: Impact::default(),
    }));
    usage
}

/// The top popup, if it is Edit access and takes edits now (not while Narrow or Save runs:
/// what is being sent is what the popup shows).
fn editable(m: &mut Model) -> Option<&mut AccessPopup> {
    match m.popups.last_mut() {
        Some(Popup::Access(p)) if p.in_flight.is_none() => Some(p),
        _ => None,
    }
}

fn choose(m: &mut Model, c: Choice, i: usize) {
    if let Some(p) = editable(m)
        && c == Choice::Access
    {
        p.focus = Focus::Choice(c);
        p.form.choose(i);
    }
}

fn toggle(m: &mut Model, s: Scope) {
    let tr = m.tr;
    if let Some(p) = editable(m) {
        p.form.toggle(tr, s);
    }
}

fn revalidate(m: &mut Model, f: Field) {
    let tr = m.tr;
    if let Some(p) = editable(m) {
        p.form.revalidate(tr, f);
    }
}

/// After every message: the impact of the form as it is now, asked for when it is a change
/// not yet judged and no other such request runs (its answer asks again if need be).
fn after(m: &mut Model) -> Vec<Effect> {
    let tr = m.tr;
    let Some(Popup::Access(p)) = m.popups.last() else {
        return Vec::new();
    };
    if p.impact.in_flight.is_some() {
        return Vec::new();
    }
    let Some(new) = p.form.peek(tr) else {
        return Vec::new();
    };
    let Some(c) = candidate(&p.key.policy, &new) else {
        return Vec::new();
    };
    if p.impact.answer.as_ref().is_some_and(|(a, _)| *a == c) {
        return Vec::new();
    }
    let ask = ApiCall::KeyNarrowing {
        service_id: p.service_id.clone(),
        key_id: p.key.id.clone(),
        candidate: Some(c.clone()),
    };
    let effect = call(m, ask);
    if let (Some(Popup::Access(p)), Effect::Call { id, .. }) = (m.popups.last_mut(), &effect) {
        p.impact.in_flight = Some(*id);
        p.impact.asked = Some(c);
    }
    vec![effect]
}

/// `[Narrow to what it used]`: the service's proposal; `[Save]` (or Enter in a field): the
/// PATCH of what changed.
fn press(m: &mut Model, b: Button) -> Vec<Effect> {
    let tr = m.tr;
    let Some(Popup::Access(p)) = m.popups.last_mut() else {
        return Vec::new();
    };
    if b == Button::Narrow {
        p.error = None;
        let c = ApiCall::KeyNarrowing {
            service_id: p.service_id.clone(),
            key_id: p.key.id.clone(),
            candidate: None,
        };
        return call_for_popup(m, c);
    }
    let new = match p.form.policy(tr) {
        Ok(new) => new,
        Err(field) => {
            p.focus = field;
            return Vec::new();
        }
    };
    let body = patch(&p.key.policy, &new);
    if body.is_empty() {
        m.notice(NoticeKind::Info, tr.t("access.unchanged").to_string());
        return Vec::new();
    }
    let c = ApiCall::UpdateKey {
        service_id: p.service_id.clone(),
        key_id: p.key.id.clone(),
        body,
    };
    call_for_popup(m, c)
}

/// The PATCH from `current` to `new`: only the fields that change (docs/api.md, Changes).
pub fn patch(current: &Policy, new: &Policy) -> UpdateApiKey {
    let scopes_changed = ScopeSet::of(&current.scopes) != ScopeSet::of(&new.scopes);
    UpdateApiKey {
        scopes: scopes_changed.then(|| new.scopes.clone()),
        rate_limit: (current.rate_limit != new.rate_limit).then_some(new.rate_limit),
        allowed_cidrs: (!diff::same_cidrs(&current.allowed_cidrs, &new.allowed_cidrs))
            .then(|| new.allowed_cidrs.clone()),
        ..UpdateApiKey::default()
    }
}

/// Whether `call` is Edit access's PATCH.
pub fn is_access(call: &ApiCall) -> bool {
    matches!(call, ApiCall::UpdateKey { body, .. }
        if body.scopes.is_some() || body.rate_limit.is_some() || body.allowed_cidrs.is_some())
}

/// Whether an Edit access popup waits for request `id` (its Narrow or its impact line).
pub fn awaits(m: &Model, id: RequestId) -> bool {
    m.popups.iter().any(|p| {
        matches!(p, Popup::Access(p) if p.in_flight == Some(id) || p.impact.in_flight == Some(id))
    })
}

/// A narrowing answered: the proposal of `[Narrow to what it used]` fills the form (the focus
/// on `[Save]`, so that the diff is read before anything is saved), or an impact request's
/// answer is kept for its candidate. An answer whose popup has closed is dropped.
pub fn on_narrowing(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<Narrowing, ApiError>,
) -> Vec<Effect> {
    if let Err(e) = &r
        && e.code() == Some(ErrorCode::ServiceNotFound)
    {
        return service_gone(m);
    }
    let r = r.map_err(|e| errors::message(m, &e));
    let asked = match call {
        ApiCall::KeyNarrowing { candidate, .. } => candidate,
        _ => None,
    };
    for p in m.popups.iter_mut().rev() {
        let Popup::Access(p) = p else {
            continue;
        };
        if p.in_flight == Some(id) {
            p.in_flight = None;
            return proposal_arrived(p, r);
        }
        if p.impact.in_flight == Some(id) {
            p.impact.in_flight = None;
            p.impact.asked = None;
            if let Some(c) = asked {
                p.impact.answer = Some((c, r));
            }
            return Vec::new();
        }
    }
    Vec::new()
}

fn proposal_arrived(p: &mut AccessPopup, r: Result<Narrowing, String>) -> Vec<Effect> {
    let n = match r {
        Ok(n) => n,
        Err(e) => {
            p.error = Some(e);
            return Vec::new();
        }
    };
    if let Some(proposed) = &n.proposed {
        p.form = PolicyForm::from_policy(proposed);
        // The proposal's own figure is the impact of the form it fills.
        if let Some(c) = candidate(&p.key.policy, proposed) {
            p.impact.answer = Some((c, Ok(n.clone())));
        }
        if changed(&p.key.policy, proposed) {
            p.focus = Focus::Button(Button::Save);
        }
    }
    p.proposal = Some(n);
    Vec::new()
}

/// The PATCH answered: the popup closes, the list refreshes and the footer says it was saved;
/// a refusal of a field shows under it, the popup kept open.
pub fn on_saved(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<ApiKey, ApiError>,
) -> Vec<Effect> {
    let at = owner(m, id);
    match r {
        Ok(key) => {
            let text = m.tr.f(
                "access.saved",
                &[
                    ("masked", &clean(&key.masked)),
                    ("access", &key.policy.access_label()),
                ],
            );
            close_and_refresh(m, at, NoticeKind::Success, text, Want::Id(key.id))
        }
        Err(e) if e.code() == Some(ErrorCode::ServiceNotFound) => service_gone(m),
        Err(e) if errors::retryable(&e) => offer_retry(m, id, &e, call),
        Err(e) if e.code() == Some(ErrorCode::InvalidRequest) => {
            let msg = errors::message(m, &e);
            let about = |field: &str| matches!(&e, ApiError::Api { message, .. } if message.contains(field));
            let (scopes, rate) = (about("scopes"), about("rate_limit"));
            let Some(Popup::Access(p)) = at.and_then(|i| m.popups.get_mut(i)) else {
                return Vec::new();
            };
            p.in_flight = None;
            if scopes {
                (p.form.scopes_error, p.focus) = (Some(msg), Focus::Choice(Choice::Access));
            } else if rate {
                (p.form.rate_error, p.focus) = (Some(msg), Focus::Field(Field::RateLimit));
            } else {
                (p.form.cidrs_error, p.focus) = (Some(msg), Focus::Field(Field::AllowedFrom));
            }
            Vec::new()
        }
        Err(e) => refused_update(m, at, &e),
    }
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Access(p) = p else {
        return PopupLayout::default();
    };
    let tr = m.tr;
    let k = &p.key;
    let mut head = format!("{}: {}", tr.t("delete.key"), clean(&k.masked));
    if let Some(name) = &k.name {
        head.push_str(&format!(" · {}", clean(name)));
    }
    let mut parts = vec![
        Part::Text(head, Tone::Bold),
        Part::Text(tr.t("access.body").to_string(), Tone::Normal),
        Part::Blank,
    ];
    parts.extend(p.form.parts(tr));
    parts.extend(review(m, p));
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("access.working"));
        parts.push(Part::Text(s, Tone::Dim));
    }
    parts.push(Part::Blank);
    parts.push(Part::Buttons(vec![
        Button::Narrow,
        Button::Save,
        Button::Cancel,
    ]));
    centered(m, p, (tr.t("access.title").to_string(), parts), screen.area)
}

/// Under the form: why Narrow failed or found nothing to propose, the difference from the
/// key's policy line by line, and the impact line.
fn review(m: &Model, p: &AccessPopup) -> Vec<Part> {
    let tr = m.tr;
    let mut parts = Vec::new();
    if let Some(e) = &p.error {
        parts.push(Part::Text(e.clone(), Tone::Error));
    }
    let current = &p.key.policy;
    let new = p.form.peek(tr);
    if let Some(n) = &p.proposal {
        let nothing = match &n.proposed {
            None => Some("access.no_proposal"),
            Some(x) if !changed(current, x) => Some("access.nothing_to_narrow"),
            Some(_) => None,
        };
        if let Some(key) = nothing {
            parts.push(Part::Text(tr.t(key).to_string(), Tone::Note));
        }
    }
    let Some(new) = new.filter(|new| changed(current, new)) else {
        // The reasons of a proposal that changes nothing say why.
        if let Some(n) = &p.proposal {
            parts.extend(
                n.reasons
                    .iter()
                    .map(|r| Part::Text(diff::reason(tr, *r), Tone::Dim)),
            );
        }
        return parts;
    };
    parts.push(Part::Blank);
    let usage = m.usage.get(&p.key.id).and_then(|u| u.loaded());
    parts.extend(
        diff::lines(tr, current, &new, usage)
            .into_iter()
            .map(|(s, tone)| Part::Text(s, tone)),
    );
    let impact = match candidate(current, &new) {
        None => Vec::new(),
        Some(c) => match &p.impact.answer {
            Some((a, Ok(n))) if *a == c => diff::impact(tr, n),
            Some((a, Err(e))) if *a == c => {
                vec![(tr.f("access.impact_failed", &[("reason", e)]), Tone::Dim)]
            }
            _ => vec![(tr.t("access.impact_checking").to_string(), Tone::Dim)],
        },
    };
    parts.extend(impact.into_iter().map(|(s, tone)| Part::Text(s, tone)));
    if current.rate_limit != new.rate_limit {
        parts.push(Part::Text(
            tr.t("access.impact_rate").to_string(),
            Tone::Dim,
        ));
    }
    parts
}
