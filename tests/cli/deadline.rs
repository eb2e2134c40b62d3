//! One deadline per command (docs/cli.md, Deadline): a service that accepts and never answers,
//! a token_command that hangs, and a person slow to answer a question.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::cli::{Cli, expect_code, stderr};
use crate::common::{Server, tmux};

/// A peer that accepts every connection, reads what comes, and never writes a byte.
fn silent_peer() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        // Bounded: a test makes a handful of connections; the thread dies with the test process.
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let _ = stream.read(&mut buf);
            held.push(stream);
        }
    });
    url
}

const TOKEN: &str = "ragadm_silent";

#[test]
fn a_service_that_never_answers_ends_the_command_at_the_default_30_s() {
    let url = silent_peer();
    let t = Instant::now();
    let o = Cli::new().remote(&url, TOKEN, &["services", "list"]);
    let took = t.elapsed();
    expect_code(&o, 6);
    assert!(
        took >= Duration::from_secs(29) && took < Duration::from_secs(40),
        "took {took:?}: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("gave up after 30 s"), "{}", stderr(&o));
}

#[test]
fn timeout_sets_the_deadline_of_any_command() {
    let url = silent_peer();
    let cli = Cli::new();
    for args in [
        &["keys", "list", "svc_x", "--timeout", "2"][..],
        &["audit", "--timeout", "2"],
        &["services", "delete", "svc_x", "--yes", "--timeout", "2"],
        &["keys", "usage", "svc_x", "key_y", "--timeout", "2"],
    ] {
        let t = Instant::now();
        let o = cli.remote(&url, TOKEN, args);
        let took = t.elapsed();
        expect_code(&o, 6);
        assert!(took < Duration::from_secs(6), "{args:?} took {took:?}");
        let e = stderr(&o);
        assert!(
            e.contains("gave up after 2 s") && e.contains(&url),
            "{args:?}: {e}"
        );
    }
}

#[test]
fn an_issue_or_rotation_cut_short_says_the_key_may_exist_and_how_to_find_it() {
    let url = silent_peer();
    let cli = Cli::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new.key");
    let out_s = out.to_str().unwrap();
    let o = cli.remote(
        &url,
        TOKEN,
        &["keys", "issue", "svc_x", "--timeout", "2", "--out", out_s],
    );
    expect_code(&o, 6);
    let e = stderr(&o);
    assert!(
        e.contains("may have been created") && e.contains("ragkeys keys list svc_x"),
        "{e}"
    );
    assert!(!out.exists(), "the empty --out file was left behind");
    let o = cli.remote(
        &url,
        TOKEN,
        &["keys", "rotate", "svc_x", "key_y", "--timeout", "2"],
    );
    expect_code(&o, 6);
    let e = stderr(&o);
    assert!(
        e.contains("successor of key_y may have been created")
            && e.contains("ragkeys keys list svc_x"),
        "{e}"
    );
}

#[test]
fn a_token_command_counts_toward_the_deadline() {
    let s = Server::start();
    let cli = Cli::new();
    cli.write_config(
        &format!(
            "[profile.slow]\nendpoint = \"{}\"\ntoken_command = \"sleep 20; echo {}\"\n",
            s.url(),
            s.token
        ),
        0o600,
    );
    let t = Instant::now();
    let o = cli.run(&["services", "list", "--profile", "slow", "--timeout", "2"]);
    let took = t.elapsed();
    expect_code(&o, 6);
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(stderr(&o).contains("gave up after 2 s"), "{}", stderr(&o));
}

#[test]
fn time_spent_answering_a_question_does_not_count() {
    let s = Server::start();
    let cli = Cli::new();
    let sid = {
        let o = cli.remote(
            &s.url(),
            &s.token,
            &["--json", "services", "create", "slow-answer"],
        );
        expect_code(&o, 0);
        crate::common::cli::json(&o)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let command = format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT -u RAGKEYS_TOKEN TZ=UTC \
         XDG_CONFIG_HOME={home} RAGKEYS_TOKEN={token} {bin} --endpoint {url} services delete {sid} \
         --timeout 1",
        home = tmux::sh_quote(&cli.config_home.path().display().to_string()),
        bin = tmux::sh_quote(crate::common::BIN),
        url = tmux::sh_quote(&s.url()),
        token = tmux::sh_quote(&s.token),
    );
    let term = tmux::Tmux::start(&command, 120, 30);
    term.wait_text("[y/N]");
    std::thread::sleep(Duration::from_secs(3));
    term.command(&["send-keys", "-t", "t", "-l", "y"]);
    term.keys(&["Enter"]);
    term.wait_text("Deleted service");
    assert_eq!(term.wait_exit_status(), 0, "{}", term.history());
}
