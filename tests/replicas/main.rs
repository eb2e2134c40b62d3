//! Several `ragkeys serve` replicas on one PostgreSQL database (docs/api.md, Several replicas), from
//! outside: the contract, revocation across replicas, faults of the database and the network, the
//! start-up check of the change feed (PgBouncer, a standby in recovery).

#[path = "../common/mod.rs"]
mod common;

mod contract;
mod failure_limit_share;
mod faults;
mod feed_check;
mod leaks;
mod narrowing;
mod rate_limit_share;
mod read_only;
mod revocation;
mod slow_revocation_phases;
