//! `view(&Model, &mut Frame)`: pure drawing from the model and its layout.

mod glyphs;
mod keys;
mod popups;
mod services;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_access;
#[cfg(test)]
mod tests_access_forms;
#[cfg(test)]
mod tests_any_input;
#[cfg(test)]
mod tests_ascii;
#[cfg(test)]
mod tests_audit_whois;
#[cfg(test)]
pub(crate) mod tests_details;
#[cfg(test)]
mod tests_dialogs;
#[cfg(test)]
mod tests_issue_expiry;
#[cfg(test)]
mod tests_leaks;
#[cfg(test)]
mod tests_screens;
#[cfg(test)]
mod tests_service_clock;
#[cfg(test)]
mod tests_states_and_lifecycle;
#[cfg(test)]
mod tests_widths;
pub mod theme;
mod widgets;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};

use crate::console::layout::{self, Body, ScreenLayout};
use crate::console::model::{MIN_HEIGHT, MIN_WIDTH, Model, NoticeKind, Screen};
use crate::console::text;
use crate::sanitize::clean;
use theme::Theme;
use widgets::put;

pub fn view(m: &Model, f: &mut Frame) {
    let area = f.area();
    let l = layout::layout(m, area);
    if let Some(cursor) = draw(m, &l, f.buffer_mut()) {
        f.set_cursor_position(cursor);
    }
}

/// Draws everything; returns where the terminal cursor goes (in a focused text field).
pub fn draw(m: &Model, l: &ScreenLayout, buf: &mut Buffer) -> Option<Position> {
    let theme = Theme::new(m.colors, glyphs::Glyphs(m.charset));
    if matches!(l.body, Body::TooSmall) {
        too_small(m, l.area, buf, &theme);
        return None;
    }
    header(m, l.header, buf, &theme);
    breadcrumb(m, l.breadcrumb, buf, &theme);
    let mut cursor = match &l.body {
        Body::Services(s) => services::draw(m, s, buf, &theme),
        Body::Keys(k) => keys::draw(m, k, buf, &theme),
        Body::TooSmall => None,
    };
    footer(m, l, buf, &theme);
    for (p, pl) in m.popups.iter().zip(&l.popups) {
        // Only the top popup's field shows the cursor.
        cursor = popups::draw(m, p, pl, buf, &theme);
    }
    cursor
}

fn too_small(m: &Model, area: Rect, buf: &mut Buffer, theme: &Theme) {
    let tr = m.tr;
    let msg = tr.f(
        "app.too_small",
        &[
            ("width", &area.width),
            ("height", &area.height),
            ("min_width", &MIN_WIDTH),
            ("min_height", &MIN_HEIGHT),
        ],
    );
    let mut lines = text::wrap(&msg, usize::from(area.width.saturating_sub(2)).max(1));
    lines.extend(text::wrap(
        tr.t("app.too_small_hint"),
        usize::from(area.width.saturating_sub(2)).max(1),
    ));
    let top = area.y + area.height.saturating_sub(lines.len() as u16) / 2;
    for (i, l) in lines.iter().enumerate() {
        let y = top + i as u16;
        if y >= area.bottom() {
            break;
        }
        let w = text::width(l) as u16;
        let x = area.x + area.width.saturating_sub(w) / 2;
        put(
            buf,
            Rect {
                x,
                y,
                width: w.min(area.width),
                height: 1,
            },
            l,
            ratatui::style::Style::new(),
            theme,
        );
    }
}

