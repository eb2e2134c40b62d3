//! `update` through the access fields of Issue API Key and through Edit access (docs/console.md,
//! Access): focus order, Custom's check boxes and Space, inline errors, the body sent, a retry
//! with the same body, Narrow filling the form and its diff, one impact request at a time for
//! the latest form, Save's PATCH of only what changed, and forms that scroll at 60×16.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::keymap::Context;
use crate::console::layout::{self, Row};
use crate::console::model::Model;
use crate::console::msg::{ApiCall, ApiResult, Effect, Msg};
use crate::console::popups::access::AccessPopup;
use crate::console::popups::issue::IssuePopup;
use crate::console::popups::policy_form::Access;
use crate::console::popups::{Button, Choice, Field, Focus, Popup};
use crate::policy::{Policy, RateLimit, Scope};
use crate::wire::{
    Narrowing, NarrowingCandidate, NarrowingReason, NetworkSeen, Role, Timestamp, Usage,
};

fn issue_popup(m: &Model) -> &IssuePopup {
    match top(m) {
        Popup::Issue(p) => p,
        other => panic!("expected the Issue popup, got {other:?}"),
    }
}

fn access_popup(m: &Model) -> &AccessPopup {
    match top(m) {
        Popup::Access(p) => p,
        other => panic!("expected Edit access, got {other:?}"),
    }
}

fn typed(m: &mut Model, s: &str) {
    for c in s.chars() {
        update(m, key(c));
    }
}

fn tab(m: &mut Model, n: usize) {
    for _ in 0..n {
        update(m, code(KeyCode::Tab));
    }
}

/// The Issue popup with the focus on Access.
fn on_access_choice() -> Model {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('i'));
    tab(&mut m, 2);
    assert_eq!(focus(&m), Some(Focus::Choice(Choice::Access)));
    m
}

#[test]
fn custom_shows_three_check_boxes_that_space_toggles_and_one_stays_checked() {
    let mut m = on_access_choice();
    assert_eq!(m.context(), Context::Choice);
    for _ in 0..3 {
        update(&mut m, code(KeyCode::Right));
    }
    assert_eq!(issue_popup(&m).access.access, Access::Custom);
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Check(Scope::Query)));
    assert_eq!(m.context(), Context::Check);
    // Tab and → walk the boxes, then on to Rate limit.
    let mut order = vec![focus(&m)];
    update(&mut m, code(KeyCode::Right));
    order.push(focus(&m));
    update(&mut m, code(KeyCode::Tab));
    order.push(focus(&m));
    update(&mut m, code(KeyCode::Tab));
    order.push(focus(&m));
    assert_eq!(
        order,
        [
            Some(Focus::Check(Scope::Query)),
            Some(Focus::Check(Scope::Ingest)),
            Some(Focus::Check(Scope::Manage)),
            Some(Focus::Field(Field::RateLimit)),
        ]
    );
    update(&mut m, code(KeyCode::BackTab));
    // Space unchecks manage, then ingest (←), then query cannot go: an inline error.
    update(&mut m, key(' '));
    update(&mut m, code(KeyCode::Left));
    update(&mut m, key(' '));
    update(&mut m, code(KeyCode::Left));
    update(&mut m, key(' '));
    let p = issue_popup(&m);
    assert_eq!(p.access.scopes().to_vec(), [Scope::Query]);
    assert!(
        p.access
            .scopes_error
            .as_deref()
            .is_some_and(|e| e.contains("at least one scope")),
        "{:?}",
        p.access.scopes_error
    );
    update(&mut m, code(KeyCode::Right));
    update(&mut m, key(' '));
    let p = issue_popup(&m);
    assert_eq!(p.access.scopes().to_vec(), [Scope::Query, Scope::Ingest]);
    assert!(p.access.scopes_error.is_none());
    // A click on a box toggles it too, where the layout drew it.
    let l = layout::for_model(&m);
    let at = l.popups.last().and_then(|p| {
        p.rows.iter().find_map(|(_, r)| match r {
            Row::Checks(b) => b
                .iter()
                .find(|(s, ..)| *s == Scope::Manage)
                .map(|(.., r)| *r),
            _ => None,
        })
    });
    let at = at.unwrap_or_else(|| panic!("no check boxes drawn"));
    update(
        &mut m,
        Msg::Mouse(crossterm::event::MouseEvent {
            kind: crossterm::event::MouseEventKind::Down(crossterm::event::MouseButton::Left),
            column: at.x + 2,
            row: at.y,
            modifiers: crossterm::event::KeyModifiers::NONE,
        }),
    );
    assert_eq!(focus(&m), Some(Focus::Check(Scope::Manage)));
    assert_eq!(
        issue_popup(&m).access.scopes().to_vec(),
        [Scope::Query, Scope::Ingest, Scope::Manage]
    );
}

