//! `ragkeys keys whois`: whose is this API key? The key comes from stdin only: typed without
//! echo on a terminal, or piped (`pbpaste | ragkeys keys whois`); never from the command line,
//! where `ps` and the shell history would keep it. `keys leak` reads its key the same way.

use std::io::{IsTerminal, Read};

use zeroize::Zeroizing;

use super::error::{self, CliError};
use super::output::{json_for_terminal, leak_text, local_time, state_label, stdout, stdout_json};
use super::{Ctx, access};
use crate::client::ApiError;
use crate::credential::{self, Kind, Secret};
use crate::sanitize::clean;
use crate::wire::{ApiKey, ErrorCode};

/// More than any key; a longer stdin is not one key.
const MAX_INPUT: u64 = 4096;

/// A key (or anything) given as an argument to `command` (`keys whois`, `keys leak`): refused,
/// never echoed, exit 2.
pub fn refuse_argv(command: &str) -> CliError {
    CliError::usage(format!(
        "{command} reads the key from stdin only, never from the command line (ps and the \
         shell history keep arguments): run it and paste the key at the prompt, or pipe it in; \
         the key you typed may now be in your shell history"
    ))
}

/// The key from stdin for `command`, checked here first as the service would: a malformed key
/// is never sent and is exit 3, as the service's one answer for every key it does not know
/// (docs/api.md, Whois; docs/cli.md, Exit codes). Empty input is exit 2.
pub fn read_checked_key(command: &str) -> Result<Secret, CliError> {
    let key = read_key(command)?;
    credential::parse(Kind::ApiKey, key.expose()).map_err(|_| {
        CliError::new(
            error::NOT_FOUND,
            "no API key matches: that is not a ragkeys API key (ragk_ and 36 characters with a \
             valid checksum); nothing was sent",
        )
    })?;
    Ok(key)
}

/// Looks `key` up and prints whose it is; unknown or deleted is exit 3.
pub async fn run(ctx: &Ctx, key: Secret) -> Result<(), CliError> {
    // Not retried: a lookup that failed counts toward this address's failure limit.
    let raw = match ctx.client.whois_raw(&key).await {
        Ok(raw) => raw,
        Err(e) => return Err(lookup_error(e, &key)),
    };
    if ctx.json {
        return stdout_json(&json_for_terminal(&raw.body));
    }
    let w = &raw.value;
    let service = format!("{} ({})", w.service_name, w.service_id);
    stdout(&describe(&service, &w.api_key))
}

/// A failed lookup by the key itself: unknown, malformed or deleted is exit 3, naming only the
/// masked key.
pub fn lookup_error(e: ApiError, key: &Secret) -> CliError {
    match e {
        ApiError::Api {
            code: ErrorCode::ApiKeyNotFound,
            ..
        } => CliError::new(
            error::NOT_FOUND,
            format!(
                "no API key matches {} (api_key_not_found): it was never issued here, or it \
                 has been deleted",
                credential::mask(key.expose())
            ),
        ),
        e => e.into(),
    }
}

/// The key from stdin: a hidden prompt on a terminal, else all of stdin, trimmed.
fn read_key(command: &str) -> Result<Secret, CliError> {
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
        return Err(CliError::usage(format!(
            "no key on stdin: pipe it in (e.g. `pbpaste | ragkeys {command}`) or run on a \
             terminal and type or paste it"
        )));
    }
    Ok(Secret::new(key.to_owned()))
}

/// Service, key id, masked, name, state, created, last used, the leak if it was ever reported
/// (docs/cli.md, Leaked keys), then the key's policy: one labelled line each.
pub fn describe(service: &str, k: &ApiKey) -> String {
    let rows = [
        ("Service", clean(service).into_owned()),
        ("Key ID", clean(&k.id).into_owned()),
        ("API Key", clean(&k.masked).into_owned()),
        (
            "Name",
            k.name
                .as_deref()
                .map(|n| clean(n).into_owned())
                .unwrap_or_else(|| "-".into()),
        ),
        ("State", clean(&state_label(k)).into_owned()),
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
    let leak = k.leak.as_ref().map(|l| ("Leak", leak_text(l)));
    let policy =
        access::policy_rows(&k.policy).map(|(label, value)| (label, clean(&value).into_owned()));
    let mut out = String::new();
    for (label, value) in rows.into_iter().chain(leak).chain(policy) {
        out.push_str(&format!(
            "{label:<12}  {}\n",
            value.replace(['\n', '\r'], " ")
        ));
    }
    out
}
