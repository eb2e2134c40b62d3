//! Snapshots of the Issue popup's expiry (issue 8) in each state — `Never`, `Date…` with a
//! valid and with an invalid date — and of the copy popup saying when the key expires; and a
//! check that at 60×16 every part of the popup shows in every language, scrolled into view as
//! the focus goes round.

use crossterm::event::KeyCode;

use super::test_support::{draw, keys_with, screen_text, snapshot};
use crate::args::Lang;
use crate::console::model::Model;
use crate::console::msg::{ApiResult, Msg};
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::wire::{Role, Timestamp};

/// The Issue popup named `ci-bot`, the focus moved on to the expiry choice, `rights` steps
/// right from Never, then `date` typed in the date field (when on `Date…`).
fn issue_with(lang: Lang, rights: usize, date: &str) -> Model {
    let mut m = keys_with(&[1, 2], Role::Manager, lang);
    update(&mut m, key('i'));
    for c in "ci-bot".chars() {
        update(&mut m, key(c));
    }
    update(&mut m, code(KeyCode::Tab));
    for _ in 0..rights {
        update(&mut m, code(KeyCode::Right));
    }
    if !date.is_empty() {
        update(&mut m, code(KeyCode::Tab));
        for c in date.chars() {
            update(&mut m, key(c));
        }
    }
    m
}

#[test]
fn issue_popup_expiry_never() {
    snapshot("issue_expiry_never", |l| issue_with(l, 0, ""));
}

#[test]
fn issue_popup_expiry_date_valid() {
    snapshot("issue_expiry_date_valid", |l| {
        issue_with(l, 5, "2026-12-31")
    });
}

#[test]
fn issue_popup_expiry_date_invalid() {
    snapshot("issue_expiry_date_invalid", |l| {
        issue_with(l, 5, "2027-02-29")
    });
}

#[test]
fn copy_popup_with_an_expiry() {
    snapshot("copy_expiry", |l| {
        let mut m = issue_with(l, 2, "");
        let (id, _) = only_call(&update(&mut m, code(KeyCode::Enter)));
        let ApiResult::Issued(Ok(mut issued)) = issued(3) else {
            panic!("the fixture issues")
        };
        issued.key.api_key.expires_at = Some(Timestamp::from_unix(T0 + 30 * 86_400));
        update(
            &mut m,
            Msg::Api {
                id,
                result: ApiResult::Issued(Ok(issued)),
            },
        );
        m
    });
}

#[test]
fn every_part_of_the_issue_popup_shows_at_60x16_in_every_language() {
    for lang in [Lang::En, Lang::Ko, Lang::Ja] {
        let tr = crate::console::i18n::Catalog::get(lang);
        for (rights, date) in [(0, ""), (2, ""), (5, "2026-12-31"), (5, "2027-02-29")] {
            let mut m = issue_with(lang, rights, date);
            // The popup's inside only, line after line, without the spaces that wrapping moved,
            // as the focus goes once round the form: what does not fit scrolls into view.
            let mut flat = String::new();
            let mut text = String::new();
            let rounds = m.popups.last().map_or(0, |p| p.focus_order().len());
            for _ in 0..rounds {
                let buf = draw(&mut m, 60, 16);
                text.push_str(&screen_text(&buf));
                let l = crate::console::layout::for_model(&m);
                let area = l.popups.last().map(|p| p.area).unwrap_or_default();
                for y in area.y + 1..area.bottom().saturating_sub(1) {
                    for x in area.x + 1..area.right().saturating_sub(1) {
                        flat.push_str(buf[(x, y)].symbol());
                    }
                }
                update(&mut m, code(KeyCode::Tab));
            }
            let flat: String = flat.split_whitespace().collect();
            let mut wanted: Vec<String> = vec![
                tr.t("issue.name").into(),
                tr.t("expiry.label").into(),
                tr.t("expiry.never").into(),
                tr.t("expiry.days7").into(),
                tr.t("expiry.days30").into(),
                tr.t("expiry.days90").into(),
                tr.t("expiry.year").into(),
                tr.t("expiry.date").into(),
                format!("[{}]", tr.t("button.issue")),
                format!("[{}]", tr.t("button.cancel")),
            ];
            if rights == 5 {
                wanted.push(tr.t("expiry.date_label").into());
                wanted.push(date.into());
                wanted.push(tr.f("expiry.date_help", &[("zone", &"UTC+09:00")]));
            }
            if date == "2027-02-29" {
                wanted.push(tr.f("expiry.error_no_such_date", &[("date", &date)]));
            }
            wanted.extend(
                [
                    "access.label",
                    "access.full",
                    "access.query",
                    "access.ingest",
                ]
                .into_iter()
                .chain(["access.custom", "access.rate", "access.allowed"])
                .map(|k| tr.t(k).to_string()),
            );
            for w in wanted {
                let w: String = w.split_whitespace().collect();
                assert!(
                    flat.contains(&w),
                    "{lang:?} {rights} {date:?}: {w:?} missing in\n{text}"
                );
            }
        }
    }
}
