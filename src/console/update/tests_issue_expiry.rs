//! `update` through the Issue popup's expiry (issue 8; docs/console.md, Popups): the choice and its
//! keys, the date field and its checks, what is sent, and retries that send the same body.

use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::fixtures::*;
use super::update;
use crate::console::expiry::Lifetime;
use crate::console::keymap::Context;
use crate::console::layout;
use crate::console::model::Model;
use crate::console::msg::{ApiCall, ApiResult, Msg};
use crate::console::popups::issue::IssuePopup;
use crate::console::popups::{Button, Choice, Field, Focus, Popup};
use crate::wire::{ErrorCode, Role, Timestamp};

fn issue_popup(m: &Model) -> &IssuePopup {
    match top(m) {
        Popup::Issue(p) => p,
        other => panic!("expected the Issue popup, got {other:?}"),
    }
}

fn typed(m: &mut Model, s: &str) {
    for c in s.chars() {
        update(m, key(c));
    }
}

/// The Issue popup with the focus on the expiry choice set to `Date…`, the date field focused.
fn on_date_field() -> Model {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    update(&mut m, code(KeyCode::Tab));
    for _ in 0..5 {
        update(&mut m, code(KeyCode::Right));
    }
    assert_eq!(issue_popup(&m).lifetime, Lifetime::Date);
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Field(Field::Date)));
    m
}

fn at(rfc3339: &str) -> Timestamp {
    Timestamp(
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_timezone(&chrono::Utc),
    )
}

#[test]
fn the_choice_starts_on_never_after_name_and_arrows_move_it_within_its_ends() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    let p = issue_popup(&m);
    assert_eq!(p.lifetime, Lifetime::Never);
    assert_eq!(focus(&m), Some(Focus::Field(Field::Name)));
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Choice(Choice::Expiry)));
    assert_eq!(m.context(), Context::Choice);
    // Letters are neither typed nor shortcuts here.
    update(&mut m, key('q'));
    update(&mut m, key('x'));
    assert_eq!(issue_popup(&m).lifetime, Lifetime::Never);
    assert!(!m.quit);
    update(&mut m, code(KeyCode::Left));
    assert_eq!(issue_popup(&m).lifetime, Lifetime::Never, "stops at Never");
    let mut seen = vec![];
    for _ in 0..7 {
        update(&mut m, code(KeyCode::Right));
        seen.push(issue_popup(&m).lifetime);
    }
    use Lifetime::*;
    assert_eq!(seen, [Days7, Days30, Days90, Year, Date, Date, Date]);
    update(&mut m, code(KeyCode::Left));
    assert_eq!(issue_popup(&m).lifetime, Year);
    assert_eq!(
        focus(&m),
        Some(Focus::Choice(Choice::Expiry)),
        "←/→ keep the focus"
    );
}

#[test]
fn tab_goes_name_expiry_access_rate_allowed_issue_cancel_and_through_the_date_field_only_on_date() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    let mut order = vec![focus(&m)];
    for _ in 0..7 {
        update(&mut m, code(KeyCode::Tab));
        order.push(focus(&m));
    }
    let (name, expiry, date) = (
        Some(Focus::Field(Field::Name)),
        Some(Focus::Choice(Choice::Expiry)),
        Some(Focus::Field(Field::Date)),
    );
    let (access, rate, allowed) = (
        Some(Focus::Choice(Choice::Access)),
        Some(Focus::Field(Field::RateLimit)),
        Some(Focus::Field(Field::AllowedFrom)),
    );
    let (issue, cancel) = (
        Some(Focus::Button(Button::Issue)),
        Some(Focus::Button(Button::Cancel)),
    );
    assert_eq!(
        order,
        [name, expiry, access, rate, allowed, issue, cancel, name]
    );
    update(&mut m, code(KeyCode::Tab));
    for _ in 0..5 {
        update(&mut m, code(KeyCode::Right));
    }
    let mut order = vec![focus(&m)];
    for _ in 0..7 {
        update(&mut m, code(KeyCode::Tab));
        order.push(focus(&m));
    }
    assert_eq!(
        order,
        [expiry, date, access, rate, allowed, issue, cancel, name]
    );
    // Shift-Tab walks back the same way.
    for _ in 0..6 {
        update(&mut m, code(KeyCode::BackTab));
    }
    assert_eq!(focus(&m), date);
}

