use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEventKind};

use super::Parser;

fn no_alt(_: &KeyEvent) -> bool {
    false
}

fn alt_x(k: &KeyEvent) -> bool {
    k.code == KeyCode::Char('x') && k.modifiers.contains(KeyModifiers::ALT)
}

fn codes(events: &[Event]) -> Vec<KeyCode> {
    events
        .iter()
        .map(|e| match e {
            Event::Key(k) => k.code,
            other => panic!("not a key: {other:?}"),
        })
        .collect()
}

#[test]
fn an_arrow_split_after_its_esc_is_still_an_arrow() {
    for (first, second, code) in [
        (&b"\x1b"[..], &b"[A"[..], KeyCode::Up),
        (b"\x1b", b"OB", KeyCode::Down),
        (b"\x1b[", b"C", KeyCode::Right),
        (b"\x1b[1;", b"5D", KeyCode::Left),
        (b"\x1b[5", b"~", KeyCode::PageUp),
    ] {
        let mut p = Parser::new(no_alt);
        assert!(p.feed(first).is_empty(), "{first:?} acted before its end");
        assert!(p.waiting());
        assert_eq!(codes(&p.feed(second)), vec![code]);
        assert!(!p.waiting());
    }
}

#[test]
fn a_lone_esc_is_esc_once_the_wait_ends() {
    let mut p = Parser::new(no_alt);
    assert!(p.feed(b"\x1b").is_empty());
    assert_eq!(codes(&p.timeout()), vec![KeyCode::Esc]);
    assert!(!p.waiting());
    // Half a sequence that never completed: Esc, then its bytes as keys.
    assert!(p.feed(b"\x1b[").is_empty());
    assert_eq!(codes(&p.timeout()), vec![KeyCode::Esc, KeyCode::Char('[')]);
}

#[test]
fn esc_with_a_key_in_one_read_is_esc_then_the_key_unless_alt_binds_it() {
    let mut p = Parser::new(no_alt);
    assert_eq!(
        codes(&p.feed(b"\x1bv")),
        vec![KeyCode::Esc, KeyCode::Char('v')]
    );
    assert_eq!(codes(&p.feed(b"\x1b\x1b")), vec![KeyCode::Esc]);
    assert_eq!(codes(&p.timeout()), vec![KeyCode::Esc]);
    assert_eq!(
        codes(&p.feed("\x1b한".as_bytes())),
        vec![KeyCode::Esc, KeyCode::Char('한')]
    );
    let mut bound = Parser::new(alt_x);
    match &bound.feed(b"\x1bx")[..] {
        [Event::Key(k)] => {
            assert_eq!(k.code, KeyCode::Char('x'));
            assert!(k.modifiers.contains(KeyModifiers::ALT));
        }
        other => panic!("expected Alt-x, got {other:?}"),
    }
    assert_eq!(
        codes(&bound.feed(b"\x1by")),
        vec![KeyCode::Esc, KeyCode::Char('y')]
    );
}

#[test]
fn keys_controls_and_characters() {
    let mut p = Parser::new(no_alt);
    let events = p.feed(b"a\r\t\x7f\x03\x1b[Z\x1b[3~\x1b[H\x1bOF");
    assert_eq!(
        codes(&events),
        vec![
            KeyCode::Char('a'),
            KeyCode::Enter,
            KeyCode::Tab,
            KeyCode::Backspace,
            KeyCode::Char('c'),
            KeyCode::BackTab,
            KeyCode::Delete,
            KeyCode::Home,
            KeyCode::End,
        ]
    );
    match &events[4] {
        Event::Key(k) => assert_eq!(k.modifiers, KeyModifiers::CONTROL),
        _ => unreachable!(),
    }
    // A character split inside its UTF-8 bytes waits for the rest.
    let bytes = "é".as_bytes();
    assert!(p.feed(&bytes[..1]).is_empty());
    assert_eq!(codes(&p.feed(&bytes[1..])), vec![KeyCode::Char('é')]);
}

#[test]
fn mouse_reports_in_every_encoding() {
    let mut p = Parser::new(no_alt);
    // SGR press and release, X10 (what GNU screen passes on), urxvt, and a wheel.
    let events = p.feed(b"\x1b[<0;5;3M\x1b[<0;5;3m\x1b[M !#\x1b[32;2;2M\x1b[<65;1;1M");
    let kinds: Vec<_> = events
        .iter()
        .map(|e| match e {
            Event::Mouse(m) => (m.kind, m.column, m.row),
            other => panic!("not a mouse report: {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (MouseEventKind::Down(MouseButton::Left), 4, 2),
            (MouseEventKind::Up(MouseButton::Left), 4, 2),
            (MouseEventKind::Down(MouseButton::Left), 0, 2),
            (MouseEventKind::Down(MouseButton::Left), 1, 1),
            (MouseEventKind::ScrollDown, 0, 0),
        ]
    );
    // A report split by the network is still one report.
    assert!(p.feed(b"\x1b").is_empty());
    assert!(p.feed(b"[<0;9").is_empty());
    assert_eq!(p.feed(b";9M").len(), 1);
}

#[test]
fn a_bracketed_paste_is_text_however_it_is_split() {
    let mut p = Parser::new(no_alt);
    assert!(p.feed(b"\x1b[200~ab\x1bc").is_empty());
    assert!(!p.waiting(), "a paste never times out into keys");
    assert!(p.timeout().is_empty());
    match &p.feed(b"d\r\x1b[201~x")[..] {
        [Event::Paste(s), Event::Key(k)] => {
            assert_eq!(s, "ab\x1bcd\n");
            assert_eq!(k.code, KeyCode::Char('x'));
        }
        other => panic!("expected a paste and x, got {other:?}"),
    }
}

fn pasted(events: &[Event]) -> Option<&str> {
    match events {
        [Event::Paste(s)] => Some(s),
        _ => None,
    }
}

#[test]
fn inside_screen_a_long_read_of_printable_characters_is_a_paste() {
    let mut p = Parser::new(no_alt).typed_pastes(true);
    assert_eq!(pasted(&p.feed(b"dxdxdxdx")), Some("dxdxdxdx"));
    // Its lines and columns come along; what counts is the printable characters.
    assert_eq!(
        pasted(&p.feed("한국어 이름\tab\r".as_bytes())),
        Some("한국어 이름\tab\n")
    );
    // Shorter bursts are typed keys.
    assert_eq!(
        codes(&p.feed(b"/svc")),
        vec![
            KeyCode::Char('/'),
            KeyCode::Char('s'),
            KeyCode::Char('v'),
            KeyCode::Char('c')
        ]
    );
    assert_eq!(codes(&p.feed(b"1234567\r")).len(), 8);
    // A control key or a sequence in the read: keys, as typed.
    assert!(pasted(&p.feed(b"abcdefgh\x1b[A")).is_none());
    assert!(pasted(&p.feed(b"abcdefgh\x03")).is_none());
    // A bracketed paste stays what it is.
    assert_eq!(pasted(&p.feed(b"\x1b[200~ab\x1b[201~")), Some("ab"));
}

#[test]
fn outside_screen_a_long_read_is_keys() {
    let mut p = Parser::new(no_alt);
    assert_eq!(p.feed(b"dxdxdxdx").len(), 8);
}
