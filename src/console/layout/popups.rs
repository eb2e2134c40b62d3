//! The frame every popup is placed in: the rows a placed popup holds, and the centered dialog
//! built from its parts. What each popup holds is in its own file (`popups/<name>.rs`), which
//! places itself through its `Handlers::place`.

use ratatui::layout::Rect;

use super::{ScreenLayout, button_width};
use crate::console::model::Model;
use crate::console::popups::{Button, Choice, Dialog, Field, Focus, Popup};
use crate::console::text::{self, Tone};
use crate::policy::Scope;

/// One line of a popup, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Text(String, Tone),
    /// A line drawn as it is, emoji sequences included: where a key's full name shows
    /// (docs/console.md, Text width). Only where it fits whole.
    Verbatim(String),
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
    /// The check boxes of a choice (Access: Custom…), each with whether it is checked and where
    /// it is drawn, its focus marker cell first (a click there toggles it).
    Checks(Vec<(Scope, String, bool, Rect)>),
    /// A form taller than its popup: the mark on its top (`up`) or bottom border that more
    /// lines are above or below, and the first line shown (docs/console.md, Forms that scroll).
    More {
        up: bool,
        first: usize,
    },
    /// A one-line sparkline of Details (issue 9): its label, its levels (0 to
    /// `details::LEVELS`) drawn in `bars`, then its total; `refused`: calls that did not succeed
    /// (refused, denied, limited), in the caution style.
    Spark {
        label: String,
        levels: Vec<u64>,
        bars: Rect,
        total: String,
        refused: bool,
    },
}

/// A popup placed on screen: its box, its lines, and where each button, field and menu item is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PopupLayout {
    /// Including the border.
    pub area: Rect,
    pub title: String,
    pub rows: Vec<(Rect, Row)>,
    pub buttons: Vec<(Button, Rect)>,
    pub fields: Vec<(Field, Rect)>,
    pub items: Vec<(usize, Rect)>,
    /// A popup whose lines scroll: lines shown, and how many there are.
    pub visible_lines: usize,
    pub total_lines: usize,
}

/// Places popup `p` over `screen` (whose earlier popups are already placed), as its file says.
pub fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    (p.handlers().place)(m, p, screen)
}

/// Parts of a dialog before it is placed.
pub enum Part {
    Text(String, Tone),
    Blank,
    Field(Field, String),
    /// The plaintext key of the copy popup.
    Secret,
    Buttons(Vec<Button>),
    /// A choice: its label, its options, which one is chosen.
    Choice(Choice, String, Vec<String>, usize),
    /// Check boxes: each scope with its label and whether it is checked.
    Checks(Vec<(Scope, String, bool)>),
}

/// The catalog key of a button's label.
pub fn button_key(b: Button) -> &'static str {
    match b {
        Button::Issue => "button.issue",
        Button::Cancel => "button.cancel",
        Button::CopyKey => "button.copy_key",
        Button::Ok => "button.ok",
        Button::Delete => "button.delete",
        Button::Create => "button.create",
        Button::Retry => "button.retry",
        Button::Disable => "button.disable",
        Button::Rotate => "button.rotate",
        Button::Save => "button.save",
        Button::Lookup => "button.lookup",
        Button::Open => "button.open",
        Button::Narrow => "button.narrow",
        Button::Enable => "button.enable",
        Button::Leak => "button.leak",
    }
}

