//! The command line, as clap sees it. Connection flags are global: accepted before or after the
//! subcommand, by the console too.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  1  other error
  2  usage error
  3  not found
  4  limit exceeded
  5  unauthorized or forbidden
  6  cannot reach the service (connection, DNS, TLS)
  7  the key's state does not allow this (api_key_not_active)";

#[derive(Debug, Parser)]
#[command(
    name = "ragkeys",
    version,
    about = "API key management for a RAG service: a terminal console, the key service, and commands for scripts",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(flatten)]
    pub console: ConsoleArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How to reach and authenticate to the key service.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// URL of the key service (the console's default: an embedded service over the local data dir)
    #[arg(long, global = true, env = "RAGKEYS_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,

    /// Admin token (ragadm_…); prefer RAGKEYS_TOKEN or token_command in a profile
    #[arg(
        long,
        global = true,
        env = "RAGKEYS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Profile of the config file to use
    #[arg(long, global = true, env = "RAGKEYS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// PEM file of a CA to trust besides the system roots
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Skip TLS certificate verification (prints a warning on every run)
    #[arg(long, global = true)]
    pub insecure: bool,

    /// Print the API's own JSON objects instead of tables
    #[arg(long, global = true)]
    pub json: bool,

    /// Data dir of the embedded service (default: $XDG_DATA_HOME/ragkeys)
    #[arg(long, global = true, env = "RAGKEYS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Options of the console (no subcommand).
#[derive(Debug, Clone, Default, Args)]
pub struct ConsoleArgs {
    /// Language of the console
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,

    /// How [Copy key] reaches a clipboard
    #[arg(long, value_enum)]
    pub clipboard: Option<ClipboardMode>,

    /// Seconds after which a system-clipboard copy is cleared if it still holds the key (0: never)
    #[arg(long, value_name = "SECS")]
    pub clipboard_clear_secs: Option<u64>,

    /// Do not capture the mouse
    #[arg(long)]
    pub no_mouse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Ko,
    Ja,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipboardMode {
    Auto,
    System,
    Osc52,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the key service
    Serve(ServeArgs),
    /// Manage admin tokens (works on the data dir directly, also while the service runs)
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// List, create and delete services
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Services(ServicesCommand),
    /// List, issue, update, disable, enable, rotate and delete API keys of a service
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Keys(KeysCommand),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Most keys per service
    #[arg(long, default_value_t = crate::wire::limits::DEFAULT_KEY_LIMIT, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub key_limit: u32,

    /// Failed verifications allowed per client address per minute before 429
    #[arg(long, default_value_t = 60)]
    pub verify_failures_per_minute: u32,

    /// Log format on stderr (filter with RAGKEYS_LOG, default info)
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// File holding the HMAC pepper (default: <data-dir>/pepper, created at first start)
    #[arg(long, value_name = "FILE")]
    pub pepper_file: Option<PathBuf>,

    /// Serve HTTPS with this certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key of --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Manager,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an admin token and print it (and nothing else) on stdout
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// List admin tokens: name, role, created, masked
    List,
    /// Revoke an admin token by name
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ServicesCommand {
    /// List services
    List,
    /// Create a service
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a service and all its keys
    Delete {
        service_id: String,
        /// Do not ask for confirmation (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys of a service, newest first
    List { service_id: String },
    /// Issue a key; the plaintext goes to stdout (or --out) and nothing else does
    Issue {
        service_id: String,
        #[arg(long)]
        name: Option<String>,
        /// Write the key into this new file (created 0600; never overwritten)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// When the key stops verifying: 7d, 30d, 90d, 1y, Nd (≤ 366d), YYYY-MM-DD (through
        /// that day, UTC), an RFC 3339 time, or never (the default)
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
    },
    /// Rename a key or give it a new expiry
    Update {
        service_id: String,
        key_id: String,
        /// The new name (1 to 50 characters)
        #[arg(long, conflicts_with = "no_name")]
        name: Option<String>,
        /// Clear the name
        #[arg(long)]
        no_name: bool,
        /// The new expiry, as for `keys issue` (never: no expiry)
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
    },
    /// Disable a key: it stops verifying at once, keeps its slot, and can be enabled again
    Disable {
        service_id: String,
        key_id: String,
        /// Do not ask for confirmation (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
    },
    /// Enable a disabled key (an expired one only with a new --expires)
    Enable {
        service_id: String,
        key_id: String,
        /// A new expiry, as for `keys issue`
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
    },
    /// Issue a successor of an active key; the old key keeps verifying for the grace period.
    /// The successor's plaintext goes to stdout (or --out) and nothing else does
    Rotate {
        service_id: String,
        key_id: String,
        /// How long the old key keeps verifying: 0 (stops it at once, like a delete), 1h, 24h,
        /// 7d, or seconds (at most 604800)
        #[arg(long, value_name = "GRACE", default_value = "24h")]
        grace: String,
        /// Write the successor into this new file (created 0600; never overwritten)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// With --grace 0: do not ask for confirmation (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
    },
    /// Delete a key
    Delete {
        service_id: String,
        key_id: String,
        /// Do not ask for confirmation (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn connection_flags_go_before_or_after_the_subcommand() {
        let a = Cli::try_parse_from(["ragkeys", "--endpoint", "http://h", "keys", "list", "s"])
            .unwrap();
        let b = Cli::try_parse_from(["ragkeys", "keys", "list", "s", "--endpoint", "http://h"])
            .unwrap();
        assert_eq!(a.global.endpoint.as_deref(), Some("http://h"));
        assert_eq!(b.global.endpoint.as_deref(), Some("http://h"));
    }
}
