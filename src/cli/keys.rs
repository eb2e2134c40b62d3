//! `ragkeys keys list | issue | delete`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::error::{self, CliError};
use super::output::{json_for_terminal, keys_table, local_time, notice, stdout};
use super::retry::retry;
use super::services::is_not_found;
use super::{Ctx, confirm};
use crate::args::KeysCommand;
use crate::client::{ApiError, new_idempotency_key};
use crate::sanitize::clean;
use crate::wire::{ErrorCode, IssueApiKey};

pub async fn run(ctx: &Ctx, cmd: KeysCommand) -> Result<(), CliError> {
    match cmd {
        KeysCommand::List { service_id } => list(ctx, &service_id).await,
        KeysCommand::Issue {
            service_id,
            name,
            out,
        } => issue(ctx, &service_id, name, out).await,
        KeysCommand::Delete {
            service_id,
            key_id,
            yes,
        } => delete(ctx, &service_id, &key_id, yes).await,
    }
}

async fn list(ctx: &Ctx, service_id: &str) -> Result<(), CliError> {
    let raw = retry(false, |_| ctx.client.list_keys_raw(service_id)).await?;
    if ctx.json {
        return stdout(&json_for_terminal(&raw.body));
    }
    let l = &raw.value;
    if l.api_keys.is_empty() {
        notice(&format!(
            "No API Keys yet (0 / {}). Issue one with: ragkeys keys issue {}",
            l.key_limit,
            clean(service_id)
        ));
        return Ok(());
    }
    stdout(&keys_table(&l.api_keys))?;
    notice(&format!("{} / {} API Keys", l.api_keys.len(), l.key_limit));
    Ok(())
}

async fn issue(
    ctx: &Ctx,
    service_id: &str,
    name: Option<String>,
    out: Option<PathBuf>,
) -> Result<(), CliError> {
    // The file comes first: a key issued into a file that cannot be created would be lost.
    let mut file = match &out {
        Some(p) => Some((p.as_path(), create_private(p)?)),
        None => None,
    };
    let body = IssueApiKey {
        name,
        expires_at: None,
    };
    let idempotency_key = new_idempotency_key();
    let result = retry(true, |_| {
        ctx.client
            .issue_key_raw(service_id, &body, &idempotency_key)
    })
    .await;
    let raw = match result {
        Ok(raw) => raw,
        Err(e) => {
            if let Some((p, _)) = &file {
                let _ = std::fs::remove_file(p);
            }
            return Err(issue_error(e, service_id));
        }
    };
    let issued = &raw.value;
    let k = &issued.key.api_key;
    let content = Zeroizing::new(if ctx.json {
        json_for_terminal(&raw.body)
    } else {
        // A key is base62 after its prefix; anything else from the wire must not reach a terminal.
        format!("{}\n", clean(issued.key.key.expose()))
    });
    let lost = |what: String| {
        CliError::other(format!(
            "{what}; API key {} was issued and is now lost: delete it with `ragkeys keys delete \
             {} {}`",
            clean(&k.id),
            clean(service_id),
            clean(&k.id)
        ))
    };
    let replayed = if issued.replayed {
        " (the service replayed the answer to an earlier attempt)"
    } else {
        ""
    };
    match &mut file {
        Some((path, f)) => {
            if let Err(e) = f.write_all(content.as_bytes()).and_then(|()| f.sync_all()) {
                let _ = std::fs::remove_file(&path);
                return Err(lost(format!("cannot write {}: {e}", path.display())));
            }
            notice(&format!(
                "Wrote API key {} ({}) to {} (mode 0600){replayed}. Store it securely: it cannot \
                 be shown again.",
                clean(&k.id),
                clean(&k.masked),
                path.display()
            ));
        }
        None => {
            let mut so = std::io::stdout().lock();
            if let Err(e) = so.write_all(content.as_bytes()).and_then(|()| so.flush()) {
                return Err(lost(format!("cannot write the key to stdout: {e}")));
            }
            notice(&format!(
                "Issued API key {} ({}){replayed}. It is shown only now: store it securely.",
                clean(&k.id),
                clean(&k.masked)
            ));
        }
    }
    Ok(())
}

/// A new file only the owner can read; an existing file is never touched.
fn create_private(path: &Path) -> Result<File, CliError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::other(format!(
                "{} already exists; refusing to overwrite it (--out writes only a new file)",
                path.display()
            ))
        } else {
            CliError::other(format!("cannot create {}: {e}", path.display()))
        }
    })
}

/// An issue that failed; a replay that can no longer give the key names it, so it can be deleted.
fn issue_error(e: ApiError, service_id: &str) -> CliError {
    if let ApiError::Api {
        code: ErrorCode::IdempotencySecretUnavailable,
        message,
        ..
    } = &e
    {
        let key_id = key_id_in(message);
        let hint = match &key_id {
            Some(id) => format!(
                "delete it with `ragkeys keys delete {} {}`",
                clean(service_id),
                clean(id)
            ),
            None => format!(
                "find it with `ragkeys keys list {}` and delete it",
                clean(service_id)
            ),
        };
        return CliError::other(format!(
            "the key was issued, but the service can no longer show it ({}: {message}); it takes \
             a slot: {hint}",
            ErrorCode::IdempotencySecretUnavailable
        ));
    }
    CliError::from(e)
}

/// The key id in the service's message: the word that looks like `key_…`.
fn key_id_in(message: &str) -> Option<String> {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .find(|w| w.starts_with("key_") && w.len() > 4 && *w != "key_id")
        .map(str::to_string)
}

async fn delete(ctx: &Ctx, service_id: &str, key_id: &str, yes: bool) -> Result<(), CliError> {
    if !yes {
        let list = retry(false, |_| ctx.client.list_keys(service_id)).await?;
        let Some(k) = list.api_keys.iter().find(|k| k.id == key_id) else {
            return Err(CliError::new(
                error::NOT_FOUND,
                format!(
                    "API key {} not found in service {} (api_key_not_found)",
                    clean(key_id),
                    clean(service_id)
                ),
            ));
        };
        let name = k
            .name
            .as_deref()
            .map(|n| format!(" \"{}\"", clean(n)))
            .unwrap_or_default();
        let question = format!(
            "Delete API key {}{name}, created {}? It can no longer be used to call the API; \
             review the services that use it first.",
            clean(&k.masked),
            local_time(&k.created_at)
        );
        if !confirm::ask(&question)? {
            return Err(confirm::cancelled());
        }
    }
    retry(false, |attempt| async move {
        match ctx.client.delete_key(service_id, key_id).await {
            // A retry that finds nothing: the attempt whose answer was lost did the delete.
            Err(e) if attempt > 0 && is_not_found(&e) => Ok(()),
            other => other,
        }
    })
    .await?;
    notice(&format!("Deleted API key {}.", clean(key_id)));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_id_is_found_in_the_message() {
        assert_eq!(
            super::key_id_in("key key_8f2kAb was issued; delete it").as_deref(),
            Some("key_8f2kAb")
        );
        assert_eq!(
            super::key_id_in("(key_id: key_x1).").as_deref(),
            Some("key_x1")
        );
        assert_eq!(super::key_id_in("no id here"), None);
    }
}
