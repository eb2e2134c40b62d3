//! Prometheus metrics of `ragkeys serve --metrics-listen ADDR` (docs/operating.md):
//! every metric name, the one recorder, and the functions that record into it.
//!
//! The recorder is `metrics-exporter-prometheus`'s, kept here rather than installed as the
//! `metrics` facade's global recorder: every handle the hot path touches is resolved once (a
//! registry lookup clones and hashes its key, an allocation per call), and the embedded service
//! of the console, which shares this code, records nothing. Until [`install`] runs, every
//! recording function is a single atomic load that finds nothing to do.
//!
//! Labels carry route templates and fixed words only: never a raw path, key id, masked key or
//! token (docs/operating.md).

mod latency;
mod routes;
mod upkeep;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::http::Method;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

pub use upkeep::run_upkeep;

use super::store::KeyCounts;
use crate::wire::WebhookEventType;

/// Requests answered by the API listener, by `route` (the route template, or `unmatched`),
/// `method` and `status`. Counter.
pub const HTTP_REQUESTS_TOTAL: &str = "ragkeys_http_requests_total";
/// Time from the request reaching the service (its head read) to its answer, by `route`, in
/// seconds. Histogram.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "ragkeys_http_request_duration_seconds";
/// `GET /v1/verify` answers by `outcome`: `ok` (200), `denied` (403: a valid key outside its
/// networks or scopes), `limited` (429 of a key's own rate limit), `rate_limited` (429 of the
/// per-address failure limit), `unavailable` (503, or any other 5xx: the caller got no
/// verdict), `refused` (every other 4xx). Counter.
pub const VERIFY_TOTAL: &str = "ragkeys_verify_total";
/// Keys by `state` (`active`, `disabled`, `expired`, `rotating`) across all services, read from
/// the store when scraped. Gauge.
pub const API_KEYS: &str = "ragkeys_api_keys";
/// Store failures (`internal` / `unavailable` answers, failed background writes, a failed read
/// of [`API_KEYS`] at scrape time). Counter.
pub const STORE_ERRORS_TOTAL: &str = "ragkeys_store_errors_total";
/// 1 while the store takes writes, 0 while it cannot (disk full, read-only, I/O error), read
/// at scrape time (docs/api.md, Shutting down and starting up). Gauge.
pub const STORE_WRITABLE: &str = "ragkeys_store_writable";
/// 1 while this replica holds a valid lease on the shared database, else 0; absent on a
/// single-process SQLite service (see [`lease_valid`]). Gauge.
pub const REPLICA_LEASE_VALID: &str = "ragkeys_replica_lease_valid";
/// Seconds a revocation (delete, disable, rotation with grace 0) waited for every live replica
/// to acknowledge it (see [`revocation_acked`]). Histogram.
pub const REVOCATION_ACK_SECONDS: &str = "ragkeys_revocation_ack_seconds";
/// Entries of the in-memory verify index (keys that may verify, and those not yet retired). Gauge.
pub const VERIFY_INDEX_KEYS: &str = "ragkeys_verify_index_keys";
/// When the process started, unix seconds (the name client libraries use). Gauge.
pub const PROCESS_START_TIME_SECONDS: &str = "process_start_time_seconds";
/// Always 1, with the `version` of the binary as a label. Gauge.
pub const BUILD_INFO: &str = "ragkeys_build_info";
/// 1 from the stop signal on (the replica is draining: not ready, still serving), else 0
/// (docs/operating.md, Rolling restarts and the drain). Gauge.
pub const DRAINING: &str = "ragkeys_draining";
/// Webhook delivery attempts by `event` (its type) and `outcome`: `delivered` (a 2xx),
/// `failed` (to be retried), `dropped` (the last retry failed) (docs/operating.md,
/// Notifications). Counter.
pub const WEBHOOK_DELIVERIES_TOTAL: &str = "ragkeys_webhook_deliveries_total";
/// Webhook deliveries not yet delivered or dropped, read from the store by the dispatcher. Gauge.
pub const WEBHOOK_PENDING: &str = "ragkeys_webhook_pending";
/// Keys whose leak was recorded (disabled, retired or marked by a report; a report that
/// changed nothing is not counted), by `by`: `github` (GitHub's secret scanning) or `admin`
/// (`POST /v1/leaks`) (docs/operating.md, Metrics). Counter.
pub const LEAKS_TOTAL: &str = "ragkeys_leaks_total";

