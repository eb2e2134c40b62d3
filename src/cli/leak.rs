//! `ragkeys keys leak [--url URL]`: a key found where it should not be (a ticket, a log, a chat)
//! is reported to the service, which stops it at once (docs/cli.md, Leaked keys). The key comes
//! from stdin as for `keys whois`; nothing is asked, since a report only ever stops a key.

use super::error::CliError;
use super::output::{json_for_terminal, notice, stdout, stdout_json};
use super::retry::retry;
use super::{Ctx, whois};
use crate::credential::Secret;
use crate::sanitize::clean;
use crate::wire::{KeyState, LeakAnswer};

/// Reports `key` as leaked and prints the key as it is now, its leak record included; unknown or
/// deleted is exit 3, as for whois.
pub async fn run(ctx: &Ctx, key: Secret, url: Option<&str>) -> Result<(), CliError> {
    // Retried only when the report may not have arrived: a second report of a stopped key
    // changes nothing (docs/api.md, Leaked keys).
    let raw = retry(false, |_| ctx.client.report_leak_raw(&key, url))
        .await
        .map_err(|e| whois::lookup_error(e, &key))?;
    if ctx.json {
        return stdout_json(&json_for_terminal(&raw.body));
    }
    let answer = &raw.value;
    stdout(&whois::describe(&answer.service_id, &answer.api_key))?;
    notice(&outcome(answer));
    Ok(())
}

/// What the report did, and what to do next.
fn outcome(a: &LeakAnswer) -> String {
    let k = &a.api_key;
    let (svc, id) = (clean(&a.service_id), clean(&k.id));
    let key = format!("API key {id} ({})", clean(&k.masked));
    match (&k.state, &k.replaced_by) {
        (KeyState::Disabled | KeyState::Expired, _) => format!(
            "Reported {key} as leaked: it no longer verifies and stays {} until it is \
             deleted or enabled again. Give its users a successor with `ragkeys keys rotate \
             {svc} {id}` (at once, without a grace), or delete it with `ragkeys keys delete \
             {svc} {id}`.",
            k.state.as_str()
        ),
        (KeyState::Rotating, Some(by)) => format!(
            "Reported {key} as leaked: it was in its grace period and no longer verifies; its \
             successor {} is untouched.",
            clean(by)
        ),
        _ => format!("Reported {key} as leaked."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ApiKey, Leak, Timestamp};

    fn answer(state: KeyState, replaced_by: Option<&str>) -> LeakAnswer {
        LeakAnswer {
            service_id: "svc_1".into(),
            api_key: ApiKey {
                id: "key_1".into(),
                masked: "ragk_AbCd****wXyZ".into(),
                name: None,
                state,
                created_at: Timestamp::now(),
                created_by: "admin".into(),
                expires_at: None,
                last_used_at: None,
                replaced_by: replaced_by.map(str::to_owned),
                policy: Default::default(),
                leak: Some(Leak {
                    reported_at: Timestamp::now(),
                    by: "alice".into(),
                    url: None,
                    source: None,
                }),
            },
        }
    }

    #[test]
    fn the_outcome_says_what_stopped_and_what_to_do_next() {
        let stopped = outcome(&answer(KeyState::Disabled, None));
        assert!(stopped.contains("no longer verifies"), "{stopped}");
        assert!(
            stopped.contains("`ragkeys keys rotate svc_1 key_1`"),
            "{stopped}"
        );
        let retired = outcome(&answer(KeyState::Rotating, Some("key_2")));
        assert!(
            retired.contains("successor key_2 is untouched"),
            "{retired}"
        );
    }
}
