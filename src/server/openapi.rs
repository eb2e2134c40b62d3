//! `/openapi.json`, generated from the handlers' own annotations; what every route shares (400,
//! 413, 500, `X-Request-Id`; 408 where a body is read, 503 where the store is) is added here once
//! rather than repeated on each, as are the limits utoipa's attributes cannot take as constants.

use axum::body::Bytes;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Header, Ref, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::handlers::{
    audit, issue, keys, leaks, lifecycle, narrowing, public, services, usage, whois,
};
use crate::wire::{
    ApiKey, ApiKeyList, AuditAction, AuditEvent, AuditList, AuditPage, CreateService, ErrorBody,
    ErrorCode, ErrorDetail, Health, IssueApiKey, IssuedKey, KeyState, Me, Role, RotateApiKey,
    Service, ServiceList, UpdateApiKey, Verified, WhoisAnswer, WhoisRequest,
};
use crate::wire::{Bucket, Usage, limits};
use crate::wire::{GithubLeak, Leak, LeakAnswer, LeakFeedback, LeakLabel, LeakRequest};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ragkeys key service",
        description = "Services and their API keys for a RAG service. Admin calls take \
            `Authorization: Bearer ragadm_…` (viewer: every GET; manager: everything); \
            `/v1/verify` takes `Authorization: Bearer ragk_…`. Errors always have the shape \
            `{\"error\":{\"code\",\"message\"}}`. Request bodies over 16 KiB (1 MiB for \
            `POST /v1/leaks/github`) are refused with 413. \
            An unknown path is 404 `not_found`, and so is a known path with a method it does not \
            take, with an `Allow` header naming the methods it does."
    ),
    paths(
        public::healthz,
        public::readyz,
        public::readyz_verify,
        public::openapi,
        public::me,
        services::list,
        services::create,
        services::get,
        services::delete,
        keys::list,
        issue::issue,
        keys::delete,
        lifecycle::update,
        lifecycle::rotate,
        keys::audit,
        audit::list,
        whois::whois,
        public::verify,
        usage::usage,
        narrowing::narrowing,
        leaks::admin_report,
        leaks::github,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, ErrorCode, Health, Me, Role, Service, ServiceList, CreateService,
        ApiKey, ApiKeyList, IssueApiKey, IssuedKey, AuditAction, AuditEvent, AuditList, Verified,
        KeyState, UpdateApiKey, RotateApiKey, AuditPage, WhoisRequest, WhoisAnswer, Usage, Bucket,
        Leak, LeakRequest, LeakAnswer, GithubLeak, LeakFeedback, LeakLabel
    )),
    modifiers(&Security, &Shared, &Limits, &VerifyHead),
    tags(
        (name = "service", description = "Health and this document"),
        (name = "admin", description = "The caller"),
        (name = "services", description = "Services"),
        (name = "api-keys", description = "API keys of a service and their audit trail"),
        (name = "audit", description = "The audit trail of every service, deleted ones included"),
        (name = "verify", description = "What the RAG service's clients call"),
        (name = "leaks", description = "Leaked keys: reports from GitHub's secret scanning and from admins"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what.to_owned()))
                    .build(),
            )
        };
        components.add_security_scheme("admin_token", bearer("An admin token, ragadm_…"));
        components.add_security_scheme("api_key", bearer("An API key, ragk_…"));
    }
}

struct Shared;

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

impl Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let request_id = || {
            let mut h = Header::new(Object::with_type(Type::String));
            h.description =
                Some("The client's X-Request-Id if it sent a sane one, else a new one".into());
            h
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            for op in operations(item) {
                let reads_body = op.request_body.is_some();
                let responses = &mut op.responses.responses;
                // A repeated Authorization or Idempotency-Key is refused on every route.
                responses.entry("400".into()).or_insert_with(|| {
                    error_response(
                        "`invalid_request`: `Authorization` or `Idempotency-Key` sent more than once; \
                         on an admin GET other than `/v1/audit`, any query parameter",
                    )
                    .into()
                });
                if reads_body {
                    responses.entry("408".into()).or_insert_with(|| {
                        error_response("`request_timeout`: the body did not arrive within 30 s")
                            .into()
                    });
                }
                if !matches!(path.as_str(), "/healthz" | "/openapi.json") {
                    responses.entry("503".into()).or_insert_with(|| {
                        let mut r = error_response(
                            "`unavailable`: the store cannot be reached or cannot take writes (disk full, read-only, I/O error), or this replica is not in sync",
                        );
                        r.headers.insert("Retry-After".into(), retry_after());
                        r.into()
                    });
                }
                responses.entry("413".into()).or_insert_with(|| {
                    error_response("`payload_too_large`: a body over 16 KiB, refused unread").into()
                });
                responses.entry("500".into()).or_insert_with(|| {
                    error_response("`internal`: without details of the failure").into()
                });
                for (status, resp) in responses.iter_mut() {
                    if let utoipa::openapi::RefOr::T(r) = resp {
                        r.headers.insert("X-Request-Id".into(), request_id());
                        if status.starts_with(['4', '5']) {
                            r.headers.insert("Ragkeys-Refusal".into(), refusal());
                        }
                    }
                }
                op.parameters.get_or_insert_with(Vec::new).push(
                    ParameterBuilder::new()
                        .name("X-Request-Id")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "Echoed on the response (1 to 128 visible ASCII characters)",
                        ))
                        .schema(Some(Object::with_type(Type::String)))
                        .build(),
                );
            }
        }
    }
}

