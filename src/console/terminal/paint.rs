//! Writing a frame's cells in the colours the terminal has (docs/console.md, Terminal
//! capabilities). crossterm writes every named colour as a 256-colour code (`38;5;4` for blue),
//! which an 8-colour terminal misreads and a monochrome one shows as garbage or ignores; so
//! below 256 colours the cells are written here, with the 8 (or 16) classic codes, or with no
//! colour code at all. From 256 colours up, crossterm writes them as it always has.

use std::io::{self, Write};
use std::ops::Range;

use crossterm::cursor::MoveTo;
use crossterm::queue;
use crossterm::style::Print;
use ratatui::backend::{Backend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use ratatui::style::{Color, Modifier};

use super::caps::ColorDepth;

/// crossterm's backend, with the cells drawn at the terminal's colour depth.
pub struct Painted<W: Write> {
    inner: CrosstermBackend<W>,
    depth: ColorDepth,
}

impl<W: Write> Painted<W> {
    pub fn new(writer: W, depth: ColorDepth) -> Painted<W> {
        Painted {
            inner: CrosstermBackend::new(writer),
            depth,
        }
    }
}

impl<W: Write> Backend for Painted<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        if self.depth >= ColorDepth::Indexed256 {
            return self.inner.draw(content);
        }
        // crossterm's backend is a writer to the terminal as well.
        draw_cells(&mut self.inner, self.depth, content)
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        self.inner.append_lines(n)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor()
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.inner.show_cursor()
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> io::Result<Size> {
        self.inner.size()
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
        Backend::flush(&mut self.inner)
    }

    fn scroll_region_up(&mut self, region: Range<u16>, amount: u16) -> io::Result<()> {
        self.inner.scroll_region_up(region, amount)
    }

    fn scroll_region_down(&mut self, region: Range<u16>, amount: u16) -> io::Result<()> {
        self.inner.scroll_region_down(region, amount)
    }
}

/// What the terminal is set to between two cells.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Pen {
    modifier: Modifier,
    fg: Color,
    bg: Color,
}

const PLAIN: Pen = Pen {
    modifier: Modifier::empty(),
    fg: Color::Reset,
    bg: Color::Reset,
};

