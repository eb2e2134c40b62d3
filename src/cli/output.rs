//! What the commands print: aligned tables for people, the service's own JSON for scripts.

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Local;

use super::error::CliError;
use crate::charset::{self, Charset, width};
use crate::sanitize::clean;

/// Whether what the CLI prints for people is 7-bit ASCII (docs/cli.md, Output): chosen once
/// per process, before anything is printed.
static ASCII: AtomicBool = AtomicBool::new(false);

/// The locale's rule, or ASCII forced by `--ascii` / `ascii = true`.
pub fn use_charset(c: Charset) {
    ASCII.store(c.is_ascii(), Ordering::Relaxed);
}

/// Text for people as the terminal can show it; `--json` output never passes here.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if ASCII.load(Ordering::Relaxed) {
        charset::ascii(text)
    } else {
        Cow::Borrowed(text)
    }
}
use crate::wire::{ApiKey, KeyState, Leak, Service, Timestamp};

/// Columns separated by two spaces, each as wide as its widest cell (in terminal cells, so that
/// Korean and Japanese keep the columns straight). Cells are sanitized here.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let clean_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
    let header: Vec<String> = headers
        .iter()
        .map(|h| for_terminal(h).into_owned())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in &clean_rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(c));
            }
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(clean_rows.iter()) {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            if i + 1 < row.len() {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(width(c));
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A string from the wire as one line of plain text, as it is printed (so that widths are
/// counted on what the terminal shows): emoji sequences as `�`, and in ASCII, `?`.
fn cell(s: &str) -> String {
    let spaced: String = s
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let cleaned = clean(&spaced);
    let shown = charset::shown(&cleaned);
    for_terminal(&shown).into_owned()
}

/// Local time with its offset: `2026-11-26 14:03:12 +09:00`.
pub fn local_time(t: &Timestamp) -> String {
    t.0.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

pub fn services_table(services: &[Service]) -> String {
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.name.clone(),
                s.description.clone(),
                format!("{}/{}", s.key_count, s.key_limit),
                local_time(&s.created_at),
            ]
        })
        .collect();
    table(
        &[
            "Service ID",
            "Service name",
            "Description",
            "Keys",
            "Created at",
        ],
        &rows,
    )
}

/// The keys as a table: state, access and expiry beside the id, mask and name. A rotating key's
/// state names its successor and its Expires column the end of its grace (docs/api.md, Key
/// lifecycle); Access is the policy's short form (`full`, `query R A`: docs/cli.md, Access).
pub fn keys_table(keys: &[ApiKey]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let state = state_label(k);
            let expires = match (&k.state, &k.expires_at) {
                (KeyState::Rotating, Some(t)) => format!("ends {}", local_time(t)),
                (_, Some(t)) => local_time(t),
                (_, None) => "never".into(),
            };
            vec![
                k.id.clone(),
                k.masked.clone(),
                k.name.clone().unwrap_or_else(|| "-".into()),
                state,
                k.policy.access_label(),
                expires,
                local_time(&k.created_at),
                k.last_used_at
                    .as_ref()
                    .map(local_time)
                    .unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    table(
        &[
            "Key ID",
            "API Key",
            "Name",
            "State",
            "Access",
            "Expires",
            "Created at",
            "Last used",
        ],
        &rows,
    )
}

/// A key's state as the CLI prints it (docs/cli.md, Leaked keys): `Leaked` while a reported key
/// is disabled or expired, `active · leaked` once it is enabled again, `rotating · leaked` when
/// such a key is then rotated; a rotating key names its successor. Not yet cleaned.
pub fn state_label(k: &ApiKey) -> String {
    if k.leaked_and_stopped() {
        return "Leaked".into();
    }
    let leaked = if k.leak.is_some() { " · leaked" } else { "" };
    match (&k.state, &k.replaced_by) {
        (KeyState::Rotating, Some(by)) => format!("rotating{leaked} → {by}"),
        (s, _) => format!("{}{leaked}", s.as_str()),
    }
}

/// When, by whom and where a key was reported leaked, on one line: `2026-12-07 22:01:00 +09:00
/// by github at https://… (commit)`. The URL and the names are cleaned of control characters.
pub fn leak_text(l: &Leak) -> String {
    let mut out = format!("{} by {}", local_time(&l.reported_at), plain(&l.by));
    match l.url.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => {
            out.push_str(" at ");
            out.push_str(&plain(url));
        }
        _ => out.push_str(", no URL given"),
    }
    if let Some(source) = l.source.as_deref().filter(|s| !s.trim().is_empty()) {
        out.push_str(&format!(" ({})", plain(source)));
    }
    out
}

/// One line of text from the wire: breaks and tabs as spaces, other control characters gone.
fn plain(s: &str) -> String {
    let spaced: String = s
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    clean(&spaced).into_owned()
}

/// `1,204`: digits grouped by three, as API.md writes counts.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The service's JSON as it sent it, except that characters a terminal could act on (C1, DEL,
/// bidi controls) are written as `\uXXXX` escapes: the same JSON value, harmless on a screen.
pub fn json_for_terminal(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len() + 1);
    let mut in_string = false;
    let mut escaped = false;
    for c in text.trim_end().chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if crate::wire::is_forbidden_char(c) {
                // Every forbidden character is in the Basic Multilingual Plane: one escape each.
                out.push_str(&format!("\\u{:04x}", c as u32));
                continue;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out.push('\n');
    out
}

/// Writes text for people to stdout, in ASCII where the terminal needs it.
pub fn stdout(text: &str) -> Result<(), CliError> {
    stdout_json(&for_terminal(text))
}

/// Writes to stdout as it is (the service's JSON); a closed pipe (`| head`) is not an error
/// worth a message.
pub fn stdout_json(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::other(format!("cannot write to stdout: {e}"))),
    }
}

