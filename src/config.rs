//! Where settings come from: flags > environment > the config file's profile > defaults.

use std::path::PathBuf;

use crate::args::{ClipboardMode, ConsoleArgs, GlobalArgs, Lang};
use crate::client::ClientOptions;
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
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

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

pub fn resolve(global: &GlobalArgs, console: &ConsoleArgs) -> Result<Settings, ConfigError> {
    let connection = match (&global.endpoint, &global.token) {
        (None, None) => Connection::Embedded {
            data_dir: data_dir(global),
        },
        (Some(endpoint), Some(token)) => {
            let mut opts = ClientOptions::new(endpoint.clone(), Secret::new(token.clone()));
            opts.ca_cert = global.ca_cert.clone();
            opts.insecure = global.insecure;
            Connection::Remote(opts)
        }
        (Some(_), None) => {
            return Err(ConfigError(
                "--endpoint needs an admin token: --token, RAGKEYS_TOKEN or a profile".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError(
                "--token needs an endpoint: --endpoint, RAGKEYS_ENDPOINT or a profile".into(),
            ));
        }
    };
    Ok(Settings {
        connection,
        lang: console.lang,
        clipboard: console.clipboard.unwrap_or(ClipboardMode::Auto),
        clipboard_clear_secs: console.clipboard_clear_secs.unwrap_or(30),
        mouse: !console.no_mouse,
    })
}
