//! The one typed HTTP client of the key service, shared by the console and the CLI. One
//! `reqwest::Client` per process (cloned, never rebuilt per request); every failure becomes an
//! [`ApiError`] that says whether the service answered or could not be reached.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

pub mod proxy;
mod tls;

use crate::clock::ClockReading;
use crate::credential::Secret;
use crate::wire::{
    ApiKey, ApiKeyList, AuditList, AuditPage, CreateService, ErrorBody, ErrorCode, IssueApiKey,
    IssuedKey, Me, RotateApiKey, Service, ServiceList, UpdateApiKey, Verified, WhoisAnswer,
    WhoisRequest,
};
use crate::wire::{LeakAnswer, LeakRequest, Narrowing, NarrowingCandidate, Usage};

/// How to reach the service.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub endpoint: String,
    pub token: Secret,
    /// Extra roots trusted besides the system's (an internal CA).
    pub ca_cert: Option<PathBuf>,
    /// Skip certificate verification entirely. Callers warn about it.
    pub insecure: bool,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Proxy variables to honour (`None`: connect directly, as for the embedded service).
    /// Loopback endpoints are direct whatever they say; see [`proxy`].
    pub proxy_env: Option<Arc<proxy::ProxyEnv>>,
}

impl ClientOptions {
    pub fn new(endpoint: impl Into<String>, token: Secret) -> Self {
        ClientOptions {
            endpoint: endpoint.into(),
            token,
            ca_cert: None,
            insecure: false,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
            proxy_env: Some(Arc::new(proxy::ProxyEnv::from_env())),
        }
    }

    /// Options for the embedded service on loopback: never through a proxy (issue 7, kind 1).
    pub fn embedded(endpoint: impl Into<String>, token: Secret) -> Self {
        ClientOptions {
            proxy_env: None,
            ..Self::new(endpoint, token)
        }
    }
}

/// What went wrong with a call.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    /// The service answered with its error shape.
    #[error("{message} ({code})")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        /// Seconds, from `Retry-After` on a 429.
        retry_after: Option<u64>,
    },
    /// The service could not be reached: connection refused or reset, DNS, TLS, time-out.
    #[error("cannot reach the service at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// Something answered, but not as the key service does (HTML, garbage, wrong shape).
    #[error("unexpected answer from {endpoint}: {reason}")]
    Protocol { endpoint: String, reason: String },
    /// The client itself could not be set up (bad URL, unreadable CA file).
    #[error("{0}")]
    Config(String),
}

impl ApiError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ApiError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when the request may not have reached the service: safe to retry an idempotent call.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ApiError::Unreachable { .. })
    }

    /// True when TLS refused the service's certificate or handshake: a retry meets the same.
    pub fn is_tls(&self) -> bool {
        matches!(self, ApiError::Unreachable { reason, .. } if reason.starts_with(tls::PREFIX))
    }
}

/// The filters of one `GET /v1/audit` page; `None` leaves a parameter out.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub service_id: Option<String>,
    /// An action name as docs/api.md spells it (`api_key.issue`); the service checks it.
    pub action: Option<String>,
    /// Events in this page, 1 to 500 (the service's default: 100).
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// Oldest first (`order=oldest`); newest first, the service's default, when false.
    pub oldest_first: bool,
}

/// A successful issue, and whether the service answered from its idempotency record.
#[derive(Clone, Debug)]
pub struct Issued {
    pub key: IssuedKey,
    pub replayed: bool,
}

/// A decoded answer with the exact bytes the service sent, for printing the service's own JSON.
/// The bytes are wiped when dropped: an issue's body holds the plaintext key.
pub struct Raw<T> {
    pub value: T,
    pub body: Zeroizing<Vec<u8>>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Raw<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raw")
            .field("value", &self.value)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    endpoint: Arc<str>,
    auth: HeaderValue,
    /// The proxy requests go through, described without credentials (for messages).
    via: Option<Arc<str>>,
    /// The `Date` of the latest answer, shared by the clones (docs/api.md, Time).
    clock: Arc<Mutex<Option<ClockReading>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("proxy", &self.via)
            .finish_non_exhaustive()
    }
}

