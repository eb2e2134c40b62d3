//! The command line, as clap sees it. Each command shows and accepts only the options it uses
//! (issue 7, "Commands"): the connection flags belong to the console, `services` and `keys`
//! (under a "Connection" heading, after the subcommand or, as before, ahead of it); `serve` and
//! `tokens` take `--data-dir` and their own flags. [`Cli::resolve`] merges what came before the
//! subcommand with what came after into one [`GlobalArgs`], and refuses a flag given ahead of a
//! subcommand that does not use it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::policy::{RateLimit, Scope};

mod clap_exit;
mod empty_env;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  1  other error
  2  usage error
  3  not found
  4  limit exceeded
  5  unauthorized or forbidden
  6  cannot reach the service (connection, DNS, TLS), or no answer within --timeout
  7  the key's state does not allow this (api_key_not_active)";

#[derive(Debug, Parser)]
#[command(
    name = "ragkeys",
    version,
    about = "API key management for a RAG service: a terminal console, the key service, and commands for scripts",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Data dir of the embedded service (default: $XDG_DATA_HOME/ragkeys)
    #[arg(long, env = "RAGKEYS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// `--json` ahead of `services`, `keys` or `tokens` (its old place): not shown here.
    #[arg(long, hide = true)]
    pub json: bool,

    /// The console's connection; also accepted ahead of `services` and `keys`.
    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub console: ConsoleArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What a command runs with once the command line is merged: the connection (console,
/// `services`, `keys`), `--json`, and the data dir (console, `serve`, `tokens`).
#[derive(Debug, Clone, Default)]
pub struct GlobalArgs {
    /// URL of the key service; `None`: the console's embedded service.
    pub endpoint: Option<String>,
    /// Admin token (ragadm_…); `-`: read it from stdin.
    pub token: Option<String>,
    /// `--token` was typed on the command line, where `ps` shows it to every user.
    pub token_typed: bool,
    /// `--database` was typed on the command line (not RAGKEYS_DATABASE_URL).
    pub database_typed: bool,
    /// Profile of the config file.
    pub profile: Option<String>,
    /// PEM file of a CA to trust besides the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// Print the API's own JSON objects instead of tables.
    pub json: bool,
    /// Data dir of the embedded service, `serve` and `tokens`.
    pub data_dir: Option<PathBuf>,
    /// `--timeout` of `services`, `keys` and `audit`: seconds for the whole command.
    pub timeout: Option<u64>,
    /// `--ascii` of `services`, `keys` and `audit`: print 7-bit ASCII whatever the locale.
    pub ascii: bool,
}

/// Declares the connection flags twice: on the top level (the console's, not passed down to
/// `serve` or `tokens`) and as globals of `services` / `keys` (accepted after their actions).
macro_rules! connection_args {
    ($(#[$doc:meta])* $name:ident, $global:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Args)]
        #[command(next_help_heading = "Connection")]
        pub struct $name {
            /// URL of the key service (the console's default: an embedded service over the local data dir)
            #[arg(long, global = $global, env = "RAGKEYS_ENDPOINT", value_name = "URL")]
            pub endpoint: Option<String>,

            /// Admin token (ragadm_…), or - to read it from stdin. Typed here, it is seen by
            /// every user of this host (ps, /proc): prefer RAGKEYS_TOKEN, token_command in a
            /// profile of the config file, or --token - (warns otherwise)
            #[arg(
                long,
                global = $global,
                env = "RAGKEYS_TOKEN",
                value_name = "TOKEN",
                hide_env_values = true
            )]
            pub token: Option<String>,

            /// Profile of the config file to use
            #[arg(long, global = $global, env = "RAGKEYS_PROFILE", value_name = "NAME")]
            pub profile: Option<String>,

            /// PEM file of a CA to trust besides the system roots
            #[arg(long, global = $global, value_name = "FILE")]
            pub ca_cert: Option<PathBuf>,

            /// Skip TLS certificate verification (prints a warning on every run)
            #[arg(long, global = $global)]
            pub insecure: bool,
        }
    };
}

