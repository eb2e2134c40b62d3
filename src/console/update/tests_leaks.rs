//! Leaked keys (docs/console.md, Leaked keys): the state's words, the attention line and the
//! Services `!`, Details' `[Rotate]` and the Rotate popup without grace, the confirmation of
//! enabling a leaked key, and Who owns this key?'s `[Disable it: it leaked]`.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::args::Lang;
use crate::client::Issued;
use crate::console::i18n::Catalog;
use crate::console::lifecycle::{attention, needs_attention, state_cell, state_label};
use crate::console::model::Model;
use crate::console::msg::{ApiCall, ApiResult, Msg};
use crate::console::popups::{Button, Field, Focus, Popup};
use crate::credential::{Kind, generate};
use crate::wire::{
    ApiKey, ApiKeyList, ErrorCode, IssuedKey, KeyState, Leak, LeakAnswer, Role, Timestamp,
};

/// A report by `by`, an hour before the fixtures' now.
pub(crate) fn leak(by: &str, url: Option<&str>) -> Leak {
    Leak {
        reported_at: Timestamp::from_unix(T0 - 3600),
        by: by.into(),
        url: url.map(str::to_owned),
        source: Some("commit".into()),
    }
}

/// Key `i`, reported leaked and disabled.
pub(crate) fn leaked_key(i: u32) -> ApiKey {
    let mut k = api_key(i);
    k.state = KeyState::Disabled;
    k.leak = Some(leak(
        "github",
        Some("https://github.com/acme/app/blob/main/.env"),
    ));
    k
}

/// API Key management of the first service with keys 1 to 3, the newest (selected) leaked.
pub(crate) fn on_leaked_keys(role: Role) -> Model {
    let mut m = on_keys(&[1, 2, 3], role);
    let (id, _) = only_call(&update(&mut m, key('r')));
    let mut api_keys = vec![leaked_key(3), api_key(2), api_key(1)];
    api_keys[1].leak = Some(leak("admin", None));
    respond(
        &mut m,
        id,
        ApiResult::Keys {
            service_id: "svc_0001".into(),
            result: Ok(ApiKeyList {
                api_keys,
                key_limit: 5,
            }),
        },
    );
    m
}

#[test]
fn a_leaked_key_reads_leaked_then_active_or_rotating_leaked() {
    let tr = Catalog::get(Lang::En);
    let now = Timestamp::from_unix(T0);
    let tz = model().tz;
    let mut k = leaked_key(1);
    assert_eq!(state_label(tr, &k, &[], now, tz), "Leaked");
    // Without colour the warning is a sign; with colour the style carries it.
    assert_eq!(state_cell(tr, &k, &[], (now, tz), true), "! Leaked");
    assert_eq!(state_cell(tr, &k, &[], (now, tz), false), "Leaked");
    k.state = KeyState::Expired;
    assert_eq!(state_label(tr, &k, &[], now, tz), "Leaked");
    k.state = KeyState::Active;
    assert_eq!(state_label(tr, &k, &[], now, tz), "active · leaked");
    assert_eq!(state_cell(tr, &k, &[], (now, tz), true), "active · leaked");
    assert_eq!(
        state_label(Catalog::ascii(), &k, &[], now, tz),
        "active - leaked"
    );
    k.state = KeyState::Rotating;
    k.expires_at = Some(Timestamp::from_unix(T0 + 600));
    assert!(state_label(tr, &k, &[], now, tz).starts_with("rotating · leaked"));
    let ko = Catalog::get(Lang::Ko);
    k.state = KeyState::Disabled;
    assert_eq!(state_label(ko, &k, &[], now, tz), "유출됨");
    // A key never reported reads as before.
    assert_eq!(state_label(tr, &api_key(2), &[], now, tz), "Active");
}

