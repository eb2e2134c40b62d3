//! Raw HTTP/1.1 over a socket, for what a polite client cannot send: chunked bodies written by
//! hand, a declared length with no body behind it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Server;

/// A response read off a raw socket.
pub struct Raw {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&b[..eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
}

/// Writes `head` and then each of `chunks` (already framed by the caller), reads one response.
pub async fn raw_exchange(addr: SocketAddr, head: &str, chunks: &[Vec<u8>]) -> Raw {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write head");
    for c in chunks {
        // The service may answer and close before reading everything: that is allowed.
        if s.write_all(c).await.is_err() {
            break;
        }
    }
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut tmp)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => {
                buf.extend_from_slice(&tmp[..n]);
                if let Some(r) = parse_raw(&buf) {
                    return r;
                }
            }
            Ok(Err(_)) => break,
        }
    }
    parse_raw(&buf)
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(&buf)))
}

/// A complete response in `buf` (framed by Content-Length or chunked), if there is one yet.
pub fn parse_raw(buf: &[u8]) -> Option<Raw> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &buf[end + 4..];
    let body = if let Some(len) = headers.get("content-length") {
        let len: usize = len.parse().ok()?;
        if rest.len() < len {
            return None;
        }
        rest[..len].to_vec()
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        if !rest.windows(5).any(|w| w == b"0\r\n\r\n") {
            return None;
        }
        dechunk(rest)
    } else {
        return None;
    };
    Some(Raw {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// POSTs `body` with chunked transfer encoding, in 1 KiB chunks.
pub async fn post_chunked(srv: &Server, path: &str, body: &[u8]) -> Raw {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        srv.addr, srv.token
    );
    let mut chunks: Vec<Vec<u8>> = body
        .chunks(1024)
        .map(|c| {
            let mut v = format!("{:x}\r\n", c.len()).into_bytes();
            v.extend_from_slice(c);
            v.extend_from_slice(b"\r\n");
            v
        })
        .collect();
    chunks.push(b"0\r\n\r\n".to_vec());
    raw_exchange(srv.addr, &head, &chunks).await
}

pub fn assert_raw_error(r: &Raw, status: u16, code: &str) {
    assert_eq!(r.status, status, "raw answer: {}", r.body);
    assert!(
        r.headers.get("x-request-id").is_some_and(|v| !v.is_empty()),
        "no X-Request-Id"
    );
    let v = r.json();
    assert_eq!(v.as_object().map(|o| o.len()), Some(1), "shape: {}", r.body);
    assert_eq!(
        v["error"].as_object().map(|o| o.len()),
        Some(2),
        "shape: {}",
        r.body
    );
    assert_eq!(v["error"]["code"], code);
}
