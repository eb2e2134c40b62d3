//! One key's counts not yet written, on the key's verify index entry: the only part of usage
//! the verify path touches.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use ipnet::IpNet;

use crate::policy::Scope;
use crate::server::store::UnixTime;

/// Seconds in an hourly bucket: the counters' slots alternate by the hour.
pub const HOUR: UnixTime = 3600;

/// Which of the two slots of a series holds the hour of `t`: the parity of the hour.
fn slot(t: UnixTime) -> usize {
    (t.div_euclid(HOUR) & 1) as usize
}

/// What became of one verification of a known key, as usage counts it (docs/api.md, Usage by
/// reason, scope and network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 200.
    Ok = 0,
    /// 401: the key is disabled, expired or retired.
    Refused = 1,
    /// 403: the valid key outside its scopes or allowed networks.
    Denied = 2,
    /// 429: the valid key over its rate limit.
    Limited = 3,
}

/// How successful calls are counted by the scope they asked for, in this order; `none` for a
/// call without one (docs/api.md, Usage by reason, scope and network).
pub const SCOPE_NAMES: [&str; 4] = ["query", "ingest", "manage", "none"];

/// The place of `scope` in [`SCOPE_NAMES`].
fn scope_index(scope: Option<Scope>) -> usize {
    match scope {
        Some(Scope::Query) => 0,
        Some(Scope::Ingest) => 1,
        Some(Scope::Manage) => 2,
        // A request never carries an unknown scope this far (400 before any lookup).
        None | Some(Scope::Unknown) => 3,
    }
}

/// One hour's counts by outcome and by scope: together on one cache line, since a successful
/// call adds to both.
#[derive(Debug, Default)]
#[repr(align(64))]
struct HourSlot {
    /// By [`Outcome`]: ok, refused, denied, limited.
    outcomes: [AtomicU64; 4],
    /// Successful calls by [`SCOPE_NAMES`].
    scopes: [AtomicU64; 4],
}

/// How many client networks of a key are counted lock-free; others go to a map under a lock.
/// A key is used from a handful of networks (its servers' subnets), so a few slots serve
/// nearly every call.
const NET_SLOTS: usize = 4;
/// A slot that no network holds yet.
const EMPTY: u64 = u64::MAX;
/// The high half of an IPv4 network's slot key: IPv6 networks with this first byte are
/// multicast, never a client's source, and go to the map anyway (see [`net_key`]).
const V4_TAG: u64 = 0xFFFF_FFFF << 32;

/// A client network (its /24 or /64, [`crate::policy::network_of`]) as one word: an IPv6 /64
/// is its 64 bits, an IPv4 /24 its 24 bits under [`V4_TAG`]. `None` for the IPv6 networks that
/// would collide with those (first byte 0xff, multicast): they are counted in the map.
fn net_key(addr: IpAddr) -> Option<u64> {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    match addr {
        IpAddr::V4(v4) => Some(V4_TAG | u64::from(u32::from(v4) >> 8)),
        IpAddr::V6(v6) => {
            let high = (u128::from(v6) >> 64) as u64;
            (high >> 56 != 0xff).then_some(high)
        }
    }
}

/// The network a [`net_key`] stands for.
fn net_of_key(key: u64) -> IpNet {
    let (addr, prefix) = if key & V4_TAG == V4_TAG {
        (IpAddr::V4(Ipv4Addr::from((key as u32) << 8)), 24)
    } else {
        (IpAddr::V6(Ipv6Addr::from(u128::from(key) << 64)), 64)
    };
    // 24 and 64 are valid prefixes of their families.
    IpNet::new(addr, prefix).unwrap_or(IpNet::from(addr))
}

/// One client network's successful calls, lock-free: claimed once by the first call from it,
/// then only added to. A slot keeps its network for the life of the counters, so that an add
/// can never land on a network that replaced it.
#[derive(Debug)]
struct NetSlot {
    key: AtomicU64,
    calls: [AtomicU64; 2],
    last_seen: AtomicI64,
}

