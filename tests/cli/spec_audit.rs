//! The command line checked from outside against docs/cli.md (, "Output",
//! "Exit codes"): usage errors, help and the version follow the same manners as every command.

use crate::common;
use crate::common::cli;
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;

use crate::common::cli::{Cli, code, stderr, stdout};

/// Exit 2 and exactly one stderr line, `error: …`, naming the `--help` to read.
#[track_caller]
fn assert_one_line_usage_error(o: &std::process::Output, what: &str) {
    let e = stderr(o);
    assert_eq!(code(o), 2, "{what}: {e}");
    assert_eq!(e.lines().count(), 1, "{what}: not one line: {e:?}");
    assert!(e.starts_with("error: "), "{what}: {e:?}");
    assert!(e.contains("--help`)"), "{what}: {e:?}");
    assert!(stdout(o).is_empty(), "{what}: {:?}", stdout(o));
}

#[test]
fn usage_errors_are_one_error_line_and_exit_2() {
    let cli = Cli::new();
    for args in [
        &["keys", "issue"][..],
        &["services", "lst"],
        &["services", "list", "--nam", "x"],
        &["audit", "--limit", "0"],
        &["audit", "--limit", "99999999999999999999"],
        &["keys", "update", "s", "k", "--name", "a", "--no-name"],
        &["serve", "--endpoint", "http://x"],
        &["--endpoint", "http://x", "tokens", "list"],
        &["tokens", "create", "--name", "a", "--role", "admin"],
        &["completions", "tcsh"],
        &["nosuchcommand"],
        &["services"],
        &["keys"],
        &["tokens"],
    ] {
        let o = cli.run(args);
        assert_one_line_usage_error(&o, &format!("{args:?}"));
    }
    let o = cli.run(&["keys", "issue"]);
    assert!(
        stderr(&o).contains("<SERVICE_ID>") && stderr(&o).contains("`ragkeys keys issue --help`"),
        "{}",
        stderr(&o)
    );
    let o = cli.run(&["services"]);
    assert!(
        stderr(&o).contains("list, create, delete"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn hostile_arguments_are_one_clean_line() {
    let cli = Cli::new();
    // Not UTF-8, and an escape sequence a terminal would act on: neither reaches stderr raw.
    let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    let o = cli
        .command()
        .args(["services", "create"])
        .arg(bad)
        .output()
        .unwrap();
    assert_one_line_usage_error(&o, "non-UTF-8 name");
    let o = cli.run(&["services", "list", "--\x1b]0;pwned\x07x"]);
    assert_one_line_usage_error(&o, "escape sequence");
    assert!(!o.stderr.contains(&0x1b), "{:?}", stderr(&o));
    assert!(!o.stderr.contains(&0x07), "{:?}", stderr(&o));
}

const HELP_AND_VERSION: [&[&str]; 9] = [
    &["--help"],
    &["--version"],
    &["help", "services"],
    &["services", "--help"],
    &["keys", "issue", "--help"],
    &["audit", "--help"],
    &["serve", "--help"],
    &["tokens", "create", "--help"],
    &["backup", "--help"],
];

#[test]
fn help_and_version_into_a_full_stdout_fail_with_one_line() {
    let cli = Cli::new();
    for args in HELP_AND_VERSION {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = cli.command().args(args).stdout(full).output().unwrap();
        let e = stderr(&o);
        assert_eq!(code(&o), 1, "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{args:?}: {e:?}");
        assert!(
            e.starts_with("error: cannot write to stdout: "),
            "{args:?}: {e:?}"
        );
    }
}

#[test]
fn help_and_version_into_a_closed_pipe_are_not_errors() {
    let cli = Cli::new();
    for args in HELP_AND_VERSION {
        let mut child = cli
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away first, as `| head -0` does.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).is_empty(), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn help_still_reaches_a_writable_stdout() {
    let cli = Cli::new();
    for args in HELP_AND_VERSION {
        let o = cli.run(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("ragkeys"), "{args:?}: {}", stdout(&o));
        assert!(stderr(&o).is_empty(), "{args:?}: {}", stderr(&o));
    }
}

/// docs/cli.md, Configuration: flags > environment > profile > defaults. A variable set to the empty
/// string is unset (as `XDG_DATA_HOME` is), so it neither hides the profile nor is a usage error.
#[test]
fn empty_environment_variables_count_as_unset() {
    let s = common::Server::start();
    let cli = Cli::new();
    cli.write_config(
        &format!(
            "default_profile = \"p\"\n[profile.p]\nendpoint = \"{}\"\ntoken = \"{}\"\n",
            s.url(),
            s.token
        ),
        0o600,
    );
    for var in ["RAGKEYS_ENDPOINT", "RAGKEYS_TOKEN", "RAGKEYS_PROFILE"] {
        for args in [
            &["services", "list", "--json"][..],
            &["audit", "--limit", "1"],
        ] {
            let o = cli.run_env(args, &[(var, "")]);
            assert_eq!(code(&o), 0, "{var}= {args:?}: {}", stderr(&o));
        }
    }
    let o = cli.run_env(
        &["services", "list", "--json"],
        &[
            ("RAGKEYS_ENDPOINT", ""),
            ("RAGKEYS_TOKEN", ""),
            ("RAGKEYS_PROFILE", ""),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("{\"services\":"), "{}", stdout(&o));

    // The data dir: the default (under XDG_DATA_HOME), not an error about a flag never given.
    let data = tempfile::tempdir().unwrap();
    let o = cli.run_env(
        &["tokens", "list", "--json"],
        &[
            ("RAGKEYS_DATA_DIR", ""),
            ("XDG_DATA_HOME", data.path().to_str().unwrap()),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(data.path().join("ragkeys").exists());
}

/// `audit --limit N` with more left says how many it showed, in English for one event too.
#[test]
fn audit_counts_the_events_it_showed() {
    let s = common::Server::start();
    let cli = Cli::new();
    for name in ["first", "second"] {
        let o = cli.remote(&s.url(), &s.token, &["services", "create", name]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let o = cli.remote(&s.url(), &s.token, &["audit", "--limit", "1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    assert_eq!(
        stderr(&o),
        "1 newest event shown; more with --limit 2\n",
        "{}",
        stderr(&o)
    );
    let o = cli.remote(&s.url(), &s.token, &["audit", "--limit", "2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Two events and nothing older: no notice at all.
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

/// docs/cli.md, Output: "Empty lists print nothing on stdout and say so on stderr", `tokens list`
/// included; with `--json` the empty list is `[]`.
#[test]
fn an_empty_tokens_list_prints_nothing_on_stdout() {
    let cli = Cli::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let data = data.to_str().unwrap();
    let o = cli.run(&["tokens", "list", "--data-dir", data]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "{:?}", stdout(&o));
    assert!(stderr(&o).contains("No admin tokens"), "{}", stderr(&o));
    let o = cli.run(&["tokens", "list", "--json", "--data-dir", data]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "[]\n");
    // One token: the table, headers and row, and nothing on stderr.
    let o = cli.run(&[
        "tokens",
        "create",
        "--name",
        "ci",
        "--role",
        "viewer",
        "--data-dir",
        data,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = cli.run(&["tokens", "list", "--data-dir", data]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

/// docs/cli.md, Exit codes: 2 for "a bad config file or profile": one that is not UTF-8, or a
/// directory where the file should be, as well as one that is not TOML.
#[test]
fn a_config_file_that_cannot_be_read_is_a_usage_error() {
    let cli = Cli::new();
    let path = cli.write_config("", 0o600);
    std::fs::write(&path, b"default_profile = \"\xff\xfe\"\n").unwrap();
    let o = cli.run(&["services", "list"]);
    cli::expect_code(&o, 2);
    assert!(stderr(&o).contains("config file"), "{}", stderr(&o));
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    for args in [
        &["services", "list"][..],
        &["audit"],
        &["keys", "list", "svc_x"],
    ] {
        let o = cli.run(args);
        cli::expect_code(&o, 2);
        assert!(stderr(&o).contains("config file"), "{}", stderr(&o));
    }
}
