//! Running `ragkeys` commands as a script would: a clean environment (no RAGKEYS_* from the
//! developer's shell, a config home of the test's own), stdin not a terminal, UTC times.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::BIN;

/// A command line in a temp config home.
pub struct Cli {
    pub config_home: tempfile::TempDir,
}

impl Cli {
    pub fn new() -> Cli {
        Cli {
            config_home: tempfile::tempdir().unwrap(),
        }
    }

    /// `$XDG_CONFIG_HOME/ragkeys/config.toml`, written with `mode`.
    pub fn write_config(&self, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.config_home.path().join("ragkeys");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RAGKEYS_") {
                c.env_remove(k);
            }
        }
        // A UTF-8 locale whatever the runner's: a C locale prints ASCII (docs/cli.md, Output).
        c.env("XDG_CONFIG_HOME", self.config_home.path())
            .env("TZ", "UTC")
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_CTYPE")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.command();
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(args).output().unwrap()
    }

    /// [`Cli::run_env`] with this machine's clock moved by `offset` (`+2d`) for the command alone.
    pub fn run_skewed(&self, offset: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let faked = super::faketime(offset);
        let mut c = self.command();
        let program = c.get_program().to_owned();
        let mut wrapped = Command::new(&faked[0]);
        wrapped.args(&faked[1..]).arg(program).args(args);
        // The same clean environment as every command here.
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        wrapped.envs(env.iter().copied());
        c = wrapped;
        c.stdin(Stdio::null()).output().unwrap()
    }

    /// `ragkeys ARGS` with `env` and `input` on stdin (a pipe, closed once written).
    pub fn run_piped(&self, args: &[&str], env: &[(&str, &str)], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let written = child.stdin.take().unwrap().write_all(input.as_bytes());
        // A command that refuses before it reads stdin (a usage error) may exit first.
        if let Err(e) = written {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
        child.wait_with_output().unwrap()
    }

    /// `RAGKEYS_TOKEN=TOKEN ragkeys --endpoint URL ARGS…`: the token where other users of the
    /// host cannot see it, as docs/cli.md asks (`--token` would warn).
    pub fn remote(&self, url: &str, token: &str, args: &[&str]) -> Output {
        let mut all = vec!["--endpoint", url];
        all.extend_from_slice(args);
        self.run_env(&all, &[("RAGKEYS_TOKEN", token)])
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Exit code `want`, and on failure exactly one `error: …` line on stderr.
#[track_caller]
pub fn expect_code(o: &Output, want: i32) {
    assert_eq!(
        code(o),
        want,
        "exit code; stdout: {:?} stderr: {:?}",
        stdout(o),
        stderr(o)
    );
    if want != 0 {
        let e = stderr(o);
        let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "one error line expected: {e:?}");
        assert!(!e.contains("panicked"), "{e}");
    }
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", stdout(o)))
}

pub fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A port nothing listens on: bound, then released.
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}
