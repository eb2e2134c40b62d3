//! Profiles, precedence (flags > environment > profile), token_command, the private-file check,
//! completions and help: what a user sets up once and scripts rely on.

use crate::common::Server;
use crate::common::cli::{Cli, dead_url, expect_code, json, stderr, stdout};

/// Lists services and returns how many there are (exit 0 expected).
fn count(o: &std::process::Output) -> usize {
    expect_code(o, 0);
    json(o)["services"].as_array().unwrap().len()
}

#[test]
fn the_default_profile_connects_without_flags() {
    let s = Server::start();
    let cli = Cli::new();
    cli.write_config(
        &format!(
            "default_profile = \"local\"\n\n[profile.local]\nendpoint = \"{}\"\ntoken = \"{}\"\n",
            s.url(),
            s.token
        ),
        0o600,
    );
    let o = cli.run(&["services", "create", "from-profile", "--json"]);
    expect_code(&o, 0);
    assert_eq!(count(&cli.run(&["--json", "services", "list"])), 1);
}

#[test]
fn flags_beat_environment_beat_profile() {
    let s = Server::start();
    let cli = Cli::new();
    let dead = dead_url();
    cli.write_config(
        &format!(
            "default_profile = \"a\"\n\
             [profile.a]\nendpoint = \"{dead}\"\ntoken = \"ragadm_wrongwrongwrong\"\n\
             [profile.b]\nendpoint = \"{url}\"\ntoken = \"{tok}\"\n",
            url = s.url(),
            tok = s.token
        ),
        0o600,
    );
    let list = ["--json", "services", "list"];

    // The default profile alone points at nothing.
    expect_code(&cli.run(&list), 6);

    // Environment over the profile, field by field.
    let env = [
        ("RAGKEYS_ENDPOINT", s.url()),
        ("RAGKEYS_TOKEN", s.token.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(count(&cli.run_env(&list, &env)), 0);
    let o = cli.run_env(&list, &env[..1]);
    expect_code(&o, 5);

    // Flags over the environment.
    let bad_env = [
        ("RAGKEYS_ENDPOINT", dead.as_str()),
        ("RAGKEYS_TOKEN", "ragadm_bad"),
    ];
    let url = s.url();
    let mut args = vec!["--endpoint", url.as_str(), "--token", &s.token];
    args.extend_from_slice(&list);
    assert_eq!(count(&cli.run_env(&args, &bad_env)), 0);

    // RAGKEYS_PROFILE over default_profile; --profile over RAGKEYS_PROFILE.
    assert_eq!(count(&cli.run_env(&list, &[("RAGKEYS_PROFILE", "b")])), 0);
    let mut with_flag = vec!["--profile", "a"];
    with_flag.extend_from_slice(&list);
    expect_code(&cli.run_env(&with_flag, &[("RAGKEYS_PROFILE", "b")]), 6);
    let mut with_flag = vec!["--profile", "b"];
    with_flag.extend_from_slice(&list);
    assert_eq!(
        count(&cli.run_env(&with_flag, &[("RAGKEYS_PROFILE", "a")])),
        0
    );
}

#[test]
fn token_command_supplies_the_token() {
    let s = Server::start();
    let cli = Cli::new();
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("token");
    std::fs::write(&secret, format!("  {}\n\n", s.token)).unwrap();
    // 0644 is fine: this file holds no token, only the command that finds it.
    cli.write_config(
        &format!(
            "default_profile = \"vault\"\n[profile.vault]\nendpoint = \"{}\"\n\
             token_command = \"cat '{}'\"\n\
             [profile.broken]\nendpoint = \"{}\"\n\
             token_command = \"echo 'gpg: decryption failed: No secret key' >&2; exit 7\"\n",
            s.url(),
            secret.display(),
            s.url()
        ),
        0o644,
    );
    assert_eq!(count(&cli.run(&["--json", "services", "list"])), 0);

    let o = cli.run(&["--profile", "broken", "services", "list"]);
    expect_code(&o, 1);
    let e = stderr(&o);
    assert!(e.contains("token_command"), "{e}");
    assert!(e.contains("exit status 7"), "{e}");
    assert!(e.contains("gpg: decryption failed: No secret key"), "{e}");

    // A token given another way wins, and the command is not needed.
    let o = cli.run_env(
        &["--profile", "broken", "--json", "services", "list"],
        &[("RAGKEYS_TOKEN", &s.token)],
    );
    assert_eq!(count(&o), 0);
}

#[test]
fn a_token_in_a_file_others_can_read_is_refused() {
    let s = Server::start();
    let cli = Cli::new();
    let text = format!(
        "default_profile = \"p\"\n[profile.p]\nendpoint = \"{}\"\ntoken = \"{}\"\n",
        s.url(),
        s.token
    );
    for mode in [0o644, 0o640, 0o604] {
        let path = cli.write_config(&text, mode);
        let o = cli.run(&["services", "list"]);
        expect_code(&o, 2);
        let e = stderr(&o);
        assert!(e.contains(&format!("chmod 600 {}", path.display())), "{e}");
        assert!(!e.contains(&s.token), "never echo the token: {e}");
    }
    cli.write_config(&text, 0o600);
    expect_code(&cli.run(&["services", "list"]), 0);
}

#[test]
fn config_mistakes_are_one_clear_line() {
    let cli = Cli::new();
    cli.write_config(
        "default_profile = \"p\"\n[profile.p]\nendpoint = \"http://127.0.0.1:9\"\ntokn = \"x\"\n",
        0o600,
    );
    let o = cli.run(&["services", "list"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("tokn") && stderr(&o).contains("line 4"),
        "{}",
        stderr(&o)
    );

    cli.write_config("[profile.p]\nendpoint = \"http://127.0.0.1:9\"\n", 0o600);
    let o = cli.run(&["--profile", "q", "services", "list"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("profile q"), "{}", stderr(&o));

    cli.write_config(
        "[profile.p]\nendpoint = \"keys.example.com\"\ntoken_command = \"echo t\"\n",
        0o600,
    );
    let o = cli.run(&["--profile", "p", "services", "list"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("invalid endpoint URL"),
        "{}",
        stderr(&o)
    );

    // No configuration at all: the commands say how to configure one.
    let empty = Cli::new();
    let o = empty.run(&["keys", "list", "svc_1"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("no endpoint configured"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--endpoint"), "{}", stderr(&o));

    // An unreadable CA file.
    let o = empty.run(&[
        "--endpoint",
        "https://127.0.0.1:9",
        "--token",
        "ragadm_x",
        "--ca-cert",
        "/nonexistent/ca.pem",
        "services",
        "list",
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("/nonexistent/ca.pem"), "{}", stderr(&o));
}

#[test]
fn completions_print_a_script_for_each_shell() {
    let cli = Cli::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef ragkeys"),
        ("fish", "complete -c ragkeys"),
    ] {
        let o = cli.run(&["completions", shell]);
        expect_code(&o, 0);
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["services", "keys", "endpoint", "json", "ca-cert"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    expect_code(&cli.run(&["completions", "tcsh"]), 2);
}

#[test]
fn help_documents_the_exit_codes() {
    let o = Cli::new().run(&["--help"]);
    expect_code(&o, 0);
    let h = stdout(&o);
    for line in [
        "0  ok",
        "2  usage",
        "3  not found",
        "4  limit exceeded",
        "5  unauthorized or forbidden",
        "6  cannot reach the service",
    ] {
        assert!(h.contains(line), "{line} missing from --help");
    }
}
