//! Plain-HTTP helpers for the black-box API suites: JSON values rather than the crate's wire types,
//! so that the tests check the contract's shape as a script would see it.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Server, http};

/// One admin token against one service instance.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
}

/// A response read to the end: what the tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {:?}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts `status` and an `X-Request-Id` (every response has one); returns the body as JSON
    /// (`null` when there is none).
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "expected {status}, got {}", self.text);
        assert!(
            self.header("x-request-id").is_some(),
            "every response has X-Request-Id"
        );
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Asserts the one error shape (`{"error":{"code","message"}}`, nothing else, as JSON), the
    /// status, the code and an `X-Request-Id`; returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status} {code}, got {}: {}",
            self.status,
            self.text
        );
        let v = self.expect_error_shape();
        assert_eq!(v["error"]["code"], code, "wrong code in {}", self.text);
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "errors are JSON: {:?}",
            self.header("content-type")
        );
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts only the shape of an error (for statuses the contract gives no code for).
    #[track_caller]
    pub fn expect_error_shape(&self) -> Value {
        assert!(
            self.status.is_client_error() || self.status.is_server_error(),
            "not an error: {} {}",
            self.status,
            self.text
        );
        let rid = self.header("x-request-id").unwrap_or_default();
        assert!(
            !rid.is_empty(),
            "no X-Request-Id on {} {}",
            self.status,
            self.text
        );
        let v = self.json();
        let top = v.as_object().expect("error body is an object");
        assert_eq!(top.len(), 1, "error body has extra members: {}", self.text);
        let inner = v["error"].as_object().expect("error.error is an object");
        assert_eq!(
            inner.len(),
            2,
            "error object is not exactly code+message: {}",
            self.text
        );
        assert!(
            inner.get("code").is_some_and(Value::is_string),
            "code: {}",
            self.text
        );
        let msg = inner.get("message").and_then(Value::as_str);
        assert!(
            msg.is_some_and(|m| !m.trim().is_empty()),
            "message: {}",
            self.text
        );
        v
    }
}

impl Api {
    pub fn new(srv: &Server) -> Api {
        Api {
            base: srv.url(),
            http: http(),
            token: srv.token.clone(),
        }
    }

    /// A client of the service at `base`, with no token of its own (each call names its bearer).
    pub fn at(base: String) -> Api {
        Api {
            base,
            http: http(),
            token: String::new(),
        }
    }

    pub fn as_token(&self, token: &str) -> Api {
        Api {
            token: token.to_string(),
            ..self.clone()
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Any call: `bearer` as the credential (none: no Authorization header), `body` as JSON,
    /// `headers` added as they are.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        read(req.send().await.expect("request reaches the service")).await
    }

    /// Any admin call with this token; `body` is sent as JSON when given.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(method, path, Some(&self.token), body.as_ref(), &[])
            .await
    }

    /// `GET` with `bearer` as the credential (none: no Authorization header).
    pub async fn get_as(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.send(Method::GET, path, bearer, None, &[]).await
    }

    /// `POST` of `body` with `bearer` as the credential.
    pub async fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> Reply {
        self.send(Method::POST, path, bearer, Some(body), &[]).await
    }

