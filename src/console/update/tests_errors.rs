//! `update` and the service's errors: every code in the console's words, a refused token, a
//! lost connection while loading, and which notice outlives which.

use super::fixtures::*;
use super::update;
use crate::console::msg::ApiResult;
use crate::console::popups::Popup;
use crate::wire::{ErrorCode, Role};

#[test]
fn every_error_code_has_its_message() {
    let m = model();
    let cases = [
        (
            ErrorCode::ApiKeyLimitExceeded,
            "If you exceed the maximum number of issuable API Keys",
        ),
        (ErrorCode::Unauthorized, "refused the admin token (401)"),
        (ErrorCode::InvalidApiKey, "refused the admin token (401)"),
        (ErrorCode::Forbidden, "may only read (403)"),
        (ErrorCode::ServiceLimitExceeded, "up to 999 services"),
        (ErrorCode::ServiceNameTaken, "already exists"),
        (ErrorCode::ServiceNotFound, "service no longer exists"),
        (ErrorCode::ApiKeyNotFound, "already deleted"),
        (ErrorCode::NotFound, "Not found: the message"),
        (ErrorCode::IdempotencyInProgress, "still running"),
        (
            ErrorCode::IdempotencySecretUnavailable,
            "can no longer be shown",
        ),
        (
            ErrorCode::IdempotencyKeyReused,
            "does not match the first request",
        ),
        (ErrorCode::PayloadTooLarge, "too large"),
        (ErrorCode::RateLimited, "Too many requests"),
        (ErrorCode::Internal, "internal error"),
        (
            ErrorCode::InvalidRequest,
            "refused the request: the message",
        ),
        (ErrorCode::Unknown, "the message (unknown)"),
    ];
    for (code, want) in cases {
        let msg = super::errors::message(&m, &api_err(code, "the message"));
        assert!(msg.contains(want), "{code}: {msg}");
    }
    let limited = crate::client::ApiError::Api {
        status: 429,
        code: ErrorCode::RateLimited,
        message: String::new(),
        retry_after: Some(7),
    };
    assert!(super::errors::message(&m, &limited).contains("7 s"));
    // A hostile message cannot reach the terminal as an escape sequence.
    let hostile = super::errors::message(&m, &api_err(ErrorCode::InvalidRequest, "x\u{1b}[2Jy"));
    assert!(!hostile.contains('\u{1b}'));
}

#[test]
fn a_refused_token_shows_a_popup_once() {
    let mut m = model();
    let fx = super::start(&mut m);
    for (id, _) in calls(&fx) {
        let result = if id == 1 {
            ApiResult::Me(Err(api_err(ErrorCode::Unauthorized, "no")))
        } else {
            ApiResult::Services(Err(api_err(ErrorCode::Unauthorized, "no")))
        };
        respond(&mut m, id, result);
    }
    assert_eq!(m.popups.len(), 1);
    let Popup::Error(e) = top(&m) else {
        panic!("no popup")
    };
    assert_eq!(e.title, "Access denied");
    assert!(e.message.contains("401"));
}

#[test]
fn a_lost_connection_while_loading_says_press_r() {
    let mut m = on_services(2, Role::Manager);
    let (id, _) = only_call(&update(&mut m, key('r')));
    respond(&mut m, id, ApiResult::Services(Err(unreachable())));
    let n = m.notice.clone().unwrap();
    assert_eq!(
        n.text,
        "Connection lost. Press r to retry. (Connection refused (os error 111))"
    );
    assert_eq!(m.services.visible().len(), 2, "what was shown stays");
    // Once the service answers again, the notice goes.
    let (id, _) = only_call(&update(&mut m, key('r')));
    respond(
        &mut m,
        id,
        ApiResult::Services(Ok(crate::wire::ServiceList {
            services: vec![svc(1, 0)],
        })),
    );
    assert_eq!(m.notice, None);
}

#[test]
fn a_refusal_notice_outlives_a_list_that_lands_after_it() {
    // The viewer presses `c` while the services list is still on its way: the reason stays.
    let mut m = on_services(1, Role::Viewer);
    let (id, _) = only_call(&update(&mut m, key('r')));
    update(&mut m, key('c'));
    let reason = m.notice.clone().expect("a notice").text;
    assert!(reason.contains("viewer"), "{reason}");
    respond(
        &mut m,
        id,
        ApiResult::Services(Ok(crate::wire::ServiceList {
            services: vec![svc(1, 0)],
        })),
    );
    assert_eq!(m.notice.map(|n| n.text), Some(reason));
}
