//! The HTTP contract of docs/api.md, endpoint by endpoint and code by code: the same modules run
//! once on SQLite (`sqlite`) and once on PostgreSQL (`postgres`).

// The same contract files are compiled once per store, each copy with its own `BACKEND`.
#![allow(clippy::duplicate_mod)]

mod postgres;
mod sqlite;
