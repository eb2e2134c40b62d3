//! TLS to PostgreSQL (issue 10): `sslmode` as libpq spells it, the server's certificate checked
//! by rustls against `--database-ca` (or the system roots, which do not know a private CA).
//! A private CA made here with rcgen, a throwaway cluster with TLS turned on, real `ragkeys serve`.

use std::time::Duration;

use crate::common::api::Api;
use crate::common::pki::Pki;
use crate::common::{Server, pg, serve_refused};
use serde_json::json;

/// A private CA and a server certificate it signed for `localhost` only (not 127.0.0.1, so that
/// a host check has something to refuse).
fn pki() -> Pki {
    crate::common::pki::pki("ragkeys test database CA", &["localhost"])
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

/// How long a refused certificate may take to stop the start, though `--database-wait` allows
/// far longer: one attempt, not a wait (generous for a loaded machine).
const AT_ONCE: Duration = Duration::from_secs(20);

#[test]
fn a_certificate_the_roots_do_not_know_or_of_another_host_is_refused_at_once_as_libpq_would() {
    let cluster = pg::private_cluster();
    let p = pki();
    let stranger = crate::common::pki::pki("another CA", &["localhost"]);
    cluster.enable_ssl(&p.cert_pem, &p.key_pem);
    let db = cluster.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let pepper = tmp.path().join("pepper");
    let pepper = pepper.to_str().unwrap();
    let ca = p.ca.to_str().unwrap();
    let other_ca = stranger.ca.to_str().unwrap();
    let refused = |dir: &str, database: &str, ca: Option<&str>| {
        let mut args = vec!["--database", database, "--pepper-file", pepper];
        args.extend(["--database-wait", "60"]);
        if let Some(ca) = ca {
            args.extend(["--database-ca", ca]);
        }
        let (code, err, ran) = serve_refused(&tmp.path().join(dir), &args);
        assert_eq!(code, Some(1), "{dir}: {err}");
        assert!(
            err.contains("invalid peer certificate"),
            "{dir}: says why: {err}"
        );
        assert!(
            ran < AT_ONCE,
            "{dir}: a certificate that does not verify is not waited for ({ran:?}): {err}"
        );
        assert!(!err.contains("retrying"), "{dir}: not retried: {err}");
        err
    };

    // verify-full without --database-ca: the system roots do not know the private CA.
    let err = refused("a", &url(&db, "localhost", "verify-full"), None);
    assert!(err.contains("UnknownIssuer"), "names the cause: {err}");
    // verify-full and verify-ca with a CA that did not sign the server's certificate.
    refused("b", &url(&db, "localhost", "verify-full"), Some(other_ca));
    refused("c", &url(&db, "localhost", "verify-ca"), Some(other_ca));
    // verify-full with the CA, but reached as 127.0.0.1, a name the certificate does not hold.
    let err = refused("d", &url(&db, "127.0.0.1", "verify-full"), Some(ca));
    assert!(
        err.contains("not valid for name \"127.0.0.1\""),
        "names the cause: {err}"
    );

    // verify-ca checks the chain against --database-ca and, as libpq's does, not the host name:
    // 127.0.0.1 is not in the certificate.
    let database = url(&db, "127.0.0.1", "verify-ca");
    let srv = Server::start_in(
        &tmp.path().join("e"),
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
    let (code, err, _) = serve_refused(
        &tmp.path().join("f"),
        &["--database", &database, "--pepper-file", pepper],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("sslmode"), "names what it expects: {err}");
}
