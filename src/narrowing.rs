//! Least privilege from observed use (docs/api.md, Narrowing, exactly): the narrowest policy a
//! key's last 30 days of successful calls allow, and how many of those calls a policy would
//! have refused. Pure: the service answers `GET …/narrowing` with it, and a client holding a
//! key's usage can tell the same way whether the key could be narrowed.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::policy::{MAX_ALLOWED_CIDRS, Policy, Scope, ScopeSet};
use crate::wire::{Narrowing, NarrowingCandidate, NarrowingReason, NetworkSeen, Usage};

/// The span of history the figures stand for: 30 days, in seconds.
pub const HISTORY_SECS: i64 = 30 * 86_400;

/// The name under which `scopes_used` counts calls that asked for no scope.
pub const NO_SCOPE: &str = "none";

/// The key's proposal or `candidate` judged against its usage, at `now` (unix seconds).
/// Without a candidate: the proposal, `null` when there is nothing to propose. With one: that
/// candidate, whatever the usage.
pub fn judge(
    current: &Policy,
    usage: &Usage,
    now: i64,
    candidate: Option<&NarrowingCandidate>,
) -> Narrowing {
    let calls = total_calls(&usage.scopes_used);
    let mut reasons = Vec::new();
    if calls == 0 {
        reasons.push(NarrowingReason::NoCallsSinceRecording);
    } else {
        if usage.scopes_used.get(NO_SCOPE).is_some_and(|n| *n > 0) {
            reasons.push(NarrowingReason::CalledWithoutScope);
        }
        if usage.networks_truncated {
            reasons.push(NarrowingReason::NetworksTruncated);
        }
    }
    if usage
        .recorded_since
        .is_none_or(|since| now - since.unix() < HISTORY_SECS)
    {
        reasons.push(NarrowingReason::HistoryShorterThan30d);
    }
    let proposed = match candidate {
        Some(c) => Some(apply(current, c)),
        None if calls == 0 => None,
        None => Some(propose(current, usage)),
    };
    let would_refuse_30d = proposed
        .as_ref()
        .and_then(|p| would_refuse(current, p, usage));
    Narrowing {
        current: current.clone(),
        proposed,
        reasons,
        would_refuse_30d,
    }
}

/// Whether the key could be narrowed: it has calls to go by and its proposal differs from its
/// policy (docs/api.md, Narrowing, exactly).
pub fn could_be_narrowed(current: &Policy, usage: &Usage) -> bool {
    total_calls(&usage.scopes_used) > 0 && propose(current, usage) != *current
}

/// The candidate as a whole policy: an absent field keeps the current value.
pub fn apply(current: &Policy, c: &NarrowingCandidate) -> Policy {
    Policy {
        scopes: c
            .scopes
            .as_ref()
            .map_or_else(|| current.scopes.clone(), |s| ScopeSet::of(s).to_vec()),
        rate_limit: current.rate_limit,
        allowed_cidrs: c
            .allowed_cidrs
            .clone()
            .unwrap_or_else(|| current.allowed_cidrs.clone()),
    }
}

/// Successful calls of the 30 days, whatever scope they asked for.
fn total_calls(scopes_used: &BTreeMap<String, u64>) -> u64 {
    scopes_used.values().fold(0, |a, n| a.saturating_add(*n))
}

/// The proposal for a key that has calls: the scopes it was called with and the networks it was
/// called from, each within the current policy; the rate limit kept.
pub fn propose(current: &Policy, usage: &Usage) -> Policy {
    Policy {
        scopes: proposed_scopes(current, &usage.scopes_used),
        rate_limit: current.rate_limit,
        allowed_cidrs: proposed_cidrs(current, usage),
    }
}

fn proposed_scopes(current: &Policy, scopes_used: &BTreeMap<String, u64>) -> Vec<Scope> {
    // A call without a scope says nothing of what it needs: removing any could break it.
    if scopes_used.get(NO_SCOPE).is_some_and(|n| *n > 0) {
        return current.scopes.clone();
    }
    let allowed = ScopeSet::of(&current.scopes);
    let used: Vec<Scope> = scopes_used
        .iter()
        .filter(|(_, n)| **n > 0)
        .filter_map(|(name, _)| Scope::parse(name))
        .filter(|s| allowed.contains(*s))
        .collect();
    // Calls only with scopes the key has since lost: nothing left to keep but what it has.
    if used.is_empty() {
        return current.scopes.clone();
    }
    ScopeSet::of(&used).to_vec()
}

fn parse_all(cidrs: &[String]) -> Vec<IpNet> {
    cidrs.iter().filter_map(|c| c.parse().ok()).collect()
}

