//! A key's access in the console (docs/console.md, API Key management: Access): the Access
//! column with its `R` and `A`, first to go at narrow widths; the attention line's "could be
//! narrowed" from the narrowing proposals asked after each list; Details with the policy, the
//! denied and limited rows and the scopes and networks used; Help's legend; en and ko, 100×30
//! and 60×16.

use std::collections::BTreeMap;

use super::test_support::{draw, screen_text, snapshot, with_lang};
use crate::args::Lang;
use crate::console::model::Model;
use crate::console::msg::{ApiCall, ApiResult, Effect};
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::policy::{Policy, RateLimit, Scope};
use crate::wire::{ApiKey, ApiKeyList, KeyState, Narrowing, NetworkSeen, Role, Timestamp, Usage};

fn policy(scopes: &[Scope], rate: Option<(u32, u32)>, cidrs: Option<&[&str]>) -> Policy {
    Policy {
        scopes: scopes.to_vec(),
        rate_limit: rate.map(|(requests, per_seconds)| RateLimit {
            requests,
            per_seconds,
        }),
        allowed_cidrs: cidrs.map(|c| c.iter().map(|s| s.to_string()).collect()),
    }
}

/// Keys 1–4, newest first: `query R A`, `ingest`, `query`, `full`.
fn keys_with_policies() -> Vec<ApiKey> {
    let mut keys: Vec<ApiKey> = (1..=4).map(api_key).collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
    keys[0].policy = policy(&[Scope::Query], Some((100, 1)), Some(&["10.0.4.0/24"]));
    keys[1].policy = policy(&[Scope::Ingest], None, None);
    keys[2].policy = policy(&[Scope::Query], None, None);
    keys
}

/// `r` on API Key management answered with `keys`: the effects that answer asks for.
fn listed(m: &mut Model, keys: Vec<ApiKey>) -> Vec<Effect> {
    let fx = update(m, key('r'));
    let id = find_call(&fx, |c| matches!(c, ApiCall::ListKeys { .. }));
    respond(
        m,
        id,
        ApiResult::Keys {
            service_id: "svc_0001".into(),
            result: Ok(ApiKeyList {
                api_keys: keys,
                key_limit: 5,
            }),
        },
    )
}

/// API Key management with [`keys_with_policies`], the service proposing `query` for the
/// `full` key (key 1) and nothing for the others.
fn access_list(lang: Lang) -> Model {
    let mut m = with_lang(on_keys(&[1, 2], Role::Manager), lang);
    let fx = listed(&mut m, keys_with_policies());
    answer_narrowing(&mut m, &fx, |id| {
        (id == "key_0001").then(|| policy(&[Scope::Query], None, None))
    });
    m
}

fn narrowing_asked(fx: &[Effect]) -> Vec<String> {
    calls(fx)
        .into_iter()
        .filter_map(|(_, c)| match c {
            ApiCall::KeyNarrowing {
                key_id,
                candidate: None,
                ..
            } => Some(key_id),
            _ => None,
        })
        .collect()
}

#[test]
fn keys_with_their_access() {
    snapshot("keys_access", access_list);
}

