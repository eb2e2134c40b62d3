//! The terminal's input, read and decoded here (docs/console.md, Slow links).
//! crossterm's reader takes an Esc at the end of one read as the Esc key and an Esc with a key
//! in one read as Alt and that key, so an arrow split by the network closed popups and an Esc
//! typed with the next key was lost. Here a lone Esc waits [`ESC_WAIT`] for what follows, on a
//! timer of the event stream (the loop never sleeps), and Esc with a key is Esc then the key
//! unless the keymap binds that key with Alt.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a lone Esc waits for the rest of a sequence: vim's default `ttimeoutlen`.
pub const ESC_WAIT: Duration = Duration::from_millis(100);

/// Inside GNU screen, a read of this many printable characters or more is a paste
/// (docs/console.md, GNU screen): screen 4 does not pass bracketed paste on, and nobody types
/// 8 characters between two reads.
pub const TYPED_PASTE_MIN: usize = 8;

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

/// Turns the terminal's bytes into events, keeping an unfinished sequence for the next read.
pub struct Parser {
    buf: Vec<u8>,
    /// Inside a bracketed paste: everything up to its end marker is text.
    pasting: bool,
    /// Whether the keymap binds this key (with Alt) to something.
    alt_bound: fn(&KeyEvent) -> bool,
    /// Whether a long read of printable characters is a paste ([`TYPED_PASTE_MIN`]).
    typed_pastes: bool,
}

impl Parser {
    pub fn new(alt_bound: fn(&KeyEvent) -> bool) -> Self {
        Parser {
            buf: Vec::new(),
            pasting: false,
            alt_bound,
            typed_pastes: false,
        }
    }

    /// Takes a read of [`TYPED_PASTE_MIN`] printable characters or more as a paste: inside GNU
    /// screen, where a paste arrives as typed keys.
    pub fn typed_pastes(mut self, on: bool) -> Self {
        self.typed_pastes = on;
        self
    }

    /// Whether bytes wait for what follows (a lone Esc, half a sequence): the caller times out
    /// after [`ESC_WAIT`] with [`Parser::timeout`]. A paste waits for its end without a limit.
    pub fn waiting(&self) -> bool {
        !self.pasting && !self.buf.is_empty()
    }

    /// The events of one read, in order; with [`Parser::typed_pastes`], a read of printable
    /// characters long enough is one paste instead.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let events = self.decode(bytes);
        if self.typed_pastes
            && let Some(text) = typed_paste(&events)
        {
            return vec![Event::Paste(text)];
        }
        events
    }

    fn decode(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            if self.pasting {
                let Some(end) = find(&self.buf[at..], PASTE_END) else {
                    break;
                };
                let text = String::from_utf8_lossy(&self.buf[at..at + end]).into_owned();
                out.push(Event::Paste(text.replace("\r\n", "\n").replace('\r', "\n")));
                at += end + PASTE_END.len();
                self.pasting = false;
                continue;
            }
            let rest = &self.buf[at..];
            if rest.is_empty() {
                break;
            }
            if rest.starts_with(PASTE_START) {
                self.pasting = true;
                at += PASTE_START.len();
                continue;
            }
            if PASTE_START.starts_with(rest) {
                break;
            }
            match step(rest, self.alt_bound) {
                Some((events, used)) => {
                    out.extend(events);
                    at += used;
                }
                None => break,
            }
        }
        self.buf.drain(..at);
        out
    }

    /// Nothing followed within [`ESC_WAIT`]: a lone Esc is the Esc key, and what an unfinished
    /// sequence held after its Esc is keys.
    pub fn timeout(&mut self) -> Vec<Event> {
        if self.pasting {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut rest = std::mem::take(&mut self.buf);
        while !rest.is_empty() {
            match step(&rest, self.alt_bound) {
                Some((events, used)) => {
                    out.extend(events);
                    rest.drain(..used);
                }
                None => {
                    if rest[0] == 0x1b {
                        out.push(key(KeyCode::Esc, KeyModifiers::NONE));
                    }
                    // Else half a UTF-8 character that never completed: dropped.
                    rest.drain(..1);
                }
            }
        }
        out
    }
}

