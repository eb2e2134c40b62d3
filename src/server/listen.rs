//! The serving loop shared by `ragkeys serve` and the embedded service: accepts connections
//! (backing off when the process runs out of file descriptors), runs each on hyper's HTTP/1
//! connection with a timer, and closes connections that are idle or slow to send a request head.
//!
//! docs/api.md, Conventions: a request head must be complete within 10 s of its first byte; a
//! connection idle between requests (or since it opened) is closed after 75 s; running out of
//! file descriptors is logged once and recovered from, not spun on. (The 30 s body deadline is
//! the middleware's: it is answered 408, not closed.) docs/operating.md, Rolling restarts and
//! the drain: once the listener stops accepting, every answer carries `Connection: close` and
//! requests in flight get up to 20 s. docs/api.md, Deployed behind proxies and gateways: a connection from a
//! `--proxy-protocol` peer must begin with a PROXY header (before TLS), read within 10 s, and one
//! from any other peer must not.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::HeaderValue;
use axum::http::header::CONNECTION;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::drain::Draining;
use super::extract::ClientAddr;
use super::proxy_guard::Unlisted;
use super::proxy_header::{self, Parsed, ProxyPeers};
use super::router::App;

/// A request head must be complete this long after its first byte (docs/api.md, Conventions).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no request in flight is closed after this long (docs/api.md, Conventions):
/// above the 60 s idle timeout of common load balancers, so they never reuse a closing one.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// How long in-flight requests may take to finish after the listener stops accepting before we
/// close anyway: with the default drain, inside Kubernetes' default 30 s grace.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// A PROXY header must be read within this, like a request head.
const PROXY_HEADER_TIMEOUT: Duration = HEADER_READ_TIMEOUT;
/// A v2 header's largest size (its length field is 16 bits); v1's is far smaller.
const PROXY_HEADER_MAX: usize = 16 + u16::MAX as usize;
/// A TLS handshake must be done within this, like a request head.
const HANDSHAKE_TIMEOUT: Duration = HEADER_READ_TIMEOUT;
/// Accept failures (EMFILE, ENFILE, ENOBUFS…) are retried after this, doubling up to the max.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

const IDLE: u8 = 0;
const HEAD_STARTED: u8 = 1;
const IN_REQUEST: u8 = 2;

/// What a connection is doing and since when; written by the socket reads and the service,
/// read by the connection's watchdog. Atomics only: it costs nothing per request but two stores
/// and two reads of the coarse clock. It also carries the process's drain flag, per connection,
/// so that a request reads it without touching a reference count every core shares.
struct Clock {
    opened: Instant,
    draining: Option<Draining>,
    /// [`coarse_ms`] when the connection opened.
    opened_ms: u64,
    phase: AtomicU8,
    /// Milliseconds after `opened` when `phase` began.
    since_ms: AtomicU64,
}

