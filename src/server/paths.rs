//! The route templates of docs/api.md, as axum writes them, and the classifier that tells the
//! layers which template a request's path matches. The router and [`template`] both use these
//! constants, so a route cannot be served without being known to the layers.

pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const READYZ_VERIFY: &str = "/readyz/verify";
pub const OPENAPI: &str = "/openapi.json";
pub const ME: &str = "/v1/me";
pub const SERVICES: &str = "/v1/services";
pub const SERVICE: &str = "/v1/services/{service_id}";
pub const KEYS: &str = "/v1/services/{service_id}/api-keys";
pub const KEY: &str = "/v1/services/{service_id}/api-keys/{key_id}";
pub const ROTATE: &str = "/v1/services/{service_id}/api-keys/{key_id}/rotate";
pub const USAGE: &str = "/v1/services/{service_id}/api-keys/{key_id}/usage";
pub const NARROWING: &str = "/v1/services/{service_id}/api-keys/{key_id}/narrowing";
pub const SERVICE_AUDIT: &str = "/v1/services/{service_id}/audit";
pub const AUDIT: &str = "/v1/audit";
pub const WHOIS: &str = "/v1/whois";
pub const VERIFY: &str = "/v1/verify";
pub const LEAKS: &str = "/v1/leaks";
pub const LEAKS_GITHUB: &str = "/v1/leaks/github";

/// Every template above.
#[cfg(test)]
pub const ALL: [&str; 18] = [
    HEALTHZ,
    READYZ,
    READYZ_VERIFY,
    OPENAPI,
    ME,
    SERVICES,
    SERVICE,
    KEYS,
    KEY,
    ROTATE,
    USAGE,
    NARROWING,
    SERVICE_AUDIT,
    AUDIT,
    WHOIS,
    VERIFY,
    LEAKS,
    LEAKS_GITHUB,
];

/// The template of the route that `path` (a request's URI path, not decoded) matches, the way
/// axum's router matches it: literal segments equal, each `{param}` one segment, which may be empty except at the end
/// (as axum's matcher has it: `/v1/services//api-keys` is the key list of service "", a 404;
/// `/v1/services/` is no route).
/// `None` for a path no route matches (its answer is 404 `not_found`).
pub fn template(path: &str) -> Option<&'static str> {
    // The routes without parameters by plain comparison, verify first: the hot path
    // (docs/performance.md) never splits its path.
    if let Some(t) = [
        VERIFY,
        HEALTHZ,
        READYZ,
        READYZ_VERIFY,
        OPENAPI,
        ME,
        SERVICES,
        AUDIT,
        WHOIS,
        LEAKS,
        LEAKS_GITHUB,
    ]
    .into_iter()
    .find(|t| *t == path)
    {
        return Some(t);
    }
    const MAX_SEGMENTS: usize = 6;
    let mut segs = [""; MAX_SEGMENTS];
    let mut n = 0;
    for seg in path.strip_prefix('/')?.split('/') {
        *segs.get_mut(n)? = seg;
        n += 1;
    }
    Some(match segs[..n] {
        ["v1", "services", s] if !s.is_empty() => SERVICE,
        ["v1", "services", _, "api-keys"] => KEYS,
        ["v1", "services", _, "audit"] => SERVICE_AUDIT,
        ["v1", "services", _, "api-keys", k] if !k.is_empty() => KEY,
        ["v1", "services", _, "api-keys", _, "rotate"] => ROTATE,
        ["v1", "services", _, "api-keys", _, "usage"] => USAGE,
        ["v1", "services", _, "api-keys", _, "narrowing"] => NARROWING,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::Request;
    use tower::ServiceExt as _;

    /// Every template, with its parameters filled in, is its own template.
    #[test]
    fn every_route_is_classified_as_itself() {
        for t in ALL {
            let path = t
                .replace("{service_id}", "svc_abc")
                .replace("{key_id}", "key_def");
            assert_eq!(template(&path), Some(t), "{path}");
        }
    }

    /// The classifier agrees with axum's own matching, odd paths included.
    #[tokio::test]
    async fn the_classifier_matches_the_way_axum_does() {
        let mut echo = Router::new();
        for t in ALL {
            echo = echo.route(t, axum::routing::any(move || async move { t }));
        }
        let echo = echo.fallback(|| async { "" });
        let cases = [
            "/",
            "",
            "/v1",
            "/v1/",
            "/v1/verify",
            "/v1/verify/",
            "/v1/verify/x",
            "/healthz",
            "/healthz/",
            "//healthz",
            "/HEALTHZ",
            "/v1/services",
            "/v1/services/",
            "/v1/services/svc_1",
            "/v1/services/svc_1/",
            "/v1/services//api-keys",
            "/v1/services/svc%2F1/api-keys",
            "/v1/services/svc_1/api-keys/key_1",
            "/v1/services/svc_1/api-keys//rotate",
            "/v1/services//api-keys/",
            "/v1/services//api-keys/k",
            "/v1/services//api-keys//usage",
            "/v1/services//audit",
            "/v1/services/svc_1/api-keys/",
            "/v1/services/svc_1/api-keys/key_1/rotate",
            "/v1/services/svc_1/api-keys/key_1/usage",
            "/v1/services/svc_1/api-keys/key_1/usage/x",
            "/v1/services/svc_1/api-keys/key_1/narrowing",
            "/v1/services//api-keys//narrowing",
            "/v1/services/svc_1/audit",
            "/v1/services/svc_1/audits",
            "/v1/audit",
            "/v1/whois",
            "/v1/leaks",
            "/v1/leaks/github",
            "/v1/leaks/github/",
            "/v1/leaks/",
            "/v1/me",
            "/openapi.json",
            "/readyz",
            "/readyz/verify",
            "/readyz/verify/",
            "/readyz/",
            "/v1/services/a/b/c/d/e/f/g",
        ];
        for path in cases {
            let uri = if path.is_empty() { "/" } else { path };
            let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
            let resp = echo.clone().oneshot(req).await.unwrap();
            let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
            let axum_says = String::from_utf8(body.to_vec()).unwrap();
            let ours = template(uri).unwrap_or("");
            assert_eq!(ours, axum_says, "path {uri:?}");
        }
    }
}
