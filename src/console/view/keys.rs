//! API Key management: the page's four parts in its order — menu name, basic features
//! (`[Issue API Key]` and `3 / 5`), the issued list, and each row's `≡`.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;

use super::theme::Theme;
use super::widgets::{ButtonLook, button, put, table_row, table_shell};
use crate::console::layout::table::{Col, TableLayout};
use crate::console::layout::{KeysLayout, button_label};
use crate::console::model::{KeysFocus, KeysView, Model};
use crate::console::{format, lifecycle};
use crate::sanitize::clean;

pub(super) fn draw(m: &Model, l: &KeysLayout, buf: &mut Buffer, theme: &Theme) -> Option<Position> {
    let tr = m.tr;
    let k = m.keys.as_ref()?;
    // 1. Menu name, with the service's name and id.
    put(buf, l.title, tr.t("keys.title"), theme.bold(), theme);
    let service = tr.f(
        "keys.service",
        &[
            ("name", &clean(&k.service.name)),
            ("id", &clean(&k.service.id)),
        ],
    );
    put(buf, l.service, &service, theme.dim(), theme);
    // 2. Basic features.
    button(
        buf,
        l.issue_button,
        &button_label(m, "button.issue_api_key"),
        ButtonLook {
            focused: k.focus == KeysFocus::IssueButton && m.popups.is_empty(),
            enabled: m.can_manage() && !k.at_limit(),
            destructive: false,
        },
        theme,
    );
    let count = match &k.list {
        Some(_) => tr.f(
            "keys.count",
            &[("count", &k.count()), ("limit", &k.limit())],
        ),
        None => tr.f("keys.count", &[("count", &"…"), ("limit", &k.limit())]),
    };
    put(buf, l.count, &count, theme.bold(), theme);
    for (r, s, tone) in &l.notes {
        put(buf, *r, s, theme.tone(*tone), theme);
    }
    // 3. Issued list, 4. its detail menus.
    table(m, k, &l.table, buf, theme);
    None
}

fn header_key(c: Col) -> &'static str {
    match c {
        Col::KeyMasked => "keys.col_key",
        Col::KeyName => "keys.col_name",
        Col::KeyState => "state.col",
        Col::KeyAccess => "keys.col_access",
        Col::KeyCreated => "keys.col_created",
        Col::KeyLastUsed => "keys.col_last_used",
        _ => "",
    }
}

fn table(m: &Model, k: &KeysView, t: &TableLayout, buf: &mut Buffer, theme: &Theme) {
    let tr = m.tr;
    let message = match (&k.list, &k.error) {
        (None, Some(e)) => Some(tr.f("keys.load_failed", &[("reason", e)])),
        (None, None) => Some(tr.t("app.loading").to_string()),
        (Some(l), _) if l.api_keys.is_empty() => Some(tr.t("keys.empty").to_string()),
        _ => None,
    };
    let has_rows = message.is_none();
    table_shell(m, t, header_key, message, buf, theme);
    if !has_rows {
        return;
    }
    let focused = k.focus == KeysFocus::Table && m.popups.is_empty();
    for (idx, r) in &t.rows {
        let Some(key) = k.keys().get(*idx) else {
            continue;
        };
        let style = table_row(buf, *r, *idx == k.selected, focused, theme);
        for c in &t.columns {
            let value = match c.col {
                Col::KeyMasked => clean(&key.masked).into_owned(),
                Col::KeyName => key.name.as_deref().map_or_else(
                    || tr.t("delete.no_name").to_string(),
                    |n| clean(n).into_owned(),
                ),
                Col::KeyState => {
                    lifecycle::state_cell(tr, key, k.keys(), (m.now, m.tz), m.monochrome())
                }
                Col::KeyAccess => crate::console::access::cell(key),
                Col::KeyCreated => format::with_offset(key.created_at, m.tz),
                Col::KeyLastUsed => crate::console::usage::last_used_cell(tr, key, m.now),
                Col::KeyMenu => "≡".to_string(),
                _ => continue,
            };
            let look = if c.col == Col::KeyMasked {
                style
            } else if c.col == Col::KeyState && lifecycle::warns(key) {
                // docs/console.md, Leaked keys: a leaked key's state in the warning style.
                theme.tone(crate::console::layout::Tone::Caution)
            } else {
                Style::new()
            };
            put(buf, Rect::new(c.x, r.y, c.width, 1), &value, look, theme);
        }
    }
}
