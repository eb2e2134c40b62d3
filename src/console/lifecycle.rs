//! How a key's place in its life reads on screen (docs/console.md, API Key management): the State
//! cell (`Active`, `Disabled`, `Expired`, `Rotating · ends 14:03`, `new`, `expires in 3 d`) and
//! the attention line above the table. Pure: the model's clock and time zone come in.

use std::collections::BTreeMap;

use crate::console::format;
use crate::console::i18n::Catalog;
use crate::console::model::Tz;
use crate::console::usage::{UsageState, still_called};
use crate::wire::{ApiKey, KeyState, Timestamp};

/// An expiry closer than this is called out (docs/console.md: "an expiry within 7 days"): the
/// same span that counts in a service's `attention`.
pub const SOON_SECS: i64 = crate::wire::ATTENTION_EXPIRY_SECS;

/// Seconds until an active key expires, when that is within [`SOON_SECS`].
pub fn expires_soon(key: &ApiKey, now: Timestamp) -> Option<i64> {
    if key.state != KeyState::Active {
        return None;
    }
    let left = key.expires_at?.unix() - now.unix();
    (0..=SOON_SECS).contains(&left).then_some(left)
}

/// Whether `key` is the successor of a key of `keys` that is still in its grace.
pub fn is_successor(key: &ApiKey, keys: &[ApiKey]) -> bool {
    keys.iter()
        .any(|k| k.state == KeyState::Rotating && k.replaced_by.as_deref() == Some(&key.id))
}

/// `3 d`, `47 h`, `12 min`: rounded as docs/api.md, Time says (a key issued for 3 days reads
/// `expires in 3 d` a second later, not `2 d`).
fn span(tr: &Catalog, secs: i64) -> String {
    format::span(tr, secs)
}

/// `3 days`, `47 hours`, `12 minutes`: the attention line's span, in words (docs/console.md: "1
/// key expires in 3 days"), rounded as the State column's; `1 minute` under 2 minutes.
fn span_words(tr: &Catalog, secs: i64) -> String {
    use crate::clock::Unit;
    let (n, one, many) = match crate::clock::span(secs) {
        Some(s) => match s.unit {
            Unit::Days => (s.n, "attention.day", "attention.days"),
            Unit::Hours => (s.n, "attention.hour", "attention.hours"),
            Unit::Minutes => (s.n, "attention.minute", "attention.minutes"),
        },
        None => (1, "attention.minute", "attention.minutes"),
    };
    if n == 1 {
        tr.t(one).to_string()
    } else {
        tr.f(many, &[("n", &n)])
    }
}

/// The State cell of one row. `keys` is the whole list, to mark a rotation's successor. A key
/// reported leaked reads `Leaked` while it is stopped, `active · leaked` once enabled again,
/// `rotating · leaked` during a grace (docs/console.md, Leaked keys).
pub fn state_label(tr: &Catalog, key: &ApiKey, keys: &[ApiKey], now: Timestamp, tz: Tz) -> String {
    let base = match (key.state, key.leak.is_some()) {
        _ if key.leaked_and_stopped() => tr.t("state.leaked").to_string(),
        (KeyState::Active, true) => tr.t("state.active_leaked").to_string(),
        (KeyState::Rotating, true) => match key.expires_at {
            Some(end) => tr.f(
                "state.rotating_leaked_ends",
                &[("at", &format::clock(end, now, tz))],
            ),
            None => tr.t("state.rotating_leaked").to_string(),
        },
        _ => plain_state(tr, key, now, tz),
    };
    if is_successor(key, keys) {
        tr.f("state.with_new", &[("state", &base)])
    } else {
        base
    }
}

/// The State cell as drawn: [`state_label`], with `!` before `Leaked` where there is no colour
/// to carry the warning (docs/console.md, Terminal capabilities).
pub fn state_cell(
    tr: &Catalog,
    key: &ApiKey,
    keys: &[ApiKey],
    (now, tz): (Timestamp, Tz),
    mono: bool,
) -> String {
    let label = state_label(tr, key, keys, now, tz);
    if mono && key.leaked_and_stopped() {
        format!("! {label}")
    } else {
        label
    }
}

/// Whether a key's state is drawn in the warning style: any key ever reported leaked.
pub fn warns(key: &ApiKey) -> bool {
    key.leak.is_some()
}

/// The state of a key never reported leaked.
fn plain_state(tr: &Catalog, key: &ApiKey, now: Timestamp, tz: Tz) -> String {
    match key.state {
        KeyState::Active => match expires_soon(key, now) {
            Some(left) => tr.f("state.expires_in", &[("span", &span(tr, left))]),
            None => tr.t("state.active").to_string(),
        },
        KeyState::Disabled => tr.t("state.disabled").to_string(),
        KeyState::Expired => tr.t("state.expired").to_string(),
        KeyState::Rotating => match key.expires_at {
            Some(end) => tr.f(
                "state.rotating_ends",
                &[("at", &format::clock(end, now, tz))],
            ),
            None => tr.t("state.rotating").to_string(),
        },
        KeyState::Unknown => "?".to_string(),
    }
}

/// The line above the table: what needs attention, or None. `usage` is what the console knows
/// of keys' usage (issue 9): a disabled key with refused calls in the last 24 hours is "still
/// being called"; the other disabled keys are counted apart, so that no key is counted twice.
pub fn attention(
    tr: &Catalog,
    keys: &[ApiKey],
    now: Timestamp,
    usage: &BTreeMap<String, UsageState>,
) -> Option<String> {
    let mut parts = Vec::new();
    // A leaked key comes first: it is the one thing here that someone else may be using.
    match keys.iter().filter(|k| k.leaked_and_stopped()).count() {
        0 => {}
        1 => parts.push(tr.t("attention.one_leaked").to_string()),
        n => parts.push(tr.f("attention.many_leaked", &[("n", &n)])),
    }
    let soon: Vec<i64> = keys.iter().filter_map(|k| expires_soon(k, now)).collect();
    match soon.as_slice() {
        [] => {}
        [one] => parts.push(tr.f("attention.one_expires", &[("span", &span_words(tr, *one))])),
        many => parts.push(tr.f("attention.many_expire", &[("n", &many.len())])),
    }
    let (called, quiet): (Vec<&ApiKey>, Vec<&ApiKey>) = keys
        .iter()
        .filter(|k| k.state == KeyState::Disabled && !k.leaked_and_stopped())
        .partition(|k| still_called(k, usage.get(&k.id)).is_some());
    match quiet.len() {
        0 => {}
        1 => parts.push(tr.t("attention.one_disabled").to_string()),
        n => parts.push(tr.f("attention.many_disabled", &[("n", &n)])),
    }
    match called.len() {
        0 => {}
        1 => parts.push(tr.t("attention.one_called").to_string()),
        n => parts.push(tr.f("attention.many_called", &[("n", &n)])),
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// Whether a service with these keys carries the `!` on Services: the rule the service counts
/// in its `attention` ([`ApiKey::needs_attention`]), so a listed service and its opened list
/// agree. Every disabled key counts, so a disabled key still being called does too without its
/// usage being fetched per service; so does a leaked key that no longer verifies.
pub fn needs_attention(keys: &[ApiKey], now: Timestamp) -> bool {
    keys.iter().any(|k| k.needs_attention(now))
}