fn header(m: &Model, r: Rect, buf: &mut Buffer, theme: &Theme) {
    buf.set_style(r, theme.header());
    let tr = m.tr;
    let product = format!(" {} ", tr.t("app.product"));
    let badge = format!(" {} ", tr.t("app.badge"));
    let mut x = r.x;
    put(
        buf,
        Rect {
            x,
            width: r.width,
            ..r
        },
        &product,
        theme.header().patch(theme.bold()),
        theme,
    );
    x += text::width(&product) as u16;
    put(
        buf,
        Rect {
            x,
            width: r.right().saturating_sub(x),
            ..r
        },
        &badge,
        theme.badge(),
        theme,
    );
    x += text::width(&badge) as u16 + 1;
    let note = crate::console::format::skew_note(tr, m.skew).map(|n| format!("{n} "));
    let note_w = note.as_deref().map_or(0, text::width) as u16;
    let mut who = match &m.me {
        Some(me) => format!("{} · {} ", clean(&me.name), me.role.as_str()),
        None => format!("{} ", tr.t("app.who_unknown")),
    };
    // Where a clock note leaves no room for the role, the name alone says who.
    if let Some(me) = &m.me
        && note_w + text::width(&who) as u16 > r.right().saturating_sub(x)
    {
        who = format!("{} ", clean(&me.name));
    }
    let who_w = text::width(&who) as u16;
    let who_x = r.right().saturating_sub(who_w).max(x);
    // A skew worth saying goes before the connection, which gives way to it when narrow.
    let mut conn_end = who_x;
    if let Some(note) = note {
        let note_w = note_w.min(who_x.saturating_sub(x));
        conn_end = who_x.saturating_sub(note_w).max(x);
        put(
            buf,
            Rect {
                x: conn_end,
                width: note_w,
                ..r
            },
            &note,
            theme.header().patch(theme.bold()),
            theme,
        );
    }
    put(
        buf,
        Rect {
            x,
            width: conn_end.saturating_sub(x + 1),
            ..r
        },
        &clean(&m.connection),
        theme.header(),
        theme,
    );
    put(
        buf,
        Rect {
            x: who_x,
            width: r.right().saturating_sub(who_x),
            ..r
        },
        &who,
        theme.header(),
        theme,
    );
}

fn breadcrumb(m: &Model, r: Rect, buf: &mut Buffer, theme: &Theme) {
    let mut s = format!(" {}", m.tr.t("app.breadcrumb"));
    if m.screen == Screen::Keys {
        s.push_str(" > ");
        s.push_str(m.tr.t("keys.title"));
    }
    put(buf, r, &s, theme.dim(), theme);
}

/// The keys that work, then (right-aligned) the spinner and the latest notice; a notice too
/// long for that row is wrapped on the rows above it (docs/console.md, Notices).
fn footer(m: &Model, l: &ScreenLayout, buf: &mut Buffer, theme: &Theme) {
    let r = l.footer;
    let style = match m.notice.as_ref().map(|n| n.kind) {
        Some(NoticeKind::Error | NoticeKind::LoadError | NoticeKind::Warning) => {
            theme.tone(layout::Tone::Error)
        }
        Some(NoticeKind::Success) => theme.tone(layout::Tone::Success),
        _ => ratatui::style::Style::new(),
    };
    let last = Rect {
        y: r.bottom().saturating_sub(1),
        height: 1,
        ..r
    };
    let beside = if r.height > 1 {
        for (i, line) in l.notice.iter().take(usize::from(r.height - 1)).enumerate() {
            let row = Rect {
                x: r.x + 1,
                y: r.y + i as u16,
                width: r.width.saturating_sub(2),
                height: 1,
            };
            put(buf, row, line, style, theme);
        }
        String::new()
    } else {
        l.notice.first().cloned().unwrap_or_default()
    };
    let rw = text::width(&beside) as u16;
    let rx = last.right().saturating_sub(rw + 1);
    let hints_w = rx.saturating_sub(last.x + 1);
    if hints_w > 0 {
        put(
            buf,
            Rect {
                width: hints_w,
                ..last
            },
            &l.hints,
            theme.dim(),
            theme,
        );
    }
    put(
        buf,
        Rect {
            x: rx,
            width: rw,
            ..last
        },
        &beside,
        style,
        theme,
    );
}