/// Writes `error: …` on stderr as one line, whatever the message holds (docs/cli.md, Output).
/// Here rather than on [`CliError`], so that `error` knows nothing of where lines are written.
pub fn print_error(e: &CliError) {
    to_stderr(&format!("error: {e}\n"));
}

/// A notice or confirmation for the person at the terminal.
pub fn notice(text: &str) {
    to_stderr(&format!("{}\n", super::error::one_line(text)));
}

pub fn warning(text: &str) {
    to_stderr(&format!("warning: {}\n", super::error::one_line(text)));
}

/// Unlike `eprintln!`, a stderr that went away (a closed pipe) is no reason to panic.
pub fn to_stderr(text: &str) {
    let text = for_terminal(text);
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_keep_columns_aligned() {
        let t = table(
            &["A", "B", "C"],
            &[
                vec!["서비스".into(), "x".into(), "end".into()],
                vec!["ab".into(), "サービス名".into(), "e".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        let col = |l: &str, n: usize| {
            let idx = l.match_indices("  ").map(|(i, _)| i).collect::<Vec<_>>();
            width(l[..idx[n]].trim_end())
        };
        assert_eq!(lines[0], "A       B           C");
        assert_eq!(width(lines[1]), width("서비스  x           end"));
        assert_eq!(lines[2], "ab      サービス名  e");
        assert_eq!(col(lines[1], 0), 6);
    }

    fn key(state: KeyState, replaced_by: Option<&str>, leaked: bool) -> ApiKey {
        ApiKey {
            id: "key_1".into(),
            masked: "ragk_AbCd****wXyZ".into(),
            name: None,
            state,
            created_at: Timestamp::now(),
            created_by: "admin".into(),
            expires_at: None,
            last_used_at: None,
            replaced_by: replaced_by.map(str::to_owned),
            policy: Default::default(),
            leak: leaked.then(|| Leak {
                reported_at: Timestamp::now(),
                by: "github".into(),
                url: Some("https://github.com/o/r/blob/main/.env".into()),
                source: Some("commit".into()),
            }),
        }
    }

    #[test]
    fn a_leaked_key_reads_leaked_while_stopped_and_is_marked_once_live_again() {
        let label = |s, by, leaked| state_label(&key(s, by, leaked));
        assert_eq!(label(KeyState::Disabled, None, true), "Leaked");
        assert_eq!(label(KeyState::Expired, None, true), "Leaked");
        assert_eq!(label(KeyState::Active, None, true), "active · leaked");
        assert_eq!(label(KeyState::Rotating, None, true), "rotating · leaked");
        assert_eq!(
            label(KeyState::Rotating, Some("key_2"), true),
            "rotating · leaked → key_2"
        );
        assert_eq!(label(KeyState::Disabled, None, false), "disabled");
        assert_eq!(
            label(KeyState::Rotating, Some("key_2"), false),
            "rotating → key_2"
        );
        assert_eq!(charset::ascii("active · leaked"), "active - leaked");
        let table = keys_table(&[key(KeyState::Disabled, None, true)]);
        assert!(
            table.lines().nth(1).unwrap().contains("  Leaked  "),
            "{table}"
        );
    }

    #[test]
    fn the_leak_record_names_when_who_and_a_clean_url() {
        let mut k = key(KeyState::Disabled, None, true);
        let l = k.leak.as_mut().unwrap();
        l.url = Some("https://x.test/a\u{1b}[2J\nb\u{202E}c".into());
        let text = leak_text(l);
        assert!(text.contains(&local_time(&l.reported_at)), "{text}");
        assert!(
            text.ends_with(" by github at https://x.test/a[2J bc (commit)"),
            "{text}"
        );
        l.url = Some(String::new());
        l.source = None;
        l.by = "alice".into();
        assert!(leak_text(l).ends_with(" by alice, no URL given"));
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1_204, "1,204"),
            (120_400, "120,400"),
            (1_000_000, "1,000,000"),
        ] {
            assert_eq!(grouped(n), s);
        }
    }

    #[test]
    fn cells_lose_control_characters_and_line_breaks() {
        let t = table(
            &["N"],
            &[vec!["a\u{1b}]52;c;x\u{7}b\nc\u{9b}2J\u{202E}".into()]],
        );
        assert_eq!(t, "N\na]52;c;xb c2J\n");
    }

    #[test]
    fn terminal_json_escapes_only_inside_strings() {
        let raw = "{\"name\":\"a\u{9b}2J\u{202E}b\\\"\\u001b\",\n \"n\": 1}\n".as_bytes();
        let out = json_for_terminal(raw);
        assert_eq!(
            out,
            "{\"name\":\"a\\u009b2J\\u202eb\\\"\\u001b\",\n \"n\": 1}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["name"], "a\u{9b}2J\u{202E}b\"\u{1b}");
    }
}
