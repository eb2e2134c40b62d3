//! Times as the console shows them: local time with its offset, and "3 h ago" counted from the
//! service's clock and rounded as docs/api.md, Time says (docs/console.md, The service's clock).

use chrono::{DateTime, FixedOffset, Local, Offset, TimeZone};

use crate::clock::{self, Unit};
use crate::console::i18n::Catalog;
use crate::wire::Timestamp;

/// In which time zone times are shown: the machine's, or a fixed one (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tz {
    Local,
    Fixed(FixedOffset),
}

fn parts<Z: TimeZone>(t: DateTime<Z>) -> (String, String) {
    let offset = t.offset().fix().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    (
        t.naive_local().format("%Y-%m-%d %H:%M:%S").to_string(),
        format!("UTC{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60),
    )
}

fn local(t: Timestamp, tz: Tz) -> (String, String) {
    match tz {
        Tz::Local => parts(t.0.with_timezone(&Local)),
        Tz::Fixed(off) => parts(t.0.with_timezone(&off)),
    }
}

/// `2026-11-26 14:03:12 (UTC+09:00)`.
pub fn with_offset(t: Timestamp, tz: Tz) -> String {
    let (time, offset) = local(t, tz);
    format!("{time} ({offset})")
}

/// `2026-11-26 14:03:12`, where a column has no room for the offset.
pub fn without_offset(t: Timestamp, tz: Tz) -> String {
    local(t, tz).0
}

/// `14:03` when `t` falls on the same local day as `now`, else `12-01 14:03` (the end of a
/// grace): a bare time always means today, so a 24-hour grace never reads as already over.
pub fn clock(t: Timestamp, now: Timestamp, tz: Tz) -> String {
    let (full, _) = local(t, tz);
    let (today, _) = local(now, tz);
    // Both are `YYYY-MM-DD HH:MM:SS`.
    if full.get(..10) == today.get(..10) {
        full[11..16].to_string()
    } else {
        full[5..16].to_string()
    }
}

/// `never`, `just now` (under 2 minutes), `5 min ago`, `3 h ago`, `12 d ago`.
pub fn last_used(tr: &Catalog, now: Timestamp, t: Option<Timestamp>) -> String {
    let Some(t) = t else {
        return tr.t("time.never").to_string();
    };
    // A use a little ahead of `now` (the clocks' own jitter) is just now too.
    let secs = (now.unix() - t.unix()).max(0);
    match clock::span(secs) {
        None => tr.t("time.just_now").to_string(),
        Some(s) => {
            let key = match s.unit {
                Unit::Minutes => "time.minutes_ago",
                Unit::Hours => "time.hours_ago",
                Unit::Days => "time.days_ago",
            };
            tr.f(key, &[("n", &s.n)])
        }
    }
}

/// `3 d`, `47 h`, `5 min` (`1 min` under 2 minutes): a span for the State column and the
/// header, in the catalog's units.
pub fn span(tr: &Catalog, secs: i64) -> String {
    let (key, n) = match clock::span(secs) {
        Some(s) => (
            match s.unit {
                Unit::Minutes => "state.minutes",
                Unit::Hours => "state.hours",
                Unit::Days => "state.days",
            },
            s.n,
        ),
        None => ("state.minutes", 1),
    };
    tr.f(key, &[("n", &n)])
}

/// The header's note when this machine's clock and the service's differ by more than a
/// minute: `clock 2 d ahead of the service` (or `behind`).
pub fn skew_note(tr: &Catalog, skew: i64) -> Option<String> {
    clock::differs(skew).then(|| {
        let key = if skew > 0 {
            "app.clock_ahead"
        } else {
            "app.clock_behind"
        };
        tr.f(key, &[("span", &span(tr, skew))])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Lang;
    use chrono::FixedOffset;

    #[test]
    fn times_carry_their_offset() {
        let t = Timestamp::from_unix(1_795_671_792); // 2026-11-26T05:43:12Z
        let kst =
            Tz::Fixed(FixedOffset::east_opt(9 * 3600).unwrap_or(FixedOffset::east_opt(0).unwrap()));
        assert_eq!(with_offset(t, kst), "2026-11-26 14:43:12 (UTC+09:00)");
        let nst = Tz::Fixed(FixedOffset::west_opt(3 * 3600 + 1800).unwrap());
        assert_eq!(with_offset(t, nst), "2026-11-26 02:13:12 (UTC-03:30)");
        assert_eq!(without_offset(t, kst), "2026-11-26 14:43:12");
    }

    #[test]
    fn last_used_is_relative() {
        let en = Catalog::get(Lang::En);
        let now = Timestamp::from_unix(100_000);
        assert_eq!(last_used(en, now, None), "never");
        assert_eq!(
            last_used(en, now, Some(Timestamp::from_unix(99_990))),
            "just now"
        );
        assert_eq!(
            last_used(en, now, Some(Timestamp::from_unix(100_000 - 300))),
            "5 min ago"
        );
        // docs/api.md, Time: under 2 minutes is just now; 2 min 20 s is 2 min; nearest unit.
        assert_eq!(
            last_used(en, now, Some(Timestamp::from_unix(100_000 - 119))),
            "just now"
        );
        assert_eq!(
            last_used(en, now, Some(Timestamp::from_unix(100_000 - 140))),
            "2 min ago"
        );
        assert_eq!(
            last_used(
                en,
                now,
                Some(Timestamp::from_unix(100_000 - (86_400 + 23 * 3600)))
            ),
            "47 h ago"
        );
        assert_eq!(
            last_used(
                en,
                now,
                Some(Timestamp::from_unix(100_000 - (2 * 86_400 + 23 * 3600)))
            ),
            "3 d ago"
        );
        assert_eq!(
            last_used(en, now, Some(Timestamp::from_unix(100_000 + 30))),
            "just now"
        );
        assert_eq!(
            last_used(en, now, Some(Timestamp::from_unix(100_000 - 3 * 3600 - 5))),
            "3 h ago"
        );
        assert_eq!(
            last_used(en, now, Some(Timestamp::from_unix(100_000 - 2 * 86_400))),
            "2 d ago"
        );
        let ko = Catalog::get(Lang::Ko);
        assert_eq!(
            last_used(ko, now, Some(Timestamp::from_unix(100_000 - 3 * 3600))),
            "3시간 전"
        );
    }
}

#[cfg(test)]
mod skew_tests {
    use super::*;
    use crate::args::Lang;

    #[test]
    fn the_header_names_a_skew_of_more_than_a_minute() {
        let en = Catalog::get(Lang::En);
        assert_eq!(
            skew_note(en, 2 * 86_400).as_deref(),
            Some("clock 2 d ahead of the service")
        );
        assert_eq!(
            skew_note(en, -(2 * 86_400 + 30)).as_deref(),
            Some("clock 2 d behind the service")
        );
        assert_eq!(
            skew_note(en, -(86_400 + 23 * 3600)).as_deref(),
            Some("clock 47 h behind the service")
        );
        assert_eq!(skew_note(en, 60), None);
        assert_eq!(skew_note(en, -45), None);
        assert_eq!(
            skew_note(Catalog::get(Lang::Ko), 3 * 86_400).as_deref(),
            Some("시계가 서비스보다 3일 빠름")
        );
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn a_bare_time_means_today_and_any_other_day_carries_its_date() {
        let tz = Tz::Fixed(FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!()));
        // 2026-11-29 23:20:00 +09:00.
        let now = Timestamp::from_unix(1_795_962_000);
        let at = |secs: i64| clock(Timestamp::from_unix(now.unix() + secs), now, tz);
        assert_eq!(at(30 * 60), "23:50");
        // 24 hours minus a few seconds: tomorrow, not "23:19" as if already past.
        assert_eq!(at(86_400 - 5), "11-30 23:19");
        assert_eq!(at(41 * 60), "11-30 00:01");
    }
}
