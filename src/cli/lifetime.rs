//! `--expires` and `--grace` as people write them, checked here before anything is sent
//! (docs/api.md, Key lifecycle: an expiry in the future and at most 366 days ahead, a grace of
//! 0 to 604800 seconds).

use chrono::{DateTime, NaiveDate, Utc};

use super::error::CliError;
use crate::wire::Timestamp;
use crate::wire::limits::{MAX_EXPIRY_AHEAD_SECS, MAX_GRACE_SECS};

/// What `--expires` accepts, for error messages.
const EXPIRES_FORMS: &str = "7d, 30d, 90d, 1y, any Nd up to 366d, a date YYYY-MM-DD (valid \
                             through that day in UTC), an RFC 3339 time, or never";

/// What `--expires` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expires {
    Never,
    /// An instant (`expires_at`).
    At(Timestamp),
    /// A lifetime counted on the service's clock (`lifetime_seconds`, docs/api.md, Time).
    Lifetime(u32),
}

impl Expires {
    /// `expires_at` of an issue or a rotation: set for a date only.
    pub fn at(self) -> Option<Timestamp> {
        match self {
            Expires::At(t) => Some(t),
            Expires::Never | Expires::Lifetime(_) => None,
        }
    }

    /// `lifetime_seconds`: set for `Nd` and `1y` only.
    pub fn lifetime(self) -> Option<u32> {
        match self {
            Expires::Lifetime(n) => Some(n),
            Expires::Never | Expires::At(_) => None,
        }
    }

    /// `expires_at` of a PATCH, where `null` (never) is a value of its own.
    pub fn patch_at(self) -> Option<Option<Timestamp>> {
        match self {
            Expires::Never => Some(None),
            Expires::At(t) => Some(Some(t)),
            Expires::Lifetime(_) => None,
        }
    }
}

/// `--expires WHEN` → what to send: `never`; `Nd` (N×24 hours) and `1y` (365 days) as a
/// lifetime the service counts from its own now, so that this machine's clock does not
/// matter; a date `YYYY-MM-DD` as the end of that day in UTC (the key expires at the next
/// day's 00:00:00Z), so that the same command gives the same instant on every admin's machine;
/// an RFC 3339 time as it is. Errors (exit 2) name the accepted forms or the limit broken: in
/// the past (by `now`), > 366 days.
pub fn parse_expires(s: &str, now: DateTime<Utc>) -> Result<Expires, CliError> {
    let t = s.trim();
    let bad = || {
        CliError::usage(format!(
            "--expires {t:?} is not understood: use {EXPIRES_FORMS}"
        ))
    };
    let at = if t.eq_ignore_ascii_case("never") {
        return Ok(Expires::Never);
    } else if t.eq_ignore_ascii_case("1y") {
        return Ok(Expires::Lifetime(365 * 86_400));
    } else if let Some(n) = t.strip_suffix(['d', 'D']) {
        let days: i64 = n.parse().map_err(|_| bad())?;
        if days < 1 {
            return Err(CliError::usage(format!(
                "--expires {t:?}: the number of days must be at least 1"
            )));
        }
        if days > MAX_EXPIRY_AHEAD_SECS / 86_400 {
            return Err(too_far(t));
        }
        return Ok(Expires::Lifetime(days as u32 * 86_400));
    } else if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let next = d.succ_opt().ok_or_else(bad)?;
        next.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc()
    } else if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        dt.with_timezone(&Utc)
    } else {
        return Err(bad());
    };
    if at <= now {
        return Err(CliError::usage(format!(
            "--expires {t:?} is in the past: a key can only be set to expire in the future"
        )));
    }
    if (at - now).num_seconds() > MAX_EXPIRY_AHEAD_SECS {
        return Err(too_far(t));
    }
    Ok(Expires::At(Timestamp(at)))
}

fn too_far(t: &str) -> CliError {
    CliError::usage(format!(
        "--expires {t:?} is too far ahead: at most 366 days from now"
    ))
}

/// `--grace WHEN` → seconds: `0`, plain seconds, or a number with `s`, `m`, `h` or `d`
/// (`1h`, `24h`, `7d`); at most 604800 (7 days). Errors are usage errors (exit 2).
/// `keys rotate` without `--grace`: a day, as in the console.
pub const DEFAULT_GRACE: &str = "24h";

pub fn parse_grace(s: &str) -> Result<u32, CliError> {
    let t = s.trim();
    let bad = || {
        CliError::usage(format!(
            "--grace {t:?} is not understood: use 0, 1h, 24h, 7d, or a number of seconds (at \
             most 604800, 7 days)"
        ))
    };
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_lowercase()),
        _ => (t, 's'),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(factor).ok_or_else(bad)?;
    if secs > u64::from(MAX_GRACE_SECS) {
        return Err(CliError::usage(format!(
            "--grace {t:?} is too long: at most 7 days (604800 seconds)"
        )));
    }
    Ok(secs as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T21:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn at(s: &str) -> Expires {
        Expires::At(Timestamp(
            DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc),
        ))
    }

    #[test]
    fn expiry_forms() {
        let n = now();
        assert_eq!(parse_expires("never", n).unwrap(), Expires::Never);
        // Counted on the service's clock (docs/api.md, Time): lifetimes, not instants.
        assert_eq!(
            parse_expires("7d", n).unwrap(),
            Expires::Lifetime(7 * 86_400)
        );
        assert_eq!(parse_expires("3d", n).unwrap().lifetime(), Some(259_200));
        assert_eq!(parse_expires("3d", n).unwrap().at(), None);
        assert_eq!(
            parse_expires("1y", n).unwrap(),
            Expires::Lifetime(365 * 86_400)
        );
        assert_eq!(
            parse_expires("366d", n).unwrap(),
            Expires::Lifetime(31_622_400)
        );
        assert_eq!(parse_expires("never", n).unwrap().patch_at(), Some(None));
        assert_eq!(parse_expires("7d", n).unwrap().patch_at(), None);
        assert_eq!(
            parse_expires("2026-12-31", n).unwrap(),
            at("2027-01-01T00:00:00Z")
        );
        // Today, UTC, is still ahead until midnight.
        assert_eq!(
            parse_expires("2026-11-29", n).unwrap(),
            at("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            parse_expires("2027-01-01T09:00:00+09:00", n).unwrap(),
            at("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn bad_expiries_are_usage_errors() {
        let n = now();
        for bad in [
            "",
            "0d",
            "-1d",
            "367d",
            "2y",
            "tomorrow",
            "2026-11-28",
            "2028-01-01",
            "30",
            "2026-13-01",
        ] {
            let e = parse_expires(bad, n).unwrap_err();
            assert_eq!(e.code, 2, "{bad:?}");
            assert!(e.message.starts_with("--expires"), "{bad:?}: {}", e.message);
        }
    }

    #[test]
    fn grace_forms() {
        assert_eq!(parse_grace("0").unwrap(), 0);
        assert_eq!(parse_grace("1h").unwrap(), 3_600);
        assert_eq!(parse_grace("24h").unwrap(), 86_400);
        assert_eq!(parse_grace("7d").unwrap(), 604_800);
        assert_eq!(parse_grace("90").unwrap(), 90);
        assert_eq!(parse_grace("15m").unwrap(), 900);
        for bad in [
            "",
            "h",
            "-1",
            "8d",
            "604801",
            "1w",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_grace(bad).unwrap_err().code, 2, "{bad:?}");
        }
    }
}
