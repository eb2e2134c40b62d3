//! `ragkeys_http_requests_total` and `ragkeys_http_request_duration_seconds` per route, with
//! their handles resolved the first time a (route, method, status) is seen: after that, a request
//! costs a short scan of the route templates and a few relaxed atomic adds, with no lock and no
//! allocation (docs/operating.md; docs/performance.md).

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::http::Method;
use metrics::{Counter, Label};

use super::latency::{self, Latency};
use super::{HTTP_REQUESTS_TOTAL, Metrics, Status};

/// The `route` label of a request that matched no route (a 404).
pub const UNMATCHED: &str = "unmatched";
/// More route templates than the router has; any beyond are recorded the slow way.
const SLOTS: usize = 24;
/// Methods get their own label; any other is `other`, so that a client cannot grow the label set.
const METHODS: [&str; 8] = [
    "GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "other",
];
/// The statuses the API answers (docs/api.md, Conventions); others are recorded the slow way.
const STATUSES: [u16; 15] = [
    200, 201, 204, 400, 401, 403, 404, 405, 408, 409, 413, 422, 429, 500, 503,
];
const STATUS_LABELS: [&str; 15] = [
    "200", "201", "204", "400", "401", "403", "404", "405", "408", "409", "413", "422", "429",
    "500", "503",
];

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::POST => 1,
        Method::PATCH => 2,
        Method::DELETE => 3,
        Method::PUT => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

fn status_index(status: u16) -> Option<usize> {
    STATUSES.iter().position(|&s| s == status)
}

fn labels(route: &str, method: &'static str, status: String) -> Vec<Label> {
    vec![
        Label::new("route", route.to_owned()),
        Label::new("method", method),
        Label::new("status", status),
    ]
}

/// One route template's handles.
struct Slot {
    template: Box<str>,
    /// `/v1/verify`: its answers are also counted by outcome.
    verify: bool,
    duration: Latency,
    requests: [[OnceLock<Counter>; STATUSES.len()]; METHODS.len()],
}

impl Slot {
    fn new(template: &str) -> Slot {
        Slot {
            template: template.into(),
            verify: template == "/v1/verify",
            duration: Latency::default(),
            requests: Default::default(),
        }
    }

    fn record(&self, m: &Metrics, method: &Method, answer: Status, took: Duration) {
        let status = answer.code;
        self.duration.record(took);
        let mi = method_index(method);
        match status_index(status) {
            Some(si) => self.requests[mi][si]
                .get_or_init(|| {
                    m.register_counter(
                        HTTP_REQUESTS_TOTAL,
                        labels(&self.template, METHODS[mi], STATUS_LABELS[si].to_owned()),
                    )
                })
                .increment(1),
            None => m
                .register_counter(
                    HTTP_REQUESTS_TOTAL,
                    labels(&self.template, METHODS[mi], status.to_string()),
                )
                .increment(1),
        }
        if self.verify {
            m.verify_outcome(answer);
        }
    }
}

/// The slots, filled in the order routes are first seen; only filling takes the lock.
#[derive(Default)]
pub struct Routes {
    slots: [OnceLock<Slot>; SLOTS],
    unmatched: OnceLock<Slot>,
    /// Durations of routes beyond [`SLOTS`] (none with today's router), under one label.
    overflow: Latency,
    fill: Mutex<()>,
}

impl Routes {
    fn find(&self, route: &str) -> Result<&Slot, Option<&OnceLock<Slot>>> {
        for cell in &self.slots {
            match cell.get() {
                Some(slot) if *slot.template == *route => return Ok(slot),
                Some(_) => {}
                None => return Err(Some(cell)),
            }
        }
        Err(None)
    }

    fn slot(&self, route: Option<&str>) -> Option<&Slot> {
        let Some(route) = route else {
            return Some(self.unmatched.get_or_init(|| Slot::new(UNMATCHED)));
        };
        if let Ok(slot) = self.find(route) {
            return Some(slot);
        }
        let _filling = self.fill.lock().unwrap_or_else(|e| e.into_inner());
        match self.find(route) {
            Ok(slot) => Some(slot),
            Err(Some(cell)) => Some(cell.get_or_init(|| Slot::new(route))),
            Err(None) => None,
        }
    }

    /// Records one answered request (see [`super::http_request`]).
    pub fn record(
        &self,
        m: &Metrics,
        route: Option<&str>,
        method: &Method,
        answer: Status,
        took: Duration,
    ) {
        let status = answer.code;
        match self.slot(route) {
            Some(slot) => slot.record(m, method, answer, took),
            // More templates than slots: correct, only slower (a registry lookup).
            None => {
                let route = route.unwrap_or(UNMATCHED);
                self.overflow.record(took);
                m.register_counter(
                    HTTP_REQUESTS_TOTAL,
                    labels(route, METHODS[method_index(method)], status.to_string()),
                )
                .increment(1);
                if route == "/v1/verify" {
                    m.verify_outcome(answer);
                }
            }
        }
    }

    /// Appends `ragkeys_http_request_duration_seconds` for every route seen so far.
    pub fn render_durations(&self, out: &mut String) {
        latency::render_header(out);
        for slot in self
            .slots
            .iter()
            .chain([&self.unmatched])
            .filter_map(OnceLock::get)
        {
            slot.duration.render(&slot.template, out);
        }
        self.overflow.render(OVERFLOW, out);
    }
}

/// The `route` label of durations of routes beyond [`SLOTS`].
const OVERFLOW: &str = "other";
