//! The `ragkeys` command line as scripts and people use it: the real binary against a real
//! `ragkeys serve` (or a fake one that misbehaves), stdin a pipe or a real terminal (tmux).

#[path = "../common/mod.rs"]
mod common;

mod arguments;
mod ascii_output;
mod audit_and_whois;
mod deadline;
mod hostile_server;
mod https;
mod json_everywhere;
mod key_lifecycle;
mod key_policy;
mod leaks;
mod options_per_command;
mod profiles_and_precedence;
mod proxies;
mod secrets_on_a_shared_host;
mod service_clock;
mod services_and_keys;
mod spec_audit;
mod token_command;
mod unwritable_stdout;
