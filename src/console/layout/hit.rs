//! What is under the mouse: hit-testing against the same layout the view draws from.

use ratatui::layout::Rect;

use super::table::Col;
use super::{Body, ScreenLayout};
use crate::console::popups::{Button, Choice, Field};
use crate::policy::Scope;

/// Where a click landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    CreateService,
    IssueKey,
    Filter,
    /// A row of the current table.
    Row(usize),
    /// The `[API Key management]` button of a service row.
    OpenService(usize),
    /// The `≡` of a key row.
    RowMenu(usize),
    PopupButton(Button),
    PopupField(Field),
    /// An option of a popup's choice, by its index among all the choice's options.
    PopupChoice(Choice, usize),
    /// A check box of a popup (Access: Custom…), by its scope.
    PopupCheck(Scope),
    MenuItem(usize),
    /// Inside the top popup, on nothing in particular.
    Popup,
    /// Outside the top popup.
    OutsidePopup,
}

fn contains(r: Rect, x: u16, y: u16) -> bool {
    x >= r.x && x < r.right() && y >= r.y && y < r.bottom()
}

/// What is under the mouse at (x, y): the top popup if there is one, else the screen.
pub fn hit(l: &ScreenLayout, x: u16, y: u16) -> Option<Hit> {
    if let Some(p) = l.popups.last() {
        if !contains(p.area, x, y) {
            return Some(Hit::OutsidePopup);
        }
        for (b, r) in &p.buttons {
            if contains(*r, x, y) {
                return Some(Hit::PopupButton(*b));
            }
        }
        for (f, r) in &p.fields {
            if contains(*r, x, y) {
                return Some(Hit::PopupField(*f));
            }
        }
        for (_, row) in &p.rows {
            if let super::Row::Choice {
                choice,
                options,
                first,
                ..
            } = row
                && let Some(i) = options.iter().position(|(_, r)| contains(*r, x, y))
            {
                return Some(Hit::PopupChoice(*choice, first + i));
            }
            if let super::Row::Checks(boxes) = row
                && let Some((s, ..)) = boxes.iter().find(|(.., r)| contains(*r, x, y))
            {
                return Some(Hit::PopupCheck(*s));
            }
        }
        for (i, r) in &p.items {
            if contains(*r, x, y) {
                return Some(Hit::MenuItem(*i));
            }
        }
        return Some(Hit::Popup);
    }
    match &l.body {
        Body::TooSmall => None,
        Body::Services(s) => {
            if contains(s.create_button, x, y) {
                return Some(Hit::CreateService);
            }
            if s.filter.is_some_and(|r| contains(r, x, y)) {
                return Some(Hit::Filter);
            }
            let (idx, _) = s.table.rows.iter().find(|(_, r)| contains(*r, x, y))?;
            let on_button = s
                .table
                .column(Col::SvcButton)
                .is_some_and(|c| x >= c.x && x < c.x + c.width);
            Some(if on_button {
                Hit::OpenService(*idx)
            } else {
                Hit::Row(*idx)
            })
        }
        Body::Keys(k) => {
            if contains(k.issue_button, x, y) {
                return Some(Hit::IssueKey);
            }
            let (idx, _) = k.table.rows.iter().find(|(_, r)| contains(*r, x, y))?;
            // The ≡ is one cell; a click next to it counts too.
            let on_menu = k
                .table
                .column(Col::KeyMenu)
                .is_some_and(|c| x + 1 >= c.x && x <= c.x + 1);
            Some(if on_menu {
                Hit::RowMenu(*idx)
            } else {
                Hit::Row(*idx)
            })
        }
    }
}