connection_args!(
    /// How the console reaches the key service.
    ConnectionArgs,
    false
);
connection_args!(
    /// How `services` and `keys` reach the key service.
    RemoteConnectionArgs,
    true
);

/// The options of `services` and `keys`, accepted after any of their actions.
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteArgs {
    /// Print the API's own JSON objects instead of tables
    #[arg(long, global = true)]
    pub json: bool,

    /// Give up after this many seconds in all (exit 6): retries and token_command count, time
    /// spent answering a [y/N] question does not
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        default_value_t = crate::cli::deadline::DEFAULT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub timeout: u64,

    /// Print 7-bit ASCII only (tables, charts, messages), whatever the locale; --json is untouched
    #[arg(long, global = true)]
    pub ascii: bool,

    #[command(flatten)]
    pub connection: RemoteConnectionArgs,
}

/// The options of `tokens`, accepted after any of its actions.
#[derive(Debug, Clone, Default, Args)]
pub struct DataArgs {
    /// Data dir to work on (default: $XDG_DATA_HOME/ragkeys)
    #[arg(long, global = true, env = "RAGKEYS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Cli {
    /// Parses the process's arguments; a usage error ends the process with one `error: …` line
    /// and exit 2, help and the version with exit 0 (1 when stdout cannot be written).
    pub fn parse_resolved() -> (Cli, GlobalArgs) {
        let mut cmd = empty_env::ignore_empty(Cli::command());
        let matches = cmd
            .clone()
            .try_get_matches()
            .unwrap_or_else(|e| clap_exit::exit(e));
        let cli =
            Cli::from_arg_matches(&matches).unwrap_or_else(|e| clap_exit::exit(e.format(&mut cmd)));
        match cli.resolve(&matches) {
            Ok(g) => (cli, g),
            Err(msg) => clap_exit::exit(cmd.error(clap::error::ErrorKind::ArgumentConflict, msg)),
        }
    }

    /// Merges the flags given ahead of the subcommand into the subcommand's own (which win), and
    /// refuses one given ahead of a subcommand that does not use it.
    pub fn resolve(&self, matches: &ArgMatches) -> Result<GlobalArgs, String> {
        let given = |id: &str| matches!(matches.value_source(id), Some(ValueSource::CommandLine));
        let top = &self.connection;
        let connection_ids = ["endpoint", "token", "profile", "ca_cert", "insecure"];
        let (name, uses_connection, uses_data, uses_json) = match &self.command {
            None => ("the console (`ragkeys` alone)", true, true, false),
            Some(Command::Serve(_)) => ("`ragkeys serve`", false, true, false),
            Some(Command::Tokens(_)) => ("`ragkeys tokens`", false, true, true),
            Some(Command::Backup(_)) => ("`ragkeys backup`", false, true, false),
            Some(Command::Services(_)) => ("`ragkeys services`", true, false, true),
            Some(Command::Keys(_)) => ("`ragkeys keys`", true, false, true),
            Some(Command::Audit(_)) => ("`ragkeys audit`", true, false, true),
            Some(Command::Completions { .. }) => ("`ragkeys completions`", false, false, false),
        };
        let flag = |id: &str| format!("--{}", id.replace('_', "-"));
        for id in connection_ids {
            if !uses_connection && given(id) {
                return Err(format!("{} is not an option of {name}", flag(id)));
            }
        }
        if !uses_data && given("data_dir") {
            return Err(format!("--data-dir is not an option of {name}"));
        }
        if !uses_json && given("json") {
            return Err(format!("--json is not an option of {name}"));
        }
        let mut g = GlobalArgs {
            endpoint: top.endpoint.clone(),
            token: top.token.clone(),
            profile: top.profile.clone(),
            ca_cert: top.ca_cert.clone(),
            insecure: top.insecure,
            json: self.json,
            data_dir: self.data_dir.clone(),
            timeout: None,
            token_typed: uses_connection && typed(matches, "token"),
            database_typed: typed(matches, "database"),
            ascii: false,
        };
        if !uses_connection {
            // Only the environment can have filled them: nothing this command reads.
            g.endpoint = None;
            g.token = None;
            g.profile = None;
        }
        let remote = match &self.command {
            Some(Command::Services(s)) => Some(&s.remote),
            Some(Command::Keys(k)) => Some(&k.remote),
            Some(Command::Audit(a)) => Some(&a.remote),
            _ => None,
        };
        if let Some(r) = remote {
            let c = &r.connection;
            g.endpoint = c.endpoint.clone().or(g.endpoint);
            g.token = c.token.clone().or(g.token);
            g.profile = c.profile.clone().or(g.profile);
            g.ca_cert = c.ca_cert.clone().or(g.ca_cert);
            g.insecure |= c.insecure;
            g.json |= r.json;
            g.timeout = Some(r.timeout);
            g.ascii = r.ascii;
        }
        match &self.command {
            Some(Command::Tokens(t)) => {
                g.data_dir = t.data.data_dir.clone().or(g.data_dir);
                g.json |= t.json;
            }
            Some(Command::Serve(s)) => g.data_dir = s.data.data_dir.clone().or(g.data_dir),
            Some(Command::Backup(b)) => g.data_dir = b.data.data_dir.clone().or(g.data_dir),
            _ => {}
        }
        Ok(g)
    }
}

