//! The Services screen: the start screen, with its table and `[Create service]`.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;

use super::theme::Theme;
use super::widgets::{ButtonLook, button, field, put, table_row, table_shell};
use crate::console::format;
use crate::console::layout::table::{Col, TableLayout};
use crate::console::layout::{ServicesLayout, button_label};
use crate::console::model::{Model, ServicesFocus};
use crate::console::text;
use crate::sanitize::clean;

pub(super) fn draw(
    m: &Model,
    l: &ServicesLayout,
    buf: &mut Buffer,
    theme: &Theme,
) -> Option<Position> {
    let tr = m.tr;
    let v = &m.services;
    put(buf, l.title, tr.t("services.title"), theme.bold(), theme);
    button(
        buf,
        l.create_button,
        &button_label(m, "button.create_service"),
        ButtonLook {
            focused: v.focus == ServicesFocus::CreateButton && m.popups.is_empty(),
            enabled: m.can_manage(),
            destructive: false,
        },
        theme,
    );
    for (r, s, tone) in &l.notes {
        put(buf, *r, s, theme.tone(*tone), theme);
    }
    let mut cursor = None;
    if let Some(r) = l.filter {
        let label = format!("/ {}: ", tr.t("services.filter"));
        let lw = text::width(&label) as u16;
        put(buf, r, &label, theme.dim(), theme);
        let input = Rect {
            x: r.x + lw,
            width: r.width.saturating_sub(lw),
            ..r
        };
        cursor = field(
            buf,
            input,
            &v.filter,
            v.focus == ServicesFocus::Filter && m.popups.is_empty(),
            theme,
        );
    }
    table(m, &l.table, buf, theme);
    cursor
}

fn header_key(c: Col) -> &'static str {
    match c {
        Col::SvcId => "services.col_id",
        Col::SvcName => "services.col_name",
        Col::SvcDescription => "services.col_description",
        Col::SvcKeys => "services.col_keys",
        Col::SvcCreated => "services.col_created",
        _ => "",
    }
}

fn table(m: &Model, t: &TableLayout, buf: &mut Buffer, theme: &Theme) {
    let tr = m.tr;
    let v = &m.services;
    let message = match (&v.list, &v.error) {
        (None, Some(e)) => Some(tr.f("services.load_failed", &[("reason", e)])),
        (None, None) => Some(tr.t("app.loading").to_string()),
        (Some(list), _) if list.is_empty() => Some(tr.t("services.empty").to_string()),
        (Some(_), _) if v.visible().is_empty() => Some(tr.t("services.empty_filtered").to_string()),
        _ => None,
    };
    let has_rows = message.is_none();
    table_shell(m, t, header_key, message, buf, theme);
    if !has_rows {
        return;
    }
    let visible = v.visible();
    let table_focused = v.focus == ServicesFocus::Table && m.popups.is_empty();
    for (idx, r) in &t.rows {
        let Some(s) = visible.get(*idx) else {
            continue;
        };
        let selected = *idx == v.selected;
        let style = table_row(buf, *r, selected, table_focused, theme);
        for c in &t.columns {
            let cell = Rect::new(c.x, r.y, c.width, 1);
            let value = match c.col {
                Col::SvcId => clean(&s.id).into_owned(),
                Col::SvcName => clean(&s.name).into_owned(),
                Col::SvcDescription => clean(&s.description).into_owned(),
                Col::SvcKeys if m.services.needs_attention(s) => {
                    format!("{}/{} !", s.key_count, s.key_limit)
                }
                Col::SvcKeys => format!("{}/{}", s.key_count, s.key_limit),
                Col::SvcCreated => format::without_offset(s.created_at, m.tz),
                Col::SvcButton => {
                    let look = ButtonLook {
                        focused: false,
                        enabled: true,
                        destructive: false,
                    };
                    button(
                        buf,
                        Rect::new(c.x.saturating_sub(1), r.y, c.width + 1, 1),
                        &button_label(m, "button.api_key_management"),
                        look,
                        theme,
                    );
                    continue;
                }
                _ => continue,
            };
            let look = if c.col == Col::SvcId {
                style
            } else {
                Style::new()
            };
            put(buf, cell, &value, look, theme);
        }
    }
}
