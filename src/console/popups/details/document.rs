//! What Details shows, line by line: the key's fields and policy, its calls per hour over 24
//! hours and per day over 30 days as sparklines (successful, refused, denied and limited calls on
//! rows of their own, each labelled, with its total; the scale's maximum and the time span in
//! text), the scopes and networks it was used with in 30 days, and its own audit events. One
//! line per row, scrolled as a whole; shared by drawing and by `update` (how many lines a page
//! scrolls).

use ratatui::layout::Rect;

use super::DetailsPopup;
use crate::console::access;
use crate::console::format;
use crate::console::layout::{PopupLayout, Row, ScreenLayout};
use crate::console::lifecycle;
use crate::console::model::Model;
use crate::console::popups::{Button, Popup};
use crate::console::text::{self, Tone};
use crate::console::usage::{self, UsageState};
use crate::sanitize::clean;
use crate::wire::{AuditEvent, Bucket, Leak, Usage};

/// The levels a one-line sparkline draws (`▁` to `█`); a bucket with any call gets at least the
/// lowest, so that a single refused call is never drawn as nothing.
pub const LEVELS: u64 = 8;

/// The widest the popup grows, border included.
const MAX_WIDTH: u16 = 76;

/// One line of the document before it is placed.
enum Line {
    Text(String, Tone),
    /// Drawn as it is where it fits (the key's name), else cut as any text.
    Verbatim(String),
    /// Wrapped at spaces rather than cut (a list of networks).
    Wrapped(String),
    /// A series of bars: its label, its levels (0 to [`LEVELS`]), its total.
    Spark {
        label: String,
        levels: Vec<u64>,
        total: String,
        refused: bool,
    },
}

/// `values` scaled to 0..=[`LEVELS`] against `max`: 0 stays 0, anything else is at least 1.
pub fn levels(values: &[u64], max: u64) -> Vec<u64> {
    values
        .iter()
        .map(|&v| {
            if v == 0 || max == 0 {
                0
            } else {
                (v.saturating_mul(LEVELS) / max).clamp(1, LEVELS)
            }
        })
        .collect()
}

fn field(m: &Model, label: &str, value: String) -> Line {
    Line::Text(format!("{}: {value}", m.tr.t(label)), Tone::Normal)
}

/// `Last used: 3 min ago from 10.0.4.17 · idle`: from the usage when loaded (it has the
/// address), else from the list.
fn last_used(m: &Model, p: &DetailsPopup, u: Option<&Usage>) -> String {
    let tr = m.tr;
    let mut key = p.key.clone();
    if let Some(u) = u {
        key.last_used_at = u.last_used_at.or(key.last_used_at);
    }
    let mut s = usage::last_used_cell(tr, &key, m.now);
    if let Some(from) = u.and_then(|u| u.last_used_from.as_deref()) {
        s = tr.f("details.from", &[("last", &s), ("from", &clean(from))]);
    }
    s
}

/// The labels of a chart's rows: successful calls, then the three kinds set apart.
const SERIES: [&str; 4] = [
    "details.ok",
    "details.refused",
    "details.denied",
    "details.limited",
];

/// The widest label of a chart's rows.
fn label_width(m: &Model) -> usize {
    SERIES
        .iter()
        .map(|l| text::width(m.tr.t(l)))
        .max()
        .unwrap_or(0)
}

/// One bucket's figure for each row of [`SERIES`].
fn series(b: &Bucket) -> [u64; 4] {
    [b.ok, b.refused, b.denied, b.limited]
}

/// One chart: its heading (span, maximum), the ok, refused, denied and limited rows, the axis.
fn chart(m: &Model, buckets: &[Bucket], daily: bool, label_w: usize, out: &mut Vec<Line>) {
    let tr = m.tr;
    // One scale for every row, so that their bars compare.
    let max = buckets.iter().flat_map(series).max().unwrap_or(0);
    let (heading, from, to) = if daily {
        ("details.days", "details.days_from", "details.days_to")
    } else {
        ("details.hours", "details.hours_from", "details.hours_to")
    };
    out.push(Line::Text(
        tr.f(heading, &[("max", &usage::count(tr, max))]),
        Tone::Bold,
    ));
    for (i, label) in SERIES.iter().enumerate() {
        let values: Vec<u64> = buckets.iter().map(|b| series(b)[i]).collect();
        let total = values.iter().fold(0u64, |a, v| a.saturating_add(*v));
        out.push(Line::Spark {
            label: tr.t(label).to_string(),
            levels: levels(&values, max),
            total: usage::count(tr, total),
            // Every call that did not succeed is set apart from the successful ones.
            refused: i > 0,
        });
    }
    // The span under the bars: its start at the first bar, its end at the last.
    let (from, to) = (tr.t(from), tr.t(to));
    let pad = buckets
        .len()
        .saturating_sub(text::width(from) + text::width(to))
        .max(1);
    out.push(Line::Text(
        format!("{}{from}{}{to}", " ".repeat(label_w + 1), " ".repeat(pad)),
        Tone::Dim,
    ));
}

