//! A paste: into the top popup (its file says where), or the Services filter when it has the
//! keys; anywhere else it goes nowhere.

use super::screens::paste_into_filter;
use crate::console::model::{Model, ServicesFocus};

/// Text `s` pasted (bracketed paste).
pub(super) fn on_paste(m: &mut Model, s: &str) {
    if let Some(top) = m.popups.last() {
        let paste = top.handlers().paste;
        paste(m, s);
    } else if m.services.focus == ServicesFocus::Filter {
        paste_into_filter(m, s);
    }
}