/// Every metric name `/metrics` may show (histograms add `_bucket`, `_sum` and `_count`), for
/// the check of the alert rules.
pub const EXPORTED: &[&str] = &[
    HTTP_REQUESTS_TOTAL,
    HTTP_REQUEST_DURATION_SECONDS,
    VERIFY_TOTAL,
    API_KEYS,
    STORE_ERRORS_TOTAL,
    STORE_WRITABLE,
    REPLICA_LEASE_VALID,
    REVOCATION_ACK_SECONDS,
    VERIFY_INDEX_KEYS,
    PROCESS_START_TIME_SECONDS,
    BUILD_INFO,
    DRAINING,
    LEAKS_TOTAL,
    WEBHOOK_DELIVERIES_TOTAL,
    WEBHOOK_PENDING,
];

/// The `outcome` label values of [`WEBHOOK_DELIVERIES_TOTAL`].
pub const WEBHOOK_OUTCOMES: [&str; 3] = ["delivered", "failed", "dropped"];

/// The `state` label values of [`API_KEYS`], in the order of [`KeyCounts`]'s fields.
pub const KEY_STATES: [&str; 4] = ["active", "disabled", "expired", "rotating"];

/// Acknowledgement waits: from 1 ms (all replicas at hand) to the lease's bound and beyond.
const ACK_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Indexes of [`Metrics::verify`].
#[derive(Clone, Copy)]
enum Outcome {
    Ok = 0,
    Refused = 1,
    RateLimited = 2,
    Unavailable = 3,
    Denied = 4,
    Limited = 5,
}

const OUTCOMES: [&str; 6] = [
    "ok",
    "refused",
    "rate_limited",
    "unavailable",
    "denied",
    "limited",
];

/// The recorder and every handle resolved once.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    verify: [Counter; 6],
    store_errors: Counter,
    store_writable: Gauge,
    /// Registered on the first report, so that a single-process service shows no lease at all.
    lease_valid: OnceLock<Gauge>,
    revocation_ack: Histogram,
    api_keys: [Gauge; 4],
    index_keys: Gauge,
    draining: Gauge,
    /// [`LEAKS_TOTAL`] by `github`, `admin`.
    leaks: [Counter; 2],
    /// By event type (in [`WebhookEventType::ALL`]'s order), then by [`WEBHOOK_OUTCOMES`].
    webhook_deliveries: [[Counter; 3]; 4],
    webhook_pending: Gauge,
    routes: routes::Routes,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Turns recording on for this process (idempotent) and returns the one [`Metrics`].
pub fn install() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

/// The process's metrics once [`install`] has run.
#[inline]
pub fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    let labels: Vec<Label> = labels.iter().map(|&(k, v)| Label::new(k, v)).collect();
    Key::from_parts(name, labels)
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
}

