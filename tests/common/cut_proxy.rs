//! A TCP proxy between one replica and PostgreSQL that a test can cut: the hostile network of
//! "a replica cut off from its database". A cut is a black hole, not a refusal: bytes on the
//! open connections are swallowed and new connections are accepted and never answered, so the
//! replica learns nothing but silence (no RST to react to). Healing closes everything from the
//! cut and forwards again.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Shared {
    cut: AtomicBool,
    /// Bumped by every cut and heal: a pump from an older era stops forwarding.
    era: AtomicU64,
    /// Every socket of the current era (both sides), to close at heal.
    open: Mutex<Vec<TcpStream>>,
    /// The local ports of the upstream connections: PostgreSQL's `client_port` of this
    /// replica's backends.
    upstream_ports: Mutex<Vec<u16>>,
    stop: AtomicBool,
    /// Where new connections go ([`Proxy::switch_to`] moves it).
    upstream: Mutex<SocketAddr>,
    /// A cut armed by [`Proxy::cut_between`], once.
    trigger: Mutex<Option<Trigger>>,
    /// Set when an armed cut happened.
    triggered: AtomicBool,
}

/// Cut at the first replica message containing `at` on a connection that earlier sent one
/// containing `after`.
struct Trigger {
    after: Vec<u8>,
    at: Vec<u8>,
}

/// The proxy; stops when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on 127.0.0.1 and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            cut: AtomicBool::new(false),
            era: AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
            upstream_ports: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            upstream: Mutex::new(upstream),
            trigger: Mutex::new(None),
            triggered: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let _ = client.set_nodelay(true);
                if s.cut.load(Ordering::SeqCst) {
                    // Accepted, never answered: a connect that "succeeds" into silence.
                    s.open.lock().unwrap().push(client);
                    continue;
                }
                let to = *s.upstream.lock().unwrap();
                let Ok(server) = TcpStream::connect(to) else {
                    continue;
                };
                let _ = server.set_nodelay(true);
                if let Ok(local) = server.local_addr() {
                    s.upstream_ports.lock().unwrap().push(local.port());
                }
                let era = s.era.load(Ordering::SeqCst);
                {
                    let mut open = s.open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                pump(
                    s.clone(),
                    era,
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    true,
                );
                pump(s.clone(), era, server, client, false);
            }
        });
        Proxy { addr, shared }
    }

    /// From now on nothing passes, in either direction, and nothing is closed.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.era.fetch_add(1, Ordering::SeqCst);
    }

    /// Arms a cut in the middle of a transaction: on a connection that has sent a message
    /// containing `after` (say an `UPDATE`, whose answer the replica then waited for), the
    /// first later message containing `at` (its `COMMIT`) is swallowed and everything is cut
    /// from there, as by [`Proxy::cut`]. Its backend stays idle in the transaction, holding the
    /// locks the statement took. [`Proxy::has_cut`] says when it happened.
    pub fn cut_between(&self, after: &[u8], at: &[u8]) {
        *self.shared.trigger.lock().unwrap() = Some(Trigger {
            after: after.to_vec(),
            at: at.to_vec(),
        });
    }

    /// True once the cut armed by [`Proxy::cut_between`] happened.
    pub fn has_cut(&self) -> bool {
        self.shared.triggered.load(Ordering::SeqCst)
    }

    /// Closes every connection (those from before the cut included) and forwards again.
    pub fn heal(&self) {
        let open = std::mem::take(&mut *self.shared.open.lock().unwrap());
        self.shared.era.fetch_add(1, Ordering::SeqCst);
        for s in &open {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Closes every connection and forwards new ones to `upstream` from now on: a failover
    /// that moves the database's address (a virtual IP, a DNS name, a reconfigured pooler).
    pub fn switch_to(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock().unwrap() = upstream;
        self.heal();
    }

    /// The ports the replica's backends see as `client_port`.
    pub fn upstream_ports(&self) -> Vec<u16> {
        self.shared.upstream_ports.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in std::mem::take(&mut *self.shared.open.lock().unwrap()) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Forwards `from` to `to` while the era lasts; `from_replica` is the direction an armed cut
/// watches.
fn pump(s: Arc<Shared>, era: u64, mut from: TcpStream, mut to: TcpStream, from_replica: bool) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        let mut sent_after = false;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if s.era.load(Ordering::SeqCst) != era {
                // Cut (or healed after a cut): swallow; heal closes this socket.
                continue;
            }
            if from_replica {
                let mut trigger = s.trigger.lock().unwrap();
                if let Some(t) = trigger.as_ref() {
                    if sent_after && contains(&buf[..n], &t.at) {
                        *trigger = None;
                        s.cut.store(true, Ordering::SeqCst);
                        s.era.fetch_add(1, Ordering::SeqCst);
                        s.triggered.store(true, Ordering::SeqCst);
                        continue;
                    }
                    sent_after |= contains(&buf[..n], &t.after);
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // A close passes only while connected: a cut passes nothing, not even a FIN.
        if s.era.load(Ordering::SeqCst) == era {
            let _ = to.shutdown(Shutdown::Write);
        }
    });
}