fn refusal() -> Header {
    let mut h = Header::new(Object::with_type(Type::String));
    h.description =
        Some("The error's code, as in the body, for gateways that read only heads".into());
    h
}

/// `HEAD /v1/verify`: the GET operation without bodies, under its own operation id, for
/// gateways that read only heads (nginx `auth_request`, docs/api.md, Identity for the gateway).
struct VerifyHead;

impl Modify for VerifyHead {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let Some(item) = doc.paths.paths.get_mut(super::paths::VERIFY) else {
            return;
        };
        let Some(mut head) = item.get.clone() else {
            return;
        };
        head.operation_id = Some("verify_head".into());
        head.summary =
            Some("Checks an API key: the GET answer's status and headers, no body".into());
        head.description = None;
        for resp in head.responses.responses.values_mut() {
            if let utoipa::openapi::RefOr::T(r) = resp {
                r.content.clear();
            }
        }
        item.head = Some(head);
    }
}

fn retry_after() -> Header {
    let mut h = Header::new(Object::with_type(Type::Integer));
    h.description = Some("Seconds to wait before trying again".into());
    h
}

/// Limits that live in `wire::limits` and that utoipa's parameter attributes cannot take as
/// constants: the audit page size (1 to 500, default 100) and the Idempotency-Key's length
/// (docs/api.md, Endpoints and Behaviour).
struct Limits;

impl Modify for Limits {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            for op in operations(item) {
                for p in op.parameters.iter_mut().flatten() {
                    match (p.name.as_str(), &p.parameter_in) {
                        ("limit", ParameterIn::Query) => {
                            let s = ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(1))
                                .maximum(Some(limits::AUDIT_PAGE_MAX))
                                .default(Some(limits::AUDIT_PAGE_DEFAULT.into()));
                            p.schema = Some(s.build().into());
                        }
                        ("Idempotency-Key", ParameterIn::Header) => {
                            let s = ObjectBuilder::new()
                                .schema_type(Type::String)
                                .min_length(Some(1))
                                .max_length(Some(limits::IDEMPOTENCY_KEY_MAX))
                                .pattern(Some("^[\\x21-\\x7E]+$"));
                            p.schema = Some(s.build().into());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// The document, rendered once at start.
pub fn document() -> Bytes {
    Bytes::from(ApiDoc::openapi().to_json().unwrap_or_else(|_| "{}".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_errors() {
        let doc: serde_json::Value = serde_json::from_slice(&document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/healthz",
            "/readyz",
            "/readyz/verify",
            "/openapi.json",
            "/v1/me",
            "/v1/services",
            "/v1/services/{service_id}",
            "/v1/services/{service_id}/api-keys",
            "/v1/services/{service_id}/api-keys/{key_id}",
            "/v1/services/{service_id}/audit",
            "/v1/audit",
            "/v1/whois",
            "/v1/verify",
            "/v1/services/{service_id}/api-keys/{key_id}/usage",
            "/v1/services/{service_id}/api-keys/{key_id}/narrowing",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        let issue = &paths["/v1/services/{service_id}/api-keys"]["post"];
        for status in [
            "201", "400", "401", "403", "404", "409", "413", "422", "500",
        ] {
            assert!(
                issue["responses"].get(status).is_some(),
                "issue lacks {status}"
            );
        }
        assert!(doc["components"]["schemas"]["IssuedKey"].is_object());
        let verify = &paths["/v1/verify"];
        let ok = &verify["get"]["responses"]["200"]["headers"];
        assert!(ok["Ragkeys-Service-Id"].is_object() && ok["Ragkeys-Key-Id"].is_object());
        assert!(verify["get"]["responses"]["429"]["headers"]["Ragkeys-Refusal"].is_object());
        assert_eq!(verify["head"]["operationId"], "verify_head");
        assert!(verify["head"]["responses"]["200"]["content"].is_null());
        assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
        let narrowing = &paths["/v1/services/{service_id}/api-keys/{key_id}/narrowing"]["get"];
        for status in ["200", "400", "401", "404"] {
            assert!(
                narrowing["responses"].get(status).is_some(),
                "narrowing lacks {status}"
            );
        }
        let names: Vec<&str> = narrowing["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(
            names[..4],
            ["service_id", "key_id", "scopes", "allowed_cidrs"]
        );
        let schemas = &doc["components"]["schemas"];
        for s in ["Narrowing", "NarrowingReason", "NetworkSeen", "Policy"] {
            assert!(schemas[s].is_object(), "{s} missing");
        }
        let reasons = &schemas["NarrowingReason"]["enum"];
        assert!(
            !reasons.as_array().unwrap().iter().any(|c| c == "unknown"),
            "{reasons}"
        );
    }

    #[test]
    fn operation_ids_are_unique_as_openapi_requires() {
        let doc: serde_json::Value = serde_json::from_slice(&document()).unwrap();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        // Every route, and HEAD /v1/verify beside its GET.
        assert_eq!(ids.len(), 23, "{ids:?}");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 23, "duplicate operationId");
        for (path, method) in [
            ("/v1/services/{service_id}/api-keys/{key_id}", "patch"),
            ("/v1/services/{service_id}/api-keys/{key_id}/rotate", "post"),
        ] {
            assert!(
                doc["paths"][path][method]["responses"]["409"].is_object(),
                "{path}"
            );
        }
        let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        assert!(
            !codes.as_array().unwrap().iter().any(|c| c == "unknown"),
            "{codes}"
        );
    }
}
