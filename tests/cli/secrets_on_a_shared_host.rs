//! A bastion host is shared and `ps` shows every user's arguments (docs/cli.md, Secrets on a
//! shared host): `--token` typed there still works but warns once, `--token -` reads it from
//! stdin, a password typed in `--database` warns likewise, and neither the CLI nor the console
//! ever puts a token or a key into the arguments of a process it starts.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::common::Server;
use crate::common::cli::{Cli, code, expect_code, json, stderr, stdout};
use crate::common::tmux::{Tmux, sh_quote};

/// The `warning: …` lines about a token typed on the command line.
fn token_warnings(o: &Output) -> usize {
    stderr(o)
        .lines()
        .filter(|l| l.starts_with("warning: --token on the command line"))
        .count()
}

/// `ragkeys ARGS` with `input` on stdin (a pipe).
fn piped(cli: &Cli, args: &[&str], input: &str) -> Output {
    cli.run_piped(args, &[], input)
}

#[test]
fn a_token_typed_on_the_command_line_works_and_warns_once_saying_what_instead() {
    let s = Server::start();
    let cli = Cli::new();
    let url = s.url();
    for args in [
        &["--endpoint", &url, "--token", &s.token, "services", "list"][..],
        &["services", "list", "--endpoint", &url, "--token", &s.token],
        &["services", "--token", &s.token, "list", "--endpoint", &url],
    ] {
        let o = cli.run(args);
        expect_code(&o, 0);
        assert_eq!(token_warnings(&o), 1, "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        for instead in ["RAGKEYS_TOKEN", "token_command", "--token -", "ps"] {
            assert!(e.contains(instead), "{instead}: {e}");
        }
        assert!(!e.contains(&s.token), "the warning repeats the token: {e}");
    }
    // From the environment or a profile: nothing to warn about.
    let o = cli.remote(&url, &s.token, &["services", "list"]);
    expect_code(&o, 0);
    assert_eq!(token_warnings(&o), 0, "{}", stderr(&o));
    cli.write_config(
        &format!(
            "default_profile = \"p\"\n[profile.p]\nendpoint = \"{url}\"\n\
             token_command = \"echo {}\"\n",
            s.token
        ),
        0o600,
    );
    let o = cli.run(&["services", "list"]);
    expect_code(&o, 0);
    assert_eq!(token_warnings(&o), 0, "{}", stderr(&o));
}

#[test]
fn the_help_says_why_a_typed_token_is_seen_and_what_to_use_instead() {
    let cli = Cli::new();
    for args in [
        &["--help"][..],
        &["keys", "--help"],
        &["services", "list", "--help"],
    ] {
        let o = cli.run(args);
        expect_code(&o, 0);
        let help = stdout(&o).split_whitespace().collect::<Vec<_>>().join(" ");
        for words in [
            "or - to read it from stdin",
            "seen by every user of this host (ps, /proc)",
            "RAGKEYS_TOKEN",
            "token_command in a profile",
        ] {
            assert!(help.contains(words), "{args:?} lacks {words:?}: {help}");
        }
    }
    let o = cli.run(&["serve", "--help"]);
    let help = stdout(&o).split_whitespace().collect::<Vec<_>>().join(" ");
    for words in [
        "A password typed in it is seen by every user of this host",
        "RAGKEYS_DATABASE_URL",
        ".pgpass",
    ] {
        assert!(help.contains(words), "serve --help lacks {words:?}: {help}");
    }
}

#[test]
fn token_dash_reads_the_token_from_stdin_and_is_refused_where_stdin_holds_the_key() {
    let s = Server::start();
    let cli = Cli::new();
    let url = s.url();
    let token_line = format!("{}\n", s.token);
    let o = piped(
        &cli,
        &[
            "--endpoint",
            &url,
            "--token",
            "-",
            "services",
            "create",
            "from-stdin",
            "--json",
        ],
        &token_line,
    );
    expect_code(&o, 0);
    assert_eq!(json(&o)["name"], "from-stdin");
    assert_eq!(
        stderr(&o),
        "",
        "no warning: the token was never an argument"
    );
    // Anywhere on the line, and as RAGKEYS_TOKEN=- too.
    let o = piped(
        &cli,
        &["services", "list", "--endpoint", &url, "--token", "-"],
        &token_line,
    );
    expect_code(&o, 0);
    assert!(stdout(&o).contains("from-stdin"), "{}", stdout(&o));
    let mut c = cli.command();
    c.args(["--endpoint", &url, "services", "list"])
        .env("RAGKEYS_TOKEN", "-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token_line.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    expect_code(&o, 0);

    // Nothing on stdin: a usage error before anything is sent.
    let o = piped(
        &cli,
        &["--endpoint", &url, "--token", "-", "services", "list"],
        "",
    );
    expect_code(&o, 2);
    assert!(stderr(&o).contains("no token on stdin"), "{}", stderr(&o));

    // keys whois reads the key from stdin: both cannot come from there.
    let issued = cli.remote(&url, &s.token, &["keys", "issue", "from-stdin"]);
    expect_code(&issued, 0);
    let key = stdout(&issued).trim().to_string();
    let o = piped(
        &cli,
        &["--endpoint", &url, "--token", "-", "keys", "whois"],
        &format!("{}\n{key}\n", s.token),
    );
    expect_code(&o, 2);
    let e = stderr(&o);
    assert!(e.contains("--token -") && e.contains("keys whois"), "{e}");
    assert!(!e.contains(&key) && !e.contains(&s.token), "{e}");
    assert_eq!(stdout(&o), "");
}

#[test]
fn a_database_password_typed_on_the_command_line_warns_and_the_environment_does_not() {
    let cli = Cli::new();
    let dir = tempfile::tempdir().unwrap();
    let pepper = dir.path().join("pepper");
    let pepper = pepper.to_str().unwrap();
    // Nothing listens on port 9: each command fails after its warning, which is all we read.
    let url = "postgres://ragkeys:hunter2@127.0.0.1:9/keys";
    let warned = |o: &Output| {
        stderr(o)
            .lines()
            .filter(|l| l.starts_with("warning: a password in --database"))
            .count()
    };
    for args in [
        &[
            "serve",
            "--database",
            url,
            "--pepper-file",
            pepper,
            "--database-wait",
            "0",
        ][..],
        &[
            "tokens",
            "list",
            "--database",
            url,
            "--pepper-file",
            pepper,
            "--database-wait",
            "0",
        ],
    ] {
        let o = cli.run(args);
        assert_ne!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(warned(&o), 1, "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("RAGKEYS_DATABASE_URL") && e.contains(".pgpass"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }
    // The same URL from the environment, or one without a password: no warning.
    let o = cli.run_env(
        &["serve", "--pepper-file", pepper, "--database-wait", "0"],
        &[("RAGKEYS_DATABASE_URL", url)],
    );
    assert_ne!(code(&o), 0);
    assert_eq!(warned(&o), 0, "{}", stderr(&o));
    let o = cli.run(&[
        "serve",
        "--database",
        "postgres://ragkeys@127.0.0.1:9/keys",
        "--pepper-file",
        pepper,
        "--database-wait",
        "0",
    ]);
    assert_ne!(code(&o), 0);
    assert_eq!(warned(&o), 0, "{}", stderr(&o));
}

/// Every process `strace` saw started (execve), with its arguments, from its `-o` log.
fn execs(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("execve("))
        .map(str::to_string)
        .collect()
}

/// `strace`, or a test that fails saying how to get it.
fn strace() -> &'static str {
    let found = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "strace is missing: apt-get install strace");
    "strace"
}