/// Whether `id` was typed on the command line, ahead of the subcommand or after it (a global
/// flag is recorded at the level where it was typed and copied below).
fn typed(matches: &ArgMatches, id: &str) -> bool {
    let mut level = Some(matches);
    while let Some(m) = level {
        // try_get_raw first: an id a level does not define is no error there.
        if m.try_get_raw(id).is_ok() && matches!(m.value_source(id), Some(ValueSource::CommandLine))
        {
            return true;
        }
        level = m.subcommand().map(|(_, sub)| sub);
    }
    false
}

/// Options of the console (no subcommand).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Console")]
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

    /// Draw with 7-bit ASCII only, in English, whatever the locale
    #[arg(long)]
    pub ascii: bool,
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
    Serve(ServeCommand),
    /// Manage admin tokens (works on the data dir directly, also while the service runs)
    Tokens(TokensArgs),
    /// Copy the data dir's SQLite store into a new file, also while the service runs (the
    /// pepper is not in the copy: keep it apart)
    Backup(BackupArgs),
    /// List, create and delete services
    #[command(after_help = EXIT_CODES_HELP)]
    Services(ServicesArgs),
    /// List, issue, update, disable, enable, rotate and delete API keys of a service; report a
    /// leaked one
    #[command(after_help = EXIT_CODES_HELP)]
    Keys(KeysArgs),
    /// The audit trail of every service (deleted ones included), newest first
    #[command(after_help = EXIT_CODES_HELP)]
    Audit(AuditArgs),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `ragkeys serve`: the service's own options and its data dir.
#[derive(Debug, Clone, Args)]
pub struct ServeCommand {
    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(flatten)]
    pub data: DataArgs,
}

/// `ragkeys backup [--data-dir DIR] FILE`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The new file to write (created 0600; never overwritten)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub data: DataArgs,
}

/// `ragkeys tokens ACTION`.
#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(subcommand)]
    pub command: TokensCommand,

    #[command(flatten)]
    pub data: DataArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Print JSON: the tokens listed, the token created (with its secret), the name revoked
    #[arg(long, global = true)]
    pub json: bool,
}

