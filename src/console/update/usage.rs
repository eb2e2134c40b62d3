//! Usage per key (issue 9): the requests for a key's usage (the impact line of the popups that
//! stop a key, Details, the attention line's disabled keys) and their answers, kept in
//! `Model::usage` for every popup and line that reads it. Every request runs off the loop as
//! the others do.

use super::{call, errors};
use crate::client::ApiError;
use crate::console::model::Model;
use crate::console::msg::{ApiCall, Effect};
use crate::console::usage::{DISABLED_PROBES, UsageState};
use crate::wire::{KeyState, Usage};

/// Asks for `key_id`'s usage unless that is already under way. `fresh`: what is known is
/// forgotten first, so that the popup that asks says "checking" rather than show old figures.
pub fn fetch_usage(m: &mut Model, service_id: &str, key_id: &str, fresh: bool) -> Vec<Effect> {
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
pub fn probe_disabled(m: &mut Model, service_id: &str) -> Vec<Effect> {
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
pub fn on_usage(m: &mut Model, key_id: String, result: Result<Usage, ApiError>) -> Vec<Effect> {
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
