//! Whether this replica may answer `/v1/verify` from its index: a local deadline that only the
//! replica protocol moves forward (docs/api.md, Several replicas). The verify path reads it with one
//! atomic load against the clock reading it takes anyway, so that it costs nothing measurable
//! (docs/performance.md) and needs no timer to run out: a replica whose renewals stop simply
//! finds its deadline passed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The deadline, as nanoseconds after `base`: 0 is "not trusted", `u64::MAX` "always".
pub struct Trust {
    base: Instant,
    until: AtomicU64,
    /// Set by [`Trust::revoke`]: the protocol may not extend the deadline again until it has
    /// started a resync ([`Trust::begin_sync`]). A mutex, not an atomic pair, so that a revoke
    /// and an extend never interleave; it is never taken on the verify path.
    revoked: Mutex<bool>,
}

impl Trust {
    /// One process over its own store (SQLite): its index is complete and always trusted.
    pub fn always() -> Self {
        Trust {
            base: Instant::now(),
            until: AtomicU64::new(u64::MAX),
            revoked: Mutex::new(false),
        }
    }

    /// A replica of a shared store: untrusted until its protocol has synced and holds a lease.
    pub fn lapsed() -> Self {
        Trust {
            base: Instant::now(),
            until: AtomicU64::new(0),
            revoked: Mutex::new(false),
        }
    }

    /// Whether the index may answer at `now`. Acquire (a plain load on x86 and ARM64's ldar):
    /// an index reload made before the deadline moved is seen by whoever sees the new deadline.
    #[inline]
    pub fn trusted_at(&self, now: Instant) -> bool {
        let until = self.until.load(Ordering::Acquire);
        until == u64::MAX || self.nanos(now) < until
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX - 1)
            .max(1)
    }

    /// Trusts the index until `deadline`, unless [`Trust::revoke`] was called since the last
    /// [`Trust::begin_sync`]. False when refused.
    pub fn extend_to(&self, deadline: Instant) -> bool {
        let revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        if *revoked {
            return false;
        }
        self.until.store(self.nanos(deadline), Ordering::Release);
        true
    }

    /// Stops trusting the index now (a lost link, a lapsed lease, a resync starting).
    pub fn lapse(&self) {
        let _guard = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        self.until.store(0, Ordering::Release);
    }

    /// Stops trusting the index until the protocol has resynced: an index update that could not
    /// be made (the database went away after a write committed) leaves the index unsure.
    pub fn revoke(&self) {
        let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        *revoked = true;
        self.until.store(0, Ordering::Release);
    }

    /// A resync starts (before it reads anything): the deadline is 0 and may be extended again
    /// once the resync has read the database afresh.
    pub fn begin_sync(&self) {
        let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        *revoked = false;
        self.until.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_deadline_runs_out_by_itself() {
        let t = Trust::lapsed();
        let now = Instant::now();
        assert!(!t.trusted_at(now));
        assert!(t.extend_to(now + Duration::from_millis(900)));
        assert!(t.trusted_at(now + Duration::from_millis(899)));
        assert!(!t.trusted_at(now + Duration::from_millis(900)));
        t.lapse();
        assert!(!t.trusted_at(now));
        assert!(Trust::always().trusted_at(now + Duration::from_secs(86400 * 400)));
    }

    #[test]
    fn a_revoke_holds_until_a_resync_begins() {
        let t = Trust::lapsed();
        let now = Instant::now();
        t.extend_to(now + Duration::from_secs(1));
        t.revoke();
        assert!(!t.trusted_at(now));
        assert!(
            !t.extend_to(now + Duration::from_secs(1)),
            "refused while revoked"
        );
        assert!(!t.trusted_at(now));
        t.begin_sync();
        assert!(t.extend_to(now + Duration::from_secs(1)));
        assert!(t.trusted_at(now));
    }
}
