//! `ragkeys keys usage SVC KEY [--json]`: a key's usage figures (docs/api.md, Usage; Usage by
//! reason, scope and network) as tables with a one-line sparkline per series, the scopes and
//! networks it was used with, or the service's JSON as it sent it.

use chrono::Local;

use super::Ctx;
use super::error::CliError;
use super::output::{grouped, json_for_terminal, local_time, notice, stdout, stdout_json, table};
use super::retry::retry;
use crate::policy::Scope;
use crate::wire::{Bucket, Usage};

/// Eight heights, lowest first; an empty bucket is always the lowest.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub async fn run(ctx: &Ctx, service_id: &str, key_id: &str) -> Result<(), CliError> {
    let raw = retry(false, |_| ctx.client.key_usage_raw(service_id, key_id)).await?;
    if ctx.json {
        return stdout_json(&json_for_terminal(&raw.body));
    }
    stdout(&render(&raw.value))?;
    if raw
        .value
        .hours
        .iter()
        .chain(&raw.value.days)
        .all(|b| total(b) == 0)
    {
        notice("Not used in the last 30 days.");
    }
    Ok(())
}

/// One character per bucket, scaled to the series' largest: an empty bucket is `▁`, any other
/// at least `▂` (so that one call is never mistaken for none), the largest `█`.
pub fn sparkline(values: &[u64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if v == 0 || max == 0 {
                BARS[0]
            } else {
                let level = 1 + (u128::from(v) * 6 / u128::from(max)) as usize;
                BARS[level.min(BARS.len() - 1)]
            }
        })
        .collect()
}

fn hour_label(b: &Bucket) -> String {
    b.start
        .0
        .with_timezone(&Local)
        .format("%m-%d %H:00")
        .to_string()
}

fn day_label(b: &Bucket) -> String {
    b.start.0.format("%Y-%m-%d").to_string()
}

/// Every call a bucket counts, whatever its answer.
fn total(b: &Bucket) -> u64 {
    b.ok + b.refused + b.denied + b.limited
}

/// One count of a bucket.
type Pick = fn(&Bucket) -> u64;

/// The four reasons a bucket counts, in the order the API lists them.
const REASONS: [(&str, Pick); 4] = [
    ("ok", |b| b.ok),
    ("refused", |b| b.refused),
    ("denied", |b| b.denied),
    ("limited", |b| b.limited),
];

/// The figures for people: the last use, then one row per series and reason (span, total,
/// largest bucket, sparkline oldest → newest), then every bucket that saw a call, then the
/// scopes and networks of the last 30 days.
pub fn render(u: &Usage) -> String {
    let mut out = table(
        &["Key ID", "Last used", "From"],
        &[vec![
            u.key_id.clone(),
            u.last_used_at
                .as_ref()
                .map(local_time)
                .unwrap_or_else(|| "never".into()),
            u.last_used_from.clone().unwrap_or_else(|| "-".into()),
        ]],
    );
    out.push('\n');
    let span = |b: &[Bucket], label: fn(&Bucket) -> String| match (b.first(), b.last()) {
        (Some(first), Some(last)) => format!("{} … {}", label(first), label(last)),
        _ => "-".into(),
    };
    let mut rows = Vec::new();
    for (series, buckets, label, unit) in [
        (
            "24 hours",
            &u.hours,
            hour_label as fn(&Bucket) -> String,
            "local time",
        ),
        (
            "30 days",
            &u.days,
            day_label as fn(&Bucket) -> String,
            "UTC",
        ),
    ] {
        for (what, pick) in REASONS {
            let values: Vec<u64> = buckets.iter().map(pick).collect();
            rows.push(vec![
                format!("{series}, {what}"),
                format!("{} ({unit})", span(buckets, label)),
                values.iter().sum::<u64>().to_string(),
                values.iter().max().copied().unwrap_or(0).to_string(),
                sparkline(&values),
            ]);
        }
    }
    out.push_str(&table(
        &["Series", "Span", "Total", "Max", "Oldest → newest"],
        &rows,
    ));
    let busy: Vec<Vec<String>> = u
        .hours
        .iter()
        .map(|b| (format!("hour {}", hour_label(b)), b))
        .chain(
            u.days
                .iter()
                .map(|b| (format!("day {} UTC", day_label(b)), b)),
        )
        .filter(|(_, b)| total(b) > 0)
        .map(|(label, b)| {
            let mut row = vec![label];
            row.extend(REASONS.iter().map(|(_, pick)| pick(b).to_string()));
            row
        })
        .collect();
    if !busy.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &["Bucket", "OK", "Refused", "Denied", "Limited"],
            &busy,
        ));
    }
    out.push('\n');
    out.push_str(&seen(u));
    out
}

