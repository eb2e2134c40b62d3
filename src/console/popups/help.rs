//! The help (`?`): every binding of the place where it was pressed, generated from the keymap;
//! lines scroll, Esc closes it.

use ratatui::layout::Rect;

use super::{Dialog, Handlers, Popup};
use crate::console::keymap::{Action, Context};
use crate::console::layout::{PopupLayout, Row, ScreenLayout, for_model};
use crate::console::model::Model;
use crate::console::msg::Effect;
use crate::console::text::{self, Tone};

/// The help of one context.
#[derive(Debug)]
pub struct HelpPopup {
    /// Whose keys are listed: where `?` was pressed.
    pub context: Context,
    pub scroll: usize,
}

const HANDLERS: Handlers = Handlers {
    key,
    wheel,
    click_outside,
    place,
    ..Handlers::NONE
};

impl Dialog for HelpPopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn context(&self) -> Context {
        Context::Help
    }

    fn scroll(&self) -> usize {
        self.scroll
    }
}

/// `?`: the help of `context`, over whatever is open.
pub fn open(m: &mut Model, context: Context) {
    m.popups.push(Popup::Help(HelpPopup { context, scroll: 0 }));
}

fn key(m: &mut Model, action: Option<Action>, _k: crossterm::event::KeyEvent) -> Vec<Effect> {
    let l = for_model(m);
    let (visible, total) = l
        .popups
        .last()
        .map_or((1, 1), |p| (p.visible_lines.max(1), p.total_lines));
    let max = total.saturating_sub(visible);
    if let Some(Popup::Help(h)) = m.popups.last_mut() {
        match action {
            Some(Action::Up) => h.scroll = h.scroll.min(max).saturating_sub(1),
            Some(Action::Down) => h.scroll = (h.scroll + 1).min(max),
            Some(Action::PageUp) => h.scroll = h.scroll.min(max).saturating_sub(visible),
            Some(Action::PageDown) => h.scroll = (h.scroll + visible).min(max),
            Some(Action::Cancel) => {
                m.popups.pop();
            }
            _ => {}
        }
    }
    Vec::new()
}

fn wheel(m: &mut Model, a: Action) {
    if let Some(Popup::Help(h)) = m.popups.last_mut() {
        h.scroll = match a {
            Action::Up => h.scroll.saturating_sub(1),
            _ => h.scroll + 1,
        };
        // Clamped by the layout when drawn; clamp here too so Up answers at once.
        let l = for_model(m);
        if let (Some(pl), Some(Popup::Help(h))) = (l.popups.last(), m.popups.last_mut()) {
            h.scroll = h
                .scroll
                .min(pl.total_lines.saturating_sub(pl.visible_lines));
        }
    }
}

/// A click beside the help closes it.
fn click_outside(m: &mut Model) -> Vec<Effect> {
    m.popups.pop();
    Vec::new()
}

/// The help lines of a context, generated from the keymap.
pub fn help_lines(m: &Model, ctx: Context) -> Vec<(String, String)> {
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

/// What the help of a context explains besides its keys: on API Key management, the letters of
/// the Access column (docs/console.md, API Key management: Access) and the Leaked state; on
/// Services, the `!` (docs/console.md, Leaked keys). Drawn after the bindings, as sentences.
pub fn legend(m: &Model, ctx: Context) -> Vec<String> {
    match ctx {
        Context::Keys => vec![
            m.tr.t("help.access_legend").to_string(),
            m.tr.t("help.leaked_legend").to_string(),
        ],
        Context::Services => vec![m.tr.t("help.services_legend").to_string()],
        _ => Vec::new(),
    }
}

/// The help's lines: each binding, then a blank line and the legend when there is one.
fn rows(m: &Model, ctx: Context) -> Vec<Row> {
    let mut out: Vec<Row> = help_lines(m, ctx)
        .into_iter()
        .map(|(k, d)| Row::Help(k, d))
        .collect();
    let legend = legend(m, ctx);
    if !legend.is_empty() {
        out.push(Row::Text(String::new(), Tone::Normal));
        out.extend(legend.into_iter().map(|l| Row::Text(l, Tone::Dim)));
    }
    out
}

fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Help(h) = p else {
        return PopupLayout::default();
    };
    let area = screen.area;
    let lines = help_lines(m, h.context);
    let keys_w = lines
        .iter()
        .map(|(k, _)| text::width(k))
        .max()
        .unwrap_or(0)
        .min(24) as u16;
    let desc_w = lines.iter().map(|(_, d)| text::width(d)).max().unwrap_or(0) as u16;
    let width = (keys_w + desc_w + 7).min(area.width.saturating_sub(4));
    let inner_w = usize::from(width.saturating_sub(4));
    // The legend is a sentence: wrapped to the help's width, never cut.
    let all: Vec<Row> = rows(m, h.context)
        .into_iter()
        .flat_map(|r| match r {
            Row::Text(s, tone) if text::width(&s) > inner_w => text::wrap(&s, inner_w)
                .into_iter()
                .map(|w| Row::Text(w, tone))
                .collect(),
            Row::Help(k, d) => vec![Row::Help(text::fit(&k, usize::from(keys_w)), d)],
            other => vec![other],
        })
        .collect();
    let total = all.len();
    let visible = (total as u16).min(area.height.saturating_sub(4));
    let height = visible + 2;
    let outer = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    let first = h.scroll.min(total.saturating_sub(usize::from(visible)));
    let rows = all
        .into_iter()
        .skip(first)
        .take(usize::from(visible))
        .enumerate()
        .map(|(i, row)| {
            (
                Rect {
                    x: outer.x + 2,
                    y: outer.y + 1 + i as u16,
                    width: width.saturating_sub(4),
                    height: 1,
                },
                row,
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
        total_lines: total,
    }
}
