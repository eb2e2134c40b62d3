//! The dialogs drawn as snapshots: Create service, Issue API Key, the API Key copy popup and its
//! confirmation, Delete API Key, the row menu, the errors, the help; the key shown whole.

use crossterm::event::KeyCode;

use super::test_support::{
    draw, keys_with, screen_text, services_with_wide_names, snapshot, with_lang,
};
use crate::args::Lang;
use crate::console::model::Model;
use crate::console::msg::{ApiResult, CopyOutcome, Msg};
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::wire::{ErrorCode, Role};

fn copy_popup(lang: Lang) -> Model {
    let mut m = keys_with(&[1, 2], Role::Manager, lang);
    update(&mut m, key('i'));
    let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
    update(
        &mut m,
        Msg::Api {
            id,
            result: issued(3),
        },
    );
    m
}

#[test]
fn create_service_popup() {
    snapshot("create_service", |l| {
        let mut m = services_with_wide_names(l);
        update(&mut m, key('c'));
        update(&mut m, key('a'));
        update(&mut m, code(KeyCode::Enter));
        m
    });
}

#[test]
fn issue_popup() {
    snapshot("issue", |l| {
        let mut m = keys_with(&[1, 2], Role::Manager, l);
        update(&mut m, key('i'));
        for c in "ci-bot".chars() {
            update(&mut m, key(c));
        }
        m
    });
}

#[test]
fn issue_popup_while_issuing() {
    snapshot("issue_in_flight", |l| {
        let mut m = keys_with(&[1, 2], Role::Manager, l);
        update(&mut m, key('i'));
        update(&mut m, code(KeyCode::Enter));
        m
    });
}

#[test]
fn key_copy_popup() {
    snapshot("copy", copy_popup);
}

#[test]
fn key_copy_popup_after_a_copy() {
    snapshot("copy_done", |l| {
        let mut m = copy_popup(l);
        update(
            &mut m,
            Msg::Copied(CopyOutcome::Osc52 {
                fallback: None,
                tmux: false,
                screen: false,
            }),
        );
        m
    });
}

#[test]
fn confirm_close_popup() {
    snapshot("confirm_close", |l| {
        let mut m = copy_popup(l);
        update(&mut m, code(KeyCode::Tab));
        update(&mut m, code(KeyCode::Enter));
        m
    });
}

#[test]
fn delete_popup() {
    snapshot("delete", |l| {
        let mut m = keys_with(&[1, 2, 3], Role::Manager, l);
        update(&mut m, key('d'));
        m
    });
}

#[test]
fn row_menu() {
    snapshot("menu", |l| {
        let mut m = keys_with(&[1, 2, 3], Role::Manager, l);
        update(&mut m, key('j'));
        update(&mut m, key('m'));
        m
    });
}

#[test]
fn connection_lost_popup() {
    snapshot("error_retry", |l| {
        let mut m = keys_with(&[1], Role::Manager, l);
        update(&mut m, key('i'));
        let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
        update(
            &mut m,
            Msg::Api {
                id,
                result: ApiResult::Issued(Err(unreachable())),
            },
        );
        m
    });
}

#[test]
fn limit_popup() {
    snapshot("error_limit", |l| {
        let mut m = keys_with(&[1, 2, 3, 4], Role::Manager, l);
        update(&mut m, key('i'));
        let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
        update(
            &mut m,
            Msg::Api {
                id,
                result: ApiResult::Issued(Err(api_err(ErrorCode::ApiKeyLimitExceeded, "x"))),
            },
        );
        m
    });
}

#[test]
fn orphaned_key_popup() {
    snapshot("error_orphan", |l| {
        let mut m = keys_with(&[1], Role::Manager, l);
        update(&mut m, key('i'));
        let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
        let e = api_err(
            ErrorCode::IdempotencySecretUnavailable,
            "this request was answered before with API key key_8fK2aQ, whose plaintext can no longer be shown",
        );
        update(
            &mut m,
            Msg::Api {
                id,
                result: ApiResult::Issued(Err(e)),
            },
        );
        m
    });
}

#[test]
fn access_denied_popup() {
    snapshot("error_access", |l| {
        let mut m = with_lang(on_services(1, Role::Manager), l);
        let (id, _) = only_call(&update(&mut m, key('r')));
        let e = api_err(ErrorCode::Unauthorized, "a valid admin token is required");
        update(
            &mut m,
            Msg::Api {
                id,
                result: ApiResult::Services(Err(e)),
            },
        );
        m
    });
}

#[test]
fn help_popup() {
    snapshot("help", |l| {
        let mut m = keys_with(&[1], Role::Manager, l);
        update(&mut m, key('?'));
        m
    });
}

#[test]
fn the_key_is_shown_whole_on_a_line_of_its_own() {
    for (w, h) in [(100, 30), (60, 16)] {
        let mut m = copy_popup(Lang::En);
        let Some(crate::console::popups::Popup::KeyCopy(p)) = m.popups.last() else {
            panic!("no key popup")
        };
        let key = p.key.expose().to_string();
        let text = screen_text(&draw(&mut m, w, h));
        let line = text.lines().find(|l| l.contains(&key));
        let line = line.unwrap_or_else(|| panic!("the key is not on screen at {w}x{h}:\n{text}"));
        // Between the popup's borders there is the key and nothing else.
        let at = line.find(&key).unwrap_or(0);
        let left = line[..at].rsplit('│').next().unwrap_or("");
        let right = line[at + key.len()..].split('│').next().unwrap_or("");
        assert!(left.trim().is_empty() && right.trim().is_empty(), "{line}");
    }
}
