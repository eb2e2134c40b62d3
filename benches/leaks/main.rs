//! Benchmark of GitHub's leak reports (docs/api.md, Leaked keys: a batch of 1,000 tokens within
//! 10 s): the time `POST /v1/leaks/github` takes to answer a signed batch of 1,000 tokens, 20 of
//! them live keys (each disabled, audited and noticed) and 980 well-formed keys that exist
//! nowhere (each digested and looked up: the most a batch can cost), against the real service on
//! SQLite. Median and worst of BENCH_ROUNDS (5) rounds, fresh keys each round. Run it with
//! `cargo bench --bench leaks`.

// Each bench uses a part of the shared folder.
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Instant;

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

use common::keys::{admin_auth, create_service, issue_key};
use common::procs::start_service;
use common::stats::median;
use common::{Settings, print_machine};

const BATCH: usize = 1000;
const LIVE: usize = 20;

async fn bench() -> Result<(), String> {
    let settings = Settings::from_env();
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let kp =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let rng = SystemRandom::new();
    let signer =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &kp.serialize_der(), &rng)
            .map_err(|e| e.to_string())?;
    let keys_file = tmp.path().join("github-keys.json");
    let file = json!({"public_keys":[{"key_identifier":"bench","key":kp.public_key_pem(),"is_current":true}]});
    std::fs::write(&keys_file, file.to_string()).map_err(|e| e.to_string())?;
    let dir = tmp.path().join("data");
    let keys_arg = keys_file.to_str().ok_or("a UTF-8 temp path")?;
    let (_proc, addr) = start_service(
        &settings.bin,
        &dir,
        &settings.log,
        &["--leak-report-keys", keys_arg],
    )?;
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let auth = admin_auth(&dir)?;
    let sid = create_service(&http, &base, &auth, "bench-leaks").await?;
    let mut took = Vec::new();
    for round in 0..settings.rounds {
        let mut tokens = Vec::with_capacity(BATCH);
        for _ in 0..LIVE {
            tokens.push(issue_key(&http, &base, &auth, &sid).await?);
        }
        while tokens.len() < BATCH {
            let k = ragkeys::credential::generate(ragkeys::credential::Kind::ApiKey);
            tokens.push(k.expose().to_string());
        }
        let entries: Vec<Value> = tokens
            .iter()
            .map(|t| json!({"token": t, "type": "ragkeys_api_key", "url": "https://github.com/o/r", "source": "content"}))
            .collect();
        let body = Value::Array(entries).to_string();
        let sig = signer
            .sign(&rng, body.as_bytes())
            .map_err(|e| e.to_string())?;
        let sig = base64::engine::general_purpose::STANDARD.encode(sig.as_ref());
        let start = Instant::now();
        let resp = http
            .post(format!("{base}/v1/leaks/github"))
            .header("content-type", "application/json")
            .header("Github-Public-Key-Identifier", "bench")
            .header("Github-Public-Key-Signature", sig)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let answer: Value = resp.json().await.map_err(|e| e.to_string())?;
        let secs = start.elapsed().as_secs_f64();
        let labels = answer.as_array().map_or(0, Vec::len);
        if !status.is_success() || labels != BATCH {
            return Err(format!("round {round}: {status}, {labels} labels"));
        }
        let ours = answer
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["label"] == "true_positive")
            .count();
        if ours != LIVE {
            return Err(format!("round {round}: {ours} true positives, want {LIVE}"));
        }
        println!("round {round}: {BATCH} tokens answered in {:.3} s", secs);
        took.push(secs);
    }
    let worst = took.iter().copied().fold(0.0, f64::max);
    println!(
        "leak report of {BATCH} tokens ({LIVE} live): median {:.3} s, worst {:.3} s over {} rounds (goal: under 10 s)",
        median(took),
        worst,
        settings.rounds
    );
    print_machine();
    Ok(())
}

fn main() -> ExitCode {
    common::run("leaks", bench)
}
