//! Column widths of the two tables: which columns fit, and how wide each one is.

use ratatui::layout::Rect;

/// Every column of both tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    SvcId,
    SvcName,
    SvcDescription,
    SvcKeys,
    SvcCreated,
    SvcButton,
    KeyMasked,
    KeyName,
    KeyState,
    KeyAccess,
    KeyCreated,
    KeyLastUsed,
    KeyMenu,
}

/// What a column asks for.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub col: Col,
    pub min: u16,
    pub max: u16,
    /// None: always shown. Some(n): shown if there is room, lower n first.
    pub drop_rank: Option<u8>,
    /// Takes the columns left over once every column has its `max`.
    pub filler: bool,
    /// Columns grow towards their `max` in this order, lowest first.
    pub grow: u8,
    /// Shown only if every column ranked before it is: it never takes the room a wider,
    /// higher-ranked column left.
    pub after_all_before: bool,
}

impl Spec {
    /// A column between `min` and `max` (never below `min`) columns wide.
    pub fn new(
        col: Col,
        min: u16,
        max: u16,
        drop_rank: Option<u8>,
        filler: bool,
        grow: u8,
    ) -> Spec {
        Spec {
            col,
            min,
            max: max.max(min),
            drop_rank,
            filler,
            grow,
            after_all_before: false,
        }
    }

    /// This column only once every column ranked before it is shown.
    pub fn after_all_before(self) -> Spec {
        Spec {
            after_all_before: true,
            ..self
        }
    }
}

/// The keys table: the masked key, its state and the menu always (docs/console.md: never the key,
/// its state or the ≡); Name (the filler), Access, Created at and Last used when they fit,
/// Access given up first, then Last used, then Created at, then Name. `state` and `access` are
/// the widest State and Access cells of the list.
pub fn key_specs(name_max: u16, state: u16, access: u16, last_used: u16) -> Vec<Spec> {
    vec![
        Spec::new(Col::KeyMasked, 21, 21, None, false, 0),
        Spec::new(Col::KeyName, 8, name_max, Some(1), true, 0),
        Spec::new(Col::KeyState, state, state, None, false, 0),
        // docs/console.md, API Key management: Access is the first column to go.
        Spec::new(Col::KeyAccess, access, access, Some(4), false, 0).after_all_before(),
        Spec::new(Col::KeyCreated, 31, 31, Some(2), false, 0),
        // docs/console.md, API Key management: narrow terminals give up Last used first; it does
        // not come back in the room a dropped Created at leaves.
        Spec::new(Col::KeyLastUsed, last_used, last_used, Some(3), false, 0).after_all_before(),
        Spec::new(Col::KeyMenu, 1, 1, None, false, 0),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub col: Col,
    pub x: u16,
    pub width: u16,
}

/// The selection marker (`> `) before each row.
pub const MARKER: u16 = 2;

/// Places the columns that fit into `area` (the table's inner width, after the marker).
/// Gutters are two columns wide while that costs no text; before a column is dropped or any
/// cell is cut short, they narrow to one.
pub fn fit(specs: &[Spec], area_x: u16, width: u16) -> Vec<Column> {
    match fit_with(specs, area_x, width, 2) {
        Some(cols) if cols.len() == specs.len() && nothing_cut(specs, &cols) => cols,
        _ => fit_with(specs, area_x, width, 1).unwrap_or_default(),
    }
}

fn nothing_cut(specs: &[Spec], cols: &[Column]) -> bool {
    cols.iter().zip(specs).all(|(c, s)| c.width >= s.max)
}

fn needed(chosen: &[Spec], spacing: u16) -> u16 {
    let sum: u16 = chosen.iter().map(|s| s.min).sum();
    sum + spacing * (chosen.len().saturating_sub(1) as u16)
}

fn fit_with(specs: &[Spec], area_x: u16, width: u16, spacing: u16) -> Option<Vec<Column>> {
    let mut chosen: Vec<Spec> = specs
        .iter()
        .filter(|s| s.drop_rank.is_none())
        .copied()
        .collect();
    let mut optional: Vec<Spec> = specs
        .iter()
        .filter(|s| s.drop_rank.is_some())
        .copied()
        .collect();
    optional.sort_by_key(|s| s.drop_rank);
    let mut all_so_far = true;
    for s in optional {
        let mut trial = chosen.clone();
        trial.push(s);
        if needed(&trial, spacing) <= width && (all_so_far || !s.after_all_before) {
            chosen = trial;
        } else {
            all_so_far = false;
        }
    }
    if needed(&chosen, spacing) > width {
        return None;
    }
    // Back into display order.
    chosen.sort_by_key(|s| specs.iter().position(|o| o.col == s.col));
    let mut widths: Vec<u16> = chosen.iter().map(|s| s.min).collect();
    let mut spare = width - needed(&chosen, spacing);
    let mut order: Vec<usize> = (0..chosen.len()).collect();
    order.sort_by_key(|i| chosen[*i].grow);
    for i in order {
        let s = &chosen[i];
        let grow = (s.max.saturating_sub(s.min)).min(spare);
        widths[i] += grow;
        spare -= grow;
    }
    if let Some(i) = chosen.iter().position(|s| s.filler) {
        widths[i] += spare;
    }
    let mut x = area_x;
    let mut out = Vec::with_capacity(chosen.len());
    for (s, w) in chosen.iter().zip(widths) {
        out.push(Column {
            col: s.col,
            x,
            width: w,
        });
        x += w + spacing;
    }
    Some(out)
}

/// A table's geometry: its box, header row, columns and the rows currently visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLayout {
    pub block: Rect,
    pub inner: Rect,
    pub header_y: u16,
    pub columns: Vec<Column>,
    /// (index into the list, the row's rect).
    pub rows: Vec<(usize, Rect)>,
    /// How many rows fit.
    pub capacity: usize,
}