/// Scopes used and networks seen over 30 days, and since when they are recorded: what
/// `keys narrow` proposes from.
fn seen(u: &Usage) -> String {
    let mut out = match &u.recorded_since {
        Some(t) => format!(
            "Scopes and networks of successful calls in the last 30 days (recorded since {}):\n",
            local_time(t)
        ),
        None => "Scopes and networks of successful calls in the last 30 days:\n".to_string(),
    };
    if u.scopes_used.is_empty() {
        out.push_str("No scopes used.\n");
    } else {
        // The API's order, `none` (calls without a scope) last; a newer service's scopes after.
        let rank = |name: &str| match Scope::parse(name) {
            Some(s) => Scope::ALL.iter().position(|x| *x == s).unwrap_or(0),
            None if name == "none" => Scope::ALL.len() + 1,
            None => Scope::ALL.len(),
        };
        let mut scopes: Vec<(&String, &u64)> = u.scopes_used.iter().collect();
        scopes.sort_by_key(|(name, _)| rank(name));
        let rows: Vec<Vec<String>> = scopes
            .into_iter()
            .map(|(name, calls)| {
                let label = if name == "none" {
                    "none (no scope asked)".to_string()
                } else {
                    name.clone()
                };
                vec![label, grouped(*calls)]
            })
            .collect();
        out.push_str(&table(&["Scope", "Calls"], &rows));
    }
    out.push('\n');
    if u.networks.is_empty() {
        out.push_str("No networks seen.\n");
    } else {
        let rows: Vec<Vec<String>> = u
            .networks
            .iter()
            .map(|n| {
                vec![
                    n.network.clone(),
                    grouped(n.calls),
                    local_time(&n.last_seen),
                ]
            })
            .collect();
        out.push_str(&table(&["Network", "Calls", "Last seen"], &rows));
    }
    if u.networks_truncated {
        out.push_str(&format!(
            "More networks were seen: only the {} with the most calls are listed.\n",
            u.networks.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Timestamp;

    #[test]
    fn sparklines_keep_zero_apart_from_one_and_top_out_at_the_max() {
        assert_eq!(sparkline(&[0, 0, 0]), "▁▁▁");
        assert_eq!(sparkline(&[0, 1, 1000]), "▁▂█");
        assert_eq!(sparkline(&[1, 2, 3, 4, 5, 6, 7]), "▂▃▄▅▆▇█");
        assert_eq!(sparkline(&[u64::MAX, 0]), "█▁");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn the_table_has_four_series_with_totals_and_the_busy_buckets() {
        let bucket = |start: i64, ok: u64, refused: u64| Bucket {
            start: Timestamp::from_unix(start),
            ok,
            refused,
            denied: 0,
            limited: 0,
        };
        let hour0 = 1_800_000_000 / 3600 * 3600;
        let hours: Vec<Bucket> = (0..24)
            .map(|i| bucket(hour0 + i * 3600, if i == 23 { 5 } else { 0 }, 0))
            .collect();
        let day0 = 1_800_000_000 / 86_400 * 86_400;
        let days: Vec<Bucket> = (0..30)
            .map(|i| {
                bucket(
                    day0 + i * 86_400,
                    if i == 29 { 5 } else { 0 },
                    u64::from(i == 28),
                )
            })
            .collect();
        let text = render(&Usage {
            key_id: "key_x".into(),
            last_used_at: None,
            last_used_from: None,
            hours,
            days,
            ..Default::default()
        });
        let line = |p: &str| text.lines().find(|l| l.starts_with(p)).unwrap().to_string();
        assert!(
            line("24 hours, ok").ends_with(&format!("5      5    {}█", "▁".repeat(23))),
            "{text}"
        );
        assert!(line("30 days, refused").contains("1      1"), "{text}");
        assert!(line("30 days, refused").ends_with("▁█▁"), "{text}");
        assert!(line("key_x").contains("never"), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("hour ")).count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with("day ")).count(),
            2,
            "{text}"
        );
    }
}
