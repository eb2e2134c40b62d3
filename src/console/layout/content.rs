//! What each popup holds, part by part, before it is placed: the page's words, the fields, the
//! buttons.

use crate::console::expiry::{self, LIFETIMES, Lifetime};
use crate::console::format;
use crate::console::model::Model;
use crate::console::msg::CopyOutcome;
use crate::console::popup::{Button, Choice, ErrorKind, Field, GRACES, IssuePopup, Popup};
use crate::sanitize::clean;
use crate::wire::Timestamp;

/// How a line of text is styled.
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

/// Parts before placement.
pub(super) enum Part {
    Text(String, Tone),
    Blank,
    Field(Field, String),
    Secret,
    Buttons(Vec<Button>),
    /// A choice: its label, its options, which one is chosen.
    Choice(Choice, String, Vec<String>, usize),
}

pub fn button_key(b: Button) -> &'static str {
    match b {
        Button::Issue => "button.issue",
        Button::Cancel => "button.cancel",
        Button::CopyKey => "button.copy_key",
        Button::Ok => "button.ok",
        Button::Delete => "button.delete",
        Button::Create => "button.create",
        Button::Retry => "button.retry",
        Button::Disable => "button.disable",
        Button::Rotate => "button.rotate",
        Button::Save => "button.save",
        Button::Lookup => "button.lookup",
        Button::Open => "button.open",
    }
}

