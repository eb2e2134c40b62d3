//! What only the SQLite store has: its schema version in the file's `user_version`.

use ragkeys::server::store::sqlite::SqliteStore;
use rusqlite::Connection;

#[test]
fn a_database_from_a_newer_version_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = SqliteStore::open(&path).err().unwrap().to_string();
    assert!(err.contains("newer"), "{err}");
}