fn event_line(m: &Model, e: &AuditEvent) -> String {
    format!(
        "{}  {}  {} ({})  {}  {}",
        format::without_offset(e.at, m.tz),
        e.action.as_str(),
        clean(&e.actor),
        e.role.as_str(),
        clean(&e.remote_addr),
        clean(&e.outcome),
    )
}

/// When, by whom and where a key was found: the time as every other time here, the URL cleaned
/// of control characters and cut with `…` at the width like any line.
fn leak_lines(m: &Model, leak: &Leak) -> Vec<Line> {
    let tr = m.tr;
    let mut out = vec![Line::Text(
        tr.f(
            "details.leaked",
            &[
                ("by", &clean(&leak.by)),
                ("at", &format::with_offset(leak.reported_at, m.tz)),
            ],
        ),
        Tone::Caution,
    )];
    if let Some(url) = leak.url.as_deref().filter(|u| !u.is_empty()) {
        out.push(field(m, "details.leaked_url", clean(url).into_owned()));
    }
    if let Some(source) = leak.source.as_deref().filter(|s| !s.is_empty()) {
        out.push(field(
            m,
            "details.leaked_source",
            clean(source).into_owned(),
        ));
    }
    out
}

fn document(m: &Model, p: &DetailsPopup) -> Vec<Line> {
    let tr = m.tr;
    let k = &p.key;
    let state = m.usage.get(&k.id);
    let u = state.and_then(UsageState::loaded);
    let keys = m.keys.as_ref().map_or(&[][..], |v| v.keys());
    let name = k
        .name
        .as_deref()
        .map(|n| clean(n).into_owned())
        .unwrap_or_else(|| tr.t("delete.no_name").to_string());
    let mut out = vec![
        Line::Text(
            format!("{}: {}", tr.t("delete.key"), clean(&k.masked)),
            Tone::Bold,
        ),
        Line::Verbatim(format!("{}: {name}", tr.t("delete.name"))),
        Line::Text(
            format!(
                "{}: {}",
                tr.t("state.col"),
                lifecycle::state_cell(tr, k, keys, (m.now, m.tz), m.monochrome())
            ),
            if lifecycle::warns(k) {
                Tone::Caution
            } else {
                Tone::Normal
            },
        ),
        field(
            m,
            "delete.created",
            tr.f(
                "details.created_by",
                &[
                    ("at", &format::with_offset(k.created_at, m.tz)),
                    ("by", &clean(&k.created_by)),
                ],
            ),
        ),
        field(
            m,
            "details.expires",
            k.expires_at.map_or_else(
                || tr.t("details.never").to_string(),
                |t| format::with_offset(t, m.tz),
            ),
        ),
        field(m, "keys.col_last_used", last_used(m, p, u)),
        // docs/console.md, Details: what the key may do, from where, how fast.
        field(m, "details.scopes", access::scopes_value(&k.policy)),
        field(m, "details.rate_limit", access::rate_value(tr, &k.policy)),
        Line::Wrapped(format!(
            "{}: {}",
            tr.t("details.allowed_from"),
            access::allowed_value(tr, &k.policy)
        )),
    ];
    // docs/console.md, Leaked keys: when, by whom and where, right under the state.
    if let Some(leak) = &k.leak {
        out.splice(3..3, leak_lines(m, leak));
    }
    // A disabled key that is still presented: said first, in words, before any chart.
    if let Some(n) = usage::still_called(k, state) {
        out.push(Line::Text(
            tr.f("details.still_called", &[("n", &usage::count(tr, n))]),
            Tone::Error,
        ));
    }
    out.push(Line::Text(String::new(), Tone::Normal));
    match state {
        Some(UsageState::Loaded(u)) => {
            let label_w = label_width(m);
            chart(m, &u.hours, false, label_w, &mut out);
            chart(m, &u.days, true, label_w, &mut out);
            if let Some(t) = access::used_table(tr, &k.policy, u, m.now, m.tz) {
                out.push(Line::Text(String::new(), Tone::Normal));
                out.push(Line::Text(tr.t("details.used").to_string(), Tone::Bold));
                out.extend(t.lines(tr).into_iter().map(|l| Line::Text(l, Tone::Normal)));
                if let Some(since) = t.since {
                    out.push(Line::Text(since, Tone::Dim));
                }
            }
        }
        Some(UsageState::Failed(why)) => {
            out.push(Line::Text(tr.t("usage.unknown").to_string(), Tone::Dim));
            out.push(Line::Text(why.clone(), Tone::Dim));
        }
        _ => out.push(Line::Text(tr.t("usage.checking").to_string(), Tone::Dim)),
    }
    out.push(Line::Text(String::new(), Tone::Normal));
    out.push(Line::Text(tr.t("details.events").to_string(), Tone::Bold));
    match (&p.events, &p.events_error) {
        (_, Some(e)) => out.push(Line::Text(e.clone(), Tone::Error)),
        (None, None) => out.push(Line::Text(tr.t("audit.loading").to_string(), Tone::Dim)),
        (Some(ev), None) if ev.is_empty() => {
            out.push(Line::Text(tr.t("audit.empty").to_string(), Tone::Dim))
        }
        (Some(ev), None) => {
            for e in ev {
                out.push(Line::Text(event_line(m, e), Tone::Normal));
            }
        }
    }
    out
}

