//! The 16 KiB body limit: 413 in the error shape on every route, before any parsing, whether
//! the size is declared or the body comes chunked.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::Method;

use super::backend::Server;
use crate::common::api::Api;

fn every_route(svc: &str) -> Vec<(Method, String)> {
    vec![
        (Method::GET, "/healthz".into()),
        (Method::GET, "/openapi.json".into()),
        (Method::GET, "/v1/me".into()),
        (Method::GET, "/v1/services".into()),
        (Method::POST, "/v1/services".into()),
        (Method::GET, format!("/v1/services/{svc}")),
        (Method::DELETE, format!("/v1/services/{svc}")),
        (Method::GET, format!("/v1/services/{svc}/api-keys")),
        (Method::POST, format!("/v1/services/{svc}/api-keys")),
        (Method::DELETE, format!("/v1/services/{svc}/api-keys/key_x")),
        (Method::GET, format!("/v1/services/{svc}/audit")),
        (Method::GET, "/v1/verify".into()),
        (Method::GET, "/no/such/route".into()),
    ]
}

/// A JSON body of 17 KiB that would be valid if it were small enough.
fn big_body() -> Vec<u8> {
    format!("{{\"name\":\"{}\"}}", "a".repeat(17 * 1024)).into_bytes()
}

#[tokio::test]
async fn a_17_kib_body_is_refused_on_every_route() {
    let server = Server::start();
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "big-bodies").await;
    for (method, path) in every_route(&svc) {
        let r = api
            .http
            .request(method.clone(), format!("{}{path}", api.base))
            .bearer_auth(&server.token)
            .header("content-type", "application/json")
            .body(big_body())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{method} {path}");
        assert!(r.headers().get("x-request-id").is_some());
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large", "{method} {path}");
    }
    // Nothing happened: the service is still there with no keys, and 16 KiB exactly is fine.
    let s = api
        .get_as(&format!("/v1/services/{svc}"), Some(&server.token))
        .await;
    assert_eq!(s.expect(200)["key_count"], 0);
    let at_limit = vec![b' '; 16 * 1024 - 2];
    let mut body = b"{".to_vec();
    body.extend_from_slice(&at_limit);
    body.push(b'}');
    assert_eq!(body.len(), 16 * 1024);
    let r = api
        .http
        .post(format!("{}/v1/services/{svc}/api-keys", api.base))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// Sends a raw HTTP/1.1 request and returns the status line and body.
fn raw_request(server: &Server, head: &str, body: &[u8]) -> (String, String) {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (and close) before it has read everything; that is its right.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.lines().next().unwrap_or("").to_string();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn chunked_bodies_are_measured_too() {
    let server = Server::start();
    let api = Api::new(&server);
    let svc = api.create_service_as(&server.token, "chunked").await;
    let mut chunked = Vec::new();
    for _ in 0..17 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b' '; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /v1/services/{svc}/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.token
    );
    let (status, body) = raw_request(&server, &head, &chunked);
    assert!(status.contains(" 413 "), "{status}");
    assert!(body.contains("payload_too_large"), "{body}");

    // A declared size over the limit is refused without waiting for the body.
    let head = "POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 10000000\r\nConnection: close\r\n\r\n";
    let (status, body) = raw_request(&server, head, b"{}");
    assert!(status.contains(" 413 "), "{status}");
    assert!(body.contains("payload_too_large"), "{body}");
    let keys = api
        .get_as(&format!("/v1/services/{svc}/api-keys"), Some(&server.token))
        .await;
    assert_eq!(keys.expect(200)["api_keys"].as_array().unwrap().len(), 0);
}