#[test]
fn the_attention_line_says_leaked_keys_first_and_services_mark_them() {
    let tr = Catalog::get(Lang::En);
    let now = Timestamp::from_unix(T0);
    let usage = Default::default();
    let mut soon = api_key(4);
    soon.expires_at = Some(Timestamp::from_unix(T0 + 3 * 86_400));
    let mut disabled = api_key(5);
    disabled.state = KeyState::Disabled;
    let keys = vec![leaked_key(1), soon.clone(), disabled];
    assert_eq!(
        attention(tr, &keys, now, &usage).as_deref(),
        Some("1 key leaked: disabled · 1 key expires in 3 days · 1 key is disabled")
    );
    let two = vec![leaked_key(1), leaked_key(2)];
    assert_eq!(
        attention(tr, &two, now, &usage).as_deref(),
        Some("2 keys leaked: disabled")
    );
    let ko = Catalog::get(Lang::Ko);
    assert_eq!(
        attention(ko, &two, now, &usage).as_deref(),
        Some("유출된 키 2개: 비활성화됨")
    );
    // An expired leaked key still marks its service on Services.
    let mut expired = leaked_key(1);
    expired.state = KeyState::Expired;
    assert!(needs_attention(&[expired], now));
    assert!(!needs_attention(&[api_key(1)], now));
}

#[test]
fn a_listed_leaked_key_marks_its_service_on_services() {
    let m = on_leaked_keys(Role::Manager);
    assert_eq!(m.services.attention.get("svc_0001"), Some(&true));
}

#[test]
fn details_of_a_leaked_key_rotate_without_grace_then_copy() {
    let mut m = on_leaked_keys(Role::Manager);
    update(&mut m, key('v'));
    assert!(matches!(top(&m), Popup::Details(d) if d.key.id == "key_0003"));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Rotate)));
    // Enter presses [Rotate]: Details gives way to the Rotate popup, focus on its button.
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    let Popup::Rotate(r) = top(&m) else {
        panic!("not rotate: {:?}", top(&m));
    };
    assert_eq!(r.key.id, "key_0003");
    assert_eq!(m.popups.len(), 1);
    assert_eq!(focus(&m), Some(Focus::Button(Button::Rotate)));
    // No grace to choose: ←/→ and Tab never reach a choice.
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Cancel)));
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Rotate)));
    let (id, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    match call {
        ApiCall::RotateKey { key_id, body, .. } => {
            assert_eq!(key_id, "key_0003");
            assert_eq!(body.grace_seconds, 0);
        }
        other => panic!("{other:?}"),
    }
    let result = ApiResult::Rotated(Ok(Issued {
        key: IssuedKey {
            api_key: api_key(4),
            key: generate(Kind::ApiKey),
        },
        replayed: false,
    }));
    respond(&mut m, id, result);
    assert!(matches!(top(&m), Popup::KeyCopy(_)));
}

#[test]
fn details_of_a_live_key_or_for_a_viewer_have_no_rotate() {
    let mut m = on_leaked_keys(Role::Viewer);
    update(&mut m, key('v'));
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    assert!(matches!(top(&m), Popup::Details(_)));
    let mut m = on_leaked_keys(Role::Manager);
    update(&mut m, code(KeyCode::Down));
    update(&mut m, key('v'));
    assert!(matches!(top(&m), Popup::Details(d) if d.key.id == "key_0002"));
    assert_eq!(focus(&m), None);
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(top(&m), Popup::Details(_)));
}

#[test]
fn enabling_a_leaked_key_asks_naming_the_leak_cancel_first() {
    let mut m = on_leaked_keys(Role::Manager);
    assert!(update(&mut m, key('x')).is_empty());
    let Popup::Delete(p) = top(&m) else {
        panic!("no confirmation: {:?}", top(&m));
    };
    assert!(p.enable && !p.disable);
    let q = crate::console::popups::delete::leak_question(&m, &p.key);
    assert!(
        q.starts_with("This key leaked: found by github on ")
            && q.ends_with(" at https://github.com/acme/app/blob/main/.env. Enable it anyway?"),
        "{q}"
    );
    // The safe button has the focus: Enter cancels, nothing is sent.
    assert_eq!(focus(&m), Some(Focus::Button(Button::Cancel)));
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    assert!(m.popups.is_empty());
    update(&mut m, key('x'));
    update(&mut m, code(KeyCode::BackTab));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Enable)));
    let (id, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(
        &call,
        ApiCall::UpdateKey { key_id, body, .. } if key_id == "key_0003" && body.enabled == Some(true)
    ));
    let mut enabled = leaked_key(3);
    enabled.state = KeyState::Active;
    let fx = respond(&mut m, id, ApiResult::KeyUpdated(Ok(enabled)));
    assert!(m.popups.is_empty());
    assert!(
        calls(&fx)
            .iter()
            .any(|(_, c)| matches!(c, ApiCall::ListKeys { .. }))
    );
}

