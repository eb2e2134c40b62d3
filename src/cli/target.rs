//! The SERVICE and KEY arguments (docs/cli.md, Arguments): checked before anything is sent, and a
//! service named as an admin types it, by id or by its exact name.

use super::Ctx;
use super::error::{self, CliError};
use super::retry::retry;
use crate::args::{Command, KeysCommand, ServicesCommand};
use crate::sanitize::clean;

/// The longest SERVICE or KEY argument: ids are far shorter, names at most this long.
pub const MAX_LEN: usize = 64;

/// Refuses (exit 2) a SERVICE or KEY argument no service could have, without echoing it.
pub fn check(cmd: &Command) -> Result<(), CliError> {
    let (service, key) = match cmd {
        Command::Services(s) => match &s.command {
            ServicesCommand::Delete { service_id, .. } => (Some(service_id), None),
            _ => (None, None),
        },
        Command::Keys(k) => match &k.command {
            KeysCommand::List { service_id } | KeysCommand::Issue { service_id, .. } => {
                (Some(service_id), None)
            }
            KeysCommand::Update {
                service_id, key_id, ..
            }
            | KeysCommand::Disable {
                service_id, key_id, ..
            }
            | KeysCommand::Enable {
                service_id, key_id, ..
            }
            | KeysCommand::Rotate {
                service_id, key_id, ..
            }
            | KeysCommand::Delete {
                service_id, key_id, ..
            }
            | KeysCommand::Narrow {
                service_id, key_id, ..
            }
            | KeysCommand::Usage { service_id, key_id } => (Some(service_id), Some(key_id)),
            KeysCommand::Whois { .. } | KeysCommand::Leak { .. } => (None, None),
        },
        Command::Audit(a) => (a.service.as_ref(), None),
        _ => (None, None),
    };
    if let Some(s) = service {
        check_service(s)?;
    }
    if let Some(k) = key {
        check_key(k)?;
    }
    Ok(())
}

fn check_service(s: &str) -> Result<(), CliError> {
    let n = s.chars().count();
    if n == 0 || n > MAX_LEN {
        return Err(CliError::usage(format!(
            "SERVICE is {n} characters long: give a service id or name of 1 to {MAX_LEN} characters"
        )));
    }
    Ok(())
}

fn check_key(k: &str) -> Result<(), CliError> {
    let n = k.chars().count();
    if n == 0 || n > MAX_LEN {
        return Err(CliError::usage(format!(
            "KEY_ID is {n} characters long: give a key id (key_…) of 1 to {MAX_LEN} characters"
        )));
    }
    if !k
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(CliError::usage(
            "KEY_ID may hold only letters A-Z and a-z, digits, _ and -: give a key id (key_…)",
        ));
    }
    Ok(())
}

/// The SERVICE argument of a `keys` action, to be replaced by the id it names.
pub fn service_arg(cmd: &mut KeysCommand) -> Option<&mut String> {
    match cmd {
        KeysCommand::List { service_id }
        | KeysCommand::Issue { service_id, .. }
        | KeysCommand::Update { service_id, .. }
        | KeysCommand::Disable { service_id, .. }
        | KeysCommand::Enable { service_id, .. }
        | KeysCommand::Rotate { service_id, .. }
        | KeysCommand::Delete { service_id, .. }
        | KeysCommand::Narrow { service_id, .. }
        | KeysCommand::Usage { service_id, .. } => Some(service_id),
        KeysCommand::Whois { .. } | KeysCommand::Leak { .. } => None,
    }
}

/// Whether a SERVICE argument is first tried as an id (`svc_…`) without a lookup.
pub fn looks_like_an_id(given: &str) -> bool {
    given.starts_with("svc_")
}

/// The id of the service `given` names: itself when it looks like an id (`svc_…`, taken as is,
/// so a script that passes ids makes no extra request; when no service has that id, the caller
/// asks [`named_like_an_id`]), else the id of the service with exactly that name (names are
/// unique).
pub async fn service_id(ctx: &Ctx, given: &str) -> Result<String, CliError> {
    if looks_like_an_id(given) {
        return Ok(given.to_owned());
    }
    let list = retry(false, |_| ctx.client.list_services()).await?;
    let found = list
        .services
        .iter()
        .find(|s| s.id == given)
        .or_else(|| list.services.iter().find(|s| s.name == given));
    match found {
        Some(s) => Ok(s.id.clone()),
        None => Err(CliError::new(
            error::NOT_FOUND,
            format!(
                "no service with the id or name {:?} (service_not_found)",
                clean(given)
            ),
        )),
    }
}

/// After `given` (`svc_…`) was not found as an id: the id of the service whose exact name it
/// is, if no service has it as its id (docs/cli.md, Arguments: the id of a service if one has
/// it, else its exact name). `None` (also when the list cannot be had): the not-found stands.
pub async fn named_like_an_id(ctx: &Ctx, given: &str) -> Option<String> {
    let list = retry(false, |_| ctx.client.list_services()).await.ok()?;
    pick_named(&list.services, given)
}

fn pick_named(services: &[crate::wire::Service], given: &str) -> Option<String> {
    if services.iter().any(|s| s.id == given) {
        return None;
    }
    services
        .iter()
        .find(|s| s.name == given)
        .map(|s| s.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(id: &str, name: &str) -> crate::wire::Service {
        crate::wire::Service {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            key_count: 0,
            key_limit: 5,
            created_at: crate::wire::Timestamp::from_unix(0),
            attention: Some(0),
        }
    }

    #[test]
    fn a_name_like_an_id_is_taken_only_when_no_service_has_it_as_its_id() {
        let both = [service("svc_1", "svc_2"), service("svc_2", "svc_1")];
        assert_eq!(pick_named(&both, "svc_1"), None, "the id wins");
        let named = [service("svc_9", "svc_billing"), service("svc_1", "x")];
        assert_eq!(pick_named(&named, "svc_billing").as_deref(), Some("svc_9"));
        assert_eq!(pick_named(&named, "svc_nope"), None);
        assert!(looks_like_an_id("svc_x") && !looks_like_an_id("billing"));
    }

    #[test]
    fn long_or_strange_arguments_are_usage_errors() {
        assert!(check_service(&"s".repeat(64)).is_ok());
        assert!(check_service("billing — EU ☂").is_ok());
        assert_eq!(check_service(&"s".repeat(65)).unwrap_err().code, 2);
        assert_eq!(check_service("").unwrap_err().code, 2);
        assert!(check_key("key_AZaz09-_").is_ok());
        assert_eq!(check_key(&"k".repeat(65)).unwrap_err().code, 2);
        for bad in ["key x", "key/../x", "ключ", "key\u{1b}[2J", ""] {
            let e = check_key(bad).unwrap_err();
            assert_eq!(e.code, 2, "{bad:?}");
            assert!(!e.message.contains(bad) || bad.is_empty(), "{}", e.message);
        }
    }
}