#[test]
fn the_cli_never_puts_a_token_or_a_key_into_the_arguments_of_a_process_it_starts() {
    let s = Server::start();
    let cli = Cli::new();
    let url = s.url();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", s.token)).unwrap();
    // token_command starts a shell and a program of its own: none of them may see the token.
    cli.write_config(
        &format!(
            "default_profile = \"p\"\n[profile.p]\nendpoint = \"{url}\"\n\
             token_command = \"cat {}\"\n",
            token_file.display()
        ),
        0o600,
    );
    let log = dir.path().join("strace.log");
    let created = cli.run(&["services", "create", "traced", "--json"]);
    expect_code(&created, 0);
    let mut c = std::process::Command::new(strace());
    c.args(["-f", "-s", "4096", "-e", "trace=execve", "-o"])
        .arg(&log)
        .arg(crate::common::BIN)
        .args(["keys", "issue", "traced", "--name", "n"])
        .env("XDG_CONFIG_HOME", cli.config_home.path())
        .env_remove("RAGKEYS_TOKEN")
        .env_remove("RAGKEYS_ENDPOINT")
        .env_remove("RAGKEYS_PROFILE")
        .stdin(Stdio::null());
    let o = c.output().unwrap();
    expect_code(&o, 0);
    let key = stdout(&o).trim().to_string();
    assert!(key.starts_with("ragk_"), "{key}");
    let execs = execs(&log);
    assert!(
        execs.iter().any(|l| l.contains("[\"sh\", \"-c\", \"cat ")),
        "token_command ran: {execs:#?}"
    );
    for l in &execs {
        assert!(
            !l.contains("ragadm_") && !l.contains("ragk_"),
            "a secret in a process's arguments: {l}"
        );
    }
}

#[test]
fn the_console_never_puts_a_token_or_a_key_into_the_arguments_of_a_process_it_starts() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let log = home.path().join("strace.log");
    let bin_dir = home.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    // Clipboard helpers a console might be tempted to run, each recording how it was called.
    for tool in ["xclip", "xsel", "wl-copy", "pbcopy"] {
        let path = bin_dir.join(tool);
        std::fs::write(&path, "#!/bin/sh\ncat >/dev/null\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let line = format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT -u RAGKEYS_TOKEN HOME={home} \
         XDG_CONFIG_HOME={home}/config XDG_DATA_HOME={home}/data LANG=C.UTF-8 \
         PATH={bin}:$PATH {strace} -f -s 4096 -e trace=execve -o {log} \
         {ragkeys} --data-dir {data} --lang en --clipboard system",
        home = sh_quote(&home.path().display().to_string()),
        bin = sh_quote(&bin_dir.display().to_string()),
        strace = strace(),
        log = sh_quote(&log.display().to_string()),
        ragkeys = sh_quote(crate::common::BIN),
        data = sh_quote(&data.display().to_string()),
    );
    let term = Tmux::start(&line, 100, 30);
    term.wait_text("rag-demo");
    term.keys(&["Enter"]);
    term.wait_text("[Issue API Key]");
    let (_, key) = term.issue_key();
    // [Copy key] has focus: the system clipboard (no display here), then OSC 52.
    term.keys(&["Enter"]);
    term.wait_for("the copy's notice", |s| {
        s.contains("OSC") || s.contains("by hand")
    });
    let execs = execs(&log);
    assert!(!execs.is_empty(), "strace saw nothing");
    for l in &execs {
        assert!(
            !l.contains("ragadm_") && !l.contains("ragk_") && !l.contains(&key),
            "a secret in a process's arguments: {l}"
        );
    }
}
