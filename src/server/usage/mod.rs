//! Usage per key (docs/api.md, Usage; Key lifecycle: Usage figures): verifications counted in memory
//! on the verify path, written at most once a minute into 24 hourly and 30 daily buckets, and
//! read back with the counts not yet written added, so that this process's figures are exact.
//!
//! The verify path only adds 1 to an atomic counter of the key's index entry: no lock, no
//! allocation. Each entry has two slots per series, chosen by the parity of the hour, so the
//! flush (every minute) can empty the previous hour's slot while the current one fills; a slot
//! is reused two hours later, long after the flush has emptied it.

pub mod counters;

use std::sync::Arc;

use super::store::{Store, StoreError, StoreResult, UnixTime, UsageBucket, UsageCount};
use super::verify_index::{Entry, VerifyIndex};

use crate::wire::{Bucket, Timestamp, Usage};

/// Seconds in an hourly bucket.
pub use counters::HOUR;
/// Seconds in a daily bucket (UTC days).
pub const DAY: UnixTime = 86_400;
/// Hourly buckets shown and kept (docs/api.md, Usage).
pub const HOURS_KEPT: usize = 24;
/// Daily buckets shown and kept (docs/api.md, Usage).
pub const DAYS_KEPT: usize = 30;

/// The start of the hour holding `t` (unix seconds).
pub fn hour_of(t: UnixTime) -> UnixTime {
    t.div_euclid(HOUR) * HOUR
}

/// The start of the UTC day holding `t` (unix seconds).
pub fn day_of(t: UnixTime) -> UnixTime {
    t.div_euclid(DAY) * DAY
}

/// Where the usage code reads the time: the system clock in service, a hand-moved one in tests
/// (so that buckets roll over an hour and a day without waiting). Unix seconds.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// The system clock as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(|| Timestamp::now().unix())
}

/// Writes and reads usage figures; holds the clock, and keeps a flush and a read from
/// interleaving (a read would see counts both in memory and already written, or in neither).
pub struct UsageBook {
    clock: Clock,
    gate: tokio::sync::Mutex<()>,
}

impl Default for UsageBook {
    fn default() -> Self {
        UsageBook::with_clock(system_clock())
    }
}

impl UsageBook {
    pub fn with_clock(clock: Clock) -> Self {
        UsageBook {
            clock,
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// The time as this book sees it (unix seconds).
    pub fn now(&self) -> UnixTime {
        (self.clock)()
    }

    /// Writes every key's counts of the previous and the current hour and deletes the buckets
    /// past the 24 hours and 30 days kept, in one store transaction. On failure the counts go
    /// back to memory for the next flush, and the error is returned for the log.
    pub async fn flush(&self, store: &dyn Store, index: &VerifyIndex) -> StoreResult<()> {
        let _gate = self.gate.lock().await;
        let now = self.now();
        let hour = hour_of(now);
        let mut taken: Vec<(Arc<Entry>, UsageCount)> = Vec::new();
        index.for_each(|e| {
            for h in [hour - HOUR, hour] {
                let (ok, refused) = e.usage.take(h);
                if ok > 0 || refused > 0 {
                    let count = UsageCount {
                        key_id: e.key_id.clone(),
                        hour: h,
                        day: day_of(h),
                        ok,
                        refused,
                    };
                    taken.push((e.clone(), count));
                }
            }
        });
        let counts = taken.iter().map(|(_, c)| c.clone()).collect();
        let keep_hours_from = hour - (HOURS_KEPT as i64 - 1) * HOUR;
        let keep_days_from = day_of(now) - (DAYS_KEPT as i64 - 1) * DAY;
        let written = store
            .record_usage(counts, keep_hours_from, keep_days_from)
            .await;
        if written.is_err() {
            for (e, c) in &taken {
                e.usage.give_back(c.hour, c.ok, c.refused);
            }
        }
        written
    }

    /// A key's usage now: what the store holds plus this process's counts not yet written.
    /// `KeyNotFound` / `ServiceNotFound` as for the other key routes.
    pub async fn read(
        &self,
        store: &dyn Store,
        index: &VerifyIndex,
        service_id: String,
        key_id: String,
    ) -> StoreResult<Usage> {
        let _gate = self.gate.lock().await;
        let now = self.now();
        let hour = hour_of(now);
        let first_hour = hour - (HOURS_KEPT as i64 - 1) * HOUR;
        let first_day = day_of(now) - (DAYS_KEPT as i64 - 1) * DAY;
        let stored = store
            .key_usage(service_id, key_id.clone(), first_hour, first_day)
            .await?
            .ok_or(StoreError::KeyNotFound)?;
        let mut hours = Series::new(first_hour, HOUR, HOURS_KEPT);
        let mut days = Series::new(first_day, DAY, DAYS_KEPT);
        hours.add_all(&stored.hours);
        days.add_all(&stored.days);
        let mut last_used_at = stored.last_used_at;
        let mut last_used_from = stored.last_used_from;
        if let Some(e) = index.lookup(&stored.digest) {
            for h in [hour - HOUR, hour] {
                let (ok, refused) = e.usage.peek(h);
                hours.add(h, ok, refused);
                days.add(day_of(h), ok, refused);
            }
            // A use recorded here but perhaps not yet written: the newer of the two wins.
            if let Some((at, from)) = e.last_use() {
                if last_used_at.is_none_or(|stored_at| at > stored_at) {
                    last_used_at = Some(at);
                    last_used_from = Some(from.to_string());
                }
            }
        }
        Ok(Usage {
            key_id,
            last_used_at: last_used_at.map(Timestamp::from_unix),
            last_used_from,
            hours: hours.buckets,
            days: days.buckets,
            scopes_used: Default::default(),
            networks: Vec::new(),
            networks_truncated: false,
            recorded_since: None,
        })
    }
}

/// Consecutive buckets of one width, oldest first, every one present even when empty.
struct Series {
    first: UnixTime,
    width: UnixTime,
    buckets: Vec<Bucket>,
}

impl Series {
    fn new(first: UnixTime, width: UnixTime, len: usize) -> Self {
        let buckets = (0..len as i64)
            .map(|i| Bucket {
                start: Timestamp::from_unix(first + i * width),
                ok: 0,
                refused: 0,
                denied: 0,
                limited: 0,
            })
            .collect();
        Series {
            first,
            width,
            buckets,
        }
    }

    /// Adds to the bucket starting at `start`; outside the series, nothing.
    fn add(&mut self, start: UnixTime, ok: u64, refused: u64) {
        if start < self.first {
            return;
        }
        let i = (start - self.first) / self.width;
        if let Some(b) = usize::try_from(i)
            .ok()
            .and_then(|i| self.buckets.get_mut(i))
        {
            b.ok = b.ok.saturating_add(ok);
            b.refused = b.refused.saturating_add(refused);
        }
    }

    fn add_all(&mut self, stored: &[UsageBucket]) {
        for b in stored {
            self.add(b.start, b.ok, b.refused);
        }
    }
}

#[cfg(test)]
mod tests;
