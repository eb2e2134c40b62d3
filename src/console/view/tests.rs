//! Snapshot tests of every screen and popup, in English and Korean, at 100×30 and 60×16, drawn
//! on ratatui's `TestBackend`. Plaintext keys are redacted by a filter before comparison.

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;

use crate::args::Lang;
use crate::console::i18n::Catalog;
use crate::console::model::Model;
use crate::console::msg::{ApiResult, CopyOutcome, Msg};
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::console::view::view;
use crate::wire::{ErrorCode, Role, Service, ServiceList};

/// The screen as text, one line per row; a wide character's second cell is not repeated.
pub fn screen_text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0;
        let mut line = String::new();
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = crate::console::text::width(sym).saturating_sub(1);
            line.push_str(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(super) fn draw(m: &mut Model, w: u16, h: u16) -> Buffer {
    update(
        m,
        Msg::Resize {
            width: w,
            height: h,
        },
    );
    let mut t = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    if let Err(e) = t.draw(|f| view(m, f)) {
        panic!("{e}");
    }
    t.backend().buffer().clone()
}

fn with_lang(mut m: Model, lang: Lang) -> Model {
    m.tr = Catalog::get(lang);
    m
}

pub(super) fn snapshot(name: &str, build: impl Fn(Lang) -> Model) {
    for lang in [Lang::En, Lang::Ko] {
        for (w, h) in [(100u16, 30u16), (60, 16)] {
            let mut m = build(lang);
            let text = screen_text(&draw(&mut m, w, h));
            let tag = format!("{name}__{}_{w}x{h}", format!("{lang:?}").to_lowercase());
            insta::with_settings!({
                filters => vec![(r"ragk_[0-9A-Za-z]{36}", "[API KEY]")],
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(tag, text);
            });
        }
    }
}

fn services_with_wide_names(lang: Lang) -> Model {
    let mut m = with_lang(on_services(0, Role::Manager), lang);
    let mut list: Vec<Service> = (1..=3).map(|i| svc(i, i)).collect();
    list[1].name = "검색서비스".into();
    list[1].description = "社内文書の検索サービス".into();
    let (id, _) = only_call(&update(&mut m, key('r')));
    update(
        &mut m,
        Msg::Api {
            id,
            result: ApiResult::Services(Ok(ServiceList { services: list })),
        },
    );
    m
}

pub(super) fn keys_with(ids: &[u32], role: Role, lang: Lang) -> Model {
    let mut m = with_lang(on_keys(ids, role), lang);
    if let Some(k) = m.keys.as_mut()
        && let Some(l) = k.list.as_mut()
        && let Some(first) = l.api_keys.first_mut()
    {
        first.name = Some("배포용 키".into());
    }
    m
}

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
    m.monochrome = true;
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
