//! The notices the service adds itself (docs/api.md, Notifications): `api_key.expiring` before a
//! key's expiry, and `api_key.disabled_still_called` when a key that no longer verifies is still
//! presented. The store writes `api_key.leaked` and `api_key.retired` in the transactions of
//! what they tell.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::server::store::{KeyRecord, Notice, Store, UnixTime, key_data, notice, notice_of};
use crate::server::usage::{DAY, RefusedKey, RefusedLog, day_of};
use crate::wire::{KeyState, Timestamp, WebhookData, WebhookEventType};

/// How long before `expires_at` an `api_key.expiring` is sent, with its name in the dedup key.
pub const EXPIRING_MARKS: [(UnixTime, &str); 2] = [(7 * DAY, "7d"), (DAY, "1d")];
/// How often keys are checked for a coming expiry and refused calls are looked at.
const PASS_EVERY: Duration = Duration::from_secs(60);

/// The `api_key.expiring` due for `key` at `now`, as (mark name, dedup key): the nearest mark
/// already reached, if the key is active, expires later, and already existed at that mark (a
/// key whose whole lifetime is shorter gets only the notices still ahead of it). A service
/// that was down past both marks sends only the nearer one.
pub fn expiring_due(key: &KeyRecord, now: UnixTime) -> Option<String> {
    let expires = key.expires_at?;
    if key.state(now) != KeyState::Active || now >= expires {
        return None;
    }
    EXPIRING_MARKS
        .iter()
        .rev()
        .find(|(before, _)| now >= expires - before)
        .filter(|(before, _)| key.created_at <= expires - before)
        .map(|(_, mark)| format!("expiring:{mark}:{}:{expires}", key.id))
}

/// The dedup key of `api_key.disabled_still_called` for a key on one UTC day.
pub fn still_called_dedup(day: UnixTime, key_id: &str) -> String {
    let date = Timestamp::from_unix(day).0.format("%Y-%m-%d");
    format!("still_called:{date}:{key_id}")
}

/// Adds the notices that are due, once a minute until `stop`.
pub async fn run(store: Arc<dyn Store>, refused: RefusedLog, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(PASS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Keys told about today, so that a key refused all day is looked up once.
    let mut told: HashSet<(UnixTime, String)> = HashSet::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tick.tick() => {}
        }
        let now = Timestamp::now().unix();
        expiring_pass(&*store, now).await;
        told.retain(|(day, _)| *day >= day_of(now) - DAY);
        still_called_pass(&*store, &refused, &mut told, now).await;
    }
}

/// Adds an `api_key.expiring` for every active key that reached a mark.
async fn expiring_pass(store: &dyn Store, now: UnixTime) {
    let services = match store.list_services().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "could not list services for expiry notices");
            return;
        }
    };
    for service in services {
        let Ok(keys) = store.list_keys(service.id.clone()).await else {
            continue;
        };
        for key in keys {
            if let Some(dedup) = expiring_due(&key, now) {
                let n = notice(WebhookEventType::ApiKeyExpiring, &key, &service.name, now);
                add(store, dedup, n).await;
            }
        }
    }
}

/// Adds an `api_key.disabled_still_called` for every key that usage saw refused, once a day.
async fn still_called_pass(
    store: &dyn Store,
    refused: &RefusedLog,
    told: &mut HashSet<(UnixTime, String)>,
    now: UnixTime,
) {
    for seen in refused.take() {
        if !told.insert((seen.day, seen.key_id.clone())) {
            tracing::debug!(
                key_id = %seen.key_id,
                "api_key.disabled_still_called already told today"
            );
            continue;
        }
        let Some(data) = stopped_key(store, &seen, now).await else {
            continue;
        };
        let dedup = still_called_dedup(seen.day, &seen.key_id);
        let n = notice_of(WebhookEventType::ApiKeyDisabledStillCalled, data, now);
        add(store, dedup, n).await;
    }
}

/// What the notice says of a key usage saw refused: a key that is still stopped (disabled,
/// expired, or retired and known by its tombstone). `None` when it verifies again (enabled
/// since), was deleted, or cannot be read now (the next pass does not retry it: a key refused
/// again tomorrow is told then).
async fn stopped_key(store: &dyn Store, seen: &RefusedKey, now: UnixTime) -> Option<WebhookData> {
    let key = store
        .get_key(seen.service_id.clone(), seen.key_id.clone())
        .await;
    match key {
        Ok(Some(key)) => {
            if key.state(now) == KeyState::Active && key.replaced_by.is_none() {
                // Enabled again since: it verifies now.
                return None;
            }
            let service = store.get_service(seen.service_id.clone()).await.ok()??;
            Some(key_data(&key, &service.name))
        }
        // Gone from the list: retired (its tombstone says what it was), or deleted.
        Ok(None) => store
            .retired_key(seen.service_id.clone(), seen.key_id.clone())
            .await
            .ok()?,
        Err(_) => None,
    }
}