#[test]
fn a_fixed_lifetime_is_sent_as_that_many_days_on_the_services_clock() {
    for (rights, days) in [
        (0, None),
        (1, Some(7)),
        (2, Some(30)),
        (3, Some(90)),
        (4, Some(365)),
    ] {
        let mut m = on_keys(&[1], Role::Manager);
        update(&mut m, key('i'));
        typed(&mut m, "ci");
        update(&mut m, code(KeyCode::Tab));
        for _ in 0..rights {
            update(&mut m, code(KeyCode::Right));
        }
        // Enter on the choice issues, as in a text field.
        let (_, body, _) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
        assert_eq!(body.name.as_deref(), Some("ci"));
        // docs/api.md, Time: a lifetime the service counts from its own now, not an instant
        // computed on this machine's clock.
        assert_eq!(body.expires_at, None, "{rights} steps right");
        assert_eq!(
            body.lifetime_seconds,
            days.map(|d: u32| d * 86_400),
            "{rights} steps right"
        );
        // While it runs, the choice is frozen.
        update(&mut m, code(KeyCode::Left));
        assert_eq!(issue_popup(&m).lifetime.index(), rights);
    }
}

#[test]
fn a_date_is_sent_as_the_end_of_that_local_day() {
    let mut m = on_date_field();
    typed(&mut m, "2026-12-31");
    assert_eq!(issue_popup(&m).expiry_error, None);
    let (_, body, _) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    // The model's zone is UTC+09:00: through 31 December there.
    assert_eq!(body.expires_at, Some(at("2027-01-01T00:00:00+09:00")));
}

#[test]
fn bad_dates_are_refused_inline_and_issue_waits_for_a_good_one() {
    // T0 is 2026-11-26 14:43:12 in UTC+09:00; 366 days on is 2027-11-27 14:43:12.
    let cases = [
        ("2027-02-29", "2027-02-29 is not a date of the calendar."),
        ("2026-13-01", "2026-13-01 is not a date of the calendar."),
        ("2026-11-25", "That day has ended"),
        ("2025-01-01", "That day has ended"),
        ("2027-11-27", "the last possible date is 2027-11-26"),
        ("9999-12-31", "the last possible date is 2027-11-26"),
        ("tomorrow", "Type the date as YYYY-MM-DD."),
        ("2027-1-1", "Type the date as YYYY-MM-DD."),
        ("20270101", "Type the date as YYYY-MM-DD."),
    ];
    for (typed_text, error) in cases {
        let mut m = on_date_field();
        typed(&mut m, typed_text);
        let shown = issue_popup(&m).expiry_error.clone().unwrap_or_default();
        assert!(shown.contains(error), "{typed_text:?}: {shown:?}");
        // [Issue] refused, from the field and from the button.
        assert!(
            update(&mut m, code(KeyCode::Enter)).is_empty(),
            "{typed_text:?}"
        );
        // Past Access, Rate limit and Allowed from to [Issue].
        for _ in 0..4 {
            update(&mut m, code(KeyCode::Tab));
        }
        assert_eq!(focus(&m), Some(Focus::Button(Button::Issue)));
        assert!(
            update(&mut m, code(KeyCode::Enter)).is_empty(),
            "{typed_text:?}"
        );
        assert_eq!(
            focus(&m),
            Some(Focus::Field(Field::Date)),
            "back to the field"
        );
        assert!(
            m.pending
                .values()
                .all(|c| !matches!(c, ApiCall::IssueKey { .. }))
        );
    }
    // Today still counts (it has hours left), and so does the last day.
    for good in ["2026-11-26", "2027-11-26", "2028-02-29"] {
        let mut m = on_date_field();
        typed(&mut m, good);
        let err = issue_popup(&m).expiry_error.clone();
        if good == "2028-02-29" {
            // A real leap day, but more than 366 days ahead.
            assert!(err.is_some_and(|e| e.contains("2027-11-26")));
        } else {
            assert_eq!(err, None, "{good}");
            assert!(
                issue_sent(&update(&mut m, code(KeyCode::Enter)))
                    .1
                    .expires_at
                    .is_some()
            );
        }
    }
}

#[test]
fn an_empty_date_is_flagged_on_submit_and_fixing_it_clears_the_error() {
    let mut m = on_date_field();
    assert_eq!(issue_popup(&m).expiry_error, None, "not before a submit");
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    let e = issue_popup(&m).expiry_error.clone().unwrap_or_default();
    assert!(e.contains("YYYY-MM-DD"), "{e}");
    typed(&mut m, "2027-01-15");
    assert_eq!(issue_popup(&m).expiry_error, None);
    // Back to a fixed lifetime: the date and its errors do not matter any more.
    for _ in 0..4 {
        update(&mut m, code(KeyCode::Backspace));
    }
    assert!(issue_popup(&m).expiry_error.is_some());
    update(&mut m, code(KeyCode::BackTab));
    update(&mut m, code(KeyCode::Left));
    assert_eq!(issue_popup(&m).expiry_error, None);
    let (_, body, _) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!(
        (body.expires_at, body.lifetime_seconds),
        (None, Some(365 * 86_400))
    );
}

