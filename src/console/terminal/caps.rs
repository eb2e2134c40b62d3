//! What the terminal can do, as its terminfo entry for `TERM` says (docs/console.md, Terminal
//! capabilities): how many colours, and whether it reports the mouse. An unset `TERM`, `dumb`,
//! or a type with no entry gets neither; `NO_COLOR` turns colour off whatever the entry says.
//!
//! The entry is read with `termini` (the reader helix uses): one small dependency that searches
//! the same directories as ncurses (`TERMINFO`, `~/.terminfo`, `TERMINFO_DIRS`, `/etc`, `/lib`,
//! `/usr/share`) and reads both the legacy and the 32-bit-number formats.

use termini::{NumberCapability, StringCapability, TermInfo};

/// How many colours the console may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColorDepth {
    /// No colour at all: attributes (bold, reverse, underline) only.
    None,
    /// The 8 basic colours (SGR 30–37, 40–47): no bright or grey variants.
    Basic8,
    /// The 8 basic colours and their bright variants (SGR 90–97, 100–107).
    Basic16,
    /// The 256-colour palette (`38;5;N`).
    Indexed256,
    /// 24-bit colour (`38;2;R;G;B`), where `COLORTERM` says so.
    TrueColor,
}

/// What the console switches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub colors: ColorDepth,
    /// The entry has `kmous`: the terminal reports mouse events.
    pub mouse: bool,
}

/// What an entry says, for [`decide`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entry {
    /// `colors` (max_colors), when the entry has it.
    pub colors: Option<i32>,
    /// `kmous` (key_mouse) is present.
    pub kmous: bool,
}

impl Capabilities {
    /// From this process's environment and the terminfo database.
    pub fn detect() -> Capabilities {
        let term = std::env::var("TERM").ok();
        let entry = term.as_deref().and_then(lookup);
        decide(
            term.as_deref(),
            entry,
            std::env::var("COLORTERM").ok().as_deref(),
            no_color(),
        )
    }
}

/// `NO_COLOR` set to anything but the empty string asks for no colour (no-color.org).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The entry of terminal type `term`, if the database has one.
pub fn lookup(term: &str) -> Option<Entry> {
    // A type is a file name in the database: never a path somewhere else (ncurses refuses too).
    if term.is_empty() || term.contains('/') || term.starts_with('.') {
        return None;
    }
    let info = TermInfo::from_name(term).ok()?;
    Some(Entry {
        // Absent numbers read as -1 in the legacy format.
        colors: info
            .number_cap(NumberCapability::MaxColors)
            .filter(|n| *n > 0),
        kmous: info.raw_string_cap(StringCapability::KeyMouse).is_some(),
    })
}

/// The rule of docs/console.md (Terminal capabilities), from what the environment and the
/// entry say.
pub fn decide(
    term: Option<&str>,
    entry: Option<Entry>,
    colorterm: Option<&str>,
    no_color: bool,
) -> Capabilities {
    let none = Capabilities {
        colors: ColorDepth::None,
        mouse: false,
    };
    let Some(term) = term.map(str::trim).filter(|t| !t.is_empty()) else {
        return none;
    };
    // `dumb` has an entry (no colours, no mouse); it is named so that no copied entry changes it.
    if term == "dumb" {
        return none;
    }
    let Some(entry) = entry else {
        return none;
    };
    let truecolor = colorterm.is_some_and(|c| {
        let c = c.trim();
        c.eq_ignore_ascii_case("truecolor") || c.eq_ignore_ascii_case("24bit")
    });
    let colors = match entry.colors.unwrap_or(0) {
        _ if no_color => ColorDepth::None,
        n if n >= 256 && truecolor => ColorDepth::TrueColor,
        n if n >= 256 => ColorDepth::Indexed256,
        n if n >= 16 => ColorDepth::Basic16,
        n if n >= 8 => ColorDepth::Basic8,
        _ => ColorDepth::None,
    };
    Capabilities {
        colors,
        mouse: entry.kmous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(colors: Option<i32>, kmous: bool) -> Option<Entry> {
        Some(Entry { colors, kmous })
    }

    #[test]
    fn colours_follow_the_entry_and_nothing_without_one() {
        let xterm256 = entry(Some(256), true);
        let cases = [
            (
                Some("xterm-256color"),
                xterm256,
                None,
                false,
                ColorDepth::Indexed256,
                true,
            ),
            (
                Some("xterm-256color"),
                xterm256,
                Some("truecolor"),
                false,
                ColorDepth::TrueColor,
                true,
            ),
            (
                Some("xterm-256color"),
                xterm256,
                Some("24bit"),
                false,
                ColorDepth::TrueColor,
                true,
            ),
            (
                Some("xterm-256color"),
                xterm256,
                Some("yes"),
                false,
                ColorDepth::Indexed256,
                true,
            ),
            (
                Some("xterm-256color"),
                xterm256,
                None,
                true,
                ColorDepth::None,
                true,
            ),
            (
                Some("xterm"),
                entry(Some(8), true),
                None,
                false,
                ColorDepth::Basic8,
                true,
            ),
            // An 8-colour entry stays at 8 whatever COLORTERM says.
            (
                Some("xterm"),
                entry(Some(8), true),
                Some("truecolor"),
                false,
                ColorDepth::Basic8,
                true,
            ),
            (
                Some("rxvt-unicode"),
                entry(Some(88), true),
                None,
                false,
                ColorDepth::Basic16,
                true,
            ),
            (
                Some("xterm-16color"),
                entry(Some(16), true),
                None,
                false,
                ColorDepth::Basic16,
                true,
            ),
            (
                Some("vt100"),
                entry(None, false),
                Some("truecolor"),
                false,
                ColorDepth::None,
                false,
            ),
            (
                Some("xterm-mono"),
                entry(None, true),
                None,
                false,
                ColorDepth::None,
                true,
            ),
            (
                Some("dumb"),
                entry(None, false),
                None,
                false,
                ColorDepth::None,
                false,
            ),
            (
                Some("no-such-terminal"),
                None,
                Some("truecolor"),
                false,
                ColorDepth::None,
                false,
            ),
            (
                None,
                None,
                Some("truecolor"),
                false,
                ColorDepth::None,
                false,
            ),
            (Some(""), None, None, false, ColorDepth::None, false),
        ];
        for (term, e, colorterm, no_color, colors, mouse) in cases {
            assert_eq!(
                decide(term, e, colorterm, no_color),
                Capabilities { colors, mouse },
                "{term:?} {e:?} {colorterm:?} NO_COLOR={no_color}"
            );
        }
    }

    #[test]
    fn the_database_is_read_for_the_types_of_this_machine() {
        // Debian's ncurses-base ships these; a type named with a path is never looked up.
        assert!(
            lookup("xterm-256color").is_some(),
            "no terminfo entry for xterm-256color: apt-get install ncurses-base"
        );
        assert_eq!(lookup("xterm-256color"), entry(Some(256), true));
        assert_eq!(lookup("xterm"), entry(Some(8), true));
        assert_eq!(lookup("vt100"), entry(None, false));
        assert_eq!(lookup("no-such-terminal"), None);
        assert_eq!(lookup("../../etc/passwd"), None);
        assert_eq!(lookup("x/xterm"), None);
    }
}