/// A monotonic clock in milliseconds that is cheap to read: Linux's `CLOCK_MONOTONIC_COARSE`
/// (it moves in ticks of a few ms, and the watchdog's limits are whole seconds), read twice per
/// request where a precise `Instant` costs several times as much (docs/performance.md).
#[cfg(target_os = "linux")]
fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`, which outlives the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } != 0 {
        return precise_ms();
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

#[cfg(not(target_os = "linux"))]
fn coarse_ms() -> u64 {
    precise_ms()
}

/// Milliseconds since the first call, from `Instant`: where there is no coarse clock.
fn precise_ms() -> u64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Clock {
    fn new(draining: Option<Draining>) -> Clock {
        Clock {
            opened: Instant::now(),
            draining,
            opened_ms: coarse_ms(),
            phase: AtomicU8::new(IDLE),
            since_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        coarse_ms().saturating_sub(self.opened_ms)
    }

    fn enter(&self, phase: u8) {
        self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// A request is in the service: no deadline of ours runs, so no clock read is needed.
    fn enter_request(&self) {
        self.phase.store(IN_REQUEST, Ordering::Release);
    }

    /// Whether an answer must ask the client to close: the process has stopped accepting.
    fn closing(&self) -> bool {
        self.draining.as_ref().is_some_and(Draining::closing)
    }

    /// When the connection must be closed unless its phase changes first; `None` in a request.
    fn deadline(&self) -> Option<Instant> {
        let limit = match self.phase.load(Ordering::Acquire) {
            IDLE => IDLE_TIMEOUT,
            HEAD_STARTED => HEADER_READ_TIMEOUT,
            _ => return None,
        };
        let since = Duration::from_millis(self.since_ms.load(Ordering::Relaxed));
        Some(self.opened + since + limit)
    }
}

/// The socket, watched: the first bytes read while idle start the request head's 10 s.
struct Watched<T> {
    io: T,
    clock: Arc<Clock>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before && self.clock.phase.load(Ordering::Relaxed) == IDLE {
            self.clock.enter(HEAD_STARTED);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Serves one connection until it ends, goes idle or slow past its limits, or shutdown ends it.
async fn serve_connection<T, A>(
    io: T,
    peer: SocketAddr,
    app: A,
    watcher: Watcher,
    draining: Option<Draining>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: App,
{
    let clock = Arc::new(Clock::new(draining));
    let io = TokioIo::new(Watched {
        io,
        clock: clock.clone(),
    });
    let service_clock = clock.clone();
    // One copy of the app per connection, called in turn: hyper calls a connection's service
    // one request at a time, and the borrow ends when `call` returns its future. A clone per
    // request (as `axum::serve` does) writes the reference counts of the state every core
    // shares (docs/performance.md).
    let app = std::cell::RefCell::new(app);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        service_clock.enter_request();
        req.extensions_mut().insert(ConnectInfo(ClientAddr(peer)));
        // Every `App` is always ready (no layer of ours applies back-pressure), so it is
        // called without `poll_ready`, as axum's own `serve` calls a router.
        let answer = app.borrow_mut().call(req.map(Body::new));
        let clock = service_clock.clone();
        async move {
            let mut resp = answer.await;
            clock.enter(IDLE);
            // Stopping: the client should take its next request elsewhere (hyper closes the
            // connection after an answer that says so).
            if clock.closing()
                && let Ok(r) = &mut resp
            {
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's own header timer runs from the moment a connection waits for a head, idle time
    // included, so it cannot say "10 s from the first byte, 75 s idle"; and it allocates and
    // registers a timer for every request (a tenth of the bare handler's CPU). The watchdog
    // below applies both rules with one timer per connection instead.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let conn = watcher.watch(builder.serve_connection(io, service));
    tokio::pin!(conn);
    let watchdog = watchdog(&clock);
    tokio::pin!(watchdog);
    tokio::select! {
        // The connection first: the watchdog then sees the phase its poll left behind.
        biased;
        done = &mut conn => {
            if let Err(e) = done {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = &mut watchdog => {
            tracing::debug!(%peer, "closing a connection that was idle or slow to send a request head");
        }
    }
}

/// Completes when the connection has been idle, or sending one request head, past its limit.
/// The timer is moved only when the deadline comes earlier (a head started), or when it fires
/// early: a busy keep-alive connection costs no timer work per request.
async fn watchdog(clock: &Clock) {
    let mut armed = clock.opened + IDLE_TIMEOUT;
    let sleep = tokio::time::sleep_until(armed);
    tokio::pin!(sleep);
    std::future::poll_fn(|cx| {
        loop {
            // In a request: its body has its own deadline, and the phase only changes while
            // the connection is polled, after which this is polled again.
            let Some(want) = clock.deadline() else {
                return Poll::Pending;
            };
            if want < armed {
                armed = want;
                sleep.as_mut().reset(want);
            }
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if want <= Instant::now() => return Poll::Ready(()),
                Poll::Ready(()) => {
                    armed = want;
                    sleep.as_mut().reset(want);
                }
            }
        }
    })
    .await
}

/// Errors of one connection that accept(2) reports; the listener itself is fine.
fn per_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

/// When and how a serving loop ends.
#[derive(Clone)]
pub struct Stop {
    /// True: stop accepting, and let requests in flight finish within [`SHUTDOWN_GRACE`].
    accept: watch::Receiver<bool>,
    /// True: stop waiting for the requests in flight.
    now: Option<watch::Receiver<bool>>,
    /// Once it says so, every answer asks its client to close the connection.
    draining: Option<Draining>,
}

impl Stop {
    /// `ragkeys serve`'s: `accept` and `now` as the drain orders them, and its drain flag.
    pub fn draining(
        accept: watch::Receiver<bool>,
        now: watch::Receiver<bool>,
        draining: Draining,
    ) -> Stop {
        Stop {
            accept,
            now: Some(now),
            draining: Some(draining),
        }
    }
}

/// Only a stop: no drain, and requests in flight get the whole grace.
impl From<watch::Receiver<bool>> for Stop {
    fn from(accept: watch::Receiver<bool>) -> Stop {
        Stop {
            accept,
            now: None,
            draining: None,
        }
    }
}

/// Serves until the stop turns true, then lets in-flight requests finish (within the grace, or
/// until the stop says now).
pub async fn run_http<A: App>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: A,
    stop: impl Into<Stop>,
) -> std::io::Result<()> {
    run_http_behind(listener, tls, ProxyPeers::default(), app, stop).await
}

/// [`run_http`], where connections from `proxy_peers` begin with a PROXY header whose source
/// stands for the peer.
pub async fn run_http_behind<A: App>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    proxy_peers: ProxyPeers,
    app: A,
    stop: impl Into<Stop>,
) -> std::io::Result<()> {
    let Stop {
        accept: mut stop,
        now,
        draining,
    } = stop.into();
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut failures: u64 = 0;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if per_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: say so once, then wait instead of spinning.
                if failures == 0 {
                    tracing::warn!(error = %e, "cannot accept connections; retrying with back-off until it recovers");
                }
                failures += 1;
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        if failures > 0 {
            tracing::warn!(failures, "accepting connections again");
            failures = 0;
            backoff = ACCEPT_BACKOFF_MIN;
        }
        let _ = stream.set_nodelay(true);
        let (app, watcher, draining) = (app.clone(), graceful.watcher(), draining.clone());
        if proxy_peers.expects(peer.ip()) {
            let tls = tls.clone();
            tokio::spawn(async move {
                let Some((stream, peer)) = read_proxy_header(stream, peer).await else {
                    return;
                };
                match tls {
                    None => serve_connection(stream, peer, app, watcher, draining).await,
                    Some(acceptor) => {
                        serve_tls(acceptor, stream, peer, app, watcher, draining).await;
                    }
                }
            });
            continue;
        }
        // Any other peer must not send a header: one is closed unanswered, below TLS.
        let stream = Unlisted::new(stream, peer);
        match &tls {
            None => {
                tokio::spawn(serve_connection(stream, peer, app, watcher, draining));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(serve_tls(acceptor, stream, peer, app, watcher, draining));
            }
        }
    }
    drop(listener);
    let now = async {
        match now {
            Some(mut now) => {
                let _ = now.wait_for(|n| *n).await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still running {} s after the stop signal; closing", SHUTDOWN_GRACE.as_secs());
        }
        () = now => {}
    }
    Ok(())
}

/// The PROXY header that must begin a connection from `peer`, read within its deadline: the
/// stream (the bytes read past the header still to come) and the address that now stands for
/// the peer; `None` where there is no valid header in time, and the connection is dropped.
async fn read_proxy_header(
    mut stream: TcpStream,
    peer: SocketAddr,
) -> Option<(Prefixed<TcpStream>, SocketAddr)> {
    use tokio::io::AsyncReadExt;
    let read = async {
        let mut buf = Vec::with_capacity(proxy_header::V1_MAX);
        let mut chunk = [0u8; 512];
        loop {
            match proxy_header::parse(&buf) {
                Parsed::Done { len, source } => return Some((buf, len, source)),
                Parsed::Invalid => return None,
                Parsed::Incomplete if buf.len() >= PROXY_HEADER_MAX => return None,
                Parsed::Incomplete => {}
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    match tokio::time::timeout(PROXY_HEADER_TIMEOUT, read).await {
        Ok(Some((mut buf, len, source))) => {
            buf.drain(..len);
            let stream = Prefixed {
                rest: buf,
                at: 0,
                io: stream,
            };
            Some((stream, source.unwrap_or(peer)))
        }
        Ok(None) => {
            tracing::debug!(%peer, "closing a connection that did not begin with a valid PROXY header");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "closing a connection whose PROXY header did not come in time");
            None
        }
    }
}

/// A stream whose first bytes were already read: they are given back before the socket's.
struct Prefixed<T> {
    rest: Vec<u8>,
    at: usize,
    io: T,
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at < self.rest.len() {
            let n = (self.rest.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.rest[at..at + n]);
            self.at += n;
            if self.at == self.rest.len() {
                self.rest = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The handshake in the connection's own task, so a slow or silent client holds up nobody.
async fn serve_tls<S, A>(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: S,
    peer: SocketAddr,
    app: A,
    watcher: Watcher,
    draining: Option<Draining>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: App,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve_connection(tls, peer, app, watcher, draining).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}
