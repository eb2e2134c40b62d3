//! Failed verifications per client address, in fixed one-minute windows. Memory is bounded: old
//! windows are pruned, IPv6 clients count per /64 (one host usually owns a whole /64), and the
//! table never grows past `MAX_TRACKED` addresses. With several replicas each allows its share
//! of the limit ([`share`]), so that a client spread over them is held near the limit in total.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const MAX_TRACKED: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Client {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl From<IpAddr> for Client {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Client::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&o[..8]);
                    Client::V6Prefix(p)
                }
            },
        }
    }
}

struct Window {
    start: Instant,
    failures: u32,
}

/// This replica's share of `limit` when `replicas` hold a live lease: the limit divided by
/// them, rounded up (docs/api.md, Several replicas), so the whole stays at most
/// `limit + replicas - 1` and a share never drops to 0.
pub fn share(limit: u32, replicas: u32) -> u32 {
    limit.div_ceil(replicas.max(1))
}

pub struct FailureLimiter {
    /// Failures allowed per window; 0 turns the limiter off.
    limit: u32,
    windows: Mutex<HashMap<Client, Window>>,
    /// Whether `windows` may hold an entry: while no address has failed, `check` takes no lock
    /// (the verify path's common case). Set under the lock before an entry is added.
    tracking: AtomicBool,
}

impl FailureLimiter {
    pub fn new(limit: u32) -> Self {
        FailureLimiter {
            limit,
            windows: Mutex::new(HashMap::new()),
            tracking: AtomicBool::new(false),
        }
    }

    /// `Err(seconds)` while `ip` has used up its failures in the current window, `replicas` being
    /// how many replicas hold a live lease (1 for a single process).
    pub fn check(&self, ip: IpAddr, now: Instant, replicas: u32) -> Result<(), u64> {
        if self.limit == 0 || !self.tracking.load(Ordering::Acquire) {
            return Ok(());
        }
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(&Client::from(ip)) {
            Some(w) if now < w.start + WINDOW && w.failures >= share(self.limit, replicas) => {
                let left = (w.start + WINDOW).saturating_duration_since(now);
                // Round up: a client that waits this long is let through.
                Err(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        self.tracking.store(true, Ordering::Release);
        let client = Client::from(ip);
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&client) {
            windows.retain(|_, w| now < w.start + WINDOW);
            if windows.len() >= MAX_TRACKED {
                // Still full of live windows: forget the ones closest to expiry first.
                let mut starts: Vec<Instant> = windows.values().map(|w| w.start).collect();
                starts.sort_unstable();
                let cut = starts[starts.len() / 2];
                windows.retain(|_, w| w.start > cut);
            }
        }
        let w = windows.entry(client).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now >= w.start + WINDOW {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    /// Drops windows that have passed; run once a minute.
    pub fn prune(&self, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.retain(|_, w| now < w.start + WINDOW);
        if windows.is_empty() {
            self.tracking.store(false, Ordering::Release);
        }
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_limit_allows_n_failures_then_refuses_until_the_window_passes() {
        let l = FailureLimiter::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(ip("10.0.0.1"), t0, 1).is_ok());
            l.record_failure(ip("10.0.0.1"), t0);
        }
        let retry = l
            .check(ip("10.0.0.1"), t0 + Duration::from_millis(500), 1)
            .unwrap_err();
        assert_eq!(retry, 60);
        assert!(
            l.check(ip("10.0.0.2"), t0, 1).is_ok(),
            "other clients are not affected"
        );
        assert!(l.check(ip("10.0.0.1"), t0 + WINDOW, 1).is_ok());
        l.prune(t0 + WINDOW);
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn ipv6_counts_per_prefix_and_zero_disables() {
        let l = FailureLimiter::new(1);
        let t0 = Instant::now();
        l.record_failure(ip("2001:db8::1"), t0);
        assert!(l.check(ip("2001:db8::2"), t0, 1).is_err());
        let off = FailureLimiter::new(0);
        off.record_failure(ip("10.0.0.1"), t0);
        assert!(off.check(ip("10.0.0.1"), t0, 3).is_ok());
    }

    #[test]
    fn each_replica_allows_its_share_rounded_up() {
        assert_eq!(share(60, 1), 60, "one process keeps the whole limit");
        assert_eq!(share(60, 0), 60, "no count yet reads as one");
        assert_eq!(share(60, 3), 20);
        assert_eq!(share(10, 3), 4, "rounded up");
        assert_eq!(
            share(1, 3),
            1,
            "never 0: a share of 0 would refuse every client"
        );
        assert_eq!(share(0, 3), 0);
        for limit in [1, 5, 6, 7, 60, 1000] {
            for n in 1..=8 {
                let whole = share(limit, n) * n;
                assert!(whole >= limit && whole < limit + n, "{limit} over {n}");
            }
        }
        // The limiter applies it: 7 over 3 replicas is 3 failures here, not 7.
        let l = FailureLimiter::new(7);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(ip("10.0.0.1"), t0, 3).is_ok());
            l.record_failure(ip("10.0.0.1"), t0);
        }
        assert!(l.check(ip("10.0.0.1"), t0, 3).is_err());
        assert!(
            l.check(ip("10.0.0.1"), t0, 1).is_ok(),
            "alone again, the whole limit"
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let l = FailureLimiter::new(5);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 10) {
            l.record_failure(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(l.tracked() <= MAX_TRACKED);
    }
}
