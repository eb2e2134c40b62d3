//! The client address of a request behind proxies (docs/api.md, The client address): the peer,
//! unless the peer is a trusted proxy, in which case the walk over `X-Forwarded-For` (or, where
//! it is absent, `Forwarded: for=`) from the right, past trusted addresses, names the client.
//! Pure: the serving loop's peer and the request's headers in, one address out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::{IpNet, Ipv4Net};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The networks whose forwarding headers are believed (`serve --trusted-proxy`); none by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        TrustedProxies(nets.into_iter().map(canonical_net).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// `--trusted-proxy`'s value: a CIDR, or a bare address (/32, /128); host bits set are refused,
/// since `10.0.4.17/24` more likely means a mistake than `10.0.4.0/24`.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net = match s.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => match s.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => {
                return Err(format!(
                    "{s:?} is not a CIDR (10.0.0.0/8, fd00::/8) or an address"
                ));
            }
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "{s} has host bits set: did you mean {}?",
            canonical_net(net.trunc())
        ));
    }
    Ok(canonical_net(net))
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 network it is.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        _ => net,
    }
}

/// The client address of a request that came from `peer`. From a peer that is not trusted, the
/// peer itself, whatever its headers say. From a trusted one, `X-Forwarded-For` (all instances,
/// in order) or, only where there is none, `Forwarded`'s `for=` values, walked from the right:
/// the first address that is not trusted is the client; if all are, the leftmost; an entry
/// that does not parse ends the walk where it stands. IPv4-mapped IPv6 comes out as IPv4.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.trusts(peer) {
        return peer;
    }
    let xff = headers.get_all(X_FORWARDED_FOR);
    if xff.iter().next().is_some() {
        // Right to left without collecting: the last instance's last entry first.
        let hops = xff
            .iter()
            .rev()
            .flat_map(|v| header_text(v).rsplit(','))
            .map(|entry| parse_node(entry.trim()));
        return walk(peer, hops, trusted);
    }
    let forwarded = headers.get_all(FORWARDED);
    if forwarded.iter().next().is_none() {
        return peer;
    }
    let mut hops: Vec<Option<IpAddr>> = Vec::new();
    for value in forwarded.iter() {
        for element in split_unquoted(header_text(value), ',') {
            hops.push(forwarded_for(element));
        }
    }
    walk(peer, hops.into_iter().rev(), trusted)
}

/// A header value as text; one that is not (visible ASCII and spaces) reads as an entry that
/// does not parse, which ends the walk.
fn header_text(v: &HeaderValue) -> &str {
    v.to_str().unwrap_or("\u{0}")
}

/// From a trusted `peer`, steps left over `hops` (rightmost first; `None` for an entry that did
/// not parse) while the address stood on is trusted.
fn walk(
    peer: IpAddr,
    hops: impl Iterator<Item = Option<IpAddr>>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let mut at = peer;
    for hop in hops {
        if !trusted.trusts(at) {
            break;
        }
        match hop {
            Some(ip) => at = ip.to_canonical(),
            None => break,
        }
    }
    at
}

/// One `X-Forwarded-For` entry or `for=` value: an address, with or without a port
/// (`10.0.4.17`, `10.0.4.17:443`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:443`).
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = s.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u16>().is_ok()
}

/// The `for=` of one `Forwarded` element (RFC 7239: `for=192.0.2.60;proto=http`,
/// `for="[2001:db8::1]:4711"`); `None` when it has none or it is no address (`unknown`,
/// `_hidden`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = split_unquoted(element, ';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim())
    })?;
    let value = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => value,
    };
    parse_node(value)
}

