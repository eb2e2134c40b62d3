//! Unit tests of the recorder: what a scrape shows after known recordings.

use std::time::Duration;

use axum::http::Method;

use super::*;

/// The value of the sample line `name{labels}` (labels as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn request(m: &Metrics, route: Option<&str>, method: &Method, status: u16) {
    let answer = Status {
        code: status,
        key_limited: false,
    };
    m.routes
        .record(m, route, method, answer, Duration::from_micros(50));
}

#[test]
fn requests_are_counted_by_template_method_and_status() {
    let m = Metrics::new();
    for _ in 0..3 {
        request(&m, Some("/v1/verify"), &Method::GET, 200);
    }
    request(&m, Some("/v1/verify"), &Method::GET, 401);
    request(&m, Some("/v1/verify"), &Method::GET, 429);
    request(&m, Some("/v1/verify"), &Method::GET, 503);
    request(&m, Some("/v1/verify"), &Method::GET, 403);
    // A malformed scope and another method are no verifications: no outcome.
    request(&m, Some("/v1/verify"), &Method::GET, 400);
    request(&m, Some("/v1/verify"), &Method::POST, 405);
    let key_limited = Status {
        code: 429,
        key_limited: true,
    };
    m.routes.record(
        &m,
        Some("/v1/verify"),
        &Method::HEAD,
        key_limited,
        Duration::from_micros(50),
    );
    request(&m, None, &Method::from_bytes(b"BREW").unwrap(), 404);
    request(&m, Some("/v1/services/{service_id}"), &Method::DELETE, 418);
    let text = m.render();
    let get = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    let verify = r#"ragkeys_http_requests_total{route="/v1/verify",method="GET","#;
    assert_eq!(get(&format!(r#"{verify}status="200"}}"#)), 3.0);
    assert_eq!(get(&format!(r#"{verify}status="401"}}"#)), 1.0);
    assert_eq!(
        get(r#"ragkeys_http_requests_total{route="unmatched",method="other",status="404"}"#),
        1.0
    );
    // A status outside the usual set is still counted, with its own label.
    assert_eq!(
        get(
            r#"ragkeys_http_requests_total{route="/v1/services/{service_id}",method="DELETE",status="418"}"#
        ),
        1.0
    );
    assert_eq!(get(r#"ragkeys_verify_total{outcome="ok"}"#), 3.0);
    assert_eq!(get(r#"ragkeys_verify_total{outcome="refused"}"#), 1.0);
    assert_eq!(get(r#"ragkeys_verify_total{outcome="rate_limited"}"#), 1.0);
    assert_eq!(get(r#"ragkeys_verify_total{outcome="unavailable"}"#), 1.0);
    assert_eq!(get(r#"ragkeys_verify_total{outcome="denied"}"#), 1.0);
    assert_eq!(get(r#"ragkeys_verify_total{outcome="limited"}"#), 1.0);
    assert_eq!(
        get(r#"ragkeys_http_request_duration_seconds_count{route="/v1/verify"}"#),
        10.0
    );
    assert_eq!(
        get(r#"ragkeys_http_request_duration_seconds_bucket{route="/v1/verify",le="0.0001"}"#),
        10.0
    );
}

#[test]
fn every_metric_is_described_and_the_lease_appears_only_once_reported() {
    let m = Metrics::new();
    m.set_key_states(KeyCounts {
        active: 2,
        disabled: 1,
        expired: 0,
        rotating: 3,
    });
    request(&m, Some("/healthz"), &Method::GET, 200);
    let text = m.render();
    for name in EXPORTED {
        if *name == REPLICA_LEASE_VALID {
            assert!(
                !text.contains(name),
                "a lease shown before any was reported"
            );
            continue;
        }
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP of {name}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "no TYPE of {name}"
        );
    }
    assert_eq!(
        sample(&text, r#"ragkeys_api_keys{state="rotating"}"#),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, r#"ragkeys_api_keys{state="expired"}"#),
        Some(0.0)
    );
    // The replicas' gauge appears with its first report (through a local handle here, as the
    // process-wide `lease_valid` would).
    m.lease_valid
        .get_or_init(|| {
            m.recorder
                .register_gauge(&key(REPLICA_LEASE_VALID, &[]), &metadata())
        })
        .set(1.0);
    m.revocation_ack.record(0.02);
    let text = m.render();
    assert!(text.contains("# TYPE ragkeys_replica_lease_valid gauge"));
    assert_eq!(sample(&text, "ragkeys_replica_lease_valid"), Some(1.0));
    assert_eq!(
        sample(&text, "ragkeys_draining"),
        Some(0.0),
        "not draining until a stop signal"
    );
    assert_eq!(
        sample(&text, "ragkeys_revocation_ack_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"ragkeys_revocation_ack_seconds_bucket{le="0.01"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"ragkeys_revocation_ack_seconds_bucket{le="0.025"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn the_recording_functions_do_nothing_before_install() {
    // No test in this binary installs the process-wide metrics.
    assert!(get().is_none());
    http_request(
        Some("/v1/verify"),
        &Method::GET,
        200,
        false,
        std::time::Instant::now(),
    );
    store_error();
    lease_valid(true);
    draining(true);
    revocation_acked(Duration::from_millis(3));
    assert!(get().is_none());
}
