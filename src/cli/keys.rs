//! `ragkeys keys list | issue | update | disable | enable | rotate | delete`; `narrow` and
//! `usage` have modules of their own.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::error::{self, CliError};
use super::lifetime::Expires;
use super::output::{
    json_for_terminal, keys_table, leak_text, local_time, notice, stdout, stdout_json, warning,
};
use super::retry::retry;
use super::services::is_not_found;
use super::{Ctx, access, confirm, lifetime};
use crate::args::KeysCommand;
use crate::client::{ApiError, Issued, Raw, new_idempotency_key};
use crate::sanitize::clean;
use crate::wire::{ApiKey, ErrorCode, IssueApiKey, RotateApiKey, Timestamp, UpdateApiKey};

pub async fn run(ctx: &Ctx, mut cmd: KeysCommand) -> Result<(), CliError> {
    let Some(service) = super::target::service_arg(&mut cmd) else {
        return run_on(ctx, cmd).await;
    };
    let given = service.clone();
    *service = super::target::service_id(ctx, &given).await?;
    if !super::target::looks_like_an_id(&given) {
        return run_on(ctx, cmd).await;
    }
    // Taken as an id first (no extra request); a service may have it as its name instead.
    match run_on(ctx, cmd.clone()).await {
        Err(e) if e.code == error::NOT_FOUND => {
            let Some(id) = super::target::named_like_an_id(ctx, &given).await else {
                return Err(e);
            };
            if let Some(service) = super::target::service_arg(&mut cmd) {
                *service = id;
            }
            run_on(ctx, cmd).await
        }
        done => done,
    }
}

async fn run_on(ctx: &Ctx, cmd: KeysCommand) -> Result<(), CliError> {
    match cmd {
        KeysCommand::List { service_id } => list(ctx, &service_id).await,
        KeysCommand::Whois { argv } if !argv.is_empty() => {
            Err(super::whois::refuse_argv("keys whois"))
        }
        KeysCommand::Whois { .. } => {
            super::whois::run(ctx, super::whois::read_checked_key("keys whois")?).await
        }
        KeysCommand::Leak { argv, .. } if !argv.is_empty() => {
            Err(super::whois::refuse_argv("keys leak"))
        }
        KeysCommand::Leak { url, .. } => {
            let key = super::whois::read_checked_key("keys leak")?;
            super::leak::run(ctx, key, url.as_deref()).await
        }
        KeysCommand::Issue {
            service_id,
            name,
            out,
            expires,
            policy,
        } => {
            let expires = match expires {
                Some(e) => lifetime::parse_expires(&e, Timestamp::now().0)?,
                None => Expires::Never,
            };
            let access = access::issue_fields(&policy)?;
            let body = IssueApiKey {
                name,
                expires_at: expires.at(),
                lifetime_seconds: expires.lifetime(),
                scopes: access.scopes,
                rate_limit: access.rate_limit,
                allowed_cidrs: access.allowed_cidrs,
            };
            issue(ctx, &service_id, &body, out).await
        }
        KeysCommand::Update {
            service_id,
            key_id,
            name,
            no_name,
            expires,
            policy,
            all_scopes,
            no_rate,
            allow_any,
        } => {
            let expires = expires
                .map(|e| lifetime::parse_expires(&e, Timestamp::now().0))
                .transpose()?;
            let access = access::update_fields(&policy, all_scopes, no_rate, allow_any)?;
            let body = UpdateApiKey {
                name: if no_name { Some(None) } else { name.map(Some) },
                enabled: None,
                expires_at: expires.and_then(Expires::patch_at),
                lifetime_seconds: expires.and_then(Expires::lifetime),
                scopes: access.scopes,
                rate_limit: access.rate_limit,
                allowed_cidrs: access.allowed_cidrs,
            };
            if body.is_empty() {
                return Err(CliError::usage(
                    "nothing to update: pass --name N, --no-name, --expires WHEN, --scope SCOPE, \
                     --all-scopes, --rate N/UNIT, --no-rate, --allow CIDR or --allow-any",
                ));
            }
            update(ctx, &service_id, &key_id, &body, "Updated").await
        }
        KeysCommand::Narrow {
            service_id,
            key_id,
            yes,
        } => super::narrow::run(ctx, &service_id, &key_id, yes).await,
        KeysCommand::Disable {
            service_id,
            key_id,
            yes,
        } => disable(ctx, &service_id, &key_id, yes).await,
        KeysCommand::Enable {
            service_id,
            key_id,
            expires,
            yes,
        } => {
            let expires = expires
                .map(|e| lifetime::parse_expires(&e, Timestamp::now().0))
                .transpose()?;
            if !yes {
                // Read first: a leaked key is enabled only when asked for by name (--yes).
                let k = find_key(ctx, &service_id, &key_id).await?;
                if k.leaked_and_stopped() {
                    return Err(enable_refused(&service_id, &k));
                }
            }
            let body = UpdateApiKey {
                name: None,
                enabled: Some(true),
                expires_at: expires.and_then(Expires::patch_at),
                lifetime_seconds: expires.and_then(Expires::lifetime),
                ..Default::default()
            };
            update(ctx, &service_id, &key_id, &body, "Enabled").await
        }
        KeysCommand::Rotate {
            service_id,
            key_id,
            grace,
            out,
            yes,
        } => {
            let grace_seconds =
                lifetime::parse_grace(grace.as_deref().unwrap_or(lifetime::DEFAULT_GRACE))?;
            let grace = Grace {
                seconds: grace_seconds,
                given: grace.is_some(),
            };
            rotate(ctx, &service_id, &key_id, grace, out, yes).await
        }
        KeysCommand::Delete {
            service_id,
            key_id,
            yes,
        } => delete(ctx, &service_id, &key_id, yes).await,
        KeysCommand::Usage { service_id, key_id } => {
            super::usage::run(ctx, &service_id, &key_id).await
        }
    }
}

