//! Shutting down without dropping a request (docs/operating.md, Rolling restarts and the drain).
//!
//! On SIGTERM the replica first says it is going: `/readyz` and `/readyz/verify` answer 503,
//! while it goes on serving as usual for `--drain` seconds, long enough for a load balancer's
//! health check to take it out of rotation (its pooled connections are not churned while it
//! may still route here). Then the listener stops accepting, requests in flight finish (the
//! serving loop's grace), and from then on every answer asks its keep-alive client to close. A
//! second SIGTERM, or a SIGINT at any point, skips what is left of both waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

const SERVING: u8 = 0;
const DRAINING: u8 = 1;
const CLOSING: u8 = 2;

/// Whether this process is draining (the readiness routes answer 503) and, once it has stopped
/// accepting, closing (the serving loop asks keep-alive clients to close). Never set in the
/// console's embedded service.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicU8>);

impl Draining {
    /// From now on: not ready; answers otherwise as usual.
    pub fn begin(&self) {
        self.0.fetch_max(DRAINING, Ordering::AcqRel);
        super::metrics::draining(true);
    }

    /// From now on (the listener stops accepting): every answer carries `Connection: close`.
    pub fn close_connections(&self) {
        self.0.store(CLOSING, Ordering::Release);
    }

    /// One load of a flag that is written twice at most: free on every request.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Acquire) != SERVING
    }

    /// Whether an answer must ask its client to close the connection.
    #[inline]
    pub fn closing(&self) -> bool {
        self.0.load(Ordering::Acquire) == CLOSING
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sig {
    Term,
    Int,
}

impl Sig {
    fn name(self) -> &'static str {
        match self {
            Sig::Term => "SIGTERM",
            Sig::Int => "SIGINT",
        }
    }
}

/// SIGTERM and SIGINT, caught from the moment this is made (before the service says it listens,
/// so that an early signal is never fatal).
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    pub fn register() -> anyhow::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    async fn next(&mut self) -> Sig {
        tokio::select! {
            _ = self.term.recv() => Sig::Term,
            _ = self.int.recv() => Sig::Int,
        }
    }
}

/// What the shutdown tells the serving loops: `stop` to stop accepting and let requests in
/// flight finish, `now` to stop waiting for them.
pub struct Orders {
    pub stop: watch::Sender<bool>,
    pub now: watch::Sender<bool>,
}

/// Waits for the first signal and runs the shutdown: with SIGTERM, `drain` of serving while not
/// ready, then stop accepting; with SIGINT, or a second signal during either wait, at once.
pub async fn run(mut signals: Signals, drain: Duration, draining: Draining, orders: Orders) {
    let first = signals.next().await;
    draining.begin();
    let hurried = match first {
        Sig::Int => {
            tracing::info!("SIGINT: stopping now");
            true
        }
        Sig::Term if drain.is_zero() => false,
        Sig::Term => {
            tracing::info!(
                "SIGTERM: draining for {} s: /readyz answers 503 while requests are still served as usual",
                drain.as_secs()
            );
            tokio::select! {
                () = tokio::time::sleep(drain) => false,
                sig = signals.next() => {
                    tracing::info!("{}: ending the drain now", sig.name());
                    true
                }
            }
        }
    };
    // Told before the listener stops, so that no answer after the stop is without it.
    draining.close_connections();
    let _ = orders.stop.send(true);
    if !hurried {
        tracing::info!("no longer accepting connections: finishing in-flight requests");
        let sig = signals.next().await;
        tracing::info!(
            "{}: not waiting for the requests still in flight",
            sig.name()
        );
    }
    let _ = orders.now.send(true);
}
