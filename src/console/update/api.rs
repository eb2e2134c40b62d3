//! Answers from the service. A result whose request is no longer pending (Esc abandoned it) is
//! dropped; everything else lands where its request came from.

use super::{back_to_services, errors, keep_selection_visible, refresh_keys, refresh_services};
use crate::client::{ApiError, Issued};
use crate::console::model::{Model, NoticeKind, Want};
use crate::console::msg::{ApiCall, ApiResult, Effect, RequestId};
use crate::console::popup::{Button, ErrorKind, ErrorPopup, Focus, KeyCopyPopup, Popup};
use crate::sanitize::clean;
use crate::wire::{ApiKeyList, ErrorCode, IssuedKey, Service};

pub(super) fn on_result(m: &mut Model, id: RequestId, result: ApiResult) -> Vec<Effect> {
    let Some(call) = m.pending.remove(&id) else {
        // An abandoned issue may still have issued a key: show it (masked) in the list.
        if m.abandoned_issues.remove(&id)
            && matches!(result, ApiResult::Issued(Ok(_)) | ApiResult::Rotated(Ok(_)))
            && m.keys.is_some()
        {
            m.dirty = true;
            return refresh_keys(m, None);
        }
        return Vec::new();
    };
    m.dirty = true;
    match result {
        ApiResult::AuditPage(result) => super::audit::on_page(m, id, result),
        ApiResult::Whois(result) => super::whois::on_answer(m, id, result),
        ApiResult::Usage { key_id, result } => super::details::on_usage(m, key_id, result),
        ApiResult::KeyAudit { key_id, result } => {
            super::details::on_key_audit(m, id, &key_id, result)
        }
        ApiResult::Me(Ok(me)) => {
            m.me = Some(me);
            keep_selection_visible(m);
            Vec::new()
        }
        ApiResult::Me(Err(e)) => load_failed(m, &e),
        ApiResult::Services(Ok(list)) => {
            services_loaded(m, list.services);
            Vec::new()
        }
        ApiResult::Services(Err(e)) => {
            if m.services.list.is_none() {
                m.services.error = Some(errors::message(m, &e));
            }
            load_failed(m, &e)
        }
        ApiResult::Keys { service_id, result } => match result {
            Ok(list) => {
                if crate::console::lifecycle::needs_attention(&list.api_keys, m.now) {
                    m.services.attention.insert(service_id.clone());
                } else {
                    m.services.attention.remove(&service_id);
                }
                keys_loaded(m, &service_id, list);
                super::details::probe_disabled(m, &service_id)
            }
            Err(e) if e.code() == Some(ErrorCode::ServiceNotFound) => service_gone(m),
            Err(e) => {
                let msg = errors::message(m, &e);
                if let Some(k) = m.keys.as_mut().filter(|k| k.list.is_none()) {
                    k.error = Some(msg);
                }
                load_failed(m, &e)
            }
        },
        ApiResult::Issued(r) => issued(m, id, call, r),
        ApiResult::KeyDeleted { result, .. } => key_deleted(m, id, call, result),
        ApiResult::KeyUpdated(r) => key_updated(m, id, call, r),
        ApiResult::Rotated(r) => rotated(m, id, call, r),
        ApiResult::ServiceCreated(r) => service_created(m, id, call, r),
    }
}

/// A list or `me` that could not be loaded: a footer notice that says what to do, or for a
/// refused token, a popup (nothing else will work).
fn load_failed(m: &mut Model, e: &ApiError) -> Vec<Effect> {
    let refused = matches!(
        e.code(),
        Some(ErrorCode::Unauthorized | ErrorCode::InvalidApiKey)
    );
    if refused {
        let msg = errors::message(m, e);
        let shown = m
            .popups
            .iter()
            .any(|p| matches!(p, Popup::Error(x) if x.message == msg));
        if !shown {
            m.popups.push(errors::popup(m, e, None));
        }
        m.notice(NoticeKind::LoadError, msg);
        return Vec::new();
    }
    let text = if let ApiError::Unreachable { reason, .. } = e {
        m.tr.f("notice.unreachable", &[("reason", &clean(reason))])
    } else {
        format!("{} {}", errors::message(m, e), m.tr.t("notice.press_r"))
    };
    m.notice(NoticeKind::LoadError, text);
    Vec::new()
}

