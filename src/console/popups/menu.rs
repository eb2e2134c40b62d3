//! The ≡ menu of one row of the key table (docs/console.md, Popups): anchored to its row's `≡`,
//! its items in the page's order; a disabled item says why at the menu's foot.

use ratatui::layout::Rect;

use super::{Dialog, Handlers, Popup, access, delete, details, help, rename, rotate};
use crate::console::keymap::{Action, Context};
use crate::console::layout::table::Col;
use crate::console::layout::{Body, PopupLayout, Row, ScreenLayout};
use crate::console::model::{KeysFocus, Model, NoticeKind};
use crate::console::msg::Effect;
use crate::console::text::{self, Tone};

/// The menu of row `row`, whose key is `key_id`.
#[derive(Debug)]
pub struct MenuPopup {
    pub row: usize,
    pub key_id: String,
    pub selected: usize,
}

// The ≡ menu's items, in docs/console.md's order; focus starts on Delete.
/// Details: for every role.
pub const MENU_DETAILS: usize = 0;
/// Rename.
pub const MENU_RENAME: usize = 1;
/// Access…: Edit access (docs/console.md, Access), right after Rename.
pub const MENU_ACCESS: usize = 2;
/// Disable, or Enable for a disabled key.
pub const MENU_TOGGLE: usize = 3;
/// Rotate.
pub const MENU_ROTATE: usize = 4;
/// Delete: where the focus starts.
pub const MENU_DELETE: usize = 5;
/// How many items the menu has.
pub const MENU_ITEMS: usize = 6;

const HANDLERS: Handlers = Handlers {
    key,
    click_outside,
    place,
    ..Handlers::NONE
};

impl Dialog for MenuPopup {
    fn handlers(&self) -> &'static Handlers {
        &HANDLERS
    }

    fn context(&self) -> Context {
        Context::Menu
    }
}

/// `m`, Enter on a row, or a click on its `≡`: the menu of the selected key.
pub fn open(m: &mut Model) -> Vec<Effect> {
    let tr = m.tr;
    let Some(k) = m.keys.as_mut() else {
        return Vec::new();
    };
    let Some(key) = k.selected_key() else {
        m.notice(NoticeKind::Info, tr.t("notice.no_key").to_string());
        return Vec::new();
    };
    let key_id = key.id.clone();
    k.focus = KeysFocus::Table;
    let row = k.selected;
    m.popups.push(Popup::Menu(MenuPopup {
        row,
        key_id,
        selected: MENU_DELETE,
    }));
    Vec::new()
}

/// Keys of a row's menu.
fn key(m: &mut Model, action: Option<Action>, _k: crossterm::event::KeyEvent) -> Vec<Effect> {
    match action {
        Some(Action::Press) => {
            let i = match m.popups.last() {
                Some(Popup::Menu(p)) => p.selected,
                _ => 0,
            };
            return press_item(m, i);
        }
        Some(a @ (Action::Up | Action::Down)) => {
            if let Some(Popup::Menu(p)) = m.popups.last_mut() {
                p.selected = match a {
                    Action::Up => p.selected.saturating_sub(1),
                    _ => (p.selected + 1).min(MENU_ITEMS - 1),
                };
            }
        }
        Some(Action::Cancel) => {
            m.popups.pop();
        }
        Some(Action::Help) => help::open(m, Context::Menu),
        _ => {}
    }
    Vec::new()
}

/// A click beside the menu closes it.
fn click_outside(m: &mut Model) -> Vec<Effect> {
    m.popups.pop();
    Vec::new()
}

/// An item of the ≡ menu chosen: the menu closes, and a disabled item says why in the footer.
pub fn press_item(m: &mut Model, item: usize) -> Vec<Effect> {
    m.popups.pop();
    if let Some(reason) = item_disabled(m, item) {
        m.notice(NoticeKind::Info, reason);
        return Vec::new();
    }
    match item {
        MENU_DETAILS => details::open(m),
        MENU_RENAME => rename::open(m),
        MENU_ACCESS => access::open(m),
        MENU_TOGGLE => delete::toggle_enabled(m),
        MENU_ROTATE => rotate::open(m),
        _ => delete::open(m),
    }
}

/// The ≡ menu's items, in docs/console.md's order: `Details`, `Rename`, `Access…`, `Disable` (or
/// `Enable`), `Rotate`, `Delete` (indices `MENU_*`).
pub fn labels(m: &Model, key_id: &str) -> Vec<String> {
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
        "menu.access",
        toggle,
        "menu.rotate",
        "menu.delete",
    ]
    .iter()
    .map(|k| m.tr.t(k).to_string())
    .collect()
}

/// Why a menu item cannot be chosen now, or `None` when it can: Details is for every role;
/// everything else needs the manager role (docs/console.md: a viewer sees only Details).
pub fn item_disabled(m: &Model, item: usize) -> Option<String> {
    if item == MENU_DETAILS {
        return None;
    }
    (!m.can_manage()).then(|| m.tr.t("menu.viewer").to_string())
}

/// Anchored to its row's `≡`: below the row if it fits above the footer, else above it.
fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Menu(MenuPopup {
        row,
        key_id,
        selected,
    }) = p
    else {
        return PopupLayout::default();
    };
    let (row, selected) = (*row, *selected);
    let labels = labels(m, key_id);
    // A disabled item, when selected, says why on a line of its own at the menu's foot.
    let reason = item_disabled(m, selected);
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
