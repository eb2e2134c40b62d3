//! What a key may do (docs/api.md, Keys that carry their own policy): its scopes, its rate limit
//! and the networks it may be used from. The service, the console and the CLI check a policy
//! with these same functions, so that an inline error says what the service would answer.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One permission of a RAG API key.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Retrieve and generate answers.
    Query,
    /// Add, update and remove documents.
    Ingest,
    /// The RAG service's own settings.
    Manage,
    /// A scope this client does not know (a newer service); the service refuses it in requests.
    #[serde(other, skip_serializing)]
    Unknown,
}

impl Scope {
    /// Every scope, in the order the API lists them.
    pub const ALL: [Scope; 3] = [Scope::Query, Scope::Ingest, Scope::Manage];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Query => "query",
            Scope::Ingest => "ingest",
            Scope::Manage => "manage",
            Scope::Unknown => "unknown",
        }
    }

    /// `query`, `ingest` or `manage`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The bit of this scope in [`ScopeSet`].
    const fn bit(self) -> u8 {
        match self {
            Scope::Query => 1,
            Scope::Ingest => 2,
            Scope::Manage => 4,
            Scope::Unknown => 0,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes as three bits: what the verify path compares, with no allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub const FULL: ScopeSet = ScopeSet(7);

    pub fn of(scopes: &[Scope]) -> ScopeSet {
        ScopeSet(scopes.iter().fold(0, |b, s| b | s.bit()))
    }

    pub fn contains(self, s: Scope) -> bool {
        s.bit() != 0 && self.0 & s.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in the API's order.
    pub fn to_vec(self) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .collect()
    }

    /// Stored form: the scope names joined by commas, in the API's order (`query,ingest`).
    pub fn to_stored(self) -> String {
        let names: Vec<&str> = self.to_vec().into_iter().map(Scope::as_str).collect();
        names.join(",")
    }

    /// Reads [`ScopeSet::to_stored`]; unknown names are dropped (a store never holds them).
    pub fn from_stored(s: &str) -> ScopeSet {
        ScopeSet::of(&s.split(',').filter_map(Scope::parse).collect::<Vec<_>>())
    }

    /// Whether every scope of `self` is also in `other`.
    pub fn is_subset(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }
}

/// The scopes a key may be issued or patched with: non-empty, known, each once. Returns them in
/// the API's order. The error names the field, as a 400 `invalid_request` message.
pub fn validate_scopes(scopes: &[Scope]) -> Result<Vec<Scope>, String> {
    if scopes.is_empty() {
        return Err("scopes must name at least one of query, ingest, manage".into());
    }
    if scopes.contains(&Scope::Unknown) {
        return Err("scopes may only be query, ingest or manage".into());
    }
    let set = ScopeSet::of(scopes);
    if set.to_vec().len() != scopes.len() {
        return Err("scopes must name each scope once".into());
    }
    Ok(set.to_vec())
}

/// The window of a rate limit, in seconds: a second, a minute or an hour.
pub const RATE_WINDOWS: [u32; 3] = [1, 60, 3600];
/// The largest `requests` of a rate limit.
pub const RATE_REQUESTS_MAX: u32 = 1_000_000;

/// `{"requests":N,"per_seconds":S}`: a token bucket of N refilled evenly over S seconds
/// (docs/api.md, Keys that carry their own policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// 1 to 1,000,000.
    #[schema(minimum = 1, maximum = 1000000)]
    pub requests: u32,
    /// 1, 60 or 3600.
    pub per_seconds: u32,
}

impl RateLimit {
    /// Checks the limits of the API; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=RATE_REQUESTS_MAX).contains(&self.requests) {
            return Err(format!(
                "rate_limit.requests must be 1 to {RATE_REQUESTS_MAX}"
            ));
        }
        if !RATE_WINDOWS.contains(&self.per_seconds) {
            return Err("rate_limit.per_seconds must be 1, 60 or 3600".into());
        }
        Ok(())
    }

    /// Reads the command line's and the console's form: `100/s`, `6000/min`, `10000/h`
    /// (also `sec`, `m`, `hour`); the error says what is expected.
    pub fn parse(s: &str) -> Result<RateLimit, String> {
        let bad = || format!("'{s}' is not a rate: use N/s, N/min or N/h (for example 100/s)");
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let requests: u32 = n
            .trim()
            .replace([',', '_'], "")
            .parse()
            .map_err(|_| bad())?;
        let per_seconds = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        let r = RateLimit {
            requests,
            per_seconds,
        };
        r.validate()
            .map_err(|_| format!("'{s}': the rate must be 1 to {RATE_REQUESTS_MAX} per window"))?;
        Ok(r)
    }
}

