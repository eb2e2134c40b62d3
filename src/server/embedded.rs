//! The service running inside the console's process, on loopback, with a manager token of its
//! own: one per console, so that several consoles on one data dir never revoke each other.

mod person;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::forwarded::TrustedProxies;
use super::state::{self, Background, Limits};
use super::store::{Store, StoreError, TokenRecord};
use super::{router, run_http, setup};
use crate::credential::Secret;
use crate::wire::Role;

/// Ids of the console tokens this process made and has not revoked yet.
static OURS: Mutex<BTreeSet<i64>> = Mutex::new(BTreeSet::new());

/// Held from pruning until the new token is in [`OURS`]: a second embedded start in this
/// process never takes the first one's fresh token, which has this process's id, for stale.
static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn ours<R>(f: impl FnOnce(&mut BTreeSet<i64>) -> R) -> R {
    f(&mut OURS.lock().unwrap_or_else(PoisonError::into_inner))
}

/// True only when no live process has this pid: none at all, or a zombie (it has exited and
/// only waits for its parent to reap it; `kill(pid, 0)` still succeeds for one). A pid we may
/// not signal is alive.
fn process_is_gone(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 sends nothing; it only asks whether the pid exists. The pid is positive.
    let status = unsafe { libc::kill(pid, 0) };
    if status != 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    is_zombie(pid)
}

/// Whether `/proc/PID/stat` says the process is a zombie (state `Z`) or dead (`X`). Without
/// procfs, nothing can be told: not a zombie.
fn is_zombie(pid: libc::pid_t) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state …`: comm may hold spaces and parentheses, so the state follows the
    // last `)`.
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
}

/// Revokes the console tokens left by consoles that ended without shutting down (crash,
/// kill -9), found by the process id stored beside each. A stale token whose pid now belongs to
/// an unrelated process stays until that one ends.
async fn prune_stale_tokens(store: &dyn Store) -> Result<(), StoreError> {
    let me = std::process::id();
    for token in store.list_tokens().await? {
        let Some(pid) = token.console_pid else {
            continue;
        };
        let stale = if pid == me {
            // This process's id, but not a token it made: left by an earlier process.
            !ours(|ids| ids.contains(&token.id))
        } else {
            // Pids beyond pid_t never name a live process here.
            libc::pid_t::try_from(pid).map_or(true, process_is_gone)
        };
        if stale {
            match store.revoke_listed_token(token).await {
                // Another console pruned it first.
                Ok(()) | Err(StoreError::TokenNotFound) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The service running inside the console's process, on loopback.
pub struct EmbeddedServer {
    addr: SocketAddr,
    token: Secret,
    token_record: TokenRecord,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    background: Background,
    store: Arc<dyn Store>,
    state: state::SharedState,
}

impl EmbeddedServer {
    /// e.g. `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// This run's manager token, kept only in memory.
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// The token's name: the person at the keyboard, e.g. `alice@bastion-1`.
    pub fn token_name(&self) -> &str {
        &self.token_record.name
    }

    /// Stops serving and revokes this run's token.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        self.background.stop().await;
        self.state.idempotency.clear();
        let id = self.token_record.id;
        if let Err(e) = self.store.revoke_listed_token(self.token_record).await {
            tracing::warn!(error = %e, "revoking the console's token failed");
        }
        ours(|ids| ids.remove(&id));
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "closing the database failed");
        }
    }
}

/// Starts the service on 127.0.0.1:0 in the current runtime over `data_dir`, with default
/// limits and no logging of its own, and a fresh manager token for the console, named after the
/// person at the keyboard with this process's id beside it.
pub async fn start_embedded(data_dir: &Path) -> anyhow::Result<EmbeddedServer> {
    let data = setup::open(data_dir, None).await?;
    start_as(&data, person::at_the_keyboard()).await
}

async fn start_as(data: &setup::DataDir, name: String) -> anyhow::Result<EmbeddedServer> {
    let store: Arc<dyn Store> = data.store.clone();
    let fail = |e: StoreError| anyhow::anyhow!("{e}");
    let (token, token_record) = {
        let _starting = STARTING.lock().await;
        prune_stale_tokens(store.as_ref()).await.map_err(fail)?;
        let pid = std::process::id();
        let made = setup::create_token(
            store.as_ref(),
            &data.pepper,
            &name,
            Role::Manager,
            Some(pid),
        )
        .await
        .map_err(fail)?;
        ours(|ids| ids.insert(made.1.id));
        made
    };
    let serving = async {
        setup::seed_demo(store.as_ref(), &name)
            .await
            .map_err(fail)?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let built = state::build(
            store.clone(),
            data.pepper.clone(),
            Limits::default(),
            TrustedProxies::default(),
        )
        .await
        .map_err(fail)?;
        anyhow::Ok((listener, addr, built))
    };
    let (listener, addr, (state, background)) = match serving.await {
        Ok(ready) => ready,
        Err(e) => {
            // Nobody will ever use it.
            let id = token_record.id;
            let _ = store.revoke_listed_token(token_record).await;
            ours(|ids| ids.remove(&id));
            return Err(e);
        }
    };
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(run_http(
        listener,
        None,
        router::router(state.clone()),
        stop_rx,
    ));
    Ok(EmbeddedServer {
        addr,
        token,
        token_record,
        stop,
        server,
        background,
        store,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync>() {}

    #[test]
    fn the_embedded_server_can_move_between_tasks() {
        shareable::<EmbeddedServer>();
    }

    #[test]
    fn a_dead_pid_is_gone_and_a_live_one_is_not() {
        assert!(!process_is_gone(std::process::id() as libc::pid_t));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as libc::pid_t;
        child.wait().unwrap();
        assert!(process_is_gone(pid));
    }

    #[test]
    fn an_unreaped_zombie_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as libc::pid_t;
        // Not reaped yet: wait until it has exited (a zombie), without waiting on it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !is_zombie(pid) {
            assert!(std::time::Instant::now() < deadline, "`true` never exited");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // SAFETY: signal 0 only probes; the zombie still answers it.
        assert_eq!(unsafe { libc::kill(pid, 0) }, 0);
        assert!(process_is_gone(pid));
        child.wait().unwrap();
    }
}
