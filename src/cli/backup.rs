//! `ragkeys backup [--data-dir DIR] FILE`: SQLite's online backup of the data dir's store into a
//! new file, also while `ragkeys serve` runs on it (docs/operating.md). Works on the data dir directly, like `tokens`; the SQL is the store's.

use super::output::to_stderr;
use crate::args::{BackupArgs, GlobalArgs};
use crate::server::setup::DB_FILE;
use crate::server::store::sqlite::backup_to;

const EXIT_OTHER: u8 = 1;

pub fn main(global: &GlobalArgs, args: &BackupArgs) -> u8 {
    let dir = crate::config::data_dir(global);
    match backup_to(&dir.join(DB_FILE), &args.file) {
        Ok(done) => {
            // On stderr, like every note: stdout stays empty for scripts.
            to_stderr(&format!(
                "backed up {} to {} ({} bytes); the pepper is not in it: keep the pepper file apart\n",
                dir.display(),
                args.file.display(),
                done.bytes
            ));
            0
        }
        Err(e) => {
            to_stderr(&format!(
                "error: {}\n",
                super::error::one_line(&e.to_string())
            ));
            EXIT_OTHER
        }
    }
}