/// The text of `events` if they are a typed paste: [`TYPED_PASTE_MIN`] printable characters or
/// more, with nothing else but Enter and Tab (the lines and columns of what was pasted).
fn typed_paste(events: &[Event]) -> Option<String> {
    let mut text = String::new();
    let mut printable = 0;
    for e in events {
        let Event::Key(k) = e else {
            return None;
        };
        match k.code {
            KeyCode::Char(c)
                if (k.modifiers - KeyModifiers::SHIFT).is_empty() && !c.is_control() =>
            {
                printable += 1;
                text.push(c);
            }
            KeyCode::Enter if k.modifiers.is_empty() => text.push('\n'),
            KeyCode::Tab if k.modifiers.is_empty() => text.push('\t'),
            _ => return None,
        }
    }
    (printable >= TYPED_PASTE_MIN).then_some(text)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> Event {
    Event::Key(KeyEvent::new(code, modifiers))
}

/// The events of the first whole key, sequence or character of `b` and how many bytes it took;
/// `None` while it is unfinished.
fn step(b: &[u8], alt_bound: fn(&KeyEvent) -> bool) -> Option<(Vec<Event>, usize)> {
    let none = KeyModifiers::NONE;
    let ctrl = KeyModifiers::CONTROL;
    let one = |code, m| Some((vec![key(code, m)], 1));
    match b[0] {
        0x1b => {
            let next = *b.get(1)?;
            match next {
                b'[' => csi(b),
                b'O' => {
                    let code = match *b.get(2)? {
                        b'A' => KeyCode::Up,
                        b'B' => KeyCode::Down,
                        b'C' => KeyCode::Right,
                        b'D' => KeyCode::Left,
                        b'H' => KeyCode::Home,
                        b'F' => KeyCode::End,
                        c @ b'P'..=b'S' => KeyCode::F(c - b'P' + 1),
                        _ => return Some((Vec::new(), 3)),
                    };
                    Some((vec![key(code, none)], 3))
                }
                // Esc Esc: the first is a key of its own; the second starts afresh.
                0x1b => one(KeyCode::Esc, none),
                _ => {
                    let (events, used) = step(&b[1..], alt_bound)?;
                    if let [Event::Key(k)] = events[..] {
                        let with_alt = KeyEvent::new(k.code, k.modifiers | KeyModifiers::ALT);
                        if alt_bound(&with_alt) {
                            return Some((vec![Event::Key(with_alt)], used + 1));
                        }
                    }
                    let mut all = vec![key(KeyCode::Esc, none)];
                    all.extend(events);
                    Some((all, used + 1))
                }
            }
        }
        b'\r' | b'\n' => one(KeyCode::Enter, none),
        b'\t' => one(KeyCode::Tab, none),
        0x7f | 0x08 => one(KeyCode::Backspace, none),
        0 => one(KeyCode::Char(' '), ctrl),
        c @ 1..=0x1a => one(KeyCode::Char((c - 1 + b'a') as char), ctrl),
        c @ 0x1c..=0x1f => one(KeyCode::Char((c - 0x1c + b'4') as char), ctrl),
        lead => {
            let len = match lead {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                // A stray continuation byte: nothing.
                _ => return Some((Vec::new(), 1)),
            };
            if b.len() < len {
                return None;
            }
            match std::str::from_utf8(&b[..len])
                .ok()
                .and_then(|s| s.chars().next())
            {
                Some(c) => {
                    let m = if c.is_uppercase() {
                        KeyModifiers::SHIFT
                    } else {
                        none
                    };
                    Some((vec![key(KeyCode::Char(c), m)], len))
                }
                None => Some((Vec::new(), 1)),
            }
        }
    }
}

/// The modifiers of a CSI parameter: 1 + (Shift 1, Alt 2, Ctrl 4).
fn modifiers(param: Option<&u16>) -> KeyModifiers {
    let bits = param.map_or(0, |p| p.saturating_sub(1));
    let mut m = KeyModifiers::NONE;
    if bits & 1 != 0 {
        m |= KeyModifiers::SHIFT;
    }
    if bits & 2 != 0 {
        m |= KeyModifiers::ALT;
    }
    if bits & 4 != 0 {
        m |= KeyModifiers::CONTROL;
    }
    m
}

/// `ESC [ …`: keys, mouse reports (X10, urxvt, SGR) and focus.
fn csi(b: &[u8]) -> Option<(Vec<Event>, usize)> {
    // X10 mouse: ESC [ M and three bytes, each 32 more than its value.
    if b.get(2) == Some(&b'M') {
        if b.len() < 6 {
            return None;
        }
        let (cb, x, y) = (
            b[3].wrapping_sub(32),
            b[4].wrapping_sub(32),
            b[5].wrapping_sub(32),
        );
        return Some((mouse(cb.into(), x.into(), y.into(), false), 6));
    }
    let mut end = 2;
    loop {
        let c = *b.get(end)?;
        match c {
            0x40..=0x7e => break,
            0x20..=0x3f => end += 1,
            // Not a sequence after all: drop what came so far.
            _ => return Some((Vec::new(), end)),
        }
    }
    let used = end + 1;
    let params = &b[2..end];
    let last = b[end];
    if let Some(sgr) = params.strip_prefix(b"<") {
        let n = numbers(sgr);
        return Some(match (n.first(), n.get(1), n.get(2), last) {
            (Some(&cb), Some(&x), Some(&y), b'M' | b'm') => (mouse(cb, x, y, last == b'm'), used),
            _ => (Vec::new(), used),
        });
    }
    let n = numbers(params);
    let m = modifiers(n.get(1));
    let code = match last {
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'Z' => return Some((vec![key(KeyCode::BackTab, KeyModifiers::SHIFT)], used)),
        c @ b'P'..=b'S' => KeyCode::F(c - b'P' + 1),
        b'I' => return Some((vec![Event::FocusGained], used)),
        b'O' => return Some((vec![Event::FocusLost], used)),
        // urxvt mouse: ESC [ Cb ; Cx ; Cy M, Cb 32 more than its value.
        b'M' if n.len() == 3 => {
            return Some((mouse(n[0].saturating_sub(32), n[1], n[2], false), used));
        }
        b'~' => match n.first().copied().unwrap_or(0) {
            1 | 7 => KeyCode::Home,
            2 => KeyCode::Insert,
            3 => KeyCode::Delete,
            4 | 8 => KeyCode::End,
            5 => KeyCode::PageUp,
            6 => KeyCode::PageDown,
            f @ 11..=15 => KeyCode::F((f - 10) as u8),
            f @ 17..=21 => KeyCode::F((f - 11) as u8),
            f @ 23..=26 => KeyCode::F((f - 12) as u8),
            _ => return Some((Vec::new(), used)),
        },
        b'u' => match n.first().copied().and_then(|c| char::from_u32(c.into())) {
            Some('\r') => KeyCode::Enter,
            Some('\t') => KeyCode::Tab,
            Some('\x1b') => KeyCode::Esc,
            Some('\x7f') => KeyCode::Backspace,
            Some(c) => KeyCode::Char(c),
            None => return Some((Vec::new(), used)),
        },
        _ => return Some((Vec::new(), used)),
    };
    Some((vec![key(code, m)], used))
}

fn numbers(params: &[u8]) -> Vec<u16> {
    std::str::from_utf8(params)
        .unwrap_or("")
        .split(';')
        .map(|p| p.parse().unwrap_or(1))
        .collect()
}

/// A mouse report: button code `cb`, 1-based `x` and `y`; `release` for SGR's `m`.
fn mouse(cb: u16, x: u16, y: u16, release: bool) -> Vec<Event> {
    let mut modifiers = KeyModifiers::NONE;
    if cb & 4 != 0 {
        modifiers |= KeyModifiers::SHIFT;
    }
    if cb & 8 != 0 {
        modifiers |= KeyModifiers::ALT;
    }
    if cb & 16 != 0 {
        modifiers |= KeyModifiers::CONTROL;
    }
    let motion = cb & 32 != 0;
    let button = match cb & 3 {
        0 => Some(MouseButton::Left),
        1 => Some(MouseButton::Middle),
        2 => Some(MouseButton::Right),
        _ => None,
    };
    let kind = if cb & 64 != 0 {
        match cb & 3 {
            0 => MouseEventKind::ScrollUp,
            1 => MouseEventKind::ScrollDown,
            2 => MouseEventKind::ScrollLeft,
            _ => MouseEventKind::ScrollRight,
        }
    } else {
        match (button, motion) {
            (Some(b), true) => MouseEventKind::Drag(b),
            (None, true) => MouseEventKind::Moved,
            (Some(b), false) if release => MouseEventKind::Up(b),
            (Some(b), false) => MouseEventKind::Down(b),
            // X10 and urxvt report a release without its button.
            (None, false) => MouseEventKind::Up(MouseButton::Left),
        }
    };
    vec![Event::Mouse(MouseEvent {
        kind,
        column: x.saturating_sub(1),
        row: y.saturating_sub(1),
        modifiers,
    })]
}

/// Reads the terminal (stdin) on a thread of its own, one message per read.
fn reader() -> mpsc::UnboundedReceiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let mut fd = libc::pollfd {
                    fd: libc::STDIN_FILENO,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // A bounded wait: the thread notices the loop has gone (the channel closed).
                // SAFETY: one valid pollfd, for the duration of the call.
                let n = unsafe { libc::poll(&mut fd, 1, 250) };
                if tx.is_closed() {
                    return;
                }
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    let _ = tx.send(Err(e));
                    return;
                }
                if n == 0 {
                    continue;
                }
                // SAFETY: reads at most buf.len() bytes into buf, which lives across the call.
                let got =
                    unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
                match got {
                    0 => return,
                    n if n > 0 => {
                        if tx.send(Ok(buf[..n as usize].to_vec())).is_err() {
                            return;
                        }
                    }
                    _ => {
                        let e = io::Error::last_os_error();
                        if matches!(
                            e.kind(),
                            io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                        ) {
                            continue;
                        }
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Err(e));
        return rx;
    }
    rx
}

