//! The PROXY protocol header (HAProxy's, v1 text and v2 binary) that an L4 balancer sends before
//! a connection's first byte (docs/api.md, Deployed behind proxies and gateways): which peers
//! must send one (`serve --proxy-protocol`), and the pure parse of its bytes. TLVs are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// v1's longest line, `\r\n` included (the specification's bound).
pub const V1_MAX: usize = 107;
const V1_PREFIX: &[u8] = b"PROXY ";
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V2_FIXED: usize = 16;

/// The peers that must begin every connection with a PROXY header (`serve --proxy-protocol`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyPeers(Vec<IpNet>);

impl ProxyPeers {
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        ProxyPeers(nets.into_iter().collect())
    }

    /// Whether a connection from `ip` must begin with a header (IPv4-mapped IPv6 as IPv4).
    pub fn expects(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// What the bytes read so far make of a header.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A header may still come: read more.
    Incomplete,
    /// Not a header, or a malformed one: the connection is closed.
    Invalid,
    /// A header of `len` bytes; `source` is the client it names, `None` where it names none
    /// (v2 `LOCAL`, v1 `UNKNOWN`, other families), so the peer's own address stands.
    Done {
        len: usize,
        source: Option<SocketAddr>,
    },
}

/// How many first bytes tell whether a connection begins with a header: v2's signature.
pub const SIGNATURE_MAX: usize = V2_SIGNATURE.len();

/// Whether a connection's first bytes are the start of a PROXY header (v1's `PROXY ` or v2's
/// signature): `Some(true)` once they are, `Some(false)` once they cannot be, `None` while too
/// few have come to tell.
pub fn begins_header(head: &[u8]) -> Option<bool> {
    let could = |sig: &[u8]| sig.starts_with(&head[..head.len().min(sig.len())]);
    if head.starts_with(V1_PREFIX) || head.starts_with(V2_SIGNATURE) {
        Some(true)
    } else if could(V1_PREFIX) || could(V2_SIGNATURE) {
        None
    } else {
        Some(false)
    }
}

/// Parses the start of a connection's bytes as a v1 or v2 header.
pub fn parse(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    if V2_SIGNATURE.starts_with(&buf[..buf.len().min(V2_SIGNATURE.len())]) {
        if buf.len() < V2_FIXED {
            return Parsed::Incomplete;
        }
        return parse_v2(buf);
    }
    if V1_PREFIX.starts_with(&buf[..buf.len().min(V1_PREFIX.len())]) {
        if buf.len() < V1_PREFIX.len() {
            return Parsed::Incomplete;
        }
        return parse_v1(buf);
    }
    Parsed::Invalid
}

fn parse_v1(buf: &[u8]) -> Parsed {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= V1_MAX {
            Parsed::Invalid
        } else {
            Parsed::Incomplete
        };
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Parsed::Invalid;
    }
    let Ok(line) = std::str::from_utf8(&window[V1_PREFIX.len()..lf - 1]) else {
        return Parsed::Invalid;
    };
    let len = lf + 1;
    let fields: Vec<&str> = line.split(' ').collect();
    let (src, port) = match fields.as_slice() {
        // Whatever follows UNKNOWN is ignored, as the specification says.
        ["UNKNOWN", ..] => return Parsed::Done { len, source: None },
        ["TCP4", src, dst, sport, dport] => match (src.parse(), dst.parse::<Ipv4Addr>()) {
            (Ok(src), Ok(_)) => (IpAddr::V4(src), v1_ports(sport, dport)),
            _ => return Parsed::Invalid,
        },
        ["TCP6", src, dst, sport, dport] => match (src.parse(), dst.parse::<Ipv6Addr>()) {
            (Ok(src), Ok(_)) => (IpAddr::V6(src), v1_ports(sport, dport)),
            _ => return Parsed::Invalid,
        },
        _ => return Parsed::Invalid,
    };
    match port {
        Some(port) => Parsed::Done {
            len,
            source: Some(SocketAddr::new(src.to_canonical(), port)),
        },
        None => Parsed::Invalid,
    }
}

/// Both ports as decimal digits within u16; the source port is returned.
fn v1_ports(sport: &str, dport: &str) -> Option<u16> {
    let port = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u16>().ok()
    };
    port(dport)?;
    port(sport)
}

