//! What a key may do, on the command line (docs/cli.md, Access): the flags of `keys issue` and
//! `keys update` turned into the API's fields, and a key's policy as people read it.

use super::error::CliError;
use crate::args::{KeysCommand, PolicyArgs};
use crate::policy::{MAX_ALLOWED_CIDRS, Policy, RateLimit, Scope, ScopeSet};

/// The access fields of an issue: absent where no flag was given (the service's defaults: every
/// scope, no rate limit, from anywhere).
#[derive(Debug, Default, PartialEq)]
pub struct IssueFields {
    pub scopes: Option<Vec<Scope>>,
    pub rate_limit: Option<RateLimit>,
    pub allowed_cidrs: Option<Vec<String>>,
}

/// The access fields of a PATCH: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default, PartialEq)]
pub struct UpdateFields {
    pub scopes: Option<Vec<Scope>>,
    pub rate_limit: Option<Option<RateLimit>>,
    pub allowed_cidrs: Option<Option<Vec<String>>>,
}

/// Refuses (exit 2) what clap cannot see value by value, before anything connects: more
/// networks than an allowlist holds.
pub fn check(cmd: &KeysCommand) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Issue { policy, .. } | KeysCommand::Update { policy, .. } => {
            issue_fields(policy).map(|_| ())
        }
        _ => Ok(()),
    }
}

/// `--scope`, `--rate` and `--allow` as an issue sends them: scopes in the API's order, each
/// once; networks canonical, each once, in the order given.
pub fn issue_fields(p: &PolicyArgs) -> Result<IssueFields, CliError> {
    Ok(IssueFields {
        scopes: (!p.scope.is_empty()).then(|| ScopeSet::of(&p.scope).to_vec()),
        rate_limit: p.rate,
        allowed_cidrs: allowlist(p)?,
    })
}

/// [`issue_fields`] plus update's `--all-scopes`, `--no-rate` and `--allow-any` (clap keeps
/// each apart from its counterpart).
pub fn update_fields(
    p: &PolicyArgs,
    all_scopes: bool,
    no_rate: bool,
    allow_any: bool,
) -> Result<UpdateFields, CliError> {
    let given = issue_fields(p)?;
    Ok(UpdateFields {
        scopes: if all_scopes {
            Some(Scope::ALL.to_vec())
        } else {
            given.scopes
        },
        rate_limit: if no_rate {
            Some(None)
        } else {
            given.rate_limit.map(Some)
        },
        allowed_cidrs: if allow_any {
            Some(None)
        } else {
            given.allowed_cidrs.map(Some)
        },
    })
}

