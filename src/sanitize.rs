//! Strings from the wire are data, never terminal commands: before anything the service sent is
//! drawn or printed, control characters (C0, C1, DEL, and so every escape sequence's introducer)
//! and bidi controls are taken out.

use std::borrow::Cow;

use crate::wire::is_forbidden_char;

/// The string without control or bidi characters; borrowed when there was nothing to remove.
pub fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().any(is_forbidden_char) {
        Cow::Owned(s.chars().filter(|c| !is_forbidden_char(*c)).collect())
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_lose_their_introducer() {
        let hostile = "a\u{1b}]52;c;aGVsbG8=\u{7}b\u{1b}[2Jc\u{9b}31m\u{202E}d\u{2066}e\r\n";
        let out = clean(hostile);
        assert!(!out.chars().any(|c| c.is_control()));
        assert!(!out.contains('\u{202E}') && !out.contains('\u{2066}'));
        assert!(out.starts_with('a') && out.ends_with('e'));
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(clean("rag-demo 서비스"), Cow::Borrowed(_)));
    }
}
