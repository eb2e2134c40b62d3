//! Where everything is on screen, as a pure function of the model and the terminal area. The
//! view draws from it and mouse clicks are hit-tested against it, so the two never disagree.

mod hit;
pub mod popups;
pub mod table;

use ratatui::layout::Rect;

use crate::console::keymap::Action;
use crate::console::model::{KeysView, Model, Screen, ServicesFocus, ServicesView};
pub use crate::console::text::Tone;
use crate::console::{lifecycle, text};
pub use hit::{Hit, hit};
pub use popups::{PopupLayout, Row};
use table::{Col, Spec, TableLayout};

/// Where everything is: the screen's parts, and each popup of the stack placed over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenLayout {
    pub area: Rect,
    pub header: Rect,
    pub breadcrumb: Rect,
    /// The last row (the keys that work, and a notice that fits beside them), plus a row above
    /// it for each line of a notice too long for that (docs/console.md, Notices).
    pub footer: Rect,
    /// The footer's keys, as drawn on its last row.
    pub hints: String,
    /// The notice (after the spinner) by lines: one line beside the keys, or wrapped lines
    /// above them.
    pub notice: Vec<String>,
    pub body: Body,
    /// One per popup of the stack, bottom first.
    pub popups: Vec<PopupLayout>,
}

/// What the screen shows under its header: one of the two screens, or "too small".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    TooSmall,
    Services(ServicesLayout),
    Keys(KeysLayout),
}

/// Where the parts of the Services screen are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicesLayout {
    pub title: Rect,
    pub create_button: Rect,
    /// Wrapped lines under the title (the viewer's reason).
    pub notes: Vec<(Rect, String, Tone)>,
    pub filter: Option<Rect>,
    pub table: TableLayout,
}

/// Where the parts of API Key management are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysLayout {
    pub title: Rect,
    /// The service's name and id; on the title row when the terminal is short.
    pub service: Rect,
    pub issue_button: Rect,
    pub count: Rect,
    pub notes: Vec<(Rect, String, Tone)>,
    pub table: TableLayout,
}

fn row(area: Rect, y: u16) -> Rect {
    Rect {
        x: area.x,
        y,
        width: area.width,
        height: 1,
    }
}

/// A bracketed label (`[Issue]`) with its focus marker cell before it.
pub fn button_width(label: &str) -> u16 {
    (text::width(label) + 1) as u16
}

/// A button's label from the catalog, bracketed: `[Issue]`.
pub fn button_label(m: &Model, key: &str) -> String {
    format!("[{}]", m.tr.t(key))
}

/// Where everything is in `area`: the screen, then each popup of the stack over it.
pub fn layout(m: &Model, area: Rect) -> ScreenLayout {
    let header = row(area, area.y);
    let breadcrumb = row(area, area.y + 1);
    if m.too_small() || area.width < crate::console::model::MIN_WIDTH {
        return ScreenLayout {
            area,
            header,
            breadcrumb,
            footer: row(area, area.bottom().saturating_sub(1)),
            hints: String::new(),
            notice: Vec::new(),
            body: Body::TooSmall,
            popups: Vec::new(),
        };
    }
    let hints = footer_hints(m);
    let (notice, beside) = footer_notice(m, &hints, area.width);
    // A notice that does not fit beside the keys takes rows above them, even as one line (the
    // keys are never cut for it); half the screen at most, so the body keeps a place.
    let above = if beside {
        0
    } else {
        (notice.len() as u16).min(area.height / 2)
    };
    let footer = Rect {
        y: area.bottom().saturating_sub(1 + above),
        height: 1 + above,
        ..row(area, 0)
    };
    let body_area = Rect {
        x: area.x,
        y: area.y + 2,
        width: area.width,
        height: area.height.saturating_sub(3 + above),
    };
    let body = match (m.screen, &m.keys) {
        (Screen::Keys, Some(k)) => Body::Keys(keys_layout(m, k, body_area)),
        _ => Body::Services(services_layout(m, &m.services, body_area)),
    };
    let mut out = ScreenLayout {
        area,
        header,
        breadcrumb,
        footer,
        hints,
        notice,
        body,
        popups: Vec::new(),
    };
    for p in &m.popups {
        // Popups keep off the footer's last row; a taller footer lends them an area that ends
        // at its first row instead, so that no popup covers a notice either.
        let pl = if above > 0 {
            let mut above_footer = out.clone();
            above_footer.area.height = area.height.saturating_sub(above);
            popups::place(m, p, &above_footer)
        } else {
            popups::place(m, p, &out)
        };
        out.popups.push(pl);
    }
    out
}

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

