//! Where the tables' width goes: to what a person reads (service names, descriptions, key
//! names), not to gutters or to columns of fixed width.

use super::test_support::{draw, screen_text};
use crate::args::Lang;
use crate::console::layout::table::Col;
use crate::console::layout::{Body, for_model};
use crate::console::msg::{ApiResult, Msg};
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::wire::{Role, Service, ServiceList};

/// The Services screen at `width`×30 listing `services`: its rows as text.
fn service_rows(services: Vec<Service>, width: u16) -> Vec<String> {
    let mut m = on_services(0, Role::Manager);
    let (id, _) = only_call(&update(&mut m, key('r')));
    update(
        &mut m,
        Msg::Api {
            id,
            result: ApiResult::Services(Ok(ServiceList { services })),
        },
    );
    screen_text(&draw(&mut m, width, 30))
        .lines()
        .filter(|l| l.contains("svc_"))
        .map(str::to_string)
        .collect()
}

/// A service with an id as the key service makes them: `svc_` and 20 characters.
fn real(name: &str, description: &str) -> Service {
    Service {
        id: "svc_8f2kQ1x9ZbT4mW7pLr3N".into(),
        name: name.into(),
        description: description.into(),
        ..svc(1, 3)
    }
}

#[test]
fn at_100_columns_a_20_character_name_and_its_description_are_shown_whole() {
    let rows = service_rows(
        vec![real("customer-support-rag", "Support FAQ search")],
        100,
    );
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    for whole in [
        "customer-support-rag",
        "Support FAQ search",
        "3/5",
        "2026-11-26 13:43:12",
        "[API Key management]",
    ] {
        assert!(row.contains(whole), "{whole:?} is cut: {row}");
    }
    // Only the opaque id gives way.
    assert!(row.contains("svc_8f2kQ…"), "{row}");

    let rows = service_rows(vec![real("rag-demo", "Demo retrieval service")], 100);
    assert!(
        rows[0].contains("rag-demo") && rows[0].contains("Demo retrieval service"),
        "{}",
        rows[0]
    );
}

#[test]
fn a_table_with_room_to_spare_keeps_two_column_gutters() {
    let rows = service_rows(vec![svc(1, 1)], 100);
    assert!(
        rows[0].contains("service-1     Service number 1"),
        "{}",
        rows[0]
    );
}

#[test]
fn the_keys_table_gives_its_spare_width_to_the_name() {
    let mut m = on_keys(&[1, 2], Role::Manager);
    update(
        &mut m,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    let l = for_model(&m);
    let Body::Keys(k) = &l.body else {
        panic!("not on API Key management: {:?}", l.body);
    };
    let width = |c| k.table.column(c).map(|c| c.width);
    assert_eq!(width(Col::KeyMasked), Some(21));
    assert_eq!(width(Col::KeyCreated), Some(31));
    assert_eq!(width(Col::KeyLastUsed), Some(12));
    assert_eq!(width(Col::KeyMenu), Some(1));
    assert_eq!(width(Col::KeyState), Some(6));
    // `full` under its `Access` heading.
    assert_eq!(width(Col::KeyAccess), Some(6));
    // 96 columns inside the marker, less the fixed columns and six gutters, narrowed to one
    // column so that Access fits beside the rest.
    assert_eq!(width(Col::KeyName), Some(96 - 21 - 6 - 6 - 31 - 12 - 1 - 6));
}

/// Every notice and every error the footer may show, in every language, at the smallest size
/// and at 100 columns: whole, wrapped above the keys, never cut, and the keys never cut for it
/// (docs/console.md, Notices).
#[test]
fn every_notice_wraps_whole_in_every_language() {
    use crate::console::model::NoticeKind;
    for lang in [Lang::En, Lang::Ko, Lang::Ja] {
        let tr = crate::console::i18n::Catalog::get(lang);
        let mut keys: Vec<&str> = tr
            .keys()
            .filter(|k| k.starts_with("notice.") || k.starts_with("error."))
            .collect();
        keys.sort_unstable();
        for k in keys {
            for (w, h) in [(60u16, 16u16), (100, 30)] {
                let mut m = super::test_support::keys_with(&[1, 2], Role::Manager, lang);
                let text = tr.t(k).to_string();
                m.notice(NoticeKind::Error, text.clone());
                let buf = draw(&mut m, w, h);
                let l = crate::console::layout::for_model(&m);
                let mut shown = String::new();
                for y in l.footer.y..l.footer.bottom() {
                    for x in 0..w {
                        shown.push_str(buf[(x, y)].symbol());
                    }
                }
                let flat = |s: &str| s.split_whitespace().collect::<String>();
                assert!(
                    flat(&shown).contains(&flat(&text)),
                    "{lang:?} {k} at {w}x{h} is cut:\n{}",
                    super::test_support::screen_text(&buf)
                );
                let last: String = (0..w)
                    .map(|x| buf[(x, l.footer.bottom() - 1)].symbol())
                    .collect();
                let hints = crate::console::layout::footer_hints(&m);
                assert!(
                    flat(&last).contains(&flat(&hints)),
                    "{lang:?} {k} at {w}x{h} cuts the keys:\n{}",
                    super::test_support::screen_text(&buf)
                );
            }
        }
    }
}

/// The Audit trail's status and Details' errors are sentences too: wrapped whole at 60×16.
#[test]
fn a_long_status_in_the_audit_trail_and_details_is_wrapped_not_cut() {
    for lang in [Lang::En, Lang::Ko, Lang::Ja] {
        let mut m = super::test_support::keys_with(&[1, 2], Role::Manager, lang);
        let (id, _) = only_call(&update(&mut m, key('a')));
        respond(
            &mut m,
            id,
            ApiResult::AuditPage(Err(crate::client::ApiError::Unreachable {
                endpoint: "https://keys.example.internal:8443".into(),
                reason: "connection refused by the bastion's firewall after 3 attempts".into(),
            })),
        );
        let said = match &m.popups[0] {
            crate::console::popups::Popup::Audit(p) => p.error.clone().unwrap_or_default(),
            _ => panic!("no audit"),
        };
        let buf = draw(&mut m, 60, 16);
        let flat = |s: &str| s.split_whitespace().collect::<String>();
        let l = for_model(&m);
        let inside: String = l.popups[0]
            .rows
            .iter()
            .filter_map(|(_, r)| match r {
                crate::console::layout::Row::Text(s, _) => Some(s.clone()),
                _ => None,
            })
            .collect();
        assert!(
            flat(&inside).contains(&flat(&said)),
            "{lang:?}: {said}\n{}",
            screen_text(&buf)
        );
    }
}
