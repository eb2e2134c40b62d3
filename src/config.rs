//! Where settings come from: flags > environment > the config file's profile > defaults.
//!
//! clap already reads `RAGKEYS_ENDPOINT`, `RAGKEYS_TOKEN` and `RAGKEYS_PROFILE` into the flags, so
//! "flags and environment" arrive here as one value that beats the profile. The file is
//! `$XDG_CONFIG_HOME/ragkeys/config.toml` (else `~/.config/ragkeys/config.toml`):
//!
//! ```toml
//! default_profile = "prod"
//!
//! [profile.prod]
//! endpoint = "https://keys.example.com"
//! token_command = "pass show ragkeys/prod"
//! token_command_timeout = 30   # seconds; then its process group is killed
//! ca_cert = "~/certs/internal-ca.pem"
//! lang = "ko"
//! ascii = false                # true: 7-bit ASCII whatever the locale
//! ```

mod file;
pub mod token_command;

use std::path::{Path, PathBuf};

pub use file::{FileConfig, LoadedFile, Profile, config_path, load_file};

use crate::args::{ClipboardMode, ConsoleArgs, GlobalArgs, Lang};
use crate::cli::error::CliError;
use crate::client::{ClientOptions, parse_endpoint};
use crate::credential::Secret;

/// Where the console or a command talks to.
#[derive(Debug, Clone)]
pub enum Connection {
    /// No endpoint configured: the key service runs inside the process on loopback.
    Embedded {
        data_dir: PathBuf,
    },
    Remote(ClientOptions),
}

/// Everything the console and the commands need, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connection: Connection,
    pub lang: Option<Lang>,
    pub clipboard: ClipboardMode,
    pub clipboard_clear_secs: u64,
    pub mouse: bool,
    /// `--ascii` or `ascii = true`: 7-bit ASCII whatever the locale.
    pub ascii: bool,
}

impl Settings {
    /// What the user must hear on every run about this connection (`--insecure`, plain HTTP).
    pub fn warnings(&self) -> Vec<String> {
        self.connection.warnings()
    }
}

impl Connection {
    pub fn warnings(&self) -> Vec<String> {
        let Connection::Remote(opts) = self else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let url = parse_endpoint(&opts.endpoint).ok();
        if opts.insecure {
            out.push(
                "--insecure: TLS certificates are not verified; anyone on the path can read the \
                 admin token and the keys"
                    .to_string(),
            );
        }
        if let Some(u) = &url
            && opts.proxy_env.is_some()
            && let Some(w) =
                crate::client::proxy::uppercase_http_proxy_warning(u, |k| std::env::var(k).ok())
        {
            out.push(w);
        }
        if let Some(u) = &url
            && u.scheme() == "http"
            && !is_loopback(u)
        {
            out.push(format!(
                "{} is plain http:// to a host that is not this machine: the admin token and \
                 issued keys cross the network unencrypted; use https://",
                u.as_str().trim_end_matches('/')
            ));
        }
        out
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let d = host.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

/// A configuration problem, as one line a person can act on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A configuration problem with what kind of problem it is, so that commands can pick an exit code.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The user's flags, environment or config file say something that cannot work.
    #[error("{0}")]
    Usage(String),
    /// Something outside failed: the config file could not be read, `token_command` failed.
    #[error("{0}")]
    Failed(String),
}

impl From<SettingsError> for ConfigError {
    fn from(e: SettingsError) -> Self {
        ConfigError(e.to_string())
    }
}

/// A command's exit code follows the kind: settings know the CLI's codes, not the other way
/// round (clap's errors, in `args`, already use them).
impl From<SettingsError> for CliError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Usage(m) => CliError::usage(m),
            SettingsError::Failed(m) => CliError::other(m),
        }
    }
}

/// `$XDG_DATA_HOME/ragkeys`, else `~/.local/share/ragkeys`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("ragkeys");
    }
    home_dir().join(".local/share/ragkeys")
}

pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn data_dir(global: &GlobalArgs) -> PathBuf {
    global.data_dir.clone().unwrap_or_else(default_data_dir)
}

/// The settings for this run, from the flags (which hold the environment too) and the config file.
pub fn resolve(global: &GlobalArgs, console: &ConsoleArgs) -> Result<Settings, ConfigError> {
    load(global, console).map_err(ConfigError::from)
}

/// [`resolve`], with the kind of failure kept.
pub fn load(global: &GlobalArgs, console: &ConsoleArgs) -> Result<Settings, SettingsError> {
    let file = load_file(&config_path())?;
    resolve_with(global, console, file.as_ref())
}

