//! Operating the service: metrics, the alert rules that read them, online backups, a store that
//! cannot take writes, the deployment behind a load balancer and a gateway (the client
//! address, PROXY protocol from HAProxy in `mode tcp`, the nginx recipe), and stopping without
//! dropping a request (the drain, a rolling restart behind HAProxy).

#[path = "../common/mod.rs"]
mod common;

mod alert_rules;
mod client_address;
mod drain;
mod gateway;
mod metrics_scrape;
mod online_backup;
mod proxy_protocol;
mod rolling_restart;
mod scanners;
mod store_faults;
mod webhooks;
