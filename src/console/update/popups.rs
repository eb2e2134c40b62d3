//! Keys in popups: the top popup gets every key. Each popup answers by staying, closing,
//! replacing itself or sending a request.

use crossterm::event::KeyEvent;

use super::fields::{description_error, field_key, key_name_error, revalidate, service_name_error};
use super::{call, cycle_focus, help, refresh_keys};
use crate::console::expiry::{self, LIFETIMES, Lifetime};
use crate::console::keymap::{Action, Context};
use crate::console::layout;
use crate::console::model::{KeysFocus, Model, NoticeKind, Want};
use crate::console::msg::{ApiCall, CopyOutcome, Effect};
use crate::console::popup::{
    Button, Choice, ConfirmPopup, ErrorKind, Field, Focus, GRACES, Popup, SentIssue,
};
use crate::console::update::screens::open_delete;
use crate::sanitize::clean;
use crate::wire::{CreateService, IssueApiKey};

/// Keys of a popup whose focus is on a button.
pub(super) fn popup_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    match action {
        Some(Action::NextFocus) => cycle_focus(m, true),
        Some(Action::PrevFocus) => cycle_focus(m, false),
        Some(Action::Press) => {
            return match m.popups.last().and_then(Popup::focus) {
                Some(Focus::Button(b)) => press(m, b),
                _ => Vec::new(),
            };
        }
        Some(Action::Cancel) => return cancel(m),
        Some(Action::Help) => help(m, Context::Popup),
        _ => {}
    }
    Vec::new()
}

/// Keys of a popup's text field: Enter submits, focus moves and Esc as on a button, the rest
/// edits the field.
pub(super) fn text_field_key(m: &mut Model, action: Option<Action>, k: KeyEvent) -> Vec<Effect> {
    match action {
        Some(Action::Submit) => submit(m),
        Some(a @ (Action::NextFocus | Action::PrevFocus | Action::Cancel)) => popup_key(m, Some(a)),
        _ => {
            field_key(m, k);
            Vec::new()
        }
    }
}

/// Keys of a popup whose focus is on a choice (the Rotate popup's grace, the Issue popup's
/// expiry): ←/→ change it, Enter submits the popup's main action, Tab and Esc as on a button.
pub(super) fn choice_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    match action {
        Some(a @ (Action::ChoicePrev | Action::ChoiceNext)) => {
            let Some(p) = m.popups.last() else {
                return Vec::new();
            };
            let Some(Focus::Choice(c)) = p.focus() else {
                return Vec::new();
            };
            let Some(at) = chosen(p, c) else {
                return Vec::new();
            };
            // At either end it stays: the options do not wrap round.
            let to = match a {
                Action::ChoicePrev => at.saturating_sub(1),
                _ => at + 1,
            };
            choose(m, c, to);
            Vec::new()
        }
        Some(Action::Submit) => submit(m),
        Some(Action::Help) => {
            help(m, Context::Choice);
            Vec::new()
        }
        Some(a @ (Action::NextFocus | Action::PrevFocus | Action::Cancel)) => popup_key(m, Some(a)),
        _ => Vec::new(),
    }
}

/// The index of the option chosen in `p`'s choice `c`, if `p` has that choice.
fn chosen(p: &Popup, c: Choice) -> Option<usize> {
    match (p, c) {
        (Popup::Rotate(p), Choice::Grace) => Some(p.grace),
        (Popup::Issue(p), Choice::Expiry) => Some(p.lifetime.index()),
        _ => None,
    }
}

/// Chooses option `i` (clamped to the last) of the top popup's choice `c`, by key or click, and
/// puts the focus on the choice. Frozen while the popup's request runs, as its fields are: what
/// is being sent is what the popup shows.
pub(super) fn choose(m: &mut Model, c: Choice, i: usize) {
    match (m.popups.last_mut(), c) {
        (Some(Popup::Rotate(p)), Choice::Grace) if p.in_flight.is_none() => {
            p.focus = Focus::Choice(c);
            p.grace = i.min(GRACES.len() - 1);
        }
        (Some(Popup::Issue(p)), Choice::Expiry) if p.in_flight.is_none() => {
            p.focus = Focus::Choice(c);
            choose_lifetime(m, LIFETIMES[i.min(LIFETIMES.len() - 1)]);
        }
        _ => {}
    }
}