/// Places the popup: centered, as wide as the screen allows up to [`MAX_WIDTH`], as tall as
/// its lines or the screen; the lines from `scroll` on.
pub fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Details(p) = p else {
        return PopupLayout::default();
    };
    let area = screen.area;
    let width = area.width.saturating_sub(4).clamp(4, MAX_WIDTH);
    let inner_w = usize::from(width.saturating_sub(4));
    // What went wrong and what the key's state says are sentences: wrapped, never cut.
    let doc: Vec<Line> = document(m, p)
        .into_iter()
        .flat_map(|l| match l {
            Line::Text(s, tone @ (Tone::Error | Tone::Dim)) if text::width(&s) > inner_w => {
                text::wrap(&s, inner_w)
                    .into_iter()
                    .map(|w| Line::Text(w, tone))
                    .collect()
            }
            Line::Wrapped(s) => text::wrap(&s, inner_w)
                .into_iter()
                .map(|w| Line::Text(w, Tone::Normal))
                .collect(),
            other => vec![other],
        })
        .collect();
    let total = doc.len();
    // docs/console.md, Leaked keys: `[Rotate]` stays under the lines, whatever is scrolled.
    let rotate = super::offers_rotate(m, p);
    let button_rows = if rotate { 2 } else { 0 };
    let room = usize::from(area.height.saturating_sub(4 + button_rows)).max(1);
    let visible = total.min(room);
    let height = visible as u16 + 2 + button_rows;
    let outer = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    let first = p.scroll.min(total - visible);
    let label_w = label_width(m) as u16;
    let mut rows: Vec<(Rect, Row)> = doc
        .into_iter()
        .skip(first)
        .take(visible)
        .enumerate()
        .map(|(i, line)| {
            let r = Rect {
                x: outer.x + 2,
                y: outer.y + 1 + i as u16,
                width: width.saturating_sub(4),
                height: 1,
            };
            let row = match line {
                Line::Text(s, tone) => Row::Text(text::truncate(&s, inner_w), tone),
                Line::Verbatim(s) if crate::charset::verbatim_width(&s) <= inner_w => {
                    Row::Verbatim(s)
                }
                Line::Verbatim(s) | Line::Wrapped(s) => {
                    Row::Text(text::truncate(&s, inner_w), Tone::Normal)
                }
                Line::Spark {
                    label,
                    levels,
                    total,
                    refused,
                } => {
                    let bars = Rect {
                        x: r.x + label_w + 1,
                        width: (levels.len() as u16).min(r.width.saturating_sub(label_w + 1)),
                        ..r
                    };
                    Row::Spark {
                        label,
                        levels,
                        bars,
                        total,
                        refused,
                    }
                }
            };
            (r, row)
        })
        .collect();
    let mut buttons = Vec::new();
    if rotate {
        let y = outer.y + 1 + visible as u16 + 1;
        let label = format!("[{}]", m.tr.t("button.rotate"));
        let w = crate::console::layout::button_width(&label);
        let inner = Rect {
            x: outer.x + 2,
            y,
            width: width.saturating_sub(4),
            height: 1,
        };
        let at = Rect {
            x: inner.right().saturating_sub(w),
            width: w.min(inner.width),
            ..inner
        };
        buttons.push((Button::Rotate, at));
        rows.push((inner, Row::Buttons));
    }
    PopupLayout {
        area: outer,
        title: m.tr.t("details.title").to_string(),
        rows,
        buttons,
        fields: Vec::new(),
        items: Vec::new(),
        visible_lines: visible,
        total_lines: total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_call_is_a_bar_and_the_busiest_bucket_is_full() {
        assert_eq!(levels(&[0, 1, 50, 100], 100), vec![0, 1, 4, 8]);
        assert_eq!(levels(&[0, 0], 0), vec![0, 0]);
    }
}
