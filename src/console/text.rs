//! Measuring, cutting and wrapping text by terminal columns, grapheme cluster by grapheme
//! cluster, so that wide characters (Korean, Japanese), combining marks (Arabic, Hebrew) and
//! emoji sequences keep columns aligned (docs/console.md, Text width).

use unicode_segmentation::UnicodeSegmentation;

use crate::charset;

/// Columns of `s` as drawn: clusters whose width terminals disagree on count as their `�`.
pub fn width(s: &str) -> usize {
    charset::width(s)
}

/// The one way every column, cell and line is cut: at most `max` columns of `s` as drawn (each
/// ambiguous emoji cluster as `�`), whole clusters only, and a cut string ends in `…`.
pub fn truncate(s: &str, max: usize) -> String {
    truncate_with(s, max, "…")
}

/// [`truncate`] with another cut mark (`...` where only ASCII may be drawn).
pub fn truncate_with(s: &str, max: usize, mark: &str) -> String {
    if width(s) <= max {
        return charset::shown(s).into_owned();
    }
    let mark_w = width(mark);
    if max < mark_w {
        return ".".repeat(max);
    }
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let w = charset::cluster_width(g);
        if used + w > max - mark_w {
            break;
        }
        out.push_str(charset::shown_cluster(g));
        used += w;
    }
    out.push_str(mark);
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
fn breaks_anywhere(cluster: &str) -> bool {
    width(cluster) >= 2 && !cluster.chars().next().is_some_and(is_hangul)
}

/// One unit the wrapper will not split: a run of characters between spaces (Latin, Hangul), or
/// one Japanese or Chinese character (with the punctuation that follows it), plus whether a
/// space preceded it.
fn tokens(paragraph: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut current = String::new();
    let mut space_before = false;
    let mut pending_space = false;
    for c in paragraph.graphemes(true) {
        if c == " " {
            if !current.is_empty() {
                out.push((space_before, std::mem::take(&mut current)));
            }
            pending_space = true;
            continue;
        }
        let wide = breaks_anywhere(c);
        let clings = c.chars().next().is_some_and(clings_to_previous);
        if !current.is_empty() && clings && !pending_space {
            current.push_str(c);
            continue;
        }
        let current_is_wide = current.graphemes(true).next().is_some_and(breaks_anywhere);
        if !current.is_empty() && (wide || current_is_wide || pending_space) {
            out.push((space_before, std::mem::take(&mut current)));
            space_before = false;
        }
        if current.is_empty() {
            space_before = pending_space;
            pending_space = false;
        }
        current.push_str(c);
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
            // A token wider than a whole line is cut between clusters.
            for c in token.graphemes(true) {
                let w = width(c);
                if used + w > max && used > 0 {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push_str(c);
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
    fn every_script_is_cut_with_an_ellipsis_between_clusters() {
        // Latin, with a combining accent that stays on its letter.
        assert_eq!(truncate("Cafe\u{301} de Paris", 5), "Cafe\u{301}…");
        // Hangul: a wide syllable that does not fit leaves a gap, never half a syllable.
        assert_eq!(truncate("배포용키입니다", 6), "배포…");
        assert_eq!(width(&fit("배포용키입니다", 6)), 6);
        // Arabic: 21 letters (one lam-alef pair among them) in 20 columns are cut with `…`.
        let arabic = "شركة البيانات لاعبين";
        assert_eq!(arabic.chars().count(), 20);
        let arabic21 = format!("{arabic}ة");
        assert_eq!(width(&arabic21), 21);
        let cut = truncate(&arabic21, 20);
        assert!(cut.ends_with('…'), "{cut}");
        assert_eq!(width(&cut), 20);
        // Hebrew with niqqud: the marks stay with their letters.
        let hebrew = "שָׁלוֹם עֲלֵיכֶם";
        assert_eq!(width(hebrew), 10);
        let cut = truncate(hebrew, 6);
        assert_eq!(width(&cut), 6);
        assert!(cut.starts_with("שָׁלוֹם") && cut.ends_with('…'), "{cut}");
    }

    #[test]
    fn emoji_sequences_are_drawn_as_one_replacement_each() {
        let name = "ok ✔\u{FE0F} 🏳\u{FE0F}\u{200D}🌈 🇰🇷 done";
        assert_eq!(width(name), 13);
        assert_eq!(truncate(name, 40), "ok \u{FFFD} \u{FFFD} \u{FFFD} done");
        assert_eq!(truncate(name, 6), "ok \u{FFFD} …");
        assert_eq!(width(&fit(name, 20)), 20);
        // Wrapping never splits a cluster.
        for line in wrap(
            "🏳\u{FE0F}\u{200D}🌈🏳\u{FE0F}\u{200D}🌈🏳\u{FE0F}\u{200D}🌈",
            2,
        ) {
            assert!(line.starts_with('🏳') && width(&line) <= 2, "{line:?}");
        }
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