#[test]
fn a_disabled_key_never_reported_is_still_enabled_at_once() {
    let mut m = on_leaked_keys(Role::Manager);
    if let Some(l) = m.keys.as_mut().and_then(|k| k.list.as_mut()) {
        l.api_keys[0].leak = None;
    }
    let (_, call) = only_call(&update(&mut m, key('x')));
    assert!(matches!(call, ApiCall::UpdateKey { body, .. } if body.enabled == Some(true)));
}

fn whois(m: &Model) -> &crate::console::popups::whois::WhoisPopup {
    match top(m) {
        Popup::Whois(p) => p,
        other => panic!("not whois: {other:?}"),
    }
}

/// Who owns this key? with a pasted key, answered with `found`.
fn whois_found(m: &mut Model, found: ApiKey) -> crate::credential::Secret {
    update(m, key('w'));
    let k = generate(Kind::ApiKey);
    update(m, Msg::Paste(k.expose().to_string()));
    let (id, _) = only_call(&update(m, code(KeyCode::Enter)));
    respond(
        m,
        id,
        ApiResult::Whois(Ok(crate::wire::WhoisAnswer {
            service_id: "svc_0001".into(),
            service_name: "service-1".into(),
            api_key: found,
        })),
    );
    k
}

#[test]
fn whois_reports_a_live_key_leaked_with_the_url_then_the_list_shows_it() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    let k = whois_found(&mut m, api_key(2));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Open)));
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Leak)));
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    assert_eq!(focus(&m), Some(Focus::Field(Field::Url)));
    // A pasted URL is cleaned of control characters.
    update(
        &mut m,
        Msg::Paste("https://pastebin.example/\u{1b}[2Jab\u{7}c".into()),
    );
    let (id, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    match &call {
        ApiCall::ReportLeak { key, url } => {
            assert_eq!(key.expose(), k.expose());
            assert_eq!(url.as_deref(), Some("https://pastebin.example/[2Jabc"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{call:?}{:?}{:?}", m.pending, m.popups).contains(k.expose()));
    let mut disabled = api_key(2);
    disabled.state = KeyState::Disabled;
    disabled.leak = Some(leak("admin", Some("https://pastebin.example/[2Jabc")));
    let fx = respond(
        &mut m,
        id,
        ApiResult::Leaked(Ok(LeakAnswer {
            service_id: "svc_0001".into(),
            api_key: disabled.clone(),
        })),
    );
    // The popup is gone (and with it the key), the footer says so, the list comes again.
    assert!(m.popups.is_empty());
    assert!(notice(&m).unwrap().contains("disabled"), "{:?}", notice(&m));
    let list = find_call(&fx, |c| matches!(c, ApiCall::ListKeys { .. }));
    respond(
        &mut m,
        list,
        ApiResult::Keys {
            service_id: "svc_0001".into(),
            result: Ok(ApiKeyList {
                api_keys: vec![disabled, api_key(1)],
                key_limit: 5,
            }),
        },
    );
    let keys = m.keys.as_ref().unwrap();
    assert_eq!(keys.selected_key().unwrap().id, "key_0002");
    assert!(keys.selected_key().unwrap().leaked_and_stopped());
}

#[test]
fn whois_without_a_url_sends_none_and_a_refusal_stays_in_the_popup() {
    let mut m = on_keys(&[1], Role::Manager);
    whois_found(&mut m, api_key(1));
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Enter));
    let (id, call) = only_call(&update(&mut m, code(KeyCode::Enter)));
    assert!(matches!(call, ApiCall::ReportLeak { url: None, .. }));
    let e = api_err(ErrorCode::ApiKeyNotFound, "gone");
    respond(&mut m, id, ApiResult::Leaked(Err(e)));
    assert!(whois(&m).error.is_some());
    update(&mut m, code(KeyCode::Esc));
    assert!(m.popups.is_empty());
}

#[test]
fn whois_offers_no_leak_button_to_viewers_or_for_a_stopped_leaked_key() {
    let mut m = on_keys(&[1], Role::Viewer);
    whois_found(&mut m, api_key(1));
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Cancel)));
    let mut m = on_keys(&[1], Role::Manager);
    whois_found(&mut m, leaked_key(1));
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Cancel)));
    // An enabled leaked key is live again: it may be reported again.
    let mut m = on_keys(&[1], Role::Manager);
    let mut again = leaked_key(1);
    again.state = KeyState::Active;
    whois_found(&mut m, again);
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Leak)));
}
