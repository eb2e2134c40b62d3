//! Snapshots of the Audit trail popup (issue 9), en and ko, 100×30 and 60×16.

use super::test_support::snapshot;
use crate::console::i18n::Catalog;
use crate::console::msg::Msg;
use crate::console::update::fixtures::{key, on_keys, on_services, only_call};
use crate::console::update::tests_audit::{events, page};
use crate::console::update::update;
use crate::wire::{AuditPage, Role};

#[test]
fn audit_trail_of_a_service() {
    snapshot("audit_trail", |lang| {
        let mut m = on_keys(&[1], Role::Manager);
        m.tr = Catalog::get(lang);
        let (id, _) = only_call(&update(&mut m, key('a')));
        update(
            &mut m,
            Msg::Api {
                id,
                result: page(30, 30, None),
            },
        );
        m
    });
}

#[test]
fn audit_trail_of_everything_with_hostile_strings() {
    snapshot("audit_trail_all", |lang| {
        let mut m = on_services(2, Role::Viewer);
        m.tr = Catalog::get(lang);
        let (id, _) = only_call(&update(&mut m, key('a')));
        let mut ev = events(40, 3);
        ev[0].actor = "evil\u{1b}]52;c;aGk=\u{7}\u{202e}tok".into();
        ev[0].outcome = "ok\u{1b}[2J".into();
        let result = crate::console::msg::ApiResult::AuditPage(Ok(AuditPage {
            events: ev,
            next: Some("c37".into()),
        }));
        update(&mut m, Msg::Api { id, result });
        m
    });
}

#[test]
fn audit_trail_loading_and_filtered() {
    snapshot("audit_trail_filter", |lang| {
        let mut m = on_keys(&[1], Role::Manager);
        m.tr = Catalog::get(lang);
        let (id, _) = only_call(&update(&mut m, key('a')));
        update(
            &mut m,
            Msg::Api {
                id,
                result: page(30, 30, Some("c0")),
            },
        );
        update(&mut m, key('/'));
        update(&mut m, key('2'));
        m
    });
}

fn whois_with(lang: crate::args::Lang, text: &str) -> crate::console::model::Model {
    let mut m = on_services(2, Role::Manager);
    m.tr = Catalog::get(lang);
    update(&mut m, key('w'));
    update(&mut m, Msg::Paste(text.to_string()));
    m
}

#[test]
fn whois_shows_dots_only() {
    snapshot("whois_dots", |lang| {
        whois_with(
            lang,
            crate::credential::generate(crate::credential::Kind::ApiKey).expose(),
        )
    });
}

#[test]
fn whois_bad_checksum() {
    snapshot("whois_bad_checksum", |lang| {
        let mut bad = crate::credential::generate(crate::credential::Kind::ApiKey)
            .expose()
            .to_string();
        let last = bad.pop().unwrap_or('A');
        bad.push(if last == 'A' { 'B' } else { 'A' });
        let mut m = whois_with(lang, &bad);
        update(
            &mut m,
            crate::console::update::fixtures::code(crossterm::event::KeyCode::Enter),
        );
        m
    });
}

#[test]
fn whois_found() {
    snapshot("whois_found", |lang| {
        let key = crate::credential::generate(crate::credential::Kind::ApiKey);
        let mut m = whois_with(lang, key.expose());
        let (id, _) = only_call(&update(
            &mut m,
            crate::console::update::fixtures::code(crossterm::event::KeyCode::Enter),
        ));
        let result = crate::console::update::tests_whois::answer(2, 3);
        update(&mut m, Msg::Api { id, result });
        m
    });
}
