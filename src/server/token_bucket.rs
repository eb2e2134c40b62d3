//! A key's rate limit (docs/api.md, Keys that carry their own policy): a token bucket of N
//! refilled evenly over S seconds, kept as one atomic "theoretical arrival time" (the generic
//! cell rate algorithm), so that a verification takes one compare-and-swap and no lock. With
//! several replicas each holds its share of N (see [`crate::server::rate_limit::share`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const NANOS: u64 = 1_000_000_000;

/// What one call on a bucket decided, with what the `RateLimit` header reports
/// (draft-ietf-httpapi-ratelimit-headers-11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Whether the call had a token.
    pub allowed: bool,
    /// Whole tokens left after the call, rounded down (`r`).
    pub remaining: u32,
    /// Seconds until the next token, rounded up, at least 1 (`t`; on a refusal, `Retry-After`);
    /// `None` while the bucket is full.
    pub reset: Option<u64>,
}

/// One key's bucket on this replica. On a cache line of its own: every verification of the key
/// writes it, from every core.
#[derive(Debug)]
#[repr(align(64))]
pub struct TokenBucket {
    /// What the clock is counted from.
    base: Instant,
    /// Nanoseconds after `base` at which the bucket is full again; at or before now: full.
    full_at: AtomicU64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(now: Instant) -> TokenBucket {
        TokenBucket {
            base: now,
            full_at: AtomicU64::new(0),
        }
    }

    /// Takes one token at `now` from a bucket of `tokens` refilled evenly over `seconds` (this
    /// replica's share; `tokens` ≥ 1). A refusal takes nothing.
    pub fn take(&self, now: Instant, tokens: u32, seconds: u32) -> Taken {
        let tokens = u64::from(tokens.max(1));
        let whole = u64::from(seconds.max(1)) * NANOS;
        // The time one token takes to come back; never 0, so that a bucket always drains.
        let per_token = (whole / tokens).max(1);
        // The bucket holds exactly `tokens`: with `per_token` rounded down, the whole window
        // would hold a few more (300,030 for 300,000/s) and report them in `r`.
        let window = per_token * tokens;
        let now = u64::try_from(now.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX / 2);
        let mut current = self.full_at.load(Ordering::Relaxed);
        loop {
            let start = current.max(now);
            let next = start + per_token;
            // Room for one more token: the bucket would not be fuller than `window` ahead.
            if next > now + window {
                // Refused: the next token is there once `start - now` fits in the window again.
                let wait = next - (now + window);
                return Taken {
                    allowed: false,
                    remaining: 0,
                    reset: Some(ceil_secs(wait)),
                };
            }
            match self.full_at.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Taken::after(now, next, window, per_token),
                Err(seen) => current = seen,
            }
        }
    }
}

impl Taken {
    /// What is left when the bucket is full again at `full_at` (nanoseconds, as `now`).
    fn after(now: u64, full_at: u64, window: u64, per_token: u64) -> Taken {
        let debt = full_at.saturating_sub(now);
        if debt == 0 {
            return Taken {
                allowed: true,
                remaining: u32::try_from(window / per_token).unwrap_or(u32::MAX),
                reset: None,
            };
        }
        let room = window - debt.min(window);
        let remaining = room / per_token;
        // The next whole token comes when the room reaches the next multiple of a token.
        let wait = (remaining + 1) * per_token - room;
        Taken {
            allowed: true,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset: Some(ceil_secs(wait)),
        }
    }
}

/// Nanoseconds as whole seconds, rounded up, at least 1.
fn ceil_secs(nanos: u64) -> u64 {
    nanos.div_ceil(NANOS).max(1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn n_calls_pass_then_the_next_waits_for_a_token() {
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        for left in (0..5).rev() {
            let t = b.take(t0, 5, 1);
            assert!(t.allowed);
            assert_eq!(t.remaining, left);
            assert_eq!(t.reset, Some(1), "a token comes back within the second");
        }
        let refused = b.take(t0, 5, 1);
        assert_eq!(
            refused,
            Taken {
                allowed: false,
                remaining: 0,
                reset: Some(1)
            }
        );
        // A refusal takes nothing: one token is back after a fifth of a second.
        let t = b.take(t0 + Duration::from_millis(200), 5, 1);
        assert!(t.allowed);
        assert_eq!(t.remaining, 0);
        assert!(!b.take(t0 + Duration::from_millis(200), 5, 1).allowed);
    }

    #[test]
    fn an_hourly_limit_says_how_long_to_wait() {
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        for _ in 0..2 {
            assert!(b.take(t0, 2, 3600).allowed);
        }
        let refused = b.take(t0 + Duration::from_secs(10), 2, 3600);
        assert!(!refused.allowed);
        // One token per 1800 s, the first taken at t0: back at 1800 s, 1790 s from now.
        assert_eq!(refused.reset, Some(1790));
        assert!(b.take(t0 + Duration::from_secs(1800), 2, 3600).allowed);
    }

    #[test]
    fn a_full_bucket_refills_to_n_and_no_further() {
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        assert!(b.take(t0, 3, 60).allowed);
        let later = t0 + Duration::from_secs(3600);
        let t = b.take(later, 3, 60);
        assert_eq!(t.remaining, 2, "full again, then one taken");
        assert_eq!(t.reset, Some(20));
        assert!(b.take(later, 3, 60).allowed);
        assert!(b.take(later, 3, 60).allowed);
        assert!(!b.take(later, 3, 60).allowed);
    }

    #[test]
    fn remaining_rounds_down_and_reset_rounds_up() {
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        for _ in 0..10 {
            assert!(b.take(t0, 10, 60).allowed);
        }
        // 6 s per token: 9 s later one whole token and half of the next.
        let t = b.take(t0 + Duration::from_secs(9), 10, 60);
        assert_eq!((t.allowed, t.remaining, t.reset), (true, 0, Some(3)));
    }

    #[test]
    fn a_smaller_share_holds_fewer_tokens() {
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        // Two replicas share 5/s: 3 here.
        for _ in 0..3 {
            assert!(b.take(t0, 3, 1).allowed);
        }
        assert!(!b.take(t0, 3, 1).allowed);
    }

    #[test]
    fn a_large_limit_that_does_not_divide_the_second_holds_exactly_n() {
        // 300,000/s: a token every 3,333.33 ns, rounded down to 3,333 ns, must not let the
        // bucket hold (or report) the 300,030 tokens that a second of 3,333 ns makes.
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        let first = b.take(t0, 300_000, 1);
        assert_eq!(first.remaining, 299_999, "r never exceeds q");
        let passed = 1
            + (0..300_100)
                .filter(|_| b.take(t0, 300_000, 1).allowed)
                .count();
        assert_eq!(passed, 300_000);
    }

    #[test]
    fn concurrent_takers_never_get_more_than_n() {
        let t0 = Instant::now();
        let b = std::sync::Arc::new(TokenBucket::new(t0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = std::sync::Arc::clone(&b);
                std::thread::spawn(move || {
                    (0..1000).filter(|_| b.take(t0, 100, 3600).allowed).count()
                })
            })
            .collect();
        let passed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(passed, 100);
    }
}
