//! `ragkeys_http_request_duration_seconds`: one fixed-bucket histogram per route, kept in
//! atomics and rendered beside the exporter's text.
//!
//! Why not the exporter's histogram: it keeps every sample in a list until the next drain
//! (a block allocation per 64 samples, and the drain's work), which measured about 120 ns per
//! request, most of what metrics cost a verification (docs/performance.md). A Prometheus
//! histogram is only cumulative counters per bucket, so one relaxed add into the bucket and
//! one into the sum are all a request needs.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::HTTP_REQUEST_DURATION_SECONDS;

/// Upper bounds of the buckets, seconds: from 100 µs (a verification) to 10 s (a body that
/// crawls in); `+Inf` follows.
pub const BOUNDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// [`BOUNDS`] in nanoseconds, so that recording compares integers.
const BOUNDS_NS: [u64; 16] = {
    let mut ns = [0u64; 16];
    let mut i = 0;
    while i < BOUNDS.len() {
        ns[i] = (BOUNDS[i] * 1e9) as u64;
        i += 1;
    }
    ns
};

/// One route's request durations.
#[derive(Default)]
pub struct Latency {
    /// Observations per bucket (not cumulative); the last is above every bound.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_ns: AtomicU64,
}

impl Latency {
    /// Counts one request that took `took`: two relaxed atomic adds, no lock, no allocation.
    #[inline]
    pub fn record(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // `le` is inclusive: the first bound at or above the observation.
        let i = BOUNDS_NS.partition_point(|&b| b < ns);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Appends this route's `_bucket` (cumulative, `+Inf` last), `_sum` (seconds) and `_count`
    /// lines in the Prometheus text format.
    pub fn render(&self, route: &str, out: &mut String) {
        let route = escape(route);
        let mut total = 0u64;
        for (i, bucket) in self.buckets.iter().enumerate() {
            total += bucket.load(Ordering::Relaxed);
            let le = BOUNDS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), f64::to_string);
            let _ = writeln!(
                out,
                "{HTTP_REQUEST_DURATION_SECONDS}_bucket{{route=\"{route}\",le=\"{le}\"}} {total}"
            );
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "{HTTP_REQUEST_DURATION_SECONDS}_sum{{route=\"{route}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "{HTTP_REQUEST_DURATION_SECONDS}_count{{route=\"{route}\"}} {total}"
        );
    }
}

/// The `# HELP` and `# TYPE` lines, written once before every route's lines.
pub fn render_header(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP {HTTP_REQUEST_DURATION_SECONDS} Time from a request reaching the service to its \
         answer, by route template, in seconds."
    );
    let _ = writeln!(out, "# TYPE {HTTP_REQUEST_DURATION_SECONDS} histogram");
}

/// A label value as the text format wants it (backslash, quote and newline escaped).
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_inclusive() {
        let l = Latency::default();
        l.record(Duration::from_micros(100)); // exactly on the first bound
        l.record(Duration::from_micros(101));
        l.record(Duration::from_secs(60)); // above every bound
        let mut out = String::new();
        l.render("/v1/verify", &mut out);
        let line = |le: &str| {
            let prefix = format!(
                "{HTTP_REQUEST_DURATION_SECONDS}_bucket{{route=\"/v1/verify\",le=\"{le}\"}} "
            );
            out.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no le={le} in\n{out}"))
                .to_owned()
        };
        assert_eq!(line("0.0001"), "1");
        assert_eq!(line("0.00025"), "2");
        assert_eq!(line("10"), "2");
        assert_eq!(line("+Inf"), "3");
        assert!(out.contains(&format!(
            "{HTTP_REQUEST_DURATION_SECONDS}_count{{route=\"/v1/verify\"}} 3\n"
        )));
        assert!(out.contains(&format!(
            "{HTTP_REQUEST_DURATION_SECONDS}_sum{{route=\"/v1/verify\"}} 60.000201\n"
        )));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
