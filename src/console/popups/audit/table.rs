//! The Audit trail's table: the loaded events, newest first, in columns that drop From, then
//! Role, then Actor on narrow screens, never At or Action; one status line under them. Shared
//! by drawing and by `update` (how many lines a page scrolls).

use ratatui::layout::Rect;

use super::AuditPopup;
use crate::console::format;
use crate::console::layout::{PopupLayout, Row, ScreenLayout};
use crate::console::model::Model;
use crate::console::popups::Popup;
use crate::console::text::{self, Tone};
use crate::sanitize::clean;
use crate::wire::AuditEvent;

/// The columns, in the order drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditCol {
    At,
    Actor,
    Role,
    Action,
    Key,
    From,
    Outcome,
}

const ORDER: [AuditCol; 7] = [
    AuditCol::At,
    AuditCol::Actor,
    AuditCol::Role,
    AuditCol::Action,
    AuditCol::Key,
    AuditCol::From,
    AuditCol::Outcome,
];

/// Columns a narrow screen gives up, first to last.
const DROP_ORDER: [AuditCol; 3] = [AuditCol::From, AuditCol::Role, AuditCol::Actor];

fn header_key(c: AuditCol) -> &'static str {
    match c {
        AuditCol::At => "audit.col_at",
        AuditCol::Actor => "audit.col_actor",
        AuditCol::Role => "audit.col_role",
        AuditCol::Action => "audit.col_action",
        AuditCol::Key => "audit.col_key",
        AuditCol::From => "audit.col_from",
        AuditCol::Outcome => "audit.col_outcome",
    }
}

/// Columns each column wants; Actor and Outcome take what is left over.
fn want(c: AuditCol) -> usize {
    match c {
        AuditCol::At => 19,
        AuditCol::Actor => 6,
        AuditCol::Role => 7,
        AuditCol::Action => 15,
        AuditCol::Key => 21,
        AuditCol::From => 13,
        AuditCol::Outcome => 7,
    }
}

/// One event's cells, every string from the wire stripped of control and bidi characters
/// (docs/console.md, Terminal manners).
pub fn cells(m: &Model, e: &AuditEvent) -> [(AuditCol, String); 7] {
    let cell = |c: AuditCol| -> String {
        match c {
            AuditCol::At => format::without_offset(e.at, m.tz),
            AuditCol::Actor => clean(&e.actor).into_owned(),
            AuditCol::Role => e.role.as_str().to_string(),
            AuditCol::Action => e.action.as_str().to_string(),
            AuditCol::Key => e
                .masked
                .as_deref()
                .map_or_else(|| "—".to_string(), |k| clean(k).into_owned()),
            AuditCol::From => clean(&e.remote_addr).into_owned(),
            AuditCol::Outcome => clean(&e.outcome).into_owned(),
        }
    };
    ORDER.map(|c| (c, cell(c)))
}

/// The events the filter lets through: a case-insensitive text match on any cell.
pub fn visible<'a>(m: &Model, p: &'a AuditPopup) -> Vec<&'a AuditEvent> {
    let needle = p.filter.value().trim().to_lowercase();
    p.events
        .iter()
        .filter(|e| {
            needle.is_empty()
                || cells(m, e)
                    .iter()
                    .any(|(_, s)| s.to_lowercase().contains(&needle))
        })
        .collect()
}

/// The columns shown in `width` columns, with their widths (one space between).
pub fn columns(width: usize) -> Vec<(AuditCol, usize)> {
    let mut shown: Vec<AuditCol> = ORDER.to_vec();
    let need = |cols: &[AuditCol]| -> usize {
        cols.iter().map(|c| want(*c)).sum::<usize>() + cols.len().saturating_sub(1)
    };
    for d in DROP_ORDER {
        if need(&shown) <= width {
            break;
        }
        shown.retain(|c| *c != d);
    }
    let spare = width.saturating_sub(need(&shown));
    let grow = if shown.contains(&AuditCol::Actor) {
        AuditCol::Actor
    } else {
        AuditCol::Outcome
    };
    let mut out: Vec<(AuditCol, usize)> = shown.into_iter().map(|c| (c, want(c))).collect();
    // Too narrow even so: the last columns shrink (cells end in `…`), At and Action keep theirs.
    let mut over = need(&out.iter().map(|(c, _)| *c).collect::<Vec<_>>()).saturating_sub(width);
    for (c, w) in out.iter_mut().rev() {
        if over == 0 {
            break;
        }
        if matches!(c, AuditCol::At | AuditCol::Action) {
            continue;
        }
        let cut = over.min(w.saturating_sub(3));
        *w -= cut;
        over -= cut;
    }
    if let Some((_, w)) = out.iter_mut().find(|(c, _)| *c == grow) {
        *w += spare;
    }
    out
}

fn line(cols: &[(AuditCol, usize)], cell: impl Fn(AuditCol) -> String) -> String {
    cols.iter()
        .map(|(c, w)| text::fit(&cell(*c), *w))
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end()
        .to_string()
}