#[test]
fn rate_and_allowlist_are_checked_inline_and_name_the_bad_entry() {
    let mut m = on_access_choice();
    tab(&mut m, 1);
    typed(&mut m, "5/day");
    let e = issue_popup(&m)
        .access
        .rate_error
        .clone()
        .unwrap_or_default();
    assert!(e.contains("'5/day'") && e.contains("N/min"), "{e}");
    for _ in 0..3 {
        update(&mut m, code(KeyCode::Backspace));
    }
    typed(&mut m, "s");
    assert_eq!(issue_popup(&m).access.rate_error, None, "5/s is a rate");
    tab(&mut m, 1);
    typed(&mut m, "10.0.0.0/8, 10.0.4.17/24");
    let e = issue_popup(&m)
        .access
        .cidrs_error
        .clone()
        .unwrap_or_default();
    assert!(
        e.contains("10.0.4.17/24") && e.contains("10.0.4.0/24"),
        "{e}"
    );
    // [Issue] is refused while it is wrong: the focus goes to the field.
    update(&mut m, code(KeyCode::Enter));
    assert!(
        m.pending
            .values()
            .all(|c| !matches!(c, ApiCall::IssueKey { .. }))
    );
    assert_eq!(focus(&m), Some(Focus::Field(Field::AllowedFrom)));
}

#[test]
fn networks_pasted_one_a_line_stay_separate_entries() {
    let mut m = on_access_choice();
    tab(&mut m, 2);
    assert_eq!(focus(&m), Some(Focus::Field(Field::AllowedFrom)));
    update(
        &mut m,
        Msg::Paste("10.0.4.0/24\n10.0.5.0/24\r\n192.0.2.7\t2001:db8::/32".to_string()),
    );
    let p = issue_popup(&m);
    assert_eq!(p.access.cidrs_error, None, "{:?}", p.access.cidrs.value());
    assert_eq!(
        p.access.cidrs.value(),
        "10.0.4.0/24 10.0.5.0/24  192.0.2.7 2001:db8::/32"
    );
}

#[test]
fn the_issue_carries_scopes_rate_and_allowlist_and_full_sends_no_scopes() {
    // Full, nothing else: the body as before policies.
    let mut m = on_access_choice();
    let (_, body, _) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!(
        (body.scopes, body.rate_limit, body.allowed_cidrs),
        (None, None, None)
    );

    let mut m = on_access_choice();
    update(&mut m, code(KeyCode::Right));
    tab(&mut m, 1);
    typed(&mut m, "6000/min");
    tab(&mut m, 1);
    typed(&mut m, "10.0.4.17 2001:DB8::/32");
    let (id, body, idem) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!(body.scopes, Some(vec![Scope::Query]));
    assert_eq!(
        body.rate_limit,
        Some(RateLimit {
            requests: 6000,
            per_seconds: 60
        })
    );
    assert_eq!(
        body.allowed_cidrs,
        Some(vec![
            "10.0.4.17/32".to_string(),
            "2001:db8::/32".to_string()
        ])
    );
    // A lost connection, then [Retry], then [Issue] again: the same body, the same key.
    respond(&mut m, id, ApiResult::Issued(Err(unreachable())));
    let (id2, body2, idem2) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!((&body2, &idem2), (&body, &idem));
    respond(&mut m, id2, ApiResult::Issued(Err(unreachable())));
    update(&mut m, code(KeyCode::Esc));
    let (_, body3, idem3) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    assert_eq!((body3, idem3), (body, idem));
}

#[test]
fn the_service_refusing_an_allowlist_says_so_under_its_field() {
    let mut m = on_access_choice();
    let (id, _, _) = issue_sent(&update(&mut m, code(KeyCode::Enter)));
    let e = api_err(
        crate::wire::ErrorCode::InvalidRequest,
        "allowed_cidrs must hold 1 to 16 networks",
    );
    respond(&mut m, id, ApiResult::Issued(Err(e)));
    let p = issue_popup(&m);
    assert!(
        p.access
            .cidrs_error
            .as_deref()
            .is_some_and(|e| e.contains("allowed_cidrs"))
    );
    assert!(p.name_error.is_none());
}