/// A load that succeeds after a failure: the failure's notice is no longer true. Other notices
/// (a refusal, a warning about the connection) still are, and stay.
fn clear_error_notice(m: &mut Model) {
    if m.notice
        .as_ref()
        .is_some_and(|n| n.kind == NoticeKind::LoadError)
    {
        m.notice = None;
    }
}

fn services_loaded(m: &mut Model, list: Vec<Service>) {
    clear_error_notice(m);
    let s = &mut m.services;
    let keep = s
        .want
        .take()
        .or_else(|| s.selected_service().map(|x| x.id.clone()));
    s.list = Some(list);
    s.error = None;
    if let Some(id) = keep
        && let Some(i) = s.visible().iter().position(|x| x.id == id)
    {
        s.selected = i;
    }
    keep_selection_visible(m);
}

fn keys_loaded(m: &mut Model, service_id: &str, mut list: ApiKeyList) {
    clear_error_notice(m);
    // Newest first, whatever order arrives; the service promises it, the console makes sure.
    list.api_keys
        .sort_by_key(|k| std::cmp::Reverse(k.created_at));
    let count = crate::console::model::slots_used(&list.api_keys);
    let limit = list.key_limit;
    if let Some(svc) = m
        .services
        .list
        .iter_mut()
        .flatten()
        .find(|s| s.id == service_id)
    {
        svc.key_count = count;
        svc.key_limit = limit;
    }
    let Some(k) = m.keys.as_mut().filter(|k| k.service.id == service_id) else {
        return;
    };
    let first_load = k.list.is_none();
    k.service.key_count = count;
    k.service.key_limit = limit;
    let want = k.want.take();
    // A key asked for by id (Who owns this key? → [Open]) is selected even on the first load.
    let wanted = matches!(want, Some(Want::Id(_)));
    k.list = Some(list);
    k.error = None;
    let len = k.keys().len();
    k.selected = match want {
        Some(Want::Id(id)) => k.keys().iter().position(|x| x.id == id).unwrap_or(0),
        Some(Want::Index(i)) => i.min(len.saturating_sub(1)),
        None => k.selected.min(len.saturating_sub(1)),
    };
    if first_load {
        // Focus starts on the newest key (or the one asked for), or on [Issue API Key] when
        // there is none.
        if !wanted {
            k.selected = 0;
        }
        k.focus = if len == 0 {
            crate::console::model::KeysFocus::IssueButton
        } else {
            crate::console::model::KeysFocus::Table
        };
    } else if len == 0 {
        k.focus = crate::console::model::KeysFocus::IssueButton;
    }
    keep_selection_visible(m);
}

fn service_gone(m: &mut Model) -> Vec<Effect> {
    m.popups.clear();
    let out = back_to_services(m);
    m.notice(
        NoticeKind::Error,
        m.tr.t("error.service_not_found").to_string(),
    );
    out
}

/// The index of the popup waiting for request `id`.
fn owner(m: &Model, id: RequestId) -> Option<usize> {
    m.popups.iter().rposition(|p| p.in_flight() == Some(id))
}

/// Puts `p` where the waiting popup was (index `at`), or on top if it is gone.
fn replace_at(m: &mut Model, at: Option<usize>, p: Popup) {
    match at {
        Some(i) => {
            // Popups above the owner (help) belonged to it.
            m.popups.truncate(i);
            m.popups.push(p);
        }
        None => m.popups.push(p),
    }
}

fn clear_owner(m: &mut Model, id: RequestId) {
    if let Some(i) = owner(m, id) {
        m.popups[i].set_in_flight(None);
    }
}

/// A failure worth retrying (a lost connection): the popup that asked stays, no longer
/// waiting, under a popup that offers the retry of `call`.
fn offer_retry(m: &mut Model, id: RequestId, e: &ApiError, call: ApiCall) -> Vec<Effect> {
    clear_owner(m, id);
    m.popups.push(errors::popup(m, e, Some(call)));
    Vec::new()
}

/// An answer that ends a popup's work: that popup (index `at`, and any above it) closes, the
/// footer says `text`, and the list is fetched again with the selection on `want`.
fn close_and_refresh(
    m: &mut Model,
    at: Option<usize>,
    kind: NoticeKind,
    text: String,
    want: Want,
) -> Vec<Effect> {
    if let Some(i) = at {
        m.popups.truncate(i);
    }
    m.notice(kind, text);
    refresh_keys(m, Some(want))
}