/// Merges flags over the config file's profile; runs `token_command` only when it is needed.
pub fn resolve_with(
    global: &GlobalArgs,
    console: &ConsoleArgs,
    file: Option<&LoadedFile>,
) -> Result<Settings, SettingsError> {
    let (profile_name, profile) = pick_profile(global, file)?;
    let base_dir = file.and_then(|f| f.path.parent()).map(Path::to_path_buf);

    let endpoint = global.endpoint.clone().or_else(|| profile.endpoint.clone());
    if let (Some(p), Some(_), Some(_)) = (&profile_name, &profile.token, &profile.token_command) {
        return Err(SettingsError::Usage(format!(
            "profile {p} sets both token and token_command; keep one"
        )));
    }

    let connection = match endpoint {
        None if global.token.is_none() && profile.token.is_none() => Connection::Embedded {
            data_dir: data_dir(global),
        },
        None => {
            return Err(SettingsError::Usage(
                "an admin token is set but no endpoint: pass --endpoint URL, set \
                 RAGKEYS_ENDPOINT, or set endpoint in the profile"
                    .into(),
            ));
        }
        Some(endpoint) => {
            parse_endpoint(&endpoint).map_err(|e| SettingsError::Usage(e.to_string()))?;
            let token = match (&global.token, &profile.token, &profile.token_command) {
                (Some(t), _, _) => Secret::new(t.trim().to_string()),
                (None, Some(t), _) => Secret::new(t.expose().trim().to_string()),
                (None, None, Some(cmd)) => {
                    let name = profile_name.as_deref().unwrap_or("?");
                    let secs = profile
                        .token_command_timeout
                        .unwrap_or(token_command::DEFAULT_TIMEOUT_SECS);
                    if !(1..=86_400).contains(&secs) {
                        return Err(SettingsError::Usage(format!(
                            "token_command_timeout of profile {name} must be 1 to 86400 \
                             seconds, not {secs}"
                        )));
                    }
                    // A command's own deadline (docs/cli.md, Deadline) bounds its token_command too.
                    let secs = global.timeout.map_or(secs, |t| t.min(secs));
                    token_command::run(name, cmd, std::time::Duration::from_secs(secs))?
                }
                (None, None, None) => {
                    return Err(SettingsError::Usage(
                        "no admin token for the endpoint: set RAGKEYS_TOKEN, set token or \
                         token_command in the profile, or pass --token - to read it from stdin"
                            .into(),
                    ));
                }
            };
            let mut opts = ClientOptions::new(endpoint, token);
            opts.ca_cert = global.ca_cert.clone().or_else(|| {
                profile
                    .ca_cert
                    .as_ref()
                    .map(|p| expand(p, base_dir.as_deref()))
            });
            opts.insecure = global.insecure;
            Connection::Remote(opts)
        }
    };

    Ok(Settings {
        connection,
        lang: console.lang.or(profile.lang),
        clipboard: console
            .clipboard
            .or(profile.clipboard)
            .unwrap_or(ClipboardMode::Auto),
        clipboard_clear_secs: console
            .clipboard_clear_secs
            .or(profile.clipboard_clear_secs)
            .unwrap_or(30),
        mouse: !console.no_mouse && profile.mouse.unwrap_or(true),
        ascii: console.ascii || profile.ascii.unwrap_or(false),
    })
}

/// `--profile` (or `RAGKEYS_PROFILE`) beats `default_profile`; a named profile must exist.
fn pick_profile(
    global: &GlobalArgs,
    file: Option<&LoadedFile>,
) -> Result<(Option<String>, Profile), SettingsError> {
    let (name, from_flag) = match (
        &global.profile,
        file.and_then(|f| f.config.default_profile.as_ref()),
    ) {
        (Some(n), _) => (n.clone(), true),
        (None, Some(n)) => (n.clone(), false),
        (None, None) => return Ok((None, Profile::default())),
    };
    let Some(file) = file else {
        return Err(SettingsError::Usage(format!(
            "profile {name} not found: there is no config file at {}",
            config_path().display()
        )));
    };
    match file.config.profile.get(&name) {
        Some(p) => Ok((Some(name), p.clone())),
        None => {
            let known: Vec<&str> = file.config.profile.keys().map(String::as_str).collect();
            let source = if from_flag {
                "--profile/RAGKEYS_PROFILE"
            } else {
                "default_profile"
            };
            Err(SettingsError::Usage(format!(
                "profile {name} (from {source}) is not in {}; profiles there: {}",
                file.path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )))
        }
    }
}

/// `~/x` is in the home directory; a relative path is relative to the config file.
fn expand(p: &Path, base: Option<&Path>) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~") {
        return home_dir().join(rest);
    }
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests;
