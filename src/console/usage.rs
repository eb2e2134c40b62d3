//! A key's recent use as the console says it (issue 9; docs/console.md, API Key management and
//! Popups): the impact line of the popups that stop a key, the `idle` marker, whether a disabled
//! key is still being called, and the figures of the Details charts. Pure: the usage answers,
//! the model's clock and the catalog come in.

use crate::console::format;
use crate::console::i18n::Catalog;
use crate::console::text::Tone;
use crate::sanitize::clean;
use crate::wire::{ApiKey, Bucket, KeyState, Timestamp, Usage};

/// A key never used this long after its creation is `idle` (docs/console.md: 7 days).
pub const IDLE_NEVER_USED_SECS: i64 = 7 * 86_400;
/// A key unused this long is `idle` (docs/console.md: 30 days), and "not used in the last 30 days".
pub const IDLE_UNUSED_SECS: i64 = 30 * 86_400;
/// Disabled keys whose usage the list fetches for the attention line (the newest first).
pub const DISABLED_PROBES: usize = 5;

/// What the console knows of one key's usage (`GET …/api-keys/{key_id}/usage`).
#[derive(Debug, Clone, PartialEq)]
pub enum UsageState {
    /// Asked for; nothing known yet.
    Loading,
    Loaded(Box<Usage>),
    /// Could not be loaded: the reason in the console's words.
    Failed(String),
}

impl UsageState {
    /// The figures, once they have arrived.
    pub fn loaded(&self) -> Option<&Usage> {
        match self {
            UsageState::Loaded(u) => Some(u),
            _ => None,
        }
    }
}

/// `(ok, refused)` summed over `buckets`.
pub fn totals(buckets: &[Bucket]) -> (u64, u64) {
    buckets.iter().fold((0, 0), |(o, r), b| {
        (o.saturating_add(b.ok), r.saturating_add(b.refused))
    })
}