#[test]
fn at_60x16_the_issue_form_scrolls_with_its_focus_and_keeps_it_whole() {
    let mut m = on_keys(&[1], Role::Manager);
    update(
        &mut m,
        Msg::Resize {
            width: 60,
            height: 16,
        },
    );
    update(&mut m, key('i'));
    // Date… and Custom: taller than the screen.
    tab(&mut m, 1);
    for _ in 0..5 {
        update(&mut m, code(KeyCode::Right));
    }
    tab(&mut m, 2);
    for _ in 0..3 {
        update(&mut m, code(KeyCode::Right));
    }
    let order = top(&m).focus_order().to_vec();
    let mut seen_above = false;
    for _ in 0..order.len() {
        let l = layout::for_model(&m);
        let p = l.popups.last().unwrap_or_else(|| panic!("no popup placed"));
        assert!(p.area.bottom() < 16, "the footer stays");
        let marks: Vec<bool> = p
            .rows
            .iter()
            .filter_map(|(_, r)| match r {
                Row::More { up, .. } => Some(*up),
                _ => None,
            })
            .collect();
        assert!(!marks.is_empty(), "a mark says more is above or below");
        seen_above |= marks.contains(&true);
        // The focused part is on screen.
        let shown = match focus(&m) {
            Some(Focus::Field(f)) => p.fields.iter().any(|(x, _)| *x == f),
            Some(Focus::Button(b)) => p.buttons.iter().any(|(x, _)| *x == b),
            Some(Focus::Choice(c)) => p
                .rows
                .iter()
                .any(|(_, r)| matches!(r, Row::Choice { choice, .. } if *choice == c)),
            Some(Focus::Check(_)) => p.rows.iter().any(|(_, r)| matches!(r, Row::Checks(_))),
            None => false,
        };
        assert!(shown, "{:?} off screen", focus(&m));
        update(&mut m, code(KeyCode::Tab));
    }
    assert!(
        seen_above,
        "at the buttons the top of the form is scrolled away"
    );
    // Round to Name: the window is back at the top, nothing above.
    while focus(&m) != Some(Focus::Field(Field::Name)) {
        update(&mut m, code(KeyCode::Tab));
    }
    let l = layout::for_model(&m);
    let p = l.popups.last().unwrap_or_else(|| panic!("no popup placed"));
    assert!(
        !p.rows
            .iter()
            .any(|(_, r)| matches!(r, Row::More { up: true, .. }))
    );
}

fn used() -> Usage {
    Usage {
        key_id: "key_0002".into(),
        scopes_used: [("query".to_string(), 1204)].into_iter().collect(),
        networks: vec![NetworkSeen {
            network: "10.0.4.0/24".into(),
            calls: 1204,
            last_seen: Timestamp::from_unix(T0 - 60),
        }],
        recorded_since: Some(Timestamp::from_unix(T0 - 40 * 86_400)),
        ..Usage::default()
    }
}

fn proposal() -> Narrowing {
    Narrowing {
        current: Policy::full(),
        proposed: Some(Policy {
            scopes: vec![Scope::Query],
            rate_limit: None,
            allowed_cidrs: Some(vec!["10.0.4.0/24".into()]),
        }),
        reasons: vec![],
        would_refuse_30d: Some(0),
    }
}

/// Edit access of key_0002 opened with `p`, its usage answered.
fn edit_access() -> Model {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let fx = update(&mut m, key('p'));
    assert!(only_usage(&fx, "key_0002"), "{fx:?}");
    let (id, _) = only_call(&fx);
    respond(
        &mut m,
        id,
        ApiResult::Usage {
            key_id: "key_0002".into(),
            result: Ok(used()),
        },
    );
    m
}

fn narrowing_calls(fx: &[Effect]) -> Vec<(u64, Option<NarrowingCandidate>)> {
    calls(fx)
        .into_iter()
        .filter_map(|(id, c)| match c {
            ApiCall::KeyNarrowing { candidate, .. } => Some((id, candidate)),
            _ => None,
        })
        .collect()
}

