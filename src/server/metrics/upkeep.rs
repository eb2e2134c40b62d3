//! Histogram upkeep: samples drained into their buckets on a timer, whether or not anyone
//! scrapes.

use std::time::Duration;

use tokio::sync::watch;

/// Histogram samples wait in the recorder until drained into their buckets: drained at every
/// scrape and at least this often, so that memory stays flat when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Drains histogram samples every few seconds until `stop` turns true.
pub async fn run_upkeep(mut stop: watch::Receiver<bool>) {
    let Some(m) = super::get() else { return };
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => m.handle.run_upkeep(),
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}
