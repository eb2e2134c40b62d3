//! Snapshots of usage per key in the console (issue 9): the impact line of Delete, Disable and
//! Rotate-now in its three forms (and while it loads, and when it fails), Details with and
//! without usage and for a disabled key still being called, the `idle` marker and the attention
//! line's "still being called"; en and ko, 100×30 and 60×16.

use crossterm::event::KeyCode;

use super::test_support::{keys_with, snapshot};
use crate::args::Lang;
use crate::console::model::Model;
use crate::console::msg::{ApiCall, ApiResult, Effect, Msg};
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::wire::{AuditAction, AuditEvent, AuditPage, Bucket, KeyState, Role, Timestamp, Usage};

/// How a key was used, for the usage answers below.
#[derive(Clone, Copy)]
pub(crate) enum Use {
    /// Called all day from 10.0.4.17, last 3 minutes ago: 1,204 calls in the last 24 h.
    Busy,
    /// Last used 40 days ago.
    Old,
    Never,
    /// Disabled but still presented: refused calls in the last hours, none succeeded lately.
    Refused,
}

/// A usage answer for `key_id` at the fixtures' clock.
pub(crate) fn usage_of(key_id: &str, how: Use) -> Usage {
    let hour0 = T0 - T0 % 3600;
    let day0 = T0 - T0 % 86_400;
    let hourly_ok: [u64; 24] = [
        12, 8, 3, 0, 0, 1, 9, 30, 61, 88, 97, 90, 72, 65, 70, 83, 91, 77, 60, 41, 30, 22, 18, 95,
    ];
    let hours = (0..24)
        .map(|i| {
            let (ok, refused) = match how {
                Use::Busy => (hourly_ok[i], 0),
                Use::Refused => (0, if i >= 20 { 3 + i as u64 } else { 0 }),
                _ => (0, 0),
            };
            Bucket {
                start: Timestamp::from_unix(hour0 - (23 - i as i64) * 3600),
                ok,
                refused,
                denied: 0,
                limited: 0,
            }
        })
        .collect();
    let days = (0..30)
        .map(|i| {
            let (ok, refused) = match how {
                Use::Busy => (((i * 37) % 900 + 300) as u64, 0),
                Use::Refused => (
                    if i < 25 { 400 + i as u64 } else { 0 },
                    u64::from(i == 29) * 98,
                ),
                _ => (0, 0),
            };
            Bucket {
                start: Timestamp::from_unix(day0 - (29 - i as i64) * 86_400),
                ok,
                refused,
                denied: 0,
                limited: 0,
            }
        })
        .collect();
    let (last, from) = match how {
        Use::Busy => (Some(T0 - 180), Some("10.0.4.17".to_string())),
        Use::Refused => (Some(T0 - 5 * 86_400), Some("10.0.4.17".to_string())),
        Use::Old => (Some(T0 - 40 * 86_400), Some("10.0.9.9".to_string())),
        Use::Never => (None, None),
    };
    Usage {
        key_id: key_id.to_string(),
        last_used_at: last.map(Timestamp::from_unix),
        last_used_from: from,
        hours,
        days,
        ..Default::default()
    }
}

/// Answers every pending usage request of `key_id` with `how`.
pub(crate) fn answer_usage(m: &mut Model, key_id: &str, how: Use) {
    let ids: Vec<u64> = m
        .pending
        .iter()
        .filter(|(_, c)| matches!(c, ApiCall::KeyUsage { key_id: k, .. } if k == key_id))
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        update(
            m,
            Msg::Api {
                id,
                result: ApiResult::Usage {
                    key_id: key_id.to_string(),
                    result: Ok(usage_of(key_id, how)),
                },
            },
        );
    }
}

/// Answers Details' audit request with the key's issue and disable, and another key's event.
fn answer_events(m: &mut Model, key_id: &str) {
    let ids: Vec<u64> = m
        .pending
        .iter()
        .filter(|(_, c)| matches!(c, ApiCall::KeyAudit { .. }))
        .map(|(id, _)| *id)
        .collect();
    let ev = |k: &str, at: i64, action| AuditEvent {
        at: Timestamp::from_unix(at),
        actor: "admin".into(),
        role: Role::Manager,
        action,
        service_id: "svc_0001".into(),
        key_id: Some(k.to_string()),
        masked: Some("ragk_Ab02********wXyZ".into()),
        remote_addr: "127.0.0.1".into(),
        outcome: "ok".into(),
        changes: None,
        url: None,
        source: None,
    };
    for id in ids {
        let events = vec![
            ev(key_id, T0 - 3600, AuditAction::ApiKeyDisable),
            ev("key_0001", T0 - 7200, AuditAction::ApiKeyIssue),
            ev(key_id, T0 - 86_400 + 120, AuditAction::ApiKeyIssue),
        ];
        update(
            m,
            Msg::Api {
                id,
                result: ApiResult::KeyAudit {
                    key_id: key_id.to_string(),
                    result: Ok(AuditPage { events, next: None }),
                },
            },
        );
    }
}

