//! The HTTP contract of `ragkeys serve` (shared/API.md) on the PostgreSQL store (issue 10): the
//! same modules as api_contract.rs, every test on a fresh database of the throwaway cluster
//! (tests/common/pg.rs) with a pepper file. Left out, as SQLite's alone: lifecycle_sqlite.rs (the
//! data dir's files, its pepper, a newer ragkeys.db) and embedded.rs (the console's embedded
//! service always runs on the data dir).

mod common;

/// The store every test of this binary runs on.
const BACKEND: backend::Backend = backend::Backend::Postgres;

#[path = "api_contract/backend.rs"]
mod backend;

#[path = "api_contract/support.rs"]
mod support;

#[path = "api_contract/endpoints.rs"]
mod endpoints;

#[path = "api_contract/roles.rs"]
mod roles;

#[path = "api_contract/keys.rs"]
mod keys;

#[path = "api_contract/idempotency.rs"]
mod idempotency;

#[path = "api_contract/limits.rs"]
mod limits;

#[path = "api_contract/lifecycle.rs"]
mod lifecycle;

#[path = "api_contract/usage.rs"]
mod usage;
