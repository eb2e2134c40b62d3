//! The key service: `ragkeys serve`, and the same router embedded on loopback for the console.
//!
//! A request walks in through `listen` (the serving loop, TLS), `router` (the routes of
//! `paths`) and `middleware` (the gate: bodies, panics, one log line), then `extract`
//! (authentication, checked input) into one of `handlers`, which speaks HTTP only. What a
//! change means lives below the handlers: `state` (the shared state; following a write in the
//! verify index; retiring rotated keys) and `store` (the one trait over SQLite and
//! PostgreSQL, whose lifecycle rules are `store/rules.rs`). Beside them: `verify_index` and
//! `usage` (what the verify path touches), `replicas` (the lease and the change feed, which
//! see only the index and their trust), `metrics`, `idempotency`, `rate_limit`, `forwarded`
//! (the client address behind trusted proxies), `proxy_header` (the PROXY protocol header of
//! an L4 balancer), and `drain` (how a stop signal ends the serving
//! without dropping a request).

mod drain;
mod embedded;
mod error;
mod extract;
pub mod forwarded;
mod handlers;
mod idempotency;
mod leak_keys;
mod listen;
pub mod metrics;
mod middleware;
mod openapi;
mod paths;
mod proxy_guard;
mod proxy_header;
mod rate_limit;
mod redact;
mod reload;
mod replicas;
mod router;
pub mod setup;
mod state;
pub mod store;
mod tls;
mod token_bucket;
mod usage;
mod verify_index;
pub(crate) mod webhooks;

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

use crate::args::{GlobalArgs, LogFormat, ServeArgs};
use state::Limits;
use store::Store;

pub use embedded::{EmbeddedServer, start_embedded};
/// The serving loop, for `benches/server` to serve a bare handler through it.
#[doc(hidden)]
pub use listen::run_http;

/// Crates that could print wire data at trace level are capped, whatever RAGKEYS_LOG says.
const LOG_CAPS: &[&str] = &[
    "h2=info",
    "hyper=info",
    "hyper_util=info",
    "rustls=info",
    "tokio_rustls=info",
    "reqwest=info",
    "axum::rejection=off",
];

fn init_logging(format: LogFormat) {
    let mut filter = match std::env::var("RAGKEYS_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).unwrap_or_else(|e| {
            eprintln!("ragkeys serve: ignoring RAGKEYS_LOG={v:?} ({e}); logging at info");
            EnvFilter::new("info")
        }),
        _ => EnvFilter::new("info"),
    };
    for cap in LOG_CAPS {
        if let Ok(d) = cap.parse() {
            filter = filter.add_directive(d);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `ragkeys serve`: returns the process exit code.
pub fn main(global: &GlobalArgs, args: &ServeArgs) -> u8 {
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ragkeys serve: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(serve(&crate::config::data_dir(global), args)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("ragkeys serve: {e:#}");
            1
        }
    }
}

/// `--metrics-listen`: turns recording on and binds the metrics listener (docs/operating.md,
/// Metrics), before the API listener is announced so that its first request is counted.
async fn bind_metrics(addr: Option<std::net::SocketAddr>) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = addr else { return Ok(None) };
    metrics::install();
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
    Ok(Some(listener))
}

async fn serve(data_dir: &Path, args: &ServeArgs) -> anyhow::Result<()> {
    crate::client::install_crypto_provider();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::load_config(cert, key)?),
        _ => None,
    };
    let data = setup::open_with(data_dir, &args.store, setup::SERVE_DB_WAIT).await?;
    if let Some(path) = setup::bootstrap_admin(&data).await? {
        // At warn, so that a quieter RAGKEYS_LOG still says where the first token went.
        tracing::warn!(
            "no admin token existed: created the manager token 'admin' in {}",
            path.display()
        );
    }
    let store: Arc<dyn Store> = data.store.clone();
    let limits = Limits {
        key_limit: args.key_limit,
        verify_failures_per_minute: args.verify_failures_per_minute,
    };
    let proxies = forwarded::TrustedProxies::new(args.trusted_proxy.iter().copied());
    let (state, background) = state::build(store.clone(), data.pepper.clone(), limits, proxies)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the keys: {e}"))?;
    // Before anything listens: an unreadable keys file stops the start.
    if let Some(path) = &args.leak_report_keys {
        state.leak_keys.load(path)?;
    }
    // With PostgreSQL: the change feed and the lease; the index is trusted once synced.
    let protocol = replicas::start_for(
        data.postgres.as_ref(),
        state.clone(),
        std::time::Duration::from_secs(args.read_only_verify),
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let metrics_listener = bind_metrics(args.metrics_listen).await?;
    // Before we announce that we listen, so that an early signal is never fatal.
    let signals = drain::Signals::register()?;
    let reloads = reload::on_sighup()?;
    if let Some(path) = &args.leak_report_keys {
        state
            .leak_keys
            .clone()
            .follow(path.clone(), reloads.clone());
    }
    // Beside the server, never on a request's path (docs/operating.md, Notifications).
    let webhooks = webhooks::start(args, store.clone(), &state.usage.refused, reloads.clone())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The URL without its password: logs never carry it.
    let database = match &args.store.database {
        Some(url) => url.redacted(),
        None => format!("sqlite in {}", data.path.display()),
    };
    tracing::info!(
        data_dir = %data.path.display(),
        database = %database,
        key_limit = limits.key_limit,
        keys = state.index.len(),
        "listening on {addr} ({scheme})"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let (now_tx, now_rx) = watch::channel(false);
    let stop = listen::Stop::draining(stop_rx.clone(), now_rx, state.draining.clone());
    let orders = drain::Orders {
        stop: stop_tx,
        now: now_tx,
    };
    let drain_for = std::time::Duration::from_secs(args.drain);
    tokio::spawn(drain::run(
        signals,
        drain_for,
        state.draining.clone(),
        orders,
    ));
    let metrics_task = metrics_listener.map(|l| {
        let (state, stop) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            let upkeep = metrics::run_upkeep(stop_rx);
            let (served, ()) = tokio::join!(
                run_http(l, None, handlers::scrape::router(state), stop),
                upkeep
            );
            served
        })
    });
    let proxy_peers = proxy_header::ProxyPeers::new(args.proxy_protocol.iter().copied());
    let served = listen::run_http_behind(
        listener,
        tls,
        proxy_peers,
        router::router(state.clone()),
        stop,
    )
    .await;
    // Nothing is answered any more: deregister, so that writers stop waiting for us at once.
    if let Some(protocol) = protocol {
        protocol.stop().await;
    }
    if let Some(task) = metrics_task
        && let Ok(Err(e)) = task.await
    {
        tracing::warn!(error = %e, "the metrics listener failed");
    }
    webhooks.stop().await;
    background.stop().await;
    state.idempotency.clear();
    store
        .close()
        .await
        .map_err(|e| anyhow::anyhow!("closing the database failed: {e}"))?;
    served.context("the server failed")?;
    tracing::info!("stopped");
    Ok(())
}
