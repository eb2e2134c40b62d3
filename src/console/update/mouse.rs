//! Clicks and the wheel, hit-tested against the same layout the view draws from.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

use super::screens::keep_selection_visible;
use super::{moved, open_service};
use crate::console::keymap::Action;
use crate::console::layout::{self, Hit};
use crate::console::model::{KeysFocus, Model, Screen, ServicesFocus};
use crate::console::msg::Effect;
use crate::console::popups::form::{choose, press, toggle};
use crate::console::popups::{Focus, create_service, issue, menu};

/// A mouse event: a left click or the wheel; moves and releases change nothing.
pub(super) fn on_mouse(m: &mut Model, ev: MouseEvent) -> Vec<Effect> {
    if m.too_small() {
        return Vec::new();
    }
    match ev.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            m.dirty = true;
            click(m, ev.column, ev.row)
        }
        MouseEventKind::ScrollDown => {
            m.dirty = true;
            wheel(m, Action::Down);
            Vec::new()
        }
        MouseEventKind::ScrollUp => {
            m.dirty = true;
            wheel(m, Action::Up);
            Vec::new()
        }
        // Moves and releases change nothing: no redraw.
        _ => Vec::new(),
    }
}

/// The wheel: the top popup's (its file says what it does), else the list moves.
fn wheel(m: &mut Model, a: Action) {
    if let Some(top) = m.popups.last() {
        let wheel = top.handlers().wheel;
        wheel(m, a);
        return;
    }
    match m.screen {
        Screen::Services => {
            let s = &mut m.services;
            s.selected = moved(a, s.selected, s.visible().len(), 1);
        }
        Screen::Keys => {
            if let Some(k) = m.keys.as_mut() {
                k.selected = moved(a, k.selected, k.keys().len(), 1);
            }
        }
    }
    keep_selection_visible(m);
}

fn click(m: &mut Model, x: u16, y: u16) -> Vec<Effect> {
    let l = layout::for_model(m);
    let Some(hit) = layout::hit(&l, x, y) else {
        return Vec::new();
    };
    match hit {
        Hit::CreateService => {
            m.services.focus = ServicesFocus::CreateButton;
            create_service::open(m)
        }
        Hit::IssueKey => {
            if let Some(k) = m.keys.as_mut() {
                k.focus = KeysFocus::IssueButton;
            }
            issue::open(m)
        }
        Hit::Filter => {
            m.services.focus = ServicesFocus::Filter;
            Vec::new()
        }
        Hit::Row(i) => {
            select(m, i);
            Vec::new()
        }
        Hit::OpenService(i) => {
            select(m, i);
            match m.services.selected_service().cloned() {
                Some(s) => open_service(m, s),
                None => Vec::new(),
            }
        }
        Hit::RowMenu(i) => {
            select(m, i);
            menu::open(m)
        }
        Hit::PopupButton(b) => {
            if let Some(p) = m.popups.last_mut() {
                p.set_focus(Focus::Button(b));
            }
            press(m, b)
        }
        Hit::PopupField(f) => {
            if let Some(p) = m.popups.last_mut() {
                p.set_focus(Focus::Field(f));
            }
            Vec::new()
        }
        Hit::PopupChoice(c, i) => {
            choose(m, c, i);
            Vec::new()
        }
        Hit::PopupCheck(s) => {
            if let Some(p) = m.popups.last_mut() {
                p.set_focus(Focus::Check(s));
            }
            toggle(m, s);
            Vec::new()
        }
        Hit::MenuItem(i) => menu::press_item(m, i),
        Hit::Popup => Vec::new(),
        // A click beside a menu, the help or Details (read-only) closes it; other popups wait
        // for an answer (their files say so).
        Hit::OutsidePopup => match m.popups.last() {
            Some(top) => {
                let click_outside = top.handlers().click_outside;
                click_outside(m)
            }
            None => Vec::new(),
        },
    }
}

fn select(m: &mut Model, i: usize) {
    match m.screen {
        Screen::Services => {
            m.services.selected = i;
            m.services.focus = ServicesFocus::Table;
        }
        Screen::Keys => {
            if let Some(k) = m.keys.as_mut() {
                k.selected = i;
                k.focus = KeysFocus::Table;
            }
        }
    }
    keep_selection_visible(m);
}
