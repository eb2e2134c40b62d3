//! What the popups whose lines scroll share (the Audit trail, Details): the window a page
//! shows, and where a scrolling key moves it. The layout says how many lines fit, so that a
//! page at 60×16 is what the screen shows.

use crate::console::keymap::Action;
use crate::console::layout;
use crate::console::model::Model;
use crate::console::update::moved;

/// The top popup's scrolling window: lines a page shows (at least 1), and all its lines.
pub fn popup_page(m: &Model) -> (usize, usize) {
    layout::for_model(m)
        .popups
        .last()
        .map_or((1, 0), |p| (p.visible_lines.max(1), p.total_lines))
}

/// Where a scrolling key (↑ ↓, g G, PgUp PgDn) moves a popup's window, whose first line goes
/// from 0 to `len - page`; None for any other key.
pub fn scrolled(action: Option<Action>, scroll: usize, page: usize, len: usize) -> Option<usize> {
    let max = len.saturating_sub(page);
    match action? {
        a @ (Action::Up
        | Action::Down
        | Action::First
        | Action::Last
        | Action::PageUp
        | Action::PageDown) => Some(moved(a, scroll.min(max), max + 1, page)),
        _ => None,
    }
}
