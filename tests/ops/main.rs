//! Operating the service: metrics, the alert rules that read them, and online backups.

#[path = "../common/mod.rs"]
mod common;

mod alert_rules;
mod metrics_scrape;
mod online_backup;