fn issued(m: &mut Model, id: RequestId, call: ApiCall, r: Result<Issued, ApiError>) -> Vec<Effect> {
    let service_id = match &call {
        ApiCall::IssueKey { service_id, .. } => service_id.clone(),
        _ => String::new(),
    };
    match r {
        Ok(issued) => {
            show_key(m, id, service_id, issued);
            Vec::new()
        }
        Err(e) => {
            let at = owner(m, id);
            clear_owner(m, id);
            match e.code() {
                Some(ErrorCode::ApiKeyLimitExceeded) => {
                    let p = errors::popup(m, &e, None);
                    replace_at(m, at, p);
                    refresh_keys(m, None)
                }
                Some(ErrorCode::IdempotencySecretUnavailable) => {
                    let msg = match &e {
                        ApiError::Api { message, .. } => clean(message).into_owned(),
                        _ => String::new(),
                    };
                    let kind = match errors::orphan_key_id(&msg) {
                        Some(key_id) if m.can_manage() => {
                            ErrorKind::DeleteOrphan { service_id, key_id }
                        }
                        _ => ErrorKind::Plain,
                    };
                    let focus = Focus::Button(match kind {
                        ErrorKind::Plain => Button::Ok,
                        _ => Button::Cancel,
                    });
                    let p = Popup::Error(ErrorPopup {
                        title: errors::title(m, &e),
                        message: errors::message(m, &e),
                        kind,
                        focus,
                        in_flight: None,
                    });
                    replace_at(m, at, p);
                    refresh_keys(m, None)
                }
                Some(ErrorCode::ServiceNotFound) => service_gone(m),
                Some(ErrorCode::InvalidRequest) => {
                    let msg = errors::message(m, &e);
                    // The service names the field it refuses: its words go under that field.
                    let about_expiry = matches!(&e, ApiError::Api { message, .. } if message.contains("expires_at"));
                    if let Some(Popup::Issue(p)) = at.and_then(|i| m.popups.get_mut(i)) {
                        if about_expiry {
                            p.expiry_error = Some(msg);
                            // Sent again only as a new body: the form must change first.
                            p.sent = None;
                        } else {
                            p.name_error = Some(msg);
                        }
                    } else {
                        m.popups.push(errors::popup(m, &e, None));
                    }
                    Vec::new()
                }
                Some(ErrorCode::Unauthorized | ErrorCode::Forbidden) => {
                    let p = errors::popup(m, &e, None);
                    replace_at(m, at, p);
                    Vec::new()
                }
                _ => {
                    // Lost connection and friends: the issue popup stays, with its
                    // Idempotency-Key, under a popup that offers the retry.
                    m.popups.push(errors::popup(m, &e, Some(call)));
                    Vec::new()
                }
            }
        }
    }
}

/// The API Key copy popup for a key just made (issued, or a rotation's successor), in place of
/// the popup that asked for it.
fn show_key(m: &mut Model, id: RequestId, service_id: String, issued: Issued) {
    // Moved, not copied: the popup holds the only plaintext.
    let Issued {
        key: IssuedKey { api_key, key },
        ..
    } = issued;
    let popup = Popup::KeyCopy(KeyCopyPopup {
        service_id,
        key,
        api_key,
        focus: Focus::Button(Button::CopyKey),
        copied: None,
    });
    let at = owner(m, id);
    replace_at(m, at, popup);
}

/// A rotation answered (issue 8): on success the API Key copy popup for the successor, with
/// every rule of that popup; closing it refreshes the list onto the new row. A key that is not
/// active (409) is explained in the console's words; a lost answer offers the retry, which
/// reuses the popup's Idempotency-Key and so gets the same successor.
fn rotated(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<Issued, ApiError>,
) -> Vec<Effect> {
    let service_id = match &call {
        ApiCall::RotateKey { service_id, .. } => service_id.clone(),
        _ => String::new(),
    };
    match r {
        Ok(issued) => {
            show_key(m, id, service_id, issued);
            Vec::new()
        }
        Err(e) if e.code() == Some(ErrorCode::ServiceNotFound) => service_gone(m),
        Err(e) if errors::retryable(&e) => offer_retry(m, id, &e, call),
        Err(e) => {
            let at = owner(m, id);
            let mut p = errors::popup(m, &e, None);
            if e.code() == Some(ErrorCode::ApiKeyNotActive)
                && let Popup::Error(err) = &mut p
            {
                err.message = m.tr.t("rotate.not_active").to_string();
            }
            replace_at(m, at, p);
            // Whatever the key became (disabled, rotated elsewhere), the list shows it.
            refresh_keys(m, None)
        }
    }
}

