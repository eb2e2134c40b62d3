//! What Edit access says about a change before it is saved (docs/console.md, Access): the
//! difference line by line, each with the calls of the last 30 days it concerns (`- ingest (0
//! calls in 30 days)`, `+ allowed from 10.0.4.0/24 (1,204 calls)`), the reasons the service gives
//! for a partial or missing proposal, and the impact line. Pure: the policies, the usage and the
//! catalog come in.

use ipnet::IpNet;

use crate::console::i18n::Catalog;
use crate::console::text::Tone;
use crate::console::usage::count;
use crate::policy::{Policy, Scope, ScopeSet};
use crate::wire::{Narrowing, NarrowingCandidate, NarrowingReason, Usage};

/// What the impact line asks the service about: the scopes and the allowlist where `new`
/// differs from `current` (an absent part keeps the current one); `None` when neither does.
/// A rate limit is not part of it: the service counts no past call against a rate.
pub fn candidate(current: &Policy, new: &Policy) -> Option<NarrowingCandidate> {
    let scopes =
        (ScopeSet::of(&new.scopes) != ScopeSet::of(&current.scopes)).then(|| new.scopes.clone());
    let cidrs = (!same_cidrs(&current.allowed_cidrs, &new.allowed_cidrs))
        .then(|| new.allowed_cidrs.clone());
    (scopes.is_some() || cidrs.is_some()).then_some(NarrowingCandidate {
        scopes,
        allowed_cidrs: cidrs,
    })
}

/// Two allowlists as sets: the order they were typed in changes nothing.
pub fn same_cidrs(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> bool {
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v
    };
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => sorted(a) == sorted(b),
        _ => false,
    }
}

/// Whether `new` changes anything of `current`.
pub fn changed(current: &Policy, new: &Policy) -> bool {
    candidate(current, new).is_some() || current.rate_limit != new.rate_limit
}

/// ` (1,204 calls)`, ` (1 call)`, ` (up to 12 calls)`, or nothing when the usage is not known.
fn calls(tr: &Catalog, n: Option<(u64, bool)>) -> String {
    match n {
        None => String::new(),
        Some((n, true)) => tr.f("access.calls_up_to", &[("n", &count(tr, n))]),
        Some((1, false)) => tr.t("access.calls_one").to_string(),
        Some((n, false)) => tr.f("access.calls", &[("n", &count(tr, n))]),
    }
}

/// The successful calls of the last 30 days from networks inside `cidr`; `true` when some
/// network only overlaps it (a /32 inside a /24 seen): then it is an upper bound.
fn network_calls(u: &Usage, cidr: &str) -> (u64, bool) {
    let Ok(cidr) = cidr.parse::<IpNet>() else {
        return (0, false);
    };
    u.networks
        .iter()
        .filter_map(|n| n.network.parse::<IpNet>().ok().map(|net| (net, n.calls)))
        .fold((0, false), |(sum, partial), (net, calls)| {
            if cidr.contains(&net) {
                (sum + calls, partial)
            } else if net.contains(&cidr) {
                (sum + calls, true)
            } else {
                (sum, partial)
            }
        })
}

/// The difference from `current` to `new`, line by line: scopes removed (with their calls of
/// the last 30 days) and added, allowlist entries removed and added (with the calls from
/// them), the rate limit before and after. A removal that refuses calls seen is a caution.
pub fn lines(
    tr: &Catalog,
    current: &Policy,
    new: &Policy,
    usage: Option<&Usage>,
) -> Vec<(String, Tone)> {
    let mut out = Vec::new();
    let (old_set, new_set) = (ScopeSet::of(&current.scopes), ScopeSet::of(&new.scopes));
    for s in Scope::ALL {
        let name = s.as_str();
        if old_set.contains(s) && !new_set.contains(s) {
            let n = usage.map(|u| u.scopes_used.get(name).copied().unwrap_or(0));
            let suffix = match n {
                None => String::new(),
                Some(1) => tr.t("access.calls_30d_one").to_string(),
                Some(n) => tr.f("access.calls_30d", &[("n", &count(tr, n))]),
            };
            let tone = if n.unwrap_or(0) > 0 {
                Tone::Caution
            } else {
                Tone::Normal
            };
            out.push((format!("- {name}{suffix}"), tone));
        } else if new_set.contains(s) && !old_set.contains(s) {
            out.push((format!("+ {name}"), Tone::Normal));
        }
    }
    if !same_cidrs(&current.allowed_cidrs, &new.allowed_cidrs) {
        let old = current.allowed_cidrs.clone().unwrap_or_default();
        let new_list = new.allowed_cidrs.clone().unwrap_or_default();
        let line = |sign: &str, cidr: &str| {
            let n = usage.map(|u| network_calls(u, cidr));
            let text = tr.f(
                "access.diff_allowed",
                &[("cidr", &cidr), ("calls", &calls(tr, n))],
            );
            let refuses = sign == "-" && new.allowed_cidrs.is_some() && n.is_some_and(|n| n.0 > 0);
            let tone = if refuses { Tone::Caution } else { Tone::Normal };
            (format!("{sign} {text}"), tone)
        };
        out.extend(
            old.iter()
                .filter(|c| !new_list.contains(c))
                .map(|c| line("-", c)),
        );
        if new.allowed_cidrs.is_none() {
            out.push((format!("+ {}", tr.t("access.diff_anywhere")), Tone::Normal));
        }
        out.extend(
            new_list
                .iter()
                .filter(|c| !old.contains(c))
                .map(|c| line("+", c)),
        );
    }
    if current.rate_limit != new.rate_limit {
        let rate = |sign: &str, r: &crate::policy::RateLimit| {
            let text = tr.f("access.diff_rate", &[("rate", r)]);
            (format!("{sign} {text}"), Tone::Normal)
        };
        out.extend(current.rate_limit.iter().map(|r| rate("-", r)));
        out.extend(new.rate_limit.iter().map(|r| rate("+", r)));
    }
    out
}

