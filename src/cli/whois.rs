//! `ragkeys keys whois`: whose is this API key? The key comes from stdin only: typed without
//! echo on a terminal, or piped (`pbpaste | ragkeys keys whois`); never from the command line,
//! where `ps` and the shell history would keep it.

use std::io::{IsTerminal, Read};

use zeroize::Zeroizing;

use super::error::{self, CliError};
use super::output::{json_for_terminal, local_time, stdout, stdout_json};
use super::{Ctx, access};
use crate::client::ApiError;
use crate::credential::{self, Kind, Secret};
use crate::sanitize::clean;
use crate::wire::{ErrorCode, KeyState, WhoisAnswer};

/// More than any key; a longer stdin is not one key.
const MAX_INPUT: u64 = 4096;

/// A key (or anything) given as an argument: refused, never echoed, exit 2.
pub fn refuse_argv() -> CliError {
    CliError::usage(
        "keys whois reads the key from stdin only, never from the command line (ps and the \
         shell history keep arguments): run it and paste the key at the prompt, or pipe it in; \
         the key you typed may now be in your shell history",
    )
}

/// The key from stdin, checked here first as the service would: a malformed key is exit 2
/// and never sent.
pub fn read_checked_key() -> Result<Secret, CliError> {
    let key = read_key()?;
    credential::parse(Kind::ApiKey, key.expose()).map_err(|_| {
        CliError::usage(
            "that is not an API key (ragk_ and 36 characters with a valid checksum); nothing \
             was sent",
        )
    })?;
    Ok(key)
}

/// Looks `key` up and prints whose it is; unknown or deleted is exit 3.
pub async fn run(ctx: &Ctx, key: Secret) -> Result<(), CliError> {
    // Not retried: a lookup that failed counts toward this address's failure limit.
    let raw = match ctx.client.whois_raw(&key).await {
        Ok(raw) => raw,
        Err(ApiError::Api {
            code: ErrorCode::ApiKeyNotFound,
            ..
        }) => {
            return Err(CliError::new(
                error::NOT_FOUND,
                format!(
                    "no API key matches {} (api_key_not_found): it was never issued here, or \
                     it has been deleted",
                    credential::mask(key.expose())
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if ctx.json {
        return stdout_json(&json_for_terminal(&raw.body));
    }
    stdout(&describe(&raw.value))
}

/// The key from stdin: a hidden prompt on a terminal, else all of stdin, trimmed.
fn read_key() -> Result<Secret, CliError> {
    let stdin = std::io::stdin();
    let text = if stdin.is_terminal() {
        super::secrets::read_hidden("API key (input hidden): ", MAX_INPUT as usize)?
    } else {
        let mut buf = Zeroizing::new(Vec::new());
        stdin
            .lock()
            .take(MAX_INPUT)
            .read_to_end(&mut buf)
            .map_err(|e| CliError::other(format!("cannot read the key from stdin: {e}")))?;
        Zeroizing::new(String::from_utf8_lossy(&buf).into_owned())
    };
    let key = text.trim();
    if key.is_empty() {
        return Err(CliError::usage(
            "no key on stdin: pipe it in (e.g. `pbpaste | ragkeys keys whois`) or run on a \
             terminal and type or paste it",
        ));
    }
    Ok(Secret::new(key.to_owned()))
}

/// Service, key id, masked, name, state, created, last used, then the key's policy: one
/// labelled line each.
fn describe(w: &WhoisAnswer) -> String {
    let k = &w.api_key;
    let state = match (&k.state, &k.replaced_by) {
        (KeyState::Rotating, Some(by)) => format!("rotating → {}", clean(by)),
        (s, _) => s.as_str().to_owned(),
    };
    let rows = [
        (
            "Service",
            format!("{} ({})", clean(&w.service_name), clean(&w.service_id)),
        ),
        ("Key ID", clean(&k.id).into_owned()),
        ("API Key", clean(&k.masked).into_owned()),
        (
            "Name",
            k.name
                .as_deref()
                .map(|n| clean(n).into_owned())
                .unwrap_or_else(|| "-".into()),
        ),
        ("State", state),
        (
            "Created",
            format!("{} by {}", local_time(&k.created_at), clean(&k.created_by)),
        ),
        (
            "Last used",
            k.last_used_at
                .as_ref()
                .map(local_time)
                .unwrap_or_else(|| "never".into()),
        ),
    ];
    let policy =
        access::policy_rows(&k.policy).map(|(label, value)| (label, clean(&value).into_owned()));
    let mut out = String::new();
    for (label, value) in rows.into_iter().chain(policy) {
        out.push_str(&format!(
            "{label:<12}  {}\n",
            value.replace(['\n', '\r'], " ")
        ));
    }
    out
}