fn delete_with(lang: Lang, how: Use) -> Model {
    let mut m = keys_with(&[1, 2], Role::Manager, lang);
    update(&mut m, key('d'));
    answer_usage(&mut m, "key_0002", how);
    m
}

#[test]
fn impact_in_delete_used() {
    snapshot("impact_delete_used", |l| delete_with(l, Use::Busy));
}

#[test]
fn impact_in_delete_not_used_for_30_days() {
    snapshot("impact_delete_old", |l| delete_with(l, Use::Old));
}

#[test]
fn impact_in_delete_never_used() {
    snapshot("impact_delete_never", |l| delete_with(l, Use::Never));
}

#[test]
fn impact_in_delete_when_usage_fails() {
    snapshot("impact_delete_failed", |l| {
        let mut m = keys_with(&[1, 2], Role::Manager, l);
        let fx = update(&mut m, key('d'));
        let (id, _) = only_call(&fx);
        update(
            &mut m,
            Msg::Api {
                id,
                result: ApiResult::Usage {
                    key_id: "key_0002".into(),
                    result: Err(unreachable()),
                },
            },
        );
        m
    });
}

#[test]
fn impact_in_disable() {
    snapshot("impact_disable_used", |l| {
        let mut m = keys_with(&[1, 2], Role::Manager, l);
        update(&mut m, key('x'));
        answer_usage(&mut m, "key_0002", Use::Busy);
        m
    });
}

#[test]
fn impact_in_rotate_only_when_now() {
    snapshot("impact_rotate_now", |l| {
        let mut m = keys_with(&[1, 2], Role::Manager, l);
        update(&mut m, key('R'));
        answer_usage(&mut m, "key_0002", Use::Busy);
        update(&mut m, code(KeyCode::Left));
        update(&mut m, code(KeyCode::Left));
        m
    });
}

fn details_of(lang: Lang, how: Option<Use>, disabled: bool) -> Model {
    let mut m = keys_with(&[1, 2], Role::Viewer, lang);
    if disabled && let Some(l) = m.keys.as_mut().and_then(|k| k.list.as_mut()) {
        l.api_keys[0].state = KeyState::Disabled;
    }
    update(&mut m, key('v'));
    if let Some(how) = how {
        answer_usage(&mut m, "key_0002", how);
        answer_events(&mut m, "key_0002");
    }
    m
}

#[test]
fn details_with_usage() {
    snapshot("details_usage", |l| details_of(l, Some(Use::Busy), false));
}

#[test]
fn details_while_loading() {
    snapshot("details_loading", |l| details_of(l, None, false));
}

#[test]
fn details_of_a_disabled_key_still_called() {
    snapshot("details_still_called", |l| {
        details_of(l, Some(Use::Refused), true)
    });
}

#[test]
fn details_scrolled_to_its_events() {
    // Scrolled at 60×16, where Details does not fit: the end shows the key's events.
    for lang in [Lang::En, Lang::Ko] {
        let mut m = details_of(lang, Some(Use::Busy), false);
        update(
            &mut m,
            Msg::Resize {
                width: 60,
                height: 16,
            },
        );
        update(&mut m, key('G'));
        let text = super::test_support::screen_text(&super::test_support::draw(&mut m, 60, 16));
        let tag = format!(
            "details_scrolled__{}_60x16",
            format!("{lang:?}").to_lowercase()
        );
        insta::with_settings!({
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(tag, text);
        });
    }
}

#[test]
fn idle_keys_and_a_disabled_key_still_called() {
    snapshot("keys_idle_called", |l| {
        let mut m = on_keys(&[1, 2, 3], Role::Manager);
        m.tr = crate::console::i18n::Catalog::get(l);
        let ids = if let Some(list) = m.keys.as_mut().and_then(|k| k.list.as_mut()) {
            // Never used, 10 days old; used 45 days ago; disabled.
            list.api_keys[0].created_at = Timestamp::from_unix(T0 - 10 * 86_400);
            list.api_keys[0].last_used_at = None;
            list.api_keys[1].last_used_at = Some(Timestamp::from_unix(T0 - 45 * 86_400));
            list.api_keys[2].state = KeyState::Disabled;
            list.api_keys[2].id.clone()
        } else {
            panic!("no list")
        };
        // The list reloaded: its disabled key's usage is asked for, and it is still called.
        let (id, _) = only_call(&update(&mut m, key('r')));
        let list = m.keys.as_ref().and_then(|k| k.list.clone()).expect("list");
        let fx = update(
            &mut m,
            Msg::Api {
                id,
                result: ApiResult::Keys {
                    service_id: "svc_0001".into(),
                    result: Ok(list),
                },
            },
        );
        let usage_and_narrowing = fx;
        let usage: Vec<Effect> = calls(&usage_and_narrowing)
            .into_iter()
            .filter(|(_, c)| !matches!(c, ApiCall::KeyNarrowing { .. }))
            .map(|(id, call)| Effect::Call { id, call })
            .collect();
        assert!(only_usage(&usage, &ids));
        answer_usage(&mut m, &ids, Use::Refused);
        answer_narrowing(&mut m, &usage_and_narrowing, |_| None);
        m
    });
}
