//! What may be sent to a terminal as text: the character set the locale promises (UTF-8, or
//! 7-bit ASCII with stand-ins for our glyphs), and widths counted by grapheme cluster, as the
//! console's drawing library places them (docs/console.md, Locale and Text width).

use std::borrow::Cow;

use ratatui::buffer::CellWidth;
use unicode_segmentation::UnicodeSegmentation;

/// What the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    #[default]
    Utf8,
    /// 7-bit ASCII only: `+-|` borders, stand-ins for glyphs, `?` for any other character.
    Ascii,
}

impl Charset {
    /// `--ascii` (or `ascii = true`) forces ASCII; otherwise the locale decides.
    pub fn choose(force_ascii: bool) -> Charset {
        if force_ascii {
            Charset::Ascii
        } else {
            from_locale(|name| std::env::var(name).ok())
        }
    }

    pub fn is_ascii(self) -> bool {
        self == Charset::Ascii
    }

    /// `s` as this character set can show it.
    pub fn text(self, s: &str) -> Cow<'_, str> {
        match self {
            Charset::Utf8 => Cow::Borrowed(s),
            Charset::Ascii => ascii(s),
        }
    }
}

/// tmux's rule: UTF-8 if and only if the first non-empty of `LC_ALL`, `LC_CTYPE`, `LANG` names
/// UTF-8 (any case, with or without the dash), whether or not that locale is installed.
pub fn from_locale(var: impl Fn(&str) -> Option<String>) -> Charset {
    let first = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|name| var(name).filter(|v| !v.is_empty()));
    match first {
        Some(v) if v.to_ascii_lowercase().replace('-', "").contains("utf8") => Charset::Utf8,
        _ => Charset::Ascii,
    }
}

/// The ASCII stand-in of a glyph the console or the CLI draws itself.
fn stand_in(c: char) -> Option<&'static str> {
    Some(match c {
        '…' => "...",
        '·' | '—' | '–' | '─' | '━' => "-",
        '≡' => "=",
        '•' | '●' => "*",
        '│' | '┃' | '▏' => "|",
        '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' => "+",
        '↑' => "Up",
        '↓' => "Down",
        '←' => "<-",
        '→' => "->",
        '×' => "x",
        '\u{FFFD}' => "?",
        // The chart's eight bar heights, lowest first.
        '▁' => "_",
        '▂' => ".",
        '▃' => ":",
        '▄' => "-",
        '▅' => "=",
        '▆' => "+",
        '▇' => "*",
        '█' => "#",
        _ => return None,
    })
}

/// `s` in 7-bit ASCII: printable ASCII as it is, our glyphs as their stand-ins, and one `?` for
/// each other grapheme cluster (a Korean name of three syllables reads `???`).
pub fn ascii(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_control()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for g in s.graphemes(true) {
        let mut chars = g.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c == ' ' || c.is_ascii_graphic() => out.push(c),
            // Line breaks and tabs stay: callers that wrap or print lines need them.
            (Some(c), None) if c == '\n' || c == '\t' => out.push(c),
            (Some(c), None) if c.is_ascii_control() => {}
            _ if g == "\r\n" => out.push('\n'),
            (Some(c), None) => out.push_str(stand_in(c).unwrap_or("?")),
            _ => out.push('?'),
        }
    }
    Cow::Owned(out)
}

/// Whether the terminal and the console might disagree on the width of this cluster: emoji
/// presentation (VS16), ZWJ sequences, skin tones, tag sequences and flags are drawn one column
/// wide by some terminals and two by others (docs/console.md, Text width).
pub fn is_ambiguous(cluster: &str) -> bool {
    let mut chars = cluster.chars();
    if chars.next().is_none() || chars.next().is_none() {
        return false;
    }
    cluster.chars().any(|c| {
        matches!(c, '\u{FE0F}' | '\u{200D}' | '\u{1F3FB}'..='\u{1F3FF}' | '\u{E0020}'..='\u{E007F}' | '\u{1F1E6}'..='\u{1F1FF}')
    })
}

/// U+FFFD, drawn in place of an ambiguous cluster: one column everywhere.
pub const REPLACEMENT: &str = "\u{FFFD}";

/// The cluster as drawn: itself, or [`REPLACEMENT`] where widths could disagree.
pub fn shown_cluster(cluster: &str) -> &str {
    if is_ambiguous(cluster) {
        REPLACEMENT
    } else {
        cluster
    }
}

/// `s` with each ambiguous cluster replaced, so that every cell lands where it is counted.
pub fn shown(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || !s.graphemes(true).any(is_ambiguous) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.graphemes(true).map(shown_cluster).collect())
}

