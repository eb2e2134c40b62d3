//! The screen reader: what a ratatui buffer shows, cell by cell and as text. (A real terminal's
//! screen is read with tmux's capture-pane, `tmux.rs`; a pty's through the `vt100` emulator.)

use ratatui::buffer::Buffer;
use unicode_width::UnicodeWidthStr;

/// One symbol per cell, row by row; the cells a wide character covers after its first are empty.
pub fn cells(buf: &Buffer) -> Vec<Vec<String>> {
    (0..buf.area.height)
        .map(|y| {
            let mut skip = 0;
            (0..buf.area.width)
                .map(|x| {
                    if skip > 0 {
                        skip -= 1;
                        return String::new();
                    }
                    let sym = buf[(x, y)].symbol();
                    skip = UnicodeWidthStr::width(sym).saturating_sub(1);
                    sym.to_string()
                })
                .collect()
        })
        .collect()
}

/// The screen as text: a line per row, its trailing blanks trimmed.
pub fn screen_text(buf: &Buffer) -> String {
    text_of(&cells(buf))
}

/// The text of rows of [`cells`].
pub fn text_of(cells: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in cells {
        out.push_str(row.concat().trim_end());
        out.push('\n');
    }
    out
}