/// Sets the Issue popup's expiry choice.
fn choose_lifetime(m: &mut Model, to: Lifetime) {
    let Some(Popup::Issue(p)) = m.popups.last_mut() else {
        return;
    };
    p.lifetime = to;
    // An error about the date says nothing about another choice; back on Date… it is checked
    // again as typed.
    p.expiry_error = None;
    if to == Lifetime::Date {
        revalidate(m, Field::Date);
    }
}

/// Keys of a row's menu.
pub(super) fn menu_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    match action {
        Some(Action::Press) => {
            let i = match m.popups.last() {
                Some(Popup::Menu(p)) => p.selected,
                _ => 0,
            };
            return press_menu_item(m, i);
        }
        Some(a @ (Action::Up | Action::Down)) => {
            if let Some(Popup::Menu(p)) = m.popups.last_mut() {
                p.selected = match a {
                    Action::Up => p.selected.saturating_sub(1),
                    _ => (p.selected + 1).min(crate::console::popup::MENU_ITEMS - 1),
                };
            }
        }
        Some(Action::Cancel) => {
            m.popups.pop();
        }
        Some(Action::Help) => help(m, Context::Menu),
        _ => {}
    }
    Vec::new()
}

pub(super) fn help_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    let l = layout::for_model(m);
    let (visible, total) = l
        .popups
        .last()
        .map_or((1, 1), |p| (p.visible_lines.max(1), p.total_lines));
    let max = total.saturating_sub(visible);
    if let Some(Popup::Help(h)) = m.popups.last_mut() {
        match action {
            Some(Action::Up) => h.scroll = h.scroll.min(max).saturating_sub(1),
            Some(Action::Down) => h.scroll = (h.scroll + 1).min(max),
            Some(Action::PageUp) => h.scroll = h.scroll.min(max).saturating_sub(visible),
            Some(Action::PageDown) => h.scroll = (h.scroll + visible).min(max),
            Some(Action::Cancel) => {
                m.popups.pop();
            }
            _ => {}
        }
    }
    Vec::new()
}

/// Enter in a text field: the popup's main action.
fn submit(m: &mut Model) -> Vec<Effect> {
    match m.popups.last() {
        Some(Popup::Issue(_)) => press(m, Button::Issue),
        Some(Popup::CreateService(_)) => press(m, Button::Create),
        Some(Popup::Rename(_)) => press(m, Button::Save),
        Some(Popup::Rotate(_)) => press(m, Button::Rotate),
        Some(Popup::Whois(_)) => press(m, Button::Lookup),
        _ => Vec::new(),
    }
}

/// Esc: the popup's cancel. A request it waits for is abandoned: its answer will be dropped.
pub(super) fn cancel(m: &mut Model) -> Vec<Effect> {
    match m.popups.last() {
        Some(Popup::KeyCopy(_)) => return press(m, Button::Ok),
        Some(Popup::Help(_) | Popup::Menu(_) | Popup::ConfirmClose(_)) => {
            m.popups.pop();
            return Vec::new();
        }
        _ => {}
    }
    let Some(p) = m.popups.pop() else {
        return Vec::new();
    };
    if let Some(id) = p.in_flight() {
        m.pending.remove(&id);
        // An abandoned issue or rotation may still have made a key: the list will show it.
        if matches!(p, Popup::Issue(_) | Popup::Rotate(_)) {
            m.abandoned_issues.insert(id);
            m.notice(
                NoticeKind::Info,
                m.tr.t("notice.issue_abandoned").to_string(),
            );
        } else {
            m.notice(NoticeKind::Info, m.tr.t("notice.cancelled").to_string());
        }
    }
    Vec::new()
}