/// A dialog with `title` and `parts`, centered in `area` above its last row (the footer's): text
/// wrapped to its width, at most 72 columns wide. On a short screen its blank lines go first;
/// if it is still too tall, its lines scroll with the focus of `d` (docs/console.md, Forms that
/// scroll): the focused field, choice, check boxes or buttons always whole on screen, marks on
/// the borders saying that more is above or below, nothing dropped.
pub fn centered(
    m: &Model,
    d: &dyn Dialog,
    (title, parts): (String, Vec<Part>),
    area: Rect,
) -> PopupLayout {
    let width = area.width.saturating_sub(4).min(72);
    let inner_w = width.saturating_sub(4);
    // Lay out rows first, then center the box on the screen. Each row remembers which
    // focusable part it belongs to, so that the window can follow the focus.
    let mut rows: Vec<(Row, Option<usize>)> = Vec::new();
    let mut holds: Vec<Vec<Focus>> = Vec::new();
    let mut buttons_wanted: Vec<Button> = Vec::new();
    for part in parts {
        match part {
            Part::Text(s, tone) => {
                for l in text::wrap(&s, usize::from(inner_w)) {
                    rows.push((Row::Text(l, tone), None));
                }
            }
            Part::Blank => rows.push((Row::Text(String::new(), Tone::Normal), None)),
            Part::Field(f, label) => {
                holds.push(vec![Focus::Field(f)]);
                rows.push((Row::Field(f, label), Some(holds.len() - 1)));
            }
            Part::Secret => rows.push((Row::Secret, None)),
            Part::Buttons(b) => {
                holds.push(b.iter().map(|b| Focus::Button(*b)).collect());
                buttons_wanted = b;
                rows.push((Row::Buttons, Some(holds.len() - 1)));
            }
            Part::Choice(choice, label, options, chosen) => {
                holds.push(vec![Focus::Choice(choice)]);
                let tag = Some(holds.len() - 1);
                let lines = choice_rows(choice, label, options, chosen, inner_w);
                rows.extend(lines.into_iter().map(|r| (r, tag)));
            }
            Part::Checks(boxes) => {
                holds.push(boxes.iter().map(|(s, _, _)| Focus::Check(*s)).collect());
                rows.push((check_row(boxes), Some(holds.len() - 1)));
            }
        }
    }
    // The last row of `area` is the footer's: no popup covers it (docs/console.md, Popups).
    let max_rows = usize::from(area.height.saturating_sub(3)).max(1);
    if rows.len() > max_rows {
        // Blank lines cost nothing to lose; text never goes, it scrolls.
        rows.retain(|(r, _)| !matches!(r, Row::Text(s, _) if s.is_empty()));
    }
    let (first, shown) = window(&rows, &holds, d, max_rows);
    let total = rows.len();
    let rows: Vec<Row> = rows
        .into_iter()
        .skip(first)
        .take(shown)
        .map(|(r, _)| r)
        .collect();
    let height = rows.len() as u16 + 2;
    let outer = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: (area.y + (area.height.saturating_sub(height)) / 2)
            .min(area.bottom().saturating_sub(height + 1))
            .max(area.y),
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
        match r {
            Row::Field(f, label) => {
                let lw = (text::width(&label) + 2) as u16;
                out.fields.push((
                    f,
                    Rect {
                        x: rect.x + lw,
                        width: rect.width.saturating_sub(lw),
                        ..rect
                    },
                ));
                out.rows.push((rect, Row::Field(f, label)));
            }
            Row::Choice {
                choice,
                label,
                options,
                first,
                chosen,
            } => {
                // The offsets from `choice_rows`, moved onto this line.
                let options = options
                    .into_iter()
                    .map(|(o, at)| (o, onto(rect, at)))
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
            }
            Row::Checks(boxes) => {
                let boxes = boxes
                    .into_iter()
                    .map(|(s, l, on, at)| (s, l, on, onto(rect, at)))
                    .collect();
                out.rows.push((rect, Row::Checks(boxes)));
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
                out.rows.push((rect, Row::Buttons));
            }
            r => out.rows.push((rect, r)),
        }
    }
    // The marks sit on the borders, right-aligned, so that they cost no line of the form.
    let mark = |up: bool| {
        let s = m.tr.t(if up {
            "form.more_above"
        } else {
            "form.more_below"
        });
        let w = (text::width(s) + 2) as u16;
        let y = if up {
            outer.y
        } else {
            outer.bottom().saturating_sub(1)
        };
        let x = outer.right().saturating_sub(w + 1).max(outer.x + 1);
        (
            Rect::new(x, y, w.min(outer.width), 1),
            Row::More { up, first },
        )
    };
    if first > 0 {
        out.rows.push(mark(true));
    }
    if first + shown < total {
        out.rows.push(mark(false));
    }
    out
}

/// A rect `at` whose x is an offset from the start of `line`, moved onto that line (and cut at
/// its end).
fn onto(line: Rect, at: Rect) -> Rect {
    let ox = line.x + at.x;
    Rect {
        x: ox,
        width: at.width.min(line.right().saturating_sub(ox)),
        ..line
    }
}

/// Which rows of a form show when at most `room` fit: `(first, count)`. From the first line
/// shown before (`d.scroll()`), moved no further than needed to show the focused part whole,
/// with the error line under it when there is room for both.
fn window(
    rows: &[(Row, Option<usize>)],
    holds: &[Vec<Focus>],
    d: &dyn Dialog,
    room: usize,
) -> (usize, usize) {
    let total = rows.len();
    if total <= room {
        return (0, total);
    }
    let mut first = d.scroll().min(total - room);
    let focused = d.focus().and_then(|f| {
        let at = |(_, tag): &(Row, Option<usize>)| {
            tag.is_some_and(|t| holds.get(t).is_some_and(|h| h.contains(&f)))
        };
        let start = rows.iter().position(at)?;
        let mut end = rows.iter().rposition(at)? + 1;
        // What is wrong with the focused field belongs with it.
        while end < total && matches!(&rows[end].0, Row::Text(_, Tone::Error)) {
            end += 1;
        }
        Some((start, end.min(start + room)))
    });
    // The form's first field or choice brings its intro back into view.
    let top = rows.iter().position(|(_, tag)| tag.is_some());
    if let Some((start, end)) = focused {
        if (start < first || Some(start) == top) && end <= room {
            first = 0;
        } else if start < first {
            first = start;
        } else if end > first + room {
            first = end - room;
        }
    }
    (first, room)
}

/// Check boxes on one line, two columns in: each `[x] label` after its focus marker cell,
/// three columns apart. Rects hold offsets from the line's start.
fn check_row(boxes: Vec<(Scope, String, bool)>) -> Row {
    let mut x = 2;
    let placed = boxes
        .into_iter()
        .map(|(s, label, on)| {
            // The marker cell, `[x] ` and the label.
            let w = 1 + 4 + text::width(&label) as u16;
            let at = Rect::new(x, 0, w, 1);
            x += w + 2;
            (s, label, on, at)
        })
        .collect();
    Row::Checks(placed)
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
