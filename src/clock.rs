//! The service's clock as the console and the CLI learn it from each answer's `Date`, and
//! relative times in the units and rounding of docs/api.md, Time. Pure: readings come in.

use chrono::DateTime;

use crate::wire::Timestamp;

/// Clocks that differ by more than this are said to differ (docs/console.md, The service's
/// clock): the header's note, the CLI's warning.
pub const SKEW_SHOWN_SECS: i64 = 60;

/// One answer's `Date` and this machine's clock when the answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockReading {
    pub service: Timestamp,
    /// This machine's clock, in milliseconds since the epoch.
    pub local_millis: i64,
}

impl ClockReading {
    /// A `Date` header (`Mon, 07 Dec 2026 14:53:43 GMT`) read at `local_millis`; `None` when it
    /// is not a date.
    pub fn from_date(date: &str, local_millis: i64) -> Option<ClockReading> {
        let t = DateTime::parse_from_rfc2822(date.trim()).ok()?;
        Some(ClockReading {
            service: Timestamp::from_unix(t.timestamp()),
            local_millis,
        })
    }

    /// This machine's clock now, read for an answer that has just arrived.
    pub fn now_local(date: &str) -> Option<ClockReading> {
        Self::from_date(date, chrono::Utc::now().timestamp_millis())
    }

    /// Seconds this machine's clock is ahead of the service's (negative: behind). `Date` holds
    /// whole seconds, cut down: the service's clock stood half a second past it on average.
    pub fn skew(&self) -> i64 {
        let ahead = self.local_millis - (self.service.unix() * 1000 + 500);
        (ahead + 500).div_euclid(1000)
    }
}

/// Whether a skew is worth saying (more than a minute either way).
pub fn differs(skew: i64) -> bool {
    skew.abs() > SKEW_SHOWN_SECS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Minutes,
    Hours,
    Days,
}

/// A span rounded as docs/api.md, Time says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub n: i64,
    pub unit: Unit,
}

/// The largest of days, hours and minutes of which `secs` (either sign) holds at least 2,
/// rounded to the nearest whole unit; `None` under 2 minutes (`just now`, `in 1 min`).
pub fn span(secs: i64) -> Option<Span> {
    let s = secs.unsigned_abs().min(i64::MAX as u64) as i64;
    let (size, unit) = if s >= 2 * 86_400 {
        (86_400, Unit::Days)
    } else if s >= 2 * 3_600 {
        (3_600, Unit::Hours)
    } else if s >= 2 * 60 {
        (60, Unit::Minutes)
    } else {
        return None;
    };
    Some(Span {
        n: s / size + i64::from(s % size >= size / 2),
        unit,
    })
}

/// `2 d`, `47 h`, `5 min`, `1 min` (under 2 minutes): the span in the CLI's English.
pub fn english(secs: i64) -> String {
    match span(secs) {
        Some(Span {
            n,
            unit: Unit::Days,
        }) => format!("{n} d"),
        Some(Span {
            n,
            unit: Unit::Hours,
        }) => format!("{n} h"),
        Some(Span {
            n,
            unit: Unit::Minutes,
        }) => format!("{n} min"),
        None => "1 min".to_string(),
    }
}

/// `clock 2 d ahead of the service` (or `behind`) for a skew worth saying, in English.
pub fn skew_note(skew: i64) -> Option<String> {
    differs(skew).then(|| {
        let side = if skew > 0 { "ahead of" } else { "behind" };
        format!("clock {} {side} the service", english(skew))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60;
    const H: i64 = 3_600;
    const D: i64 = 86_400;

    fn at(n: i64, unit: Unit) -> Option<Span> {
        Some(Span { n, unit })
    }

    #[test]
    fn the_examples_of_the_rule() {
        // docs/api.md, Time: `expires in 3 d` for 2 d 23 h, `47 h` for 1 d 23 h, `2 min` for
        // 2 min 20 s; under 2 minutes no unit at all.
        assert_eq!(span(2 * D + 23 * H), at(3, Unit::Days));
        assert_eq!(span(D + 23 * H), at(47, Unit::Hours));
        assert_eq!(span(2 * MIN + 20), at(2, Unit::Minutes));
        assert_eq!(span(-(2 * MIN + 20)), at(2, Unit::Minutes));
        assert_eq!(span(119), None);
        assert_eq!(span(0), None);
        assert_eq!(span(-5), None);
        // A key issued for 3 days, a second later: still 3 d, not 2 d.
        assert_eq!(span(3 * D - 1), at(3, Unit::Days));
        // The boundaries: at least 2 of the unit, halves round up.
        assert_eq!(span(2 * D), at(2, Unit::Days));
        assert_eq!(span(2 * D - 1), at(48, Unit::Hours));
        assert_eq!(span(2 * H), at(2, Unit::Hours));
        assert_eq!(span(2 * H - 1), at(120, Unit::Minutes));
        assert_eq!(span(120), at(2, Unit::Minutes));
        assert_eq!(span(2 * D + 12 * H), at(3, Unit::Days));
        assert_eq!(span(2 * D + 12 * H - 1), at(2, Unit::Days));
        assert_eq!(span(366 * D), at(366, Unit::Days));
        assert_eq!(span(i64::MIN).map(|s| s.unit), Some(Unit::Days));
    }

    #[test]
    fn english_spans_and_the_skew_note() {
        assert_eq!(english(3 * D - 1), "3 d");
        assert_eq!(english(D + 23 * H), "47 h");
        assert_eq!(english(30), "1 min");
        assert_eq!(
            skew_note(2 * D).as_deref(),
            Some("clock 2 d ahead of the service")
        );
        assert_eq!(
            skew_note(-2 * D).as_deref(),
            Some("clock 2 d behind the service")
        );
        assert_eq!(skew_note(60), None);
        assert_eq!(skew_note(-60), None);
        assert_eq!(
            skew_note(61).as_deref(),
            Some("clock 1 min ahead of the service")
        );
    }

    #[test]
    fn a_reading_gives_the_skew_to_the_second() {
        let r = ClockReading::from_date("Mon, 07 Dec 2026 14:53:43 GMT", 0).unwrap();
        assert_eq!(r.service.to_string(), "2026-12-07T14:53:43Z");
        let t = r.service.unix() * 1000;
        let skew = |local| {
            ClockReading {
                local_millis: local,
                ..r
            }
            .skew()
        };
        // In step: the answer left within the second the Date names.
        assert_eq!(skew(t + 500), 0);
        assert_eq!(skew(t + 900), 0);
        assert_eq!(skew(t + 2 * D * 1000 + 400), 2 * D);
        assert_eq!(skew(t - 2 * D * 1000 + 600), -2 * D);
        assert!(ClockReading::from_date("yesterday", 0).is_none());
    }
}