/// A button pressed, by Enter, Space or a click.
pub(super) fn press(m: &mut Model, b: Button) -> Vec<Effect> {
    let Some(top) = m.popups.last() else {
        return Vec::new();
    };
    // While its request runs, a popup's buttons but Cancel do nothing: no second Enter.
    if !top.enabled(b) {
        return Vec::new();
    }
    if b == Button::Cancel {
        return cancel(m);
    }
    match top {
        Popup::Issue(_) => submit_issue(m),
        Popup::KeyCopy(p) => match b {
            Button::CopyKey => vec![Effect::Copy(p.key.clone())],
            // Only a copy that went somewhere counts; after a failed one, ask as before.
            _ if matches!(
                p.copied,
                Some(CopyOutcome::System { .. } | CopyOutcome::Osc52 { .. })
            ) =>
            {
                close_key_popup(m)
            }
            _ => {
                m.popups.push(Popup::ConfirmClose(ConfirmPopup {
                    focus: Focus::Button(Button::Cancel),
                }));
                Vec::new()
            }
        },
        Popup::ConfirmClose(_) => {
            m.popups.pop();
            close_key_popup(m)
        }
        Popup::Delete(_) => submit_delete(m),
        Popup::CreateService(_) => submit_create(m),
        Popup::Rename(_) => submit_rename(m),
        Popup::Rotate(_) => submit_rotate(m),
        Popup::Error(e) => match (&e.kind, b) {
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
        },
        Popup::Whois(_) => match b {
            Button::Open => super::whois::open_owner(m),
            _ => super::whois::lookup(m),
        },
        Popup::Menu(_) | Popup::Help(_) | Popup::Audit(_) | Popup::Details(_) => Vec::new(),
    }
}

/// An item of the ≡ menu chosen: the menu closes, and a disabled item says why in the footer.
pub(super) fn press_menu_item(m: &mut Model, item: usize) -> Vec<Effect> {
    use crate::console::popup::{MENU_DETAILS, MENU_RENAME, MENU_ROTATE, MENU_TOGGLE};
    m.popups.pop();
    if let Some(reason) = layout::popups::menu_item_disabled(m, item) {
        m.notice(NoticeKind::Info, reason);
        return Vec::new();
    }
    match item {
        MENU_DETAILS => super::details::open(m),
        MENU_RENAME => super::screens::open_rename(m),
        MENU_TOGGLE => super::screens::toggle_enabled(m),
        MENU_ROTATE => super::screens::open_rotate(m),
        _ => open_delete(m),
    }
}

/// The popup underneath an error popup that waits for a retried call.
fn retry(m: &mut Model, c: ApiCall) -> Vec<Effect> {
    m.popups.pop();
    let effect = call(m, c.clone());
    if let (Some(p), Effect::Call { id, .. }) = (m.popups.last_mut(), &effect) {
        let owner = matches!(
            (&c, &*p),
            (ApiCall::IssueKey { .. }, Popup::Issue(_))
                | (ApiCall::DeleteKey { .. }, Popup::Delete(_))
                | (
                    ApiCall::UpdateKey { .. },
                    Popup::Delete(_) | Popup::Rename(_)
                )
                | (ApiCall::RotateKey { .. }, Popup::Rotate(_))
                | (ApiCall::CreateService(_), Popup::CreateService(_))
        );
        if owner {
            p.set_in_flight(Some(*id));
        }
    }
    vec![effect]
}

/// Sends `c` for the top popup, which shows that it waits and disables its buttons meanwhile.
fn call_for_popup(m: &mut Model, c: ApiCall) -> Vec<Effect> {
    let effect = call(m, c);
    if let (Some(p), Effect::Call { id, .. }) = (m.popups.last_mut(), &effect) {
        p.set_in_flight(Some(*id));
    }
    vec![effect]
}

