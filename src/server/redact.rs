//! Credentials that turn up where they do not belong (a field name in a bad request, a service
//! description): found by their prefix and checksum, so that the service never echoes or keeps
//! one outside the one response that issues it.

use std::ops::Range;

use crate::credential::{self, Kind};

/// Byte ranges of every well-formed credential inside `s`.
fn credentials(s: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    for kind in [Kind::ApiKey, Kind::AdminToken] {
        let len = kind.total_len();
        for (at, _) in s.match_indices(kind.prefix()) {
            if let Some(candidate) = s.get(at..at + len)
                && credential::parse(kind, candidate).is_ok()
            {
                found.push(at..at + len);
            }
        }
    }
    found
}

pub fn contains_credential(s: &str) -> bool {
    !credentials(s).is_empty()
}

/// `s` with every credential replaced by its masked form.
pub fn redact(s: &str) -> String {
    let mut ranges = credentials(s);
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for r in ranges {
        if r.start < last {
            continue;
        }
        out.push_str(&s[last..r.start]);
        out.push_str(&credential::mask(&s[r.clone()]));
        last = r.end;
    }
    out.push_str(&s[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_and_lookalikes_left_alone() {
        let key = credential::generate(Kind::ApiKey);
        let token = credential::generate(Kind::AdminToken);
        let text = format!(
            "unknown field `{}` and {} end",
            key.expose(),
            token.expose()
        );
        let out = redact(&text);
        assert!(!out.contains(key.expose()) && !out.contains(token.expose()));
        assert!(out.contains(&credential::mask(key.expose())));
        assert!(out.ends_with(" end"));
        assert!(contains_credential(&text));
        assert!(!contains_credential("ragk_short and ragadm_"));
        assert_eq!(redact("ragk_ plain ünïcode"), "ragk_ plain ünïcode");
    }
}
