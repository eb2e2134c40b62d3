//! What each popup holds, line by line, and where it sits: centered, or for the row menu
//! anchored to its row's `≡`.

use ratatui::layout::Rect;

use super::{Body, ScreenLayout, button_width, table::Col};
use crate::console::format;
use crate::console::model::Model;
use crate::console::msg::CopyOutcome;
use crate::console::popup::{Button, ErrorKind, Field, Popup};
use crate::console::text;
use crate::sanitize::clean;

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
    /// The help popup: lines shown, and how many there are.
    pub visible_lines: usize,
    pub total_lines: usize,
}

/// Parts before placement.
enum Part {
    Text(String, Tone),
    Blank,
    Field(Field, String),
    Secret,
    Buttons(Vec<Button>),
}

pub fn button_key(b: Button) -> &'static str {
    match b {
        Button::Issue => "button.issue",
        Button::Cancel => "button.cancel",
        Button::CopyKey => "button.copy_key",
        Button::Ok => "button.ok",
        Button::Delete => "button.delete",
        Button::Create => "button.create",
        Button::Retry => "button.retry",
    }
}

fn content(m: &Model, p: &Popup) -> (String, Vec<Part>) {
    let tr = m.tr;
    match p {
        Popup::Issue(p) => {
            let service = m
                .keys
                .as_ref()
                .map(|k| clean(&k.service.name).into_owned())
                .unwrap_or_default();
            let mut parts = vec![
                Part::Text(tr.f("issue.body", &[("service", &service)]), Tone::Normal),
                Part::Text(
                    tr.f(
                        "issue.slots",
                        &[("limit", &p.limit), ("remaining", &p.remaining)],
                    ),
                    Tone::Bold,
                ),
                Part::Blank,
                Part::Field(Field::Name, tr.t("issue.name").to_string()),
            ];
            if let Some(e) = &p.name_error {
                parts.push(Part::Text(e.clone(), Tone::Error));
            }
            if p.in_flight.is_some() {
                parts.push(Part::Text(tr.t("issue.issuing").to_string(), Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![Button::Issue, Button::Cancel]));
            (tr.t("issue.title").to_string(), parts)
        }
        Popup::KeyCopy(p) => {
            let mut parts = vec![
                Part::Text(tr.t("copy.intro").to_string(), Tone::Normal),
                Part::Secret,
                Part::Blank,
                Part::Text(tr.t("copy.caution").to_string(), Tone::Caution),
            ];
            if let Some(outcome) = &p.copied {
                let (s, tone) = match outcome {
                    CopyOutcome::System {
                        clear_after_secs: 0,
                    } => (
                        tr.t("copy.copied_system_no_clear").to_string(),
                        Tone::Success,
                    ),
                    CopyOutcome::System { clear_after_secs } => (
                        tr.f("copy.copied_system", &[("secs", clear_after_secs)]),
                        Tone::Success,
                    ),
                    CopyOutcome::Osc52 => (tr.t("copy.copied_osc52").to_string(), Tone::Success),
                    CopyOutcome::Disabled => (tr.t("copy.copy_disabled").to_string(), Tone::Error),
                    CopyOutcome::Failed(why) => (
                        tr.f("copy.copy_failed", &[("reason", &clean(why))]),
                        Tone::Error,
                    ),
                };
                parts.push(Part::Text(s, tone));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![Button::CopyKey, Button::Ok]));
            (tr.t("copy.title").to_string(), parts)
        }
        Popup::ConfirmClose(_) => (
            tr.t("confirm.title").to_string(),
            vec![
                Part::Text(tr.t("confirm.body").to_string(), Tone::Caution),
                Part::Blank,
                Part::Buttons(vec![Button::Ok, Button::Cancel]),
            ],
        ),
        Popup::Delete(p) => {
            let k = &p.key;
            let name = k
                .name
                .as_deref()
                .map(|n| clean(n).into_owned())
                .unwrap_or_else(|| tr.t("delete.no_name").to_string());
            let mut parts = vec![
                Part::Text(
                    format!("{}: {}", tr.t("delete.key"), clean(&k.masked)),
                    Tone::Bold,
                ),
                Part::Text(format!("{}: {}", tr.t("delete.name"), name), Tone::Normal),
                Part::Text(
                    format!(
                        "{}: {}",
                        tr.t("delete.created"),
                        format::with_offset(k.created_at, m.tz)
                    ),
                    Tone::Normal,
                ),
                Part::Blank,
                Part::Text(tr.t("delete.caution").to_string(), Tone::Caution),
            ];
            if p.in_flight.is_some() {
                parts.push(Part::Text(tr.t("delete.deleting").to_string(), Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![Button::Delete, Button::Cancel]));
            (tr.t("delete.title").to_string(), parts)
        }
        Popup::CreateService(p) => {
            let mut parts = vec![
                Part::Text(tr.t("service.body").to_string(), Tone::Normal),
                Part::Blank,
                Part::Field(Field::Name, tr.t("service.name").to_string()),
            ];
            if let Some(e) = &p.name_error {
                parts.push(Part::Text(e.clone(), Tone::Error));
            }
            parts.push(Part::Field(
                Field::Description,
                tr.t("service.description").to_string(),
            ));
            if let Some(e) = &p.description_error {
                parts.push(Part::Text(e.clone(), Tone::Error));
            }
            if p.in_flight.is_some() {
                parts.push(Part::Text(tr.t("service.creating").to_string(), Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![Button::Create, Button::Cancel]));
            (tr.t("service.title").to_string(), parts)
        }
        Popup::Error(e) => {
            let buttons = match e.kind {
                ErrorKind::Plain => vec![Button::Ok],
                ErrorKind::Retry(_) => vec![Button::Retry, Button::Cancel],
                ErrorKind::DeleteOrphan { .. } => vec![Button::Delete, Button::Cancel],
            };
            let mut parts = vec![Part::Text(e.message.clone(), Tone::Normal)];
            if e.in_flight.is_some() {
                parts.push(Part::Text(tr.t("app.working").to_string(), Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(buttons));
            (e.title.clone(), parts)
        }
        Popup::Menu(_) | Popup::Help(_) => (String::new(), Vec::new()),
    }
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
