//! Where each popup sits and what is on each of its lines: centered, or for the row menu
//! anchored to its row's `≡`.

use ratatui::layout::Rect;

pub use super::content::button_key;
use super::content::{Part, Tone, content};
use super::{Body, ScreenLayout, button_width, table::Col};
use crate::console::model::Model;
use crate::console::popup::{Button, Choice, Field, Popup};
use crate::console::text;

/// One line of a popup, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Text(String, Tone),
    /// A text field: its label, then the input in the rect `fields` holds for it.
    Field(Field, String),
    /// The plaintext key of the copy popup; the view reads it from the model.
    Secret,
    Buttons,
    Item(usize, String),
    /// A help line: keys, then what they do.
    Help(String, String),
    /// A line of a choice: its label (empty on later lines, or when it did not fit beside the
    /// options), then the options of this line with where each is drawn (a click there chooses
    /// it), the index of this line's first option among all of them, and the chosen one's.
    Choice {
        choice: Choice,
        label: String,
        options: Vec<(String, Rect)>,
        first: usize,
        chosen: usize,
    },
    /// A one-line sparkline of Details (issue 9): its label, its levels (0 to
    /// `details::LEVELS`) drawn in `bars`, then its total; refused calls in the caution style.
    Spark {
        label: String,
        levels: Vec<u64>,
        bars: Rect,
        total: String,
        refused: bool,
    },
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
    /// The help popup: lines shown, and how many there are.
    pub visible_lines: usize,
    pub total_lines: usize,
}

/// Places a popup over `screen` (whose earlier popups are already placed).
pub fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    match p {
        Popup::Menu(menu) => place_menu(m, menu.row, &menu.key_id, menu.selected, screen),
        Popup::Help(h) => place_help(m, h, screen.area),
        Popup::Audit(a) => super::audit::place(m, a, screen.area),
        Popup::Details(d) => super::details::place(m, d, screen.area),
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
            Part::Secret => rows.push(Row::Secret),
            Part::Buttons(b) => {
                buttons_wanted = b;
                rows.push(Row::Buttons);
            }
            Part::Choice(choice, label, options, chosen) => {
                rows.extend(choice_rows(choice, label, options, chosen, inner_w));
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
            Row::Choice { .. } => {
                let Row::Choice {
                    choice,
                    label,
                    options,
                    first,
                    chosen,
                } = r
                else {
                    continue;
                };
                // The offsets from `choice_rows`, moved onto this line.
                let options = options
                    .into_iter()
                    .map(|(o, at)| {
                        let ox = rect.x + at.x;
                        let at = Rect {
                            x: ox,
                            width: at.width.min(rect.right().saturating_sub(ox)),
                            ..rect
                        };
                        (o, at)
                    })
                    .collect();
                out.rows.push((
                    rect,
                    Row::Choice {
                        choice,
                        label,
                        options,
                        first,
                        chosen,
                    },
                ));
                continue;
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

/// A choice laid out as `Label:  [Never] ·  7 days  · …`: each option one column wider on each
/// side (`[…]` when chosen), ` · ` between them. When all does not fit on one line the label goes
/// on a line of its own; when the options alone do not fit either (the expiry at 60 columns),
/// they flow onto more lines under the first option. Option rects hold offsets from the line's
/// start.
fn choice_rows(
    choice: Choice,
    label: String,
    options: Vec<String>,
    chosen: usize,
    inner_w: u16,
) -> Vec<Row> {
    const GAP: u16 = 3;
    let widths: Vec<u16> = options.iter().map(|o| text::width(o) as u16 + 2).collect();
    let opts_w = widths.iter().sum::<u16>() + GAP * widths.len().saturating_sub(1) as u16;
    let label_w = text::width(&label) as u16 + 2;
    let widest = widths.iter().copied().max().unwrap_or(0);
    let mut rows = Vec::new();
    let (mut label, indent) =
        if label_w + opts_w <= inner_w || (opts_w > inner_w && label_w + 1 + widest <= inner_w) {
            (label, label_w + 1)
        } else {
            rows.push(Row::Text(format!("{label}:"), Tone::Bold));
            (String::new(), 0)
        };
    let mut line: Vec<(String, Rect)> = Vec::new();
    let (mut first, mut x) = (0, indent);
    for (i, (o, w)) in options.into_iter().zip(widths).enumerate() {
        if !line.is_empty() && x + w > inner_w {
            rows.push(Row::Choice {
                choice,
                label: std::mem::take(&mut label),
                options: std::mem::take(&mut line),
                first,
                chosen,
            });
            (first, x) = (i, indent);
        }
        let at = Rect {
            x,
            y: 0,
            width: w,
            height: 1,
        };
        line.push((o, at));
        x += w + GAP;
    }
    rows.push(Row::Choice {
        choice,
        label,
        options: line,
        first,
        chosen,
    });
    rows
}

/// The ≡ menu's items, in CONSOLE.md's order: `Details`, `Rename`, `Disable` (or `Enable`),
/// `Rotate`, `Delete` (indices `popup::MENU_*`).
pub fn menu_labels(m: &Model, key_id: &str) -> Vec<String> {
    let disabled = m
        .keys
        .as_ref()
        .and_then(|k| k.keys().iter().find(|x| x.id == key_id))
        .is_some_and(|k| k.state == crate::wire::KeyState::Disabled);
    let toggle = if disabled {
        "menu.enable"
    } else {
        "menu.disable"
    };
    [
        "menu.details",
        "menu.rename",
        toggle,
        "menu.rotate",
        "menu.delete",
    ]
    .iter()
    .map(|k| m.tr.t(k).to_string())
    .collect()
}

/// Why a menu item cannot be chosen now, or `None` when it can: Details is for every role;
/// everything else needs the manager role (CONSOLE.md: a viewer sees only Details).
pub fn menu_item_disabled(m: &Model, item: usize) -> Option<String> {
    if item == crate::console::popup::MENU_DETAILS {
        return None;
    }
    (!m.can_manage()).then(|| m.tr.t("menu.viewer").to_string())
}

fn place_menu(
    m: &Model,
    row: usize,
    key_id: &str,
    selected: usize,
    screen: &ScreenLayout,
) -> PopupLayout {
    let labels = menu_labels(m, key_id);
    // A disabled item, when selected, says why on a line of its own at the menu's foot.
    let reason = menu_item_disabled(m, selected);
    let widest = labels
        .iter()
        .chain(reason.iter())
        .map(|l| text::width(l))
        .max()
        .unwrap_or(0) as u16;
    let width = (widest + 6).max(12).min(screen.area.width);
    let height = 2 + labels.len() as u16 + u16::from(reason.is_some());
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
    let item = |i: u16| Rect {
        x: x + 1,
        y: y + 1 + i,
        width: width - 2,
        height: 1,
    };
    let n = labels.len();
    let mut rows: Vec<(Rect, Row)> = labels
        .into_iter()
        .enumerate()
        .map(|(i, l)| (item(i as u16), Row::Item(i, l)))
        .collect();
    if let Some(why) = reason {
        // Aligned with the labels, after the column of the `>` marker.
        let r = item(n as u16);
        let r = Rect {
            x: r.x + 1,
            width: r.width.saturating_sub(1),
            ..r
        };
        rows.push((
            r,
            Row::Text(text::fit(&why, usize::from(r.width)), Tone::Dim),
        ));
    }
    PopupLayout {
        area: outer,
        title: String::new(),
        rows,
        buttons: Vec::new(),
        fields: Vec::new(),
        items: (0..n).map(|i| (i, item(i as u16))).collect(),
        visible_lines: n,
        total_lines: n,
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
