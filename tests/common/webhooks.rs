//! A real webhook receiver (`webhook_receiver.py`): the reference `standardwebhooks` library
//! verifies every request, and each verified event is kept for the test to read.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::python;

/// A new secret in Standard Webhooks' form (`whsec_` + base64 of 24 random bytes).
pub fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The environment that moves a process's clock by `offset` (`+1d`, `+50h`) with libfaketime
/// preloaded into the process itself, so that a signal to it reaches it (the `faketime`
/// command runs its program as a child).
pub fn faketime_env(offset: &str) -> Vec<(String, String)> {
    let lib = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")])
        .find(|p| p.exists())
        .expect("libfaketime is missing: apt-get install faketime");
    vec![
        ("LD_PRELOAD".into(), lib.display().to_string()),
        ("FAKETIME".into(), offset.into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// A port nobody listens on now (for a receiver started later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One running receiver; killed when dropped. Its events file outlives restarts.
pub struct Receiver {
    child: Child,
    pub port: u16,
    pub events: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Receiver {
    /// A receiver of `secret` on a free port.
    pub fn start(secret: &str) -> Receiver {
        Self::start_on(free_port(), secret, &[])
    }

    /// A receiver of `secret` on `port`, with `env` (e.g. [`faketime_env`]).
    pub fn start_on(port: u16, secret: &str, env: &[(String, String)]) -> Receiver {
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("events.jsonl");
        std::fs::write(&events, "").unwrap();
        let python = python::python_with("standardwebhooks");
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/common/webhook_receiver.py");
        let mut cmd = Command::new(&python);
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .arg(&script)
            .arg(port.to_string())
            .arg(secret)
            .arg(&events)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start the webhook receiver");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(
            first.starts_with("listening"),
            "receiver did not start: {first:?}"
        );
        Receiver {
            child,
            port,
            events,
            _tmp: tmp,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Every verified request so far: `{"id","timestamp","signatures","event","body"}`.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until `enough` holds of what was received; panics with it after `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        enough: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if enough(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected within {within:?}: {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The events of `received` of type `event_type`.
pub fn of_type<'a>(received: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    received
        .iter()
        .filter(|r| r["event"]["type"] == event_type)
        .collect()
}
