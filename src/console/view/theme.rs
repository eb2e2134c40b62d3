//! Colours, as many as the terminal has (docs/console.md, Terminal capabilities): the full
//! theme, the same with the 8 basic colours only (no grey or bright variants), or without colour
//! (no terminfo colours, or `NO_COLOR`), whose focus and selection still show (reverse, bold,
//! and the `>` marker the view draws in every theme).

use ratatui::style::{Color, Modifier, Style};

use crate::console::layout::Tone;
use crate::console::terminal::caps::ColorDepth;

/// Which of the three looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Palette {
    Full,
    Basic,
    Mono,
}

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    palette: Palette,
    /// What marks and text are drawn with (UTF-8 or ASCII); apart from the styles.
    pub glyphs: super::glyphs::Glyphs,
}

impl Theme {
    pub fn new(colors: ColorDepth, glyphs: super::glyphs::Glyphs) -> Theme {
        let palette = match colors {
            ColorDepth::None => Palette::Mono,
            ColorDepth::Basic8 => Palette::Basic,
            _ => Palette::Full,
        };
        Theme { palette, glyphs }
    }

    fn pick(&self, color: Style, mono: Style) -> Style {
        if self.palette == Palette::Mono {
            mono
        } else {
            color
        }
    }

    /// Three looks: the full one, the 8-colour one, monochrome.
    fn pick3(&self, full: Style, basic: Style, mono: Style) -> Style {
        match self.palette {
            Palette::Full => full,
            Palette::Basic => basic,
            Palette::Mono => mono,
        }
    }

    pub fn header(&self) -> Style {
        self.pick3(
            Style::new().bg(Color::Blue).fg(Color::White),
            Style::new().bg(Color::Blue).fg(Color::Gray),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }

    pub fn badge(&self) -> Style {
        self.pick(
            Style::new()
                .bg(Color::Green)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    pub fn dim(&self) -> Style {
        self.pick3(
            Style::new().fg(Color::DarkGray),
            Style::new().add_modifier(Modifier::DIM),
            Style::new().add_modifier(Modifier::DIM),
        )
    }

    pub fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn border(&self) -> Style {
        self.pick(Style::new().fg(Color::Gray), Style::new())
    }

    pub fn focus(&self) -> Style {
        self.pick(
            Style::new()
                .bg(Color::Cyan)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    }

    /// The selected row: strong while the table has the focus, a hint otherwise.
    pub fn selected(&self, focused: bool) -> Style {
        match (self.palette, focused) {
            (Palette::Full, true) => Style::new().bg(Color::Blue).fg(Color::White),
            (Palette::Full, false) => Style::new().bg(Color::DarkGray),
            (Palette::Basic, true) => Style::new().bg(Color::Blue).fg(Color::Gray),
            (Palette::Mono, true) => Style::new().add_modifier(Modifier::REVERSED),
            (Palette::Basic | Palette::Mono, false) => Style::new().add_modifier(Modifier::BOLD),
        }
    }

    /// A button or menu item that cannot be chosen now; the view also marks it with `-`, so that
    /// it reads without any style (docs/console.md, Terminal capabilities).
    pub fn disabled(&self) -> Style {
        self.pick3(
            Style::new().fg(Color::DarkGray),
            Style::new().add_modifier(Modifier::DIM),
            Style::new().add_modifier(Modifier::DIM | Modifier::CROSSED_OUT),
        )
    }

    pub fn destructive(&self, focused: bool) -> Style {
        match (self.palette, focused) {
            (Palette::Full, true) => Style::new()
                .bg(Color::Red)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            (Palette::Basic, true) => Style::new()
                .bg(Color::Red)
                .fg(Color::Gray)
                .add_modifier(Modifier::BOLD),
            (Palette::Full | Palette::Basic, false) => {
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
            }
            (Palette::Mono, true) => Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            (Palette::Mono, false) => {
                Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
            }
        }
    }

    pub fn field(&self, focused: bool) -> Style {
        match (self.palette, focused) {
            (Palette::Full, true) => Style::new()
                .bg(Color::DarkGray)
                .fg(Color::White)
                .add_modifier(Modifier::UNDERLINED),
            (Palette::Basic | Palette::Mono, true) => {
                Style::new().add_modifier(Modifier::UNDERLINED | Modifier::BOLD)
            }
            (_, false) => Style::new().add_modifier(Modifier::UNDERLINED),
        }
    }

    /// The bars of a Details chart: calls in green, refused calls in the caution's yellow (their
    /// row label says which is which without colour).
    pub fn spark(&self, refused: bool) -> Style {
        match (self.palette, refused) {
            (Palette::Mono, _) => Style::new(),
            (_, false) => Style::new().fg(Color::Green),
            (_, true) => Style::new().fg(Color::Yellow),
        }
    }

    pub fn tone(&self, t: Tone) -> Style {
        match t {
            Tone::Normal => Style::new(),
            Tone::Bold => self.bold(),
            Tone::Dim => self.dim(),
            // A warning is bold in every theme, so that it reads without its colour too.
            Tone::Note | Tone::Caution => self.pick(
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Tone::Error => self.pick(
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Tone::Success => self.pick(Style::new().fg(Color::Green), Style::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every style of every theme, for a look at which colours each uses.
    fn all(t: &Theme) -> Vec<Style> {
        let mut v = vec![
            t.header(),
            t.badge(),
            t.dim(),
            t.bold(),
            t.border(),
            t.focus(),
            t.disabled(),
        ];
        for b in [false, true] {
            v.extend([t.selected(b), t.destructive(b), t.field(b), t.spark(b)]);
        }
        for tone in [
            Tone::Normal,
            Tone::Bold,
            Tone::Dim,
            Tone::Note,
            Tone::Caution,
            Tone::Error,
            Tone::Success,
        ] {
            v.push(t.tone(tone));
        }
        v
    }

    #[test]
    fn eight_colours_use_no_grey_or_bright_variant_and_monochrome_no_colour() {
        let basic = [
            Color::Black,
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
            Color::Gray,
        ];
        for s in all(&Theme::new(ColorDepth::Basic8, Default::default())) {
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(basic.contains(&c), "{c:?} in {s:?}");
            }
        }
        for s in all(&Theme::new(ColorDepth::None, Default::default())) {
            assert_eq!((s.fg, s.bg), (None, None), "{s:?}");
        }
    }
}
