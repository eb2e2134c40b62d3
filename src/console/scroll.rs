//! Drawing a frame, and scrolling a long list without rewriting it.
//!
//! ratatui writes the cells that differ from the previous frame. When a table's viewport moves by
//! one row, every row differs from the one that was drawn at its place, so each step of `j` at the
//! bottom of a long list rewrote the whole table (620 B a key at 100×30, docs/console.md: "usable over
//! a slow SSH session"). Here the terminal itself moves the rows that stay: the table's rows are
//! set as the scroll region (DECSTBM) and scrolled (SU/SD), and ratatui's previous buffer is
//! shifted the same way, so its diff only writes the rows that came into view and the selection.
//!
//! Why this and not a scrolling policy (scrolloff, paging by half screens): those cut the bytes
//! only by moving the list under the admin's eyes in jumps; the terminal's own scrolling keeps
//! today's navigation, exactly, and every terminal an SSH client offers (xterm and its kin, tmux,
//! screen, the Linux console, PuTTY) has had DECSTBM and SU/SD for decades.
//!
//! Correctness does not depend on guessing right: the previous buffer is shifted exactly as the
//! terminal shifts its lines, so the diff repairs whatever else was on those lines (a popup, the
//! table's side borders), and rows scrolled in are marked so that they are always written. A
//! scroll is only used when it writes fewer cells than not scrolling, and only when the last frame
//! on the screen is known to be this module's: [`Tracked`] notices any clear, resize or draw that
//! went around it (Ctrl-L, a resume from Ctrl-Z, `Terminal::draw`) and the next frame is then an
//! ordinary one.

use std::ops::Range;

use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::{Position, Size};
use ratatui::style::Modifier;

use crate::console::layout::{self, Body, ScreenLayout};
use crate::console::model::Model;
use crate::console::view;

/// A backend that remembers whether the screen still shows the last frame [`draw`] put there.
///
/// Every call is passed on unchanged; a clear, an append, a scroll or a draw that [`draw`] did
/// not announce forgets that frame, so the next one is drawn the ordinary way.
pub struct Tracked<B> {
    inner: B,
    /// The frame on the screen and its table's rows, while known.
    last: Option<Last>,
    /// Set by [`draw`] around its own scroll and flush.
    announced: bool,
    /// The frame being flushed by [`draw`], to fill short gaps in the diff from.
    next: Option<Buffer>,
    /// Whether the cursor is known to be hidden: ratatui hides it on every frame.
    cursor_hidden: bool,
    /// Whether the terminal is known to scroll a region (see [`term_scrolls`]).
    scrolls: bool,
}

/// The last frame drawn by [`draw`], as the terminal shows it.
struct Last {
    buffer: Buffer,
    rows: Option<Rows>,
}

/// Where a table's rows are and which list item the first one shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rows {
    /// Which table (0 Services, 1 API Key management): offsets of two lists do not compare.
    table: u8,
    /// The screen lines the rows may occupy (the table's capacity, not only the filled rows).
    lines: (u16, u16),
    /// Index of the item on the first row.
    offset: usize,
}

impl<B> Tracked<B> {
    /// Wraps `inner`; nothing is known about the screen yet.
    pub fn new(inner: B) -> Tracked<B> {
        Tracked {
            inner,
            last: None,
            announced: false,
            next: None,
            cursor_hidden: false,
            scrolls: true,
        }
    }

    /// Whether to scroll regions at all; without, every frame is an ordinary diff.
    pub fn scrolling(mut self, scrolls: bool) -> Tracked<B> {
        self.scrolls = scrolls;
        self
    }

    /// The wrapped backend (tests read a `TestBackend`'s buffer through it).
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn forget(&mut self) {
        if !self.announced {
            self.last = None;
        }
    }

    /// Forgets everything about the screen (it was cleared, or written around this backend).
    fn forget_all(&mut self) {
        self.last = None;
        self.cursor_hidden = false;
    }
}