/// The columns one cluster takes once drawn: what the drawing library gives the cluster as
/// shown; none for a cluster holding a control character (it is not drawn).
pub fn cluster_width(cluster: &str) -> usize {
    if cluster.contains(char::is_control) {
        return 0;
    }
    usize::from(shown_cluster(cluster).cell_width())
}

/// Columns of `s` as the drawing library places it when drawn as it is (no cluster replaced):
/// the room a line drawn verbatim needs.
pub fn verbatim_width(s: &str) -> usize {
    s.graphemes(true)
        .filter(|g| !g.contains(char::is_control))
        .map(|g| usize::from(g.cell_width()))
        .sum()
}

/// Columns of `s`, cluster by cluster. Unlike a width of the whole string, no ligature (Arabic
/// lam-alef) merges two clusters into one column: terminals draw each in its own.
pub fn width(s: &str) -> usize {
    if s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return s.len();
    }
    s.graphemes(true).map(cluster_width).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locale(pairs: &[(&str, &str)]) -> Charset {
        from_locale(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn the_first_non_empty_locale_variable_decides() {
        assert_eq!(locale(&[("LANG", "C.UTF-8")]), Charset::Utf8);
        assert_eq!(locale(&[("LANG", "ko_KR.utf8")]), Charset::Utf8);
        assert_eq!(locale(&[("LC_CTYPE", "UTF-8")]), Charset::Utf8);
        assert_eq!(locale(&[("LANG", "C")]), Charset::Ascii);
        assert_eq!(locale(&[("LANG", "POSIX")]), Charset::Ascii);
        assert_eq!(locale(&[("LANG", "ko_KR.EUC-KR")]), Charset::Ascii);
        assert_eq!(locale(&[]), Charset::Ascii);
        // LC_ALL wins over LANG, an empty one is skipped.
        assert_eq!(
            locale(&[("LC_ALL", "C"), ("LANG", "en_US.UTF-8")]),
            Charset::Ascii
        );
        assert_eq!(
            locale(&[("LC_ALL", ""), ("LC_CTYPE", "en_US.UTF-8"), ("LANG", "C")]),
            Charset::Utf8
        );
        assert_eq!(
            locale(&[("LC_CTYPE", "C"), ("LANG", "en_US.UTF-8")]),
            Charset::Ascii
        );
    }

    #[test]
    fn the_arrow_keys_read_as_words_never_as_another_key() {
        // `v` opens Details: a footer's `↓ scroll` must not read `v scroll`.
        assert_eq!(ascii("↓ scroll  ↑ / k"), "Down scroll  Up / k");
        assert_eq!(ascii("old → new"), "old -> new");
    }

    #[test]
    fn ascii_keeps_ascii_and_gives_one_question_mark_per_cluster() {
        assert!(matches!(ascii("plain [OK] 5 / 5"), Cow::Borrowed(_)));
        assert_eq!(ascii("배포용 키"), "??? ?");
        assert_eq!(ascii("Loading…"), "Loading...");
        assert_eq!(ascii("a · b ≡ •••"), "a - b = ***");
        assert_eq!(ascii("┌─┐│└┘"), "+-+|++");
        assert_eq!(ascii("rotating → key_1"), "rotating -> key_1");
        assert_eq!(ascii("✔\u{FE0F} 🏳\u{FE0F}\u{200D}🌈 e\u{301}"), "? ? ?");
        assert_eq!(ascii("▁▂▃▄▅▆▇█"), "_.:-=+*#");
        assert!(ascii("شركة ✓ 日本").bytes().all(|b| b < 0x80));
    }

    #[test]
    fn emoji_sequences_and_flags_are_ambiguous_single_code_points_are_not() {
        for s in [
            "✔\u{FE0F}",
            "🏳\u{FE0F}\u{200D}🌈",
            "👍🏽",
            "🇰🇷",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
        ] {
            assert!(is_ambiguous(s), "{s:?}");
            assert_eq!(shown(&format!("a{s}b")), "a\u{FFFD}b");
            assert_eq!(width(&format!("a{s}b")), 3);
        }
        for s in ["✔", "🌈", "한", "e\u{301}", "a"] {
            assert!(!is_ambiguous(s), "{s:?}");
        }
    }

    #[test]
    fn width_counts_each_cluster_as_it_is_drawn() {
        assert_eq!(width("API Key 관리"), 12);
        assert_eq!(width("e\u{301}"), 1);
        // Lam-alef: one column as a ligature for a whole-string width, two on a terminal.
        assert_eq!(width("\u{644}\u{627}"), 2);
        // Hebrew with niqqud: the marks ride on their letters.
        assert_eq!(width("שָׁלוֹם"), 4);
    }
}