/// `1,204`: digits grouped by three with the catalog's separator (`format.group`: a comma in
/// en, ko and ja, which all group by thousands).
pub fn count(tr: &Catalog, n: u64) -> String {
    let digits = n.to_string();
    let sep = tr.t("format.group");
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// Whether the Last used cell carries `idle` (docs/console.md): never used 7 days after its
/// creation, or unused for 30 days. From the list's own `last_used_at`; no usage call needed.
pub fn is_idle(key: &ApiKey, now: Timestamp) -> bool {
    match key.last_used_at {
        None => now.unix() - key.created_at.unix() >= IDLE_NEVER_USED_SECS,
        Some(t) => now.unix() - t.unix() >= IDLE_UNUSED_SECS,
    }
}

/// The Last used cell: `3 h ago`, `never`, with ` · idle` when [`is_idle`].
pub fn last_used_cell(tr: &Catalog, key: &ApiKey, now: Timestamp) -> String {
    let base = format::last_used(tr, now, key.last_used_at);
    if is_idle(key, now) {
        tr.f("usage.idle", &[("last", &base)])
    } else {
        base
    }
}

/// Refused calls of a disabled key in the last 24 hours, when there are any: a client that still
/// presents a key it should not (docs/console.md: "1 disabled key is still being called").
pub fn still_called(key: &ApiKey, usage: Option<&UsageState>) -> Option<u64> {
    if key.state != KeyState::Disabled {
        return None;
    }
    let (_, refused) = totals(&usage?.loaded()?.hours);
    (refused > 0).then_some(refused)
}

/// The impact line under a stopping popup's caution (docs/console.md, Popups: Impact): `Last used 3
/// min ago from 10.0.4.17 · 1,204 calls in the last 24 h` in the caution style, or `Not used in
/// the last 30 days`, or `Never used`; dim while loading or when it could not be loaded.
/// "Calls" counts every verification that presented the key, refused ones included: each is a
/// caller that the change affects.
pub fn impact(tr: &Catalog, now: Timestamp, state: Option<&UsageState>) -> (String, Tone) {
    let u = match state {
        None | Some(UsageState::Loading) => {
            return (tr.t("usage.checking").to_string(), Tone::Dim);
        }
        // Short: the popup still works, and its caution says what to review.
        Some(UsageState::Failed(_)) => {
            return (tr.t("usage.unknown").to_string(), Tone::Dim);
        }
        Some(UsageState::Loaded(u)) => u,
    };
    let (ok30, refused30) = totals(&u.days);
    let recent_use = u
        .last_used_at
        .is_some_and(|t| now.unix() - t.unix() < IDLE_UNUSED_SECS);
    if !recent_use && ok30 == 0 && refused30 == 0 {
        let key = if u.last_used_at.is_some() {
            "usage.not_used_30"
        } else {
            "usage.never_used"
        };
        return (tr.t(key).to_string(), Tone::Normal);
    }
    let mut parts = Vec::new();
    if let Some(t) = u.last_used_at {
        let ago = format::last_used(tr, now, Some(t));
        parts.push(match u.last_used_from.as_deref() {
            Some(from) => tr.f("usage.last_from", &[("ago", &ago), ("from", &clean(from))]),
            None => tr.f("usage.last", &[("ago", &ago)]),
        });
    }
    let (ok, refused) = totals(&u.hours);
    let calls = ok.saturating_add(refused);
    parts.push(if calls == 1 {
        tr.t("usage.calls_one").to_string()
    } else {
        tr.f("usage.calls", &[("n", &count(tr, calls))])
    });
    (parts.join(" · "), Tone::Caution)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Lang;

    fn bucket(start: i64, ok: u64, refused: u64) -> Bucket {
        Bucket {
            start: Timestamp::from_unix(start),
            ok,
            refused,
            denied: 0,
            limited: 0,
        }
    }

    fn usage(last: Option<i64>, hour_ok: u64, hour_refused: u64, day_ok: u64) -> Usage {
        let now = 1_795_671_470;
        let mut hours: Vec<Bucket> = (0..24)
            .map(|i| bucket(now - (23 - i) * 3600, 0, 0))
            .collect();
        hours[23] = bucket(now, hour_ok, hour_refused);
        let mut days: Vec<Bucket> = (0..30)
            .map(|i| bucket(now - (29 - i) * 86_400, 0, 0))
            .collect();
        days[29] = bucket(now, day_ok.max(hour_ok), hour_refused);
        Usage {
            key_id: "key_1".into(),
            last_used_at: last.map(Timestamp::from_unix),
            last_used_from: last.map(|_| "10.0.4.17".into()),
            hours,
            days,
            ..Default::default()
        }
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        let tr = Catalog::get(Lang::En);
        assert_eq!(count(tr, 0), "0");
        assert_eq!(count(tr, 999), "999");
        assert_eq!(count(tr, 1_204), "1,204");
        assert_eq!(count(tr, 1_234_567), "1,234,567");
        assert_eq!(count(Catalog::get(Lang::Ko), 12_345), "12,345");
    }

    #[test]
    fn the_impact_line_has_three_forms_and_a_dim_wait() {
        let tr = Catalog::get(Lang::En);
        let now = Timestamp::from_unix(1_795_671_470);
        let used = UsageState::Loaded(Box::new(usage(Some(now.unix() - 180), 1_204, 0, 0)));
        assert_eq!(
            impact(tr, now, Some(&used)),
            (
                "Last used 3 min ago from 10.0.4.17 · 1,204 calls in the last 24 h".into(),
                Tone::Caution
            )
        );
        let old = UsageState::Loaded(Box::new(usage(Some(now.unix() - 40 * 86_400), 0, 0, 0)));
        assert_eq!(
            impact(tr, now, Some(&old)).0,
            "Not used in the last 30 days"
        );
        let never = UsageState::Loaded(Box::new(usage(None, 0, 0, 0)));
        assert_eq!(impact(tr, now, Some(&never)).0, "Never used");
        assert_eq!(impact(tr, now, Some(&UsageState::Loading)).1, Tone::Dim);
        assert_eq!(impact(tr, now, None).0, "checking recent use…");
        // A key only refused (disabled, still presented) is in use all the same.
        let refused = UsageState::Loaded(Box::new(usage(None, 0, 1, 0)));
        assert_eq!(
            impact(tr, now, Some(&refused)),
            ("1 call in the last 24 h".into(), Tone::Caution)
        );
    }

    #[test]
    fn idle_means_never_used_after_7_days_or_unused_for_30() {
        let now = Timestamp::from_unix(1_795_671_470);
        let key = |created_ago: i64, used_ago: Option<i64>| ApiKey {
            created_at: Timestamp::from_unix(now.unix() - created_ago),
            last_used_at: used_ago.map(|a| Timestamp::from_unix(now.unix() - a)),
            id: "key_0001".into(),
            masked: "ragk_Ab01********wXyZ".into(),
            name: None,
            state: crate::wire::KeyState::Active,
            created_by: "admin".into(),
            expires_at: None,
            replaced_by: None,
            policy: Default::default(),
            leak: None,
        };
        assert!(!is_idle(&key(6 * 86_400, None), now));
        assert!(is_idle(&key(7 * 86_400, None), now));
        assert!(!is_idle(&key(90 * 86_400, Some(29 * 86_400)), now));
        assert!(is_idle(&key(90 * 86_400, Some(30 * 86_400)), now));
        let tr = Catalog::get(Lang::En);
        assert_eq!(
            last_used_cell(tr, &key(8 * 86_400, None), now),
            "never · idle"
        );
    }
}