/// `s` split at `sep` where it is not inside a quoted string.
fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in s.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == sep && !quoted => {
                    rest = Some(&s[i + c.len_utf8()..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| parse_cidr(n).unwrap()))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn client(peer: &str, pairs: &[(&str, &str)], nets: &[&str]) -> String {
        client_address(ip(peer), &headers(pairs), &trusted(nets)).to_string()
    }

    const LB: &[&str] = &["127.0.0.1/32", "10.0.0.0/8"];

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client("127.0.0.1", &xff, &[]), "127.0.0.1");
        // A peer outside the trusted networks cannot choose its address either.
        assert_eq!(client("127.0.0.2", &xff, LB), "127.0.0.2");
        assert_eq!(
            client("127.0.0.2", &[("forwarded", "for=203.0.113.9")], LB),
            "127.0.0.2"
        );
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let xff = [("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.4.17")];
        assert_eq!(client("127.0.0.1", &xff, LB), "203.0.113.9");
        // What the client itself wrote to the left of the first untrusted hop is not read.
        let spoof = [("x-forwarded-for", "10.9.9.9, 203.0.113.9")];
        assert_eq!(client("127.0.0.1", &spoof, LB), "203.0.113.9");
        // Instances of the header read as one list, in order.
        let two = [
            ("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
            ("x-forwarded-for", "10.0.4.17"),
        ];
        assert_eq!(client("127.0.0.1", &two, LB), "203.0.113.9");
        let tail = [
            ("x-forwarded-for", "10.0.4.17"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        assert_eq!(client("127.0.0.1", &tail, LB), "203.0.113.9");
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        let xff = [("x-forwarded-for", "10.0.0.5, 10.0.4.17")];
        assert_eq!(client("127.0.0.1", &xff, LB), "10.0.0.5");
    }

    #[test]
    fn an_entry_that_does_not_parse_ends_the_walk_where_it_stands() {
        let xff = [("x-forwarded-for", "203.0.113.9, unknown, 10.0.4.17")];
        assert_eq!(client("127.0.0.1", &xff, LB), "10.0.4.17");
        let xff = [("x-forwarded-for", "203.0.113.9,")];
        assert_eq!(client("127.0.0.1", &xff, LB), "127.0.0.1");
        let xff = [("x-forwarded-for", "")];
        assert_eq!(client("127.0.0.1", &xff, LB), "127.0.0.1");
        let xff = [("x-forwarded-for", "203.0.113.9:99999")];
        assert_eq!(client("127.0.0.1", &xff, LB), "127.0.0.1");
    }

    #[test]
    fn ports_are_dropped_and_mapped_addresses_are_ipv4() {
        let xff = [(
            "x-forwarded-for",
            "203.0.113.9:51234, [::ffff:10.0.4.17]:80",
        )];
        assert_eq!(client("127.0.0.1", &xff, LB), "203.0.113.9");
        let xff = [("x-forwarded-for", "::ffff:203.0.113.9")];
        assert_eq!(client("::ffff:127.0.0.1", &xff, LB), "203.0.113.9");
        let xff = [("x-forwarded-for", "2001:db8::1, [2001:db8::2]:443")];
        assert_eq!(client("127.0.0.1", &xff, LB), "2001:db8::2");
        // A mapped peer that is not trusted is still given as IPv4.
        assert_eq!(client("::ffff:192.0.2.1", &[], LB), "192.0.2.1");
        // A mapped CIDR trusts the IPv4 addresses it maps.
        let mapped = ["::ffff:127.0.0.0/104"];
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client("127.0.0.1", &xff, &mapped), "203.0.113.9");
    }

    #[test]
    fn forwarded_counts_only_where_x_forwarded_for_is_absent() {
        let fwd = [(
            "forwarded",
            r#"for=198.51.100.1;proto=https, For="[2001:db8::7]:4711";by=10.0.0.1, for=10.0.4.17"#,
        )];
        assert_eq!(client("127.0.0.1", &fwd, LB), "2001:db8::7");
        let both = [
            ("forwarded", "for=198.51.100.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        assert_eq!(client("127.0.0.1", &both, LB), "203.0.113.9");
        let hidden = [("forwarded", "for=198.51.100.1, for=_hidden")];
        assert_eq!(client("127.0.0.1", &hidden, LB), "127.0.0.1");
        let no_for = [("forwarded", "for=198.51.100.1, proto=https")];
        assert_eq!(client("127.0.0.1", &no_for, LB), "127.0.0.1");
        let quoted_comma = [("forwarded", r#"for=198.51.100.1;by="a,b""#)];
        assert_eq!(client("127.0.0.1", &quoted_comma, LB), "198.51.100.1");
    }

    #[test]
    fn a_value_that_is_not_text_ends_the_walk() {
        let mut h = HeaderMap::new();
        h.append(X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.9"));
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff1.2.3.4").unwrap(),
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &trusted(LB)).to_string(),
            "127.0.0.1"
        );
    }

    #[test]
    fn cidrs_are_checked_like_allowlists() {
        assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            parse_cidr("::ffff:10.0.0.0/104").unwrap().to_string(),
            "10.0.0.0/8"
        );
        let e = parse_cidr("10.0.4.17/24").unwrap_err();
        assert!(e.contains("10.0.4.0/24"), "{e}");
        assert!(parse_cidr("proxy.internal").is_err());
        assert!(parse_cidr("10.0.0.0/33").is_err());
    }

    fn untrusted_v4() -> impl Strategy<Value = IpAddr> {
        // 192.0.2.0/24 and friends: never inside the trusted 10/8 and 127.0.0.1 below.
        (192u8..=223, any::<u8>(), any::<u8>(), 1u8..=254)
            .prop_map(|(a, b, c, d)| IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    fn trusted_v4() -> impl Strategy<Value = IpAddr> {
        (any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(b, c, d)| IpAddr::V4(Ipv4Addr::new(10, b, c, d)))
    }

    /// How a hop may be written: plain, with a port, or IPv4-mapped (bracketed, with a port).
    fn written(ip: IpAddr, form: u8) -> String {
        match (form % 3, ip) {
            (1, _) => format!("{ip}:8443"),
            (2, IpAddr::V4(v4)) => format!("[{}]:80", v4.to_ipv6_mapped()),
            _ => ip.to_string(),
        }
    }

    proptest! {
        /// Whatever a client writes into the headers it sends, behind a chain of trusted
        /// proxies that each append the address they saw, the client is the address the first
        /// proxy saw: a client never chooses its own address.
        #[test]
        fn a_client_never_chooses_its_own_address(
            forged in proptest::collection::vec("[ -~]{0,24}", 0..4),
            real in untrusted_v4(),
            chain in proptest::collection::vec((trusted_v4(), any::<u8>()), 0..4),
            form in any::<u8>(),
            split in any::<bool>(),
            use_forwarded in any::<bool>(),
        ) {
            let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let mut hops: Vec<String> = forged.iter().map(|f| f.replace(',', " ")).collect();
            hops.push(written(real, form));
            hops.extend(chain.iter().map(|(ip, form)| written(*ip, *form)));
            let mut h = HeaderMap::new();
            if use_forwarded {
                // What the client forged comes in its own header; the proxies' entries after.
                let value = hops
                    .iter()
                    .map(|hop| format!("for=\"{}\"", hop.replace(['"', '\\'], "")))
                    .collect::<Vec<_>>()
                    .join(", ");
                h.append(FORWARDED, HeaderValue::from_str(&value).unwrap());
            } else if split {
                for hop in &hops {
                    h.append(X_FORWARDED_FOR, HeaderValue::from_str(hop).unwrap());
                }
            } else {
                h.append(X_FORWARDED_FOR, HeaderValue::from_str(&hops.join(", ")).unwrap());
            }
            prop_assert_eq!(client_address(peer, &h, &trusted(LB)), real);
        }

        /// From a peer that is not trusted, no header counts.
        #[test]
        fn an_untrusted_peer_is_its_own_address(
            peer in untrusted_v4(),
            xff in "[ -~]{0,40}",
            fwd in "[ -~]{0,40}",
        ) {
            let mut h = HeaderMap::new();
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(&xff).unwrap());
            h.append(FORWARDED, HeaderValue::from_str(&fwd).unwrap());
            prop_assert_eq!(client_address(peer, &h, &trusted(LB)), peer);
        }

        /// Any header at all from a trusted peer yields the peer or an address that was
        /// written in it: the walk never makes one up, nor panics.
        #[test]
        fn the_walk_only_ever_names_an_address_it_was_given(
            xff in proptest::collection::vec("[ -~]{0,30}", 0..3),
        ) {
            let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let mut h = HeaderMap::new();
            for v in &xff {
                h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
            }
            let got = client_address(peer, &h, &trusted(LB));
            let text = xff.join(",");
            prop_assert!(
                got == peer
                    || text.split(',').filter_map(|e| parse_node(e.trim())).any(|ip| ip.to_canonical() == got),
                "{} from {:?}", got, xff
            );
        }
    }
}