impl Default for NetSlot {
    fn default() -> Self {
        NetSlot {
            key: AtomicU64::new(EMPTY),
            calls: Default::default(),
            last_seen: AtomicI64::new(i64::MIN),
        }
    }
}

impl NetSlot {
    #[inline]
    fn hit(&self, at: UnixTime) {
        self.calls[slot(at)].fetch_add(1, Ordering::Relaxed);
        // A store at most once a second: the line is read far more often than written.
        if self.last_seen.load(Ordering::Relaxed) < at {
            self.last_seen.fetch_max(at, Ordering::Relaxed);
        }
    }
}

/// A network beyond the lock-free slots: its calls by hour parity and when it was last seen.
#[derive(Debug, Default, Clone, Copy)]
struct MoreNet {
    calls: [u64; 2],
    last_seen: UnixTime,
}

/// Successful calls from one client network in one hour, as the flush writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetCalls {
    pub network: IpNet,
    pub calls: u64,
    /// The last call from it that this process counted (unix seconds).
    pub last_seen: UnixTime,
}

/// One key's counts of one hour, taken or read from memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourCounts {
    pub ok: u64,
    pub refused: u64,
    pub denied: u64,
    pub limited: u64,
    /// Successful calls by [`SCOPE_NAMES`].
    pub scopes: [u64; 4],
    pub networks: Vec<NetCalls>,
}

impl HourCounts {
    pub fn is_empty(&self) -> bool {
        self.ok == 0
            && self.refused == 0
            && self.denied == 0
            && self.limited == 0
            && self.networks.is_empty()
    }
}

/// One key's verifications not yet written, and the address of its last recorded use.
/// Each hour's counts sit on a cache line of their own: every verification of the key adds
/// there, from every core, and the entry's read-mostly fields beside it should not be
/// invalidated by that (docs/performance.md).
#[derive(Debug, Default)]
pub struct Counters {
    hours: [HourSlot; 2],
    nets: [NetSlot; NET_SLOTS],
    /// Networks past the slots: a lock per call only for those, an allocation only for a
    /// network new to the map.
    more_nets: Mutex<HashMap<IpNet, MoreNet>>,
    /// Set with each once-a-minute touch (never per request).
    last_from: Mutex<Option<IpAddr>>,
}

