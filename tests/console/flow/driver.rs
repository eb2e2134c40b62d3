//! Drives the console's real loop (`ragkeys::console::app::run`) with scripted terminal events
//! and a `TestBackend` whose every flushed frame is published, so a test can wait for what a
//! user would see. No terminal, no mock: the loop talks to a real `ragkeys serve` over HTTP.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::FixedOffset;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ragkeys::args::{ClipboardMode, Lang};
use ragkeys::client::{Client, ClientOptions};
use ragkeys::console::app::{self, Exit, Io, JobControl, JobSignal};
use ragkeys::console::clipboard::Clipboard;
use ragkeys::console::model::{Model, Options, Tz};
use ragkeys::credential::Secret;
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use tokio::sync::{mpsc, watch};

use crate::common::screen;

/// One flushed frame: how many draws so far, and the screen as text.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub draws: u64,
    /// How many times the whole screen was cleared (a full redraw follows each).
    pub clears: u64,
    pub text: String,
    /// One symbol per cell; the second cell of a wide character is empty.
    pub cells: Vec<Vec<String>>,
}

impl Frame {
    /// The text inside the popup titled `title`, its lines joined by single spaces.
    pub fn popup(&self, title: &str) -> Option<String> {
        let head = format!("┌ {title} ");
        let (y0, row) = self
            .cells
            .iter()
            .enumerate()
            .find(|(_, r)| r.concat().contains(&head))?;
        let joined = row.concat();
        let before = &joined[..joined.find(&head)?];
        // The column of the corner: count cells, not bytes.
        let mut x0 = 0;
        let mut seen = String::new();
        for (x, c) in row.iter().enumerate() {
            if seen == before {
                x0 = x;
                break;
            }
            seen.push_str(c);
        }
        let x1 = (x0 + 1..row.len()).find(|x| row[*x] == "┐")?;
        let mut words = Vec::new();
        for r in &self.cells[y0 + 1..] {
            if r[x0] == "└" {
                break;
            }
            words.push(r[x0 + 1..x1].concat());
        }
        Some(
            words
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}

/// A `TestBackend` that publishes each frame when ratatui flushes it.
pub struct Observed {
    inner: TestBackend,
    draws: u64,
    clears: u64,
    tx: watch::Sender<Frame>,
}

impl Backend for Observed {
    type Error = <TestBackend as Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, p: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(p)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.clears += 1;
        self.inner.clear()
    }
    fn clear_region(&mut self, t: ClearType) -> Result<(), Self::Error> {
        if t == ClearType::All {
            self.clears += 1;
        }
        self.inner.clear_region(t)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    // A scroll is part of the frame that follows it: no frame is published here.
    fn scroll_region_up(&mut self, r: std::ops::Range<u16>, n: u16) -> Result<(), Self::Error> {
        self.inner.scroll_region_up(r, n)
    }
    fn scroll_region_down(&mut self, r: std::ops::Range<u16>, n: u16) -> Result<(), Self::Error> {
        self.inner.scroll_region_down(r, n)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()?;
        self.draws += 1;
        let cells = screen::cells(self.inner.buffer());
        self.tx.send_replace(Frame {
            draws: self.draws,
            clears: self.clears,
            text: screen::text_of(&cells),
            cells,
        });
        Ok(())
    }
}

/// Where the loop writes OSC 52 bytes: the test reads them back.
#[derive(Clone, Default)]
pub struct Output(pub Arc<Mutex<Vec<u8>>>);

impl io::Write for Output {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The test's hands on the keyboard and eyes on the screen.
pub struct Console {
    events: mpsc::UnboundedSender<io::Result<Event>>,
    screen: watch::Receiver<Frame>,
    pub output: Output,
    /// SIGTSTP / SIGCONT, as the real console's signal task sends them.
    pub job_signals: mpsc::UnboundedSender<JobSignal>,
    /// What the loop asked of job control: `"suspend"` or `"resume"`, in order.
    pub job: Arc<Mutex<Vec<&'static str>>>,
}

/// Records what the loop asks of job control (stopping the test process would stop the test).
struct RecordedJob(Arc<Mutex<Vec<&'static str>>>);

impl JobControl for RecordedJob {
    fn suspend(&mut self) -> io::Result<()> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .push("suspend");
        Ok(())
    }
    fn resume(&mut self) -> io::Result<()> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .push("resume");
        Ok(())
    }
}

pub const WAIT: Duration = Duration::from_secs(15);

impl Console {
    pub fn send(&self, code: KeyCode, mods: KeyModifiers) {
        let _ = self.events.send(Ok(Event::Key(KeyEvent::new(code, mods))));
    }

    pub fn key(&self, code: KeyCode) {
        self.send(code, KeyModifiers::NONE);
    }

    pub fn ch(&self, c: char) {
        let mods = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        self.send(KeyCode::Char(c), mods);
    }

    pub fn typed(&self, s: &str) {
        for c in s.chars() {
            self.ch(c);
        }
    }

    /// A bracketed paste (crossterm's `Event::Paste`).
    pub fn paste(&self, text: &str) {
        let _ = self.events.send(Ok(Event::Paste(text.to_string())));
    }

    /// The terminal reports a new size (crossterm's `Event::Resize`).
    pub fn resize(&self, width: u16, height: u16) {
        let _ = self.events.send(Ok(Event::Resize(width, height)));
    }

    /// Waits until the published frame satisfies `f`; fails with the last screen after `WAIT`.
    pub async fn wait_frame(&mut self, what: &str, f: impl Fn(&Frame) -> bool) -> Frame {
        let r = tokio::time::timeout(WAIT, self.screen.wait_for(|fr| f(fr)))
            .await
            .map(|r| r.map(|fr| fr.clone()));
        match r {
            Ok(Ok(frame)) => frame,
            _ => panic!("timed out waiting for {what}; the screen:\n{}", self.text()),
        }
    }

    pub fn ctrl(&self, c: char) {
        self.send(KeyCode::Char(c), KeyModifiers::CONTROL);
    }

    /// The input ends, as when an SSH session drops.
    pub fn hang_up(self) {
        drop(self);
    }

    pub fn frame(&self) -> Frame {
        self.screen.borrow().clone()
    }

    pub fn text(&self) -> String {
        self.screen.borrow().text.clone()
    }

    /// Waits until the screen satisfies `f`; fails with the last screen after `WAIT`.
    pub async fn wait_until(&mut self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let r = tokio::time::timeout(WAIT, self.screen.wait_for(|fr| f(&fr.text)))
            .await
            .map(|r| r.map(|fr| fr.text.clone()));
        match r {
            Ok(Ok(text)) => text,
            _ => panic!("timed out waiting for {what}; the screen:\n{}", self.text()),
        }
    }

    pub async fn wait_for(&mut self, needle: &str) -> String {
        self.wait_until(needle, |t| t.contains(needle)).await
    }

    /// Waits for the popup titled `title` and returns its text.
    pub async fn popup(&mut self, title: &str) -> String {
        self.wait_for(&format!("┌ {title} ")).await;
        self.frame()
            .popup(title)
            .unwrap_or_else(|| panic!("no popup {title}:\n{}", self.text()))
    }

    pub async fn wait_gone(&mut self, needle: &str) -> String {
        self.wait_until(&format!("{needle} to go"), |t| !t.contains(needle))
            .await
    }
}

pub struct Setup {
    pub endpoint: String,
    pub token: String,
    pub width: u16,
    pub height: u16,
    pub lang: Lang,
}

impl Setup {
    pub fn new(endpoint: String, token: &str) -> Setup {
        Setup {
            endpoint,
            token: token.to_string(),
            width: 100,
            height: 30,
            lang: Lang::En,
        }
    }
}

/// Runs the console loop against `setup.endpoint` while `script` plays the user; returns how
/// the loop ended once both are done (the script ending is the end of input).
pub async fn run<F, Fut>(setup: Setup, script: F) -> Exit
where
    F: FnOnce(Console) -> Fut,
    Fut: Future<Output = ()>,
{
    let client = Client::new(&ClientOptions::new(
        setup.endpoint.clone(),
        Secret::new(setup.token.clone()),
    ))
    .unwrap_or_else(|e| panic!("client: {e}"));
    let mut model = Model::new(Options {
        lang: setup.lang,
        colors: ragkeys::console::terminal::caps::ColorDepth::Indexed256,
        tz: Tz::Fixed(FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!())),
        connection: ragkeys::console::connection_label(&setup.endpoint),
    });
    let (tx, rx) = watch::channel(Frame::default());
    let backend = Observed {
        inner: TestBackend::new(setup.width, setup.height),
        draws: 0,
        clears: 0,
        tx,
    };
    let mut terminal = Terminal::new(ragkeys::console::scroll::Tracked::new(backend))
        .unwrap_or_else(|e| panic!("{e}"));
    let (etx, mut erx) = mpsc::unbounded_channel::<io::Result<Event>>();
    let events = futures_util::stream::poll_fn(move |cx| erx.poll_recv(cx));
    let output = Output::default();
    let mut out = output.clone();
    let clipboard = Clipboard::new(ClipboardMode::Osc52, 30);
    let (job_tx, job_rx) = mpsc::unbounded_channel();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let mut job = RecordedJob(recorded.clone());
    let console = Console {
        events: etx,
        screen: rx,
        output,
        job_signals: job_tx,
        job: recorded,
    };
    let looped = app::run(
        &mut model,
        Io {
            terminal: &mut terminal,
            osc52: &mut out,
            client: &client,
            clipboard: &clipboard,
            job: &mut job,
            job_signals: job_rx,
        },
        events,
        std::future::pending(),
    );
    let (exit, ()) = tokio::join!(looped, script(console));
    exit.unwrap_or_else(|e| panic!("the loop failed: {e}"))
}
