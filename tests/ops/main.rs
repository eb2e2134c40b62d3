//! Operating the service: metrics, the alert rules that read them, online backups, a store that
//! cannot take writes, and the deployment behind a load balancer and a gateway (the client
//! address, the nginx recipe).

#[path = "../common/mod.rs"]
mod common;

mod alert_rules;
mod client_address;
mod gateway;
mod metrics_scrape;
mod online_backup;
mod store_faults;
