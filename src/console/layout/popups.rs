//! Where each popup sits and what is on each of its lines: centered, or for the row menu
//! anchored to its row's `≡`.

use ratatui::layout::Rect;

pub use super::content::button_key;
use super::content::{Part, content};
use super::{Body, ScreenLayout, button_width, table::Col};
use crate::console::model::Model;
use crate::console::popup::{Button, Field, Popup};
use crate::console::text;

/// How a line of text is styled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Normal,
    Bold,
    Dim,
    /// The page's notes (the limit).
    Note,
    /// The page's cautions.
    Caution,
    Error,
    Success,
}

/// One line of a popup, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Text(String, Tone),
    /// A text field: its label, then the input in the rect `fields` holds for it.
    Field(Field, String),
    /// A line of a choice: its label (on the first line only), then options, each as its index,
    /// its column offset from the row's start, its label and whether it is the chosen one. Their
    /// rects are in `choices`.
    Choice(Field, Option<String>, Vec<(usize, u16, String, bool)>),
    /// The plaintext key of the copy popup; the view reads it from the model.
    Secret,
    Buttons,
    Item(usize, String),
    /// A help line: keys, then what they do.
    Help(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopupLayout {
    /// Including the border.
    pub area: Rect,
    pub title: String,
    pub rows: Vec<(Rect, Row)>,
    pub buttons: Vec<(Button, Rect)>,
    pub fields: Vec<(Field, Rect)>,
    pub items: Vec<(usize, Rect)>,
    /// The options of a choice (the Issue popup's expiry), by index: the marker cell and label.
    pub choices: Vec<(usize, Rect)>,
    /// The help popup: lines shown, and how many there are.
    pub visible_lines: usize,
    pub total_lines: usize,
}

/// Places a popup over `screen` (whose earlier popups are already placed).
pub fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    match p {
        Popup::Menu(menu) => place_menu(m, menu.row, screen),
        Popup::Help(h) => place_help(m, h, screen.area),
        _ => place_centered(m, p, screen.area),
    }
}

fn place_centered(m: &Model, p: &Popup, area: Rect) -> PopupLayout {
    let (title, parts) = content(m, p);
    let width = area.width.saturating_sub(4).min(72);
    let inner_w = width.saturating_sub(4);
    // Lay out rows first, then center the box on the screen.
    let mut rows: Vec<Row> = Vec::new();
    let mut buttons_wanted: Vec<Button> = Vec::new();
    for part in parts {
        match part {
            Part::Text(s, tone) => {
                for l in text::wrap(&s, usize::from(inner_w)) {
                    rows.push(Row::Text(l, tone));
                }
            }
            Part::Blank => rows.push(Row::Text(String::new(), Tone::Normal)),
            Part::Field(f, label) => rows.push(Row::Field(f, label)),
            Part::Choice(f, label, options, chosen) => {
                rows.extend(choice_rows(f, label, &options, chosen, inner_w));
            }
            Part::Secret => rows.push(Row::Secret),
            Part::Buttons(b) => {
                buttons_wanted = b;
                rows.push(Row::Buttons);
            }
        }
    }
    let max_rows = usize::from(area.height.saturating_sub(2));
    if rows.len() > max_rows {
        // Blank lines go first, then text from the end; the buttons always stay.
        rows.retain(|r| !matches!(r, Row::Text(s, _) if s.is_empty()));
        while rows.len() > max_rows && rows.len() > 1 {
            let at = rows.len() - 2;
            rows.remove(at);
        }
    }
    let height = rows.len() as u16 + 2;
    let outer = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    let x = outer.x + 2;
    let mut out = PopupLayout {
        choices: Vec::new(),
        area: outer,
        title,
        rows: Vec::new(),
        buttons: Vec::new(),
        fields: Vec::new(),
        items: Vec::new(),
        visible_lines: 0,
        total_lines: 0,
    };
    for (i, r) in rows.into_iter().enumerate() {
        let rect = Rect {
            x,
            y: outer.y + 1 + i as u16,
            width: inner_w,
            height: 1,
        };
        match &r {
            Row::Field(f, label) => {
                let lw = (text::width(label) + 2) as u16;
                out.fields.push((
                    *f,
                    Rect {
                        x: rect.x + lw,
                        width: rect.width.saturating_sub(lw),
                        ..rect
                    },
                ));
            }
            Row::Choice(_, _, options) => {
                for (i, dx, label, _) in options {
                    let w = option_width(label);
                    out.choices.push((
                        *i,
                        Rect {
                            x: rect.x + dx,
                            width: w.min(rect.width.saturating_sub(*dx)),
                            ..rect
                        },
                    ));
                }
            }
            Row::Buttons => {
                // Right-aligned like the page's popups, two columns apart.
                let widths: Vec<u16> = buttons_wanted
                    .iter()
                    .map(|b| button_width(&format!("[{}]", m.tr.t(button_key(*b)))))
                    .collect();
                let total: u16 = widths.iter().sum::<u16>() + widths.len() as u16;
                let mut bx = rect.right().saturating_sub(total);
                for (b, w) in buttons_wanted.iter().zip(widths) {
                    out.buttons.push((
                        *b,
                        Rect {
                            x: bx,
                            y: rect.y,
                            width: w,
                            height: 1,
                        },
                    ));
                    bx += w + 1;
                }
            }
            _ => {}
        }
        out.rows.push((rect, r));
    }
    out
}