async fn list(ctx: &Ctx, service_id: &str) -> Result<(), CliError> {
    let raw = retry(false, |_| ctx.client.list_keys_raw(service_id)).await?;
    if ctx.json {
        return stdout_json(&json_for_terminal(&raw.body));
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
    // The slots in use, as the console's `5 / 5`: a rotating key's old half holds none.
    notice(&format!(
        "{} / {} API Keys",
        crate::wire::slots_used(&l.api_keys),
        l.key_limit
    ));
    Ok(())
}

async fn issue(
    ctx: &Ctx,
    service_id: &str,
    body: &IssueApiKey,
    out: Option<PathBuf>,
) -> Result<(), CliError> {
    // The file comes first: a key issued into a file that cannot be created would be lost.
    let mut file = out.as_deref().map(NewFile::create).transpose()?;
    let idempotency_key = new_idempotency_key();
    let result = retry(true, |_| {
        ctx.client.issue_key_raw(service_id, body, &idempotency_key)
    })
    .await;
    let raw = result.map_err(|e| issue_error(e, service_id))?;
    deliver(ctx, service_id, &raw, file.as_mut(), "Issued API key")
}

/// Writes an IssuedKey's plaintext (or, with `--json`, the service's object) to the new file or
/// to stdout, and says on stderr what was written. A failed write names the key that is now
/// lost and the command that frees its slot.
fn deliver(
    ctx: &Ctx,
    service_id: &str,
    raw: &Raw<Issued>,
    file: Option<&mut NewFile>,
    what: &str,
) -> Result<(), CliError> {
    let issued = &raw.value;
    let k = &issued.key.api_key;
    let content = Zeroizing::new(if ctx.json {
        json_for_terminal(&raw.body)
    } else {
        // A key is base62 after its prefix; anything else from the wire must not reach a terminal.
        format!("{}\n", clean(issued.key.key.expose()))
    });
    let lost = |why: String| {
        CliError::other(format!(
            "{why}; API key {} was issued and is now lost: delete it with `ragkeys keys delete \
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
    let access = access::issued_note(&k.policy);
    match file {
        Some(f) => {
            let path = f.path.clone();
            if let Err(e) = f
                .file
                .write_all(content.as_bytes())
                .and_then(|()| f.file.sync_all())
            {
                return Err(lost(format!("cannot write {}: {e}", path.display())));
            }
            f.keep = true;
            notice(&format!(
                "{what} {} ({}) written to {} (mode 0600){replayed}.{access} Store it securely: \
                 it cannot be shown again.",
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
                "{what} {} ({}){replayed}.{access} It is shown only now: store it securely.",
                clean(&k.id),
                clean(&k.masked)
            ));
        }
    }
    Ok(())
}

/// `keys update` and `keys enable`: one PATCH, retried only when it may not have arrived (a
/// PATCH that repeats a value is no change, docs/api.md Key lifecycle); the key as it is afterwards.
async fn update(
    ctx: &Ctx,
    service_id: &str,
    key_id: &str,
    body: &UpdateApiKey,
    done: &str,
) -> Result<(), CliError> {
    let raw = retry(false, |_| {
        ctx.client.update_key_raw(service_id, key_id, body)
    })
    .await?;
    show_key(ctx, &raw)?;
    notice(&format!("{done} API key {}.", clean(key_id)));
    Ok(())
}

/// One key: its row of the keys table (its Access column the policy in short), or with
/// `--json` the service's ApiKey object.
fn show_key(ctx: &Ctx, raw: &Raw<ApiKey>) -> Result<(), CliError> {
    if ctx.json {
        stdout_json(&json_for_terminal(&raw.body))
    } else {
        stdout(&keys_table(std::slice::from_ref(&raw.value)))
    }
}

/// The key as listed, for a confirmation question; not found is exit 3.
async fn find_key(ctx: &Ctx, service_id: &str, key_id: &str) -> Result<ApiKey, CliError> {
    let list = retry(false, |_| ctx.client.list_keys(service_id)).await?;
    list.api_keys
        .into_iter()
        .find(|k| k.id == key_id)
        .ok_or_else(|| {
            CliError::new(
                error::NOT_FOUND,
                format!(
                    "API key {} not found in service {} (api_key_not_found)",
                    clean(key_id),
                    clean(service_id)
                ),
            )
        })
}

/// `masked "name"` for a question.
fn describe(k: &ApiKey) -> String {
    let name = k
        .name
        .as_deref()
        .map(|n| format!(" \"{}\"", clean(n)))
        .unwrap_or_default();
    format!("{}{name}", clean(&k.masked))
}

/// `keys enable` of a leaked key without `--yes` (docs/cli.md, Leaked keys): names the leak and
/// what to do instead; nothing was sent.
fn enable_refused(service_id: &str, k: &ApiKey) -> CliError {
    let leak = k
        .leak
        .as_ref()
        .map(|l| format!(" {}", leak_text(l)))
        .unwrap_or_default();
    CliError::usage(format!(
        "API key {} {} was reported leaked{leak}: enabled, it verifies again for whoever found \
         it. Replace it instead with `ragkeys keys rotate {} {}` (its successor takes its slot \
         at once), or pass --yes to enable it anyway. Nothing was changed.",
        clean(&k.id),
        describe(k),
        clean(service_id),
        clean(&k.id)
    ))
}

/// `keys disable`: asked like a delete, since the key stops verifying at once.
async fn disable(ctx: &Ctx, service_id: &str, key_id: &str, yes: bool) -> Result<(), CliError> {
    if !yes {
        let k = find_key(ctx, service_id, key_id).await?;
        let question = format!(
            "Disable API key {}? Calls with it fail from now on until it is enabled again.",
            describe(&k)
        );
        if !confirm::ask(&question)? {
            return Err(confirm::cancelled_unchanged());
        }
    }
    let body = UpdateApiKey {
        enabled: Some(false),
        ..UpdateApiKey::default()
    };
    update(ctx, service_id, key_id, &body, "Disabled").await
}

/// `keys rotate`: the successor's plaintext as `keys issue` gives a key, retried with one
/// Idempotency-Key so that a retry never makes a second successor. A leaked key that is stopped is replaced at once,
/// whatever the grace (docs/cli.md, Leaked keys): the key is read first to say so.
async fn rotate(
    ctx: &Ctx,
    service_id: &str,
    key_id: &str,
    grace: Grace,
    out: Option<PathBuf>,
    yes: bool,
) -> Result<(), CliError> {
    let grace_seconds = grace.seconds;
    let k = find_key(ctx, service_id, key_id).await?;
    let leaked = k.leaked_and_stopped();
    if leaked && grace.given {
        warning(&format!(
            "API key {} was reported leaked: it is replaced at once, without a grace (--grace \
             is ignored)",
            clean(key_id)
        ));
    }
    // A leaked key no longer verifies: nothing stops that still works, so nothing is asked.
    if grace_seconds == 0 && !yes && !leaked {
        let question = format!(
            "Rotate API key {} with no grace period? It stops working at once; callers must \
             switch to the new key now.",
            describe(&k)
        );
        if !confirm::ask(&question)? {
            return Err(confirm::cancelled_unchanged());
        }
    }
    let mut file = out.as_deref().map(NewFile::create).transpose()?;
    let body = RotateApiKey {
        grace_seconds,
        ..RotateApiKey::default()
    };
    let idempotency_key = new_idempotency_key();
    let result = retry(true, |_| {
        ctx.client
            .rotate_key_raw(service_id, key_id, &body, &idempotency_key)
    })
    .await;
    let raw = result.map_err(|e| issue_error(e, service_id))?;
    let what = format!("Rotated API key {} into", clean(key_id));
    deliver(ctx, service_id, &raw, file.as_mut(), &what)?;
    if leaked {
        notice(&format!(
            "The leaked key {} has left the list; its successor took its slot.",
            clean(key_id)
        ));
    } else if grace_seconds == 0 {
        notice(&format!(
            "The old key {} no longer verifies.",
            clean(key_id)
        ));
    } else {
        // Counted on the service's clock, as the service counts the grace (docs/api.md, Time).
        let now = ctx
            .client
            .clock()
            .map_or_else(Timestamp::now, |c| c.service);
        let ends = Timestamp::from_unix(now.unix() + i64::from(grace_seconds));
        notice(&format!(
            "The old key {} keeps working until about {}.",
            clean(key_id),
            local_time(&ends)
        ));
    }
    Ok(())
}

/// `--grace` of `keys rotate`, and whether it was typed (the default is not worth a word when a
/// leaked key ignores it).
#[derive(Clone, Copy)]
struct Grace {
    seconds: u32,
    given: bool,
}

/// The new file of `--out`: removed again unless a key was written into it, also when the
/// command is cut short by its deadline (its future dropped mid-request).
struct NewFile {
    path: PathBuf,
    file: File,
    keep: bool,
}

impl NewFile {
    fn create(path: &Path) -> Result<NewFile, CliError> {
        Ok(NewFile {
            path: path.to_path_buf(),
            file: create_private(path)?,
            keep: false,
        })
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
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
        let k = find_key(ctx, service_id, key_id).await?;
        let question = format!(
            "Delete API key {}, created {}? It can no longer be used to call the API; \
             review the services that use it first.",
            describe(&k),
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
    if ctx.json {
        // docs/cli.md, Output: a delete answers 204, so the CLI says what it deleted.
        let v = serde_json::json!({ "id": key_id, "service_id": service_id, "deleted": true });
        return stdout_json(&json_for_terminal(v.to_string().as_bytes()));
    }
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
