//! The console's real event loop (`ragkeys::console::app::run`) driven by scripted terminal
//! events and read back from a `TestBackend`, against a real `ragkeys serve`.

mod driver;
mod support;

mod audit_and_whois;
mod edit_access;
mod issue_expiry;
mod key_lifecycle;
mod leaks;
mod manage_keys;
mod narrowing;
mod redraw_and_job_control;
mod usage_details;
