//! The service's clock (docs/console.md, The service's clock): every answer's `Date` moves the
//! console's now onto the service's clock, relative times count from it, and the header says
//! when the two clocks differ by more than a minute.

use super::test_support::{draw, screen_text};
use crate::clock::ClockReading;
use crate::console::format;
use crate::console::msg::Msg;
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::wire::{Role, Timestamp};

const DAY: i64 = 86_400;

/// An answer's `Date` of `service`, read when this machine's clock says `local`.
fn clock(service: i64, local: i64) -> Msg {
    Msg::ServiceClock(ClockReading {
        service: Timestamp::from_unix(service),
        local_millis: local * 1000 + 500,
    })
}

/// Keys on screen, the first used 7 minutes ago on the service's clock (T0).
fn keys_used_7_min_ago() -> crate::console::model::Model {
    let mut m = on_keys(&[1, 2], Role::Manager);
    if let Some(k) = m.keys.as_mut()
        && let Some(l) = k.list.as_mut()
    {
        l.api_keys[0].last_used_at = Some(Timestamp::from_unix(T0 - 7 * 60));
    }
    m
}

#[test]
fn a_clock_two_days_ahead_counts_from_the_services_now_and_says_so() {
    let mut m = keys_used_7_min_ago();
    // The loop reads this machine's clock, 2 days ahead of the service's.
    m.set_local_now(Timestamp::from_unix(T0 + 2 * DAY));
    let before = screen_text(&draw(&mut m, 100, 30));
    assert!(before.contains("2 d ago"), "{before}");
    update(&mut m, clock(T0, T0 + 2 * DAY));
    assert_eq!((m.skew, m.now.unix()), (2 * DAY, T0));
    let after = screen_text(&draw(&mut m, 100, 30));
    assert!(after.contains("7 min ago"), "{after}");
    assert!(!after.contains("2 d ago"), "{after}");
    assert!(
        after
            .lines()
            .next()
            .unwrap_or_default()
            .contains("clock 2 d ahead of the service"),
        "{after}"
    );
    // The next wake-up reads this machine's clock again: still the service's now.
    m.set_local_now(Timestamp::from_unix(T0 + 2 * DAY + 60));
    assert_eq!(m.now.unix(), T0 + 60);
    // At 60×16 the note still fits beside who is signed in.
    let narrow = screen_text(&draw(&mut m, 60, 16));
    assert!(
        narrow
            .lines()
            .next()
            .unwrap_or_default()
            .contains("clock 2 d ahead of the service"),
        "{narrow}"
    );
}

#[test]
fn a_clock_behind_says_behind_and_the_grace_ends_in_the_services_future() {
    let mut m = keys_used_7_min_ago();
    m.set_local_now(Timestamp::from_unix(T0 - 2 * DAY));
    update(&mut m, clock(T0, T0 - 2 * DAY));
    assert_eq!(m.now.unix(), T0);
    update(&mut m, key('R'));
    let s = screen_text(&draw(&mut m, 100, 30));
    assert!(
        s.lines()
            .next()
            .unwrap_or_default()
            .contains("clock 2 d behind the service"),
        "{s}"
    );
    // 24 hours (the default grace) from the service's now, not from this machine's.
    let ends = format::with_offset(Timestamp::from_unix(T0 + DAY), m.tz);
    assert!(s.contains(&ends), "{ends} in\n{s}");
}

#[test]
fn clocks_within_a_minute_say_nothing() {
    let mut m = keys_used_7_min_ago();
    m.set_local_now(Timestamp::from_unix(T0 + 50));
    update(&mut m, clock(T0, T0 + 50));
    assert_eq!(m.now.unix(), T0);
    let s = screen_text(&draw(&mut m, 100, 30));
    assert!(!s.contains("clock"), "{s}");
    assert!(s.contains("7 min ago"), "{s}");
}
