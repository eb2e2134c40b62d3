//! Percentiles and medians over runs, and the table rows.

use std::time::Duration;

pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Per run: requests/s, p50 ms, p99 ms, server CPU µs per request; errors over all runs.
#[derive(Default)]
pub struct Runs {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    cpu_us: Vec<f64>,
    pub errors: u64,
}

impl Runs {
    /// `lat` are the latencies of this row's requests; `cpu` the server's CPU seconds, charged
    /// to them.
    pub fn add(&mut self, mut lat: Vec<Duration>, errors: u64, elapsed: f64, cpu: f64) {
        lat.sort();
        self.rps.push(lat.len() as f64 / elapsed);
        self.p50.push(pct(&lat, 0.50));
        self.p99.push(pct(&lat, 0.99));
        self.cpu_us.push(cpu * 1e6 / lat.len().max(1) as f64);
        self.errors += errors;
    }

    pub fn row(&self, name: &str, conns: usize) -> String {
        format!(
            "| {name} | {conns} | {:.0} | {:.2} | {:.2} | {:.0} | {} |",
            median(self.rps.clone()),
            median(self.p50.clone()),
            median(self.p99.clone()),
            median(self.cpu_us.clone()),
            self.errors
        )
    }
}
