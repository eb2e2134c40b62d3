//! The HTTP contract of `ragkeys serve` (shared/API.md), checked from outside: a real server on
//! 127.0.0.1:0 over a temp data dir, real HTTP, endpoint by endpoint and code by code.

mod common;

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

#[path = "api_contract/embedded.rs"]
mod embedded;

#[path = "api_contract/usage.rs"]
mod usage;
