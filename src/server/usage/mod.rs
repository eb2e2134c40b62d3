//! Usage per key (docs/api.md, Usage; Key lifecycle: Usage figures): verifications counted in memory
//! on the verify path, written at most once a minute into 24 hourly and 30 daily buckets, and
//! read back with the counts not yet written added, so that this process's figures are exact.
//!
//! The verify path only adds to atomic counters of the key's index entry (by outcome; for a
//! successful call also by scope and by client network): no lock, no allocation in the common
//! case (docs/api.md, Usage by reason, scope and network). Each entry has two slots per series,
//! chosen by the parity of the hour, so the flush (every minute) can empty the previous hour's
//! slot while the current one fills; a slot is reused two hours later, long after the flush has
//! emptied it. Scopes and networks are kept per UTC day for 30 days, like the daily buckets.

pub mod counters;

use std::collections::BTreeMap;
use std::sync::Arc;

use self::counters::{HourCounts, SCOPE_NAMES};
use super::store::{
    NetworkCount, Store, StoreError, StoreResult, UnixTime, UsageBucket, UsageCount,
};
use super::verify_index::{Entry, VerifyIndex};

use crate::wire::{Bucket, NetworkSeen, Timestamp, Usage};

/// Seconds in an hourly bucket.
pub use counters::HOUR;
/// Seconds in a daily bucket (UTC days).
pub const DAY: UnixTime = 86_400;
/// Hourly buckets shown and kept (docs/api.md, Usage).
pub const HOURS_KEPT: usize = 24;
/// Daily buckets shown and kept (docs/api.md, Usage); scopes and networks are kept as long.
pub const DAYS_KEPT: usize = 30;
/// The most client networks a key's usage lists (docs/api.md, Usage by reason, scope and network).
pub const NETWORKS_SHOWN: usize = 16;

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
    /// The keys each flush found refused, for `api_key.disabled_still_called`.
    pub refused: RefusedLog,
}

/// A key that verify refused (disabled, expired or retired) on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RefusedKey {
    pub service_id: String,
    pub key_id: String,
    /// The start of the UTC day of the refused calls.
    pub day: UnixTime,
}

/// The keys the flushes found refused since the last [`RefusedLog::take`]: off (nothing kept)
/// until enabled, as in the console's embedded service, which sends no webhook
/// (docs/api.md, Notifications).
#[derive(Clone, Debug, Default)]
pub struct RefusedLog(Arc<std::sync::Mutex<Option<std::collections::HashSet<RefusedKey>>>>);