/// The common part of two networks: the smaller, when one holds the other (CIDR blocks either
/// nest or do not meet).
fn intersect(a: IpNet, b: IpNet) -> Option<IpNet> {
    if a.contains(&b) {
        Some(b)
    } else if b.contains(&a) {
        Some(a)
    } else {
        None
    }
}

/// Where the calls counted under `seen` can have come from: `seen` within the current
/// allowlist (a call it refused was not successful), or all of `seen` without one, or when the
/// allowlist has changed since and no longer meets it.
fn region(seen: IpNet, current: Option<&[IpNet]>) -> Vec<IpNet> {
    match current {
        None => vec![seen],
        Some(list) => {
            let r: Vec<IpNet> = list.iter().filter_map(|c| intersect(seen, *c)).collect();
            if r.is_empty() { vec![seen] } else { r }
        }
    }
}

fn seen_networks(networks: &[NetworkSeen]) -> impl Iterator<Item = (IpNet, u64)> + '_ {
    networks
        .iter()
        .filter(|n| n.calls > 0)
        .filter_map(|n| n.network.parse::<IpNet>().ok().map(|net| (net, n.calls)))
}

fn proposed_cidrs(current: &Policy, usage: &Usage) -> Option<Vec<String>> {
    // Networks left out of the list may be in use: the allowlist cannot be drawn from it.
    if usage.networks_truncated {
        return current.allowed_cidrs.clone();
    }
    let now = current.allowed_cidrs.as_deref().map(parse_all);
    let mut out: Vec<IpNet> = Vec::new();
    for (seen, _) in seen_networks(&usage.networks) {
        let pieces = match &now {
            None => vec![seen],
            Some(list) => list.iter().filter_map(|c| intersect(seen, *c)).collect(),
        };
        for p in pieces {
            if !out.iter().any(|o| o.contains(&p)) {
                out.retain(|o| !p.contains(o));
                out.push(p);
            }
        }
    }
    if out.is_empty() || out.len() > MAX_ALLOWED_CIDRS {
        return current.allowed_cidrs.clone();
    }
    Some(out.iter().map(IpNet::to_string).collect())
}

