//! A key: quitting and the terminal's manners act everywhere; otherwise the top popup gets it
//! (its file says what it does), or the screen.

use crossterm::event::KeyEvent;

use super::{quit, screens};
use crate::console::keymap::{Action, Context};
use crate::console::model::Model;
use crate::console::msg::Effect;

/// Key `k`, read through the keymap of where it lands.
pub(super) fn on_key(m: &mut Model, k: KeyEvent) -> Vec<Effect> {
    let ctx = m.context();
    let action = m.keymap.action(ctx, &k);
    // Quitting and the terminal's own manners act everywhere, even below the minimum size.
    match action {
        Some(Action::ForceQuit) => return quit(m),
        Some(Action::Redraw) => return vec![Effect::Redraw],
        Some(Action::Suspend) => return vec![Effect::Suspend],
        _ => {}
    }
    // Nothing is visible below the minimum size, so nothing but quitting acts: Ctrl-C above,
    // and `q` where it would quit or go back (no popup open, so no field takes the letter).
    if m.too_small() {
        let on_a_screen = m.popups.is_empty() && matches!(ctx, Context::Services | Context::Keys);
        if on_a_screen && action == Some(Action::Quit) {
            return quit(m);
        }
        return Vec::new();
    }
    // A popup is open: the top one gets every key.
    if let Some(top) = m.popups.last() {
        let key = top.handlers().key;
        return key(m, action, k);
    }
    match ctx {
        Context::Filter => screens::filter_key(m, action, k),
        Context::Keys => screens::keys_key(m, action),
        _ => screens::services_key(m, action),
    }
}