/// The keys that work here, as the footer's last row shows them.
pub fn footer_hints(m: &Model) -> String {
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
    format!(" {}", hints.join("  "))
}

/// The spinner and the latest notice: one line when it fits beside the keys (`true`), else
/// wrapped to the whole width above them (`false`); neither is cut for the other.
fn footer_notice(m: &Model, hints: &str, width: u16) -> (Vec<String>, bool) {
    let mut s = String::new();
    if m.needs_tick() {
        s.push_str(m.spinner_frame());
        s.push(' ');
    }
    if let Some(n) = &m.notice {
        s.push_str(&n.text);
    }
    if s.is_empty() {
        return (Vec::new(), true);
    }
    let width = usize::from(width.saturating_sub(1));
    let room = width.saturating_sub(text::width(hints) + 2);
    if text::width(&s) <= room {
        return (vec![s], true);
    }
    (text::wrap(&s, width.saturating_sub(1)), false)
}

/// Short terminals lose the blank lines between the parts.
fn compact(area: Rect) -> bool {
    area.height < 21
}

fn notes(lines: &[(String, Tone)], x: u16, y: &mut u16, width: u16) -> Vec<(Rect, String, Tone)> {
    let mut out = Vec::new();
    for (s, tone) in lines {
        for l in text::wrap(s, usize::from(width)) {
            out.push((
                Rect {
                    x,
                    y: *y,
                    width,
                    height: 1,
                },
                l,
                *tone,
            ));
            *y += 1;
        }
    }
    out
}

fn services_specs(m: &Model, v: &ServicesView) -> Vec<Spec> {
    let tr = m.tr;
    let head = |k: &str| text::width(tr.t(k)) as u16;
    let list = v.visible();
    let longest = |f: &dyn Fn(&crate::wire::Service) -> usize| {
        list.iter().map(|s| f(s)).max().unwrap_or(0) as u16
    };
    let id_w = longest(&|s| text::width(&s.id)).max(head("services.col_id"));
    let name_w = longest(&|s| text::width(&s.name)).max(head("services.col_name"));
    let button = button_width(&button_label(m, "button.api_key_management")) - 1;
    let desc_w = longest(&|s| text::width(&s.description)).max(head("services.col_description"));
    let bang = |s: &crate::wire::Service| if v.needs_attention(s) { 2 } else { 0 };
    let keys_w = longest(&|s| format!("{}/{}", s.key_count, s.key_limit).len() + bang(s))
        .max(head("services.col_keys"));
    let name_min = name_w.min(head("services.col_name").max(10));
    // Ids are long and opaque: they give way first (`svc_8f2k…`), names last. Room beyond the
    // fixed columns goes to the name (at most 20 characters), then the description, then the id.
    vec![
        Spec::new(Col::SvcId, id_w.min(10), id_w, Some(2), false, 2),
        Spec::new(Col::SvcName, name_min, name_w, None, false, 0),
        Spec::new(Col::SvcDescription, 12, desc_w, Some(4), true, 1),
        Spec::new(Col::SvcKeys, keys_w, keys_w, Some(1), false, 0),
        Spec::new(Col::SvcCreated, 19, 19, Some(3), false, 0),
        Spec::new(Col::SvcButton, button, button, None, false, 0),
    ]
}

fn services_layout(m: &Model, v: &ServicesView, area: Rect) -> ServicesLayout {
    let compact = compact(area);
    let mut y = area.y + u16::from(!compact);
    let title = Rect {
        x: area.x + 1,
        y,
        width: area.width.saturating_sub(2),
        height: 1,
    };
    let bw = button_width(&button_label(m, "button.create_service"));
    let create_button = Rect {
        x: area.right().saturating_sub(bw + 1),
        y,
        width: bw,
        height: 1,
    };
    y += 1;
    let mut lines = Vec::new();
    if m.is_viewer() {
        lines.push((m.tr.t("app.viewer_reason").to_string(), Tone::Dim));
    }
    let notes = notes(&lines, area.x + 1, &mut y, area.width.saturating_sub(2));
    let filter = if v.focus == ServicesFocus::Filter || !v.filter.value().is_empty() {
        let r = Rect {
            x: area.x + 1,
            y,
            width: area.width.saturating_sub(2),
            height: 1,
        };
        y += 1;
        Some(r)
    } else {
        None
    };
    let block = Rect {
        x: area.x,
        y,
        width: area.width,
        height: area.bottom().saturating_sub(y),
    };
    let len = v.visible().len();
    let table = TableLayout::new(block, &services_specs(m, v), v.offset, len);
    ServicesLayout {
        title,
        create_button,
        notes,
        filter,
        table,
    }
}

