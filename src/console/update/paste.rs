//! A paste: into the top popup (its file says where), or the Services filter when it has the
//! keys. Where no text field has the focus it goes nowhere, and the footer says so: none of it
//! acts as a key (docs/console.md, GNU screen).

use super::screens::paste_into_filter;
use crate::console::keymap::Context;
use crate::console::model::{Model, NoticeKind, ServicesFocus};

/// Text `s` pasted (bracketed paste, or a long read of typed characters inside GNU screen).
pub(super) fn on_paste(m: &mut Model, s: &str) {
    if !matches!(m.context(), Context::Field | Context::Filter) {
        m.notice(NoticeKind::Info, m.tr.t("notice.paste_ignored").to_string());
        return;
    }
    if let Some(top) = m.popups.last() {
        let paste = top.handlers().paste;
        paste(m, s);
    } else if m.services.focus == ServicesFocus::Filter {
        paste_into_filter(m, s);
    }
}
