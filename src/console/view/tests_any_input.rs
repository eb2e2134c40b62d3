//! Any keys, any terminal size: `update` and `view` never panic, and nothing drawn leaves the
//! screen.

use crossterm::event::{KeyCode, MouseButton, MouseEvent, MouseEventKind};
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::console::msg::Msg;
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::console::view::view;
use crate::wire::Role;

fn msg(i: u8, x: u16, y: u16) -> Msg {
    const CHARS: &[char] = &[
        'j', 'k', 'g', 'G', 'i', 'd', 'm', 'c', '/', 'r', '?', ' ', 'x',
    ];
    const CODES: &[KeyCode] = &[
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Delete,
        KeyCode::Backspace,
    ];
    let i = usize::from(i);
    if i < CHARS.len() {
        key(CHARS[i])
    } else if i < CHARS.len() + CODES.len() {
        code(CODES[i - CHARS.len()])
    } else if i % 2 == 0 {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: x,
            row: y,
            modifiers: crossterm::event::KeyModifiers::NONE,
        })
    } else {
        Msg::Paste("名前\u{1b}[2J name".into())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_keys_at_any_size_draw_inside_the_screen(
        steps in proptest::collection::vec((0u8..30, 0u16..120, 0u16..40), 1..40),
        w in 1u16..130,
        h in 1u16..45,
        viewer in any::<bool>(),
    ) {
        let role = if viewer { Role::Viewer } else { Role::Manager };
        let mut m = on_keys(&[1, 2, 3, 4], role);
        update(&mut m, Msg::Resize { width: w, height: h });
        let mut t = Terminal::new(TestBackend::new(w, h)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (i, x, y) in steps {
            let _ = update(&mut m, msg(i, x, y));
            if m.quit {
                break;
            }
            t.draw(|f| view(&m, f)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
}