/// `100/s`, `6000/min`, `10000/h`: what [`RateLimit::parse`] reads back.
impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per_seconds {
            1 => "s",
            60 => "min",
            3600 => "h",
            other => return write!(f, "{}/{other}s", self.requests),
        };
        write!(f, "{}/{unit}", self.requests)
    }
}

/// The most entries an allowlist may hold.
pub const MAX_ALLOWED_CIDRS: usize = 16;

/// Reads one allowlist entry as the service stores it (docs/api.md, Addresses): a bare address
/// is /32 or /128, host bits set is an error, an IPv4-mapped IPv6 network is IPv4. Returns the
/// canonical form (`10.0.4.0/24`, IPv6 in RFC 5952 form).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let t = s.trim();
    let net = match t.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => match t.parse::<IpAddr>() {
            Ok(a) => IpNet::from(a),
            Err(_) => return Err(format!("'{s}' is not an IPv4 or IPv6 address or CIDR")),
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "'{s}' has host bits set: the network is {}",
            net.trunc()
        ));
    }
    Ok(unmap(net))
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 network it stands for.
fn unmap(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
    {
        // The prefix fits: 96 + at most 32.
        return IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net);
    }
    net
}

/// Checks a whole allowlist (1 to 16 entries, each as [`parse_cidr`], no duplicates) and returns
/// it canonical, in the order given. The error names the field.
pub fn validate_cidrs(entries: &[String]) -> Result<Vec<String>, String> {
    if entries.is_empty() || entries.len() > MAX_ALLOWED_CIDRS {
        return Err(format!(
            "allowed_cidrs must hold 1 to {MAX_ALLOWED_CIDRS} networks, or be null for anywhere"
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(entries.len());
    for e in entries {
        let c = parse_cidr(e)
            .map_err(|m| format!("allowed_cidrs: {m}"))?
            .to_string();
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// Splits what an admin types or passes (`10.0.0.0/8, 192.0.2.7 2001:db8::/32`) at commas and
/// spaces.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The client network a call is counted under in usage (docs/api.md, Usage by reason): the /24
/// of an IPv4 address, the /64 of an IPv6 one.
pub fn network_of(addr: IpAddr) -> IpNet {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    let prefix = if addr.is_ipv4() { 24 } else { 64 };
    // A prefix of 24 or 64 is valid for its family.
    IpNet::new(addr, prefix)
        .map(|n| n.trunc())
        .unwrap_or(IpNet::from(addr))
}

/// Whether `addr` is inside one of `cidrs` (canonical strings as stored); an IPv4-mapped IPv6
/// address counts as IPv4.
pub fn allows(cidrs: &[IpNet], addr: IpAddr) -> bool {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    cidrs.iter().any(|n| n.contains(&addr))
}

/// A key's policy as the API shows it: the three fields every ApiKey carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Policy {
    /// Non-empty, in the order `query`, `ingest`, `manage`. A service older than policies sends
    /// none: such a key can do everything.
    #[serde(default = "all_scopes")]
    #[schema(required = true)]
    pub scopes: Vec<Scope>,
    /// `null`: no limit of its own.
    #[serde(default)]
    #[schema(required = true)]
    pub rate_limit: Option<RateLimit>,
    /// `null`: from anywhere; else 1 to 16 canonical CIDRs.
    #[serde(default)]
    #[schema(required = true)]
    pub allowed_cidrs: Option<Vec<String>>,
}

fn all_scopes() -> Vec<Scope> {
    Scope::ALL.to_vec()
}

impl Default for Policy {
    fn default() -> Self {
        Policy::full()
    }
}

impl Policy {
    /// Every scope, no rate limit, from anywhere: what a key gets when issued without a policy,
    /// and what keys issued before policies existed have.
    pub fn full() -> Policy {
        Policy {
            scopes: all_scopes(),
            rate_limit: None,
            allowed_cidrs: None,
        }
    }

    /// The short form of the console's Access column and the CLI's tables: `full` for all three
    /// scopes, else the scopes joined by `+` (`query+ingest`), then ` R` with a rate limit and
    /// ` A` with an allowlist (docs/console.md, Access).
    pub fn access_label(&self) -> String {
        let set = ScopeSet::of(&self.scopes);
        let mut s = if set == ScopeSet::FULL {
            "full".to_string()
        } else {
            let names: Vec<&str> = set.to_vec().into_iter().map(Scope::as_str).collect();
            names.join("+")
        };
        if self.rate_limit.is_some() {
            s.push_str(" R");
        }
        if self.allowed_cidrs.is_some() {
            s.push_str(" A");
        }
        s
    }

    /// Whether `new` lets the key do less than `self` in any way: a scope removed, an allowlist
    /// added or shrunk, a rate limit added or lowered. Such a change is acknowledged by every
    /// replica like a disable (docs/api.md, Changes).
    pub fn narrowed_by(&self, new: &Policy) -> bool {
        let scopes_removed = !ScopeSet::of(&self.scopes).is_subset(ScopeSet::of(&new.scopes));
        let cidrs_shrunk = match (&self.allowed_cidrs, &new.allowed_cidrs) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(old), Some(new)) => !covers(new, old),
        };
        let rate_lowered = match (self.rate_limit, new.rate_limit) {
            (_, None) => false,
            (None, Some(_)) => true,
            // Compare rates per second without rounding: n1/s1 > n2/s2.
            (Some(o), Some(n)) => {
                u64::from(n.requests) * u64::from(o.per_seconds)
                    < u64::from(o.requests) * u64::from(n.per_seconds)
                    || n.requests < o.requests
            }
        };
        scopes_removed || cidrs_shrunk || rate_lowered
    }
}

/// Whether every network of `old` lies inside some network of `new`.
fn covers(new: &[String], old: &[String]) -> bool {
    let new: Vec<IpNet> = new.iter().filter_map(|c| c.parse().ok()).collect();
    old.iter().filter_map(|c| c.parse::<IpNet>().ok()).all(|o| {
        new.iter()
            .any(|n| n.contains(&o.network()) && n.prefix_len() <= o.prefix_len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_stored_canonical() {
        assert_eq!(parse_cidr("10.0.4.17").unwrap().to_string(), "10.0.4.17/32");
        assert_eq!(
            parse_cidr("10.0.4.0/24").unwrap().to_string(),
            "10.0.4.0/24"
        );
        assert!(
            parse_cidr("10.0.4.17/24")
                .unwrap_err()
                .contains("10.0.4.0/24")
        );
        assert_eq!(
            parse_cidr("2001:DB8:0:0::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            parse_cidr("::ffff:10.0.0.0/104").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_cidr("::ffff:10.0.4.17").unwrap().to_string(),
            "10.0.4.17/32"
        );
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("example.com").is_err());
        assert!(validate_cidrs(&[]).is_err());
        assert!(validate_cidrs(&vec!["10.0.0.1".to_string(); 17]).is_err());
    }

    #[test]
    fn networks_and_allowlists() {
        let a: IpAddr = "10.0.4.17".parse().unwrap();
        assert_eq!(network_of(a).to_string(), "10.0.4.0/24");
        let m: IpAddr = "::ffff:10.0.4.17".parse().unwrap();
        assert_eq!(network_of(m).to_string(), "10.0.4.0/24");
        let v6: IpAddr = "2001:db8:1:2:3::9".parse().unwrap();
        assert_eq!(network_of(v6).to_string(), "2001:db8:1:2::/64");
        let list = vec![parse_cidr("10.0.0.0/8").unwrap()];
        assert!(allows(&list, a));
        assert!(allows(&list, m));
        assert!(!allows(&list, "127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn rates_read_and_print_back() {
        for s in ["100/s", "6000/min", "10000/h"] {
            assert_eq!(RateLimit::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            RateLimit::parse("5/sec").unwrap(),
            RateLimit {
                requests: 5,
                per_seconds: 1
            }
        );
        for bad in ["0/s", "5", "5/day", "x/s", "1000001/s"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_are_checked_and_ordered() {
        assert_eq!(
            validate_scopes(&[Scope::Manage, Scope::Query]).unwrap(),
            vec![Scope::Query, Scope::Manage]
        );
        assert!(validate_scopes(&[]).is_err());
        assert!(validate_scopes(&[Scope::Query, Scope::Query]).is_err());
        assert!(validate_scopes(&[Scope::Unknown]).is_err());
        let s = ScopeSet::of(&[Scope::Query, Scope::Ingest]);
        assert_eq!(ScopeSet::from_stored(&s.to_stored()), s);
        assert_eq!(s.to_stored(), "query,ingest");
    }

    #[test]
    fn labels_and_narrowing() {
        let full = Policy::full();
        assert_eq!(full.access_label(), "full");
        let q = Policy {
            scopes: vec![Scope::Query],
            rate_limit: Some(RateLimit {
                requests: 5,
                per_seconds: 1,
            }),
            allowed_cidrs: Some(vec!["10.0.0.0/8".into()]),
        };
        assert_eq!(q.access_label(), "query R A");
        assert!(full.narrowed_by(&q));
        assert!(!q.narrowed_by(&full));
        let wider = Policy {
            allowed_cidrs: Some(vec!["10.0.0.0/7".into()]),
            ..q.clone()
        };
        assert!(!q.narrowed_by(&wider));
        assert!(wider.narrowed_by(&q));
        let slower = Policy {
            rate_limit: Some(RateLimit {
                requests: 200,
                per_seconds: 60,
            }),
            ..q.clone()
        };
        assert!(q.narrowed_by(&slower));
    }
}
