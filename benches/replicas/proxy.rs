//! A TCP proxy between one replica and PostgreSQL that can partition them: once cut, nothing is
//! forwarded either way and the sockets stay open and silent (a network partition, not a reset);
//! healed, the stalled connections are closed so the replica reconnects.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy: `addr` forwards to the target until [`Proxy::cut`].
pub struct Proxy {
    pub addr: SocketAddr,
    cut: watch::Sender<bool>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> Result<Proxy, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("proxy bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (cut, _) = watch::channel(false);
        let state = cut.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(forward(inbound, target, state.subscribe()));
            }
        });
        Ok(Proxy { addr, cut })
    }

    /// Partitions: from now on nothing passes.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Heals: the stalled connections close, new ones pass.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}

async fn forward(inbound: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    if *cut.borrow_and_update() {
        // Accepted during the partition: held silent until it heals, then closed.
        let _ = cut.wait_for(|c| !*c).await;
        return;
    }
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (mut ri, mut wi) = inbound.into_split();
    let (mut ro, mut wo) = outbound.into_split();
    let partitioned = tokio::select! {
        _ = tokio::io::copy(&mut ri, &mut wo) => false,
        _ = tokio::io::copy(&mut ro, &mut wi) => false,
        _ = cut.wait_for(|c| *c) => true,
    };
    if partitioned {
        // The halves stay open and silent until healed, then all close.
        let _ = cut.wait_for(|c| !*c).await;
    }
}