#[test]
fn a_huge_paste_into_the_date_is_capped_and_the_choice_takes_no_paste() {
    let mut m = on_date_field();
    let huge = "2027-01-15\u{1b}[31m".repeat(20_000);
    update(&mut m, Msg::Paste(huge));
    assert_eq!(issue_popup(&m).date.value(), "2027-01-15");
    assert_eq!(issue_popup(&m).expiry_error, None);
    let notice = m
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(notice.contains("at most 10 characters"), "{notice}");
    // On the choice, a paste goes nowhere.
    update(&mut m, code(KeyCode::BackTab));
    update(&mut m, Msg::Paste("2028-01-01".into()));
    let p = issue_popup(&m);
    assert_eq!((p.lifetime, p.date.value()), (Lifetime::Date, "2027-01-15"));
    assert_eq!(p.name.value(), "");
}

#[test]
fn a_retry_after_a_network_failure_sends_the_same_body_with_the_same_key() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Right));
    update(&mut m, code(KeyCode::Right));
    let (id, body, idem) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!(body.lifetime_seconds, Some(30 * 86_400));
    // Time passes while the service is away.
    m.now = Timestamp::from_unix(T0 + 95);
    respond(&mut m, id, ApiResult::Issued(Err(unreachable())));
    // [Retry] on the error popup.
    let (id2, body2, idem2) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!((&body2, &idem2), (&body, &idem));
    m.now = Timestamp::from_unix(T0 + 200);
    respond(&mut m, id2, ApiResult::Issued(Err(unreachable())));
    // Cancel on the error popup, then Enter on the unchanged form: the same body again, not
    // 30 days counted from the later now.
    update(&mut m, code(KeyCode::Esc));
    assert!(matches!(top(&m), Popup::Issue(p) if p.in_flight.is_none()));
    let (id3, body3, idem3) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!((&body3, &idem3), (&body, &idem));
    // Another choice is another body (the service then says the key was reused).
    respond(&mut m, id3, ApiResult::Issued(Err(unreachable())));
    update(&mut m, code(KeyCode::Esc));
    update(&mut m, code(KeyCode::Right));
    let (_, body4, _) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!(body4.lifetime_seconds, Some(90 * 86_400));
}

#[test]
fn the_services_refusal_of_the_expiry_shows_under_the_choice() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Right));
    let (id, _, _) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    respond(
        &mut m,
        id,
        ApiResult::Issued(Err(api_err(
            ErrorCode::InvalidRequest,
            "expires_at must be in the future",
        ))),
    );
    let p = issue_popup(&m);
    assert_eq!(p.name_error, None);
    assert!(
        p.expiry_error
            .as_deref()
            .is_some_and(|e| e.contains("expires_at")),
        "{:?}",
        p.expiry_error
    );
}

#[test]
fn a_click_on_an_option_chooses_it() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    for (w, h) in [(100, 30), (60, 16)] {
        update(
            &mut m,
            Msg::Resize {
                width: w,
                height: h,
            },
        );
        for want in [Lifetime::Days90, Lifetime::Date, Lifetime::Never] {
            let l = layout::for_model(&m);
            let pl = l.popups.last().unwrap_or_else(|| panic!("no popup"));
            let r = pl
                .rows
                .iter()
                .find_map(|(_, row)| match row {
                    layout::Row::Choice { options, first, .. } => want
                        .index()
                        .checked_sub(*first)
                        .and_then(|i| options.get(i))
                        .map(|(_, at)| *at),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{want:?} not placed at {w}x{h}"));
            update(
                &mut m,
                Msg::Mouse(MouseEvent {
                    kind: MouseEventKind::Down(MouseButton::Left),
                    column: r.x + r.width - 1,
                    row: r.y,
                    modifiers: KeyModifiers::NONE,
                }),
            );
            assert_eq!(issue_popup(&m).lifetime, want, "{w}x{h}");
            assert_eq!(focus(&m), Some(Focus::Choice(Choice::Expiry)));
        }
    }
}

#[test]
fn help_on_the_choice_lists_its_keys() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, key('?'));
    assert!(matches!(top(&m), Popup::Help(h) if h.context == Context::Choice));
    let lines = crate::console::popups::help::help_lines(&m, Context::Choice);
    for (keys, what) in [
        ("←", "Choose the option on the left"),
        ("→", "Choose the option on the right"),
    ] {
        assert!(
            lines.iter().any(|(k, d)| k.contains(keys) && d == what),
            "{lines:?}"
        );
    }
}
