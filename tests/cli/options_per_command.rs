//! Each command shows and accepts only the options it uses (issue 7, "Commands").

use crate::common::cli::{Cli, code, stderr, stdout};

const CONNECTION: [&str; 5] = [
    "--endpoint",
    "--token",
    "--profile",
    "--ca-cert",
    "--insecure",
];

#[test]
fn serve_and_tokens_show_none_of_the_connection_flags() {
    let cli = Cli::new();
    for cmd in [
        &["serve", "--help"][..],
        &["tokens", "--help"],
        &["tokens", "list", "--help"],
    ] {
        let o = cli.run(cmd);
        assert_eq!(code(&o), 0);
        let help = stdout(&o);
        for flag in CONNECTION {
            assert!(!help.contains(flag), "{cmd:?} lists {flag}:\n{help}");
        }
        assert!(help.contains("--data-dir"), "{help}");
    }
    let serve = stdout(&cli.run(&["serve", "--help"]));
    assert!(!serve.contains("--json"), "{serve}");
}

#[test]
fn services_keys_and_the_console_group_the_connection_flags() {
    let cli = Cli::new();
    for cmd in [
        &["--help"][..],
        &["services", "--help"],
        &["keys", "list", "--help"],
    ] {
        let help = stdout(&cli.run(cmd));
        let heading = help
            .find("\nConnection:\n")
            .unwrap_or_else(|| panic!("{help}"));
        for flag in CONNECTION {
            let at = help
                .find(flag)
                .unwrap_or_else(|| panic!("{cmd:?} lacks {flag}"));
            assert!(
                at > heading,
                "{cmd:?}: {flag} is not under Connection:\n{help}"
            );
        }
    }
    let keys = stdout(&cli.run(&["keys", "list", "--help"]));
    assert!(!keys.contains("--data-dir"), "{keys}");
}

#[test]
fn options_of_other_commands_are_usage_errors() {
    let cli = Cli::new();
    for args in [
        &["serve", "--endpoint", "x"][..],
        &["serve", "--token", "t"],
        &["serve", "--json"],
        &["--endpoint", "http://x", "serve"],
        &["tokens", "list", "--endpoint", "x"],
        &["tokens", "list", "--insecure"],
        &["--ca-cert", "c", "tokens", "list"],
        &["services", "list", "--data-dir", "/tmp"],
        &["--json"],
    ] {
        let o = cli.run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("error: "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn existing_spellings_still_work_where_they_are_used() {
    let cli = Cli::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let data = data.to_str().unwrap();
    for args in [
        &["tokens", "list", "--json", "--data-dir", data][..],
        &["--data-dir", data, "tokens", "list"],
        &["--json", "tokens", "list", "--data-dir", data],
    ] {
        let o = cli.run(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    }
    // Connection flags ahead of `services` or after its action: both reach the command.
    for args in [
        &[
            "--endpoint",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "services",
            "list",
        ][..],
        &[
            "services",
            "list",
            "--endpoint",
            "http://127.0.0.1:9",
            "--token",
            "t",
        ],
        &[
            "services",
            "--endpoint",
            "http://127.0.0.1:9",
            "list",
            "--token",
            "t",
        ],
    ] {
        let o = cli.run(args);
        assert_eq!(code(&o), 6, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("127.0.0.1:9"), "{}", stderr(&o));
        // Typed on the command line, the token is seen by other users: one warning, wherever.
        let warnings = stderr(&o)
            .matches("warning: --token on the command line")
            .count();
        assert_eq!(warnings, 1, "{args:?}: {}", stderr(&o));
    }
}
