//! Measuring, cutting and wrapping text by terminal columns, so that wide characters (Korean,
//! Japanese) keep columns aligned.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

/// At most `max` columns of `s`; a cut string ends in `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` cut to `cols` columns and padded with spaces to exactly `cols`.
pub fn fit(s: &str, cols: usize) -> String {
    let mut out = truncate(s, cols);
    let w = width(&out);
    out.extend(std::iter::repeat_n(' ', cols.saturating_sub(w)));
    out
}

/// Closing punctuation that must not start a line in Japanese.
fn clings_to_previous(c: char) -> bool {
    matches!(
        c,
        '。' | '、' | '，' | '．' | '」' | '』' | '）' | ')' | '！' | '？' | 'ー' | '.' | ','
    )
}

/// Hangul: wide, but Korean is written with spaces between words, so it wraps at spaces like
/// Latin (docs/console.md, Text width).
fn is_hangul(c: char) -> bool {
    matches!(c, '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}' | '\u{A960}'..='\u{A97F}'
        | '\u{AC00}'..='\u{D7AF}' | '\u{D7B0}'..='\u{D7FF}')
}

/// A character a line may break after without a space: Japanese and Chinese, written without
/// spaces between words.
fn breaks_anywhere(c: char) -> bool {
    char_width(c) >= 2 && !is_hangul(c)
}

/// One unit the wrapper will not split: a run of characters between spaces (Latin, Hangul), or
/// one Japanese or Chinese character (with the punctuation that follows it), plus whether a
/// space preceded it.
fn tokens(paragraph: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut current = String::new();
    let mut space_before = false;
    let mut pending_space = false;
    for c in paragraph.chars() {
        if c == ' ' {
            if !current.is_empty() {
                out.push((space_before, std::mem::take(&mut current)));
            }
            pending_space = true;
            continue;
        }
        let wide = breaks_anywhere(c);
        if !current.is_empty() && clings_to_previous(c) && !pending_space {
            current.push(c);
            continue;
        }
        let current_is_wide = current.chars().next().is_some_and(breaks_anywhere);
        if !current.is_empty() && (wide || current_is_wide || pending_space) {
            out.push((space_before, std::mem::take(&mut current)));
            space_before = false;
        }
        if current.is_empty() {
            space_before = pending_space;
            pending_space = false;
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push((space_before, current));
    }
    out
}

/// Wraps `text` into lines of at most `max` columns; `\n` starts a new line. Words (Latin and
/// Korean alike) are kept whole where they fit; Japanese and Chinese may break between any two
/// characters.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        for (space, token) in tokens(paragraph) {
            let tw = width(&token);
            let gap = usize::from(space && used > 0);
            if used + gap + tw <= max {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(&token);
                used += gap + tw;
                continue;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            // A token wider than a whole line is cut by characters.
            for c in token.chars() {
                let w = char_width(c);
                if used + w > max && used > 0 {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += w;
            }
        }
        lines.push(line);
    }
    lines
}

/// How a line of text is styled; the theme gives each tone its look, with or without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Normal,
    Bold,
    Dim,
    /// The page's notes (the limit).
    Note,
    /// The page's cautions.
    Caution,
    Error,
    Success,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_count_two_columns() {
        assert_eq!(width("API Key 관리"), 12);
        assert_eq!(fit("관리", 5), "관리 ");
        assert_eq!(width(&fit("서비스이름입니다", 7)), 7);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn wrap_keeps_words_and_breaks_wide_text() {
        assert_eq!(
            wrap("Delete an existing API Key and try again.", 16),
            vec!["Delete an", "existing API Key", "and try again."]
        );
        let ja = wrap("既存のAPI Keyを削除してから再度お試しください。", 10);
        assert!(ja.iter().all(|l| width(l) <= 10), "{ja:?}");
        assert!(!ja.iter().any(|l| l.starts_with('。')));
        assert_eq!(
            ja.concat().replace(' ', ""),
            "既存のAPIKeyを削除してから再度お試しください。"
        );
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
        // Korean wraps at spaces, never inside a word; a word wider than a line is still cut.
        let ko = wrap(
            "폐기되었거나 유효하지 않은 토큰입니다. API Key를 삭제합니다.",
            14,
        );
        assert_eq!(
            ko,
            vec![
                "폐기되었거나",
                "유효하지 않은",
                "토큰입니다.",
                "API Key를",
                "삭제합니다."
            ]
        );
        assert_eq!(wrap("가나다라마바사", 6), vec!["가나다", "라마바", "사"]);
        assert_eq!(wrap("ragk_0123456789", 5).len(), 3);
    }
}
