//! The Prometheus alert rules in `deploy/prometheus/` (docs/operating.md): every rule well formed,
//! and every metric its expression reads one that `/metrics` exports. Where `promtool` is
//! installed (on PATH, or RAGKEYS_PROMTOOL), also `promtool check rules` and the rules' unit
//! tests (`promtool test rules`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ragkeys::server::metrics::EXPORTED;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    for_: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus")
}

fn rules() -> RuleFile {
    let text = std::fs::read_to_string(dir().join("ragkeys-alerts.yml")).expect("the rules file");
    serde_norway::from_str(&text).expect("the rules file is YAML of Prometheus' rule format")
}

/// The metric names an expression reads: identifiers followed by `{`, `[` or an operator, less
/// PromQL's own words and the label names inside braces.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const PROMQL: &[&str] = &[
        "sum",
        "by",
        "rate",
        "increase",
        "and",
        "or",
        "unless",
        "offset",
        "histogram_quantile",
        "without",
        "on",
        "ignoring",
        "max",
        "min",
        "min_over_time",
        "avg",
        "count",
        "absent",
        "clamp_min",
        "le",
    ];
    let mut names = BTreeSet::new();
    let mut depth = 0usize; // inside {…}: label matchers, not metrics
    let mut quoted = false;
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if quoted {
            quoted = c != '"';
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        let starts_alpha = word.starts_with(|w: char| w.is_ascii_alphabetic() || w == '_');
        if !word.is_empty() && depth == 0 && starts_alpha && !PROMQL.contains(&word.as_str()) {
            names.insert(std::mem::take(&mut word));
        }
        word.clear();
        match c {
            '"' => quoted = true,
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    // `by (instance, le)` lists labels: drop the words that follow `by (`.
    for grouping in expr.split("by (").skip(1) {
        for label in grouping.split(')').next().unwrap_or("").split(',') {
            names.remove(label.trim());
        }
    }
    names
}

fn exported(name: &str) -> bool {
    // `up` is Prometheus' own series for every scrape target.
    name == "up"
        || EXPORTED.iter().any(|m| {
            name == *m
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{m}{s}"))
        })
}

#[test]
fn every_rule_is_complete_and_reads_only_exported_metrics() {
    let file = rules();
    assert!(!file.groups.is_empty());
    let mut alerts = BTreeSet::new();
    for group in &file.groups {
        assert!(!group.name.is_empty());
        for rule in &group.rules {
            assert!(alerts.insert(rule.alert.clone()), "{} twice", rule.alert);
            assert!(
                rule.alert.starts_with("Ragkeys")
                    && rule.alert.chars().all(|c| c.is_ascii_alphanumeric()),
                "{}",
                rule.alert
            );
            let digits = rule.for_.trim_end_matches(['s', 'm', 'h']);
            assert!(
                !digits.is_empty()
                    && digits.len() < rule.for_.len()
                    && digits.parse::<u32>().is_ok(),
                "{}: for {:?}",
                rule.alert,
                rule.for_
            );
            let severity = rule.labels.get("severity").map(String::as_str);
            assert!(
                matches!(severity, Some("critical" | "warning")),
                "{}: severity {severity:?}",
                rule.alert
            );
            for field in ["summary", "description"] {
                assert!(
                    rule.annotations
                        .get(field)
                        .is_some_and(|s| !s.trim().is_empty()),
                    "{}: no {field}",
                    rule.alert
                );
            }
            let names = metric_names(&rule.expr);
            assert!(
                !names.is_empty(),
                "{} reads no metric: {}",
                rule.alert,
                rule.expr
            );
            for name in &names {
                assert!(
                    exported(name),
                    "{} reads {name}, which /metrics does not export",
                    rule.alert
                );
            }
        }
    }
    // The alerts the issue asks for (docs/operating.md).
    for wanted in [
        "RagkeysDown",
        "RagkeysVerifyRefusalsRising",
        "RagkeysReplicaWithoutLease",
        "RagkeysStoreErrors",
        "RagkeysVerifyLatencyHigh",
        "RagkeysKeyLeaked",
        "RagkeysWebhookBacklogGrowing",
        "RagkeysWebhookBacklogHigh",
        "RagkeysWebhookDeliveriesDropped",
    ] {
        assert!(alerts.contains(wanted), "no {wanted}");
    }
}

#[test]
fn the_name_check_sees_through_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (instance, le) (rate(ragkeys_http_request_duration_seconds_bucket{route="/v1/verify"}[5m]))) > 0.025 and up{job="x"} == 0"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["ragkeys_http_request_duration_seconds_bucket", "up"]
    );
    let names = metric_names(
        "max by (job) (min_over_time(ragkeys_webhook_pending[30m])) > 0 or sum by (job, by) (increase(ragkeys_leaks_total[15m])) > 0",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["ragkeys_leaks_total", "ragkeys_webhook_pending"]
    );
    assert!(!exported("ragkeys_verify_totl"));
    assert!(exported("ragkeys_revocation_ack_seconds_bucket"));
}

fn promtool() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RAGKEYS_PROMTOOL") {
        return Some(PathBuf::from(p));
    }
    let found = Command::new("promtool").arg("--version").output();
    found
        .is_ok_and(|o| o.status.success())
        .then(|| PathBuf::from("promtool"))
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests_pass() {
    let Some(promtool) = promtool() else {
        eprintln!("promtool is not installed: checked by the parse test above only");
        return;
    };
    for args in [
        ["check", "rules", "ragkeys-alerts.yml"],
        ["test", "rules", "ragkeys-alerts.test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(dir())
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
