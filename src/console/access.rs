//! A key's access as the console shows it (docs/console.md, API Key management: Access): the
//! Access cell, the policy lines and the "used in 30 days" table of Details, and which keys
//! could be narrowed (the attention line). Pure: the keys, their usage and narrowing answers and
//! the catalog come in.

use std::collections::BTreeMap;

use crate::console::format::{self, Tz};
use crate::console::i18n::Catalog;
use crate::console::usage::{IDLE_UNUSED_SECS, count};
use crate::policy::{Policy, ScopeSet};
use crate::sanitize::clean;
use crate::wire::{ApiKey, KeyState, Narrowing, Timestamp, Usage};

/// The Access cell: `full`, `query`, `query+ingest`, then ` R` (a rate limit of its own) and
/// ` A` (an allowlist).
pub fn cell(key: &ApiKey) -> String {
    key.policy.access_label()
}

/// `query, ingest`: the scopes in the API's own words (they are names, not prose).
pub fn scopes_value(p: &Policy) -> String {
    let names: Vec<&str> = ScopeSet::of(&p.scopes)
        .to_vec()
        .into_iter()
        .map(|s| s.as_str())
        .collect();
    names.join(", ")
}

/// `100/s`, `6000/min`, or `none`.
pub fn rate_value(tr: &Catalog, p: &Policy) -> String {
    p.rate_limit
        .map_or_else(|| tr.t("details.rate_none").to_string(), |r| r.to_string())
}