/// Writes `content` as crossterm's backend does (a cursor move only where cells are not
/// adjacent), with the colours of `depth` (below 256) and the attributes as SGR codes.
pub fn draw_cells<'a, W, I>(w: &mut W, depth: ColorDepth, content: I) -> io::Result<()>
where
    W: Write,
    I: Iterator<Item = (u16, u16, &'a Cell)>,
{
    let mut pen = PLAIN;
    let mut last: Option<(u16, u16)> = None;
    for (x, y, cell) in content {
        if !matches!(last, Some((lx, ly)) if x == lx + 1 && y == ly) {
            queue!(w, MoveTo(x, y))?;
        }
        last = Some((x, y));
        let next = match depth {
            ColorDepth::None => Pen {
                modifier: cell.modifier,
                ..PLAIN
            },
            _ => Pen {
                modifier: cell.modifier,
                fg: cell.fg,
                bg: cell.bg,
            },
        };
        if next != pen {
            let params = sgr(pen, next, depth);
            if !params.is_empty() {
                write!(w, "\x1b[{params}m")?;
            }
            pen = next;
        }
        queue!(w, Print(cell.symbol()))?;
    }
    if pen != PLAIN {
        w.write_all(b"\x1b[0m")?;
    }
    Ok(())
}

/// The SGR parameters that take the terminal from `from` to `to`. Taking an attribute away
/// starts from a reset (`0`), the one way every terminal since the VT100 understands.
fn sgr(from: Pen, to: Pen, depth: ColorDepth) -> String {
    let mut p: Vec<String> = Vec::new();
    let removed = !(from.modifier - to.modifier).is_empty();
    let (added, fg, bg) = if removed {
        p.push("0".into());
        (
            to.modifier,
            (to.fg != Color::Reset).then_some(to.fg),
            (to.bg != Color::Reset).then_some(to.bg),
        )
    } else {
        (
            to.modifier - from.modifier,
            (to.fg != from.fg).then_some(to.fg),
            (to.bg != from.bg).then_some(to.bg),
        )
    };
    for (m, code) in [
        (Modifier::BOLD, "1"),
        (Modifier::DIM, "2"),
        (Modifier::ITALIC, "3"),
        (Modifier::UNDERLINED, "4"),
        (Modifier::SLOW_BLINK, "5"),
        (Modifier::RAPID_BLINK, "6"),
        (Modifier::REVERSED, "7"),
        (Modifier::HIDDEN, "8"),
        (Modifier::CROSSED_OUT, "9"),
    ] {
        if added.contains(m) {
            p.push(code.into());
        }
    }
    if depth != ColorDepth::None {
        if let Some(c) = fg {
            p.push(color_code(c, true, depth));
        }
        if let Some(c) = bg {
            p.push(color_code(c, false, depth));
        }
    }
    p.join(";")
}

/// The SGR code of colour `c` (foreground or background) with the 8 or 16 classic colours.
fn color_code(c: Color, fg: bool, depth: ColorDepth) -> String {
    let base = if fg { 30 } else { 40 };
    let Some(i) = classic(c, depth) else {
        return (base + 9).to_string();
    };
    if i < 8 {
        (base + i).to_string()
    } else {
        (base + 60 + i - 8).to_string()
    }
}

/// The classic palette's index (0–15) for `c`, within 0–7 at 8 colours; `None` for the default.
fn classic(c: Color, depth: ColorDepth) -> Option<u8> {
    let i = match c {
        Color::Reset => return None,
        Color::Black => 0,
        Color::Red => 1,
        Color::Green => 2,
        Color::Yellow => 3,
        Color::Blue => 4,
        Color::Magenta => 5,
        Color::Cyan => 6,
        Color::Gray => 7,
        Color::DarkGray => 8,
        Color::LightRed => 9,
        Color::LightGreen => 10,
        Color::LightYellow => 11,
        Color::LightBlue => 12,
        Color::LightMagenta => 13,
        Color::LightCyan => 14,
        Color::White => 15,
        Color::Indexed(n) if n < 16 => n,
        Color::Indexed(n) => nearest(indexed_rgb(n), depth),
        Color::Rgb(r, g, b) => nearest((r, g, b), depth),
    };
    Some(match (depth, i) {
        // Bright black is grey: the nearer of the two at 8 colours.
        (ColorDepth::Basic8, 8) => 7,
        (ColorDepth::Basic8, i) if i > 8 => i - 8,
        (_, i) => i,
    })
}

/// xterm's values of the 16 classic colours.
const CLASSIC_RGB: [(u8, u8, u8); 16] = [
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
];

/// The colour of entry `n` (16–255) of the 256-colour palette: a 6×6×6 cube, then 24 greys.
fn indexed_rgb(n: u8) -> (u8, u8, u8) {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    if n >= 232 {
        let v = 8 + 10 * (n - 232);
        return (v, v, v);
    }
    let v = n.saturating_sub(16);
    (
        LEVELS[usize::from(v / 36)],
        LEVELS[usize::from(v / 6 % 6)],
        LEVELS[usize::from(v % 6)],
    )
}

/// The classic colour nearest to `rgb`, among the first 8 at 8 colours.
fn nearest(rgb: (u8, u8, u8), depth: ColorDepth) -> u8 {
    let n = if depth == ColorDepth::Basic8 { 8 } else { 16 };
    let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
    (0..n)
        .min_by_key(|&i| {
            let c = CLASSIC_RGB[i];
            d(rgb.0, c.0) + d(rgb.1, c.1) + d(rgb.2, c.2)
        })
        .unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Style;

    fn cells(styles: &[(&'static str, Style)]) -> Vec<Cell> {
        styles
            .iter()
            .map(|(s, st)| {
                let mut c = Cell::new(s);
                c.set_style(*st);
                c
            })
            .collect()
    }

    fn drawn(depth: ColorDepth, cells: &[Cell]) -> String {
        let mut out = Vec::new();
        let content = cells.iter().enumerate().map(|(x, c)| (x as u16, 0, c));
        draw_cells(&mut out, depth, content).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn eight_colours_get_the_classic_codes_and_no_bright_ones() {
        let c = cells(&[
            ("a", Style::new().fg(Color::Blue).bg(Color::Cyan)),
            ("b", Style::new().fg(Color::White).bg(Color::DarkGray)),
            ("c", Style::new().fg(Color::Indexed(196))),
            ("d", Style::new()),
        ]);
        assert_eq!(
            drawn(ColorDepth::Basic8, &c),
            "\x1b[1;1H\x1b[34;46ma\x1b[37;47mb\x1b[31;49mc\x1b[39md"
        );
        assert_eq!(
            drawn(ColorDepth::Basic16, &c),
            "\x1b[1;1H\x1b[34;46ma\x1b[97;100mb\x1b[91;49mc\x1b[39md"
        );
    }

    #[test]
    fn without_colour_only_attributes_are_written() {
        let c = cells(&[
            (
                "a",
                Style::new()
                    .fg(Color::Blue)
                    .add_modifier(Modifier::REVERSED),
            ),
            (
                "b",
                Style::new()
                    .bg(Color::Red)
                    .add_modifier(Modifier::REVERSED | Modifier::BOLD),
            ),
            (
                "c",
                Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
            ),
            ("d", Style::new().fg(Color::Yellow)),
        ]);
        assert_eq!(
            drawn(ColorDepth::None, &c),
            "\x1b[1;1H\x1b[7ma\x1b[1mb\x1b[0;1mc\x1b[0md"
        );
        // Nothing styled: not one SGR code.
        let plain = cells(&[("x", Style::new().fg(Color::Red)), ("y", Style::new())]);
        assert_eq!(drawn(ColorDepth::None, &plain), "\x1b[1;1Hxy");
    }

    #[test]
    fn a_gap_moves_the_cursor() {
        let c = cells(&[("a", Style::new()), ("b", Style::new())]);
        let mut out = Vec::new();
        let content = [(0u16, 0u16, &c[0]), (5, 2, &c[1])].into_iter();
        draw_cells(&mut out, ColorDepth::None, content).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "\x1b[1;1Ha\x1b[3;6Hb");
    }
}
