//! What popups share in taking the service's answers: finding the popup that waits for a
//! request (it may have closed meanwhile, and the answer is then the list's or nobody's), and
//! putting what comes next in its place.

use super::{Popup, error};
use crate::client::ApiError;
use crate::console::model::{Model, NoticeKind, Want};
use crate::console::msg::{ApiCall, Effect, RequestId};
use crate::console::update::refresh_keys;

/// The index of the popup waiting for request `id`.
pub fn owner(m: &Model, id: RequestId) -> Option<usize> {
    m.popups.iter().rposition(|p| p.in_flight() == Some(id))
}

/// Puts `p` where the waiting popup was (index `at`), or on top if it is gone.
pub fn replace_at(m: &mut Model, at: Option<usize>, p: Popup) {
    match at {
        Some(i) => {
            // Popups above the owner (help) belonged to it.
            m.popups.truncate(i);
            m.popups.push(p);
        }
        None => m.popups.push(p),
    }
}

/// The popup waiting for `id` waits no more.
pub fn clear_owner(m: &mut Model, id: RequestId) {
    if let Some(i) = owner(m, id) {
        m.popups[i].set_in_flight(None);
    }
}

/// A failure worth retrying (a lost connection): the popup that asked stays, no longer
/// waiting, under a popup that offers the retry of `call`.
pub fn offer_retry(m: &mut Model, id: RequestId, e: &ApiError, call: ApiCall) -> Vec<Effect> {
    clear_owner(m, id);
    m.popups.push(error::popup(m, e, Some(call)));
    Vec::new()
}

/// An answer that ends a popup's work: that popup (index `at`, and any above it) closes, the
/// footer says `text`, and the list is fetched again with the selection on `want`.
pub fn close_and_refresh(
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

/// An answer for a popup that may be gone: the popup still waiting for request `id` (one kind,
/// picked by `pick`), its wait now over, and the answer with its error put in words by `say`.
/// None when that popup was closed meanwhile: the answer is dropped.
pub fn answer_for<T, V>(
    m: &mut Model,
    id: RequestId,
    result: Result<V, ApiError>,
    say: fn(&Model, &ApiError) -> String,
    pick: fn(&mut Popup) -> Option<&mut T>,
) -> Option<(&mut T, Result<V, String>)> {
    let result = result.map_err(|e| say(m, &e));
    let p = m
        .popups
        .iter_mut()
        .rev()
        .find(|p| p.in_flight() == Some(id))?;
    p.set_in_flight(None);
    Some((pick(p)?, result))
}
