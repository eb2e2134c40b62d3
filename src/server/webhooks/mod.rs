//! Notifications as Standard Webhooks (docs/api.md, Notifications; docs/operating.md,
//! Notifications): `config` (the flags and the secret file), `sign` (the headers of one
//! attempt), `dispatch` (the delivery loop over the store's outbox) and `notices` (the events
//! the service adds itself: a coming expiry, a stopped key still called). Only `serve` runs
//! them; the console's embedded service adds and sends nothing.

pub mod config;
pub mod dispatch;
pub mod notices;
pub mod sign;

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::args::ServeArgs;
use crate::client::proxy::ProxyEnv;
use crate::server::reload::Reloads;
use crate::server::store::Store;
use crate::server::usage::RefusedLog;

/// The webhook tasks of `serve`; stopped after the server, so that events of its last requests
/// are still sent.
pub struct Webhooks {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Webhooks {
    /// Stops the tasks; an attempt in flight is finished first (at most 10 s).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The HTTP client of every attempt: 10 s, no redirect, the system roots plus
/// `--webhook-ca-cert`, and the proxies of the environment as every ragkeys client chooses them.
fn http_client(args: &ServeArgs) -> anyhow::Result<reqwest::Client> {
    crate::client::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(dispatch::ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ragkeys/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &args.webhook_ca_cert {
        builder = crate::client::add_roots(builder, path).map_err(anyhow::Error::msg)?;
    }
    let env = Arc::new(ProxyEnv::from_env());
    let needs_tls = args.webhook.iter().any(|u| {
        u.scheme() == "https"
            || env
                .for_url(u)
                .ok()
                .flatten()
                .is_some_and(|p| p.url.scheme() == "https")
    });
    if !needs_tls && args.webhook_ca_cert.is_none() {
        // Nothing to verify: skip reading the system's roots (an error where there are none).
        builder = builder.tls_certs_only(Vec::new());
    }
    builder = crate::client::route_proxies(builder, env);
    builder
        .build()
        .context("cannot set up the webhook HTTP client")
}

/// Starts the dispatcher and, when a URL is given, the notices of the service; checks the
/// flags first, so that a bad secret file stops `serve` at start.
pub fn start(
    args: &ServeArgs,
    store: Arc<dyn Store>,
    refused: &RefusedLog,
    reloads: Reloads,
) -> anyhow::Result<Webhooks> {
    let (stop_tx, stop) = watch::channel(false);
    let urls: Vec<String> = args.webhook.iter().map(|u| u.to_string()).collect();
    let keys = match &args.webhook_secret_file {
        Some(path) if !urls.is_empty() => config::read_secrets(path).map_err(anyhow::Error::msg)?,
        _ => Vec::new(),
    };
    let secrets = config::Secrets::new(keys);
    let mut tasks = Vec::new();
    if let Some(path) = args.webhook_secret_file.clone()
        && !urls.is_empty()
    {
        // Ends with the SIGHUP listener, at exit: nothing to wait for.
        tokio::spawn(secrets.clone().follow(path, reloads));
    }
    if !urls.is_empty() {
        refused.enable();
        tasks.push(tokio::spawn(notices::run(
            store.clone(),
            refused.clone(),
            stop.clone(),
        )));
        tracing::info!(
            urls = urls.len(),
            "sending notifications to {}",
            urls.iter()
                .map(|u| config::redacted(u))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let dispatcher = dispatch::Dispatcher {
        store,
        urls,
        secrets,
        http: http_client(args)?,
        retry_scale: args.webhook_retry_scale,
    };
    tasks.push(tokio::spawn(dispatcher.run(stop)));
    Ok(Webhooks {
        stop: stop_tx,
        tasks,
    })
}
