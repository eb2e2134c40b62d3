//! The HTTP contract of `ragkeys serve` (docs/api.md), checked from outside: a real server on
//! 127.0.0.1:0 over a temp data dir, real HTTP, endpoint by endpoint and code by code.
//! `postgres` runs the same modules on PostgreSQL; the data dir's own tests are here only.

/// The store every test of this module runs on.
const BACKEND: backend::Backend = backend::Backend::Sqlite;

#[path = "backend.rs"]
mod backend;
#[path = "embedded.rs"]
mod embedded;
#[path = "endpoints.rs"]
mod endpoints;
#[path = "idempotency.rs"]
mod idempotency;
#[path = "keys.rs"]
mod keys;
#[path = "lifecycle.rs"]
mod lifecycle;
#[path = "lifecycle_sqlite.rs"]
mod lifecycle_sqlite;
#[path = "limits.rs"]
mod limits;
#[path = "policy_admin.rs"]
mod policy_admin;
#[path = "roles.rs"]
mod roles;
#[path = "usage.rs"]
mod usage;
