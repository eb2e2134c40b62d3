//! What the console writes to a real pseudo-terminal when a long list scrolls, read back through
//! a terminal emulator (the `vt100` crate): the screen is right after every key, equal to a full
//! redraw at checkpoints, and a step of `j` costs few bytes (issue 7, "Long lists over SSH").
//!
//! Byte counts are exact and deterministic here: every key waits for its frame, so each key is
//! drawn alone, and ids, names and dates have fixed widths.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::api::Api;
use crate::common::{BIN, Server};
use reqwest::Method;

/// How many services the issue's case has: the service limit.
const SERVICES: usize = 999;

struct Screen {
    parser: vt100::Parser,
    raw: Vec<u8>,
    bytes: usize,
    last_byte: Instant,
}

/// The console on a pseudo-terminal, its output parsed as a terminal would.
/// Also drives the slow-link cases (`slow_links.rs`): bytes written exactly as a network splits them.
pub(crate) struct Console {
    child: Child,
    master: std::fs::File,
    screen: Arc<Mutex<Screen>>,
    size: (u16, u16),
}

fn nz(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).expect("a terminal has at least one row and column")
}

fn set_size(fd: i32, cols: u16, rows: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which lives across the call.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    assert_eq!(rc, 0, "TIOCSWINSZ");
}

impl Console {
    pub(crate) fn start(server: &Server, home: &std::path::Path, cols: u16, rows: u16) -> Console {
        Self::start_term(server, home, cols, rows, "xterm-256color")
    }

    fn start_term(
        server: &Server,
        home: &std::path::Path,
        cols: u16,
        rows: u16,
        term: &str,
    ) -> Console {
        Self::start_with(
            server,
            home,
            (cols, rows),
            &[("TERM", term)],
            &["--lang", "en"],
        )
    }

