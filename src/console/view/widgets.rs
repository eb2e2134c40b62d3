//! Small drawing pieces shared by the screens and popups: text cut to its cell, buttons with
//! their focus marker, text fields, the common parts of the two tables.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Block, Clear, Widget};
use tui_input::Input;

use super::theme::Theme;
use crate::console::layout::table::{Col, TableLayout};
use crate::console::model::Model;
use crate::console::text;

/// `s` in `rect`'s first line, as the theme's glyphs can show it, cut with `…` (`...` in ASCII)
/// if it does not fit.
pub fn put(buf: &mut Buffer, rect: Rect, s: &str, style: Style, theme: &Theme) {
    let rect = rect.intersection(buf.area);
    if rect.width == 0 || rect.height == 0 {
        return;
    }
    // Stand-ins first, so that an ASCII cut is measured on what is drawn and ends in `...`.
    let s = theme.glyphs.text(s);
    let cut = text::truncate_with(&s, usize::from(rect.width), theme.glyphs.ellipsis());
    let shown = theme.glyphs.text(&cut).into_owned();
    buf.set_stringn(rect.x, rect.y, shown, usize::from(rect.width), style);
}

/// [`put`] without replacing emoji sequences by `�`, for the one line that shows a name whole
/// (docs/console.md, Text width); in ASCII the same as [`put`]. The caller checks it fits.
pub fn put_verbatim(buf: &mut Buffer, rect: Rect, s: &str, style: Style, theme: &Theme) {
    let rect = rect.intersection(buf.area);
    if theme.glyphs.0.is_ascii() || rect.width == 0 || rect.height == 0 {
        return put(buf, rect, s, style, theme);
    }
    buf.set_stringn(rect.x, rect.y, s, usize::from(rect.width), style);
}

/// How a button looks.
#[derive(Debug, Clone, Copy)]
pub struct ButtonLook {
    pub focused: bool,
    pub enabled: bool,
    pub destructive: bool,
}

/// `>[Label]` when focused, ` [Label]` otherwise, `-[Label]` when it cannot be pressed now;
/// `rect` starts at the marker cell.
pub fn button(buf: &mut Buffer, rect: Rect, label: &str, look: ButtonLook, theme: &Theme) {
    if rect.width == 0 {
        return;
    }
    put(
        buf,
        Rect { width: 1, ..rect },
        marker(look.focused, look.enabled),
        theme.bold(),
        theme,
    );
    let style = if !look.enabled {
        theme.disabled()
    } else if look.destructive {
        theme.destructive(look.focused)
    } else if look.focused {
        theme.focus()
    } else {
        theme.bold()
    };
    put(
        buf,
        Rect {
            x: rect.x + 1,
            width: rect.width.saturating_sub(1),
            ..rect
        },
        label,
        style,
        theme,
    );
}

/// The cell before a button or menu item: `>` where the focus is, else `-` for what cannot be
/// chosen now, so that it reads without colour or any attribute (docs/console.md, Terminal
/// capabilities).
pub fn marker(focused: bool, enabled: bool) -> &'static str {
    match (focused, enabled) {
        (true, _) => ">",
        (false, false) => "-",
        (false, true) => " ",
    }
}

/// A one-line text field; returns where the cursor goes when it has the focus.
pub fn field(
    buf: &mut Buffer,
    rect: Rect,
    input: &Input,
    focused: bool,
    theme: &Theme,
) -> Option<Position> {
    let rect = rect.intersection(buf.area);
    if rect.width == 0 || rect.height == 0 {
        return None;
    }
    let width = usize::from(rect.width.saturating_sub(1));
    let scroll = input.visual_scroll(width);
    buf.set_style(rect, theme.field(focused));
    // Skip the columns scrolled out on the left, whole characters at a time.
    let mut skipped = 0;
    let shown: String = input
        .value()
        .chars()
        .skip_while(|c| {
            let w = text::width(c.encode_utf8(&mut [0; 4]));
            if skipped + w <= scroll {
                skipped += w;
                true
            } else {
                false
            }
        })
        .collect();
    let shown = theme.glyphs.text(&shown).into_owned();
    buf.set_stringn(rect.x, rect.y, shown, width, theme.field(focused));
    focused.then(|| Position {
        x: rect.x + (input.visual_cursor().saturating_sub(scroll)) as u16,
        y: rect.y,
    })
}

/// A bordered box with a title, cleared underneath.
pub fn frame(buf: &mut Buffer, area: Rect, title: &str, theme: &Theme) {
    let area = area.intersection(buf.area);
    Clear.render(area, buf);
    let mut block = Block::bordered()
        .border_set(theme.glyphs.border())
        .border_style(theme.border());
    if !title.is_empty() {
        block = block.title(format!(" {title} ")).title_style(theme.bold());
    }
    block.render(area, buf);
}

/// What both tables draw alike: the box, the header row (`header` gives each column's catalog
/// key, empty for none), and, when the table has no rows to show, `message` in its body.
pub fn table_shell(
    m: &Model,
    t: &TableLayout,
    header: fn(Col) -> &'static str,
    message: Option<String>,
    buf: &mut Buffer,
    theme: &Theme,
) {
    frame(buf, t.block, "", theme);
    for c in &t.columns {
        let key = header(c.col);
        if !key.is_empty() {
            put(
                buf,
                Rect::new(c.x, t.header_y, c.width, 1),
                m.tr.t(key),
                theme.bold(),
                theme,
            );
        }
    }
    let Some(message) = message else {
        return;
    };
    let body = t.body();
    let lines = text::wrap(&message, usize::from(body.width));
    for (y, line) in (body.y..body.bottom()).zip(&lines) {
        put(
            buf,
            Rect::new(body.x, y, body.width, 1),
            line,
            theme.dim(),
            theme,
        );
    }
}

/// A table row: marked with `>` when selected. The selection style, for the row's first cell.
pub fn table_row(buf: &mut Buffer, r: Rect, selected: bool, focused: bool, theme: &Theme) -> Style {
    if !selected {
        return Style::new();
    }
    // The marker and the row's first cell carry the selection, not the whole row: moving it then
    // rewrites a few dozen cells instead of two full rows (it matters over a slow SSH link).
    put(buf, Rect::new(r.x, r.y, 1, 1), ">", theme.bold(), theme);
    theme.selected(focused)
}