impl Metrics {
    /// A recorder with this service's buckets, every metric described, and the handles of the
    /// hot path resolved.
    pub fn new() -> Metrics {
        let builder = PrometheusBuilder::new();
        // A fixed, non-empty bucket list: the builder refuses only an empty one. Request
        // durations are not the exporter's (see `latency`).
        let builder = builder
            .set_buckets_for_metric(Matcher::Full(REVOCATION_ACK_SECONDS.into()), ACK_BUCKETS)
            .unwrap_or_default();
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        describe(&recorder);
        let counter = |name, labels: &[(&'static str, &'static str)]| {
            recorder.register_counter(&key(name, labels), &metadata())
        };
        let gauge = |name, labels: &[(&'static str, &'static str)]| {
            recorder.register_gauge(&key(name, labels), &metadata())
        };
        let verify = OUTCOMES.map(|o| counter(VERIFY_TOTAL, &[("outcome", o)]));
        let api_keys = KEY_STATES.map(|s| gauge(API_KEYS, &[("state", s)]));
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64().floor());
        gauge(PROCESS_START_TIME_SECONDS, &[]).set(start);
        gauge(BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))]).set(1.0);
        let draining = gauge(DRAINING, &[]);
        draining.set(0.0);
        let store_writable = gauge(STORE_WRITABLE, &[]);
        store_writable.set(1.0);
        let webhook_deliveries = WebhookEventType::ALL.map(|t| {
            WEBHOOK_OUTCOMES.map(|o| {
                counter(
                    WEBHOOK_DELIVERIES_TOTAL,
                    &[("event", t.as_str()), ("outcome", o)],
                )
            })
        });
        let metrics = Metrics {
            verify,
            store_errors: counter(STORE_ERRORS_TOTAL, &[]),
            store_writable,
            lease_valid: OnceLock::new(),
            revocation_ack: recorder
                .register_histogram(&key(REVOCATION_ACK_SECONDS, &[]), &metadata()),
            api_keys,
            index_keys: gauge(VERIFY_INDEX_KEYS, &[]),
            draining,
            leaks: ["github", "admin"].map(|by| {
                let c = counter(LEAKS_TOTAL, &[("by", by)]);
                c.increment(0);
                c
            }),
            webhook_deliveries,
            webhook_pending: gauge(WEBHOOK_PENDING, &[]),
            routes: routes::Routes::default(),
            handle,
            recorder,
        };
        metrics.handle.run_upkeep();
        metrics
    }

    /// The Prometheus text format of everything recorded so far.
    pub fn render(&self) -> String {
        let mut text = self.handle.render();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        self.routes.render_durations(&mut text);
        text
    }

    /// Sets [`API_KEYS`] (every state, zeros included).
    pub fn set_key_states(&self, s: KeyCounts) {
        for (gauge, n) in self
            .api_keys
            .iter()
            .zip([s.active, s.disabled, s.expired, s.rotating])
        {
            gauge.set(n as f64);
        }
    }

    /// Sets [`STORE_WRITABLE`].
    pub fn set_store_writable(&self, writable: bool) {
        self.store_writable.set(if writable { 1.0 } else { 0.0 });
    }

    /// Sets [`WEBHOOK_PENDING`].
    pub fn set_webhook_pending(&self, n: u64) {
        self.webhook_pending.set(n as f64);
    }

    /// Sets [`VERIFY_INDEX_KEYS`].
    pub fn set_index_keys(&self, n: usize) {
        self.index_keys.set(n as f64);
    }

    fn register_counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &metadata())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn describe(r: &PrometheusRecorder) {
    let d = |name: &'static str, text: &'static str| {
        (KeyName::from_const_str(name), SharedString::const_str(text))
    };
    for (name, text) in [
        d(
            HTTP_REQUESTS_TOTAL,
            "Requests answered by the API listener, by route template, method and status.",
        ),
        d(
            VERIFY_TOTAL,
            "GET /v1/verify answers by outcome: ok, refused, denied, limited, rate_limited, unavailable.",
        ),
        d(
            LEAKS_TOTAL,
            "Keys whose leak was recorded, by who reported it: github or admin.",
        ),
        d(
            WEBHOOK_DELIVERIES_TOTAL,
            "Webhook delivery attempts by event type and outcome: delivered, failed (to be retried), dropped.",
        ),
        d(
            STORE_ERRORS_TOTAL,
            "Store failures: requests answered internal or unavailable, failed background writes.",
        ),
    ] {
        r.describe_counter(name, None, text);
    }
    for (name, text) in [
        d(
            API_KEYS,
            "API keys by state across all services, read from the store at scrape time.",
        ),
        d(
            REPLICA_LEASE_VALID,
            "1 while this replica holds a valid lease on the shared database, else 0.",
        ),
        d(VERIFY_INDEX_KEYS, "Entries of the in-memory verify index."),
        d(
            WEBHOOK_PENDING,
            "Webhook deliveries not yet delivered or dropped (the outbox's backlog).",
        ),
        d(
            STORE_WRITABLE,
            "1 while the store takes writes, 0 while it cannot (disk full, read-only, I/O error).",
        ),
        d(
            PROCESS_START_TIME_SECONDS,
            "Start time of the process since the unix epoch, in seconds.",
        ),
        d(
            BUILD_INFO,
            "Always 1; the version of the ragkeys binary as a label.",
        ),
        d(
            DRAINING,
            "1 once a stop signal was received: not ready, still serving; else 0.",
        ),
    ] {
        r.describe_gauge(name, None, text);
    }
    let (name, text) = d(
        REVOCATION_ACK_SECONDS,
        "Seconds a revocation waited for every live replica to acknowledge it.",
    );
    r.describe_histogram(name, None, text);
}