/// `ragkeys services ACTION`.
#[derive(Debug, Args)]
pub struct ServicesArgs {
    #[command(subcommand)]
    pub command: ServicesCommand,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `ragkeys keys ACTION`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `ragkeys audit [--service SVC] [--action A] [--limit N]`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this service's events: its name, or its id (a deleted service's id works too)
    #[arg(long, value_name = "SVC")]
    pub service: Option<String>,

    /// Only events of this action (service.create, api_key.issue, api_key.whois, …)
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,

    /// How many events to show, newest first (pages are followed as needed)
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,

    #[command(flatten)]
    pub remote: RemoteArgs,
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

    #[command(flatten)]
    pub store: StoreArgs,

    /// Serve HTTPS with this certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key of --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve Prometheus metrics (GET /metrics, no token) on this second address; off by default
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// GitHub's secret scanning public keys (the JSON of GET /meta/public_keys/secret_scanning):
    /// turns on POST /v1/leaks/github, whose reports must be signed by one of them; re-read on
    /// SIGHUP (docs/api.md, Leaked keys)
    #[arg(long, value_name = "FILE")]
    pub leak_report_keys: Option<PathBuf>,

    /// A proxy or load balancer whose X-Forwarded-For / Forwarded headers name the client
    /// (repeatable; none by default: those headers are ignored)
    #[arg(long, value_name = "CIDR", value_parser = crate::server::forwarded::parse_cidr)]
    pub trusted_proxy: Vec<ipnet::IpNet>,

    /// An L4 balancer (HAProxy send-proxy) that begins every connection with a PROXY header,
    /// v1 or v2, naming the client (repeatable; none by default: a PROXY header is refused)
    #[arg(long, value_name = "CIDR", value_parser = crate::server::forwarded::parse_cidr)]
    pub proxy_protocol: Vec<ipnet::IpNet>,

    /// On SIGTERM, keep serving this long while /readyz answers 503, then stop (0: at once)
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub drain: u64,

    /// With PostgreSQL: while the database is readable but not writable (a failover window),
    /// keep answering /v1/verify from the index for up to this long after the last lease
    /// renewal, as long as nothing can have been revoked meanwhile (0: answer 503 at once).
    /// Writers wait up to 1.1 s more for a replica in this window (docs/operating.md, A read-only database)
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub read_only_verify: u64,

    /// Send notifications (api_key.leaked, expiring, disabled_still_called, retired) to this
    /// URL as Standard Webhooks (repeatable; http:// or https://; docs/operating.md, Notifications)
    #[arg(long, value_name = "URL", requires = "webhook_secret_file", value_parser = crate::server::webhooks::config::parse_url)]
    pub webhook: Vec<reqwest::Url>,

    /// The webhook signing secrets: one `whsec_` + base64 secret per line, each signing every
    /// delivery (two lines rotate a secret without a gap); re-read on SIGHUP. Required with --webhook
    #[arg(long, value_name = "FILE", requires = "webhook")]
    pub webhook_secret_file: Option<PathBuf>,

    /// Root certificates (PEM) trusted for https:// webhook URLs besides the system's
    #[arg(long, value_name = "FILE", requires = "webhook")]
    pub webhook_ca_cert: Option<PathBuf>,

    /// Multiplies the webhook retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 8 h, 8 h); must be > 0
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_retry_scale)]
    pub webhook_retry_scale: f64,
}

/// `--webhook-retry-scale`: a finite number above 0.
fn parse_retry_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err("expected a number above 0, e.g. 1 or 0.001".into()),
    }
}

/// Where `serve` and `tokens` keep their data: SQLite in the data dir (the default), or one
/// PostgreSQL database shared by several replicas (docs/api.md, Several replicas).
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// PostgreSQL database shared by several replicas, as libpq spells it
    /// (postgres://user@host:5432/db?sslmode=verify-full); default: SQLite in the data dir.
    /// A password typed in it is seen by every user of this host (ps, /proc): give the URL in
    /// RAGKEYS_DATABASE_URL, or the password in a .pgpass file (warns otherwise)
    #[arg(
        long,
        global = true,
        env = "RAGKEYS_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL",
        value_parser = crate::server::store::postgres::DatabaseUrl::accept
    )]
    pub database: Option<crate::server::store::postgres::DatabaseUrl>,

    /// File holding the HMAC pepper (default: <data-dir>/pepper, created at first start).
    /// Required with --database: the same file on every replica (created 0600 if missing)
    #[arg(long, global = true, value_name = "FILE")]
    pub pepper_file: Option<PathBuf>,

    /// Root certificates (PEM) that verify the database's TLS certificate
    /// (sslmode=verify-ca or verify-full); default: the system roots
    #[arg(long, global = true, value_name = "FILE")]
    pub database_ca: Option<PathBuf>,

    /// PostgreSQL URL the change feed LISTENs on (default: --database). Set it when --database
    /// is a pooler in transaction mode (PgBouncer): it must reach PostgreSQL directly or through
    /// a session-mode pool; serve checks at start that a NOTIFY reaches it
    #[arg(
        long,
        global = true,
        env = "RAGKEYS_DATABASE_LISTEN_URL",
        hide_env_values = true,
        value_name = "URL",
        value_parser = crate::server::store::postgres::DatabaseUrl::accept
    )]
    pub database_listen: Option<crate::server::store::postgres::DatabaseUrl>,

    /// Seconds to keep retrying at start while the database cannot be reached
    /// (default: 30 for serve, 10 for tokens); then exit 1
    #[arg(long, global = true, value_name = "SECS")]
    pub database_wait: Option<u64>,
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