fn allowlist(p: &PolicyArgs) -> Result<Option<Vec<String>>, CliError> {
    if p.allow.is_empty() {
        return Ok(None);
    }
    let mut out: Vec<String> = Vec::with_capacity(p.allow.len());
    for net in &p.allow {
        let c = net.to_string();
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.len() > MAX_ALLOWED_CIDRS {
        return Err(CliError::usage(format!(
            "--allow takes at most {MAX_ALLOWED_CIDRS} networks ({} given): a key's allowlist \
             holds 1 to {MAX_ALLOWED_CIDRS}",
            out.len()
        )));
    }
    Ok(Some(out))
}

/// `query, ingest`.
pub fn scopes_text(scopes: &[Scope]) -> String {
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    names.join(", ")
}

/// `100/s`, or `none`.
pub fn rate_text(rate: Option<RateLimit>) -> String {
    rate.map_or_else(|| "none".into(), |r| r.to_string())
}

/// `10.0.0.0/8, 192.0.2.7/32`, or `anywhere`.
pub fn allowed_text(cidrs: Option<&[String]>) -> String {
    cidrs.map_or_else(|| "anywhere".into(), |c| c.join(", "))
}

/// A key's policy as labelled values, for a view of one key (`keys whois`).
pub fn policy_rows(p: &Policy) -> [(&'static str, String); 3] {
    [
        ("Scopes", scopes_text(&p.scopes)),
        ("Rate limit", rate_text(p.rate_limit)),
        ("Allowed from", allowed_text(p.allowed_cidrs.as_deref())),
    ]
}

/// What the issue notice adds for a key that may do less than everything: ` Access: query;
/// rate limit 5/s; allowed from 10.0.0.0/8.`
pub fn issued_note(p: &Policy) -> String {
    if *p == Policy::full() {
        return String::new();
    }
    let mut parts = vec![scopes_text(&p.scopes)];
    if let Some(r) = p.rate_limit {
        parts.push(format!("rate limit {r}"));
    }
    if let Some(c) = &p.allowed_cidrs {
        parts.push(format!("allowed from {}", c.join(", ")));
    }
    format!(" Access: {}.", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cli;
    use clap::Parser;

    fn parsed(args: &[&str]) -> Result<KeysCommand, clap::Error> {
        let mut all = vec!["ragkeys", "keys"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| match c.command {
            Some(crate::args::Command::Keys(k)) => k.command,
            other => panic!("{other:?}"),
        })
    }

    fn issue_of(args: &[&str]) -> Result<IssueFields, CliError> {
        let mut all = vec!["issue", "svc_x"];
        all.extend_from_slice(args);
        match parsed(&all).unwrap() {
            KeysCommand::Issue { policy, .. } => issue_fields(&policy),
            other => panic!("{other:?}"),
        }
    }

    fn update_of(args: &[&str]) -> Result<UpdateFields, clap::Error> {
        let mut all = vec!["update", "svc_x", "key_x"];
        all.extend_from_slice(args);
        parsed(&all).map(|c| match c {
            KeysCommand::Update {
                policy,
                all_scopes,
                no_rate,
                allow_any,
                ..
            } => update_fields(&policy, all_scopes, no_rate, allow_any).unwrap(),
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn scopes_repeat_or_take_commas_and_come_out_in_the_api_order() {
        let f = issue_of(&["--scope", "ingest,query", "--scope", "query"]).unwrap();
        assert_eq!(f.scopes, Some(vec![Scope::Query, Scope::Ingest]));
        assert_eq!(issue_of(&[]).unwrap(), IssueFields::default());
        for bad in ["bogus", "query,", "", "Query"] {
            let e = parsed(&["issue", "svc_x", "--scope", bad]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue, "{bad:?}");
        }
    }

    #[test]
    fn rates_and_networks_are_checked_as_the_service_checks_them() {
        let f = issue_of(&[
            "--rate",
            "6000/min",
            "--allow",
            "10.0.4.17,10.0.0.0/8",
            "--allow",
            "::ffff:10.0.4.17",
            "--allow",
            "2001:DB8::/32",
        ])
        .unwrap();
        assert_eq!(
            f.rate_limit,
            Some(RateLimit {
                requests: 6000,
                per_seconds: 60
            })
        );
        assert_eq!(
            f.allowed_cidrs.unwrap(),
            ["10.0.4.17/32", "10.0.0.0/8", "2001:db8::/32"]
        );
        for (flag, bad) in [
            ("--rate", "0/s"),
            ("--rate", "5/day"),
            ("--allow", "10.0.4.17/24"),
            ("--allow", "example.com"),
        ] {
            let e = parsed(&["issue", "svc_x", flag, bad]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("10.0.{i}.0/24")).collect();
        let e = issue_of(&["--allow", &many.join(",")]).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.contains("17 given"), "{}", e.message);
        assert!(issue_of(&["--allow", &many[..16].join(",")]).is_ok());
    }

    #[test]
    fn update_clears_with_its_own_flags_and_refuses_both_at_once() {
        let f = update_of(&["--all-scopes", "--no-rate", "--allow-any"]).unwrap();
        assert_eq!(f.scopes, Some(Scope::ALL.to_vec()));
        assert_eq!(f.rate_limit, Some(None));
        assert_eq!(f.allowed_cidrs, Some(None));
        let f = update_of(&["--scope", "query", "--rate", "5/s", "--allow", "10.0.0.0/8"]).unwrap();
        assert_eq!(f.scopes, Some(vec![Scope::Query]));
        assert_eq!(f.rate_limit.unwrap().unwrap().requests, 5);
        assert_eq!(f.allowed_cidrs, Some(Some(vec!["10.0.0.0/8".into()])));
        assert_eq!(update_of(&[]).unwrap(), UpdateFields::default());
        for pair in [
            ["--scope", "query", "--all-scopes"],
            ["--rate", "5/s", "--no-rate"],
            ["--allow", "10.0.0.0/8", "--allow-any"],
        ] {
            let e = update_of(&pair).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{pair:?}"
            );
        }
    }

    #[test]
    fn a_policy_reads_in_lines_and_in_the_issue_notice() {
        let p = Policy {
            scopes: vec![Scope::Query],
            rate_limit: Some(RateLimit {
                requests: 5,
                per_seconds: 1,
            }),
            allowed_cidrs: Some(vec!["10.0.0.0/8".into(), "192.0.2.7/32".into()]),
        };
        let lines = |p: &Policy| {
            policy_rows(p)
                .map(|(label, value)| format!("{label}: {value}"))
                .join("\n")
        };
        assert_eq!(
            lines(&p),
            "Scopes: query\nRate limit: 5/s\nAllowed from: 10.0.0.0/8, 192.0.2.7/32"
        );
        assert_eq!(
            lines(&Policy::full()),
            "Scopes: query, ingest, manage\nRate limit: none\nAllowed from: anywhere"
        );
        assert_eq!(
            issued_note(&p),
            " Access: query; rate limit 5/s; allowed from 10.0.0.0/8, 192.0.2.7/32."
        );
        assert_eq!(issued_note(&Policy::full()), "");
    }
}