fn parse_v2(buf: &[u8]) -> Parsed {
    let version_command = buf[12];
    let family = buf[13];
    let body = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if version_command >> 4 != 2 {
        return Parsed::Invalid;
    }
    let len = V2_FIXED + body;
    if buf.len() < len {
        return Parsed::Incomplete;
    }
    let addresses = &buf[V2_FIXED..len];
    let source = match version_command & 0x0f {
        // LOCAL: the balancer's own connection (a health check); the peer stands.
        0 => None,
        1 => match family >> 4 {
            1 => {
                let Some(a) = addresses.get(..12) else {
                    return Parsed::Invalid;
                };
                let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
                Some(SocketAddr::new(
                    IpAddr::V4(ip),
                    u16::from_be_bytes([a[8], a[9]]),
                ))
            }
            2 => {
                let Some(a) = addresses.get(..36) else {
                    return Parsed::Invalid;
                };
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[..16]);
                let ip = IpAddr::V6(Ipv6Addr::from(octets)).to_canonical();
                Some(SocketAddr::new(ip, u16::from_be_bytes([a[32], a[33]])))
            }
            // UNSPEC or a UNIX socket: no address to use, the peer stands.
            0 | 3 => None,
            _ => return Parsed::Invalid,
        },
        _ => return Parsed::Invalid,
    };
    Parsed::Done { len, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_told_from_a_request_by_its_first_bytes() {
        assert_eq!(begins_header(b"PROXY TCP4 1.2.3.4"), Some(true));
        assert_eq!(begins_header(b"PROXY "), Some(true));
        assert_eq!(begins_header(V2_SIGNATURE), Some(true));
        for partial in [&b""[..], b"P", b"PRO", b"PROXY", b"\r\n\r\n\0\r\nQUI"] {
            assert_eq!(begins_header(partial), None, "{partial:?}");
        }
        for request in [
            &b"GET / HTTP/1.1"[..],
            b"POST",
            b"PUT",
            b"PATCH",
            b"PRI * HTTP/2.0",
            b"\r\nGET",
            b"\x16\x03\x01",
        ] {
            assert_eq!(begins_header(request), Some(false), "{request:?}");
        }
    }

    fn done(len: usize, source: Option<&str>) -> Parsed {
        Parsed::Done {
            len,
            source: source.map(|s| s.parse().unwrap()),
        }
    }

    #[test]
    fn v1_tcp4_names_the_source_and_its_length() {
        let line = b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 8080\r\nGET / HTTP/1.1\r\n";
        assert_eq!(parse(line), done(42, Some("192.0.2.7:56324")));
    }

    #[test]
    fn v1_tcp6_and_mapped_addresses() {
        let line = b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n";
        assert_eq!(parse(line), done(line.len(), Some("[2001:db8::7]:4000")));
        let mapped = b"PROXY TCP6 ::ffff:10.0.4.17 ::1 4000 443\r\n";
        assert_eq!(parse(mapped), done(mapped.len(), Some("10.0.4.17:4000")));
    }

    #[test]
    fn v1_unknown_keeps_the_peer() {
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), done(15, None));
        let long = b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
        assert_eq!(parse(long), done(long.len(), None));
    }

    #[test]
    fn v1_partial_lines_wait_and_bad_ones_close() {
        for partial in [
            &b"P"[..],
            b"PROX",
            b"PROXY ",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r",
        ] {
            assert_eq!(parse(partial), Parsed::Incomplete, "{partial:?}");
        }
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            assert_eq!(parse(bad), Parsed::Invalid, "{bad:?}");
        }
        let endless = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 100]].concat();
        assert_eq!(parse(&endless), Parsed::Invalid);
    }

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
        h.extend_from_slice(addresses);
        h
    }

    #[test]
    fn v2_inet_and_inet6_name_the_source_and_skip_tlvs() {
        let mut a = vec![192, 0, 2, 7, 127, 0, 0, 1, 0xdc, 0x04, 0x1f, 0x90];
        a.extend_from_slice(&[0x04, 0x00, 0x01, 0x00]); // a NOOP TLV, skipped
        let h = v2(1, 0x11, &a);
        let mut with_request = h.clone();
        with_request.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(parse(&with_request), done(h.len(), Some("192.0.2.7:56324")));

        let mut a6 = Vec::new();
        a6.extend_from_slice(&"::ffff:10.0.4.17".parse::<Ipv6Addr>().unwrap().octets());
        a6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        a6.extend_from_slice(&[0x0f, 0xa0, 0x01, 0xbb]);
        let h6 = v2(1, 0x21, &a6);
        assert_eq!(parse(&h6), done(h6.len(), Some("10.0.4.17:4000")));
    }

    #[test]
    fn v2_local_unspec_and_unix_keep_the_peer() {
        let local = v2(0, 0x00, &[]);
        assert_eq!(parse(&local), done(16, None));
        let unspec = v2(1, 0x00, &[]);
        assert_eq!(parse(&unspec), done(16, None));
        let unix = v2(1, 0x31, &[0; 216]);
        assert_eq!(parse(&unix), done(16 + 216, None));
    }

    #[test]
    fn v2_partial_waits_and_bad_ones_close() {
        let h = v2(1, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
        for cut in 1..h.len() {
            assert_eq!(parse(&h[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        let mut version1 = h.clone();
        version1[12] = 0x11;
        assert_eq!(parse(&version1), Parsed::Invalid);
        let mut command = h.clone();
        command[12] = 0x22;
        assert_eq!(parse(&command), Parsed::Invalid);
        assert_eq!(parse(&v2(1, 0x11, &[1, 2, 3, 4])), Parsed::Invalid);
        assert_eq!(parse(&v2(1, 0x21, &[0; 12])), Parsed::Invalid);
        assert_eq!(parse(&v2(1, 0x41, &[0; 12])), Parsed::Invalid);
        let mut signature = h;
        signature[5] = b'x';
        assert_eq!(parse(&signature), Parsed::Invalid);
    }

    #[test]
    fn peers_are_matched_as_ipv4_when_mapped() {
        let peers = ProxyPeers::new(["127.0.0.1/32".parse().unwrap()]);
        assert!(peers.expects("127.0.0.1".parse().unwrap()));
        assert!(peers.expects("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!peers.expects("127.0.0.2".parse().unwrap()));
        assert!(!ProxyPeers::default().expects("127.0.0.1".parse().unwrap()));
    }
}
