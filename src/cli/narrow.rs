//! `ragkeys keys narrow SVC KEY [--yes]`: the narrowest access a key's use of the last 30 days
//! allows (docs/api.md, Narrowing, exactly), printed as a diff of its policy with the calls
//! behind each line and the impact; applied by an ordinary PATCH of the fields that change
//! (docs/cli.md, Narrowing a key).

use std::io::IsTerminal;

use ipnet::IpNet;

use super::error::CliError;
use super::output::{
    grouped, json_for_terminal, keys_table, local_time, notice, stdout, stdout_json,
};
use super::retry::retry;
use super::{Ctx, confirm};
use crate::policy::{Policy, Scope, ScopeSet};
use crate::sanitize::clean;
use crate::wire::{Narrowing, NarrowingReason, Timestamp, UpdateApiKey, Usage};

pub async fn run(ctx: &Ctx, service_id: &str, key_id: &str, yes: bool) -> Result<(), CliError> {
    let raw = retry(false, |_| {
        ctx.client.narrowing_raw(service_id, key_id, None)
    })
    .await?;
    let n = &raw.value;
    let change = n.proposed.as_ref().and_then(|p| change(&n.current, p));
    if ctx.json {
        stdout_json(&json_for_terminal(&raw.body))?;
    } else if change.is_some() {
        // The counts behind each line of the diff: the key's usage of the same 30 days.
        let usage = retry(false, |_| ctx.client.key_usage(service_id, key_id)).await?;
        stdout(&render(key_id, n, Some(&usage)))?;
    } else {
        stdout(&render(key_id, n, None))?;
    }
    let Some(body) = change else {
        return Ok(());
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            notice(
                "Nothing was changed: stdin is not a terminal; pass --yes to apply this proposal.",
            );
            return Ok(());
        }
        let question = format!(
            "Narrow API key {} to this? Calls outside it are refused from the next verification \
             on.",
            clean(key_id)
        );
        if !confirm::ask(&question)? {
            return Err(confirm::cancelled_unchanged());
        }
    }
    let updated = retry(false, |_| {
        ctx.client.update_key_raw(service_id, key_id, &body)
    })
    .await?;
    // With --json, stdout holds the narrowing answer alone: its `proposed` is what was applied.
    if !ctx.json {
        stdout(&format!(
            "\n{}",
            keys_table(std::slice::from_ref(&updated.value))
        ))?;
    }
    notice(&format!("Narrowed API key {}.", clean(key_id)));
    Ok(())
}

/// The PATCH that turns `current` into `proposed`: only the fields that differ; `None` when
/// nothing does (the proposal is the key's policy already).
pub fn change(current: &Policy, proposed: &Policy) -> Option<UpdateApiKey> {
    let mut body = UpdateApiKey::default();
    if ScopeSet::of(&current.scopes) != ScopeSet::of(&proposed.scopes) {
        body.scopes = Some(ScopeSet::of(&proposed.scopes).to_vec());
    }
    if current.rate_limit != proposed.rate_limit {
        body.rate_limit = Some(proposed.rate_limit);
    }
    if !same_networks(
        current.allowed_cidrs.as_deref(),
        proposed.allowed_cidrs.as_deref(),
    ) {
        body.allowed_cidrs = Some(proposed.allowed_cidrs.clone());
    }
    (!body.is_empty()).then_some(body)
}

/// The same allowlist, whatever the order.
fn same_networks(a: Option<&[String]>, b: Option<&[String]>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            a.sort();
            b.sort();
            a == b
        }
        _ => false,
    }
}

/// The answer for people: the diff and the impact, or why there is nothing to narrow.
pub fn render(key_id: &str, n: &Narrowing, usage: Option<&Usage>) -> String {
    let key_id = clean(key_id);
    let proposed = match &n.proposed {
        Some(p) if change(&n.current, p).is_some() => p,
        Some(_) => {
            return format!(
                "Nothing to narrow: API key {key_id} already has only the access its use of the \
                 last 30 days needs.\n{}",
                notes(&n.reasons, usage)
            );
        }
        None => {
            return format!(
                "Nothing to narrow: there is no proposal for API key {key_id}: {}.\n",
                reasons_text(&n.reasons, usage)
            );
        }
    };
    let mut out =
        format!("Proposed access for API key {key_id}, from its use in the last 30 days:\n\n");
    for line in diff(&n.current, proposed, usage) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    match n.would_refuse_30d {
        Some(0) => {
            out.push_str("Impact: none of the calls of the last 30 days would have been refused.\n")
        }
        Some(c) => out.push_str(&format!(
            "Impact: at most {} of the last 30 days would have been refused.\n",
            calls(c)
        )),
        None => out.push_str(&format!(
            "Impact: cannot be known: {}.\n",
            reasons_text(&n.reasons, usage)
        )),
    }
    if n.would_refuse_30d.is_some() {
        out.push_str(&notes(&n.reasons, usage));
    }
    out
}

