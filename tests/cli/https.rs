//! HTTPS: a CA made here with rcgen, a real `ragkeys serve --tls-cert --tls-key`, and the CLI
//! trusting it with `--ca-cert` or a profile's `ca_cert`, refusing it otherwise, `--insecure`.

use crate::common;
use crate::common::Server;
use crate::common::cli::{Cli, expect_code, json, stderr};
use crate::common::pki::Pki;
use crate::common::tmux;

/// A private CA and a server certificate it signed for localhost and 127.0.0.1.
fn pki() -> Pki {
    common::pki::pki("ragkeys test CA", &["localhost", "127.0.0.1"])
}

fn https_server(p: &Pki) -> Server {
    Server::start_with(&[
        "--tls-cert",
        p.cert.to_str().unwrap(),
        "--tls-key",
        p.key.to_str().unwrap(),
    ])
}

fn https_url(s: &Server) -> String {
    format!("https://localhost:{}", s.addr.port())
}

#[test]
fn a_private_ca_is_trusted_with_ca_cert_and_refused_without() {
    let p = pki();
    let s = https_server(&p);
    let cli = Cli::new();
    let url = https_url(&s);
    let ca = p.ca.to_str().unwrap();

    let o = cli.remote(
        &url,
        &s.token,
        &["--ca-cert", ca, "--json", "services", "create", "tls-demo"],
    );
    expect_code(&o, 0);
    let svc = json(&o)["id"].as_str().unwrap().to_string();
    assert!(
        stderr(&o).is_empty(),
        "no warning for verified TLS: {}",
        stderr(&o)
    );
    let o = cli.remote(&url, &s.token, &["keys", "issue", &svc, "--ca-cert", ca]);
    expect_code(&o, 0);
    // The IP address in the certificate works as well.
    let ip_url = format!("https://127.0.0.1:{}", s.addr.port());
    expect_code(
        &cli.remote(&ip_url, &s.token, &["--ca-cert", ca, "services", "list"]),
        0,
    );

    // Without the CA: refused, in words, with what to do.
    let o = cli.remote(&url, &s.token, &["services", "list"]);
    expect_code(&o, 6);
    let e = stderr(&o);
    assert!(e.contains("certificate") && e.contains("--ca-cert"), "{e}");
    assert!(
        !e.contains("UnknownIssuer") && !e.contains("Other("),
        "no Debug dump: {e}"
    );

    // Plain http:// to the HTTPS service says which is wrong.
    let http_url = format!("http://localhost:{}", s.addr.port());
    let o = cli.remote(&http_url, &s.token, &["services", "list"]);
    expect_code(&o, 6);
    assert!(stderr(&o).contains("https://"), "{}", stderr(&o));

    // A CA file that is not PEM is a usage error, not a crash.
    let junk = p.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let o = cli.remote(
        &url,
        &s.token,
        &["--ca-cert", junk.to_str().unwrap(), "services", "list"],
    );
    expect_code(&o, 2);
}

#[test]
fn insecure_works_and_warns_on_every_run() {
    let p = pki();
    let s = https_server(&p);
    let cli = Cli::new();
    for _ in 0..2 {
        let o = cli.remote(
            &https_url(&s),
            &s.token,
            &["--insecure", "services", "list"],
        );
        expect_code(&o, 0);
        let e = stderr(&o);
        assert!(
            e.lines().any(|l| l.starts_with("warning: --insecure")),
            "{e}"
        );
    }
}

#[test]
fn a_profile_names_its_ca_relative_to_the_config_file() {
    let p = pki();
    let s = https_server(&p);
    let cli = Cli::new();
    let path = cli.write_config(
        &format!(
            "default_profile = \"tls\"\n[profile.tls]\nendpoint = \"{}\"\ntoken = \"{}\"\n\
             ca_cert = \"ca.pem\"\n",
            https_url(&s),
            s.token
        ),
        0o600,
    );
    std::fs::copy(&p.ca, path.parent().unwrap().join("ca.pem")).unwrap();
    expect_code(&cli.run(&["services", "list"]), 0);
}

#[test]
fn plain_http_to_another_host_warns() {
    let cli = Cli::new();
    // 0.0.0.0 is not a loopback address; on Linux it still reaches this machine, where nothing
    // listens on port 1.
    let o = cli.remote("http://0.0.0.0:1", "ragadm_x", &["services", "list"]);
    expect_code(&o, 6);
    assert!(
        stderr(&o)
            .lines()
            .any(|l| l.starts_with("warning:") && l.contains("https://")),
        "{}",
        stderr(&o)
    );
    let o = cli.remote("http://127.0.0.1:1", "ragadm_x", &["services", "list"]);
    assert!(!stderr(&o).contains("warning:"), "{}", stderr(&o));
}

/// A certificate whose host is only in the Common Name (no subjectAltName), signed by the CA.
fn pki_without_san() -> Pki {
    common::pki::pki("ragkeys test CA 2", &[])
}

#[test]
fn a_certificate_without_subject_alt_name_says_how_to_reissue_it() {
    let p = pki_without_san();
    let s = https_server(&p);
    let cli = Cli::new();
    let o = cli.remote(
        &https_url(&s),
        &s.token,
        &["--ca-cert", p.ca.to_str().unwrap(), "services", "list"],
    );
    expect_code(&o, 6);
    let e = stderr(&o);
    assert!(
        e.contains("error: the TLS connection to https://localhost:"),
        "{e}"
    );
    assert!(e.contains("no subjectAltName"), "{e}");
    assert!(
        e.contains("-addext \"subjectAltName=DNS:localhost\""),
        "{e}"
    );
    assert!(!e.contains("check that it is running"), "{e}");
}

#[test]
fn the_console_gives_a_tls_fault_its_own_message() {
    let p = pki();
    let s = https_server(&p);
    let home = tempfile::tempdir().unwrap();
    // Without the CA: the certificate is refused; the console must not say "is it running".
    let command = format!(
        "env -u RAGKEYS_PROFILE HOME={home} XDG_CONFIG_HOME={home}/config LANG=C.UTF-8 \
         RAGKEYS_ENDPOINT={url} RAGKEYS_TOKEN={token} {bin} --lang en --clipboard off",
        home = tmux::sh_quote(&home.path().display().to_string()),
        url = tmux::sh_quote(&https_url(&s)),
        token = tmux::sh_quote(&s.token),
        bin = tmux::sh_quote(common::BIN),
    );
    let term = tmux::Tmux::start(&command, 160, 30);
    let screen = term.wait_text("TLS connection");
    let flat = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!flat.contains("Check that it is running"), "{screen}");
    assert!(flat.contains("--ca-cert"), "{screen}");
    term.keys(&["q"]);
}
