//! The delivery loop (docs/operating.md, Notifications): claims the deliveries due, sends them
//! with bounded concurrency, and records each result. A task of `serve` beside the server,
//! never on a request's path; with several replicas the store gives each delivery to one.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::config::{Secrets, redacted};
use super::sign::signature;
use crate::server::metrics;
use crate::server::store::{Delivery, DeliveryResult, Store, UnixTime};
use crate::wire::{Timestamp, WebhookEvent};

/// Waits after a failed attempt, in seconds, before `--webhook-retry-scale`: about 24 h in
/// all, then the delivery is dropped (docs/api.md, Notifications).
pub const SCHEDULE: [u64; 7] = [5, 300, 1800, 7200, 18_000, 28_800, 28_800];
/// One attempt's bound: a 2xx within it is delivered.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim keeps other replicas off a delivery: far beyond one attempt.
const CLAIM_SECS: u32 = 60;
/// Deliveries claimed per pass.
const CLAIM_LIMIT: u32 = 32;
/// Attempts in flight at once.
const CONCURRENCY: usize = 8;
/// The pause between passes when nothing was due.
const POLL: Duration = Duration::from_secs(1);
/// Without a URL there is nothing to send: the outbox is only emptied, this often.
const PURGE: Duration = Duration::from_secs(60);
/// Passes between two reads of the backlog for `ragkeys_webhook_pending`.
const PENDING_EVERY: u32 = 5;

/// What became of a failed attempt: the next try, or the end of the schedule.
pub fn after_failure(attempts_before: u32, now: UnixTime, scale: f64) -> DeliveryResult {
    match SCHEDULE.get(attempts_before as usize) {
        Some(&wait) => {
            // Rounded up, so that a small scale still waits at least the next second.
            let wait = (wait as f64 * scale).ceil().max(0.0) as UnixTime;
            DeliveryResult::RetryAt(now.saturating_add(wait))
        }
        None => DeliveryResult::Dropped,
    }
}

/// Everything the loop needs, built once at start.
pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub urls: Vec<String>,
    pub secrets: Secrets,
    pub http: reqwest::Client,
    pub retry_scale: f64,
}

impl Dispatcher {
    /// Runs until `stop` turns true; a batch in flight is finished first (each attempt is
    /// bounded), so that no claim is left to expire.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut pass: u32 = 0;
        loop {
            let busy = if self.urls.is_empty() {
                self.purge().await;
                false
            } else {
                let full = self.pass().await;
                if pass % PENDING_EVERY == 0 || full {
                    self.report_pending().await;
                }
                full
            };
            pass = pass.wrapping_add(1);
            if busy {
                if *stop.borrow() {
                    break;
                }
                continue;
            }
            let pause = if self.urls.is_empty() { PURGE } else { POLL };
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Removes notices nobody is to receive (the store does so when given no URL).
    async fn purge(&self) {
        let now = Timestamp::now().unix();
        if let Err(e) = self
            .store
            .claim_deliveries(Vec::new(), now, CLAIM_SECS, CLAIM_LIMIT)
            .await
        {
            tracing::debug!(error = %e, "could not empty the webhook outbox");
        }
    }

    async fn report_pending(&self) {
        if let Some(m) = metrics::get()
            && let Ok(n) = self.store.pending_deliveries().await
        {
            m.set_webhook_pending(n);
        }
    }

    /// One pass: claims what is due, sends it, records the results. True when the claim was
    /// full, so that the next pass follows at once.
    async fn pass(&self) -> bool {
        let now = Timestamp::now().unix();
        let claimed = match self
            .store
            .claim_deliveries(self.urls.clone(), now, CLAIM_SECS, CLAIM_LIMIT)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                // A store that cannot take writes says so elsewhere; retried next pass.
                tracing::debug!(error = %e, "could not claim webhook deliveries");
                return false;
            }
        };
        let full = claimed.len() >= CLAIM_LIMIT as usize;
        futures_util::stream::iter(claimed)
            .map(|d| self.deliver(d))
            .buffer_unordered(CONCURRENCY)
            .for_each(|()| async {})
            .await;
        full
    }

    /// One attempt of one delivery, and its result recorded.
    async fn deliver(&self, d: Delivery) {
        let event_type = d.notice.event_type;
        let event = event_type.as_str();
        let sent = self.send(&d).await;
        let now = Timestamp::now().unix();
        let result = match &sent {
            Ok(()) => DeliveryResult::Delivered,
            Err(_) => after_failure(d.attempts, now, self.retry_scale),
        };
        let url = redacted(&d.url);
        match (&sent, result) {
            (Ok(()), _) => {
                tracing::debug!(event, id = %d.notice.id, url = %url, "webhook delivered");
                metrics::webhook_delivery(event_type, "delivered");
            }
            (Err(why), DeliveryResult::Dropped) => {
                let masked = serde_json::from_str::<WebhookEvent>(&d.notice.body)
                    .map(|e| e.data.masked)
                    .unwrap_or_default();
                tracing::warn!(
                    event,
                    id = %d.notice.id,
                    masked = %masked,
                    url = %url,
                    attempts = d.attempts + 1,
                    "webhook dropped after its last retry: {why}"
                );
                metrics::webhook_delivery(event_type, "dropped");
            }
            (Err(why), _) => {
                tracing::info!(
                    event,
                    id = %d.notice.id,
                    url = %url,
                    attempt = d.attempts + 1,
                    "webhook attempt failed, will retry: {why}"
                );
                metrics::webhook_delivery(event_type, "failed");
            }
        }
        if let Err(e) = self
            .store
            .finish_delivery(d.notice.id.clone(), d.url.clone(), result)
            .await
        {
            // The claim runs out and the delivery is tried again: at least once.
            metrics::store_error();
            tracing::warn!(error = %e, id = %d.notice.id, "could not record a webhook attempt");
        }
    }

    /// Sends one attempt, signed now; a 2xx is success, anything else says why it failed.
    async fn send(&self, d: &Delivery) -> Result<(), String> {
        let ts = Timestamp::now().unix();
        let keys = self.secrets.current();
        let sig = signature(&keys, &d.notice.id, ts, &d.notice.body);
        let answer = self
            .http
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &d.notice.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(d.notice.body.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", status.as_u16()))
        }
    }
}

/// A transport error in a few words, without the URL (which may carry a password).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    match last {
        Some(reason) => format!("{kind}: {reason}"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_then_drop() {
        let waits: Vec<_> = (0..7)
            .map(|a| match after_failure(a, 1000, 1.0) {
                DeliveryResult::RetryAt(t) => t - 1000,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(waits, [5, 300, 1800, 7200, 18_000, 28_800, 28_800]);
        assert_eq!(after_failure(7, 1000, 1.0), DeliveryResult::Dropped);
        // About 24 hours in all.
        let total: u64 = SCHEDULE.iter().sum();
        assert!((23 * 3600..=25 * 3600).contains(&total), "{total}");
    }

    #[test]
    fn the_scale_multiplies_the_schedule_rounding_up() {
        assert_eq!(after_failure(0, 1000, 0.001), DeliveryResult::RetryAt(1001));
        assert_eq!(after_failure(6, 1000, 0.001), DeliveryResult::RetryAt(1029));
        assert_eq!(after_failure(1, 1000, 2.0), DeliveryResult::RetryAt(1600));
        assert_eq!(after_failure(7, 1000, 0.001), DeliveryResult::Dropped);
    }
}
