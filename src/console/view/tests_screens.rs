//! The two screens drawn: Services and API Key management as snapshots, a terminal too small,
//! narrow and wide text, the monochrome theme, strings from the wire cleaned, Japanese.

use ratatui::style::Modifier;

use super::test_support::{
    draw, keys_with, screen_text, services_with_wide_names, snapshot, with_lang,
};
use crate::args::Lang;
use crate::console::msg::{ApiResult, Msg};
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::wire::{Role, ServiceList};

#[test]
fn services_screen() {
    snapshot("services", services_with_wide_names);
}

#[test]
fn services_screen_empty() {
    snapshot("services_empty", |l| {
        with_lang(on_services(0, Role::Manager), l)
    });
}

#[test]
fn services_filter() {
    snapshot("services_filter", |l| {
        let mut m = services_with_wide_names(l);
        update(&mut m, key('/'));
        update(&mut m, key('2'));
        m
    });
}

#[test]
fn keys_screen() {
    snapshot("keys", |l| keys_with(&[1, 2, 3], Role::Manager, l));
}

#[test]
fn keys_screen_at_the_limit() {
    snapshot("keys_limit", |l| {
        keys_with(&[1, 2, 3, 4, 5], Role::Manager, l)
    });
}

#[test]
fn keys_screen_empty() {
    snapshot("keys_empty", |l| keys_with(&[], Role::Manager, l));
}

#[test]
fn keys_screen_for_a_viewer() {
    snapshot("keys_viewer", |l| keys_with(&[1, 2], Role::Viewer, l));
}

#[test]
fn too_small_screen() {
    for lang in [Lang::En, Lang::Ko] {
        let mut m = keys_with(&[1], Role::Manager, lang);
        let text = screen_text(&draw(&mut m, 59, 16));
        insta::with_settings!({prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(format!("too_small__{}", format!("{lang:?}").to_lowercase()), text);
        });
    }
}

#[test]
fn narrow_screens_drop_last_used_then_name_never_the_key_or_the_menu() {
    let header = |w: u16| {
        let mut m = keys_with(&[1, 2], Role::Manager, Lang::En);
        let text = screen_text(&draw(&mut m, w, 30));
        let head = text
            .lines()
            .find(|l| l.contains("API Key") && l.contains("State"));
        let rows: Vec<String> = text
            .lines()
            .filter(|l| l.contains("********"))
            .map(str::to_string)
            .collect();
        (head.unwrap_or("").to_string(), rows)
    };
    let (h100, rows) = header(100);
    assert!(h100.contains("Name") && h100.contains("Last used"));
    assert!(
        rows.iter()
            .all(|r| r.contains('≡') && r.contains("(UTC+09:00)"))
    );
    // Issue 8: Created at gives way before Name; the key, its state and the ≡ always stay.
    let (h72, rows) = header(72);
    assert!(h72.contains("Name") && h72.contains("State") && !h72.contains("Created at"));
    assert!(rows.iter().all(|r| r.contains('≡') && r.contains("Active")));
    let (h60, rows) = header(60);
    assert!(h60.contains("State") && !h60.contains("Created at"));
    assert!(
        rows.iter()
            .all(|r| r.contains('≡') && r.contains("ragk_") && r.contains("Active"))
    );
}

#[test]
fn wide_characters_keep_the_columns_aligned() {
    let mut m = services_with_wide_names(Lang::Ko);
    let text = screen_text(&draw(&mut m, 100, 30));
    let col_of = |line: &str, needle: &str| {
        line.find(needle)
            .map(|i| crate::console::text::width(&line[..i]))
    };
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("svc_000")).collect();
    assert_eq!(rows.len(), 3);
    let cols: Vec<Option<usize>> = rows.iter().map(|r| col_of(r, "/5")).collect();
    assert!(
        cols.iter().all(|c| c.is_some() && *c == cols[0]),
        "{cols:?}\n{text}"
    );
}

#[test]
fn monochrome_still_shows_focus_and_selection() {
    let mut m = keys_with(&[1, 2], Role::Manager, Lang::En);
    m.colors = crate::console::terminal::caps::ColorDepth::None;
    update(&mut m, key('d'));
    let buf = draw(&mut m, 100, 30);
    let text = screen_text(&buf);
    let (y, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(">[Cancel]"))
        .unwrap_or_else(|| panic!("no focused Cancel:\n{text}"));
    let x = crate::console::text::width(&line[..line.find(">[Cancel]").unwrap_or(0)]) as u16 + 1;
    let cell = &buf[(x, y as u16)];
    assert!(cell.modifier.contains(Modifier::REVERSED), "{cell:?}");
    assert_eq!(cell.fg, ratatui::style::Color::Reset);
    // The selected row carries the marker.
    assert!(text.lines().any(|l| l.starts_with("│>")));
}

#[test]
fn strings_from_the_wire_are_cleaned_before_drawing() {
    let mut m = on_services(0, Role::Manager);
    let mut s = svc(1, 0);
    s.name = "evil\u{1b}]52;c;aGk=\u{7}name".into();
    s.description = "\u{202e}desc\u{9b}2J".into();
    let (id, _) = only_call(&update(&mut m, key('r')));
    update(
        &mut m,
        Msg::Api {
            id,
            result: ApiResult::Services(Ok(ServiceList { services: vec![s] })),
        },
    );
    let buf = draw(&mut m, 100, 30);
    for cell in buf.content() {
        assert!(
            !cell.symbol().chars().any(crate::wire::is_forbidden_char),
            "{:?}",
            cell.symbol()
        );
    }
    assert!(screen_text(&buf).contains("evil]52;c;aGk=name"));
}

#[test]
fn japanese_is_drawn_from_its_catalog() {
    let mut m = keys_with(&[1, 2, 3, 4, 5], Role::Manager, Lang::Ja);
    let text = screen_text(&draw(&mut m, 100, 30));
    assert!(text.contains("API Key管理"));
    assert!(text.contains("[API Key発行] 5 / 5"));
    assert!(text.contains("発行可能なAPI Keyの最大数を超えると"));
    assert!(text.contains("作成日時"));
}