#[test]
fn the_access_column_shows_scopes_and_letters_and_goes_first() {
    let mut m = access_list(Lang::En);
    let wide = screen_text(&draw(&mut m, 100, 30));
    let row = |text: &str, id: &str| {
        text.lines()
            .find(|l| l.contains(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(wide.contains("Access"), "{wide}");
    assert!(row(&wide, "Ab04").contains(" query R A "), "{wide}");
    assert!(row(&wide, "Ab03").contains(" ingest "), "{wide}");
    assert!(row(&wide, "Ab01").contains(" full "), "{wide}");
    // At 60 columns Access is gone, and the key, its state and the ≡ stay.
    let narrow = screen_text(&draw(&mut m, 60, 16));
    assert!(!narrow.contains("Access"), "{narrow}");
    assert!(!narrow.contains("query R A"), "{narrow}");
    let r = row(&narrow, "Ab04");
    assert!(r.contains("Active") && r.ends_with("≡│"), "{narrow}");
}

#[test]
fn every_usable_listed_key_is_asked_about_once_per_list() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let mut keys = keys_with_policies();
    // An expired key never verifies again; a rotated key's callers move to its successor.
    keys[1].state = KeyState::Expired;
    keys[2].state = KeyState::Rotating;
    keys[2].replaced_by = Some("key_0004".into());
    let fx = listed(&mut m, keys.clone());
    assert_eq!(narrowing_asked(&fx), vec!["key_0004", "key_0001"]);
    // A second `r` before the answers asks nothing twice.
    let again = listed(&mut m, keys);
    assert!(narrowing_asked(&again).is_empty(), "{again:?}");
}

#[test]
fn the_attention_line_counts_keys_that_could_be_narrowed() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let fx = listed(&mut m, keys_with_policies());
    // Before any answer: no count.
    let text = screen_text(&draw(&mut m, 100, 30));
    assert!(!text.contains("could be narrowed"), "{text}");
    // Two proposals narrower than the policy, one failure (left out), one the same.
    let mut answers: BTreeMap<String, Result<Narrowing, _>> = BTreeMap::new();
    for (id, call) in calls(&fx) {
        let ApiCall::KeyNarrowing { key_id, .. } = call else {
            continue;
        };
        let current = keys_with_policies()
            .into_iter()
            .find(|k| k.id == key_id)
            .map(|k| k.policy)
            .unwrap_or_default();
        let result = match key_id.as_str() {
            "key_0001" | "key_0004" => Ok(Narrowing {
                proposed: Some(policy(&[Scope::Query], None, Some(&["10.0.4.0/24"]))),
                current,
                reasons: Vec::new(),
                would_refuse_30d: Some(0),
            }),
            "key_0003" => Err(unreachable()),
            _ => Ok(Narrowing {
                proposed: Some(current.clone()),
                current,
                reasons: Vec::new(),
                would_refuse_30d: Some(0),
            }),
        };
        answers.insert(key_id.clone(), result.clone());
        respond(&mut m, id, ApiResult::Narrowing { key_id, result });
    }
    assert_eq!(answers.len(), 4);
    let text = screen_text(&draw(&mut m, 100, 30));
    assert!(text.contains("2 keys could be narrowed"), "{text}");
    // It never adds to Services' `!`: the service needs no attention for it.
    assert!(m.services.attention.values().all(|marked| !marked));
    // After a narrowing is applied elsewhere, `r` asks again and the count follows.
    let mut keys = keys_with_policies();
    keys[3].policy = policy(&[Scope::Query], None, Some(&["10.0.4.0/24"]));
    let fx = listed(&mut m, keys);
    answer_narrowing(&mut m, &fx, |id| {
        (id == "key_0004").then(|| policy(&[Scope::Query], None, Some(&["10.0.4.0/24"])))
    });
    let text = screen_text(&draw(&mut m, 100, 30));
    assert!(text.contains("1 key could be narrowed"), "{text}");
    assert!(!text.contains("2 keys"), "{text}");
}

#[test]
fn could_be_narrowed_comes_after_the_keys_life() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let mut keys = keys_with_policies();
    keys[3].state = KeyState::Disabled;
    let fx = listed(&mut m, keys);
    answer_narrowing(&mut m, &fx, |id| {
        (id == "key_0004").then(|| policy(&[Scope::Query], None, None))
    });
    let text = screen_text(&draw(&mut m, 100, 30));
    assert!(
        text.contains("1 key is disabled · 1 key could be narrowed"),
        "{text}"
    );
    for lang in [Lang::Ko, Lang::Ja] {
        m.tr = crate::console::i18n::Catalog::get(lang);
        let text = screen_text(&draw(&mut m, 100, 30));
        let want = m.tr.t("attention.one_narrowable");
        assert!(text.contains(want), "{text}");
    }
}

