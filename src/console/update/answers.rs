//! Answers from the service, routed by what they answer. A result whose request is no longer
//! pending (Esc abandoned it) is dropped; everything else lands where its request came from: the
//! lists here, a popup's answer in that popup's file (which also knows what to do when the
//! popup has closed meanwhile).

use super::screens::keep_selection_visible;
use super::{errors, narrowing, service_gone, usage};
use crate::client::ApiError;
use crate::console::model::{KeysFocus, Model, NoticeKind, Want};
use crate::console::msg::{ApiCall, ApiResult, CopyOutcome, Effect, RequestId};
use crate::console::popups::{
    Popup, access, audit, create_service, delete, details, error, issue, key_copy, rename, rotate,
    whois,
};
use crate::sanitize::clean;
use crate::wire::{ApiKeyList, ErrorCode, Service};

/// Request `id` answered with `result`.
pub(super) fn on_result(m: &mut Model, id: RequestId, result: ApiResult) -> Vec<Effect> {
    let Some(call) = m.pending.remove(&id) else {
        // An abandoned issue or rotation that made a key anyway: the admin asked for it.
        if let Some(service_id) = m.abandoned_issues.remove(&id)
            && let ApiResult::Issued(Ok(issued)) | ApiResult::Rotated(Ok(issued)) = result
        {
            m.dirty = true;
            return key_copy::arrived_late(m, service_id, issued);
        }
        return Vec::new();
    };
    m.dirty = true;
    match result {
        ApiResult::AuditPage(result) => audit::on_page(m, id, result),
        ApiResult::Whois(result) => whois::on_answer(m, id, result),
        ApiResult::Leaked(result) => whois::on_leaked(m, id, call, result),
        ApiResult::Usage { key_id, result } => usage::on_usage(m, key_id, result),
        ApiResult::KeyAudit { key_id, result } => details::on_key_audit(m, id, &key_id, result),
        // Edit access's own requests (its Narrow, its impact line) go to it; a proposal also
        // feeds the list's count of keys that could be narrowed.
        ApiResult::Narrowing { key_id, result } => {
            let proposal = matches!(
                call,
                ApiCall::KeyNarrowing {
                    candidate: None,
                    ..
                }
            );
            if access::awaits(m, id) {
                if let (true, Ok(n)) = (proposal, &result) {
                    narrowing::on_narrowing(m, key_id, Ok(n.clone()));
                }
                access::on_narrowing(m, id, call, result)
            } else {
                if proposal {
                    narrowing::on_narrowing(m, key_id, result);
                }
                Vec::new()
            }
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
                let marked = crate::console::lifecycle::needs_attention(&list.api_keys, m.now);
                m.services.attention.insert(service_id.clone(), marked);
                keys_loaded(m, &service_id, list);
                let mut out = usage::probe_disabled(m, &service_id);
                out.extend(narrowing::probe_narrowing(m, &service_id));
                out
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
        ApiResult::Issued(r) => issue::on_issued(m, id, call, r),
        ApiResult::KeyDeleted { result, .. } => delete::on_deleted(m, id, call, result),
        // A PATCH of a name is Rename's; any other (disable, enable) is the toggle's.
        ApiResult::KeyUpdated(r) if is_rename(&call) => rename::on_renamed(m, id, call, r),
        // A PATCH of scopes, rate limit or allowlist is Edit access's.
        ApiResult::KeyUpdated(r) if access::is_access(&call) => access::on_saved(m, id, call, r),
        ApiResult::KeyUpdated(r) => delete::on_toggled(m, id, call, r),
        ApiResult::Rotated(r) => rotate::on_rotated(m, id, call, r),
        ApiResult::ServiceCreated(r) => create_service::on_created(m, id, call, r),
    }
}

/// After every message: a key made by an abandoned request opens once no popup is open, or is
/// named in a notice once the admin has left its service; the top popup asks for what its
/// state now calls for; a form that scrolls keeps its window around the focus.
pub(super) fn after(m: &mut Model) -> Vec<Effect> {
    key_copy::show_late(m);
    let out = match m.popups.last() {
        Some(top) => {
            let after = top.handlers().after;
            after(m)
        }
        None => Vec::new(),
    };
    crate::console::popups::form::follow_focus(m);
    out
}

/// What became of a copy of a key: the copy popup says so.
pub(super) fn on_copied(m: &mut Model, outcome: CopyOutcome) {
    key_copy::on_copied(m, outcome);
}

fn is_rename(call: &ApiCall) -> bool {
    matches!(call, ApiCall::UpdateKey { body, .. } if body.name.is_some())
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
            m.popups.push(error::popup(m, e, None));
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
    // The service's own count is the newer word on every service that sends one.
    s.attention
        .retain(|id, _| !list.iter().any(|x| x.id == *id && x.attention.is_some()));
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
    // Every popup that shows a key of this list shows it as listed now (state, name, successor).
    for p in &mut m.popups {
        let shown = match p {
            Popup::Details(x) => &mut x.key,
            Popup::Rotate(x) => &mut x.key,
            Popup::Delete(x) => &mut x.key,
            Popup::Rename(x) => &mut x.key,
            Popup::Access(x) => &mut x.key,
            _ => continue,
        };
        if let Some(now) = list.api_keys.iter().find(|x| x.id == shown.id) {
            *shown = now.clone();
        }
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
            KeysFocus::IssueButton
        } else {
            KeysFocus::Table
        };
    } else if len == 0 {
        k.focus = KeysFocus::IssueButton;
    }
    keep_selection_visible(m);
}