fn key_deleted(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<(), ApiError>,
) -> Vec<Effect> {
    let at = owner(m, id);
    // Named as the row shows it; an orphaned key (no row, no Delete popup) by its id.
    let masked = match (at.and_then(|i| m.popups.get(i)), &call) {
        (Some(Popup::Delete(p)), _) => clean(&p.key.masked).into_owned(),
        (_, ApiCall::DeleteKey { key_id, .. }) => m
            .keys
            .as_ref()
            .and_then(|k| k.keys().iter().find(|x| &x.id == key_id))
            .map_or_else(
                || clean(key_id).into_owned(),
                |x| clean(&x.masked).into_owned(),
            ),
        _ => String::new(),
    };
    // After a delete the selection stays at the same place: the next row, or the last.
    let index = m.keys.as_ref().map_or(0, |k| k.selected);
    match r {
        Ok(()) => {
            let text = m.tr.f("notice.deleted", &[("masked", &masked)]);
            close_and_refresh(m, at, NoticeKind::Success, text, Want::Index(index))
        }
        Err(e) if e.code() == Some(ErrorCode::ApiKeyNotFound) => {
            let text = m.tr.t("error.key_not_found").to_string();
            close_and_refresh(m, at, NoticeKind::Info, text, Want::Index(index))
        }
        Err(e) if e.code() == Some(ErrorCode::ServiceNotFound) => service_gone(m),
        Err(e) if errors::retryable(&e) => offer_retry(m, id, &e, call),
        Err(e) => {
            let p = errors::popup(m, &e, None);
            replace_at(m, at, p);
            Vec::new()
        }
    }
}

fn service_created(
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
            m.services.focus = crate::console::model::ServicesFocus::Table;
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
                    p.focus = Focus::Field(crate::console::popup::Field::Name);
                    return Vec::new();
                }
            }
            if errors::retryable(&e) {
                m.popups.push(errors::popup(m, &e, Some(call)));
            } else {
                let p = errors::popup(m, &e, None);
                replace_at(m, at, p);
            }
            Vec::new()
        }
    }
}

/// A PATCH answered (issue 8: disable, enable): the popup that asked closes, the footer says
/// what happened, and the list refreshes with the key still selected.
fn key_updated(
    m: &mut Model,
    id: RequestId,
    call: ApiCall,
    r: Result<crate::wire::ApiKey, ApiError>,
) -> Vec<Effect> {
    let at = owner(m, id);
    let renamed = matches!(&call, ApiCall::UpdateKey { body, .. } if body.name.is_some());
    match r {
        Ok(key) if renamed => {
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
        Ok(key) => {
            let what = if key.state == crate::wire::KeyState::Disabled {
                "disable.disabled"
            } else {
                "disable.enabled"
            };
            let masked = clean(&key.masked).into_owned();
            let text = m.tr.f(what, &[("masked", &masked)]);
            close_and_refresh(m, at, NoticeKind::Success, text, Want::Id(key.id))
        }
        Err(e) if e.code() == Some(ErrorCode::ServiceNotFound) => service_gone(m),
        Err(e) if errors::retryable(&e) => offer_retry(m, id, &e, call),
        Err(e) => {
            // Rename shows the service's refusal under its field, the popup kept open.
            let msg = errors::message(m, &e);
            if let Some(Popup::Rename(p)) = at.and_then(|i| m.popups.get_mut(i)) {
                p.in_flight = None;
                p.focus = Focus::Field(crate::console::popup::Field::Name);
                p.name_error = Some(msg);
                return Vec::new();
            }
            let p = errors::popup(m, &e, None);
            replace_at(m, at, p);
            let index = m.keys.as_ref().map_or(0, |k| k.selected);
            refresh_keys(m, Some(Want::Index(index)))
        }
    }
}