fn lines(m: &Model) -> Vec<String> {
    let l = layout::for_model(m);
    l.popups
        .last()
        .map(|p| {
            p.rows
                .iter()
                .filter_map(|(_, r)| match r {
                    Row::Text(s, _) => Some(s.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn edit_access_opens_prefilled_on_narrow_for_managers_only() {
    let mut m = edit_access();
    let p = access_popup(&m);
    assert_eq!(p.form.access, Access::Full);
    assert_eq!(focus(&m), Some(Focus::Button(Button::Narrow)));
    let order = top(&m).focus_order().to_vec();
    assert_eq!(
        order,
        [
            Focus::Choice(Choice::Access),
            Focus::Field(Field::RateLimit),
            Focus::Field(Field::AllowedFrom),
            Focus::Button(Button::Narrow),
            Focus::Button(Button::Save),
            Focus::Button(Button::Cancel),
        ]
    );
    update(&mut m, code(KeyCode::Esc));
    assert!(m.popups.is_empty(), "Esc cancels");
    // Through the menu: Access… right after Rename.
    update(&mut m, key('m'));
    for _ in 0..3 {
        update(&mut m, code(KeyCode::Up));
    }
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(top(&m), Popup::Access(_)));
    // A viewer is told why, and the menu item says it needs the manager role.
    let mut v = on_keys(&[1, 2], Role::Viewer);
    assert!(update(&mut v, key('p')).is_empty());
    assert!(v.popups.is_empty());
    assert!(
        notice(&v).is_some_and(|n| n.contains("manager")),
        "{:?}",
        notice(&v)
    );
    assert!(
        crate::console::popups::menu::item_disabled(&v, crate::console::popups::menu::MENU_ACCESS)
            .is_some()
    );
}

#[test]
fn narrow_fills_the_form_shows_the_diff_and_save_patches_what_changed() {
    let mut m = edit_access();
    let fx = update(&mut m, code(KeyCode::Enter));
    let asked = narrowing_calls(&fx);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].1, None, "the proposal, no candidate");
    // While it runs, a second Enter does nothing.
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    let fx = respond(
        &mut m,
        asked[0].0,
        ApiResult::Narrowing {
            key_id: "key_0002".into(),
            result: Ok(proposal()),
        },
    );
    // The proposal's own figure is its impact: no further request.
    assert!(narrowing_calls(&fx).is_empty(), "{fx:?}");
    let p = access_popup(&m);
    assert_eq!(p.form.access, Access::Query);
    assert_eq!(p.form.cidrs.value(), "10.0.4.0/24");
    assert_eq!(focus(&m), Some(Focus::Button(Button::Save)));
    let shown = lines(&m);
    for want in [
        "- ingest (0 calls in 30 days)",
        "- manage (0 calls in 30 days)",
        "+ allowed from 10.0.4.0/24 (1,204 calls)",
        "Would have refused none of the calls of the last 30 days.",
    ] {
        assert!(
            shown.iter().any(|l| l == want),
            "{want:?} not in {shown:#?}"
        );
    }
    let fx = update(&mut m, code(KeyCode::Enter));
    let (id, call) = only_call(&fx);
    let ApiCall::UpdateKey { body, key_id, .. } = call else {
        panic!("expected a PATCH, got {call:?}")
    };
    assert_eq!(key_id, "key_0002");
    assert_eq!(body.scopes, Some(vec![Scope::Query]));
    assert_eq!(
        body.allowed_cidrs,
        Some(Some(vec!["10.0.4.0/24".to_string()]))
    );
    assert_eq!(body.rate_limit, None, "the rate did not change: not sent");
    assert_eq!(body.name, None);
    let mut saved = api_key(2);
    saved.policy = proposal().proposed.unwrap_or_else(Policy::full);
    let fx = respond(&mut m, id, ApiResult::KeyUpdated(Ok(saved)));
    assert!(m.popups.is_empty());
    assert!(
        matches!(only_call(&fx).1, ApiCall::ListKeys { .. }),
        "the list refreshes"
    );
    assert!(
        notice(&m).is_some_and(|n| n.contains("saved") && n.contains("query A")),
        "{:?}",
        notice(&m)
    );
}

#[test]
fn no_proposal_says_why_in_words() {
    let mut m = edit_access();
    let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
    respond(
        &mut m,
        id,
        ApiResult::Narrowing {
            key_id: "key_0002".into(),
            result: Ok(Narrowing {
                current: Policy::full(),
                proposed: None,
                reasons: vec![NarrowingReason::NoCallsSinceRecording],
                would_refuse_30d: None,
            }),
        },
    );
    let shown = lines(&m);
    assert!(
        shown.iter().any(|l| l == "Nothing to propose."),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|l| l.contains("No successful call since")),
        "{shown:#?}"
    );
    assert_eq!(
        access_popup(&m).form.access,
        Access::Full,
        "the form is kept"
    );
    assert_eq!(focus(&m), Some(Focus::Button(Button::Narrow)));
}

#[test]
fn each_change_by_hand_asks_its_impact_one_request_at_a_time_and_the_latest_wins() {
    let mut m = edit_access();
    // Focus to Access, then Query only: a change, judged as a candidate.
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Save)));
    tab(&mut m, 2);
    assert_eq!(focus(&m), Some(Focus::Choice(Choice::Access)));
    let fx = update(&mut m, code(KeyCode::Right));
    let asked = narrowing_calls(&fx);
    assert_eq!(
        asked.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
        [Some(NarrowingCandidate {
            scopes: Some(vec![Scope::Query]),
            allowed_cidrs: None
        })]
    );
    assert!(
        lines(&m)
            .iter()
            .any(|l| l.starts_with("Checking the calls"))
    );
    // Two more changes while it runs: nothing more is sent.
    assert!(narrowing_calls(&update(&mut m, code(KeyCode::Right))).is_empty());
    assert!(narrowing_calls(&update(&mut m, code(KeyCode::Right))).is_empty());
    assert_eq!(access_popup(&m).form.access, Access::Custom);
    // The answer for the old form arrives: the latest form (Custom, all three: no scope
    // change) is not a change of scopes, so nothing more is asked until a box moves.
    let fx = respond(
        &mut m,
        asked[0].0,
        ApiResult::Narrowing {
            key_id: "key_0002".into(),
            result: Ok(Narrowing {
                would_refuse_30d: Some(0),
                ..proposal()
            }),
        },
    );
    assert!(narrowing_calls(&fx).is_empty(), "{fx:?}");
    update(&mut m, code(KeyCode::Tab));
    let fx = update(&mut m, key(' '));
    let asked = narrowing_calls(&fx);
    assert_eq!(
        asked.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
        [Some(NarrowingCandidate {
            scopes: Some(vec![Scope::Ingest, Scope::Manage]),
            allowed_cidrs: None
        })]
    );
    respond(
        &mut m,
        asked[0].0,
        ApiResult::Narrowing {
            key_id: "key_0002".into(),
            result: Ok(Narrowing {
                proposed: None,
                would_refuse_30d: Some(1204),
                ..proposal()
            }),
        },
    );
    let shown = lines(&m);
    assert!(
        shown
            .iter()
            .any(|l| l == "- query (1,204 calls in 30 days)"),
        "{shown:#?}"
    );
    assert!(
        shown
            .iter()
            .any(|l| l == "Would have refused 1,204 of the calls of the last 30 days."),
        "{shown:#?}"
    );
    // A rate limit alone asks nothing and says it is not counted.
    update(&mut m, key(' '));
    tab(&mut m, 3);
    assert_eq!(focus(&m), Some(Focus::Field(Field::RateLimit)));
    let mut fx = Vec::new();
    for c in "100/s".chars() {
        fx.extend(update(&mut m, key(c)));
    }
    assert!(narrowing_calls(&fx).is_empty(), "{fx:?}");
    let shown = lines(&m);
    assert!(
        shown.iter().any(|l| l == "+ rate limit 100/s"),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|l| l.contains("not counted")),
        "{shown:#?}"
    );
    // Save sends only the rate.
    let (_, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    let ApiCall::UpdateKey { body, .. } = call else {
        panic!("expected a PATCH")
    };
    assert_eq!(
        (body.scopes, body.allowed_cidrs, body.rate_limit),
        (
            None,
            None,
            Some(Some(RateLimit {
                requests: 100,
                per_seconds: 1
            }))
        )
    );
}

#[test]
fn save_without_a_change_sends_nothing() {
    let mut m = edit_access();
    tab(&mut m, 1);
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    assert!(matches!(top(&m), Popup::Access(_)));
    assert!(notice(&m).is_some_and(|n| n.starts_with("Nothing to save")));
}
