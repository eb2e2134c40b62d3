//! The narrowing proposals of the listed keys (docs/console.md, API Key management: Could be
//! narrowed): asked for after every list (and so on `r`), off the loop as every request, and kept
//! in `Model::narrowing` for the attention line's "could be narrowed".

use super::call;
use crate::client::ApiError;
use crate::console::access;
use crate::console::model::Model;
use crate::console::msg::{ApiCall, Effect};
use crate::wire::Narrowing;

/// After a list loads: the proposal of each listed key that can still be used, unless that is
/// already under way. Answers already known stay counted meanwhile; keys no longer listed are
/// forgotten.
pub fn probe_narrowing(m: &mut Model, service_id: &str) -> Vec<Effect> {
    let Some(k) = m.keys.as_ref().filter(|k| k.service.id == service_id) else {
        return Vec::new();
    };
    let ids: Vec<String> = k
        .keys()
        .iter()
        .filter(|key| access::probed(key))
        .map(|key| key.id.clone())
        .collect();
    m.narrowing.retain(|id, _| ids.contains(id));
    let mut out = Vec::new();
    for key_id in ids {
        let asked = m.pending.values().any(|c| {
            matches!(c, ApiCall::KeyNarrowing { key_id: k, candidate: None, .. } if *k == key_id)
        });
        if !asked {
            out.push(call(
                m,
                ApiCall::KeyNarrowing {
                    service_id: service_id.to_string(),
                    key_id,
                    candidate: None,
                },
            ));
        }
    }
    out
}

/// A proposal: kept. A failure (a service older than policies, a lost connection) just leaves
/// the key out of the count.
pub fn on_narrowing(m: &mut Model, key_id: String, result: Result<Narrowing, ApiError>) {
    match result {
        Ok(n) => {
            m.narrowing.insert(key_id, n);
        }
        Err(_) => {
            m.narrowing.remove(&key_id);
        }
    }
}