fn keys_specs(m: &Model, k: &KeysView) -> Vec<Spec> {
    let head = |k: &str| text::width(m.tr.t(k));
    let no_name = text::width(m.tr.t("delete.no_name"));
    let name_w = k
        .keys()
        .iter()
        .map(|key| key.name.as_deref().map_or(no_name, text::width))
        .max()
        .unwrap_or(0)
        .max(head("keys.col_name"));
    let last_used = k
        .keys()
        .iter()
        .map(|key| text::width(&crate::console::usage::last_used_cell(m.tr, key, m.now)))
        .max()
        .unwrap_or(0)
        .max(head("keys.col_last_used"))
        .max(12);
    let state_w = k
        .keys()
        .iter()
        .map(|key| {
            let cell = lifecycle::state_cell(m.tr, key, k.keys(), (m.now, m.tz), m.monochrome());
            text::width(&cell)
        })
        .max()
        .unwrap_or(0)
        .max(head("state.col"));
    let access_w = k
        .keys()
        .iter()
        .map(|key| text::width(&crate::console::access::cell(key)))
        .max()
        .unwrap_or(0)
        .max(head("keys.col_access"));
    table::key_specs(
        name_w as u16,
        state_w as u16,
        access_w as u16,
        last_used as u16,
    )
}

fn keys_layout(m: &Model, k: &KeysView, area: Rect) -> KeysLayout {
    let compact = compact(area);
    let inner_w = area.width.saturating_sub(2);
    let mut y = area.y + u16::from(!compact);
    let title_w = text::width(m.tr.t("keys.title")) as u16;
    let title = Rect {
        x: area.x + 1,
        y,
        width: title_w.min(inner_w),
        height: 1,
    };
    let service = if compact {
        Rect {
            x: title.right() + 2,
            y,
            width: inner_w.saturating_sub(title_w + 2),
            height: 1,
        }
    } else {
        y += 1;
        Rect {
            x: area.x + 1,
            y,
            width: inner_w,
            height: 1,
        }
    };
    y += 1 + u16::from(!compact);
    let bw = button_width(&button_label(m, "button.issue_api_key"));
    let issue_button = Rect {
        x: area.x,
        y,
        width: bw,
        height: 1,
    };
    let count = Rect {
        x: issue_button.right() + 1,
        y,
        width: area.right().saturating_sub(issue_button.right() + 2),
        height: 1,
    };
    y += 1;
    let mut lines = Vec::new();
    if k.at_limit() {
        lines.push((m.tr.t("keys.limit_note").to_string(), Tone::Note));
    }
    if m.is_viewer() {
        lines.push((m.tr.t("app.viewer_reason").to_string(), Tone::Dim));
    }
    // The attention line sits right above the table (docs/console.md, API Key management).
    // docs/console.md, API Key management: "could be narrowed" comes after what the keys'
    // lives need.
    let narrowable = crate::console::access::narrowable(k.keys(), &m.narrowing);
    let attention: Vec<String> = lifecycle::attention(m.tr, k.keys(), m.now, &m.usage)
        .into_iter()
        .chain(crate::console::access::narrowable_part(m.tr, narrowable))
        .collect();
    if !attention.is_empty() {
        lines.push((attention.join(" · "), Tone::Caution));
    }
    let notes = notes(&lines, area.x + 1, &mut y, inner_w);
    y += u16::from(!compact);
    let block = Rect {
        x: area.x,
        y,
        width: area.width,
        height: area.bottom().saturating_sub(y),
    };
    let table = TableLayout::new(block, &keys_specs(m, k), k.offset, k.keys().len());
    KeysLayout {
        title,
        service,
        issue_button,
        count,
        notes,
        table,
    }
}

/// The table of the current screen, for scrolling and paging.
pub fn current_table(l: &ScreenLayout) -> Option<&TableLayout> {
    match &l.body {
        Body::Services(s) => Some(&s.table),
        Body::Keys(k) => Some(&k.table),
        Body::TooSmall => None,
    }
}

/// The layout for the model's last known terminal size.
pub fn for_model(m: &Model) -> ScreenLayout {
    layout(
        m,
        Rect {
            x: 0,
            y: 0,
            width: m.width,
            height: m.height,
        },
    )
}
