//! token_command behaves like a credential helper (issue 7, kind 5): its prompt reaches the
//! terminal and its answer is read from the terminal; it has a deadline
//! (`token_command_timeout`); and neither the deadline nor a signal to ragkeys leaves its `sh` or
//! `sleep` behind.

use crate::common;
use crate::common::tmux;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::Server;
use crate::common::cli::{Cli, expect_code, stderr};

/// Processes still alive (not zombies) that are `pid`, its children, or in its process group.
fn left_behind(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let (state, ppid, pgrp) = (
            fields[0],
            fields[1].parse::<i32>().unwrap_or(0),
            fields[2].parse::<i32>().unwrap_or(0),
        );
        if state != "Z" && (p == pid || ppid == pid || pgrp == pid) {
            out.push(stat.trim().to_string());
        }
    }
    out
}

/// Waits (generously) until nothing of the token_command started as `pid` is left.
fn assert_all_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = left_behind(pid);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            // Clean up before failing, so the machine is not left with a sleep 600.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            panic!("token_command processes outlived ragkeys: {left:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ragkeys did not end within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid the command wrote to `file` (its `sh`), once it has.
fn wait_pid(file: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = std::fs::read_to_string(file)
            && let Ok(pid) = s.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "token_command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sleeping_profile(cli: &Cli, pid_file: &Path, extra: &str) {
    cli.write_config(
        &format!(
            "default_profile = \"slow\"\n[profile.slow]\nendpoint = \"http://127.0.0.1:9\"\n\
             token_command = \"echo $$ > '{}'; sleep 600; echo never\"\n{extra}",
            pid_file.display()
        ),
        0o644,
    );
}

#[test]
fn a_token_command_past_its_timeout_is_killed_with_its_group() {
    let cli = Cli::new();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    sleeping_profile(&cli, &pid_file, "token_command_timeout = 2\n");
    let started = Instant::now();
    let mut child = cli
        .command()
        .args(["services", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let pid = wait_pid(&pid_file);
    let out = child.wait_with_output().unwrap();
    let out = std::process::Output { status, ..out };
    expect_code(&out, 1);
    let e = stderr(&out);
    assert!(e.contains("token_command_timeout"), "{e}");
    assert!(e.contains("within 2 s"), "{e}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_all_gone(pid);
}

#[test]
fn a_bad_timeout_is_a_usage_error() {
    let cli = Cli::new();
    let dir = tempfile::tempdir().unwrap();
    sleeping_profile(&cli, &dir.path().join("pid"), "token_command_timeout = 0\n");
    let out = cli.run(&["services", "list"]);
    expect_code(&out, 2);
    assert!(
        stderr(&out).contains("token_command_timeout"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_signal_to_ragkeys_takes_the_token_command_with_it() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let cli = Cli::new();
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        sleeping_profile(&cli, &pid_file, "");
        let mut child = cli
            .command()
            .args(["services", "list"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = wait_pid(&pid_file);
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
        let status = wait_exit(&mut child, Duration::from_secs(30));
        assert_eq!(status.signal(), Some(sig), "signal {sig}: {status:?}");
        assert_all_gone(pid);
    }
}

#[test]
fn the_prompt_reaches_the_terminal_and_the_answer_comes_from_it() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("token");
    std::fs::write(&token_file, format!("{}\r\nlogin: ops\n", server.token)).unwrap();
    let config = home.path().join("config/ragkeys");
    std::fs::create_dir_all(&config).unwrap();
    // A helper in the style of `pass`/gpg: it asks on stderr and reads /dev/tty.
    std::fs::write(
        config.join("config.toml"),
        format!(
            "default_profile = \"p\"\n[profile.p]\nendpoint = \"{}\"\n\
             token_command = \"printf 'Passphrase for p: ' >&2; read -r c </dev/tty; \
             [ \\\"$c\\\" = 1234 ] && cat '{}'\"\n",
            server.url(),
            token_file.display()
        ),
    )
    .unwrap();
    let command = format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT -u RAGKEYS_TOKEN HOME={home} \
         XDG_CONFIG_HOME={home}/config TZ=UTC {bin} services list; echo \"exit=$?\"; sleep 60",
        home = tmux::sh_quote(&home.path().display().to_string()),
        bin = tmux::sh_quote(common::BIN),
    );
    let term = tmux::Tmux::start(&command, 120, 30);
    term.wait_text("Passphrase for p:");
    term.keys(&["1234", "Enter"]);
    let screen = term.wait_text("exit=");
    assert!(screen.contains("exit=0"), "{screen}");
    assert!(screen.contains("No services yet"), "{screen}");
}

#[test]
fn an_empty_first_line_is_a_clear_error() {
    let cli = Cli::new();
    cli.write_config(
        "default_profile = \"p\"\n[profile.p]\nendpoint = \"http://127.0.0.1:9\"\n\
         token_command = \"printf '\\\\nragadm_second_line\\\\n'\"\n",
        0o644,
    );
    let out = cli.run(&["services", "list"]);
    expect_code(&out, 1);
    let e = stderr(&out);
    assert!(e.contains("first line on stdout is empty"), "{e}");
    assert!(!e.contains("ragadm_second_line"), "{e}");
}
