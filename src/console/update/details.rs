//! Usage per key in the console (issue 9): the requests for a key's usage (the impact line of
//! the popups that stop a key, Details, the attention line's disabled keys), their answers, and
//! the Details popup's keys. Every request runs off the loop as the others do.

use super::{call, errors, popup_page, scrolled};
use crate::client::ApiError;
use crate::console::keymap::Action;
use crate::console::model::{Model, NoticeKind};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::popup::{DetailsPopup, Popup};
use crate::console::usage::{DISABLED_PROBES, UsageState};
use crate::wire::{AuditPage, KeyState, Usage};

/// Asks for `key_id`'s usage unless that is already under way. `fresh`: what is known is
/// forgotten first, so that the popup that asks says "checking" rather than show old figures.
pub(crate) fn fetch_usage(
    m: &mut Model,
    service_id: &str,
    key_id: &str,
    fresh: bool,
) -> Vec<Effect> {
    if fresh {
        m.usage.insert(key_id.to_string(), UsageState::Loading);
    }
    if m.pending
        .values()
        .any(|c| matches!(c, ApiCall::KeyUsage { key_id: k, .. } if k == key_id))
    {
        return Vec::new();
    }
    m.usage
        .entry(key_id.to_string())
        .or_insert(UsageState::Loading);
    vec![call(
        m,
        ApiCall::KeyUsage {
            service_id: service_id.to_string(),
            key_id: key_id.to_string(),
        },
    )]
}

/// After a list loads: the usage of its disabled keys (the newest [`DISABLED_PROBES`]), for
/// the attention line's "still being called". Figures already known stay shown meanwhile.
pub(crate) fn probe_disabled(m: &mut Model, service_id: &str) -> Vec<Effect> {
    let Some(k) = m.keys.as_ref().filter(|k| k.service.id == service_id) else {
        return Vec::new();
    };
    let ids: Vec<String> = k
        .keys()
        .iter()
        .filter(|key| key.state == KeyState::Disabled)
        .take(DISABLED_PROBES)
        .map(|key| key.id.clone())
        .collect();
    ids.iter()
        .flat_map(|id| fetch_usage(m, service_id, id, false))
        .collect()
}

/// A usage answer: kept for every popup and line that reads it. A failure replaces only a
/// "checking" state; figures already shown stay.
pub(super) fn on_usage(
    m: &mut Model,
    key_id: String,
    result: Result<Usage, ApiError>,
) -> Vec<Effect> {
    match result {
        Ok(u) => {
            m.usage.insert(key_id, UsageState::Loaded(Box::new(u)));
        }
        Err(e) => {
            let why = errors::message(m, &e);
            let entry = m.usage.entry(key_id).or_insert(UsageState::Loading);
            if *entry == UsageState::Loading {
                *entry = UsageState::Failed(why);
            }
        }
    }
    Vec::new()
}

/// `v`, or the menu's Details (every role may read): the popup, and its usage and events.
pub(crate) fn open(m: &mut Model) -> Vec<Effect> {
    let tr = m.tr;
    let Some(k) = m.keys.as_ref() else {
        return Vec::new();
    };
    let Some(key) = k.selected_key().cloned() else {
        m.notice(NoticeKind::Info, tr.t("notice.no_key").to_string());
        return Vec::new();
    };
    let service_id = k.service.id.clone();
    let mut out = fetch_usage(m, &service_id, &key.id, true);
    let events = call(
        m,
        ApiCall::KeyAudit {
            service_id: service_id.clone(),
            key_id: key.id.clone(),
        },
    );
    let in_flight = match &events {
        Effect::Call { id, .. } => Some(*id),
        _ => None,
    };
    out.push(events);
    m.popups.push(Popup::Details(DetailsPopup {
        service_id,
        key,
        scroll: 0,
        events: None,
        events_error: None,
        in_flight,
    }));
    out
}

/// The service's newest events: Details keeps its key's.
pub(super) fn on_key_audit(
    m: &mut Model,
    id: RequestId,
    key_id: &str,
    result: Result<AuditPage, ApiError>,
) -> Vec<Effect> {
    let Some((p, result)) = errors::answer_for(m, id, result, errors::message, |p| match p {
        Popup::Details(d) => Some(d),
        _ => None,
    }) else {
        return Vec::new();
    };
    match result {
        Ok(page) => {
            let mine = page
                .events
                .into_iter()
                .filter(|e| e.key_id.as_deref() == Some(key_id))
                .collect();
            p.events = Some(mine);
            p.events_error = None;
        }
        Err(msg) => p.events_error = Some(msg),
    }
    Vec::new()
}

/// Keys of the Details popup: lines scroll, Esc (or `q`, `v`) closes it.
pub(super) fn details_key(m: &mut Model, action: Option<Action>) -> Vec<Effect> {
    let (page, len) = popup_page(m);
    let Some(Popup::Details(p)) = m.popups.last_mut() else {
        return Vec::new();
    };
    if let Some(to) = scrolled(action, p.scroll, page, len) {
        p.scroll = to;
        return Vec::new();
    }
    if action == Some(Action::Cancel)
        && let Some(Popup::Details(p)) = m.popups.pop()
        && let Some(id) = p.in_flight
    {
        m.pending.remove(&id);
    }
    Vec::new()
}
