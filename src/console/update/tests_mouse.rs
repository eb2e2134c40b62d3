//! `update` and the mouse: clicks hit-tested against the layout press buttons, open menus and
//! select rows; a click beside a popup closes only what may close.

use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::fixtures::*;
use super::update;
use crate::console::layout::{self, Body, Hit};
use crate::console::model::Model;
use crate::console::msg::{ApiCall, Effect, Msg};
use crate::console::popups::{Button, Popup};
use crate::wire::Role;

fn click(m: &mut Model, hit: Hit) -> Vec<Effect> {
    let l = layout::for_model(m);
    let (x, y) = find_hit(&l, hit).unwrap_or_else(|| panic!("{hit:?} is not on screen"));
    update(
        m,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: x,
            row: y,
            modifiers: KeyModifiers::NONE,
        }),
    )
}

fn find_hit(l: &layout::ScreenLayout, want: Hit) -> Option<(u16, u16)> {
    (0..l.area.height)
        .flat_map(|y| (0..l.area.width).map(move |x| (x, y)))
        .find(|(x, y)| layout::hit(l, *x, *y) == Some(want))
}

#[test]
fn clicks_press_buttons_open_menus_and_select_rows() {
    let mut m = on_services(3, Role::Manager);
    let fx = click(&mut m, Hit::OpenService(2));
    assert!(
        matches!(only_call(&fx).1, ApiCall::ListKeys { service_id } if service_id == "svc_0003")
    );
    let (id, _) = only_call(&fx);
    respond(&mut m, id, keys_result("svc_0003", &[1, 2, 3]));
    click(&mut m, Hit::Row(2));
    assert_eq!(m.keys.as_ref().map(|k| k.selected), Some(2));
    click(&mut m, Hit::RowMenu(1));
    assert!(matches!(top(&m), Popup::Menu(p) if p.row == 1));
    // The menu is anchored to its row: right next to the ≡.
    let l = layout::for_model(&m);
    let Body::Keys(k) = &l.body else { panic!() };
    let row = k.table.row_rect(1).unwrap();
    assert_eq!(l.popups[0].area.y, row.y + 1);
    click(
        &mut m,
        Hit::MenuItem(crate::console::popups::menu::MENU_DELETE),
    );
    assert!(matches!(top(&m), Popup::Delete(d) if d.key.id == "key_0002" && !d.disable));
    click(&mut m, Hit::PopupButton(Button::Cancel));
    assert!(m.popups.is_empty());
    click(&mut m, Hit::IssueKey);
    assert!(matches!(top(&m), Popup::Issue(_)));
    let fx = click(&mut m, Hit::PopupButton(Button::Issue));
    assert!(matches!(only_call(&fx).1, ApiCall::IssueKey { .. }));
}

#[test]
fn a_click_outside_closes_a_menu_but_not_a_dialog() {
    let mut m = on_keys(&[1], Role::Manager);
    update(&mut m, key('m'));
    update(
        &mut m,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert!(m.popups.is_empty());
    update(&mut m, key('d'));
    update(
        &mut m,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert!(matches!(top(&m), Popup::Delete(_)));
}