impl RefusedLog {
    pub fn enable(&self) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.get_or_insert_with(Default::default);
    }

    fn is_enabled(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    fn add(&self, key: RefusedKey) {
        if let Some(log) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            log.insert(key);
        }
    }

    /// What was logged since the last take, emptied.
    pub fn take(&self) -> Vec<RefusedKey> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(|log| log.drain().collect())
            .unwrap_or_default()
    }
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
            refused: RefusedLog::default(),
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
        let mut taken: Vec<(Arc<Entry>, HourCounts, UsageCount)> = Vec::new();
        index.for_each(|e| {
            for h in [hour - HOUR, hour] {
                let counts = e.usage.take(h);
                if !counts.is_empty() {
                    let count = usage_count(&e.key_id, h, &counts);
                    taken.push((e.clone(), counts, count));
                }
            }
        });
        let counts = taken.iter().map(|(_, _, c)| c.clone()).collect();
        let keep_hours_from = hour - (HOURS_KEPT as i64 - 1) * HOUR;
        let keep_days_from = day_of(now) - (DAYS_KEPT as i64 - 1) * DAY;
        let written = store
            .record_usage(counts, keep_hours_from, keep_days_from)
            .await;
        if written.is_err() {
            for (e, counts, c) in &taken {
                e.usage.give_back(c.hour, counts);
            }
        } else if self.refused.is_enabled() {
            for (e, counts, c) in &taken {
                // The entry's verify answer is the one place it names its service.
                if counts.refused > 0
                    && let Ok(v) = serde_json::from_slice::<crate::wire::Verified>(&e.answer)
                {
                    self.refused.add(RefusedKey {
                        service_id: v.service_id,
                        key_id: e.key_id.clone(),
                        day: c.day,
                    });
                }
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
        let mut scopes: BTreeMap<String, u64> = stored.scopes.into_iter().collect();
        let mut networks: BTreeMap<String, (u64, UnixTime)> = stored
            .networks
            .into_iter()
            .map(|n| (n.network, (n.calls, n.last_seen)))
            .collect();
        if let Some(e) = index.lookup(&stored.digest) {
            for h in [hour - HOUR, hour] {
                let c = e.usage.peek(h);
                hours.add(h, &c);
                days.add(day_of(h), &c);
                for (name, n) in SCOPE_NAMES.iter().zip(c.scopes) {
                    if n > 0 {
                        *scopes.entry((*name).to_string()).or_default() += n;
                    }
                }
                for n in c.networks {
                    let e = networks
                        .entry(n.network.to_string())
                        .or_insert((0, n.last_seen));
                    e.0 += n.calls;
                    e.1 = e.1.max(n.last_seen);
                }
            }
            // A use recorded here but perhaps not yet written: the newer of the two wins.
            if let Some((at, from)) = e.last_use() {
                if last_used_at.is_none_or(|stored_at| at > stored_at) {
                    last_used_at = Some(at);
                    last_used_from = Some(from.to_string());
                }
            }
        }
        let (networks, networks_truncated) = most_calls_first(networks);
        Ok(Usage {
            key_id,
            last_used_at: last_used_at.map(Timestamp::from_unix),
            last_used_from,
            hours: hours.buckets,
            days: days.buckets,
            scopes_used: scopes,
            networks,
            networks_truncated,
            recorded_since: Some(Timestamp::from_unix(stored.recorded_since)),
        })
    }
}

/// The networks usage shows: at most [`NETWORKS_SHOWN`], most calls first (then the most
/// recently seen, then by name, so that the order is stable), and whether any were left out.
fn most_calls_first(networks: BTreeMap<String, (u64, UnixTime)>) -> (Vec<NetworkSeen>, bool) {
    let mut all: Vec<NetworkSeen> = networks
        .into_iter()
        .filter(|(_, (calls, _))| *calls > 0)
        .map(|(network, (calls, last_seen))| NetworkSeen {
            network,
            calls,
            last_seen: Timestamp::from_unix(last_seen),
        })
        .collect();
    all.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then(b.last_seen.cmp(&a.last_seen))
            .then(a.network.cmp(&b.network))
    });
    let truncated = all.len() > NETWORKS_SHOWN;
    all.truncate(NETWORKS_SHOWN);
    (all, truncated)
}

/// What the flush writes of one key's counts of the hour starting at `hour`.
fn usage_count(key_id: &str, hour: UnixTime, c: &HourCounts) -> UsageCount {
    UsageCount {
        key_id: key_id.to_string(),
        hour,
        day: day_of(hour),
        ok: c.ok,
        refused: c.refused,
        denied: c.denied,
        limited: c.limited,
        scopes: SCOPE_NAMES
            .iter()
            .zip(c.scopes)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| ((*name).to_string(), n))
            .collect(),
        networks: c
            .networks
            .iter()
            .map(|n| NetworkCount {
                network: n.network.to_string(),
                calls: n.calls,
                last_seen: n.last_seen,
            })
            .collect(),
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
    fn add(&mut self, start: UnixTime, c: &HourCounts) {
        if start < self.first {
            return;
        }
        let i = (start - self.first) / self.width;
        if let Some(b) = usize::try_from(i)
            .ok()
            .and_then(|i| self.buckets.get_mut(i))
        {
            b.ok = b.ok.saturating_add(c.ok);
            b.refused = b.refused.saturating_add(c.refused);
            b.denied = b.denied.saturating_add(c.denied);
            b.limited = b.limited.saturating_add(c.limited);
        }
    }

    fn add_all(&mut self, stored: &[UsageBucket]) {
        for b in stored {
            let c = HourCounts {
                ok: b.ok,
                refused: b.refused,
                denied: b.denied,
                limited: b.limited,
                ..HourCounts::default()
            };
            self.add(b.start, &c);
        }
    }
}

#[cfg(test)]
mod tests;
