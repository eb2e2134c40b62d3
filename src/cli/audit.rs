//! `ragkeys audit [--service SVC] [--action A] [--limit N]`: the whole audit trail, newest
//! first, following the service's pages until N events are shown (docs/api.md, `GET /v1/audit`).

use super::Ctx;
use super::error::{self, CliError};
use super::output::{json_for_terminal, local_time, notice, stdout, stdout_json, table};
use super::retry::retry;
use crate::args::AuditArgs;
use crate::client::AuditQuery;
use crate::sanitize::clean;
use crate::wire::{AuditAction, AuditEvent, AuditPage, Service, limits};

pub async fn run(ctx: &Ctx, args: AuditArgs) -> Result<(), CliError> {
    let action = match &args.action {
        Some(a) => Some(check_action(a)?),
        None => None,
    };
    let services = retry(false, |_| ctx.client.list_services()).await?.services;
    let service_id = match &args.service {
        Some(s) => Some(resolve_service(&services, s)?),
        None => None,
    };
    let page = fetch(ctx, service_id, action, args.limit).await?;
    if ctx.json {
        let body = serde_json::to_vec(&page)
            .map_err(|e| CliError::other(format!("cannot encode the events: {e}")))?;
        return stdout_json(&json_for_terminal(&body));
    }
    if page.events.is_empty() {
        notice("No audit events match.");
        return Ok(());
    }
    stdout(&events_table(&page.events, &services))?;
    if page.next.is_some() {
        let n = page.events.len();
        notice(&format!(
            "{n} newest {} shown; more with --limit {}",
            if n == 1 { "event" } else { "events" },
            u64::from(args.limit) * 2
        ));
    }
    Ok(())
}

/// An action name as docs/api.md spells it; anything else is a usage error before any request.
fn check_action(a: &str) -> Result<&'static str, CliError> {
    AuditAction::parse(a)
        .map(AuditAction::as_str)
        .ok_or_else(|| {
            let names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
            CliError::usage(format!(
                "unknown action {:?}: use one of {}",
                clean(a),
                names.join(", ")
            ))
        })
}

/// A service by id or by name, as the other commands take it; an id that is not listed is
/// taken as is (a deleted service keeps its events), a name that is not listed is not found.
fn resolve_service(services: &[Service], given: &str) -> Result<String, CliError> {
    if let Some(s) = services.iter().find(|s| s.id == given) {
        return Ok(s.id.clone());
    }
    if let Some(s) = services.iter().find(|s| s.name == given) {
        return Ok(s.id.clone());
    }
    if given.starts_with("svc_") {
        return Ok(given.to_owned());
    }
    Err(CliError::new(
        error::NOT_FOUND,
        format!(
            "no service named {:?} (service_not_found); a deleted service is found by its id",
            clean(given)
        ),
    ))
}

/// Up to `wanted` events, page after page, as one page: `next` says where the rest begins.
async fn fetch(
    ctx: &Ctx,
    service_id: Option<String>,
    action: Option<&str>,
    wanted: u32,
) -> Result<AuditPage, CliError> {
    let mut all = AuditPage {
        events: Vec::new(),
        next: None,
    };
    let mut before: Option<String> = None;
    loop {
        let left = wanted.saturating_sub(all.events.len() as u32);
        let query = AuditQuery {
            service_id: service_id.clone(),
            action: action.map(str::to_owned),
            limit: Some(left.min(limits::AUDIT_PAGE_MAX)),
            before: before.clone(),
            oldest_first: false,
        };
        let page = retry(false, |_| ctx.client.audit_page_raw(&query))
            .await?
            .value;
        all.events.extend(page.events);
        all.next = page.next;
        if all.events.len() as u32 >= wanted || all.next.is_none() {
            return Ok(all);
        }
        before = all.next.clone();
    }
}

/// At (local time), Actor, Role, Action, Service, API Key (masked), From, Outcome. A service
/// still listed shows its name; a deleted one its id.
fn events_table(events: &[AuditEvent], services: &[Service]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let service = match services.iter().find(|s| s.id == e.service_id) {
                Some(s) => s.name.clone(),
                None if e.service_id.is_empty() => "-".into(),
                None => format!("{} (deleted)", e.service_id),
            };
            vec![
                local_time(&e.at),
                e.actor.clone(),
                e.role.as_str().to_owned(),
                e.action.as_str().to_owned(),
                service,
                e.masked.clone().unwrap_or_else(|| "-".into()),
                e.remote_addr.clone(),
                e.outcome.clone(),
            ]
        })
        .collect();
    table(
        &[
            "At", "Actor", "Role", "Action", "Service", "API Key", "From", "Outcome",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_checked_before_any_request() {
        assert_eq!(check_action("api_key.whois").unwrap(), "api_key.whois");
        let e = check_action("api_key.explode").unwrap_err();
        assert_eq!(e.code, error::USAGE);
        assert!(e.message.contains("service.create"), "{}", e.message);
    }
}