/// The policy line by line: `  ` kept, `- ` removed, `+ ` added; scopes with the successful
/// calls that asked for them, networks with the calls seen from inside them.
pub fn diff(current: &Policy, proposed: &Policy, usage: Option<&Usage>) -> Vec<String> {
    let mut lines = Vec::new();
    let (was, will) = (
        ScopeSet::of(&current.scopes),
        ScopeSet::of(&proposed.scopes),
    );
    for s in Scope::ALL {
        let mark = match (was.contains(s), will.contains(s)) {
            (true, true) => ' ',
            (true, false) => '-',
            (false, true) => '+',
            (false, false) => continue,
        };
        let count = usage
            .map(|u| {
                let n = u.scopes_used.get(s.as_str()).copied().unwrap_or(0);
                format!(" ({} in 30 days)", calls(n))
            })
            .unwrap_or_default();
        lines.push(format!("{mark} {s}{count}"));
    }
    let from = |cidr: &str| {
        let count = usage
            .map(|u| format!(" ({})", calls(calls_from(cidr, u))))
            .unwrap_or_default();
        format!("allowed from {}{count}", clean(cidr))
    };
    match (&current.allowed_cidrs, &proposed.allowed_cidrs) {
        (None, None) => lines.push("  allowed from anywhere".into()),
        (None, Some(new)) => {
            lines.push("- allowed from anywhere".into());
            lines.extend(new.iter().map(|c| format!("+ {}", from(c))));
        }
        (Some(old), None) => {
            lines.extend(old.iter().map(|c| format!("- {}", from(c))));
            lines.push("+ allowed from anywhere".into());
        }
        (Some(old), Some(new)) => {
            for c in old {
                let mark = if new.contains(c) { ' ' } else { '-' };
                lines.push(format!("{mark} {}", from(c)));
            }
            for c in new.iter().filter(|c| !old.contains(c)) {
                lines.push(format!("+ {}", from(c)));
            }
        }
    }
    let rate = |r: Option<crate::policy::RateLimit>| {
        r.map_or_else(
            || "no rate limit".to_string(),
            |r| format!("rate limit {r}"),
        )
    };
    if current.rate_limit == proposed.rate_limit {
        lines.push(format!("  {}", rate(current.rate_limit)));
    } else {
        lines.push(format!("- {}", rate(current.rate_limit)));
        lines.push(format!("+ {}", rate(proposed.rate_limit)));
    }
    lines
}

/// Successful calls of the last 30 days from the networks seen that overlap `cidr`.
fn calls_from(cidr: &str, u: &Usage) -> u64 {
    let Ok(net) = cidr.parse::<IpNet>() else {
        return 0;
    };
    u.networks
        .iter()
        .filter_map(|seen| seen.network.parse::<IpNet>().ok().map(|n| (n, seen.calls)))
        .filter(|(n, _)| net.contains(&n.network()) || n.contains(&net.network()))
        .map(|(_, c)| c)
        .sum()
}

/// `0 calls`, `1 call`, `1,204 calls`.
fn calls(n: u64) -> String {
    format!("{} call{}", grouped(n), if n == 1 { "" } else { "s" })
}

/// Every reason, one `Note:` line each.
fn notes(reasons: &[NarrowingReason], usage: Option<&Usage>) -> String {
    reasons
        .iter()
        .map(|r| format!("Note: {}.\n", reason_text(*r, usage)))
        .collect()
}

fn reasons_text(reasons: &[NarrowingReason], usage: Option<&Usage>) -> String {
    if reasons.is_empty() {
        return "the service gave no reason".into();
    }
    let texts: Vec<String> = reasons.iter().map(|r| reason_text(*r, usage)).collect();
    texts.join("; ")
}