/// `10.0.4.0/24, 10.0.5.0/24`, or `anywhere`.
pub fn allowed_value(tr: &Catalog, p: &Policy) -> String {
    match &p.allowed_cidrs {
        None => tr.t("details.anywhere").to_string(),
        Some(c) => c
            .iter()
            .map(|c| clean(c).into_owned())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Whether the console asks the service for a key's narrowing: keys that can still be used.
/// An expired key never verifies again, and a rotated key's callers move to its successor,
/// which inherits the policy: narrowing either would change nothing that matters.
pub fn probed(key: &ApiKey) -> bool {
    key.state != KeyState::Expired && key.replaced_by.is_none()
}

/// Whether the service's proposal differs from the key's policy (docs/api.md, Narrowing,
/// exactly): compared as sets, so that an order of scopes or networks is no difference.
pub fn could_narrow(n: &Narrowing) -> bool {
    let Some(p) = &n.proposed else {
        return false;
    };
    let sorted = |c: &Option<Vec<String>>| {
        c.as_ref().map(|c| {
            let mut c = c.clone();
            c.sort();
            c
        })
    };
    ScopeSet::of(&p.scopes) != ScopeSet::of(&n.current.scopes)
        || p.rate_limit != n.current.rate_limit
        || sorted(&p.allowed_cidrs) != sorted(&n.current.allowed_cidrs)
}

/// How many of `keys` could be narrowed, from the answers known so far; a key without one
/// (still asked, or the answer failed) is not counted.
pub fn narrowable(keys: &[ApiKey], narrowing: &BTreeMap<String, Narrowing>) -> usize {
    keys.iter()
        .filter(|k| probed(k) && narrowing.get(&k.id).is_some_and(could_narrow))
        .count()
}

/// The attention line's part: `1 key could be narrowed`, `2 keys could be narrowed`.
pub fn narrowable_part(tr: &Catalog, n: usize) -> Option<String> {
    match n {
        0 => None,
        1 => Some(tr.t("attention.one_narrowable").to_string()),
        n => Some(tr.f("attention.many_narrowable", &[("n", &n)])),
    }
}

/// The lines of Details' "used in 30 days" table: the heading, each scope of the key (unused
/// ones with 0, so that what a narrowing would take away shows), calls without a scope
/// (`none`), the networks seen with their calls and last call, `and more` when the service
/// kept only some, and since when this is recorded when that is under 30 days. None from a
/// service that does not record it.
pub fn used_table(
    tr: &Catalog,
    p: &Policy,
    u: &Usage,
    now: Timestamp,
    tz: Tz,
) -> Option<UsedTable> {
    let since = u.recorded_since?;
    let mut scopes: Vec<(String, u64)> = ScopeSet::of(&p.scopes)
        .to_vec()
        .into_iter()
        .map(|s| {
            let n = u.scopes_used.get(s.as_str()).copied().unwrap_or(0);
            (s.as_str().to_string(), n)
        })
        .collect();
    // Calls without a scope, and scopes the key no longer has, come after its own.
    for (name, n) in &u.scopes_used {
        if !scopes.iter().any(|(s, _)| s == name) {
            scopes.push((clean(name).into_owned(), *n));
        }
    }
    let networks = u
        .networks
        .iter()
        .map(|n| {
            (
                clean(&n.network).into_owned(),
                count(tr, n.calls),
                format::last_used(tr, now, Some(n.last_seen)),
            )
        })
        .collect();
    let since = (now.unix() - since.unix() < IDLE_UNUSED_SECS).then(|| {
        let day = format::without_offset(since, tz);
        tr.f(
            "details.recorded_since",
            &[("date", &day.get(..10).unwrap_or(&day))],
        )
    });
    Some(UsedTable {
        scopes: scopes.into_iter().map(|(s, n)| (s, count(tr, n))).collect(),
        networks,
        truncated: u.networks_truncated,
        since,
    })
}

/// What Details' "used in 30 days" table holds, its figures already in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedTable {
    /// (scope, calls).
    pub scopes: Vec<(String, String)>,
    /// (network, calls, last seen).
    pub networks: Vec<(String, String, String)>,
    pub truncated: bool,
    /// `recorded since 2026-11-20`, when that is under 30 days ago.
    pub since: Option<String>,
}

impl UsedTable {
    /// The table as text lines (without its heading): a column of names as wide as the widest,
    /// counts right-aligned, then the last call of a network.
    pub fn lines(&self, tr: &Catalog) -> Vec<String> {
        use crate::console::text::{fit, width};
        let name_w = self
            .scopes
            .iter()
            .map(|(s, _)| width(s))
            .chain(self.networks.iter().map(|(n, _, _)| width(n)))
            .chain([
                width(tr.t("details.col_scope")),
                width(tr.t("details.col_network")),
            ])
            .max()
            .unwrap_or(0);
        let calls_w = self
            .scopes
            .iter()
            .map(|(_, c)| width(c))
            .chain(self.networks.iter().map(|(_, c, _)| width(c)))
            .chain([width(tr.t("details.col_calls"))])
            .max()
            .unwrap_or(0);
        let right = |s: &str| format!("{}{s}", " ".repeat(calls_w.saturating_sub(width(s))));
        let mut out = vec![format!(
            "{}  {}",
            fit(tr.t("details.col_scope"), name_w),
            right(tr.t("details.col_calls"))
        )];
        for (s, c) in &self.scopes {
            out.push(format!("{}  {}", fit(s, name_w), right(c)));
        }
        out.push(format!(
            "{}  {}  {}",
            fit(tr.t("details.col_network"), name_w),
            right(tr.t("details.col_calls")),
            tr.t("details.col_last_seen")
        ));
        if self.networks.is_empty() {
            out.push(tr.t("details.no_networks").to_string());
        }
        for (n, c, last) in &self.networks {
            out.push(format!("{}  {}  {last}", fit(n, name_w), right(c)));
        }
        if self.truncated {
            out.push(tr.t("details.and_more").to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Lang;
    use crate::policy::{RateLimit, Scope};
    use crate::wire::NetworkSeen;

    fn policy(scopes: &[Scope], rate: bool, cidrs: Option<&[&str]>) -> Policy {
        Policy {
            scopes: scopes.to_vec(),
            rate_limit: rate.then_some(RateLimit {
                requests: 100,
                per_seconds: 1,
            }),
            allowed_cidrs: cidrs.map(|c| c.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn answer(current: Policy, proposed: Option<Policy>) -> Narrowing {
        Narrowing {
            current,
            proposed,
            reasons: Vec::new(),
            would_refuse_30d: Some(0),
        }
    }

    #[test]
    fn the_policy_reads_in_words() {
        let tr = Catalog::get(Lang::En);
        let full = Policy::full();
        assert_eq!(scopes_value(&full), "query, ingest, manage");
        assert_eq!(rate_value(tr, &full), "none");
        assert_eq!(allowed_value(tr, &full), "anywhere");
        let p = policy(&[Scope::Query], true, Some(&["10.0.4.0/24", "10.0.5.0/24"]));
        assert_eq!(scopes_value(&p), "query");
        assert_eq!(rate_value(tr, &p), "100/s");
        assert_eq!(allowed_value(tr, &p), "10.0.4.0/24, 10.0.5.0/24");
        assert_eq!(p.access_label(), "query R A");
    }

    #[test]
    fn a_key_could_be_narrowed_only_when_the_proposal_differs() {
        use Scope::*;
        let full = Policy::full();
        assert!(could_narrow(&answer(
            full.clone(),
            Some(policy(&[Query], false, None))
        )));
        assert!(!could_narrow(&answer(full.clone(), Some(full.clone()))));
        // Nothing to propose (no calls since recording began).
        assert!(!could_narrow(&answer(full.clone(), None)));
        // The same networks in another order are no difference.
        let a = policy(&[Query], false, Some(&["10.0.4.0/24", "10.0.5.0/24"]));
        let b = policy(&[Query], false, Some(&["10.0.5.0/24", "10.0.4.0/24"]));
        assert!(!could_narrow(&answer(a.clone(), Some(b))));
        let c = policy(&[Query], false, Some(&["10.0.4.0/24"]));
        assert!(could_narrow(&answer(a, Some(c))));
    }

    #[test]
    fn the_attention_part_counts_listed_usable_keys_only() {
        let tr = Catalog::get(Lang::En);
        let key = |id: &str, state: KeyState, replaced: bool| ApiKey {
            id: id.into(),
            masked: "ragk_Ab01********wXyZ".into(),
            name: None,
            state,
            created_at: Timestamp::from_unix(0),
            created_by: "admin".into(),
            last_used_at: None,
            expires_at: None,
            replaced_by: replaced.then(|| "key_9".to_string()),
            policy: Policy::full(),
            leak: None,
        };
        let keys = vec![
            key("key_1", KeyState::Active, false),
            key("key_2", KeyState::Disabled, false),
            key("key_3", KeyState::Expired, false),
            key("key_4", KeyState::Rotating, true),
            key("key_5", KeyState::Active, false),
        ];
        let narrow = answer(Policy::full(), Some(policy(&[Scope::Query], false, None)));
        let mut map: BTreeMap<String, Narrowing> = ["key_1", "key_2", "key_3", "key_4", "gone"]
            .iter()
            .map(|id| (id.to_string(), narrow.clone()))
            .collect();
        map.insert("key_5".into(), answer(Policy::full(), None));
        assert_eq!(narrowable(&keys, &map), 2);
        assert_eq!(
            narrowable_part(tr, 2).as_deref(),
            Some("2 keys could be narrowed")
        );
        assert_eq!(
            narrowable_part(tr, 1).as_deref(),
            Some("1 key could be narrowed")
        );
        assert_eq!(narrowable_part(tr, 0), None);
    }

    #[test]
    fn the_used_table_lists_every_scope_of_the_key_and_the_networks() {
        let tr = Catalog::get(Lang::En);
        let now = Timestamp::from_unix(1_795_671_470);
        let u = Usage {
            key_id: "key_1".into(),
            scopes_used: [("query".to_string(), 1_204), ("none".to_string(), 3)]
                .into_iter()
                .collect(),
            networks: vec![NetworkSeen {
                network: "10.0.4.0/24".into(),
                calls: 1_204,
                last_seen: Timestamp::from_unix(now.unix() - 180),
            }],
            networks_truncated: true,
            recorded_since: Some(Timestamp::from_unix(now.unix() - 10 * 86_400)),
            ..Default::default()
        };
        let p = policy(&[Scope::Query, Scope::Ingest], false, None);
        let utc = Tz::Fixed(chrono::FixedOffset::east_opt(0).unwrap());
        let t = used_table(tr, &p, &u, now, utc).unwrap();
        assert_eq!(
            t.lines(tr),
            vec![
                "Scope        Calls",
                "query        1,204",
                "ingest           0",
                "none             3",
                "Network      Calls  Last seen",
                "10.0.4.0/24  1,204  3 min ago",
                "and more",
            ]
        );
        assert_eq!(t.since.as_deref(), Some("recorded since 2026-11-16"));
        // A service that records nothing of this: no table.
        let old = Usage {
            recorded_since: None,
            ..u.clone()
        };
        assert_eq!(used_table(tr, &p, &old, now, utc), None);
        // Recorded for 30 days or more: no "since".
        let long = Usage {
            recorded_since: Some(Timestamp::from_unix(now.unix() - 40 * 86_400)),
            ..u
        };
        assert_eq!(used_table(tr, &p, &long, now, utc).unwrap().since, None);
    }
}
