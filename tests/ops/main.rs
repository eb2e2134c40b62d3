//! Operating the service: metrics, the alert rules that read them, online backups, and
//! stopping without dropping a request (the drain, a rolling restart behind HAProxy).

#[path = "../common/mod.rs"]
mod common;

mod alert_rules;
mod drain;
mod metrics_scrape;
mod online_backup;
mod rolling_restart;
