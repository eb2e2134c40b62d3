//! Snapshots of the access fields (docs/console.md, Access): Issue API Key with Custom's check
//! boxes, the same form scrolled to its buttons at 60×16, and Edit access after `[Narrow to what
//! it used]` with its diff and impact line, in English and Korean and once in ASCII.

use crossterm::event::KeyCode;

use super::test_support::{keys_with, snapshot, snapshot_ascii, with_lang};
use crate::args::Lang;
use crate::console::model::Model;
use crate::console::msg::ApiResult;
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::policy::{Policy, Scope};
use crate::wire::{Narrowing, NetworkSeen, Role, Timestamp, Usage};

/// Issue API Key named `ci-bot`, Access on Custom with `ingest` unchecked, a rate typed.
fn issue_custom(lang: Lang) -> Model {
    let mut m = keys_with(&[1, 2], Role::Manager, lang);
    update(&mut m, key('i'));
    for c in "ci-bot".chars() {
        update(&mut m, key(c));
    }
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Tab));
    for _ in 0..3 {
        update(&mut m, code(KeyCode::Right));
    }
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, key(' '));
    m
}

#[test]
fn issue_popup_with_custom_access() {
    snapshot("issue_access_custom", issue_custom);
}

#[test]
fn issue_popup_scrolled_to_its_buttons() {
    snapshot("issue_access_scrolled", |l| {
        let mut m = issue_custom(l);
        update(
            &mut m,
            crate::console::msg::Msg::Resize {
                width: 60,
                height: 16,
            },
        );
        // Date… as well, then the focus down to [Cancel].
        for _ in 0..3 {
            update(&mut m, code(KeyCode::BackTab));
        }
        for _ in 0..5 {
            update(&mut m, code(KeyCode::Right));
        }
        while m.popups.last().and_then(|p| p.focus())
            != Some(crate::console::popups::Focus::Button(
                crate::console::popups::Button::Cancel,
            ))
        {
            update(&mut m, code(KeyCode::Tab));
        }
        m
    });
}

/// Edit access of the selected key after Narrow proposed `query` from 10.0.4.0/24.
fn access_narrowed(lang: Lang) -> Model {
    let mut m = with_lang(keys_with(&[1, 2], Role::Manager, lang), lang);
    let (id, _) = only_call(&update(&mut m, key('p')));
    let usage = Usage {
        key_id: "key_0002".into(),
        scopes_used: [("query".to_string(), 1204)].into_iter().collect(),
        networks: vec![NetworkSeen {
            network: "10.0.4.0/24".into(),
            calls: 1204,
            last_seen: Timestamp::from_unix(T0 - 60),
        }],
        ..Usage::default()
    };
    respond(
        &mut m,
        id,
        ApiResult::Usage {
            key_id: "key_0002".into(),
            result: Ok(usage),
        },
    );
    let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
    respond(
        &mut m,
        id,
        ApiResult::Narrowing {
            key_id: "key_0002".into(),
            result: Ok(Narrowing {
                current: Policy::full(),
                proposed: Some(Policy {
                    scopes: vec![Scope::Query],
                    rate_limit: None,
                    allowed_cidrs: Some(vec!["10.0.4.0/24".into()]),
                }),
                reasons: vec![],
                would_refuse_30d: Some(0),
            }),
        },
    );
    m
}

#[test]
fn edit_access_with_a_diff() {
    snapshot("access_narrowed", access_narrowed);
}

#[test]
fn edit_access_with_a_diff_in_ascii() {
    snapshot_ascii("access_narrowed", || access_narrowed(Lang::En));
}