pub(super) fn content(m: &Model, p: &Popup) -> (String, Vec<Part>) {
    let tr = m.tr;
    match p {
        Popup::Issue(p) => {
            let service = m
                .keys
                .as_ref()
                .map(|k| clean(&k.service.name).into_owned())
                .unwrap_or_default();
            let mut parts = vec![
                Part::Text(tr.f("issue.body", &[("service", &service)]), Tone::Normal),
                Part::Text(
                    tr.f(
                        "issue.slots",
                        &[("limit", &p.limit), ("remaining", &p.remaining)],
                    ),
                    Tone::Bold,
                ),
                Part::Blank,
                Part::Field(Field::Name, tr.t("issue.name").to_string()),
            ];
            if let Some(e) = &p.name_error {
                parts.push(Part::Text(e.clone(), Tone::Error));
            }
            parts.extend(expiry_parts(m, p));
            if p.in_flight.is_some() {
                let s = format!("{} {}", m.spinner_frame(), tr.t("issue.issuing"));
                parts.push(Part::Text(s, Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![Button::Issue, Button::Cancel]));
            (tr.t("issue.title").to_string(), parts)
        }
        Popup::KeyCopy(p) => {
            let mut parts = vec![
                Part::Text(tr.t("copy.intro").to_string(), Tone::Normal),
                Part::Secret,
                Part::Text(copy_expiry(m, p.api_key.expires_at), Tone::Normal),
                Part::Blank,
                Part::Text(tr.t("copy.caution").to_string(), Tone::Caution),
            ];
            if let Some(outcome) = &p.copied {
                let (s, tone) = match outcome {
                    CopyOutcome::System {
                        clear_after_secs: 0,
                    } => (
                        tr.t("copy.copied_system_no_clear").to_string(),
                        Tone::Success,
                    ),
                    CopyOutcome::System { clear_after_secs } => (
                        tr.f("copy.copied_system", &[("secs", clear_after_secs)]),
                        Tone::Success,
                    ),
                    CopyOutcome::Osc52 { fallback, tmux } => {
                        let mut s = match fallback {
                            None => tr.t("copy.copied_osc52").to_string(),
                            Some(why) => {
                                tr.f("copy.copied_osc52_fallback", &[("reason", &clean(why))])
                            }
                        };
                        if *tmux {
                            s.push(' ');
                            s.push_str(tr.t("copy.tmux_osc52"));
                        }
                        (s, Tone::Success)
                    }
                    CopyOutcome::Disabled => (tr.t("copy.copy_disabled").to_string(), Tone::Error),
                    CopyOutcome::Failed(why) => (
                        tr.f("copy.copy_failed", &[("reason", &clean(why))]),
                        Tone::Error,
                    ),
                };
                parts.push(Part::Text(s, tone));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![Button::CopyKey, Button::Ok]));
            (tr.t("copy.title").to_string(), parts)
        }
        Popup::ConfirmClose(_) => (
            tr.t("confirm.title").to_string(),
            vec![
                Part::Text(tr.t("confirm.body").to_string(), Tone::Caution),
                Part::Blank,
                Part::Buttons(vec![Button::Ok, Button::Cancel]),
            ],
        ),
        Popup::Delete(p) => {
            let k = &p.key;
            let name = k
                .name
                .as_deref()
                .map(|n| clean(n).into_owned())
                .unwrap_or_else(|| tr.t("delete.no_name").to_string());
            let mut parts = vec![
                Part::Text(
                    format!("{}: {}", tr.t("delete.key"), clean(&k.masked)),
                    Tone::Bold,
                ),
                Part::Text(format!("{}: {}", tr.t("delete.name"), name), Tone::Normal),
                Part::Text(
                    format!(
                        "{}: {}",
                        tr.t("delete.created"),
                        format::with_offset(k.created_at, m.tz)
                    ),
                    Tone::Normal,
                ),
                Part::Blank,
            ];
            let (title, caution, busy, main) = if p.disable {
                (
                    "disable.title",
                    "disable.caution",
                    "disable.disabling",
                    Button::Disable,
                )
            } else {
                (
                    "delete.title",
                    "delete.caution",
                    "delete.deleting",
                    Button::Delete,
                )
            };
            parts.push(Part::Text(tr.t(caution).to_string(), Tone::Caution));
            parts.push(impact(m, &k.id));
            if p.in_flight.is_some() {
                let s = format!("{} {}", m.spinner_frame(), tr.t(busy));
                parts.push(Part::Text(s, Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![main, Button::Cancel]));
            (tr.t(title).to_string(), parts)
        }
        Popup::CreateService(p) => {
            let mut parts = vec![
                Part::Text(tr.t("service.body").to_string(), Tone::Normal),
                Part::Blank,
                Part::Field(Field::Name, tr.t("service.name").to_string()),
            ];
            if let Some(e) = &p.name_error {
                parts.push(Part::Text(e.clone(), Tone::Error));
            }
            parts.push(Part::Field(
                Field::Description,
                tr.t("service.description").to_string(),
            ));
            if let Some(e) = &p.description_error {
                parts.push(Part::Text(e.clone(), Tone::Error));
            }
            if p.in_flight.is_some() {
                let s = format!("{} {}", m.spinner_frame(), tr.t("service.creating"));
                parts.push(Part::Text(s, Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![Button::Create, Button::Cancel]));
            (tr.t("service.title").to_string(), parts)
        }
        Popup::Error(e) => {
            let buttons = match e.kind {
                ErrorKind::Plain => vec![Button::Ok],
                ErrorKind::Retry(_) => vec![Button::Retry, Button::Cancel],
                ErrorKind::DeleteOrphan { .. } => vec![Button::Delete, Button::Cancel],
            };
            let mut parts = vec![Part::Text(e.message.clone(), Tone::Normal)];
            if e.in_flight.is_some() {
                let s = format!("{} {}", m.spinner_frame(), tr.t("app.working"));
                parts.push(Part::Text(s, Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(buttons));
            (e.title.clone(), parts)
        }
        Popup::Rename(p) => {
            let mut parts = vec![
                Part::Text(
                    format!("{}: {}", tr.t("delete.key"), clean(&p.key.masked)),
                    Tone::Bold,
                ),
                Part::Text(tr.t("rename.body").to_string(), Tone::Normal),
                Part::Blank,
                Part::Field(Field::Name, tr.t("rename.name").to_string()),
            ];
            if let Some(e) = &p.name_error {
                parts.push(Part::Text(e.clone(), Tone::Error));
            }
            if p.in_flight.is_some() {
                let s = format!("{} {}", m.spinner_frame(), tr.t("rename.saving"));
                parts.push(Part::Text(s, Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![Button::Save, Button::Cancel]));
            (tr.t("rename.title").to_string(), parts)
        }
        Popup::Rotate(p) => {
            let k = &p.key;
            // The name beside the key, when it has one.
            let name = k
                .name
                .as_deref()
                .map(|n| format!("  ({})", clean(n)))
                .unwrap_or_default();
            let grace = GRACES.get(p.grace).copied().unwrap_or(0);
            // When the old key stops, if rotated now: exact to the second a reader needs.
            let ends = Timestamp::from_unix(m.now.unix() + i64::from(grace));
            let outcome = if grace == 0 {
                Part::Text(tr.t("rotate.now_caution").to_string(), Tone::Caution)
            } else {
                Part::Text(
                    tr.f("rotate.ends", &[("at", &format::with_offset(ends, m.tz))]),
                    Tone::Note,
                )
            };
            let options = ["rotate.now", "rotate.hour", "rotate.day", "rotate.week"]
                .iter()
                .map(|k| tr.t(k).to_string())
                .collect();
            let mut parts = vec![
                Part::Text(
                    format!("{}: {}{}", tr.t("delete.key"), clean(&k.masked), name),
                    Tone::Bold,
                ),
                Part::Text(tr.t("rotate.body").to_string(), Tone::Normal),
                Part::Blank,
                Part::Choice(
                    Choice::Grace,
                    tr.t("rotate.grace").to_string(),
                    options,
                    p.grace,
                ),
                outcome,
            ];
            // Only a rotation that stops the old key at once has an impact to review.
            if grace == 0 {
                parts.push(impact(m, &k.id));
            }
            if p.in_flight.is_some() {
                let s = format!("{} {}", m.spinner_frame(), tr.t("rotate.rotating"));
                parts.push(Part::Text(s, Tone::Dim));
            }
            parts.push(Part::Blank);
            parts.push(Part::Buttons(vec![Button::Rotate, Button::Cancel]));
            (tr.t("rotate.title").to_string(), parts)
        }
        Popup::Whois(p) => whois(m, p),
        Popup::Menu(_) | Popup::Help(_) | Popup::Audit(_) | Popup::Details(_) => {
            (String::new(), Vec::new())
        }
    }
}

/// The impact line under the caution of a popup that stops a key (issue 9; CONSOLE.md, Popups).
fn impact(m: &Model, key_id: &str) -> Part {
    let (s, tone) = crate::console::usage::impact(m.tr, m.now, m.usage.get(key_id));
    Part::Text(s, tone)
}

/// The Issue popup's expiry: the choice, and for `Date…` the date field with what it means and
/// what is wrong with it.
fn expiry_parts(m: &Model, p: &IssuePopup) -> Vec<Part> {
    let tr = m.tr;
    let options = LIFETIMES
        .iter()
        .map(|l| tr.t(l.label_key()).to_string())
        .collect();
    let mut parts = vec![Part::Choice(
        Choice::Expiry,
        tr.t("expiry.label").to_string(),
        options,
        p.lifetime.index(),
    )];
    if p.lifetime == Lifetime::Date {
        parts.push(Part::Field(
            Field::Date,
            tr.t("expiry.date_label").to_string(),
        ));
        let zone = expiry::zone_label(m.now, m.tz);
        parts.push(Part::Text(
            tr.f("expiry.date_help", &[("zone", &zone)]),
            Tone::Dim,
        ));
    }
    if let Some(e) = &p.expiry_error {
        parts.push(Part::Text(e.clone(), Tone::Error));
    }
    parts
}

/// `Expires: 2026-12-26 14:43:12 (UTC+09:00), in 30 d` or `Expires: never`, under the key.
fn copy_expiry(m: &Model, at: Option<crate::wire::Timestamp>) -> String {
    match at {
        None => m.tr.t("expiry.copy_never").to_string(),
        Some(at) => m.tr.f(
            "expiry.copy_at",
            &[
                ("at", &format::with_offset(at, m.tz)),
                ("left", &expiry::time_left(m.tr, at, m.now)),
            ],
        ),
    }
}

/// Who owns this key? (issue 9): the key as dots only (its length), then the error or whose it
/// is; every string from the service cleaned.
fn whois(m: &Model, p: &crate::console::popup::WhoisPopup) -> (String, Vec<Part>) {
    let tr = m.tr;
    let focused = p.focus == crate::console::popup::Focus::Field(Field::Key);
    let dots = "•".repeat(p.key.len());
    let cursor = if focused { "▏" } else { "" };
    let count = if p.key.is_empty() {
        String::new()
    } else {
        format!("  ({})", p.key.len())
    };
    let mut parts = vec![
        Part::Text(tr.t("whois.body").to_string(), Tone::Normal),
        Part::Blank,
        Part::Text(
            format!("{}: {dots}{cursor}{count}", tr.t("whois.key")),
            if focused { Tone::Bold } else { Tone::Normal },
        ),
        Part::Blank,
    ];
    if p.in_flight.is_some() {
        let s = format!("{} {}", m.spinner_frame(), tr.t("whois.looking"));
        parts.push(Part::Text(s, Tone::Dim));
    } else if let Some(e) = &p.error {
        parts.push(Part::Text(e.clone(), Tone::Error));
    } else if let Some(w) = &p.found {
        let k = &w.api_key;
        let name = k
            .name
            .as_deref()
            .map(|n| clean(n).into_owned())
            .unwrap_or_else(|| tr.t("delete.no_name").to_string());
        let state =
            crate::console::lifecycle::state_label(tr, k, std::slice::from_ref(k), m.now, m.tz);
        let rows = [
            (
                "whois.service",
                format!("{} ({})", clean(&w.service_name), clean(&w.service_id)),
            ),
            ("whois.masked", clean(&k.masked).into_owned()),
            ("whois.name", name),
            ("whois.state", state),
            ("whois.created", format::with_offset(k.created_at, m.tz)),
            (
                "whois.last_used",
                format::last_used(tr, m.now, k.last_used_at),
            ),
        ];
        for (label, value) in rows {
            parts.push(Part::Text(
                format!("{}: {value}", tr.t(label)),
                Tone::Normal,
            ));
        }
    }
    parts.push(Part::Blank);
    let buttons = if p.found.is_some() {
        vec![Button::Lookup, Button::Open, Button::Cancel]
    } else {
        vec![Button::Lookup, Button::Cancel]
    };
    parts.push(Part::Buttons(buttons));
    (tr.t("whois.title").to_string(), parts)
}