/// rustls needs one process-wide crypto provider; ring builds everywhere without extra tools.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Parses an endpoint the way every command does, with a message a person can act on.
pub fn parse_endpoint(endpoint: &str) -> Result<Url, ApiError> {
    let mut url = Url::parse(endpoint.trim()).map_err(|e| {
        ApiError::Config(format!(
            "invalid endpoint URL {endpoint:?}: {e} (expected e.g. https://keys.example.com)"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ApiError::Config(format!(
            "invalid endpoint URL {endpoint:?}: use http:// or https:// with a host"
        )));
    }
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// Trusts the certificates of a PEM file besides the system's roots (an internal CA); the
/// message names the file when it cannot be used.
pub fn add_roots(
    builder: reqwest::ClientBuilder,
    path: &std::path::Path,
) -> Result<reqwest::ClientBuilder, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read CA certificate {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("CA certificate {} is not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "CA certificate {} holds no certificate",
            path.display()
        ));
    }
    Ok(builder.tls_certs_merge(certs))
}

/// Sends each request through the proxy our rules choose for its URL (loopback direct,
/// `NO_PROXY` honoured), never by reqwest's own reading of the environment.
pub fn route_proxies(
    builder: reqwest::ClientBuilder,
    env: Arc<proxy::ProxyEnv>,
) -> reqwest::ClientBuilder {
    // Per URL, so that a redirect elsewhere follows the same rules.
    builder.no_proxy().proxy(reqwest::Proxy::custom(move |url| {
        env.for_url(url).ok().flatten().map(|p| p.url)
    }))
}

impl Client {
    pub fn new(opts: &ClientOptions) -> Result<Client, ApiError> {
        install_crypto_provider();
        let base = parse_endpoint(&opts.endpoint)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.timeout)
            .user_agent(concat!("ragkeys/", env!("CARGO_PKG_VERSION")))
            .default_headers(HeaderMap::new());
        if let Some(path) = &opts.ca_cert {
            builder = add_roots(builder, path).map_err(ApiError::Config)?;
        }
        if opts.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        // Proxies are decided here, from our rules, never by reqwest's own reading of the
        // environment (which would proxy loopback and read HTTP_PROXY).
        builder = builder.no_proxy();
        let chosen = match &opts.proxy_env {
            Some(env) => env.for_url(&base).map_err(ApiError::Config)?,
            None => None,
        };
        if chosen.is_some() {
            builder = route_proxies(builder, opts.proxy_env.clone().unwrap_or_default());
        }
        // An https:// proxy needs the system's roots even for an http:// service.
        let https_proxy = chosen.as_ref().is_some_and(|p| p.url.scheme() == "https");
        if base.scheme() == "http" && opts.ca_cert.is_none() && !https_proxy {
            // No TLS to verify: skip reading the system's roots (hundreds of files, and an
            // error on a machine that has none).
            builder = builder.tls_certs_only(Vec::new());
        }
        let http = builder
            .build()
            .map_err(|e| ApiError::Config(format!("cannot set up the HTTP client: {e}")))?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", opts.token.expose()))
            .map_err(|_| ApiError::Config("the admin token contains invalid characters".into()))?;
        auth.set_sensitive(true);
        let endpoint: Arc<str> = base.as_str().trim_end_matches('/').into();
        Ok(Client {
            http,
            base,
            endpoint,
            auth,
            via: chosen.map(|p| p.describe().into()),
            clock: Arc::default(),
        })
    }

    /// The service's clock as the latest answer (of any call, error or not) gave it; `None`
    /// before the first answer, or when no answer carried a `Date`.
    pub fn clock(&self) -> Option<ClockReading> {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The proxy this client's requests go through (`scheme://host:port (from VAR)`), if any.
    pub fn proxy(&self) -> Option<&str> {
        self.via.as_deref()
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, ApiError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ApiError::Config(format!("bad path {path}: {e}")))
    }

    fn unreachable(&self, e: &reqwest::Error) -> ApiError {
        // The error chain says refused / DNS / certificate; show its innermost useful part.
        let mut reason = e.to_string();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
        while let Some(s) = src {
            reason = s.to_string();
            src = s.source();
        }
        let chain = error_chain(e);
        if let Some(t) = tls::find(e) {
            reason = tls::reason(t);
        } else if let Some(via) = &self.via {
            reason = if chain.contains("proxy authorization required") {
                proxy_auth_reason(via)
            } else if chain.contains("tunnel error: unsuccessful") {
                format!("the proxy {via} refused to open a connection to the service")
            } else if chain.contains("tunnel error") || e.is_connect() {
                format!("cannot connect to the proxy {via}: {reason}")
            } else if e.is_timeout() {
                format!("timed out ({reason}) through the proxy {via}")
            } else {
                format!("{reason} (through the proxy {via})")
            };
        } else if e.is_timeout() {
            reason = format!("timed out ({reason})");
        } else if self.base.scheme() == "http" && reason.contains("invalid HTTP version") {
            // What hyper says when the answer is a TLS record: the service speaks HTTPS.
            reason = format!("{reason} (is the endpoint https:// rather than http://?)");
        }
        ApiError::Unreachable {
            endpoint: self.endpoint.to_string(),
            reason,
        }
    }

    fn protocol(&self, reason: impl Into<String>) -> ApiError {
        ApiError::Protocol {
            endpoint: self.endpoint.to_string(),
            reason: reason.into(),
        }
    }

    /// Sends one request and returns the status, headers and body, or the service's error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        extra: &[(&'static str, &str)],
        auth: Option<&HeaderValue>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ApiError> {
        let mut req = self.http.request(method, self.url(path)?);
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        // Through a proxy that answers itself, its clock: near enough, and all there is.
        if let Some(reading) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(ClockReading::now_local)
        {
            *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = Some(reading);
        }
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        let bytes = match bytes.try_into_mut() {
            Ok(m) => Vec::from(m),
            Err(shared) => shared.to_vec(),
        };
        if status.is_success() {
            return Ok((status, headers, bytes));
        }
        if let Some(via) = &self.via
            && status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
        {
            return Err(ApiError::Unreachable {
                endpoint: self.endpoint.to_string(),
                reason: proxy_auth_reason(via),
            });
        }
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(ApiError::Api {
                status: status.as_u16(),
                code: e.error.code,
                message: e.error.message,
                retry_after,
            }),
            // Through a proxy, an answer without our shape is the proxy's own (502, 503, 504).
            Err(_) if self.via.is_some() => Err(ApiError::Unreachable {
                endpoint: self.endpoint.to_string(),
                reason: format!(
                    "HTTP {} from the proxy {} (not the service's answer: the proxy could not \
                     reach it, or refused; check the proxy or list the host in no_proxy)",
                    status.as_u16(),
                    self.via.as_deref().unwrap_or("?")
                ),
            }),
            Err(_) => Err(self.protocol(format!(
                "HTTP {} without the service's error shape (is this the ragkeys service?)",
                status.as_u16()
            ))),
        }
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, ApiError> {
        serde_json::from_slice(bytes).map_err(|e| {
            self.protocol(format!(
                "response is not the expected JSON ({e}); is this the ragkeys service?"
            ))
        })
    }

    fn decode_raw<T: DeserializeOwned>(&self, bytes: Vec<u8>) -> Result<Raw<T>, ApiError> {
        let body = Zeroizing::new(bytes);
        Ok(Raw {
            value: self.decode(&body)?,
            body,
        })
    }

    async fn get_raw<T: DeserializeOwned>(&self, path: &str) -> Result<Raw<T>, ApiError> {
        let (_, _, bytes) = self
            .send(Method::GET, path, None, &[], Some(&self.auth))
            .await?;
        self.decode_raw(bytes)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.get_raw(path).await.map(|r| r.value)
    }

    async fn post_raw<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Raw<T>, ApiError> {
        let json = serde_json::to_vec(body).map_err(|e| ApiError::Config(e.to_string()))?;
        let (_, _, bytes) = self
            .send(Method::POST, path, Some(json), &[], Some(&self.auth))
            .await?;
        self.decode_raw(bytes)
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        self.post_raw(path, body).await.map(|r| r.value)
    }

    async fn delete(&self, path: &str) -> Result<(), ApiError> {
        self.send(Method::DELETE, path, None, &[], Some(&self.auth))
            .await
            .map(|_| ())
    }

    pub async fn health(&self) -> Result<(), ApiError> {
        self.send(Method::GET, "healthz", None, &[], None)
            .await
            .map(|_| ())
    }

    pub async fn me(&self) -> Result<Me, ApiError> {
        self.get("v1/me").await
    }

    pub async fn list_services(&self) -> Result<ServiceList, ApiError> {
        self.get("v1/services").await
    }

    /// The services with each one's `attention` count (`include=attention`, docs/api.md,
    /// Service). A service older than the count refuses the query (400 `invalid_request`): then
    /// the plain list, without it.
    pub async fn list_services_with_attention(&self) -> Result<ServiceList, ApiError> {
        match self.get("v1/services?include=attention").await {
            Err(ApiError::Api {
                code: ErrorCode::InvalidRequest,
                ..
            }) => self.list_services().await,
            other => other,
        }
    }

    pub async fn list_services_raw(&self) -> Result<Raw<ServiceList>, ApiError> {
        self.get_raw("v1/services").await
    }

    pub async fn get_service(&self, service_id: &str) -> Result<Service, ApiError> {
        self.get(&format!("v1/services/{}", seg(service_id))).await
    }

    pub async fn create_service(&self, body: &CreateService) -> Result<Service, ApiError> {
        self.post("v1/services", body).await
    }

    pub async fn create_service_raw(&self, body: &CreateService) -> Result<Raw<Service>, ApiError> {
        self.post_raw("v1/services", body).await
    }

    pub async fn delete_service(&self, service_id: &str) -> Result<(), ApiError> {
        self.delete(&format!("v1/services/{}", seg(service_id)))
            .await
    }

    pub async fn list_keys(&self, service_id: &str) -> Result<ApiKeyList, ApiError> {
        self.get(&format!("v1/services/{}/api-keys", seg(service_id)))
            .await
    }

    pub async fn list_keys_raw(&self, service_id: &str) -> Result<Raw<ApiKeyList>, ApiError> {
        self.get_raw(&format!("v1/services/{}/api-keys", seg(service_id)))
            .await
    }

    /// Issues a key. `idempotency_key` must be reused on a retry of the same issue.
    pub async fn issue_key(
        &self,
        service_id: &str,
        body: &IssueApiKey,
        idempotency_key: &str,
    ) -> Result<Issued, ApiError> {
        self.issue_key_raw(service_id, body, idempotency_key)
            .await
            .map(|r| r.value)
    }

    /// [`Client::issue_key`], with the body as the service sent it.
    pub async fn issue_key_raw(
        &self,
        service_id: &str,
        body: &IssueApiKey,
        idempotency_key: &str,
    ) -> Result<Raw<Issued>, ApiError> {
        let path = format!("v1/services/{}/api-keys", seg(service_id));
        self.post_issued(&path, body, idempotency_key).await
    }

    /// `PATCH …/api-keys/{key_id}` (docs/api.md, Key lifecycle): rename, disable, enable or set a
    /// new expiry; the key as it is afterwards.
    pub async fn update_key(
        &self,
        service_id: &str,
        key_id: &str,
        body: &UpdateApiKey,
    ) -> Result<ApiKey, ApiError> {
        self.update_key_raw(service_id, key_id, body)
            .await
            .map(|r| r.value)
    }

    /// [`Client::update_key`], with the body as the service sent it.
    pub async fn update_key_raw(
        &self,
        service_id: &str,
        key_id: &str,
        body: &UpdateApiKey,
    ) -> Result<Raw<ApiKey>, ApiError> {
        let json = serde_json::to_vec(body).map_err(|e| ApiError::Config(e.to_string()))?;
        let path = format!("v1/services/{}/api-keys/{}", seg(service_id), seg(key_id));
        let (_, _, bytes) = self
            .send(Method::PATCH, &path, Some(json), &[], Some(&self.auth))
            .await?;
        self.decode_raw(bytes)
    }

    /// `POST …/api-keys/{key_id}/rotate`: the successor with its plaintext, retry-safe with
    /// `idempotency_key` as an issue is (a replay gives the same successor).
    pub async fn rotate_key(
        &self,
        service_id: &str,
        key_id: &str,
        body: &RotateApiKey,
        idempotency_key: &str,
    ) -> Result<Issued, ApiError> {
        self.rotate_key_raw(service_id, key_id, body, idempotency_key)
            .await
            .map(|r| r.value)
    }

    /// [`Client::rotate_key`], with the body as the service sent it.
    pub async fn rotate_key_raw(
        &self,
        service_id: &str,
        key_id: &str,
        body: &RotateApiKey,
        idempotency_key: &str,
    ) -> Result<Raw<Issued>, ApiError> {
        let path = format!(
            "v1/services/{}/api-keys/{}/rotate",
            seg(service_id),
            seg(key_id)
        );
        self.post_issued(&path, body, idempotency_key).await
    }

    /// A POST whose answer is an IssuedKey (issue, rotate).
    async fn post_issued<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        idempotency_key: &str,
    ) -> Result<Raw<Issued>, ApiError> {
        let json = serde_json::to_vec(body).map_err(|e| ApiError::Config(e.to_string()))?;
        let (_, headers, bytes) = self
            .send(
                Method::POST,
                path,
                Some(json),
                &[("idempotency-key", idempotency_key)],
                Some(&self.auth),
            )
            .await?;
        // The body holds the plaintext key: it is wiped when the `Raw` is dropped.
        let raw = self.decode_raw::<IssuedKey>(bytes)?;
        let replayed = headers
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        Ok(Raw {
            value: Issued {
                key: raw.value,
                replayed,
            },
            body: raw.body,
        })
    }

    pub async fn delete_key(&self, service_id: &str, key_id: &str) -> Result<(), ApiError> {
        self.delete(&format!(
            "v1/services/{}/api-keys/{}",
            seg(service_id),
            seg(key_id)
        ))
        .await
    }

    pub async fn audit(&self, service_id: &str) -> Result<AuditList, ApiError> {
        self.get(&format!("v1/services/{}/audit", seg(service_id)))
            .await
    }

    /// One page of `GET /v1/audit` (docs/api.md, Endpoints): every service, deleted ones included,
    /// newest first (or oldest first); `before` is the `next` of the previous page.
    pub async fn audit_page_raw(&self, query: &AuditQuery) -> Result<Raw<AuditPage>, ApiError> {
        let mut params = Vec::new();
        if let Some(s) = &query.service_id {
            params.push(format!("service_id={}", seg(s)));
        }
        if let Some(a) = &query.action {
            params.push(format!("action={}", seg(a)));
        }
        if let Some(n) = query.limit {
            params.push(format!("limit={n}"));
        }
        if let Some(b) = &query.before {
            params.push(format!("before={}", seg(b)));
        }
        if query.oldest_first {
            params.push("order=oldest".to_owned());
        }
        let path = if params.is_empty() {
            "v1/audit".to_owned()
        } else {
            format!("v1/audit?{}", params.join("&"))
        };
        self.get_raw(&path).await
    }

    /// `POST /v1/whois`: whose key this is. The key travels in the body only (never a URL).
    pub async fn whois_raw(&self, key: &Secret) -> Result<Raw<WhoisAnswer>, ApiError> {
        let body = WhoisRequest { key: key.clone() };
        self.post_raw("v1/whois", &body).await
    }

    /// Reports a key an admin found where it should not be (`POST /v1/leaks`, manager): the
    /// service disables it at once and records where it was found (docs/api.md, Leaked keys).
    /// An unknown, malformed or deleted key is `api_key_not_found`.
    pub async fn report_leak(
        &self,
        key: &Secret,
        url: Option<&str>,
    ) -> Result<LeakAnswer, ApiError> {
        self.report_leak_raw(key, url).await.map(|r| r.value)
    }

    /// [`Client::report_leak`] with the body as the service sent it (for `--json`).
    pub async fn report_leak_raw(
        &self,
        key: &Secret,
        url: Option<&str>,
    ) -> Result<Raw<LeakAnswer>, ApiError> {
        let body = LeakRequest {
            key: key.clone(),
            url: url.map(str::to_owned),
        };
        self.post_raw("v1/leaks", &body).await
    }

    /// A key's usage: 24 hourly and 30 daily buckets and its last use (docs/api.md, Usage).
    pub async fn key_usage(&self, service_id: &str, key_id: &str) -> Result<Usage, ApiError> {
        self.key_usage_raw(service_id, key_id)
            .await
            .map(|r| r.value)
    }

    /// [`Client::key_usage`] with the body as the service sent it (for `--json`).
    pub async fn key_usage_raw(
        &self,
        service_id: &str,
        key_id: &str,
    ) -> Result<Raw<Usage>, ApiError> {
        self.get_raw(&format!(
            "v1/services/{}/api-keys/{}/usage",
            seg(service_id),
            seg(key_id)
        ))
        .await
    }

    /// What a key could be narrowed to from its use of the last 30 days, or, with a
    /// `candidate`, what that candidate would have refused (docs/api.md, Narrowing, exactly).
    pub async fn narrowing(
        &self,
        service_id: &str,
        key_id: &str,
        candidate: Option<&NarrowingCandidate>,
    ) -> Result<Narrowing, ApiError> {
        self.narrowing_raw(service_id, key_id, candidate)
            .await
            .map(|r| r.value)
    }

    /// [`Client::narrowing`] with the body as the service sent it (for `--json`).
    pub async fn narrowing_raw(
        &self,
        service_id: &str,
        key_id: &str,
        candidate: Option<&NarrowingCandidate>,
    ) -> Result<Raw<Narrowing>, ApiError> {
        let mut path = format!(
            "v1/services/{}/api-keys/{}/narrowing",
            seg(service_id),
            seg(key_id)
        );
        let query = candidate.map(NarrowingCandidate::query).unwrap_or_default();
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query);
        }
        self.get_raw(&path).await
    }

    /// Checks an API key as the service's own clients do.
    pub async fn verify(&self, api_key: &Secret) -> Result<Verified, ApiError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", api_key.expose()))
            .map_err(|_| ApiError::Config("the API key contains invalid characters".into()))?;
        auth.set_sensitive(true);
        let (_, _, bytes) = self
            .send(Method::GET, "v1/verify", None, &[], Some(&auth))
            .await?;
        self.decode(&bytes)
    }
}