/// Places the popup: nearly the whole screen, a header, the events from `scroll`, then one
/// status (loading, the end, an error or the filter), wrapped.
pub fn place(m: &Model, p: &Popup, screen: &ScreenLayout) -> PopupLayout {
    let Popup::Audit(p) = p else {
        return PopupLayout::default();
    };
    let area = screen.area;
    // The whole width: the table needs every column it can get (60 columns at the least).
    let width = area.width.max(4);
    let height = area.height.saturating_sub(2).max(4);
    let outer = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    let inner_w = usize::from(width.saturating_sub(4));
    let cols = columns(inner_w);
    let events = visible(m, p);
    // The status is wrapped, never cut: a long one (an error) takes rows from the events.
    let mut rows_for_events = usize::from(height.saturating_sub(4)).max(1);
    let mut first = p.scroll.min(events.len().saturating_sub(rows_for_events));
    let (said, _) = status(m, p, events.len(), first, rows_for_events);
    let extra = text::wrap(&said, inner_w).len().saturating_sub(1);
    if extra > 0 {
        rows_for_events = rows_for_events.saturating_sub(extra).max(1);
        first = p.scroll.min(events.len().saturating_sub(rows_for_events));
    }
    let mut lines: Vec<(String, Tone)> = Vec::new();
    lines.push((
        line(&cols, |c| m.tr.t(header_key(c)).to_string()),
        Tone::Bold,
    ));
    for e in events.iter().skip(first).take(rows_for_events) {
        let cells = cells(m, e);
        lines.push((
            line(&cols, |c| {
                cells
                    .iter()
                    .find(|(x, _)| *x == c)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default()
            }),
            Tone::Normal,
        ));
    }
    while lines.len() < rows_for_events + 1 {
        lines.push((String::new(), Tone::Normal));
    }
    let (said, tone) = status(m, p, events.len(), first, rows_for_events);
    if text::width(&said) <= inner_w {
        lines.push((said, tone));
    } else {
        lines.extend(text::wrap(&said, inner_w).into_iter().map(|l| (l, tone)));
    }
    let rows = lines
        .into_iter()
        .enumerate()
        .map(|(i, (s, tone))| {
            (
                Rect {
                    x: outer.x + 2,
                    y: outer.y + 1 + i as u16,
                    width: width.saturating_sub(4),
                    height: 1,
                },
                Row::Text(text::truncate(&s, inner_w), tone),
            )
        })
        .collect();
    let title = match &p.service_id {
        Some(_) => m.tr.t("audit.title").to_string(),
        None => m.tr.t("audit.title_all").to_string(),
    };
    PopupLayout {
        area: outer,
        title,
        rows,
        buttons: Vec::new(),
        fields: Vec::new(),
        items: Vec::new(),
        visible_lines: rows_for_events,
        total_lines: events.len(),
    }
}

fn status(m: &Model, p: &AuditPopup, shown: usize, first: usize, page: usize) -> (String, Tone) {
    if p.filtering || !p.filter.value().is_empty() {
        let f = clean(p.filter.value()).into_owned();
        let cursor = if p.filtering { "▏" } else { "" };
        return (
            format!(
                "/ {f}{cursor}  ({})",
                m.tr.f("audit.matches", &[("n", &shown)])
            ),
            Tone::Note,
        );
    }
    if let Some(e) = &p.error {
        return (e.clone(), Tone::Error);
    }
    if p.in_flight.is_some() {
        return (m.tr.t("audit.loading").to_string(), Tone::Dim);
    }
    if p.loaded && p.events.is_empty() {
        return (m.tr.t("audit.empty").to_string(), Tone::Dim);
    }
    let last = (first + page).min(shown);
    let range = m.tr.f(
        "audit.range",
        &[
            ("from", &(first + 1).min(last)),
            ("to", &last),
            ("n", &shown),
        ],
    );
    // The oldest event is named only while its row is on screen: the last loaded row, once the
    // trail is loaded that far (from the newest end, every page; from the oldest, the first).
    let oldest_loaded = p.from_oldest || p.next.is_none();
    if oldest_loaded && last == shown {
        (format!("{range} · {}", m.tr.t("audit.oldest")), Tone::Dim)
    } else {
        (range, Tone::Dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_widths_drop_from_then_role_never_at_or_action() {
        let names = |w| columns(w).into_iter().map(|(c, _)| c).collect::<Vec<_>>();
        let wide = names(120);
        assert_eq!(wide, ORDER.to_vec());
        let mid = names(90);
        assert!(!mid.contains(&AuditCol::From) && mid.contains(&AuditCol::Role));
        let narrow = names(56);
        assert!(narrow.contains(&AuditCol::At) && narrow.contains(&AuditCol::Action));
        assert!(!narrow.contains(&AuditCol::From) && !narrow.contains(&AuditCol::Role));
        for w in [54, 56, 80, 96, 120] {
            let cols = columns(w);
            let total: usize = cols.iter().map(|(_, x)| x).sum::<usize>() + cols.len() - 1;
            assert!(total <= w, "{w}: {cols:?}");
        }
    }
}
