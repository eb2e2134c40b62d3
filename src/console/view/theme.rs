//! Colors, or with `NO_COLOR` a monochrome theme whose focus and selection still show (reverse,
//! bold, and the `>` marker the view draws in both themes).

use ratatui::style::{Color, Modifier, Style};

use crate::console::layout::Tone;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub mono: bool,
    /// What marks and text are drawn with (UTF-8 or ASCII); apart from the styles.
    pub glyphs: super::glyphs::Glyphs,
}

impl Theme {
    fn pick(&self, color: Style, mono: Style) -> Style {
        if self.mono { mono } else { color }
    }

    pub fn header(&self) -> Style {
        self.pick(
            Style::new().bg(Color::Blue).fg(Color::White),
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
        self.pick(
            Style::new().fg(Color::DarkGray),
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
        match (self.mono, focused) {
            (false, true) => Style::new().bg(Color::Blue).fg(Color::White),
            (false, false) => Style::new().bg(Color::DarkGray),
            (true, true) => Style::new().add_modifier(Modifier::REVERSED),
            (true, false) => Style::new().add_modifier(Modifier::BOLD),
        }
    }

    pub fn disabled(&self) -> Style {
        self.pick(
            Style::new().fg(Color::DarkGray),
            Style::new().add_modifier(Modifier::DIM | Modifier::CROSSED_OUT),
        )
    }

    pub fn destructive(&self, focused: bool) -> Style {
        match (self.mono, focused) {
            (false, true) => Style::new()
                .bg(Color::Red)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            (false, false) => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            (true, true) => Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            (true, false) => Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        }
    }

    pub fn field(&self, focused: bool) -> Style {
        match (self.mono, focused) {
            (false, true) => Style::new()
                .bg(Color::DarkGray)
                .fg(Color::White)
                .add_modifier(Modifier::UNDERLINED),
            (false, false) => Style::new().add_modifier(Modifier::UNDERLINED),
            (true, true) => Style::new().add_modifier(Modifier::UNDERLINED | Modifier::BOLD),
            (true, false) => Style::new().add_modifier(Modifier::UNDERLINED),
        }
    }

    /// The bars of a Details chart: calls in green, refused calls in the caution's yellow (their
    /// row label says which is which without colour).
    pub fn spark(&self, refused: bool) -> Style {
        match (self.mono, refused) {
            (false, false) => Style::new().fg(Color::Green),
            (false, true) => Style::new().fg(Color::Yellow),
            (true, _) => Style::new(),
        }
    }

    pub fn tone(&self, t: Tone) -> Style {
        match t {
            Tone::Normal => Style::new(),
            Tone::Bold => self.bold(),
            Tone::Dim => self.dim(),
            Tone::Note | Tone::Caution => self.pick(
                Style::new().fg(Color::Yellow),
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
