//! The HTTP contract of `ragkeys serve` (docs/api.md) on the PostgreSQL store: the same modules
//! as `sqlite`, every test on a fresh database of the throwaway cluster
//! (tests/common/pg.rs) with a pepper file. Left out, as SQLite's alone: lifecycle_sqlite.rs (the
//! data dir's files, its pepper, a newer ragkeys.db) and embedded.rs (the console's embedded
//! service always runs on the data dir).

/// The store every test of this module runs on.
const BACKEND: backend::Backend = backend::Backend::Postgres;

#[path = "backend.rs"]
mod backend;
#[path = "endpoints.rs"]
mod endpoints;
#[path = "idempotency.rs"]
mod idempotency;
#[path = "keys.rs"]
mod keys;
#[path = "lifecycle.rs"]
mod lifecycle;
#[path = "limits.rs"]
mod limits;
#[path = "policy_admin.rs"]
mod policy_admin;
#[path = "roles.rs"]
mod roles;
#[path = "usage.rs"]
mod usage;