/// Records one answered request of the API listener: its route template (`None`: no route
/// matched, recorded as `unmatched`), method, status and the time since `start`; and, for
/// `/v1/verify`, its outcome. No lock once a (route, method, status) has been seen, and an
/// allocation only once per 64 samples (the exporter's histogram list grows in blocks); with
/// metrics off, not even a clock read.
/// `key_limited`: a 429 of a key's own rate limit (it carries `RateLimit-Policy`), not of the
/// per-address failure limit.
#[inline]
pub fn http_request(
    route: Option<&str>,
    method: &Method,
    status: u16,
    key_limited: bool,
    start: Instant,
) {
    if let Some(m) = get() {
        let status = Status {
            code: status,
            key_limited,
        };
        m.routes.record(m, route, method, status, start.elapsed());
    }
}

/// An answer's status as the metrics tell verify outcomes apart.
#[derive(Clone, Copy)]
pub struct Status {
    pub code: u16,
    /// A 429 of a key's own rate limit.
    pub key_limited: bool,
}

impl Metrics {
    /// Only answers about a key count (docs/api.md, Verify with a key's policy): a 400 for a malformed `scope`
    /// counts toward nothing, and neither does any other answer that is not a verification
    /// (405 for another method, 408, 413, 431…).
    fn verify_outcome(&self, status: Status) {
        let outcome = match status.code {
            200..=299 => Outcome::Ok,
            401 => Outcome::Refused,
            403 => Outcome::Denied,
            429 if status.key_limited => Outcome::Limited,
            429 => Outcome::RateLimited,
            500..=599 => Outcome::Unavailable,
            _ => return,
        };
        self.verify[outcome as usize].increment(1);
    }
}

/// Counts one store failure (see [`STORE_ERRORS_TOTAL`]): call it where a
/// `StoreError::Failed`/`Closed`/`Unavailable` becomes an answer or is given up on.
#[inline]
pub fn store_error() {
    if let Some(m) = get() {
        m.store_errors.increment(1);
    }
}

/// For the replicas (docs/api.md, Several replicas): reports whether this replica holds a valid
/// lease now (`true` → [`REPLICA_LEASE_VALID`] 1, `false` → 0). Call it on every renewal and
/// the moment the lease is lost; a no-op unless metrics are on.
pub fn lease_valid(valid: bool) {
    if let Some(m) = get() {
        let gauge = m.lease_valid.get_or_init(|| {
            m.recorder
                .register_gauge(&key(REPLICA_LEASE_VALID, &[]), &metadata())
        });
        gauge.set(if valid { 1.0 } else { 0.0 });
    }
}

/// Counts `n` keys whose leak was recorded, reported by GitHub (`github`) or an admin token
/// (see [`LEAKS_TOTAL`]); a no-op unless metrics are on.
pub fn leaks_recorded(by_github: bool, n: u64) {
    if let Some(m) = get() {
        m.leaks[usize::from(!by_github)].increment(n);
    }
}

/// Counts one webhook delivery attempt of `event` with `outcome` (one of
/// [`WEBHOOK_OUTCOMES`]); a no-op unless metrics are on.
pub fn webhook_delivery(event: WebhookEventType, outcome: &str) {
    if let Some(m) = get() {
        let t = WebhookEventType::ALL.iter().position(|t| *t == event);
        let o = WEBHOOK_OUTCOMES.iter().position(|o| *o == outcome);
        if let (Some(t), Some(o)) = (t, o) {
            m.webhook_deliveries[t][o].increment(1);
        }
    }
}

/// Reports that the process is draining ([`DRAINING`] 1) or not; a no-op unless metrics are on.
pub fn draining(on: bool) {
    if let Some(m) = get() {
        m.draining.set(if on { 1.0 } else { 0.0 });
    }
}

/// For the replicas (docs/api.md, Several replicas): records how long one revocation (a delete,
/// disable, service delete or rotation with grace 0) waited, from its commit to the last live
/// replica's acknowledgement (or to the lease bound it waited out instead), into
/// [`REVOCATION_ACK_SECONDS`]. A no-op unless metrics are on.
pub fn revocation_acked(took: Duration) {
    if let Some(m) = get() {
        m.revocation_ack.record(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests;
