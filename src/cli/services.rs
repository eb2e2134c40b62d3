//! `ragkeys services list | create | delete`.

use super::error::CliError;
use super::output::{json_for_terminal, notice, services_table, stdout, stdout_json};
use super::retry::retry;
use super::{Ctx, confirm};
use crate::args::ServicesCommand;
use crate::client::ApiError;
use crate::sanitize::clean;
use crate::wire::{CreateService, ErrorCode};

pub async fn run(ctx: &Ctx, cmd: ServicesCommand) -> Result<(), CliError> {
    match cmd {
        ServicesCommand::List => list(ctx).await,
        ServicesCommand::Create { name, description } => create(ctx, name, description).await,
        ServicesCommand::Delete { service_id, yes } => {
            let id = super::target::service_id(ctx, &service_id).await?;
            match delete(ctx, &id, yes).await {
                // Taken as an id first; a service may have it as its name instead.
                Err(e)
                    if e.code == super::error::NOT_FOUND
                        && super::target::looks_like_an_id(&service_id) =>
                {
                    match super::target::named_like_an_id(ctx, &service_id).await {
                        Some(id) => delete(ctx, &id, yes).await,
                        None => Err(e),
                    }
                }
                done => done,
            }
        }
    }
}

async fn list(ctx: &Ctx) -> Result<(), CliError> {
    let raw = retry(false, |_| ctx.client.list_services_raw()).await?;
    if ctx.json {
        return stdout_json(&json_for_terminal(&raw.body));
    }
    if raw.value.services.is_empty() {
        notice("No services yet. Create one with: ragkeys services create NAME");
        return Ok(());
    }
    stdout(&services_table(&raw.value.services))
}

/// Not retried: a second create after a lost answer would only meet the name it just took.
async fn create(ctx: &Ctx, name: String, description: String) -> Result<(), CliError> {
    let raw = ctx
        .client
        .create_service_raw(&CreateService { name, description })
        .await?;
    if ctx.json {
        return stdout_json(&json_for_terminal(&raw.body));
    }
    let s = &raw.value;
    notice(&format!(
        "Created service {} ({}).",
        clean(&s.name),
        clean(&s.id)
    ));
    stdout(&services_table(std::slice::from_ref(s)))
}

async fn delete(ctx: &Ctx, service_id: &str, yes: bool) -> Result<(), CliError> {
    if !yes {
        let s = retry(false, |_| ctx.client.get_service(service_id)).await?;
        let question = format!(
            "Delete service {} ({}) and its {} API Key(s)? Deleted keys can no longer be used to \
             call the API.",
            clean(&s.name),
            clean(&s.id),
            s.key_count
        );
        if !confirm::ask(&question)? {
            return Err(confirm::cancelled());
        }
    }
    retry(false, |attempt| async move {
        match ctx.client.delete_service(service_id).await {
            // A retry that finds nothing: the attempt whose answer was lost did the delete.
            Err(e) if attempt > 0 && is_not_found(&e) => Ok(()),
            other => other,
        }
    })
    .await?;
    notice(&format!("Deleted service {}.", clean(service_id)));
    if ctx.json {
        // docs/cli.md, Output: a delete answers 204, so the CLI says what it deleted.
        let v = serde_json::json!({ "id": service_id, "deleted": true });
        return stdout_json(&json_for_terminal(v.to_string().as_bytes()));
    }
    Ok(())
}

pub fn is_not_found(e: &ApiError) -> bool {
    matches!(
        e.code(),
        Some(ErrorCode::ServiceNotFound | ErrorCode::ApiKeyNotFound | ErrorCode::NotFound)
    )
}
