//! SIGHUP re-reads the files `serve` was started with: the leak report keys and the webhook
//! secrets (docs/operating.md, Reloading files). Each reader keeps what it had when its file
//! cannot be read or parsed, and logs why.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Counts the SIGHUPs received; readers wait on `changed()` and re-read their file.
pub type Reloads = watch::Receiver<u64>;

/// Installs the SIGHUP handler (before the service says it listens, so that an early SIGHUP is
/// never fatal) and returns the count that each SIGHUP bumps.
pub fn on_sighup() -> anyhow::Result<Reloads> {
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: re-reading the leak report keys and the webhook secrets");
            tx.send_modify(|n| *n += 1);
        }
    });
    Ok(rx)
}
