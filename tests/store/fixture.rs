//! The stores the contract runs on, each fresh and empty: SQLite in a temp file, PostgreSQL in a
//! fresh database of the throwaway cluster (`tests/common/pg.rs`), directly or through a
//! PgBouncer in transaction mode of its own (`tests/common/pgbouncer.rs`).

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ragkeys::server::store::Store;
use ragkeys::server::store::postgres::{DatabaseUrl, PgStore, PgTarget};
use ragkeys::server::store::sqlite::SqliteStore;

use crate::common::pg;
use crate::common::pgbouncer::PgBouncer;

/// Where a fixture's data lives, so that another handle can be opened on it.
enum Place {
    Sqlite(PathBuf),
    Postgres(DatabaseUrl),
}

/// A fresh store, and what keeps its data alive (the temp dir, the test database) until the
/// test ends.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    place: Place,
    _keep: Box<dyn Any + Send>,
}

impl Fixture {
    /// Another handle on the same data, opened as another process (or replica) would.
    pub async fn open_again(&self) -> Arc<dyn Store> {
        match &self.place {
            Place::Sqlite(path) => Arc::new(SqliteStore::open(path).expect("reopen SQLite")),
            Place::Postgres(url) => Arc::new(open_pg(url).await),
        }
    }
}

/// A store on a new SQLite file in a temp dir.
pub async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db");
    let store = SqliteStore::open(&path).expect("open SQLite");
    Fixture {
        store: Arc::new(store),
        place: Place::Sqlite(path),
        _keep: Box::new(dir),
    }
}

/// A store on a fresh database of the throwaway PostgreSQL cluster (started on first use).
pub async fn postgres() -> Fixture {
    // initdb and CREATE DATABASE block: off the runtime's threads.
    let db = tokio::task::spawn_blocking(pg::fresh_database)
        .await
        .expect("a fresh database");
    let url: DatabaseUrl = db.url.parse().expect("a PostgreSQL URL");
    let store = open_pg(&url).await;
    Fixture {
        store: Arc::new(store),
        place: Place::Postgres(url),
        _keep: Box::new(db),
    }
}

/// A store on a fresh database of the throwaway cluster, reached through a PgBouncer in
/// transaction mode of its own (docs/operating.md, PgBouncer).
pub async fn pgbouncer() -> Fixture {
    let (db, bouncer) = tokio::task::spawn_blocking(|| {
        let db = pg::fresh_database();
        (db, PgBouncer::in_front_of_cluster())
    })
    .await
    .expect("a fresh database behind PgBouncer");
    let url: DatabaseUrl = bouncer.url(&db.url).parse().expect("a PostgreSQL URL");
    let store = open_pg(&url).await;
    Fixture {
        store: Arc::new(store),
        place: Place::Postgres(url),
        // PgBouncer first: the database is dropped once nothing reaches it any more.
        _keep: Box::new((bouncer, db)),
    }
}

pub async fn open_pg(url: &DatabaseUrl) -> PgStore {
    PgStore::open(PgTarget {
        url,
        ca: None,
        wait: Duration::from_secs(10),
        listen: None,
    })
    .await
    .unwrap_or_else(|e| panic!("open PostgreSQL: {e}"))
}
