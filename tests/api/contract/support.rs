//! A small client for the contract tests: every answer as (status, headers, JSON).

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::common::{Server, http};

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the one error shape with this status and code; returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(
            self.status, status,
            "expected {status} {code}, got {}",
            self.text
        );
        assert_eq!(self.json["error"]["code"], code, "body: {}", self.text);
        let message = self.json["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "an error without a message: {}",
            self.text
        );
        assert_eq!(
            self.json.as_object().map(|o| o.len()),
            Some(1),
            "error bodies hold only `error`: {}",
            self.text
        );
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "errors are JSON"
        );
        assert!(
            self.header("x-request-id").is_some(),
            "every response has X-Request-Id"
        );
        message.to_string()
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "expected {status}, got {}", self.text);
        assert!(
            self.header("x-request-id").is_some(),
            "every response has X-Request-Id"
        );
        &self.json
    }
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(server: &Server) -> Api {
        Api::at(server.url())
    }

    pub fn at(base: String) -> Api {
        // reqwest is built without a default TLS provider; ring is the one this crate uses.
        ragkeys::client::install_crypto_provider();
        Api { base, http: http() }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).unwrap());
        }
        let resp = req.send().await.expect("the service answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Resp {
        self.send(Method::GET, path, bearer, None, &[]).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> Resp {
        self.send(Method::POST, path, bearer, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Resp {
        self.send(Method::DELETE, path, bearer, None, &[]).await
    }

    pub async fn create_service(&self, token: &str, name: &str) -> String {
        let r = self
            .post(
                "/v1/services",
                Some(token),
                &json!({"name": name, "description": "d"}),
            )
            .await;
        r.expect(201)["id"].as_str().unwrap().to_string()
    }

    pub async fn issue(&self, token: &str, service_id: &str) -> Value {
        self.post(
            &format!("/v1/services/{service_id}/api-keys"),
            Some(token),
            &json!({}),
        )
        .await
        .expect(201)
        .clone()
    }

    pub async fn verify(&self, key: &str) -> Resp {
        self.get("/v1/verify", Some(key)).await
    }
}

/// An admin token of the right form whose checksum is right but that no one was ever given.
pub fn unknown_admin_token() -> String {
    ragkeys::credential::generate(ragkeys::credential::Kind::AdminToken)
        .expose()
        .to_string()
}

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
