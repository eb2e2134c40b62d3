//! The HTTP contract of `ragkeys serve` (shared/API.md), checked from outside: a real server on
//! 127.0.0.1:0 over a temp data dir, real HTTP, endpoint by endpoint and code by code.
//! api_contract_pg.rs runs the same modules on PostgreSQL; the data dir's own tests are here only.

mod common;

/// The store every test of this binary runs on.
const BACKEND: backend::Backend = backend::Backend::Sqlite;

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

#[path = "api_contract/lifecycle_sqlite.rs"]
mod lifecycle_sqlite;

#[path = "api_contract/embedded.rs"]
mod embedded;

#[path = "api_contract/usage.rs"]
mod usage;