impl TableLayout {
    pub fn new(block: Rect, specs: &[Spec], offset: usize, len: usize) -> TableLayout {
        let inner = Rect {
            x: block.x.saturating_add(1),
            y: block.y.saturating_add(1),
            width: block.width.saturating_sub(2),
            height: block.height.saturating_sub(2),
        };
        let columns = fit(specs, inner.x + MARKER, inner.width.saturating_sub(MARKER));
        let capacity = usize::from(inner.height.saturating_sub(1));
        let rows = (offset..len.min(offset + capacity))
            .enumerate()
            .map(|(i, idx)| {
                (
                    idx,
                    Rect {
                        x: inner.x,
                        y: inner.y + 1 + i as u16,
                        width: inner.width,
                        height: 1,
                    },
                )
            })
            .collect();
        TableLayout {
            block,
            inner,
            header_y: inner.y,
            columns,
            rows,
            capacity,
        }
    }

    pub fn column(&self, col: Col) -> Option<Column> {
        self.columns.iter().copied().find(|c| c.col == col)
    }

    pub fn row_rect(&self, index: usize) -> Option<Rect> {
        self.rows.iter().find(|(i, _)| *i == index).map(|(_, r)| *r)
    }

    /// Where the empty-state or error text goes: below the header.
    pub fn body(&self) -> Rect {
        Rect {
            x: self.inner.x + 1,
            y: self.inner.y + 1,
            width: self.inner.width.saturating_sub(2),
            height: self.inner.height.saturating_sub(1),
        }
    }
}

/// Keeps `selected` in view: the new offset.
pub fn scroll_to(offset: usize, selected: usize, capacity: usize, len: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let mut off = offset.min(len.saturating_sub(capacity));
    if selected < off {
        off = selected;
    } else if selected >= off + capacity {
        off = selected + 1 - capacity;
    }
    off
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(width: u16) -> Vec<Col> {
        fit(&key_specs(50, 21, 16, 12), 0, width)
            .iter()
            .map(|c| c.col)
            .collect()
    }

    #[test]
    fn narrow_tables_drop_access_then_last_used_then_name_never_the_key_its_state_or_menu() {
        use Col::*;
        assert_eq!(
            cols(130),
            vec![
                KeyMasked,
                KeyName,
                KeyState,
                KeyAccess,
                KeyCreated,
                KeyLastUsed,
                KeyMenu
            ]
        );
        assert_eq!(
            cols(110),
            vec![
                KeyMasked,
                KeyName,
                KeyState,
                KeyCreated,
                KeyLastUsed,
                KeyMenu
            ]
        );
        assert_eq!(
            cols(96),
            vec![KeyMasked, KeyName, KeyState, KeyCreated, KeyMenu]
        );
        assert_eq!(cols(56), vec![KeyMasked, KeyName, KeyState, KeyMenu]);
        assert_eq!(cols(46), vec![KeyMasked, KeyState, KeyMenu]);
    }

    #[test]
    fn a_lower_ranked_column_never_takes_the_room_a_dropped_one_left() {
        use Col::*;
        // A short State ("Active") leaves room for Last used once Created at is gone: Last used
        // is given up first all the same.
        let cols: Vec<Col> = fit(&key_specs(50, 6, 6, 9), 0, 56)
            .iter()
            .map(|c| c.col)
            .collect();
        assert_eq!(cols, vec![KeyMasked, KeyName, KeyState, KeyMenu]);
    }

    #[test]
    fn the_filler_takes_the_rest_and_the_menu_ends_at_the_edge() {
        let c = fit(&key_specs(50, 21, 16, 12), 0, 100);
        let last = c[c.len() - 1];
        assert_eq!(last.x + last.width, 100);
    }

    #[test]
    fn scrolling_keeps_the_selection_in_view() {
        assert_eq!(scroll_to(0, 7, 5, 10), 3);
        assert_eq!(scroll_to(3, 1, 5, 10), 1);
        assert_eq!(scroll_to(3, 4, 5, 10), 3);
        assert_eq!(scroll_to(8, 0, 5, 3), 0);
    }
}
