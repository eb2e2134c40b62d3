//! The HTTP API of `ragkeys serve`, from outside: a real service on 127.0.0.1:0, real HTTP.

#[path = "../common/mod.rs"]
mod common;

mod audit_and_whois;
mod bad_input;
mod connections_cannot_starve;
mod contract;
mod first_start_race;
mod key_lifecycle;
mod kill9_keeps_what_was_acknowledged;
mod leaks;
mod limit_and_delete_under_concurrency;
mod narrowing;
mod secrets_never_leak;
mod service_attention;
mod service_clock;
mod spec_audit;
mod usage_across_restart;
mod usage_reasons;
mod verify_policy;
