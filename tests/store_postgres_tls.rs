//! TLS to PostgreSQL (issue 10): `sslmode` as libpq spells it, the server's certificate checked
//! by rustls against `--database-ca` (or the system roots, which do not know a private CA).
//! A private CA made here with rcgen, a throwaway cluster with TLS turned on, real `ragkeys serve`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::api::Api;
use common::{BIN, Server, pg};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::json;

struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert_pem: String,
    key_pem: String,
}

/// A private CA and a server certificate it signed for `localhost` only (not 127.0.0.1, so that
/// a host check has something to refuse).
fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ragkeys test database CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, ca.pem()).unwrap();
    Pki {
        _dir: dir,
        ca: path,
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

/// `db`'s URL with `host` in place of 127.0.0.1 and `sslmode`.
fn url(db: &pg::TestDb, host: &str, sslmode: &str) -> String {
    assert!(
        db.url.contains("@127.0.0.1:"),
        "a throwaway cluster's URL: {}",
        db.url
    );
    let u = db.url.replacen("@127.0.0.1:", &format!("@{host}:"), 1);
    format!("{u}?sslmode={sslmode}")
}

/// Runs `ragkeys serve` that must refuse to start; returns its exit code and stderr. Fails the
/// test if it is still running after a minute.
fn serve_refused(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(args)
        .args(["--database-wait", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ragkeys serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ragkeys serve was still running a minute after a refused certificate");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many of `db`'s connections use TLS, and how many there are.
fn tls_connections(cluster: &pg::Cluster, db: &pg::TestDb) -> (u32, u32) {
    let row = cluster.psql(
        "postgres",
        &format!(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.datname = '{}'",
            db.name
        ),
    );
    let (tls, all) = row.split_once('|').expect("two counts");
    (tls.parse().unwrap(), all.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_database_ca_connects_over_tls_and_serves() {
    let cluster = pg::private_cluster();
    let p = pki();
    cluster.enable_ssl(&p.cert_pem, &p.key_pem);
    let db = cluster.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let pepper = tmp.path().join("pepper");
    let database = url(&db, "localhost", "verify-full");
    let srv = Server::start_in(
        &tmp.path().join("data"),
        &[
            "--database",
            &database,
            "--pepper-file",
            pepper.to_str().unwrap(),
            "--database-ca",
            p.ca.to_str().unwrap(),
        ],
    );
    let api = Api::new(&srv);
    let sid = api.create_service("over-tls").await;
    let key = api.issue(&sid, json!({})).await;
    assert_eq!(key.status, 201, "{}", key.text);
    let plaintext = key.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(api.verify(&plaintext).await.status, 200);
    let (tls, all) = tls_connections(&cluster, &db);
    assert!(all > 0, "the service holds connections to its database");
    assert_eq!(tls, all, "every connection of the service uses TLS");
}

#[test]
fn a_certificate_the_roots_do_not_know_or_of_another_host_is_refused_as_libpq_would() {
    let cluster = pg::private_cluster();
    let p = pki();
    cluster.enable_ssl(&p.cert_pem, &p.key_pem);
    let db = cluster.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let pepper = tmp.path().join("pepper");
    let pepper = pepper.to_str().unwrap();
    let ca = p.ca.to_str().unwrap();

    // verify-full without --database-ca: the system roots do not know the private CA.
    let database = url(&db, "localhost", "verify-full");
    let (code, err) = serve_refused(
        &tmp.path().join("a"),
        &["--database", &database, "--pepper-file", pepper],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("certificate"), "says why: {err}");

    // verify-full with the CA, but reached as 127.0.0.1, a name the certificate does not hold.
    let database = url(&db, "127.0.0.1", "verify-full");
    let (code, err) = serve_refused(
        &tmp.path().join("b"),
        &[
            "--database",
            &database,
            "--pepper-file",
            pepper,
            "--database-ca",
            ca,
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("certificate"), "says why: {err}");

    // verify-ca checks the chain against --database-ca. (libpq's verify-ca would also accept
    // 127.0.0.1 here, skipping the host check; sqlx 0.8.6 on rustls 0.23.46 still checks it:
    // README, Running several replicas, TLS to the database.)
    let database = url(&db, "localhost", "verify-ca");
    let srv = Server::start_in(
        &tmp.path().join("c"),
        &[
            "--database",
            &database,
            "--pepper-file",
            pepper,
            "--database-ca",
            ca,
        ],
    );
    let (tls, all) = tls_connections(&cluster, &db);
    assert!(all > 0 && tls == all, "{tls} of {all} connections use TLS");
    drop(srv);

    // The URL never reaches the log with a password, and a bad sslmode is a clear error.
    let database = url(&db, "localhost", "sometimes");
    let (code, err) = serve_refused(
        &tmp.path().join("d"),
        &["--database", &database, "--pepper-file", pepper],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("sslmode"), "names what it expects: {err}");
}