/// A reason of the service's, in words.
pub fn reason(tr: &Catalog, r: NarrowingReason) -> String {
    let key = match r {
        NarrowingReason::NoCallsSinceRecording => "access.reason_no_calls",
        NarrowingReason::CalledWithoutScope => "access.reason_without_scope",
        NarrowingReason::NetworksTruncated => "access.reason_truncated",
        NarrowingReason::HistoryShorterThan30d => "access.reason_history",
        NarrowingReason::Unknown => "access.reason_unknown",
    };
    tr.t(key).to_string()
}

/// The impact line of a change judged by the service: the calls of the last 30 days it would
/// have refused, or why that cannot be known, followed by the reasons that qualify the figure.
pub fn impact(tr: &Catalog, answer: &Narrowing) -> Vec<(String, Tone)> {
    let head = match answer.would_refuse_30d {
        Some(0) => (tr.t("access.impact_none").to_string(), Tone::Normal),
        Some(1) => (tr.t("access.impact_one").to_string(), Tone::Caution),
        Some(n) => (
            tr.f("access.impact", &[("n", &count(tr, n))]),
            Tone::Caution,
        ),
        None => (tr.t("access.impact_unknown").to_string(), Tone::Dim),
    };
    let mut out = vec![head];
    out.extend(answer.reasons.iter().map(|r| (reason(tr, *r), Tone::Dim)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Lang;
    use crate::wire::{NetworkSeen, Timestamp};

    fn usage() -> Usage {
        Usage {
            scopes_used: [("query".to_string(), 1204)].into_iter().collect(),
            networks: vec![NetworkSeen {
                network: "10.0.4.0/24".into(),
                calls: 1204,
                last_seen: Timestamp::from_unix(0),
            }],
            ..Usage::default()
        }
    }

    #[test]
    fn a_proposal_reads_line_by_line_with_its_calls() {
        let tr = Catalog::get(Lang::En);
        let proposed = Policy {
            scopes: vec![Scope::Query],
            rate_limit: None,
            allowed_cidrs: Some(vec!["10.0.4.0/24".into()]),
        };
        let l: Vec<String> = lines(tr, &Policy::full(), &proposed, Some(&usage()))
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(
            l,
            [
                "- ingest (0 calls in 30 days)",
                "- manage (0 calls in 30 days)",
                "+ allowed from 10.0.4.0/24 (1,204 calls)",
            ]
        );
        // Without the usage, the same lines without figures.
        let l = lines(tr, &Policy::full(), &proposed, None);
        assert_eq!(l[0].0, "- ingest");
        let c = candidate(&Policy::full(), &proposed).unwrap_or_default();
        assert_eq!(c.query(), "scopes=query&allowed_cidrs=10.0.4.0%2F24");
    }

    #[test]
    fn back_to_anywhere_and_a_new_rate_read_as_such() {
        let tr = Catalog::get(Lang::En);
        let current = Policy {
            scopes: vec![Scope::Query],
            rate_limit: None,
            allowed_cidrs: Some(vec!["10.0.4.17/32".into()]),
        };
        let new = Policy {
            rate_limit: crate::policy::RateLimit::parse("100/s").ok(),
            allowed_cidrs: None,
            ..current.clone()
        };
        let l: Vec<String> = lines(tr, &current, &new, Some(&usage()))
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(
            l,
            [
                "- allowed from 10.0.4.17/32 (up to 1,204 calls)",
                "+ allowed from anywhere",
                "+ rate limit 100/s",
            ]
        );
        assert_eq!(
            candidate(&current, &new),
            Some(NarrowingCandidate {
                scopes: None,
                allowed_cidrs: Some(None)
            })
        );
        let rate_only = Policy {
            allowed_cidrs: current.allowed_cidrs.clone(),
            ..new
        };
        assert_eq!(candidate(&current, &rate_only), None);
        assert!(changed(&current, &rate_only));
    }
}
