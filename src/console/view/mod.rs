//! `view(&Model, &mut Frame)`: pure drawing from the model and its layout.

mod glyphs;
mod keys;
mod popups;
mod services;
#[cfg(test)]
mod test_support;
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
mod tests_screens;
#[cfg(test)]
mod tests_states_and_lifecycle;
#[cfg(test)]
mod tests_widths;
pub mod theme;
mod widgets;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};

use crate::console::keymap::Action;
use crate::console::layout::{self, Body, ScreenLayout};
use crate::console::model::{MIN_HEIGHT, MIN_WIDTH, Model, NoticeKind, Screen, ServicesFocus};
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
    let theme = Theme {
        mono: m.monochrome,
        glyphs: glyphs::Glyphs(m.charset),
    };
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
    footer(m, l.footer, buf, &theme);
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
    let who = match &m.me {
        Some(me) => format!("{} · {} ", clean(&me.name), me.role.as_str()),
        None => format!("{} ", tr.t("app.who_unknown")),
    };
    let who_w = text::width(&who) as u16;
    let who_x = r.right().saturating_sub(who_w).max(x);
    put(
        buf,
        Rect {
            x,
            width: who_x.saturating_sub(x + 1),
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

/// The keys that work here, then (right-aligned) a spinner and the latest notice.
/// Whether a footer hint does something here and now (a disabled action is not offered).
fn hint_applies(m: &Model, action: Action) -> bool {
    if let Some(top) = m.popups.last() {
        // While a popup's request runs, only Esc does anything.
        return top.in_flight().is_none() || action == Action::Cancel;
    }
    match action {
        Action::CreateService => m.can_manage(),
        Action::Press => {
            m.screen != Screen::Services
                || m.services.focus != ServicesFocus::Table
                || !m.services.visible().is_empty()
        }
        Action::Issue => m.can_manage() && m.keys.as_ref().is_some_and(|k| !k.at_limit()),
        Action::Delete => {
            m.can_manage() && m.keys.as_ref().is_some_and(|k| k.selected_key().is_some())
        }
        Action::ToggleEnabled => {
            m.can_manage() && m.keys.as_ref().is_some_and(|k| k.selected_key().is_some())
        }
        Action::Menu => m.keys.as_ref().is_some_and(|k| k.selected_key().is_some()),
        _ => true,
    }
}

fn footer(m: &Model, r: Rect, buf: &mut Buffer, theme: &Theme) {
    let tr = m.tr;
    let hints: Vec<String> = m
        .keymap
        .footer(m.context())
        .into_iter()
        .filter(|(_, action)| hint_applies(m, *action))
        .map(|(key, action)| {
            // In a popup, Enter presses a button rather than opening a row.
            let name = match (action, m.popups.is_empty()) {
                (Action::Press, false) => "press_button",
                _ => action.name(),
            };
            format!("{key} {}", tr.t(&format!("hint.{name}")))
        })
        .collect();
    let hints = format!(" {}", hints.join("  "));
    let mut right = String::new();
    if m.needs_tick() {
        right.push_str(m.spinner_frame());
        right.push(' ');
    }
    let style = match m.notice.as_ref().map(|n| n.kind) {
        Some(NoticeKind::Error | NoticeKind::LoadError | NoticeKind::Warning) => {
            theme.tone(layout::Tone::Error)
        }
        Some(NoticeKind::Success) => theme.tone(layout::Tone::Success),
        _ => ratatui::style::Style::new(),
    };
    if let Some(n) = &m.notice {
        right.push_str(&n.text);
    }
    // The keys that work keep their place; a long notice takes what is left, at least 2/3.
    let width = usize::from(r.width.saturating_sub(1));
    let room = width
        .saturating_sub(text::width(&hints) + 2)
        .max(width * 2 / 3);
    let right = text::truncate(&right, room);
    let rw = text::width(&right) as u16;
    let rx = r.right().saturating_sub(rw + 1);
    let hints_w = rx.saturating_sub(r.x + 1);
    if hints_w > 0 {
        put(
            buf,
            Rect {
                width: hints_w,
                ..r
            },
            &hints,
            theme.dim(),
            theme,
        );
    }
    put(
        buf,
        Rect {
            x: rx,
            width: rw,
            ..r
        },
        &right,
        style,
        theme,
    );
}