impl<B: Backend> Backend for Tracked<B> {
    type Error = B::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.forget();
        match (&self.next, self.announced) {
            (Some(next), true) => self.inner.draw(fill_gaps(content, next).into_iter()),
            _ => self.inner.draw(content),
        }
    }

    fn append_lines(&mut self, n: u16) -> Result<(), Self::Error> {
        self.forget_all();
        self.inner.append_lines(n)
    }

    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        // `ESC[?25l` on every frame is 6 of an arrow key's bytes.
        if self.cursor_hidden {
            return Ok(());
        }
        self.inner.hide_cursor()?;
        self.cursor_hidden = true;
        Ok(())
    }

    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.cursor_hidden = false;
        self.inner.show_cursor()
    }

    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> Result<(), Self::Error> {
        self.forget_all();
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.forget_all();
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }

    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }

    fn scroll_region_up(&mut self, region: Range<u16>, amount: u16) -> Result<(), Self::Error> {
        self.forget();
        self.inner.scroll_region_up(region, amount)
    }

    fn scroll_region_down(&mut self, region: Range<u16>, amount: u16) -> Result<(), Self::Error> {
        self.forget();
        self.inner.scroll_region_down(region, amount)
    }
}

/// Whether a terminal of type `term` (`$TERM`) scrolls regions (DECSTBM with SU/SD). Every
/// terminal type an SSH client or multiplexer announces does (xterm*, screen*, tmux*, linux,
/// rxvt*, vt100 and later, putty, …); the ones that may not are an unset or `dumb`/`unknown`
/// type and the pre-ANSI VT52, where the console falls back to rewriting the rows.
pub fn term_scrolls(term: Option<&str>) -> bool {
    match term.map(str::trim) {
        None | Some("" | "dumb" | "unknown") => false,
        Some(t) => !t.starts_with("vt52"),
    }
}

/// Draws the model: the whole frame is rendered, then only what differs from the screen is
/// written, after scrolling the table's rows on the terminal when that writes less.
///
/// # Errors
/// The backend's, when writing to the terminal fails; the screen is then treated as unknown.
pub fn draw<B: Backend>(terminal: &mut Terminal<Tracked<B>>, m: &Model) -> Result<(), B::Error> {
    // A resize clears the screen (through the backend, which forgets the last frame).
    terminal.autoresize()?;
    let area = terminal.get_frame().area();
    let l = layout::layout(m, area);
    let rows = table_rows(&l);
    let cursor = view::draw(m, &l, terminal.current_buffer_mut());
    let last = terminal.backend_mut().last.take();
    let scrolls = terminal.backend().scrolls;
    if let Some(plan) = last
        .filter(|_| scrolls)
        .and_then(|last| plan(last, rows, terminal.current_buffer_mut()))
    {
        apply(terminal, plan)?;
    }
    let next = terminal.current_buffer_mut().clone();
    let backend = terminal.backend_mut();
    backend.announced = true;
    backend.next = Some(next);
    let done = terminal.apply_buffer_with_cursor(cursor).map(|_| ());
    let backend = terminal.backend_mut();
    backend.announced = false;
    let next = backend.next.take();
    done?;
    backend.last = next.map(|buffer| Last { buffer, rows });
    Ok(())
}

