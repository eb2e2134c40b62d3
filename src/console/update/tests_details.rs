//! `update` tests of usage per key (issue 9): what is asked for and when, how answers are kept,
//! the attention line, and the Details popup's keys.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::lifecycle::{attention, needs_attention};
use crate::console::msg::{ApiCall, ApiResult, Msg};
use crate::console::popups::Popup;
use crate::console::usage::UsageState;
use crate::console::view::tests_details::{Use, answer_usage, usage_of};
use crate::wire::{AuditAction, AuditEvent, AuditPage, KeyState, Role, Timestamp};

fn usage_calls(fx: &[crate::console::msg::Effect]) -> Vec<String> {
    calls(fx)
        .into_iter()
        .filter_map(|(_, c)| match c {
            ApiCall::KeyUsage { key_id, .. } => Some(key_id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_list_asks_for_the_usage_of_at_most_five_disabled_keys_once() {
    let mut m = on_keys(&[1], Role::Manager);
    let (id, _) = only_call(&update(&mut m, key('r')));
    let ApiResult::Keys {
        result: Ok(mut list),
        ..
    } = keys_result("svc_0001", &[1, 2, 3, 4, 5, 6, 7, 8])
    else {
        panic!("keys")
    };
    for k in list.api_keys.iter_mut().skip(1) {
        k.state = KeyState::Disabled;
    }
    let answer = |list| Msg::Api {
        id,
        result: ApiResult::Keys {
            service_id: "svc_0001".into(),
            result: Ok(list),
        },
    };
    let asked = usage_calls(&update(&mut m, answer(list.clone())));
    // Newest first: keys 7 to 3 (key 8, the newest, is active).
    assert_eq!(
        asked,
        ["key_0007", "key_0006", "key_0005", "key_0004", "key_0003"]
    );
    // A reload while those are on their way asks for none again.
    let (id, _) = only_call(&update(&mut m, key('r')));
    let fx = respond(
        &mut m,
        id,
        ApiResult::Keys {
            service_id: "svc_0001".into(),
            result: Ok(list),
        },
    );
    assert!(usage_calls(&fx).is_empty(), "{fx:?}");
}

#[test]
fn the_attention_line_counts_disabled_keys_still_called_apart() {
    let mut m = on_keys(&[1, 2, 3], Role::Manager);
    let keys = {
        let l = m.keys.as_mut().and_then(|k| k.list.as_mut()).expect("list");
        l.api_keys[0].state = KeyState::Disabled;
        l.api_keys[1].state = KeyState::Disabled;
        l.api_keys.clone()
    };
    let line = |m: &crate::console::model::Model| attention(m.tr, &keys, m.now, &m.usage);
    assert_eq!(line(&m).as_deref(), Some("2 keys are disabled"));
    m.usage.insert(
        keys[0].id.clone(),
        UsageState::Loaded(Box::new(usage_of(&keys[0].id, Use::Refused))),
    );
    m.usage.insert(
        keys[1].id.clone(),
        UsageState::Loaded(Box::new(usage_of(&keys[1].id, Use::Old))),
    );
    assert_eq!(
        line(&m).as_deref(),
        Some("1 key is disabled · 1 disabled key is still being called")
    );
    // The Services `!` holds for any disabled key, so also for one still called.
    assert!(needs_attention(&keys, m.now));
}

#[test]
fn a_failed_usage_replaces_only_a_wait() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let (id, _) = only_call(&update(&mut m, key('d')));
    assert_eq!(m.usage.get("key_0002"), Some(&UsageState::Loading));
    let failed = |id| Msg::Api {
        id,
        result: ApiResult::Usage {
            key_id: "key_0002".into(),
            result: Err(unreachable()),
        },
    };
    update(&mut m, failed(id));
    assert!(matches!(
        m.usage.get("key_0002"),
        Some(UsageState::Failed(_))
    ));
    update(&mut m, code(KeyCode::Esc));
    // Opened again: checked afresh; figures arrive, and a later failure keeps them.
    let (_, _) = only_call(&update(&mut m, key('d')));
    assert_eq!(m.usage.get("key_0002"), Some(&UsageState::Loading));
    answer_usage(&mut m, "key_0002", Use::Busy);
    assert!(matches!(
        m.usage.get("key_0002"),
        Some(UsageState::Loaded(_))
    ));
    let id = m.next_id;
    m.pending.insert(
        id,
        ApiCall::KeyUsage {
            service_id: "svc_0001".into(),
            key_id: "key_0002".into(),
        },
    );
    m.next_id += 1;
    update(&mut m, failed(id));
    assert!(matches!(
        m.usage.get("key_0002"),
        Some(UsageState::Loaded(_))
    ));
}

#[test]
fn details_keeps_only_its_keys_events_and_esc_abandons_the_request() {
    let mut m = on_keys(&[1, 2], Role::Viewer);
    let fx = update(&mut m, key('v'));
    let audit = find_call(&fx, |c| matches!(c, ApiCall::KeyAudit { .. }));
    let ev = |k: &str| AuditEvent {
        at: Timestamp::from_unix(T0),
        actor: "admin".into(),
        role: Role::Manager,
        action: AuditAction::ApiKeyIssue,
        service_id: "svc_0001".into(),
        key_id: Some(k.into()),
        masked: None,
        remote_addr: "127.0.0.1".into(),
        outcome: "ok".into(),
        changes: None,
        url: None,
        source: None,
    };
    respond(
        &mut m,
        audit,
        ApiResult::KeyAudit {
            key_id: "key_0002".into(),
            result: Ok(AuditPage {
                events: vec![ev("key_0001"), ev("key_0002"), ev("key_0001")],
                next: None,
            }),
        },
    );
    match top(&m) {
        Popup::Details(p) => {
            let ids: Vec<_> = p
                .events
                .iter()
                .flatten()
                .map(|e| e.key_id.clone())
                .collect();
            assert_eq!(ids, [Some("key_0002".to_string())]);
        }
        other => panic!("{other:?}"),
    }
    update(&mut m, code(KeyCode::Esc));
    update(&mut m, key('v'));
    let pending_audit = || {
        m.pending
            .values()
            .filter(|c| matches!(c, ApiCall::KeyAudit { .. }))
            .count()
    };
    assert_eq!(pending_audit(), 1);
    update(&mut m, key('q'));
    assert!(m.popups.is_empty());
    assert_eq!(
        m.pending
            .values()
            .filter(|c| matches!(c, ApiCall::KeyAudit { .. }))
            .count(),
        0,
        "Esc abandons the events"
    );
}

#[test]
fn details_scrolls_within_its_lines_at_60x16() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    update(
        &mut m,
        Msg::Resize {
            width: 60,
            height: 16,
        },
    );
    update(&mut m, key('v'));
    answer_usage(&mut m, "key_0002", Use::Busy);
    for _ in 0..50 {
        update(&mut m, code(KeyCode::Down));
    }
    let l = crate::console::layout::for_model(&m);
    let pl = l.popups.last().expect("details");
    let max = pl.total_lines - pl.visible_lines;
    assert!(max > 0, "it does not fit at 60×16");
    assert!(matches!(top(&m), Popup::Details(p) if p.scroll == max));
    update(&mut m, key('g'));
    assert!(matches!(top(&m), Popup::Details(p) if p.scroll == 0));
}

/// Details of key 2 (the selected one) open, its usage and events answered; the key rotated
/// elsewhere meanwhile is still Active in the list the console holds.
fn details_of_a_key_rotated_elsewhere() -> crate::console::model::Model {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let fx = update(&mut m, key('v'));
    assert!(matches!(top(&m), Popup::Details(_)));
    let audit_id = find_call(&fx, |c| matches!(c, ApiCall::KeyAudit { .. }));
    let rotate = AuditEvent {
        at: Timestamp::from_unix(T0 - 60),
        actor: "bob@bastion-2".into(),
        role: Role::Manager,
        action: AuditAction::ApiKeyRotate,
        service_id: "svc_0001".into(),
        key_id: Some("key_0002".into()),
        masked: Some("ragk_Ab02********wXyZ".into()),
        remote_addr: "10.0.4.17".into(),
        outcome: "ok".into(),
        changes: None,
        url: None,
        source: None,
    };
    // The events show the rotation the key as listed does not: the list is asked for again.
    let fx = respond(
        &mut m,
        audit_id,
        ApiResult::KeyAudit {
            key_id: "key_0002".into(),
            result: Ok(AuditPage {
                events: vec![rotate],
                next: None,
            }),
        },
    );
    let (list_id, call) = only_call(&fx);
    assert!(matches!(call, ApiCall::ListKeys { .. }), "{call:?}");
    let ApiResult::Keys {
        result: Ok(mut list),
        ..
    } = keys_result("svc_0001", &[1, 2, 3])
    else {
        panic!("keys")
    };
    for k in &mut list.api_keys {
        if k.id == "key_0002" {
            k.state = KeyState::Rotating;
            k.replaced_by = Some("key_0003".into());
        }
    }
    respond(
        &mut m,
        list_id,
        ApiResult::Keys {
            service_id: "svc_0001".into(),
            result: Ok(list),
        },
    );
    m
}

#[test]
fn details_of_a_key_rotated_elsewhere_shows_it_rotated_not_active() {
    let m = details_of_a_key_rotated_elsewhere();
    let Popup::Details(p) = top(&m) else {
        panic!("details closed")
    };
    assert_eq!(p.key.state, KeyState::Rotating);
    assert_eq!(p.key.replaced_by.as_deref(), Some("key_0003"));
}

#[test]
fn r_in_details_asks_for_the_key_its_usage_and_its_events_again() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let fx = update(&mut m, key('v'));
    for (id, _) in calls(&fx) {
        m.pending.remove(&id);
    }
    let fx = update(&mut m, key('r'));
    assert!(matches!(top(&m), Popup::Details(_)), "r keeps Details open");
    let asked: Vec<_> = calls(&fx).into_iter().map(|(_, c)| c).collect();
    assert!(
        asked.iter().any(|c| matches!(c, ApiCall::ListKeys { .. })),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|c| matches!(c, ApiCall::KeyUsage { key_id, .. } if key_id == "key_0002"))
    );
    let events = find_call(
        &fx,
        |c| matches!(c, ApiCall::KeyAudit { key_id, .. } if key_id == "key_0002"),
    );
    let Popup::Details(p) = top(&m) else {
        panic!("details closed")
    };
    assert_eq!(
        p.in_flight,
        Some(events),
        "Details waits for its events again"
    );
}