/// An option of a choice: its marker cell (`>` on the chosen one), then its label.
fn option_width(label: &str) -> u16 {
    (text::width(label) + 1) as u16
}

/// A choice laid out as `Label: >Never  7 days  30 days …`, flowing onto more lines where the
/// popup is narrow (60 columns), the options of later lines under the first option.
fn choice_rows(f: Field, label: String, options: &[String], chosen: usize, width: u16) -> Vec<Row> {
    let indent = (text::width(&label) + 2) as u16;
    let mut rows = Vec::new();
    let mut line: Vec<(usize, u16, String, bool)> = Vec::new();
    let mut x = indent;
    for (i, o) in options.iter().enumerate() {
        let w = option_width(o);
        if !line.is_empty() && x + w > width {
            rows.push(std::mem::take(&mut line));
            x = indent;
        }
        line.push((i, x, o.clone(), i == chosen));
        x += w + 1;
    }
    rows.push(line);
    rows.into_iter()
        .enumerate()
        .map(|(n, l)| Row::Choice(f, (n == 0).then(|| label.clone()), l))
        .collect()
}

fn place_menu(m: &Model, row: usize, screen: &ScreenLayout) -> PopupLayout {
    let label = m.tr.t("menu.delete").to_string();
    let width = (text::width(&label) as u16 + 6).max(12);
    let height = 3;
    let area = screen.area;
    let (anchor_x, anchor_y) = match &screen.body {
        Body::Keys(k) => {
            let menu_x = k
                .table
                .column(Col::KeyMenu)
                .map_or(area.right().saturating_sub(2), |c| c.x);
            match k.table.row_rect(row) {
                Some(r) => (menu_x, r.y),
                None => (menu_x, k.table.inner.y),
            }
        }
        _ => (area.right().saturating_sub(2), area.y + 2),
    };
    let x = (anchor_x + 2).saturating_sub(width).max(area.x);
    // Below the row if it fits above the footer, else above it.
    let y = if anchor_y + 1 + height < area.bottom() {
        anchor_y + 1
    } else {
        anchor_y.saturating_sub(height)
    };
    let outer = Rect {
        x,
        y,
        width,
        height,
    };
    let item = Rect {
        x: x + 1,
        y: y + 1,
        width: width - 2,
        height: 1,
    };
    PopupLayout {
        choices: Vec::new(),
        area: outer,
        title: String::new(),
        rows: vec![(item, Row::Item(0, label))],
        buttons: Vec::new(),
        fields: Vec::new(),
        items: vec![(0, item)],
        visible_lines: 1,
        total_lines: 1,
    }
}

/// The help lines of a context, generated from the keymap.
pub fn help_lines(m: &Model, ctx: crate::console::keymap::Context) -> Vec<(String, String)> {
    m.keymap
        .help(ctx)
        .into_iter()
        .map(|(keys, action)| {
            (
                keys,
                m.tr.t(&format!("action.{}", action.name())).to_string(),
            )
        })
        .collect()
}

fn place_help(m: &Model, h: &crate::console::popup::HelpPopup, area: Rect) -> PopupLayout {
    let lines = help_lines(m, h.context);
    let keys_w = lines
        .iter()
        .map(|(k, _)| text::width(k))
        .max()
        .unwrap_or(0)
        .min(24) as u16;
    let desc_w = lines.iter().map(|(_, d)| text::width(d)).max().unwrap_or(0) as u16;
    let width = (keys_w + desc_w + 7).min(area.width.saturating_sub(4));
    let visible = (lines.len() as u16).min(area.height.saturating_sub(4));
    let height = visible + 2;
    let outer = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    let first = h
        .scroll
        .min(lines.len().saturating_sub(usize::from(visible)));
    let rows = lines
        .into_iter()
        .skip(first)
        .take(usize::from(visible))
        .enumerate()
        .map(|(i, (k, d))| {
            (
                Rect {
                    x: outer.x + 2,
                    y: outer.y + 1 + i as u16,
                    width: width.saturating_sub(4),
                    height: 1,
                },
                Row::Help(text::fit(&k, usize::from(keys_w)), d),
            )
        })
        .collect();
    PopupLayout {
        choices: Vec::new(),
        area: outer,
        title: m.tr.t("help.title").to_string(),
        rows,
        buttons: Vec::new(),
        fields: Vec::new(),
        items: Vec::new(),
        visible_lines: usize::from(visible),
        total_lines: help_lines(m, h.context).len(),
    }
}