/// An upper bound of the successful calls of the 30 days that `p` would have refused: calls
/// asking for a scope it lacks, plus calls from networks it does not allow (a call may be
/// counted twice, never more than all calls). `None` when the networks were truncated and `p`
/// allows less than the current allowlist: the calls from networks not listed are unknown.
pub fn would_refuse(current: &Policy, p: &Policy, usage: &Usage) -> Option<u64> {
    let scopes = ScopeSet::of(&p.scopes);
    let by_scope = usage
        .scopes_used
        .iter()
        .filter(|(name, _)| Scope::parse(name).is_some_and(|s| !scopes.contains(s)))
        .fold(0u64, |a, (_, n)| a.saturating_add(*n));
    let by_network = match &p.allowed_cidrs {
        None => 0,
        Some(allowed) => {
            let allowed = parse_all(allowed);
            let now = current.allowed_cidrs.as_deref().map(parse_all);
            let covered = |net: &IpNet| allowed.iter().any(|a| a.contains(net));
            if usage.networks_truncated {
                let keeps_current = now.as_ref().is_some_and(|list| list.iter().all(covered));
                if !keeps_current {
                    return None;
                }
            }
            seen_networks(&usage.networks)
                .filter(|(seen, _)| !region(*seen, now.as_deref()).iter().all(covered))
                .fold(0u64, |a, (_, n)| a.saturating_add(n))
        }
    };
    Some(
        by_scope
            .saturating_add(by_network)
            .min(total_calls(&usage.scopes_used)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RateLimit;
    use crate::wire::Timestamp;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn policy(scopes: &[Scope], cidrs: Option<&[&str]>) -> Policy {
        Policy {
            scopes: scopes.to_vec(),
            rate_limit: Some(RateLimit {
                requests: 5,
                per_seconds: 1,
            }),
            allowed_cidrs: cidrs.map(|c| c.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn usage(scopes: &[(&str, u64)], networks: &[(&str, u64)], since_days: i64) -> Usage {
        Usage {
            scopes_used: scopes.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
            networks: networks
                .iter()
                .map(|(net, calls)| NetworkSeen {
                    network: net.to_string(),
                    calls: *calls,
                    last_seen: Timestamp::from_unix(NOW - 60),
                })
                .collect(),
            recorded_since: Some(Timestamp::from_unix(NOW - since_days * DAY)),
            ..Usage::default()
        }
    }

    const ALL: &[Scope] = &[Scope::Query, Scope::Ingest, Scope::Manage];

    #[test]
    fn reasons_are_the_codes_of_the_api() {
        let all = [
            NarrowingReason::NoCallsSinceRecording,
            NarrowingReason::CalledWithoutScope,
            NarrowingReason::NetworksTruncated,
            NarrowingReason::HistoryShorterThan30d,
        ];
        assert_eq!(
            serde_json::to_value(all).unwrap(),
            serde_json::json!([
                "no_calls_since_recording",
                "called_without_scope",
                "networks_truncated",
                "history_shorter_than_30d"
            ])
        );
        let back: Vec<NarrowingReason> =
            serde_json::from_str(r#"["history_shorter_than_30d","something_new"]"#).unwrap();
        assert_eq!(
            back,
            [
                NarrowingReason::HistoryShorterThan30d,
                NarrowingReason::Unknown
            ]
        );
    }

    #[test]
    fn a_key_used_only_to_query_from_one_network_is_proposed_exactly_that() {
        let current = policy(ALL, None);
        let u = usage(&[("query", 1204)], &[("10.0.4.0/24", 1204)], 40);
        let n = judge(&current, &u, NOW, None);
        let p = n.proposed.clone().unwrap();
        assert_eq!(p.scopes, [Scope::Query]);
        assert_eq!(p.allowed_cidrs, Some(vec!["10.0.4.0/24".to_string()]));
        // The rate limit stays as it is.
        assert_eq!(p.rate_limit, current.rate_limit);
        assert_eq!(n.reasons, []);
        assert_eq!(n.would_refuse_30d, Some(0));
        assert_eq!(n.current, current);
        assert!(could_be_narrowed(&current, &u));
        assert!(!could_be_narrowed(&p, &u));
    }

    #[test]
    fn a_proposal_never_allows_what_the_current_allowlist_refuses() {
        let u = usage(&[("query", 10)], &[("10.0.4.0/24", 10)], 40);
        let wide = policy(ALL, Some(&["10.0.0.0/8"]));
        let p = judge(&wide, &u, NOW, None).proposed.unwrap();
        assert_eq!(p.allowed_cidrs, Some(vec!["10.0.4.0/24".to_string()]));
        let one = policy(ALL, Some(&["10.0.4.17/32"]));
        let n = judge(&one, &u, NOW, None);
        assert_eq!(
            n.proposed.unwrap().allowed_cidrs,
            Some(vec!["10.0.4.17/32".to_string()])
        );
        assert_eq!(n.would_refuse_30d, Some(0));
        // Two allowed hosts inside the network seen: both stay, nothing else comes in.
        let two = policy(ALL, Some(&["10.0.4.17/32", "10.0.4.18/32", "192.0.2.0/24"]));
        assert_eq!(
            judge(&two, &u, NOW, None).proposed.unwrap().allowed_cidrs,
            Some(vec!["10.0.4.17/32".to_string(), "10.0.4.18/32".to_string()])
        );
    }

    #[test]
    fn calls_without_a_scope_keep_the_scopes() {
        let current = policy(&[Scope::Query, Scope::Ingest], None);
        let u = usage(
            &[("query", 5), ("none", 2)],
            &[("2001:db8:1:2::/64", 7)],
            40,
        );
        let n = judge(&current, &u, NOW, None);
        assert_eq!(n.reasons, [NarrowingReason::CalledWithoutScope]);
        let p = n.proposed.unwrap();
        assert_eq!(p.scopes, current.scopes);
        assert_eq!(p.allowed_cidrs, Some(vec!["2001:db8:1:2::/64".to_string()]));
        // Calls without a scope are never refused by scopes.
        let only_ingest = policy(&[Scope::Ingest], None);
        assert_eq!(would_refuse(&current, &only_ingest, &u), Some(5));
    }

    #[test]
    fn truncated_networks_keep_the_allowlist_and_make_a_narrower_one_unknowable() {
        let current = policy(ALL, Some(&["10.0.0.0/8"]));
        let mut u = usage(&[("ingest", 50)], &[("10.0.4.0/24", 30)], 40);
        u.networks_truncated = true;
        let n = judge(&current, &u, NOW, None);
        assert_eq!(n.reasons, [NarrowingReason::NetworksTruncated]);
        let p = n.proposed.unwrap();
        assert_eq!(p.allowed_cidrs, current.allowed_cidrs);
        assert_eq!(p.scopes, [Scope::Ingest]);
        assert_eq!(n.would_refuse_30d, Some(0));
        let narrower = NarrowingCandidate {
            allowed_cidrs: Some(Some(vec!["10.0.4.0/24".into()])),
            ..Default::default()
        };
        let n = judge(&current, &u, NOW, Some(&narrower));
        assert_eq!(n.would_refuse_30d, None);
        assert!(n.reasons.contains(&NarrowingReason::NetworksTruncated));
        // Anywhere, or a wider list, refuses nothing more by address even so.
        let any = NarrowingCandidate {
            allowed_cidrs: Some(None),
            ..Default::default()
        };
        assert_eq!(
            judge(&current, &u, NOW, Some(&any)).would_refuse_30d,
            Some(0)
        );
        let wider = NarrowingCandidate {
            allowed_cidrs: Some(Some(vec!["10.0.0.0/7".into()])),
            scopes: Some(vec![Scope::Query]),
        };
        assert_eq!(
            judge(&current, &u, NOW, Some(&wider)).would_refuse_30d,
            Some(50)
        );
    }

    #[test]
    fn no_calls_means_no_proposal_and_a_short_history_is_said() {
        let current = policy(ALL, None);
        let u = usage(&[], &[], 3);
        let n = judge(&current, &u, NOW, None);
        assert_eq!(n.proposed, None);
        assert_eq!(n.would_refuse_30d, None);
        assert_eq!(
            n.reasons,
            [
                NarrowingReason::NoCallsSinceRecording,
                NarrowingReason::HistoryShorterThan30d
            ]
        );
        assert!(!could_be_narrowed(&current, &u));
        // A candidate is judged all the same: nothing was called, nothing would be refused.
        let c = NarrowingCandidate {
            scopes: Some(vec![Scope::Query]),
            ..Default::default()
        };
        let n = judge(&current, &u, NOW, Some(&c));
        assert_eq!(n.proposed.unwrap().scopes, [Scope::Query]);
        assert_eq!(n.would_refuse_30d, Some(0));
        // Exactly 30 days of history is not shorter; a day less is.
        let u = usage(&[("query", 1)], &[("10.0.4.0/24", 1)], 30);
        assert_eq!(judge(&current, &u, NOW, None).reasons, []);
        let u = usage(&[("query", 1)], &[("10.0.4.0/24", 1)], 29);
        assert_eq!(
            judge(&current, &u, NOW, None).reasons,
            [NarrowingReason::HistoryShorterThan30d]
        );
        let unknown = Usage {
            recorded_since: None,
            ..u
        };
        assert!(
            judge(&current, &unknown, NOW, None)
                .reasons
                .contains(&NarrowingReason::HistoryShorterThan30d)
        );
    }

    #[test]
    fn a_candidate_counts_the_calls_it_would_refuse_by_scope_and_by_network() {
        let current = policy(ALL, None);
        let u = usage(
            &[("query", 100), ("ingest", 20), ("manage", 3)],
            &[("10.0.4.0/24", 110), ("192.0.2.0/24", 13)],
            40,
        );
        let c = NarrowingCandidate {
            scopes: Some(vec![Scope::Query, Scope::Ingest]),
            allowed_cidrs: Some(Some(vec!["10.0.0.0/8".into()])),
        };
        let n = judge(&current, &u, NOW, Some(&c));
        let p = n.proposed.unwrap();
        assert_eq!(p.scopes, [Scope::Query, Scope::Ingest]);
        assert_eq!(p.allowed_cidrs, Some(vec!["10.0.0.0/8".to_string()]));
        assert_eq!(p.rate_limit, current.rate_limit);
        // 3 manage calls, 13 calls from 192.0.2.0/24.
        assert_eq!(n.would_refuse_30d, Some(16));
        // Part of a network seen counts all of its calls (an upper bound), never more than all.
        let host = NarrowingCandidate {
            scopes: Some(vec![Scope::Manage]),
            allowed_cidrs: Some(Some(vec!["10.0.4.17/32".into()])),
        };
        assert_eq!(
            judge(&current, &u, NOW, Some(&host)).would_refuse_30d,
            Some(123)
        );
        // An absent parameter keeps the current value.
        let keep = NarrowingCandidate::default();
        let n = judge(&current, &u, NOW, Some(&keep));
        assert_eq!(n.proposed.unwrap(), current);
        assert_eq!(n.would_refuse_30d, Some(0));
    }

    #[test]
    fn calls_from_before_an_allowlist_changed_are_judged_by_their_whole_network() {
        // Seen from 192.0.2.0/24 under an earlier policy; the allowlist no longer meets it.
        let current = policy(ALL, Some(&["10.0.4.0/24"]));
        let u = usage(
            &[("query", 12)],
            &[("10.0.4.0/24", 10), ("192.0.2.0/24", 2)],
            40,
        );
        let n = judge(&current, &u, NOW, None);
        assert_eq!(
            n.proposed.unwrap().allowed_cidrs,
            Some(vec!["10.0.4.0/24".to_string()])
        );
        assert_eq!(n.would_refuse_30d, Some(2));
    }
}