fn submit_issue(m: &mut Model) -> Vec<Effect> {
    let Some(Popup::Issue(p)) = m.popups.last() else {
        return Vec::new();
    };
    let name = p.name.value().trim().to_string();
    let name_error = key_name_error(m, &name);
    let form = SentIssue {
        name: name.clone(),
        lifetime: p.lifetime,
        date: p.date.value().trim().to_string(),
        body: IssueApiKey::default(),
    };
    // The form unchanged since it was sent: the very same body again (API.md, Retry-safe
    // issuance: the same Idempotency-Key with the same body is a replay, not a second key).
    let same = p.sent.as_ref().filter(|s| {
        (s.name.as_str(), s.lifetime, s.date.as_str())
            == (form.name.as_str(), form.lifetime, form.date.as_str())
    });
    let expiry = match same {
        Some(s) => Ok(s.body.expires_at),
        None if form.lifetime == Lifetime::Date && form.date.is_empty() => {
            Err(m.tr.t("expiry.error_empty").to_string())
        }
        None => expiry::expires_at(form.lifetime, &form.date, m.now, m.tz)
            .map_err(|e| e.message(m.tr, &form.date)),
    };
    let (service_id, idempotency_key) = (p.service_id.clone(), p.idempotency_key.clone());
    let Some(Popup::Issue(p)) = m.popups.last_mut() else {
        return Vec::new();
    };
    p.name_error = name_error;
    if p.name_error.is_some() {
        p.focus = Focus::Field(Field::Name);
        return Vec::new();
    }
    let expires_at = match expiry {
        Ok(at) => at,
        Err(e) => {
            // `[Issue]` is refused until the date is one the service takes.
            p.expiry_error = Some(e);
            p.focus = Focus::Field(Field::Date);
            return Vec::new();
        }
    };
    let body = IssueApiKey {
        name: (!name.is_empty()).then_some(name),
        expires_at,
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

fn submit_delete(m: &mut Model) -> Vec<Effect> {
    let Some(Popup::Delete(p)) = m.popups.last() else {
        return Vec::new();
    };
    let c = if p.disable {
        ApiCall::UpdateKey {
            service_id: p.service_id.clone(),
            key_id: p.key.id.clone(),
            body: crate::wire::UpdateApiKey {
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

/// `[Save]` (or Enter) on Rename: PATCH the name; an empty field clears it (`name: null`).
fn submit_rename(m: &mut Model) -> Vec<Effect> {
    let Some(Popup::Rename(p)) = m.popups.last() else {
        return Vec::new();
    };
    let name = p.name.value().trim().to_string();
    let name_error = key_name_error(m, &name);
    let c = ApiCall::UpdateKey {
        service_id: p.service_id.clone(),
        key_id: p.key.id.clone(),
        body: crate::wire::UpdateApiKey {
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

/// `[Rotate]` (or Enter on the grace choice): POST the rotation with the popup's
/// Idempotency-Key, the same on every retry.
fn submit_rotate(m: &mut Model) -> Vec<Effect> {
    let Some(Popup::Rotate(p)) = m.popups.last() else {
        return Vec::new();
    };
    let grace = crate::console::popup::GRACES
        .get(p.grace)
        .copied()
        .unwrap_or(crate::console::popup::GRACES[crate::console::popup::GRACE_DEFAULT]);
    let c = ApiCall::RotateKey {
        service_id: p.service_id.clone(),
        key_id: p.key.id.clone(),
        body: crate::wire::RotateApiKey {
            grace_seconds: grace,
        },
        idempotency_key: p.idempotency_key.clone(),
    };
    call_for_popup(m, c)
}

fn submit_create(m: &mut Model) -> Vec<Effect> {
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

/// The key popup closes: the key is dropped (wiped) and the list shows the new masked row.
fn close_key_popup(m: &mut Model) -> Vec<Effect> {
    let Some(i) = m
        .popups
        .iter()
        .rposition(|p| matches!(p, Popup::KeyCopy(_)))
    else {
        return Vec::new();
    };
    let Popup::KeyCopy(p) = m.popups.remove(i) else {
        return Vec::new();
    };
    let masked = clean(&p.api_key.masked).into_owned();
    let id = p.api_key.id.clone();
    drop(p);
    m.notice(
        NoticeKind::Success,
        m.tr.f("notice.issued", &[("masked", &masked)]),
    );
    if let Some(k) = m.keys.as_mut() {
        k.focus = KeysFocus::Table;
    }
    refresh_keys(m, Some(Want::Id(id)))
}
