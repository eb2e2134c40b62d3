//! A connection from a peer not named in `--proxy-protocol` that begins with a PROXY header is
//! closed unanswered, like a listed peer's connection without one (docs/api.md, Deployed behind
//! proxies and gateways): its bytes are not a request, and no peer may choose its own address.
//! The first read is looked at, and held back only where its bytes do not yet tell (a dozen at
//! most), so neither hyper nor the TLS handshake ever sees a header and answers it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::proxy_header::{self, SIGNATURE_MAX};

/// Undecided first bytes must be followed within this: a request head's 10 s (docs/api.md,
/// Conventions).
const UNDECIDED_TIMEOUT: Duration = Duration::from_secs(10);
/// A refused header is logged at warn at most once in this, at debug otherwise: one peer
/// reconnecting in a loop must not flood the log.
const WARN_EVERY: Duration = Duration::from_secs(60);

enum Phase {
    /// Reading the first bytes into `head` until they tell.
    Sniffing,
    /// Not a header: giving `head[at..len]` back before the socket's bytes.
    Releasing { at: usize },
    /// Everything passes through.
    Passing,
}

/// The socket of a peer that must not send a PROXY header.
pub struct Unlisted<T> {
    io: T,
    peer: SocketAddr,
    head: [u8; SIGNATURE_MAX],
    len: usize,
    phase: Phase,
    /// Armed once some bytes came that do not yet tell.
    deadline: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
}

impl<T> Unlisted<T> {
    pub fn new(io: T, peer: SocketAddr) -> Unlisted<T> {
        Unlisted {
            io,
            peer,
            head: [0; SIGNATURE_MAX],
            len: 0,
            phase: Phase::Sniffing,
            deadline: None,
            timeout: UNDECIDED_TIMEOUT,
        }
    }
}

fn refused(peer: SocketAddr) -> std::io::Error {
    static LAST_WARN_MS: AtomicU64 = AtomicU64::new(0);
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    // +1 so that the first refusal, at 0 ms, is never mistaken for "warned just now".
    let now = u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
    let last = LAST_WARN_MS.load(Ordering::Relaxed);
    let due = last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64;
    if due
        && LAST_WARN_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(%peer, "closing a connection that began with a PROXY header from a peer not named in --proxy-protocol (logged at most once a minute)");
    } else {
        tracing::debug!(%peer, "closing a connection that began with a PROXY header from a peer not named in --proxy-protocol");
    }
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "a PROXY header from a peer not named in --proxy-protocol",
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for Unlisted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            match this.phase {
                Phase::Passing => return Pin::new(&mut this.io).poll_read(cx, buf),
                Phase::Releasing { at } => {
                    let n = (this.len - at).min(buf.remaining());
                    buf.put_slice(&this.head[at..at + n]);
                    this.phase = if at + n == this.len {
                        Phase::Passing
                    } else {
                        Phase::Releasing { at: at + n }
                    };
                    return Poll::Ready(Ok(()));
                }
                Phase::Sniffing if this.len == 0 => {
                    // The first read goes straight into the caller's buffer (one read, no copy,
                    // where the bytes tell at once, as a request's or a handshake's do).
                    let before = buf.filled().len();
                    ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
                    let got = &buf.filled()[before..];
                    if got.is_empty() {
                        this.phase = Phase::Passing;
                        return Poll::Ready(Ok(()));
                    }
                    match proxy_header::begins_header(got) {
                        Some(false) => {
                            this.phase = Phase::Passing;
                            return Poll::Ready(Ok(()));
                        }
                        Some(true) => {
                            buf.set_filled(before);
                            return Poll::Ready(Err(refused(this.peer)));
                        }
                        None => {
                            // Fewer bytes than tell: held back until the rest comes.
                            this.len = got.len();
                            this.head[..this.len].copy_from_slice(got);
                            buf.set_filled(before);
                        }
                    }
                }
                Phase::Sniffing => {
                    let mut into = ReadBuf::new(&mut this.head[this.len..]);
                    let polled = Pin::new(&mut this.io).poll_read(cx, &mut into);
                    let n = into.filled().len();
                    match polled {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => {
                            // Nothing yet: the connection's own idle rule applies. Some bytes
                            // that do not tell: the rest must follow as a head's would.
                            if this.len == 0 {
                                return Poll::Pending;
                            }
                            let timeout = this.timeout;
                            let sleep = this
                                .deadline
                                .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                            ready!(sleep.as_mut().poll(cx));
                            return Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()));
                        }
                    }
                    if n == 0 {
                        // The peer closed: what came is given back, then the end.
                        this.phase = if this.len == 0 {
                            Phase::Passing
                        } else {
                            Phase::Releasing { at: 0 }
                        };
                        continue;
                    }
                    this.len += n;
                    match proxy_header::begins_header(&this.head[..this.len]) {
                        Some(true) => return Poll::Ready(Err(refused(this.peer))),
                        Some(false) => {
                            this.deadline = None;
                            this.phase = Phase::Releasing { at: 0 };
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Unlisted<T> {
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.2:4000".parse().unwrap()
    }

    #[tokio::test]
    async fn a_request_passes_whole_even_when_its_first_bytes_come_one_by_one() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut guarded = Unlisted::new(server, peer());
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            guarded.read_to_end(&mut got).await.map(|_| got)
        });
        for b in b"PROST / HTTP/1.1\r\n" {
            client.write_all(&[*b]).await.unwrap();
            tokio::task::yield_now().await;
        }
        drop(client);
        assert_eq!(reader.await.unwrap().unwrap(), b"PROST / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn a_header_in_pieces_is_refused_before_a_byte_is_given() {
        for header in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"[..],
            b"\r\n\r\n\0\r\nQUIT\n\x21",
        ] {
            let (mut client, server) = tokio::io::duplex(64);
            let mut guarded = Unlisted::new(server, peer());
            client.write_all(&header[..3]).await.unwrap();
            let mut buf = [0u8; 64];
            let early = tokio::time::timeout(Duration::from_millis(50), guarded.read(&mut buf));
            assert!(early.await.is_err(), "gave bytes before they told");
            client.write_all(&header[3..]).await.unwrap();
            let err = guarded.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        }
    }

    #[tokio::test]
    async fn undecided_bytes_that_stop_coming_time_out() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut guarded = Unlisted::new(server, peer());
        guarded.timeout = Duration::from_millis(100);
        client.write_all(b"PRO").await.unwrap();
        let mut buf = [0u8; 8];
        let err = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
