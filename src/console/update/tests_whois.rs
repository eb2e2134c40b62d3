//! Who owns this key? (issue 9): dots only, the local check first, the answer, `[Open]`, and the
//! key wiped and never in Debug output.

use crossterm::event::KeyCode;

use super::fixtures::*;
use super::update;
use crate::console::msg::{ApiCall, ApiResult, Msg};
use crate::console::popups::{Button, Focus, Popup};
use crate::credential::{Kind, generate};
use crate::wire::{ErrorCode, Role, WhoisAnswer};

pub(crate) fn answer(service: u32, key: u32) -> ApiResult {
    ApiResult::Whois(Ok(WhoisAnswer {
        service_id: format!("svc_{service:04}"),
        service_name: format!("service-{service}"),
        api_key: api_key(key),
    }))
}

fn whois(m: &crate::console::model::Model) -> &crate::console::popups::whois::WhoisPopup {
    match top(m) {
        Popup::Whois(p) => p,
        other => panic!("not whois: {other:?}"),
    }
}

#[test]
fn w_opens_from_either_screen_with_the_field_focused() {
    for mut m in [on_services(2, Role::Viewer), on_keys(&[1], Role::Manager)] {
        assert!(update(&mut m, key('w')).is_empty());
        assert_eq!(
            focus(&m),
            Some(Focus::Field(crate::console::popups::Field::Key))
        );
        // Letters go to the field, not to the shortcuts.
        update(&mut m, key('q'));
        update(&mut m, key('a'));
        assert_eq!(whois(&m).key.len(), 2);
        assert_eq!(m.popups.len(), 1);
    }
}

#[test]
fn a_bad_checksum_is_refused_here_without_a_request() {
    let mut m = on_services(1, Role::Manager);
    update(&mut m, key('w'));
    let good = generate(Kind::ApiKey);
    let mut bad = good.expose().to_string();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    update(&mut m, Msg::Paste(bad));
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    assert_eq!(whois(&m).error.as_deref(), Some("not a ragkeys API key"));
    update(&mut m, code(KeyCode::Backspace));
    assert!(whois(&m).error.is_none());
}

#[test]
fn a_real_key_is_looked_up_and_open_lands_on_its_row() {
    let mut m = on_services(3, Role::Manager);
    update(&mut m, key('w'));
    let k = generate(Kind::ApiKey);
    update(&mut m, Msg::Paste(format!("{}\n", k.expose())));
    assert_eq!(whois(&m).key.len(), k.expose().len());
    // Never in Debug output: not the popup's, not the call's.
    let dbg = format!("{:?}", m.popups);
    assert!(!dbg.contains(k.expose()), "{dbg}");
    let eff = update(&mut m, code(KeyCode::Enter));
    let (id, call) = only_call(&eff);
    assert!(matches!(&call, ApiCall::Whois(s) if s.expose() == k.expose()));
    assert!(!format!("{eff:?}{:?}", m.pending).contains(k.expose()));
    respond(&mut m, id, answer(2, 3));
    assert_eq!(focus(&m), Some(Focus::Button(Button::Open)));
    let eff = update(&mut m, code(KeyCode::Enter));
    assert!(m.popups.is_empty());
    let (kid, call) = only_call(&eff);
    assert!(matches!(&call, ApiCall::ListKeys { service_id } if service_id == "svc_0002"));
    respond(&mut m, kid, keys_result("svc_0002", &[1, 2, 3, 4]));
    let k = m.keys.as_ref().unwrap();
    assert_eq!(k.service.id, "svc_0002");
    assert_eq!(k.selected_key().map(|x| x.id.as_str()), Some("key_0003"));
}

#[test]
fn not_found_and_rate_limited_say_so_in_the_page_words() {
    let mut m = on_services(1, Role::Manager);
    update(&mut m, key('w'));
    update(
        &mut m,
        Msg::Paste(generate(Kind::ApiKey).expose().to_string()),
    );
    let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
    let e = api_err(ErrorCode::ApiKeyNotFound, "no such key");
    respond(&mut m, id, ApiResult::Whois(Err(e)));
    assert!(
        whois(&m)
            .error
            .as_deref()
            .unwrap()
            .starts_with("No API Key matches")
    );
    let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
    let e = api_err(ErrorCode::RateLimited, "slow down");
    respond(&mut m, id, ApiResult::Whois(Err(e)));
    assert!(whois(&m).error.is_some());
    update(&mut m, code(KeyCode::Esc));
    assert!(m.popups.is_empty());
}

#[test]
fn a_paste_is_cut_and_cleaned() {
    let mut m = on_services(1, Role::Manager);
    update(&mut m, key('w'));
    update(
        &mut m,
        Msg::Paste(format!("\u{1b}[2J{}", "x".repeat(100_000))),
    );
    assert_eq!(
        whois(&m).key.len(),
        crate::console::popups::whois::WHOIS_MAX
    );
    assert!(!whois(&m).key.expose().contains('\u{1b}'));
}