/// A reason code in words (docs/api.md, Narrowing, exactly).
fn reason_text(r: NarrowingReason, usage: Option<&Usage>) -> String {
    let since = usage
        .and_then(|u| u.recorded_since.as_ref())
        .map(|t: &Timestamp| format!(" ({})", local_time(t)))
        .unwrap_or_default();
    match r {
        NarrowingReason::NoCallsSinceRecording => {
            format!("it has had no successful call since recording began{since}")
        }
        NarrowingReason::CalledWithoutScope => {
            "some of its calls asked for no scope, so its scopes stay as they are".into()
        }
        NarrowingReason::NetworksTruncated => {
            "it was used from more networks than are kept, so its allowlist stays as it is".into()
        }
        NarrowingReason::HistoryShorterThan30d => {
            format!("recording began less than 30 days ago{since}, so older calls are not counted")
        }
        NarrowingReason::Unknown => "a reason this version of ragkeys does not know".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RateLimit;
    use crate::wire::NetworkSeen;

    fn policy(scopes: &[Scope], cidrs: Option<&[&str]>) -> Policy {
        Policy {
            scopes: scopes.to_vec(),
            rate_limit: None,
            allowed_cidrs: cidrs.map(|c| c.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn usage() -> Usage {
        Usage {
            key_id: "key_x".into(),
            scopes_used: [("query".to_string(), 1_204)].into_iter().collect(),
            networks: vec![NetworkSeen {
                network: "10.0.4.0/24".into(),
                calls: 1_204,
                last_seen: Timestamp::from_unix(1_800_000_000),
            }],
            recorded_since: Some(Timestamp::from_unix(1_790_000_000)),
            ..Default::default()
        }
    }

    fn narrowing(proposed: Option<Policy>, would: Option<u64>) -> Narrowing {
        Narrowing {
            current: Policy::full(),
            proposed,
            reasons: vec![],
            would_refuse_30d: would,
        }
    }

    #[test]
    fn the_proposal_reads_as_a_diff_with_the_calls_behind_each_line() {
        let proposed = policy(&[Scope::Query], Some(&["10.0.4.0/24"]));
        let text = render("key_x", &narrowing(Some(proposed), Some(0)), Some(&usage()));
        let want = "\
  query (1,204 calls in 30 days)
- ingest (0 calls in 30 days)
- manage (0 calls in 30 days)
- allowed from anywhere
+ allowed from 10.0.4.0/24 (1,204 calls)
  no rate limit
";
        assert!(text.contains(want), "{text}");
        assert!(
            text.contains("Impact: none of the calls of the last 30 days would have been refused."),
            "{text}"
        );
    }

    #[test]
    fn allowlists_keep_add_and_remove_line_by_line() {
        let old = Policy {
            rate_limit: Some(RateLimit {
                requests: 5,
                per_seconds: 1,
            }),
            ..policy(&[Scope::Query], Some(&["10.0.0.0/8", "192.0.2.7/32"]))
        };
        let new = Policy {
            rate_limit: Some(RateLimit {
                requests: 5,
                per_seconds: 1,
            }),
            ..policy(&[Scope::Query], Some(&["10.0.4.0/24"]))
        };
        let lines = diff(&old, &new, Some(&usage()));
        assert_eq!(
            lines,
            [
                "  query (1,204 calls in 30 days)",
                "- allowed from 10.0.0.0/8 (1,204 calls)",
                "- allowed from 192.0.2.7/32 (0 calls)",
                "+ allowed from 10.0.4.0/24 (1,204 calls)",
                "  rate limit 5/s",
            ]
        );
        assert_eq!(
            diff(&new, &policy(&[Scope::Query], None), None)[1..],
            [
                "- allowed from 10.0.4.0/24",
                "+ allowed from anywhere",
                "- rate limit 5/s",
                "+ no rate limit"
            ]
        );
    }

    #[test]
    fn the_patch_holds_only_what_changes() {
        let full = Policy::full();
        let q = policy(&[Scope::Query], Some(&["10.0.4.0/24"]));
        let body = change(&full, &q).unwrap();
        assert_eq!(body.scopes, Some(vec![Scope::Query]));
        assert_eq!(body.allowed_cidrs, Some(Some(vec!["10.0.4.0/24".into()])));
        assert_eq!(body.rate_limit, None);
        assert_eq!(body.name, None);
        let only_networks = policy(&Scope::ALL, Some(&["10.0.4.0/24"]));
        assert_eq!(change(&full, &only_networks).unwrap().scopes, None);
        assert!(change(&full, &Policy::full()).is_none());
        let a = policy(&[Scope::Query], Some(&["10.0.4.0/24", "10.0.5.0/24"]));
        let b = policy(&[Scope::Query], Some(&["10.0.5.0/24", "10.0.4.0/24"]));
        assert!(
            change(&a, &b).is_none(),
            "the order of networks is no change"
        );
    }

    #[test]
    fn no_proposal_or_the_same_policy_is_nothing_to_narrow() {
        let none = Narrowing {
            reasons: vec![NarrowingReason::NoCallsSinceRecording],
            ..narrowing(None, None)
        };
        let text = render("key_x", &none, None);
        assert!(
            text.starts_with("Nothing to narrow") && text.contains("no successful call"),
            "{text}"
        );
        let same = Narrowing {
            reasons: vec![NarrowingReason::CalledWithoutScope],
            ..narrowing(Some(Policy::full()), Some(0))
        };
        let text = render("key_x", &same, None);
        assert!(text.starts_with("Nothing to narrow"), "{text}");
        assert!(
            text.contains("Note: some of its calls asked for no scope"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_impact_says_why() {
        let n = Narrowing {
            reasons: vec![
                NarrowingReason::NetworksTruncated,
                NarrowingReason::HistoryShorterThan30d,
            ],
            ..narrowing(Some(policy(&[Scope::Query], None)), None)
        };
        let text = render("key_x", &n, Some(&usage()));
        let impact = text.lines().find(|l| l.starts_with("Impact:")).unwrap();
        assert!(
            impact.contains("cannot be known")
                && impact.contains("more networks than are kept")
                && impact.contains("less than 30 days"),
            "{text}"
        );
        let some = narrowing(Some(policy(&[Scope::Query], None)), Some(1_204));
        let text = render("key_x", &some, Some(&usage()));
        assert!(
            text.contains(
                "Impact: at most 1,204 calls of the last 30 days would have been refused."
            ),
            "{text}"
        );
    }
}
