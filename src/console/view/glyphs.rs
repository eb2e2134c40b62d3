//! The marks the view draws itself, in UTF-8 or as 7-bit ASCII stand-ins: box borders, chart
//! bars, and any text (docs/console.md, Locale). Styles stay the theme's.

use std::borrow::Cow;

use ratatui::symbols::{bar, border};

use crate::charset::Charset;

/// `+-|` boxes.
const ASCII_BORDER: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// Chart bars from low to high, the same stand-ins as the CLI's charts.
const ASCII_BARS: bar::Set = bar::Set {
    full: "#",
    seven_eighths: "*",
    three_quarters: "+",
    five_eighths: "=",
    half: "-",
    three_eighths: ":",
    one_quarter: ".",
    one_eighth: "_",
    empty: " ",
};

#[derive(Debug, Clone, Copy, Default)]
pub struct Glyphs(pub Charset);

impl Glyphs {
    pub fn border(self) -> border::Set<'static> {
        match self.0 {
            Charset::Utf8 => border::PLAIN,
            Charset::Ascii => ASCII_BORDER,
        }
    }

    pub fn bars(self) -> bar::Set<'static> {
        match self.0 {
            Charset::Utf8 => bar::NINE_LEVELS,
            Charset::Ascii => ASCII_BARS,
        }
    }

    /// What ends a cut string.
    pub fn ellipsis(self) -> &'static str {
        match self.0 {
            Charset::Utf8 => "…",
            Charset::Ascii => "...",
        }
    }

    /// Text as the terminal can show it: ASCII stand-ins and `?` where only ASCII may go.
    pub fn text(self, s: &str) -> Cow<'_, str> {
        self.0.text(s)
    }
}