impl Counters {
    /// Counts one verification at `at` (unix seconds) as ok or refused, without a scope or a
    /// network.
    #[cfg(test)]
    pub fn count(&self, at: UnixTime, ok: bool) {
        let o = if ok { Outcome::Ok } else { Outcome::Refused };
        self.hours[slot(at)].outcomes[o as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one verification of this key at `at` (unix seconds) by its outcome and, for a
    /// successful one, by the scope it asked for and the client network it came from (for
    /// `scopes_used` and `networks`). On the verify path: relaxed atomic adds, no lock and no
    /// allocation unless the key is used from more networks than it has slots.
    #[inline]
    pub fn record(&self, at: UnixTime, outcome: Outcome, scope: Option<Scope>, from: IpAddr) {
        let hour = &self.hours[slot(at)];
        hour.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
        if outcome == Outcome::Ok {
            hour.scopes[scope_index(scope)].fetch_add(1, Ordering::Relaxed);
            self.count_network(at, from);
        }
    }

    #[inline]
    fn count_network(&self, at: UnixTime, from: IpAddr) {
        if let Some(key) = net_key(from) {
            for s in &self.nets {
                let held = s.key.load(Ordering::Acquire);
                if held == key {
                    return s.hit(at);
                }
                if held == EMPTY {
                    // Slots fill in order: the first empty one is where this network goes,
                    // unless another call claims it first (for this network or another).
                    match s
                        .key
                        .compare_exchange(EMPTY, key, Ordering::AcqRel, Ordering::Acquire)
                    {
                        Ok(_) => return s.hit(at),
                        Err(now) if now == key => return s.hit(at),
                        Err(_) => continue,
                    }
                }
            }
        }
        let net = crate::policy::network_of(from);
        let mut more = self.more_nets.lock().unwrap_or_else(|e| e.into_inner());
        let m = more.entry(net).or_default();
        m.calls[slot(at)] += 1;
        m.last_seen = m.last_seen.max(at);
    }

    /// Reads (`take`: and empties) the counts of the hour starting at `hour`.
    fn collect(&self, hour: UnixTime, take: bool) -> HourCounts {
        let s = slot(hour);
        let read = |a: &AtomicU64| {
            if take {
                a.swap(0, Ordering::Relaxed)
            } else {
                a.load(Ordering::Relaxed)
            }
        };
        let h = &self.hours[s];
        let mut out = HourCounts {
            ok: read(&h.outcomes[0]),
            refused: read(&h.outcomes[1]),
            denied: read(&h.outcomes[2]),
            limited: read(&h.outcomes[3]),
            scopes: std::array::from_fn(|i| read(&h.scopes[i])),
            networks: Vec::new(),
        };
        for n in &self.nets {
            let key = n.key.load(Ordering::Acquire);
            if key == EMPTY {
                break;
            }
            let calls = read(&n.calls[s]);
            if calls > 0 {
                out.networks.push(NetCalls {
                    network: net_of_key(key),
                    calls,
                    last_seen: n.last_seen.load(Ordering::Relaxed),
                });
            }
        }
        let mut more = self.more_nets.lock().unwrap_or_else(|e| e.into_inner());
        for (net, m) in more.iter_mut() {
            let calls = if take {
                std::mem::take(&mut m.calls[s])
            } else {
                m.calls[s]
            };
            if calls > 0 {
                out.networks.push(NetCalls {
                    network: *net,
                    calls,
                    last_seen: m.last_seen,
                });
            }
        }
        if take {
            // Under the lock no call can be adding to an entry: empty ones go.
            more.retain(|_, m| m.calls != [0, 0]);
        }
        out
    }

    /// The counts of the hour starting at `hour`, left in place.
    pub(super) fn peek(&self, hour: UnixTime) -> HourCounts {
        self.collect(hour, false)
    }

    /// The counts of the hour starting at `hour`, emptied.
    pub(super) fn take(&self, hour: UnixTime) -> HourCounts {
        self.collect(hour, true)
    }

    /// Puts back counts that could not be written: the next flush tries again.
    pub(super) fn give_back(&self, hour: UnixTime, c: &HourCounts) {
        let s = slot(hour);
        let h = &self.hours[s];
        for (a, n) in h
            .outcomes
            .iter()
            .zip([c.ok, c.refused, c.denied, c.limited])
        {
            a.fetch_add(n, Ordering::Relaxed);
        }
        for (a, n) in h.scopes.iter().zip(c.scopes) {
            a.fetch_add(n, Ordering::Relaxed);
        }
        'nets: for n in &c.networks {
            for slot_ in &self.nets {
                let key = slot_.key.load(Ordering::Acquire);
                if key != EMPTY && net_of_key(key) == n.network {
                    slot_.calls[s].fetch_add(n.calls, Ordering::Relaxed);
                    continue 'nets;
                }
            }
            let mut more = self.more_nets.lock().unwrap_or_else(|e| e.into_inner());
            let m = more.entry(n.network).or_default();
            m.calls[s] += n.calls;
            m.last_seen = m.last_seen.max(n.last_seen);
        }
    }

    /// Records the address of the use that claimed this minute's touch.
    pub fn set_from(&self, from: IpAddr) {
        *self.last_from.lock().unwrap_or_else(|e| e.into_inner()) = Some(from);
    }

    /// The address of the last use recorded by this process, if any.
    pub fn from(&self) -> Option<IpAddr> {
        *self.last_from.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::network_of;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_network_key_stands_for_the_network_of_the_address() {
        for a in [
            "10.0.4.17",
            "0.0.0.0",
            "255.255.255.255",
            "::ffff:10.0.4.17",
            "::1",
            "2001:db8:1:2:3::9",
            "fe80::1",
        ] {
            let key = net_key(ip(a)).unwrap();
            assert_ne!(key, EMPTY, "{a}");
            assert_eq!(net_of_key(key), network_of(ip(a)), "{a}");
        }
        assert_eq!(net_key(ip("ff02::1")), None);
    }

    #[test]
    fn outcomes_scopes_and_networks_are_counted_by_hour() {
        let c = Counters::default();
        let t = 7200 * 10;
        c.record(t, Outcome::Ok, Some(Scope::Query), ip("10.0.4.17"));
        c.record(t + 5, Outcome::Ok, Some(Scope::Query), ip("10.0.4.18"));
        c.record(t + 6, Outcome::Ok, None, ip("::1"));
        c.record(t + 7, Outcome::Refused, Some(Scope::Ingest), ip("10.9.9.9"));
        c.record(t + 8, Outcome::Denied, Some(Scope::Ingest), ip("10.9.9.9"));
        c.record(t + 9, Outcome::Limited, Some(Scope::Query), ip("10.0.4.17"));
        c.record(t + HOUR, Outcome::Ok, Some(Scope::Manage), ip("10.0.4.1"));
        let h = c.peek(t);
        assert_eq!((h.ok, h.refused, h.denied, h.limited), (3, 1, 1, 1));
        assert_eq!(h.scopes, [2, 0, 0, 1]);
        assert_eq!(
            h.networks,
            vec![
                NetCalls {
                    network: "10.0.4.0/24".parse().unwrap(),
                    calls: 2,
                    last_seen: t + HOUR,
                },
                NetCalls {
                    network: "::/64".parse().unwrap(),
                    calls: 1,
                    last_seen: t + 6,
                },
            ]
        );
        assert_eq!(c.take(t), h);
        assert!(c.peek(t).is_empty());
        let next = c.take(t + HOUR);
        assert_eq!((next.ok, next.scopes), (1, [0, 0, 1, 0]));
        c.give_back(t + HOUR, &next);
        assert_eq!(c.peek(t + HOUR), next);
    }

    #[test]
    fn networks_past_the_slots_are_counted_all_the_same() {
        let c = Counters::default();
        let t = 0;
        for i in 0..10u8 {
            for _ in 0..=i {
                c.record(t, Outcome::Ok, None, ip(&format!("10.0.{i}.1")));
            }
        }
        let h = c.take(t);
        assert_eq!(h.networks.len(), 10);
        for i in 0..10u8 {
            let net: IpNet = format!("10.0.{i}.0/24").parse().unwrap();
            let n = h.networks.iter().find(|n| n.network == net).unwrap();
            assert_eq!(n.calls, u64::from(i) + 1);
        }
        // The map forgets networks once their counts are written; the slots keep theirs.
        assert!(c.more_nets.lock().unwrap().is_empty());
        c.give_back(t, &h);
        assert_eq!(c.take(t).networks.len(), 10);
    }

    #[test]
    fn calls_from_many_threads_are_all_counted() {
        let c = std::sync::Arc::new(Counters::default());
        let threads: Vec<_> = (0..4u8)
            .map(|n| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..1000u32 {
                        let a = ip(&format!("10.{n}.{}.1", i % 6));
                        c.record(0, Outcome::Ok, Some(Scope::Query), a);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let h = c.take(0);
        assert_eq!(h.ok, 4000);
        assert_eq!(h.networks.iter().map(|n| n.calls).sum::<u64>(), 4000);
        assert_eq!(h.networks.len(), 24);
    }
}