async fn add(store: &dyn Store, dedup: String, notice: Notice) {
    let (event, id) = (notice.event_type.as_str(), notice.id.clone());
    match store.add_notice(dedup, notice).await {
        Ok(true) => tracing::info!(event, id = %id, "webhook notice added"),
        // Added before, by this process, an earlier one or another replica: sent once only.
        Ok(false) => tracing::debug!(event, "webhook notice already added"),
        Err(e) => tracing::warn!(error = %e, event, "could not add a webhook notice"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn key(created_at: UnixTime, expires_at: Option<UnixTime>) -> KeyRecord {
        KeyRecord {
            id: "key_a".into(),
            service_id: "svc_a".into(),
            masked: "ragk_abcd…wxyz".into(),
            name: Some("billing".into()),
            created_at,
            created_by: "admin".into(),
            enabled: true,
            expires_at,
            last_used_at: None,
            replaced_by: None,
            policy: Policy::default(),
            leak: None,
        }
    }

    const T: UnixTime = 1_800_000_000;

    #[test]
    fn a_long_lived_key_gets_the_seven_day_then_the_one_day_notice() {
        let k = key(T - 100 * DAY, Some(T + 8 * DAY));
        assert_eq!(expiring_due(&k, T), None);
        let seven = expiring_due(&k, T + DAY).unwrap();
        assert_eq!(seven, format!("expiring:7d:key_a:{}", T + 8 * DAY));
        assert_eq!(expiring_due(&k, T + 6 * DAY).unwrap(), seven);
        let one = expiring_due(&k, T + 7 * DAY).unwrap();
        assert_eq!(one, format!("expiring:1d:key_a:{}", T + 8 * DAY));
        assert_eq!(expiring_due(&k, T + 8 * DAY), None);
    }

    #[test]
    fn a_three_day_key_gets_only_the_one_day_notice() {
        let k = key(T, Some(T + 3 * DAY));
        assert_eq!(expiring_due(&k, T), None);
        assert_eq!(expiring_due(&k, T + DAY), None);
        assert!(
            expiring_due(&k, T + 2 * DAY)
                .unwrap()
                .starts_with("expiring:1d:")
        );
    }

    #[test]
    fn a_new_expiry_gets_new_notices_and_stopped_keys_none() {
        let a = expiring_due(&key(T - 30 * DAY, Some(T + DAY)), T).unwrap();
        let b = expiring_due(&key(T - 30 * DAY, Some(T + DAY / 2)), T).unwrap();
        assert_ne!(a, b);
        let mut disabled = key(T - 30 * DAY, Some(T + DAY));
        disabled.enabled = false;
        assert_eq!(expiring_due(&disabled, T), None);
        assert_eq!(expiring_due(&key(T - 30 * DAY, None), T), None);
    }

    #[test]
    fn still_called_is_once_per_utc_day() {
        let day = day_of(T);
        assert_eq!(
            still_called_dedup(day, "key_a"),
            format!(
                "still_called:{}:key_a",
                Timestamp::from_unix(T).0.format("%Y-%m-%d")
            )
        );
        assert_ne!(
            still_called_dedup(day, "key_a"),
            still_called_dedup(day + DAY, "key_a")
        );
    }

    #[test]
    fn a_notice_is_the_wire_event_without_any_secret() {
        let n = notice(
            WebhookEventType::ApiKeyExpiring,
            &key(T, Some(T + DAY)),
            "billing-api",
            T,
        );
        assert!(n.id.starts_with("msg_") && n.id.len() == 28, "{}", n.id);
        let v: serde_json::Value = serde_json::from_str(&n.body).unwrap();
        assert_eq!(v["type"], "api_key.expiring");
        assert_eq!(v["data"]["service_name"], "billing-api");
        assert_eq!(v["data"]["masked"], "ragk_abcd…wxyz");
        assert!(v["data"]["expires_at"].is_string());
        assert!(v["data"].get("leak").is_none());
    }
}
