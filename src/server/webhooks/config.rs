//! What `serve --webhook…` was given (docs/operating.md, Notifications): the URLs, checked at
//! start, and the signing secrets, read from their file at start and again on SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::server::reload::Reloads;

/// The prefix of a secret in Standard Webhooks' form.
const SECRET_PREFIX: &str = "whsec_";

/// Parses one `--webhook` value: an absolute http:// or https:// URL with a host.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("use an http:// or https:// URL with a host".into());
    }
    Ok(url)
}

/// A URL as logs show it: without its password or its query, which may carry a token.
pub fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("redacted"));
            }
            if u.query().is_some() {
                u.set_query(Some("redacted"));
            }
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// One signing secret: the bytes after `whsec_`, base64-decoded. Never printed; wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Reads the secret file's text: one `whsec_` + base64 secret per line, blank lines ignored, at
/// least one. An error names the line, never its content.
pub fn parse_secrets(text: &str) -> Result<Vec<SigningKey>, String> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(b64) = line.strip_prefix(SECRET_PREFIX) else {
            return Err(format!(
                "line {}: a secret starts with {SECRET_PREFIX}",
                i + 1
            ));
        };
        match STANDARD.decode(b64) {
            Ok(bytes) if !bytes.is_empty() => keys.push(SigningKey(bytes)),
            Ok(_) => return Err(format!("line {}: the secret is empty", i + 1)),
            Err(_) => {
                return Err(format!(
                    "line {}: what follows {SECRET_PREFIX} is not base64",
                    i + 1
                ));
            }
        }
    }
    if keys.is_empty() {
        return Err("no secret in it".into());
    }
    Ok(keys)
}

/// Reads and parses the secret file; the error says which file and why.
pub fn read_secrets(path: &Path) -> Result<Vec<SigningKey>, String> {
    let mut text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the webhook secret file {}: {e}",
            path.display()
        )
    })?;
    let parsed = parse_secrets(&text).map_err(|e| {
        format!(
            "the webhook secret file {} is malformed: {e}",
            path.display()
        )
    });
    text.zeroize();
    parsed
}

/// The secrets every attempt signs with: replaced as a whole when the file is re-read.
#[derive(Clone, Debug)]
pub struct Secrets {
    keys: Arc<RwLock<Arc<Vec<SigningKey>>>>,
}

impl Secrets {
    pub fn new(keys: Vec<SigningKey>) -> Self {
        Secrets {
            keys: Arc::new(RwLock::new(Arc::new(keys))),
        }
    }

    /// The secrets now, for one attempt.
    pub fn current(&self) -> Arc<Vec<SigningKey>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, keys: Vec<SigningKey>) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
    }

    /// Re-reads `path` whenever SIGHUP bumps `reloads`; a file that cannot be read or parsed
    /// keeps the secrets in use, and the log says why (docs/operating.md, Notifications).
    pub async fn follow(self, path: PathBuf, mut reloads: Reloads) {
        while reloads.changed().await.is_ok() {
            let read = tokio::task::spawn_blocking({
                let path = path.clone();
                move || read_secrets(&path)
            })
            .await
            .unwrap_or_else(|e| Err(format!("reading the webhook secret file failed: {e}")));
            match read {
                Ok(keys) => {
                    tracing::info!(
                        secrets = keys.len(),
                        "re-read the webhook secret file {}",
                        path.display()
                    );
                    self.replace(keys);
                }
                Err(why) => tracing::warn!("{why}; keeping the webhook secrets in use"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        assert!(parse_url("https://hooks.example.com/ragkeys").is_ok());
        assert!(parse_url("http://127.0.0.1:9000/").is_ok());
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("file:///etc/passwd").is_err());
        assert!(parse_url("hooks.example.com").is_err());
    }

    #[test]
    fn logs_never_show_a_password_in_a_url() {
        let shown = redacted("https://user:hunter2@hooks.example.com/x");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(redacted("https://h.example/x"), "https://h.example/x");
        assert_eq!(
            redacted("https://h.example/x?token=qs3cret"),
            "https://h.example/x?redacted"
        );
    }

    #[test]
    fn secret_file_one_per_line_blank_lines_ignored() {
        let keys = parse_secrets("\nwhsec_c2VjcmV0MQ==\n\n  whsec_c2VjcmV0Mg==  \n").unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].bytes(), b"secret1");
        assert_eq!(keys[1].bytes(), b"secret2");
    }

    #[test]
    fn malformed_secret_files_are_refused_without_echoing_them() {
        for (text, want) in [
            ("", "no secret"),
            ("\n\n", "no secret"),
            ("c2VjcmV0MQ==\n", "line 1"),
            ("whsec_c2VjcmV0MQ==\nwhsec_not base64!\n", "line 2"),
            ("whsec_\n", "line 1"),
        ] {
            let e = parse_secrets(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains("c2VjcmV0"), "{e}");
        }
    }

    #[test]
    fn a_signing_key_debug_is_redacted() {
        let k = SigningKey(b"topsecret".to_vec());
        assert_eq!(format!("{k:?}"), "[redacted]");
    }
}
