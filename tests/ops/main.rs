//! Operating the service: metrics, the alert rules that read them, online backups, and a store
//! that cannot take writes.

#[path = "../common/mod.rs"]
mod common;

mod alert_rules;
mod metrics_scrape;
mod online_backup;
mod store_faults;
