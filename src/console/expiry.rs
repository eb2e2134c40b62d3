//! The expiry offered when issuing (docs/console.md, Popups: Issue API Key): `Never · 7 days ·
//! 30 days · 90 days · 1 year · Date…`, and the `YYYY-MM-DD` of `Date…` checked as the service
//! checks `expires_at` (docs/api.md, Key lifecycle: in the future, at most 366 days ahead). Pure: the
//! clock and the time zone come in.

use chrono::{DateTime, Duration, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::console::format::Tz;
use crate::console::i18n::Catalog;
use crate::wire::Timestamp;
use crate::wire::limits::MAX_EXPIRY_AHEAD_SECS;

/// One choice of the Issue popup's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Never,
    Days7,
    Days30,
    Days90,
    /// 365 days, as the CLI's `1y`.
    Year,
    /// A date typed as `YYYY-MM-DD`: the key works through that day (see [`date_expiry`]).
    Date,
}

/// The choices in the order shown; ←/→ move along it.
pub const LIFETIMES: [Lifetime; 6] = [
    Lifetime::Never,
    Lifetime::Days7,
    Lifetime::Days30,
    Lifetime::Days90,
    Lifetime::Year,
    Lifetime::Date,
];

/// The most characters the date field takes: `YYYY-MM-DD`.
pub const DATE_MAX: usize = 10;

impl Lifetime {
    /// The catalog key of its label.
    pub fn label_key(self) -> &'static str {
        match self {
            Lifetime::Never => "expiry.never",
            Lifetime::Days7 => "expiry.days7",
            Lifetime::Days30 => "expiry.days30",
            Lifetime::Days90 => "expiry.days90",
            Lifetime::Year => "expiry.year",
            Lifetime::Date => "expiry.date",
        }
    }

    /// Its place in [`LIFETIMES`].
    pub fn index(self) -> usize {
        LIFETIMES.iter().position(|l| *l == self).unwrap_or(0)
    }

    /// Whole days counted from the moment of issuing, for the fixed lifetimes.
    pub fn days(self) -> Option<i64> {
        match self {
            Lifetime::Days7 => Some(7),
            Lifetime::Days30 => Some(30),
            Lifetime::Days90 => Some(90),
            Lifetime::Year => Some(365),
            Lifetime::Never | Lifetime::Date => None,
        }
    }

    /// The `lifetime_seconds` a fixed lifetime sends: counted on the service's clock from the
    /// moment it issues, whatever this machine's clock says (docs/api.md, Time).
    pub fn seconds(self) -> Option<u32> {
        self.days().map(|d| d as u32 * 86_400)
    }

    /// The neighbour on the left (`-1`) or right (`+1`), stopping at the ends.
    pub fn step(self, forward: bool) -> Lifetime {
        let i = self.index();
        let j = if forward {
            (i + 1).min(LIFETIMES.len() - 1)
        } else {
            i.saturating_sub(1)
        };
        LIFETIMES[j]
    }
}

/// Why a typed date cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateError {
    /// Not `YYYY-MM-DD`.
    Format,
    /// Shaped like a date but not one of the calendar (`2027-02-29`).
    NoSuchDate,
    /// The end of that day has passed.
    Past,
    /// More than 366 days ahead; holds the last date that is not.
    TooFar(NaiveDate),
}

impl DateError {
    /// The line shown under the field, in the catalog's words.
    pub fn message(&self, tr: &Catalog, typed: &str) -> String {
        match self {
            DateError::Format => tr.t("expiry.error_format").to_string(),
            DateError::NoSuchDate => tr.f("expiry.error_no_such_date", &[("date", &typed)]),
            DateError::Past => tr.t("expiry.error_past").to_string(),
            DateError::TooFar(last) => tr.f(
                "expiry.error_too_far",
                &[("last", &last.format("%Y-%m-%d"))],
            ),
        }
    }
}

/// The instant `naive` stands for in `tz`; a wall time skipped by a clock change counts from the
/// hour after it (the first instant of that day that exists).
fn instant(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    let at = |n: NaiveDateTime| match tz {
        Tz::Local => Local
            .from_local_datetime(&n)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
        Tz::Fixed(off) => off
            .from_local_datetime(&n)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    };
    at(naive).or_else(|| at(naive + Duration::hours(1)))
}

/// The end of day `d` in `tz`, i.e. the next day's first instant: the key verifies through the
/// whole of `d`, as "expires on DATE" reads (GitHub's token expiry reads the same way).
pub fn day_end(d: NaiveDate, tz: Tz) -> Option<Timestamp> {
    let next = d.succ_opt()?.and_hms_opt(0, 0, 0)?;
    instant(next, tz).map(|t| Timestamp::from_unix(t.timestamp()))
}

/// Today's date in `tz`.
fn date_at(t: Timestamp, tz: Tz) -> NaiveDate {
    match tz {
        Tz::Local => t.0.with_timezone(&Local).date_naive(),
        Tz::Fixed(off) => t.0.with_timezone(&off).date_naive(),
    }
}

/// The last date whose end is at most 366 days after `now`.
pub fn last_date(now: Timestamp, tz: Tz) -> NaiveDate {
    let limit = now.unix() + MAX_EXPIRY_AHEAD_SECS;
    let mut d = date_at(Timestamp::from_unix(limit), tz);
    // At most a step or two back: the day holding the limit ends after it.
    while day_end(d, tz).is_none_or(|e| e.unix() > limit) {
        match d.pred_opt() {
            Some(p) => d = p,
            None => break,
        }
    }
    d
}

