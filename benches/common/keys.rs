//! What a bench verifies: services and keys made through the admin API of a running ragkeys.

use serde_json::{Value, json};

/// Sends `body` to `url` as the admin `auth` (`Bearer …`) and returns the string at `field`
/// of the answer.
async fn post(
    http: &reqwest::Client,
    url: String,
    auth: &str,
    body: String,
    field: &str,
) -> Result<String, String> {
    let r = http
        .post(url)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    v[field]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("no {field} in {v}"))
}

/// Creates the service `name` at `base`; its id.
pub async fn create_service(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
    name: &str,
) -> Result<String, String> {
    let url = format!("{base}/v1/services");
    post(http, url, auth, json!({"name": name}).to_string(), "id").await
}

/// Issues a key of service `sid` at `base`; the key itself.
pub async fn issue_key(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
    sid: &str,
) -> Result<String, String> {
    let url = format!("{base}/v1/services/{sid}/api-keys");
    post(http, url, auth, "{\"name\":\"bench\"}".into(), "key").await
}

/// Issues a key of service `sid` at `base` with `policy` (issue's body: scopes, rate_limit,
/// allowed_cidrs); the key itself.
pub async fn issue_key_with(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
    sid: &str,
    policy: Value,
) -> Result<String, String> {
    let url = format!("{base}/v1/services/{sid}/api-keys");
    post(http, url, auth, policy.to_string(), "key").await
}

/// The admin token a fresh `ragkeys serve` wrote into its data dir, as `Bearer …`.
pub fn admin_auth(data_dir: &std::path::Path) -> Result<String, String> {
    let token = std::fs::read_to_string(data_dir.join("admin.token"))
        .map_err(|e| format!("admin.token: {e}"))?;
    Ok(format!("Bearer {}", token.trim()))
}
