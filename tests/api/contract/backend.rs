//! The store the contract runs against, chosen by the module that includes this file:
//! `contract::sqlite` runs every test on SQLite in a data dir, `contract::postgres` the same tests
//! on PostgreSQL (a fresh database of the throwaway cluster, a pepper file, a data dir for
//! `admin.token`). Tests about the data dir itself are in `lifecycle_sqlite.rs`, which only
//! `contract::sqlite` includes.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use crate::common::{self, pg};

/// Which store a contract module runs on.
#[allow(dead_code)] // compiled once per store, each copy names one of the two
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a service keeps its state, so it can be stopped and started over the same data.
pub struct Place {
    /// The data dir (SQLite's store; `admin.token` with PostgreSQL).
    pub dir: PathBuf,
    /// The database and the pepper file, with PostgreSQL.
    pub pg: Option<(pg::TestDb, PathBuf)>,
    _tmp: tempfile::TempDir,
}

impl Place {
    /// An empty place on this module's backend.
    pub fn new() -> Place {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let pg = match super::BACKEND {
            Backend::Sqlite => None,
            Backend::Postgres => Some((pg::fresh_database(), tmp.path().join("pepper"))),
        };
        Place { dir, pg, _tmp: tmp }
    }

    /// A service over this place (again, after a stop).
    pub fn start(&self, extra: &[&str]) -> common::Server {
        match &self.pg {
            None => common::Server::start_in(&self.dir, extra),
            Some((db, pepper)) => {
                let store = common::pg_store_args(db, pepper);
                let mut args: Vec<&str> = store.iter().map(String::as_str).collect();
                args.extend_from_slice(extra);
                let mut s = common::Server::start_in(&self.dir, &args);
                s.store_args = store;
                // Proof this module tests PostgreSQL: no SQLite file was made in the data dir.
                assert!(
                    !self.dir.join("ragkeys.db").exists(),
                    "a service given --database opened SQLite in its data dir"
                );
                s
            }
        }
    }
}

/// A service on a fresh place of its own; everything of `common::Server` through Deref.
pub struct Server {
    inner: common::Server,
    place: Place,
}

impl Server {
    /// A fresh service on an empty place.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// A fresh service on an empty place, with extra `serve` flags.
    pub fn start_with(extra: &[&str]) -> Server {
        let place = Place::new();
        let inner = place.start(extra);
        Server { inner, place }
    }

    /// Where this service keeps its state: `place().start(..)` starts it again over the same data.
    pub fn place(&self) -> &Place {
        &self.place
    }
}

impl Deref for Server {
    type Target = common::Server;
    fn deref(&self) -> &common::Server {
        &self.inner
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut common::Server {
        &mut self.inner
    }
}