/// `YYYY-MM-DD` → the `expires_at` to send: the end of that day in `tz` (the console shows
/// every time in that zone). Refused as the service would refuse it at `now`: a day that has
/// ended, or one ending more than 366 days ahead (docs/api.md, Key lifecycle).
pub fn date_expiry(typed: &str, now: Timestamp, tz: Tz) -> Result<Timestamp, DateError> {
    let t = typed.trim();
    let b = t.as_bytes();
    let shaped = b.len() == DATE_MAX
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(DateError::Format);
    }
    let num = |r: std::ops::Range<usize>| t[r].parse::<u32>().unwrap_or(0);
    let year = i32::try_from(num(0..4)).unwrap_or(0);
    let d = NaiveDate::from_ymd_opt(year, num(5..7), num(8..10)).ok_or(DateError::NoSuchDate)?;
    let end = day_end(d, tz).ok_or(DateError::NoSuchDate)?;
    if end.unix() <= now.unix() {
        return Err(DateError::Past);
    }
    if end.unix() - now.unix() > MAX_EXPIRY_AHEAD_SECS {
        return Err(DateError::TooFar(last_date(now, tz)));
    }
    Ok(end)
}

/// What `lifetime` means at `now`: `Ok(None)` never, `Ok(Some(t))` the `expires_at` to send,
/// or why the typed date cannot be sent.
pub fn expires_at(
    lifetime: Lifetime,
    typed: &str,
    now: Timestamp,
    tz: Tz,
) -> Result<Option<Timestamp>, DateError> {
    match (lifetime, lifetime.days()) {
        (Lifetime::Never, _) => Ok(None),
        (Lifetime::Date, _) => date_expiry(typed, now, tz).map(Some),
        (_, Some(days)) => Ok(Some(Timestamp::from_unix(now.unix() + days * 86_400))),
        (_, None) => Ok(None),
    }
}

/// `in 30 d`, `in 47 h`, `in 12 min`, `in 1 min` (under 2 minutes): how far `at` is from `now`,
/// rounded as docs/api.md, Time says (a key issued for 30 days reads `in 30 d`, not `29 d`).
pub fn time_left(tr: &Catalog, at: Timestamp, now: Timestamp) -> String {
    let secs = (at.unix() - now.unix()).max(0);
    let (key, n) = match crate::clock::span(secs) {
        Some(s) => (
            match s.unit {
                crate::clock::Unit::Days => "expiry.in_days",
                crate::clock::Unit::Hours => "expiry.in_hours",
                crate::clock::Unit::Minutes => "expiry.in_minutes",
            },
            s.n,
        ),
        None => ("expiry.in_minutes", 1),
    };
    tr.f(key, &[("n", &n)])
}

/// `UTC+09:00`: the zone a typed date is read in, for the help line.
pub fn zone_label(now: Timestamp, tz: Tz) -> String {
    let with = crate::console::format::with_offset(now, tz);
    // `… (UTC+09:00)`: the part in parentheses.
    with.rsplit_once('(')
        .map(|(_, z)| z.trim_end_matches(')').to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    // 2026-11-26T05:43:12Z, 14:43:12 in Seoul.
    const NOW: i64 = 1_795_671_792;

    fn kst() -> Tz {
        Tz::Fixed(FixedOffset::east_opt(9 * 3600).unwrap_or(FixedOffset::east_opt(0).unwrap()))
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn a_date_means_through_the_end_of_that_local_day() {
        let now = Timestamp::from_unix(NOW);
        assert_eq!(
            date_expiry("2026-12-31", now, kst()),
            Ok(ts("2027-01-01T00:00:00+09:00"))
        );
        // Today still has hours left in Seoul: valid, through midnight.
        assert_eq!(
            date_expiry("2026-11-26", now, kst()),
            Ok(ts("2026-11-27T00:00:00+09:00"))
        );
        assert_eq!(date_expiry("2026-11-25", now, kst()), Err(DateError::Past));
        assert_eq!(
            date_expiry("2027-02-29", now, kst()),
            Err(DateError::NoSuchDate)
        );
        // A real date (a leap day), but too far ahead.
        assert!(matches!(
            date_expiry("2028-02-29", now, kst()),
            Err(DateError::TooFar(_))
        ));
        for bad in [
            "",
            "2027-1-01",
            "27-01-01",
            "2027/01/01",
            "tomorrow",
            "2027-01-011",
        ] {
            assert_eq!(
                date_expiry(bad, now, kst()),
                Err(DateError::Format),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_last_date_ends_within_366_days_and_the_next_does_not() {
        let now = Timestamp::from_unix(NOW);
        let last = last_date(now, kst());
        // now + 366 d = 2027-11-27 14:43 KST: the 26th ends before it, the 27th after.
        assert_eq!(last, NaiveDate::from_ymd_opt(2027, 11, 26).unwrap());
        assert!(date_expiry("2027-11-26", now, kst()).is_ok());
        assert_eq!(
            date_expiry("2027-11-27", now, kst()),
            Err(DateError::TooFar(last))
        );
    }

    #[test]
    fn fixed_lifetimes_count_whole_days_from_now() {
        let now = Timestamp::from_unix(NOW);
        assert_eq!(expires_at(Lifetime::Never, "junk", now, kst()), Ok(None));
        assert_eq!(
            expires_at(Lifetime::Days30, "", now, kst()),
            Ok(Some(Timestamp::from_unix(NOW + 30 * 86_400)))
        );
        assert_eq!(
            expires_at(Lifetime::Year, "", now, kst()),
            Ok(Some(Timestamp::from_unix(NOW + 365 * 86_400)))
        );
        assert_eq!(Lifetime::Never.step(false), Lifetime::Never);
        assert_eq!(Lifetime::Date.step(true), Lifetime::Date);
        assert_eq!(Lifetime::Days7.step(true), Lifetime::Days30);
    }
}