/// Every message in `e`'s source chain, joined: where reqwest keeps hyper's tunnel errors.
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

fn proxy_auth_reason(via: &str) -> String {
    format!(
        "the proxy {via} asks for credentials (HTTP 407 Proxy Authentication Required): put \
         them in the variable, e.g. http://user:password@host:port"
    )
}

/// A fresh Idempotency-Key for one issue attempt (and its retries).
pub fn new_idempotency_key() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..24)
        .map(|_| {
            let i = rng.random_range(0..62u8);
            (match i {
                0..=9 => b'0' + i,
                10..=35 => b'a' + i - 10,
                _ => b'A' + i - 36,
            }) as char
        })
        .collect()
}

/// Percent-encodes one path segment: ids are opaque and may hold anything a user typed.
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        // '.' is escaped too, so that an id of ".." cannot climb the path.
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_and_normalised() {
        assert_eq!(
            parse_endpoint("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            parse_endpoint("https://h.example/keys").unwrap().as_str(),
            "https://h.example/keys/"
        );
        assert!(parse_endpoint("127.0.0.1:8080").is_err());
        assert!(parse_endpoint("ftp://h").is_err());
        assert!(parse_endpoint("not a url").is_err());
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(seg("svc_1"), "svc_1");
        assert_eq!(seg("../x"), "%2E%2E%2Fx");
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_and_distinct() {
        let (a, b) = (new_idempotency_key(), new_idempotency_key());
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
