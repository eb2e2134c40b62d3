//! One key's counts not yet written, on the key's verify index entry: the only part of usage
//! the verify path touches.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::server::store::UnixTime;

/// Seconds in an hourly bucket: the counters' slots alternate by the hour.
pub const HOUR: UnixTime = 3600;

/// Which of the two slots of a series holds the hour of `t`: the parity of the hour.
fn slot(t: UnixTime) -> usize {
    (t.div_euclid(HOUR) & 1) as usize
}

/// What became of one verification of a known key, as usage counts it (docs/api.md, Usage by
/// reason, scope and network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 200.
    Ok,
    /// 401: the key is disabled, expired or retired.
    Refused,
    /// 403: the valid key outside its scopes or allowed networks.
    Denied,
    /// 429: the valid key over its rate limit.
    Limited,
}

/// One key's verifications not yet written, and the address of its last recorded use.
/// On a cache line of its own: every verification of the key adds here, from every core, and
/// the entry's read-mostly fields beside it should not be invalidated by that (docs/performance.md).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Counters {
    ok: [AtomicU64; 2],
    refused: [AtomicU64; 2],
    /// Set with each once-a-minute touch (never per request).
    last_from: Mutex<Option<IpAddr>>,
}

impl Counters {
    /// Counts one verification at `at` (unix seconds): one relaxed atomic add.
    #[inline]
    pub fn count(&self, at: UnixTime, ok: bool) {
        let series = if ok { &self.ok } else { &self.refused };
        series[slot(at)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one verification of this key at `at` (unix seconds) by its outcome, with the
    /// scope it asked for and the client address it came from (for `scopes_used` and
    /// `networks`). On the verify path: no lock, no allocation.
    #[inline]
    pub fn record(
        &self,
        at: UnixTime,
        outcome: Outcome,
        _scope: Option<crate::policy::Scope>,
        _from: IpAddr,
    ) {
        match outcome {
            Outcome::Ok => self.count(at, true),
            Outcome::Refused => self.count(at, false),
            // Counted once usage keeps reasons, scopes and networks.
            Outcome::Denied | Outcome::Limited => {}
        }
    }

    /// The counts of the hour starting at `hour`, left in place.
    pub(super) fn peek(&self, hour: UnixTime) -> (u64, u64) {
        let s = slot(hour);
        (
            self.ok[s].load(Ordering::Relaxed),
            self.refused[s].load(Ordering::Relaxed),
        )
    }

    /// The counts of the hour starting at `hour`, emptied.
    pub(super) fn take(&self, hour: UnixTime) -> (u64, u64) {
        let s = slot(hour);
        (
            self.ok[s].swap(0, Ordering::Relaxed),
            self.refused[s].swap(0, Ordering::Relaxed),
        )
    }

    /// Puts back counts that could not be written: the next flush tries again.
    pub(super) fn give_back(&self, hour: UnixTime, ok: u64, refused: u64) {
        let s = slot(hour);
        self.ok[s].fetch_add(ok, Ordering::Relaxed);
        self.refused[s].fetch_add(refused, Ordering::Relaxed);
    }

    /// Records the address of the use that claimed this minute's touch.
    pub fn set_from(&self, from: IpAddr) {
        *self.last_from.lock().unwrap_or_else(|e| e.into_inner()) = Some(from);
    }

    /// The address of the last use recorded by this process, if any.
    pub fn from(&self) -> Option<IpAddr> {
        *self.last_from.lock().unwrap_or_else(|e| e.into_inner())
    }
}
