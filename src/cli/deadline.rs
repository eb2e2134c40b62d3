//! One overall deadline per command (docs/cli.md, Deadline): retries and `token_command` count
//! toward it, time spent waiting for a person at a `[y/N]` question does not.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The default of `--timeout`, in seconds.
pub const DEFAULT_SECS: u64 = 30;

/// Microseconds spent at prompts so far: a question is answered synchronously, so a process-wide
/// counter is all the deadline needs to move its end.
static PROMPT_MICROS: AtomicU64 = AtomicU64::new(0);

/// When a command gives up.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    start: Instant,
    limit: Duration,
    prompt_at_start: u64,
}

impl Deadline {
    /// Starts now, `limit` from now plus whatever prompts take from now on.
    pub fn start(limit: Duration) -> Deadline {
        Deadline {
            start: Instant::now(),
            limit,
            prompt_at_start: PROMPT_MICROS.load(Ordering::SeqCst),
        }
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The moment the command gives up, as it stands now.
    pub fn end(&self) -> Instant {
        let prompts = PROMPT_MICROS
            .load(Ordering::SeqCst)
            .saturating_sub(self.prompt_at_start);
        self.start + self.limit + Duration::from_micros(prompts)
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.end()
    }

    /// Runs `f` to its end, or `None` once the deadline passed first.
    pub async fn within<F: Future>(&self, f: F) -> Option<F::Output> {
        let mut f = std::pin::pin!(f);
        loop {
            let end = self.end();
            tokio::select! {
                biased;
                out = &mut f => return Some(out),
                () = tokio::time::sleep_until(end.into()) => {
                    // A prompt answered meanwhile moved the end: wait on for what is left.
                    if self.passed() {
                        return None;
                    }
                }
            }
        }
    }
}

/// Runs `f` (a question to a person) without counting its time toward any deadline.
pub fn excluded<T>(f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let spent = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
    PROMPT_MICROS.fetch_add(spent, Ordering::SeqCst);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_future_that_never_ends_is_cut_at_the_deadline() {
        let d = Deadline::start(Duration::from_millis(100));
        let t = Instant::now();
        let out = d.within(std::future::pending::<()>()).await;
        assert!(out.is_none());
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn time_at_a_prompt_moves_the_end() {
        let d = Deadline::start(Duration::from_millis(200));
        let out = d
            .within(async {
                excluded(|| std::thread::sleep(Duration::from_millis(300)));
                tokio::time::sleep(Duration::from_millis(50)).await;
                5
            })
            .await;
        assert_eq!(out, Some(5));
    }
}
