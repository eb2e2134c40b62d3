//! A key's rate limit (docs/api.md, Keys that carry their own policy): a token bucket of N
//! refilled evenly over S seconds, kept as one atomic "theoretical arrival time" (the generic
//! cell rate algorithm), so that a verification takes one compare-and-swap and no lock. With
//! several replicas each holds its share of N (see [`crate::server::rate_limit::share`]).
//!
//! A change of the limit (a PATCH, or the share moving with the number of live replicas) never
//! refills the bucket: the tokens spent stay spent, counted in the new limit up to a whole new
//! bucket, and come back at the new rate (docs/api.md, Verify with a key's policy).

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
    /// The limit `full_at` is counted in (`tokens << 32 | seconds`; 0 before the first take), so
    /// that a take under another limit first converts what was spent.
    shape: AtomicU64,
}

/// A limit as the bucket counts it: nanoseconds per token, and the whole bucket's nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    per_token: u64,
    window: u64,
}

impl Shape {
    fn of(tokens: u32, seconds: u32) -> Shape {
        let tokens = u64::from(tokens.max(1));
        let whole = u64::from(seconds.max(1)) * NANOS;
        // The time one token takes to come back; never 0, so that a bucket always drains.
        let per_token = (whole / tokens).max(1);
        // The bucket holds exactly `tokens`: with `per_token` rounded down, the whole window
        // would hold a few more (300,030 for 300,000/s) and report them in `r`.
        Shape {
            per_token,
            window: per_token * tokens,
        }
    }

    fn packed(tokens: u32, seconds: u32) -> u64 {
        (u64::from(tokens.max(1)) << 32) | u64::from(seconds.max(1))
    }

    fn unpacked(packed: u64) -> Shape {
        let tokens = u32::try_from(packed >> 32).unwrap_or(u32::MAX);
        let seconds = u32::try_from(packed & u64::from(u32::MAX)).unwrap_or(u32::MAX);
        Shape::of(tokens, seconds)
    }

    /// `debt` (nanoseconds until full, counted in `self`) counted in `to`: the same tokens
    /// spent, at most a whole bucket of `to`.
    fn convert(self, debt: u64, to: Shape) -> u64 {
        let spent = u128::from(debt) * u128::from(to.per_token) / u128::from(self.per_token);
        u64::try_from(spent).unwrap_or(u64::MAX).min(to.window)
    }
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(now: Instant) -> TokenBucket {
        TokenBucket {
            base: now,
            full_at: AtomicU64::new(0),
            shape: AtomicU64::new(0),
        }
    }

    /// Takes one token at `now` from a bucket of `tokens` refilled evenly over `seconds` (this
    /// replica's share; `tokens` ≥ 1). A refusal takes nothing.
    pub fn take(&self, now: Instant, tokens: u32, seconds: u32) -> Taken {
        let Shape { per_token, window } = Shape::of(tokens, seconds);
        let now = u64::try_from(now.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX / 2);
        let packed = Shape::packed(tokens, seconds);
        // One relaxed load on the hot path; a conversion only when the limit moved.
        let was = self.shape.load(Ordering::Relaxed);
        if was != packed {
            self.reshape(now, was, packed);
        }
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

impl TokenBucket {
    /// Counts what was spent under the limit `was` in the limit `to` (both packed): the caller
    /// that moves `shape` converts `full_at`; the others see `to` already.
    #[cold]
    fn reshape(&self, now: u64, mut was: u64, to: u64) {
        loop {
            match self
                .shape
                .compare_exchange(was, to, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(seen) if seen == to => return,
                Err(seen) => was = seen,
            }
        }
        // A bucket never taken from is full under any limit.
        if was == 0 {
            return;
        }
        let (from, to) = (Shape::unpacked(was), Shape::unpacked(to));
        let mut current = self.full_at.load(Ordering::Relaxed);
        loop {
            let debt = current.saturating_sub(now);
            if debt == 0 {
                return;
            }
            let next = now + from.convert(debt, to);
            match self.full_at.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
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
    fn a_lowered_limit_keeps_what_was_spent() {
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        assert!(b.take(t0, 2, 3600).allowed);
        assert!(b.take(t0, 2, 3600).allowed);
        assert!(!b.take(t0, 2, 3600).allowed);
        // 1/h: two spent is more than the whole bucket (the excess is forgotten); the next
        // token is an hour away.
        let t = b.take(t0 + Duration::from_secs(1), 1, 3600);
        assert_eq!((t.allowed, t.reset), (false, Some(3600)));
        // 10/h with 3 spent, lowered to 5/h: 2 left, not a fresh 5.
        let b = TokenBucket::new(t0);
        for _ in 0..3 {
            assert!(b.take(t0, 10, 3600).allowed);
        }
        let t = b.take(t0, 5, 3600);
        assert_eq!((t.allowed, t.remaining), (true, 1));
        assert!(b.take(t0, 5, 3600).allowed);
        assert!(!b.take(t0, 5, 3600).allowed);
    }

    #[test]
    fn a_longer_window_counts_the_spent_tokens_at_its_slower_rate() {
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        for _ in 0..10 {
            assert!(b.take(t0, 10, 60).allowed);
        }
        // 10/min spent, now 10/h: still empty, and a token comes back after 6 min, not 6 s.
        let t = b.take(t0, 10, 3600);
        assert_eq!((t.allowed, t.reset), (false, Some(360)));
    }

    #[test]
    fn a_raised_limit_adds_room_but_no_spent_token_comes_back() {
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        for _ in 0..2 {
            assert!(b.take(t0, 2, 3600).allowed);
        }
        // 3/h: the two spent stay spent; one more, then empty.
        let t = b.take(t0, 3, 3600);
        assert_eq!((t.allowed, t.remaining), (true, 0));
        assert!(!b.take(t0, 3, 3600).allowed);
        // 10/s from 2/h: the spent tokens come back at the new rate, within the second.
        let b = TokenBucket::new(t0);
        for _ in 0..2 {
            assert!(b.take(t0, 2, 3600).allowed);
        }
        let t = b.take(t0, 10, 1);
        assert_eq!((t.allowed, t.remaining, t.reset), (true, 7, Some(1)));
    }

    #[test]
    fn a_share_that_moves_with_the_replicas_never_refills() {
        let t0 = Instant::now();
        let b = TokenBucket::new(t0);
        // Alone: 4 of 4 spent.
        for _ in 0..4 {
            assert!(b.take(t0, 4, 3600).allowed);
        }
        // A second replica joins (share 2): still empty. It leaves (share 4): the level the
        // smaller bucket held stays (2 spent), the room above it is the larger share's.
        assert!(!b.take(t0, 2, 3600).allowed);
        let t = b.take(t0, 4, 3600);
        assert_eq!((t.allowed, t.remaining), (true, 1));
        assert!(b.take(t0, 4, 3600).allowed);
        assert!(!b.take(t0, 4, 3600).allowed);
        // One spent of a share of 2, then a share of 4: two spent after the next, two left.
        let b = TokenBucket::new(t0);
        assert_eq!(b.take(t0, 2, 3600).remaining, 1);
        assert_eq!(b.take(t0, 4, 3600).remaining, 2, "2 of 4 spent");
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
