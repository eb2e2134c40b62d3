//! The config file: its format (unknown keys refused), where it lives, and the check that a file
//! holding a token is private.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::{SettingsError, home_dir};
use crate::args::{ClipboardMode, Lang};
use crate::credential::Secret;

/// One `[profile.NAME]` table. Unknown keys are refused, so a typo is not silently ignored.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub endpoint: Option<String>,
    pub token: Option<Secret>,
    pub token_command: Option<String>,
    /// Seconds `token_command` may take (default 30); then its process group is killed.
    pub token_command_timeout: Option<u64>,
    pub ca_cert: Option<PathBuf>,
    pub lang: Option<Lang>,
    pub clipboard: Option<ClipboardMode>,
    pub clipboard_clear_secs: Option<u64>,
    pub mouse: Option<bool>,
    /// Draw and print in 7-bit ASCII whatever the locale says (docs/console.md, Locale).
    pub ascii: Option<bool>,
}

/// The whole config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profile: BTreeMap<String, Profile>,
}

impl FileConfig {
    fn holds_token(&self) -> bool {
        self.profile.values().any(|p| p.token.is_some())
    }
}

/// A config file as read from disk, with where it lives (relative paths in it start there).
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub config: FileConfig,
}

/// `$XDG_CONFIG_HOME/ragkeys/config.toml`, else `~/.config/ragkeys/config.toml`.
pub fn config_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir().join(".config"));
    base.join("ragkeys").join("config.toml")
}

/// Reads and checks the config file; a missing file is no configuration, not an error.
pub fn load_file(path: &Path) -> Result<Option<LoadedFile>, SettingsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // docs/cli.md, Exit codes: a bad config file is a usage error (2), as an unreadable CA file is.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(SettingsError::Usage(format!(
                "config file {} is not UTF-8 text, as TOML must be",
                path.display()
            )));
        }
        Err(e) => {
            return Err(SettingsError::Usage(format!(
                "cannot read config file {}: {e}",
                path.display()
            )));
        }
    };
    let config = parse_file(path, &text)?;
    if config.holds_token() {
        check_private(path)?;
    }
    Ok(Some(LoadedFile {
        path: path.to_path_buf(),
        config,
    }))
}

pub(super) fn parse_file(path: &Path, text: &str) -> Result<FileConfig, SettingsError> {
    toml::from_str::<FileConfig>(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        // TOML says "key" where serde says "field".
        let message = e
            .message()
            .trim()
            .replace('\n', " ")
            .replace("unknown field", "unknown key");
        SettingsError::Usage(match line {
            Some(l) => format!("config file {}, line {l}: {message}", path.display()),
            None => format!("config file {}: {message}", path.display()),
        })
    })
}

/// Like ssh with a private key: a token in a file others can read is a leaked token.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), SettingsError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| SettingsError::Failed(format!("cannot stat {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(SettingsError::Usage(format!(
            "config file {p} holds a token but is accessible by group or others (mode {m:04o}); \
             refusing to use it: run `chmod 600 {p}` (or move the token to token_command)",
            p = path.display(),
            m = mode & 0o7777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), SettingsError> {
    Ok(())
}