/// A usage answer with calls of every kind, the scopes and networks used, recorded 12 days.
fn used(key_id: &str) -> Usage {
    let hour0 = T0 - T0 % 3600;
    let day0 = T0 - T0 % 86_400;
    let bucket = |start: i64, i: u64| crate::wire::Bucket {
        start: Timestamp::from_unix(start),
        ok: (i * 7) % 40,
        refused: 0,
        denied: u64::from(i % 6 == 0) * 12,
        limited: u64::from(i % 9 == 4) * 40,
    };
    Usage {
        key_id: key_id.into(),
        last_used_at: Some(Timestamp::from_unix(T0 - 180)),
        last_used_from: Some("10.0.4.17".into()),
        hours: (0..24)
            .map(|i| bucket(hour0 - (23 - i) * 3600, i as u64))
            .collect(),
        days: (0..30)
            .map(|i| bucket(day0 - (29 - i) * 86_400, i as u64))
            .collect(),
        scopes_used: [("query".to_string(), 1_204)].into_iter().collect(),
        networks: vec![
            NetworkSeen {
                network: "10.0.4.0/24".into(),
                calls: 1_180,
                last_seen: Timestamp::from_unix(T0 - 180),
            },
            NetworkSeen {
                network: "2001:db8:1:2::/64".into(),
                calls: 24,
                last_seen: Timestamp::from_unix(T0 - 2 * 86_400),
            },
        ],
        networks_truncated: true,
        recorded_since: Some(Timestamp::from_unix(T0 - 12 * 86_400)),
    }
}

/// Details of key 4 (`query R A`, two networks), with its usage.
fn details_with_policy(lang: Lang) -> Model {
    let mut m = access_list(lang);
    if let Some(l) = m.keys.as_mut().and_then(|k| k.list.as_mut()) {
        l.api_keys[0].policy = policy(
            &[Scope::Query, Scope::Ingest],
            Some((6000, 60)),
            Some(&["10.0.4.0/24", "2001:db8:1:2::/64"]),
        );
    }
    update(&mut m, key('g'));
    let fx = update(&mut m, key('v'));
    let id = find_call(&fx, |c| matches!(c, ApiCall::KeyUsage { .. }));
    respond(
        &mut m,
        id,
        ApiResult::Usage {
            key_id: "key_0004".into(),
            result: Ok(used("key_0004")),
        },
    );
    m
}

#[test]
fn details_with_policy_and_use() {
    snapshot("details_policy", details_with_policy);
}

#[test]
fn details_scrolled_to_the_scopes_and_networks_used() {
    for lang in [Lang::En, Lang::Ko] {
        let mut m = details_with_policy(lang);
        draw(&mut m, 60, 16);
        update(&mut m, key('G'));
        let text = screen_text(&draw(&mut m, 60, 16));
        let tag = format!(
            "details_policy_used__{}_60x16",
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
fn details_says_the_policy_and_every_kind_of_call() {
    let mut m = details_with_policy(Lang::En);
    let text = screen_text(&draw(&mut m, 100, 60));
    for want in [
        "Scopes: query, ingest",
        "Rate limit: 6000/min",
        "Allowed from: 10.0.4.0/24, 2001:db8:1:2::/64",
        "denied ",
        "limited ",
        "Used in the last 30 days",
        "query",
        "ingest",
        "10.0.4.0/24        1,180  3 min ago",
        "and more",
        "recorded since 2026-11-",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    // One scale for every row: the busiest bucket of any kind is the heading's maximum.
    assert!(text.contains("(max 40 an hour)"), "{text}");
    // A key with no policy of its own.
    let mut m = on_keys(&[1], Role::Viewer);
    update(&mut m, key('v'));
    let text = screen_text(&draw(&mut m, 100, 30));
    for want in [
        "Scopes: query, ingest, manage",
        "Rate limit: none",
        "Allowed from: anywhere",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
}

#[test]
fn help_explains_r_and_a_on_api_key_management() {
    let mut m = access_list(Lang::En);
    update(&mut m, key('?'));
    update(&mut m, code(crossterm::event::KeyCode::PageDown));
    update(&mut m, code(crossterm::event::KeyCode::PageDown));
    let text = screen_text(&draw(&mut m, 100, 30));
    assert!(
        text.contains("In Access: R = a rate limit of its own"),
        "{text}"
    );
    // Services has no Access column: no legend there.
    let mut s = on_services(2, Role::Manager);
    update(&mut s, key('?'));
    update(&mut s, code(crossterm::event::KeyCode::PageDown));
    update(&mut s, code(crossterm::event::KeyCode::PageDown));
    let text = screen_text(&draw(&mut s, 100, 30));
    assert!(!text.contains("In Access"), "{text}");
}