    /// The console with `env` on top of a clean environment (`LANG=C.UTF-8`; no `TERM` unless
    /// `env` sets one) and `args` after `--endpoint`.
    pub(crate) fn start_with(
        server: &Server,
        home: &std::path::Path,
        (cols, rows): (u16, u16),
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Console {
        let (master, slave) = crate::common::pty::open();
        set_size(slave.as_raw_fd(), cols, rows);
        let mut cmd = Command::new(BIN);
        cmd.args(["--endpoint", &server.url()])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("LANG", "C.UTF-8")
            .env("RAGKEYS_TOKEN", &server.token)
            .envs(env.iter().copied())
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec: a new session whose
        // controlling terminal is the pty, so a resize signals the console as a real one would.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn the console");
        let master = std::fs::File::from(master);
        let screen = Arc::new(Mutex::new(Screen {
            parser: vt100::Parser::new(nz(rows), nz(cols), 0),
            raw: Vec::new(),
            bytes: 0,
            last_byte: Instant::now(),
        }));
        let mut reader = master.try_clone().unwrap();
        let shared = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = shared.lock().unwrap();
                s.parser.process(&buf[..n]);
                s.raw.extend_from_slice(&buf[..n]);
                s.bytes += n;
                s.last_byte = Instant::now();
            }
        });
        Console {
            child,
            master,
            screen,
            size: (cols, rows),
        }
    }

    pub(crate) fn send(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// Whether the console has set a scroll region (DECSTBM, `ESC[top;bottomr`).
    fn set_scroll_region(&self) -> bool {
        let s = self.screen.lock().unwrap();
        let text = String::from_utf8_lossy(&s.raw);
        text.split("\x1b[").any(|seq| {
            let (params, rest) = seq.split_at(
                seq.find(|c: char| !c.is_ascii_digit() && c != ';')
                    .unwrap_or(seq.len()),
            );
            params.contains(';') && rest.starts_with('r')
        })
    }

    /// Every byte the console has written so far.
    pub(crate) fn raw(&self) -> Vec<u8> {
        self.screen.lock().unwrap().raw.clone()
    }

    fn bytes(&self) -> usize {
        self.screen.lock().unwrap().bytes
    }

    pub(crate) fn rows(&self) -> Vec<String> {
        let s = self.screen.lock().unwrap();
        s.parser.screen().rows(0, self.size.0).collect()
    }

    /// Waits (generously: the machine is shared) until the screen satisfies `pred`.
    pub(crate) fn wait(&mut self, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let rows = self.rows();
            if pred(&rows) {
                return rows;
            }
            if Instant::now() > end {
                // What a full redraw shows tells a wrong screen from a wrong expectation.
                let _ = self.full_redraw();
                panic!(
                    "timed out waiting for {what}:\n{}\n\nredrawn in full:\n{}",
                    rows.join("\n"),
                    self.rows().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until nothing has been written for a while: the frame in progress is complete.
    pub(crate) fn settle(&self) {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let quiet = self.screen.lock().unwrap().last_byte.elapsed();
            if quiet > Duration::from_millis(400) {
                return;
            }
            assert!(Instant::now() < end, "the console never stopped writing");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every cell as it looks: its text and attributes; a blank cell by what shows on a blank
    /// (background, inverse, underline), whether or not it was ever written to.
    fn cells(&self) -> Vec<String> {
        let s = self.screen.lock().unwrap();
        let screen = s.parser.screen();
        let (rows, cols) = screen.size();
        let mut out = Vec::new();
        for y in 0..rows.get() {
            let mut line = String::new();
            for x in 0..cols.get() {
                let Some(c) = screen.cell(y, x) else {
                    continue;
                };
                let text = c.contents();
                let look = if text.trim().is_empty() {
                    format!("[ {:?} {} {}]", c.bgcolor(), c.inverse(), c.underline())
                } else {
                    format!(
                        "[{text} {:?} {:?} {} {} {} {}]",
                        c.fgcolor(),
                        c.bgcolor(),
                        c.bold(),
                        c.italic(),
                        c.inverse(),
                        c.underline()
                    )
                };
                line.push_str(&look);
            }
            out.push(line);
        }
        out
    }

    /// Resizes the pty and tells the console (as the kernel does for a controlling terminal).
    fn resize(&mut self, cols: u16, rows: u16) {
        set_size(self.master.as_raw_fd(), cols, rows);
        self.screen
            .lock()
            .unwrap()
            .parser
            .screen_mut()
            .set_size(nz(rows), nz(cols));
        self.size = (cols, rows);
    }

    /// The screen as a full redraw gives it: a width change and back clears and redraws all.
    fn full_redraw(&mut self) -> Vec<String> {
        let (cols, rows) = self.size;
        self.resize_and_wait(cols + 1, rows);
        self.resize_and_wait(cols, rows);
        self.cells()
    }

    /// Resizes, waits for the console to start redrawing and then to finish.
    fn resize_and_wait(&mut self, cols: u16, rows: u16) {
        let before = self.bytes();
        self.resize(cols, rows);
        let end = Instant::now() + Duration::from_secs(30);
        while self.bytes() == before {
            assert!(Instant::now() < end, "no redraw after a resize");
            std::thread::sleep(Duration::from_millis(5));
        }
        self.settle();
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn name(i: usize) -> String {
    format!("long-{i:03}")
}

/// The table's rows: (screen line, service index, selected) for every line showing a service.
fn table(rows: &[String]) -> Vec<(usize, usize, bool)> {
    rows.iter()
        .enumerate()
        .filter_map(|(y, r)| {
            let at = r.find("long-")?;
            let i: usize = r.get(at + 5..at + 8)?.parse().ok()?;
            let selected = r.trim_start_matches('│').starts_with('>');
            Some((y, i, selected))
        })
        .collect()
}

/// What is wrong with the screen, if anything: the list must be whole and in order from position
/// `offset` of `order` (service numbers in the list's order), the one at `selected` marked and
/// nothing else, and the lines above the table as in `frame`.
fn rows_problem(
    rows: &[String],
    order: &[usize],
    offset: usize,
    selected: usize,
    frame: &[String],
) -> Option<String> {
    let t = table(rows);
    let first_line = t.first()?.0;
    for (k, (y, i, sel)) in t.iter().enumerate() {
        if (*y, *i) != (first_line + k, order[offset + k]) {
            return Some(format!("rows out of order at line {y}"));
        }
        if *sel != (offset + k == selected) {
            return Some(format!("selection on line {y}"));
        }
        if !(rows[*y].starts_with('│') && rows[*y].trim_end().ends_with('│')) {
            return Some(format!("border on line {y}"));
        }
    }
    // Everything above the table and the table's bottom border are as first drawn.
    let trimmed = |r: &[String]| {
        r.iter()
            .map(|l| l.trim_end().to_string())
            .collect::<Vec<_>>()
    };
    if trimmed(&rows[..first_line]) != trimmed(&frame[..first_line]) {
        return Some("the lines above the table changed".into());
    }
    let bottom = first_line + t.len();
    if offset + t.len() < order.len() && !rows[bottom].starts_with('└') {
        return Some("no bottom border".into());
    }
    None
}

/// Waits until the screen shows the list from `offset` with `selected` marked (see
/// [`rows_problem`]). Waiting for the whole screen rather than checking the first capture that
/// shows the selection: the capture may fall between two reads of one frame.
fn wait_rows(c: &mut Console, order: &[usize], offset: usize, selected: usize, frame: &[String]) {
    c.wait(
        &format!("{} selected, the list from {offset}", name(order[selected])),
        |r| !table(r).is_empty() && rows_problem(r, order, offset, selected, frame).is_none(),
    );
}

async fn seed(server: &Server) {
    let api = Api::new(server);
    // The service's limit counts every service; seed in a few parallel streams.
    let mut tasks = Vec::new();
    for stream in 0..4 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            for i in (stream..SERVICES).step_by(4) {
                let body =
                    serde_json::json!({"name": name(i), "description": format!("service {i}")});
                let r = api.call(Method::POST, "/v1/services", Some(body)).await;
                assert_eq!(r.status, 201, "{}", r.text);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// A service holding 999 services, and their numbers in the list's order (creation order; the
/// parallel seeding interleaves the names).
async fn seeded() -> (Server, Vec<usize>) {
    let server = Server::start();
    seed(&server).await;
    let listed = Api::new(&server).get("/v1/services").await.json();
    let order: Vec<usize> = listed["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap()[5..].parse().unwrap())
        .collect();
    assert_eq!(order.len(), SERVICES);
    (server, order)
}

/// 50 × `j` from the top: the screen after each, and the bytes it took in all.
fn fifty_j(c: &mut Console, order: &[usize]) -> usize {
    c.wait("the list", |r| table(r).first().is_some_and(|t| t.2));
    c.settle();
    let frame = c.rows();
    let capacity = table(&frame).len();
    let before = c.bytes();
    for step in 1..=50usize {
        c.send(b"j");
        let offset = step.saturating_sub(capacity - 1);
        wait_rows(c, order, offset, step, &frame);
    }
    c.settle();
    c.bytes() - before
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_list_scrolls_in_few_bytes_and_shows_the_right_rows() {
    ragkeys::client::install_crypto_provider();
    let (server, order) = seeded().await;
    let home = tempfile::tempdir().unwrap();

    for (cols, rows) in [(100, 30), (80, 24), (200, 60)] {
        let mut c = Console::start(&server, home.path(), cols, rows);
        let total = fifty_j(&mut c, &order);
        assert_eq!(
            c.set_scroll_region(),
            rows < 60,
            "{cols}×{rows}: scrolled by the terminal"
        );
        // Before: 34,130 B at 100×30 (682 B a key), 19,569 B at 80×24.
        assert!(
            total < 50 * 200,
            "{cols}×{rows}: {total} B for 50 × j ({} B a key)",
            total / 50
        );
        // The screen the scrolling left is exactly what a full redraw draws.
        let incremental = c.cells();
        assert_eq!(
            incremental,
            c.full_redraw(),
            "{cols}×{rows}: not what a full redraw draws"
        );
    }
}

/// The list's navigation as docs/console.md has it (the selection moves; the view follows it).
struct Nav {
    selected: usize,
    offset: usize,
    capacity: usize,
    len: usize,
}

impl Nav {
    fn press(&mut self, key: &[u8]) {
        let last = self.len - 1;
        self.selected = match key {
            b"j" | b"\x1b[B" => (self.selected + 1).min(last),
            b"k" | b"\x1b[A" => self.selected.saturating_sub(1),
            b"g" => 0,
            b"G" => last,
            b"\x1b[6~" => (self.selected + self.capacity).min(last),
            b"\x1b[5~" => self.selected.saturating_sub(self.capacity),
            _ => unreachable!(),
        };
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + self.capacity {
            self.offset = self.selected + 1 - self.capacity;
        }
    }
}

/// Presses each key, checking the screen after each, then compares with a full redraw.
fn walk(c: &mut Console, list: &[usize], nav: &mut Nav, keys: &[&[u8]], frame: &[String]) {
    for key in keys {
        nav.press(key);
        c.send(key);
        wait_rows(c, list, nav.offset, nav.selected, frame);
    }
    c.settle();
    let incremental = c.cells();
    assert_eq!(
        incremental,
        c.full_redraw(),
        "after {keys:?}: not what a full redraw draws"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_way_through_a_long_list_leaves_the_screen_a_full_redraw_would() {
    ragkeys::client::install_crypto_provider();
    let (server, order) = seeded().await;
    let home = tempfile::tempdir().unwrap();
    let mut c = Console::start(&server, home.path(), 100, 30);
    c.wait("the list", |r| table(r).first().is_some_and(|t| t.2));
    c.settle();
    let frame = c.rows();
    let capacity = table(&frame).len();
    let mut nav = Nav {
        selected: 0,
        offset: 0,
        capacity,
        len: order.len(),
    };
    let (j, k, down, up): (&[u8], &[u8], &[u8], &[u8]) = (b"j", b"k", b"\x1b[B", b"\x1b[A");
    let (pgdn, pgup): (&[u8], &[u8]) = (b"\x1b[6~", b"\x1b[5~");
    // Down past the first screenful, back up past its top, by j/k and the arrows.
    walk(&mut c, &order, &mut nav, &[j; 40], &frame);
    walk(&mut c, &order, &mut nav, &[k; 30], &frame);
    walk(&mut c, &order, &mut nav, &[down, down, up, up, up], &frame);
    // Pages, the ends, and single steps from there.
    walk(
        &mut c,
        &order,
        &mut nav,
        &[pgdn, pgdn, pgdn, pgup, j, pgup, pgup],
        &frame,
    );
    walk(
        &mut c,
        &order,
        &mut nav,
        &[b"G", k, k, j, b"g", j, b"G"],
        &frame,
    );
    // A shorter terminal: fewer rows, the same scrolling.
    c.resize_and_wait(100, 24);
    let frame = c.rows();
    nav.capacity = table(&frame).len();
    nav.offset = nav.selected + 1 - nav.capacity;
    walk(&mut c, &order, &mut nav, &[k; 25], &frame);
    walk(&mut c, &order, &mut nav, &[j; 5], &frame);
    // A filtered list scrolls the same way.
    c.send(b"g/long-5");
    c.wait("the filtered list", |r| {
        table(r).iter().all(|t| name(t.1).starts_with("long-5"))
    });
    c.send(b"\r");
    c.settle();
    let filtered: Vec<usize> = order
        .iter()
        .copied()
        .filter(|i| name(*i).starts_with("long-5"))
        .collect();
    let frame = c.rows();
    let mut nav = Nav {
        selected: 0,
        offset: 0,
        capacity: table(&frame).len(),
        len: filtered.len(),
    };
    walk(&mut c, &filtered, &mut nav, &[j; 30], &frame);
    walk(&mut c, &filtered, &mut nav, &[b"G", k, k, k], &frame);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_that_may_not_scroll_regions_gets_whole_rows_and_the_same_screen() {
    ragkeys::client::install_crypto_provider();
    let (server, order) = seeded().await;
    let home = tempfile::tempdir().unwrap();
    let mut c = Console::start_term(&server, home.path(), 100, 30, "dumb");
    fifty_j(&mut c, &order);
    assert!(!c.set_scroll_region(), "TERM=dumb was sent a scroll region");
    let incremental = c.cells();
    assert_eq!(incremental, c.full_redraw());
}
