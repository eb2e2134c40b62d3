//! The screen after every step equals a full redraw of the same model, whatever the keys, the
//! size, and whatever cleared or drew around `scroll::draw`; and scrolling a long list writes
//! little.

use std::cell::Cell as Counter;
use std::rc::Rc;

use crossterm::event::KeyCode;
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::{Backend, TestBackend};
use ratatui::buffer::{Buffer, Cell};

use super::{Tracked, draw};
use crate::console::model::Model;
use crate::console::msg::Msg;
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::console::view::view;
use crate::wire::Role;

/// A `TestBackend` that counts the cells written.
struct Counting {
    inner: TestBackend,
    cells: Rc<Counter<usize>>,
}

impl Backend for Counting {
    type Error = <TestBackend as Backend>::Error;
    fn draw<'a, I: Iterator<Item = (u16, u16, &'a Cell)>>(
        &mut self,
        c: I,
    ) -> Result<(), Self::Error> {
        let c: Vec<_> = c.collect();
        self.cells.set(self.cells.get() + c.len());
        self.inner.draw(c.into_iter())
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<ratatui::layout::Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<ratatui::layout::Position>>(
        &mut self,
        p: P,
    ) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(p)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, t: ratatui::backend::ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(t)
    }
    fn size(&self) -> Result<ratatui::layout::Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<ratatui::backend::WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }
    fn scroll_region_up(&mut self, r: std::ops::Range<u16>, n: u16) -> Result<(), Self::Error> {
        self.inner.scroll_region_up(r, n)
    }
    fn scroll_region_down(&mut self, r: std::ops::Range<u16>, n: u16) -> Result<(), Self::Error> {
        self.inner.scroll_region_down(r, n)
    }
}

fn terminal(w: u16, h: u16) -> (Terminal<Tracked<Counting>>, Rc<Counter<usize>>) {
    terminal_scrolling(w, h, true)
}

fn terminal_scrolling(
    w: u16,
    h: u16,
    scrolls: bool,
) -> (Terminal<Tracked<Counting>>, Rc<Counter<usize>>) {
    let cells = Rc::new(Counter::new(0));
    let backend = Counting {
        inner: TestBackend::new(w, h),
        cells: cells.clone(),
    };
    (
        Terminal::new(Tracked::new(backend).scrolling(scrolls)).unwrap(),
        cells,
    )
}

/// The model drawn from scratch on a blank screen.
fn fresh(m: &Model, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view(m, f)).unwrap();
    t.backend().buffer().clone()
}

fn shown(t: &Terminal<Tracked<Counting>>) -> Buffer {
    t.backend().inner().inner.buffer().clone()
}

fn step(m: &mut Model, msg: Msg) {
    let _ = update(m, msg);
}

/// `n` services whose rows differ in most cells, as real ones do (the fixture's differ in a few
/// digits, which a plain diff rewrites as cheaply as a scroll).
fn on_distinct_services(n: u32) -> Model {
    let mut m = on_services(n, Role::Manager);
    for (i, s) in m.services.list.iter_mut().flatten().enumerate() {
        let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        s.id = format!("svc_{h:020x}");
        s.name = format!("{:x}", h >> 20);
        s.description = format!("{:016x}", h.rotate_left(17));
    }
    m
}

#[test]
fn a_long_list_scrolls_by_writing_the_new_row_and_the_selection() {
    let (w, h) = (100, 30);
    let mut m = on_distinct_services(300);
    step(
        &mut m,
        Msg::Resize {
            width: w,
            height: h,
        },
    );
    let (mut t, cells) = terminal(w, h);
    draw(&mut t, &m).unwrap();
    let first = cells.get();
    let mut scrolling = Vec::new();
    for _ in 0..60 {
        step(&mut m, key('j'));
        let before = cells.get();
        draw(&mut t, &m).unwrap();
        assert_eq!(shown(&t), fresh(&m, w, h));
        if m.services.offset > 0 {
            scrolling.push(cells.get() - before);
        }
    }
    assert!(!scrolling.is_empty());
    // The new row is at most the width; the old selection's marker and id (28 cells) more. A
    // step without the scroll rewrites most cells of every row (over 1,000 here).
    let most = *scrolling.iter().max().unwrap();
    assert!(
        most < usize::from(w) + 40,
        "{scrolling:?} (first frame {first})"
    );
    // And back up: the list scrolls down the same way.
    for _ in 0..60 {
        step(&mut m, key('k'));
        let before = cells.get();
        draw(&mut t, &m).unwrap();
        assert_eq!(shown(&t), fresh(&m, w, h));
        assert!(cells.get() - before < usize::from(w) + 40);
    }
}

fn msg(i: u8) -> Msg {
    const CHARS: &[char] = &[
        'j', 'j', 'j', 'k', 'k', 'g', 'G', '/', '1', '2', 'x', 'm', '?', 'r', 'i',
    ];
    const CODES: &[KeyCode] = &[
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Down,
        KeyCode::Up,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::Backspace,
    ];
    let i = usize::from(i);
    if i < CHARS.len() {
        key(CHARS[i])
    } else {
        code(CODES[(i - CHARS.len()) % CODES.len()])
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Keys, resizes, clears (Ctrl-L, a resume) and draws that go around `scroll::draw`: after
    /// each, the screen is exactly a fresh drawing of the model.
    #[test]
    fn the_screen_always_equals_a_full_redraw(
        steps in proptest::collection::vec((0u8..30, 0u8..20), 1..60),
        n in 0u32..120,
        w in 60u16..130,
        h in 16u16..50,
        scrolls in any::<bool>(),
    ) {
        let mut m = on_distinct_services(n);
        step(&mut m, Msg::Resize { width: w, height: h });
        let (mut t, _) = terminal_scrolling(w, h, scrolls);
        let (mut w, mut h) = (w, h);
        draw(&mut t, &m).unwrap();
        for (i, other) in steps {
            match other {
                0 => t.clear().unwrap(),
                1 => {
                    // A draw that did not go through scroll::draw.
                    let _ = t.draw(|f| view(&m, f)).unwrap();
                }
                2 => {
                    w = 60 + u16::from(i) * 2;
                    h = 16 + u16::from(i);
                    t.backend_mut().inner.inner.resize(w, h);
                    step(&mut m, Msg::Resize { width: w, height: h });
                }
                _ => {}
            }
            step(&mut m, msg(i));
            if m.quit {
                break;
            }
            draw(&mut t, &m).unwrap();
            prop_assert_eq!(shown(&t), fresh(&m, w, h));
        }
    }
}

#[test]
fn terminals_that_may_not_scroll_regions_are_not_asked_to() {
    use super::term_scrolls;
    for t in [
        "xterm-256color",
        "screen",
        "tmux-256color",
        "linux",
        "vt100",
        "putty",
        "rxvt-unicode",
    ] {
        assert!(term_scrolls(Some(t)), "{t}");
    }
    for t in [None, Some(""), Some("dumb"), Some("unknown"), Some("vt52")] {
        assert!(!term_scrolls(t), "{t:?}");
    }
}