    /// `DELETE` with `bearer` as the credential.
    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.send(Method::DELETE, path, bearer, None, &[]).await
    }

    /// Creates a service as `token`; returns its id.
    pub async fn create_service_as(&self, token: &str, name: &str) -> String {
        let body = json!({"name": name, "description": "made by a test"});
        let r = self.post("/v1/services", Some(token), &body).await;
        r.expect(201)["id"]
            .as_str()
            .expect("service id is a string")
            .to_string()
    }

    /// Issues a key with an empty body as `token`, asserted 201; returns the answer.
    pub async fn issue_as(&self, token: &str, sid: &str) -> Value {
        self.as_token(token).issue(sid, json!({})).await.expect(201)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    /// `GET` without any credential (`/readyz`, `/healthz`, `/openapi.json`).
    pub async fn get_public(&self, path: &str) -> Reply {
        read(
            self.http
                .get(self.url(path))
                .send()
                .await
                .expect("request reaches the service"),
        )
        .await
    }

    /// Creates a service and returns its id.
    pub async fn create_service(&self, name: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/v1/services",
                Some(json!({"name": name, "description": "made by a test"})),
            )
            .await;
        assert_eq!(r.status, 201, "create service: {}", r.text);
        r.json()["id"]
            .as_str()
            .expect("service id is a string")
            .to_string()
    }

    pub async fn issue(&self, sid: &str, body: Value) -> Reply {
        self.call(
            Method::POST,
            &format!("/v1/services/{sid}/api-keys"),
            Some(body),
        )
        .await
    }

    pub async fn issue_idem(&self, sid: &str, body: Value, idem: &str) -> Reply {
        let path = format!("/v1/services/{sid}/api-keys");
        self.call_idem(Method::POST, &path, body, idem).await
    }

    /// An admin call with this token, `body` as JSON and an `Idempotency-Key`.
    pub async fn call_idem(&self, method: Method, path: &str, body: Value, idem: &str) -> Reply {
        HeaderValue::from_str(idem).expect("an Idempotency-Key fit for a header");
        let headers = [("idempotency-key", idem)];
        self.send(method, path, Some(&self.token), Some(&body), &headers)
            .await
    }

    /// Issues a key that must succeed; returns (key id, plaintext key).
    pub async fn issue_ok(&self, sid: &str) -> (String, String) {
        let r = self.issue(sid, json!({})).await;
        assert_eq!(r.status, 201, "issue: {}", r.text);
        let v = r.json();
        (
            v["id"].as_str().expect("key id").to_string(),
            v["key"].as_str().expect("plaintext key").to_string(),
        )
    }

    pub async fn delete_key(&self, sid: &str, kid: &str) -> Reply {
        self.call(
            Method::DELETE,
            &format!("/v1/services/{sid}/api-keys/{kid}"),
            None,
        )
        .await
    }

    /// The list of keys, asserted 200.
    pub async fn list(&self, sid: &str) -> Value {
        let r = self.get(&format!("/v1/services/{sid}/api-keys")).await;
        assert_eq!(r.status, 200, "list: {}", r.text);
        r.json()
    }

    /// The ids in the list of keys, in the list's order.
    pub async fn list_ids(&self, sid: &str) -> Vec<String> {
        let v = self.list(sid).await;
        v["api_keys"]
            .as_array()
            .expect("api_keys is an array")
            .iter()
            .map(|k| k["id"].as_str().expect("id").to_string())
            .collect()
    }

    /// The service, asserted 200.
    pub async fn service(&self, sid: &str) -> Value {
        let r = self.get(&format!("/v1/services/{sid}")).await;
        assert_eq!(r.status, 200, "get service: {}", r.text);
        r.json()
    }

    /// `GET /v1/verify` with `key` as the bearer.
    pub async fn verify(&self, key: &str) -> Reply {
        verify(&self.http, &self.base, key).await
    }
}

/// The members of an issued key (docs/api.md, `IssuedKey`), sorted: the only answer with a plaintext.
pub const ISSUED_KEY_MEMBERS: [&str; 14] = [
    "allowed_cidrs",
    "created_at",
    "created_by",
    "expires_at",
    "id",
    "key",
    "last_used_at",
    "leak",
    "masked",
    "name",
    "rate_limit",
    "replaced_by",
    "scopes",
    "state",
];

/// The admin GET paths a viewer may read that name a service (`sid`) and its key `kid`: every
/// one but `/v1/audit`, whose query parameters change the answer.
pub fn viewer_get_paths(sid: &str, kid: &str) -> [String; 7] {
    [
        "/v1/me".to_string(),
        "/v1/services".to_string(),
        format!("/v1/services/{sid}"),
        format!("/v1/services/{sid}/api-keys"),
        format!("/v1/services/{sid}/audit"),
        format!("/v1/services/{sid}/api-keys/{kid}/usage"),
        format!("/v1/services/{sid}/api-keys/{kid}/narrowing"),
    ]
}

/// `GET /v1/verify` with `key` as the bearer; the service must answer.
pub async fn verify(http: &reqwest::Client, base: &str, key: &str) -> Reply {
    let req = verify_request(http, base, key);
    read(req.send().await.expect("request reaches the service")).await
}

/// `GET /v1/verify` with `key` as the bearer: None when no answer came within `within` (a
/// replica killed or cut off).
pub async fn try_verify(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    within: std::time::Duration,
) -> Option<Reply> {
    let resp = verify_request(http, base, key)
        .timeout(within)
        .send()
        .await
        .ok()?;
    let (status, headers) = (resp.status(), resp.headers().clone());
    // A body cut short (the replica killed mid-answer) still leaves the status.
    let text = resp.text().await.unwrap_or_default();
    Some(Reply {
        status,
        headers,
        text,
    })
}

fn verify_request(http: &reqwest::Client, base: &str, key: &str) -> reqwest::RequestBuilder {
    http.get(format!("{base}/v1/verify"))
        .header("authorization", format!("Bearer {key}"))
}

pub async fn read(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("read body");
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Whether `s` has an API key's form: `ragk_` and 36 base62 characters.
pub fn is_api_key(s: &str) -> bool {
    s.len() == 41 && s.starts_with("ragk_") && s[5..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// An admin token of the right form whose checksum is right but that no one was ever given.
pub fn unknown_admin_token() -> String {
    ragkeys::credential::generate(ragkeys::credential::Kind::AdminToken)
        .expose()
        .to_string()
}

/// An API key of the right form whose checksum is right but that no one was ever given.
pub fn unknown_api_key() -> String {
    ragkeys::credential::generate(ragkeys::credential::Kind::ApiKey)
        .expose()
        .to_string()
}

/// `s` with its last character changed: the checksum no longer matches.
pub fn bad_checksum(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}