/// What a key may do, as `keys issue` and `keys update` take it (docs/cli.md, Access). Each
/// value is checked here, before anything is sent, with the service's own rules.
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyArgs {
    /// A scope the key gets: query, ingest or manage; repeat it or separate by commas (issue:
    /// all three when absent; update: replaces the key's scopes)
    #[arg(
        long,
        value_name = "SCOPE",
        value_delimiter = ',',
        value_parser = scope_arg(),
        help_heading = "Access"
    )]
    pub scope: Vec<Scope>,
    /// The key's own rate limit: N/s, N/min or N/h (N from 1 to 1000000)
    #[arg(long, value_name = "N/UNIT", value_parser = RateLimit::parse, help_heading = "Access")]
    pub rate: Option<RateLimit>,
    /// A network the key may be used from: a CIDR (10.0.0.0/8) or an address; repeat it or
    /// separate by commas, up to 16 (issue: anywhere when absent; update: replaces the allowlist)
    #[arg(
        long,
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = crate::policy::parse_cidr,
        help_heading = "Access"
    )]
    pub allow: Vec<ipnet::IpNet>,
}

/// `--scope`'s values: the known scopes, offered by the shell completions too.
fn scope_arg() -> impl clap::builder::TypedValueParser<Value = Scope> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Scope::ALL.map(Scope::as_str))
        .map(|s| Scope::parse(&s).unwrap_or(Scope::Unknown))
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// List the keys of a service, newest first
    List { service_id: String },
    /// Whose key is this? Reads one API key from stdin (typed without echo on a terminal;
    /// never from the command line, where ps and shell history would keep it)
    Whois {
        /// A key given here anyway: refused without being echoed (clap would print it back).
        #[arg(hide = true, num_args = 0.., allow_hyphen_values = true)]
        argv: Vec<String>,
    },
    /// Report a leaked key (found in a ticket, a log, a chat): reads one API key from stdin as
    /// whois does; the service disables it at once. Asks nothing: a report only ever stops a key
    Leak {
        /// Where the key was found (a ticket, a commit, a chat message); kept in its leak record
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// A key given here anyway: refused without being echoed (clap would print it back).
        #[arg(hide = true, num_args = 0.., allow_hyphen_values = true)]
        argv: Vec<String>,
    },
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
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Rename a key, give it a new expiry, or change what it may do
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
        #[command(flatten)]
        policy: PolicyArgs,
        /// Give the key every scope again (query, ingest, manage)
        #[arg(long, conflicts_with = "scope", help_heading = "Access")]
        all_scopes: bool,
        /// Remove the key's rate limit
        #[arg(long, conflicts_with = "rate", help_heading = "Access")]
        no_rate: bool,
        /// Remove the key's allowlist: it may be used from anywhere
        #[arg(long, conflicts_with = "allow", help_heading = "Access")]
        allow_any: bool,
    },
    /// Propose the narrowest access the key's use of the last 30 days allows, as a diff; on a
    /// terminal ask before applying it, with --yes apply it at once, else only print it
    Narrow {
        service_id: String,
        key_id: String,
        /// Apply the proposal without asking
        #[arg(long)]
        yes: bool,
    },
    /// Disable a key: it stops verifying at once, keeps its slot, and can be enabled again
    Disable {
        service_id: String,
        key_id: String,
        /// Do not ask for confirmation (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
    },
    /// Enable a disabled key (an expired one only with a new --expires; a leaked one only with
    /// --yes)
    Enable {
        service_id: String,
        key_id: String,
        /// A new expiry, as for `keys issue`
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
        /// Enable it even though it was reported leaked (refused without it)
        #[arg(long)]
        yes: bool,
    },
    /// Issue a successor of an active key; the old key keeps verifying for the grace period. A
    /// leaked key (disabled or expired) is replaced at once, without a grace. The successor's
    /// plaintext goes to stdout (or --out) and nothing else does
    Rotate {
        service_id: String,
        key_id: String,
        /// How long the old key keeps verifying: 0 (stops it at once, like a delete), 1h, 24h,
        /// 7d, or seconds (at most 604800) [default: 24h]
        #[arg(long, value_name = "GRACE")]
        grace: Option<String>,
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
    /// How much a key is used: verifications (ok, refused, denied, limited) per hour over 24
    /// hours and per day over 30 days, with sparklines and totals, where it was last used from,
    /// and the scopes and networks it was used with
    Usage { service_id: String, key_id: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn resolved(args: &[&str]) -> Result<GlobalArgs, String> {
        let matches = Cli::command()
            .try_get_matches_from(args)
            .map_err(|e| e.to_string())?;
        let cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        cli.resolve(&matches)
    }

    #[test]
    fn connection_flags_go_before_or_after_the_subcommand() {
        let a = resolved(&["ragkeys", "--endpoint", "http://h", "keys", "list", "s"]).unwrap();
        let b = resolved(&["ragkeys", "keys", "list", "s", "--endpoint", "http://h"]).unwrap();
        let c = resolved(&["ragkeys", "--json", "services", "list"]).unwrap();
        let d = resolved(&["ragkeys", "services", "--insecure", "list", "--json"]).unwrap();
        assert_eq!(a.endpoint.as_deref(), Some("http://h"));
        assert_eq!(b.endpoint.as_deref(), Some("http://h"));
        assert!(c.json && d.json && d.insecure);
        let t = resolved(&["ragkeys", "tokens", "list", "--json", "--data-dir", "/d"]).unwrap();
        assert!(t.json);
        assert_eq!(t.data_dir.as_deref(), Some(std::path::Path::new("/d")));
        let s = resolved(&["ragkeys", "--data-dir", "/d", "serve"]).unwrap();
        assert_eq!(s.data_dir.as_deref(), Some(std::path::Path::new("/d")));
    }

    #[test]
    fn a_token_or_database_typed_anywhere_on_the_line_is_told_from_the_environment() {
        let typed_token = |args: &[&str]| resolved(args).unwrap().token_typed;
        assert!(typed_token(&["ragkeys", "--token", "t"]));
        assert!(typed_token(&[
            "ragkeys", "--token", "t", "keys", "list", "s"
        ]));
        assert!(typed_token(&[
            "ragkeys", "keys", "list", "s", "--token", "t"
        ]));
        assert!(typed_token(&[
            "ragkeys", "services", "--token", "t", "list"
        ]));
        assert!(!typed_token(&["ragkeys", "keys", "list", "s"]));
        let typed_db = |args: &[&str]| resolved(args).unwrap().database_typed;
        assert!(typed_db(&[
            "ragkeys",
            "serve",
            "--database",
            "postgres://u:p@h/d"
        ]));
        assert!(typed_db(&[
            "ragkeys",
            "tokens",
            "list",
            "--database",
            "postgres://h/d"
        ]));
        assert!(!typed_db(&["ragkeys", "serve"]));
    }

    #[test]
    fn commands_refuse_options_they_do_not_use() {
        for bad in [
            &["ragkeys", "serve", "--endpoint", "x"][..],
            &["ragkeys", "serve", "--json"],
            &["ragkeys", "tokens", "list", "--token", "t"],
            &["ragkeys", "tokens", "list", "--insecure"],
            &["ragkeys", "services", "list", "--data-dir", "/d"],
            &["ragkeys", "keys", "list", "s", "--data-dir", "/d"],
            &["ragkeys", "--endpoint", "x", "serve"],
            &["ragkeys", "--ca-cert", "c", "tokens", "list"],
            &["ragkeys", "--data-dir", "/d", "services", "list"],
            &["ragkeys", "--json"],
            &["ragkeys", "--endpoint", "x", "completions", "bash"],
        ] {
            assert!(resolved(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
