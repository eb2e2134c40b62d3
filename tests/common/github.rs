//! GitHub's secret scanning partner program as the tests play it: a P-256 key pair of the test's
//! own (made by rcgen, its public key written as rcgen writes SubjectPublicKeyInfo PEM), the keys
//! file in the format of `GET /meta/public_keys/secret_scanning`, and reports signed as GitHub
//! signs them (ECDSA P-256 / SHA-256 over the raw body, base64 of the ASN.1 DER signature).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

use super::api::{Reply, read};

pub const ROUTE: &str = "/v1/leaks/github";

/// One signing key of "GitHub".
pub struct SigningKey {
    pub id: String,
    pair: EcdsaKeyPair,
    pem: String,
}

impl SigningKey {
    pub fn new(id: &str) -> SigningKey {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &kp.serialize_der(),
            &SystemRandom::new(),
        )
        .expect("ring reads rcgen's PKCS#8");
        SigningKey {
            id: id.to_string(),
            pair,
            pem: kp.public_key_pem(),
        }
    }

    /// The `Github-Public-Key-Signature` of `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), body)
            .expect("sign the body");
        base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
    }
}

/// The keys file's JSON: each key with its `is_current`.
pub fn keys_json(keys: &[(&SigningKey, bool)]) -> String {
    let list: Vec<Value> = keys
        .iter()
        .map(|(k, current)| json!({"key_identifier": k.id, "key": k.pem, "is_current": current}))
        .collect();
    json!({ "public_keys": list }).to_string()
}

/// Writes the keys file into `dir`; returns its path.
pub fn write_keys(dir: &Path, keys: &[(&SigningKey, bool)]) -> PathBuf {
    let path = dir.join("github-keys.json");
    std::fs::write(&path, keys_json(keys)).expect("write the keys file");
    path
}

/// One entry of a report as GitHub sends it.
pub fn entry(token: &str, url: &str) -> Value {
    json!({"token": token, "type": "ragkeys_api_key", "url": url, "source": "content"})
}

/// The body of a report of `entries`, as bytes (what is signed).
pub fn body(entries: &[Value]) -> Vec<u8> {
    Value::Array(entries.to_vec()).to_string().into_bytes()
}

/// POSTs `body` to the route with these headers (none, or forged, as the test wants).
pub async fn post_raw(
    http: &reqwest::Client,
    base: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = http
        .post(format!("{base}{ROUTE}"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(
        req.body(body)
            .send()
            .await
            .expect("request reaches the service"),
    )
    .await
}

/// POSTs `body` signed by `key`, as GitHub does.
pub async fn report(http: &reqwest::Client, base: &str, key: &SigningKey, body: Vec<u8>) -> Reply {
    let sig = key.sign(&body);
    post_raw(
        http,
        base,
        body,
        &[
            ("Github-Public-Key-Identifier", &key.id),
            ("Github-Public-Key-Signature", &sig),
        ],
    )
    .await
}

/// Lowercase hex SHA-256 of `token`, as the feedback names a token.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