struct State {
    reads: mpsc::UnboundedReceiver<io::Result<Vec<u8>>>,
    winch: Option<tokio::signal::unix::Signal>,
    parser: Parser,
    queue: VecDeque<io::Result<Event>>,
    /// When a waiting Esc becomes the Esc key.
    deadline: Option<Instant>,
    ended: bool,
}

/// The terminal's events: keys, mouse, pastes, and resizes (SIGWINCH). `typed_pastes`: see
/// [`Parser::typed_pastes`].
pub fn events(
    alt_bound: fn(&KeyEvent) -> bool,
    typed_pastes: bool,
) -> impl Stream<Item = io::Result<Event>> + Unpin + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let state = State {
        reads: reader(),
        winch: signal(SignalKind::window_change()).ok(),
        parser: Parser::new(alt_bound).typed_pastes(typed_pastes),
        queue: VecDeque::new(),
        deadline: None,
        ended: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(ev) = s.queue.pop_front() {
                return Some((ev, s));
            }
            if s.ended {
                return None;
            }
            let deadline = s.deadline;
            let (reads, winch) = (&mut s.reads, &mut s.winch);
            tokio::select! {
                read = reads.recv() => match read {
                    Some(Ok(bytes)) => {
                        s.queue.extend(s.parser.feed(&bytes).into_iter().map(Ok));
                        s.deadline = s.parser.waiting().then(|| Instant::now() + ESC_WAIT);
                    }
                    Some(Err(e)) => {
                        s.queue.extend(s.parser.timeout().into_iter().map(Ok));
                        s.queue.push_back(Err(e));
                        s.ended = true;
                    }
                    None => {
                        s.queue.extend(s.parser.timeout().into_iter().map(Ok));
                        s.ended = true;
                    }
                },
                Some(()) = async {
                    match winch.as_mut() {
                        Some(w) => w.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Ok((w, h)) = crossterm::terminal::size() {
                        s.queue.push_back(Ok(Event::Resize(w, h)));
                    }
                }
                () = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    s.deadline = None;
                    s.queue.extend(s.parser.timeout().into_iter().map(Ok));
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests;
