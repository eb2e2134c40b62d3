//! The key lifecycle of docs/api.md (Key lifecycle): its rules one by one, then under
//! concurrency and crashes.

mod races;
mod rules;
mod support;