/// The diff's cells, plus the unchanged cells of short gaps between two changes on a line when
/// printing them again costs fewer bytes than moving the cursor over them (`ESC[row;colH`):
/// the selection marker and the highlighted cell beside it are two cells apart.
///
/// Only plain ASCII cells in the style of the change before them are added, so no colour change
/// is written for them and no wide character is split. They show what the screen already shows.
fn fill_gaps<'b, 'a: 'b, I>(content: I, next: &'b Buffer) -> Vec<(u16, u16, &'b Cell)>
where
    I: Iterator<Item = (u16, u16, &'a Cell)>,
{
    let mut out: Vec<(u16, u16, &'b Cell)> = Vec::new();
    for (x, y, cell) in content {
        if let Some(&(px, py, prev)) = out.last()
            && py == y
            && x > px.saturating_add(1)
            && plain(prev)
        {
            let gap = px + 1..x;
            let move_cost = 4 + digits(y + 1) + digits(x + 1);
            let fits = gap.len() < move_cost
                && gap.clone().all(|gx| {
                    next.cell((gx, y))
                        .is_some_and(|c| plain(c) && c.style() == prev.style())
                });
            if fits {
                out.extend(gap.filter_map(|gx| next.cell((gx, y)).map(|c| (gx, y, c))));
            }
        }
        out.push((x, y, cell));
    }
    out
}

/// One printable ASCII character, drawn the ordinary way.
fn plain(c: &Cell) -> bool {
    let s = c.symbol().as_bytes();
    s.len() == 1
        && (0x20..0x7f).contains(&s[0])
        && c.diff_option == ratatui::buffer::CellDiffOption::None
}

fn digits(n: u16) -> usize {
    n.to_string().len()
}

/// Scrolls the terminal as planned and makes the shifted screen ratatui's previous buffer.
fn apply<B: Backend>(terminal: &mut Terminal<Tracked<B>>, plan: Plan) -> Result<(), B::Error> {
    let backend = terminal.backend_mut();
    backend.announced = true;
    let scrolled = if plan.amount > 0 {
        backend.scroll_region_up(plan.region.clone(), plan.lines())
    } else {
        backend.scroll_region_down(plan.region.clone(), plan.lines())
    };
    backend.announced = false;
    scrolled?;
    // ratatui diffs its current buffer against the other one; the other one becomes the
    // shifted screen (swap_buffers clears the outgoing previous, which is stale now anyway).
    let next = std::mem::replace(terminal.current_buffer_mut(), plan.shifted);
    terminal.swap_buffers();
    *terminal.current_buffer_mut() = next;
    Ok(())
}

/// The current table's rows, if the screen shows a table with at least one row.
fn table_rows(l: &ScreenLayout) -> Option<Rows> {
    let table = match &l.body {
        Body::Services(_) => 0,
        Body::Keys(_) => 1,
        Body::TooSmall => return None,
    };
    let t = layout::current_table(l)?;
    let (offset, first) = *t.rows.first()?;
    let height = u16::try_from(t.capacity).ok()?;
    Some(Rows {
        table,
        lines: (first.y, first.y.saturating_add(height)),
        offset,
    })
}

/// A scroll to make before the diff, and the screen as it will be after it.
struct Plan {
    region: Range<u16>,
    /// Lines to scroll: positive moves the content up (the list moved down), negative down.
    amount: i32,
    shifted: Buffer,
}

impl Plan {
    /// How many lines to scroll (less than the region's height, so it fits).
    fn lines(&self) -> u16 {
        u16::try_from(self.amount.unsigned_abs()).unwrap_or(u16::MAX)
    }
}

/// The scroll that moves the rows still in view to their new lines, if it writes fewer cells
/// than drawing over the unscrolled screen.
fn plan(last: Last, rows: Option<Rows>, next: &Buffer) -> Option<Plan> {
    let (before, after) = (last.rows?, rows?);
    if before.table != after.table || before.lines != after.lines || last.buffer.area != next.area {
        return None;
    }
    let height = i64::from(after.lines.1 - after.lines.0);
    let amount = i64::try_from(after.offset).ok()? - i64::try_from(before.offset).ok()?;
    if amount == 0 || amount.abs() >= height {
        return None;
    }
    let amount = i32::try_from(amount).ok()?;
    let region = after.lines.0..after.lines.1;
    let shifted = shift(&last.buffer, region.clone(), amount);
    // The scroll itself costs about as much as writing a few cells (`ESC[t;br ESC[nS ESC[r`).
    const SCROLL_COST: usize = 12;
    if shifted.diff(next).len() + SCROLL_COST < last.buffer.diff(next).len() {
        Some(Plan {
            region,
            amount,
            shifted,
        })
    } else {
        None
    }
}

/// A cell no frame contains, so a line the scroll brings in blank is always written in full,
/// whatever the terminal filled it with.
fn unknown() -> Cell {
    let mut c = Cell::new("\u{FFFF}");
    c.modifier = Modifier::HIDDEN | Modifier::RAPID_BLINK | Modifier::CROSSED_OUT;
    c
}

/// `screen` after its lines `region` moved up by `amount` (down when negative), as SU/SD inside
/// a DECSTBM region move them: whole lines, the ones brought in unknown.
fn shift(screen: &Buffer, region: Range<u16>, amount: i32) -> Buffer {
    let mut out = screen.clone();
    let area = screen.area;
    for y in region.clone() {
        let from = i32::from(y) + amount;
        let source = u16::try_from(from).ok().filter(|f| region.contains(f));
        for x in area.left()..area.right() {
            out[(x, y)] = match source {
                Some(sy) => screen[(x, sy)].clone(),
                None => unknown(),
            };
        }
    }
    out
}

#[cfg(test)]
mod tests;
