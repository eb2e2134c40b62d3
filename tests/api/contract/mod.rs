//! The HTTP contract of shared/API.md, endpoint by endpoint and code by code: the same modules run
//! once on SQLite (`sqlite`) and once on PostgreSQL (`postgres`).

mod postgres;
mod sqlite;
