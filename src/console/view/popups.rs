//! Every popup, drawn alike: a framed box with its rows as its file placed them (`popups/` says
//! what is on each line, `layout` where). Styles come from the theme only, so the monochrome
//! theme draws every popup too.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::widgets::{Sparkline, Widget};

use super::theme::Theme;
use super::widgets::{ButtonLook, button, field, frame, marker, put, put_verbatim};
use crate::console::layout::popups::button_key;
use crate::console::layout::{PopupLayout, Row, Tone};
use crate::console::model::Model;
use crate::console::popups::details::LEVELS;
use crate::console::popups::menu::{MENU_DELETE, MENU_TOGGLE, item_disabled};
use crate::console::popups::{Button, Focus, Popup};
use crate::console::text;
use crate::sanitize::clean;

/// Draws popup `p` as `l` placed it; returns where the cursor goes (its focused text field).
pub(super) fn draw(
    m: &Model,
    p: &Popup,
    l: &PopupLayout,
    buf: &mut Buffer,
    theme: &Theme,
) -> Option<Position> {
    frame(buf, l.area, &l.title, theme);
    let focus = p.focus();
    let mut cursor = None;
    for (r, row) in &l.rows {
        match row {
            Row::Text(s, tone) => put(buf, *r, s, theme.tone(*tone), theme),
            Row::Verbatim(s) => put_verbatim(buf, *r, s, theme.tone(Tone::Normal), theme),
            Row::Field(f, label) => {
                put(buf, *r, &format!("{label}: "), theme.bold(), theme);
                let rect = l.fields.iter().find(|(x, _)| x == f).map(|(_, r)| *r);
                if let (Some(rect), Some(input)) = (rect, p.input(*f)) {
                    let focused = focus == Some(Focus::Field(*f));
                    if let Some(c) = field(buf, rect, input, focused, theme) {
                        cursor = Some(c);
                    }
                }
            }
            Row::Secret => {
                if let Popup::KeyCopy(k) = p {
                    // The key on its own line, whole: never cut, so it can be selected by hand.
                    // Cleaned like every string from the wire; a copy made by cleaning is wiped.
                    // Drawn straight into the cells: no unwiped copy on the way.
                    let shown = zeroize::Zeroizing::new(clean(k.key.expose()).into_owned());
                    let r = r.intersection(buf.area);
                    if r.height > 0 {
                        buf.set_stringn(
                            r.x,
                            r.y,
                            shown.as_str(),
                            usize::from(r.width),
                            theme.bold(),
                        );
                    }
                }
            }
            Row::Buttons => {
                for (b, rect) in &l.buttons {
                    let look = ButtonLook {
                        focused: focus == Some(Focus::Button(*b)),
                        enabled: p.enabled(*b),
                        destructive: matches!(*b, Button::Delete | Button::Disable),
                    };
                    let label = format!("[{}]", m.tr.t(button_key(*b)));
                    button(buf, *rect, &label, look, theme);
                }
            }
            Row::Item(i, label) => {
                let selected = matches!(p, Popup::Menu(menu) if menu.selected == *i);
                let enabled = item_disabled(m, *i).is_none();
                // Only what stops a key looks destructive: Disable and Delete.
                let destructive = *i == MENU_DELETE
                    || (*i == MENU_TOGGLE && label.as_str() == m.tr.t("menu.disable"));
                let style = match (selected, enabled, destructive) {
                    (_, false, _) => theme.disabled(),
                    (s, true, true) => theme.destructive(s),
                    (true, true, false) => theme.focus(),
                    (false, true, false) => theme.tone(Tone::Normal),
                };
                put(
                    buf,
                    Rect { width: 1, ..*r },
                    marker(selected, enabled),
                    theme.bold(),
                    theme,
                );
                put(
                    buf,
                    Rect {
                        x: r.x + 1,
                        width: r.width.saturating_sub(1),
                        ..*r
                    },
                    &text::fit(label, usize::from(r.width.saturating_sub(1))),
                    style,
                    theme,
                );
            }
            Row::Choice {
                choice,
                label,
                options,
                first,
                chosen,
            } => {
                if !label.is_empty() {
                    put(buf, *r, &format!("{label}: "), theme.bold(), theme);
                }
                let focused = focus == Some(Focus::Choice(*choice));
                let last = options.len().saturating_sub(1);
                for (i, (o, at)) in options.iter().enumerate() {
                    // The chosen option in brackets, so it reads without colour; reversed
                    // while the choice has the focus.
                    let (shown, style) = if first + i == *chosen {
                        let style = if focused { theme.focus() } else { theme.bold() };
                        (format!("[{o}]"), style)
                    } else {
                        (format!(" {o} "), theme.tone(Tone::Normal))
                    };
                    put(buf, *at, &shown, style, theme);
                    if i < last {
                        let dot = Rect {
                            x: at.right(),
                            width: 3,
                            ..*at
                        };
                        put(buf, dot, " · ", theme.dim(), theme);
                    }
                }
            }
            Row::Checks(boxes) => {
                for (scope, label, on, at) in boxes {
                    let focused = focus == Some(Focus::Check(*scope));
                    put(
                        buf,
                        Rect { width: 1, ..*at },
                        marker(focused, true),
                        theme.bold(),
                        theme,
                    );
                    // `[x]` reads without colour; the focused box is reversed as well.
                    let shown = format!("[{}] {label}", if *on { "x" } else { " " });
                    let style = match (focused, *on) {
                        (true, _) => theme.focus(),
                        (false, true) => theme.bold(),
                        (false, false) => theme.tone(Tone::Normal),
                    };
                    let rest = Rect {
                        x: at.x + 1,
                        width: at.width.saturating_sub(1),
                        ..*at
                    };
                    put(buf, rest, &shown, style, theme);
                }
            }
            Row::More { up, .. } => {
                let s = m.tr.t(if *up {
                    "form.more_above"
                } else {
                    "form.more_below"
                });
                put(buf, *r, &format!(" {s} "), theme.bold(), theme);
            }
            Row::Spark {
                label,
                levels,
                bars,
                total,
                refused,
            } => {
                let tone = if *refused {
                    Tone::Caution
                } else {
                    Tone::Normal
                };
                put(buf, *r, label, theme.tone(tone), theme);
                let bars = bars.intersection(buf.area);
                if bars.width > 0 {
                    Sparkline::default()
                        .data(levels)
                        .max(LEVELS)
                        .bar_set(theme.glyphs.bars())
                        .style(theme.spark(*refused))
                        .render(bars, buf);
                }
                let tx = bars.right() + 1;
                put(
                    buf,
                    Rect {
                        x: tx,
                        width: r.right().saturating_sub(tx),
                        ..*r
                    },
                    total,
                    theme.tone(tone),
                    theme,
                );
            }
            Row::Help(keys, desc) => {
                let kw = text::width(keys) as u16;
                put(buf, *r, keys, theme.bold(), theme);
                put(
                    buf,
                    Rect {
                        x: r.x + kw + 2,
                        width: r.width.saturating_sub(kw + 2),
                        ..*r
                    },
                    desc,
                    theme.tone(Tone::Normal),
                    theme,
                );
            }
        }
    }
    if l.total_lines > l.visible_lines && l.visible_lines > 0 {
        // Where a scrolling popup is scrolled to, on its bottom border.
        let first = p.scroll().min(l.total_lines - l.visible_lines);
        let s = format!(
            " {}-{}/{} ",
            first + 1,
            first + l.visible_lines,
            l.total_lines
        );
        let w = text::width(&s) as u16;
        let x = l.area.right().saturating_sub(w + 1);
        put(
            buf,
            Rect::new(x, l.area.bottom().saturating_sub(1), w, 1),
            &s,
            theme.dim(),
            theme,
        );
    }
    cursor
}
