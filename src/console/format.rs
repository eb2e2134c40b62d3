//! Times as the console shows them: local time with its offset, and "3 h ago".

use chrono::{DateTime, FixedOffset, Local, Offset, TimeZone};

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

/// `never`, `just now`, `5 min ago`, `3 h ago`, `12 d ago`.
pub fn last_used(tr: &Catalog, now: Timestamp, t: Option<Timestamp>) -> String {
    let Some(t) = t else {
        return tr.t("time.never").to_string();
    };
    let secs = (now.unix() - t.unix()).max(0);
    if secs < 60 {
        tr.t("time.just_now").to_string()
    } else if secs < 3600 {
        tr.f("time.minutes_ago", &[("n", &(secs / 60))])
    } else if secs < 86_400 {
        tr.f("time.hours_ago", &[("n", &(secs / 3600))])
    } else {
        tr.f("time.days_ago", &[("n", &(secs / 86_400))])
    }
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
