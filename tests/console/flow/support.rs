//! What the console flows share: setting up a service over HTTP, reading a key off the screen,
//! walking to a service's API Key management, and bringing `ragkeys serve` back on its address.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crossterm::event::KeyCode;
use ragkeys::client::{Client, ClientOptions, new_idempotency_key};
use ragkeys::credential::Secret;
use ragkeys::wire::{CreateService, IssueApiKey, Service};

use super::driver::Console;
use crate::common::BIN;

pub fn client(endpoint: &str, token: &str) -> Client {
    Client::new(&ClientOptions::new(endpoint, Secret::new(token.into())))
        .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn service(c: &Client, name: &str) -> Service {
    c.create_service(&CreateService {
        name: name.into(),
        description: "Demo retrieval service".into(),
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn issue(c: &Client, service_id: &str, name: &str) -> String {
    c.issue_key(
        service_id,
        &IssueApiKey {
            name: Some(name.into()),
            ..Default::default()
        },
        &new_idempotency_key(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .key
    .api_key
    .id
}

/// The plaintext key shown in the API Key copy popup.
pub fn key_on_screen(text: &str) -> String {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("ragk_") && w.len() == 41)
        .unwrap_or_else(|| panic!("no key on screen:\n{text}"))
        .to_string()
}

/// Opens the first service's API Key management and waits for its list.
pub async fn open_first_service(c: &mut Console) {
    c.wait_for("[API Key management]").await;
    c.key(KeyCode::Enter);
    c.wait_until("the key list", |t| {
        t.contains("Last used") && !t.contains("Loading…")
    })
    .await;
}

/// Issues one key through the popups, copies it, and closes; returns the key.
pub async fn issue_in_console(c: &mut Console, name: &str, count_after: usize) -> String {
    c.ch('i');
    c.wait_for("┌ Issue API Key").await;
    c.typed(name);
    c.key(KeyCode::Enter);
    let text = c.wait_for("┌ API Key copy").await;
    let key = key_on_screen(&text);
    c.key(KeyCode::Enter);
    c.wait_for("Sent to the terminal by OSC 52").await;
    c.key(KeyCode::Tab);
    c.key(KeyCode::Enter);
    c.wait_for(&format!("[Issue API Key] {count_after} / 5"))
        .await;
    c.wait_gone("┌ API Key copy").await;
    key
}

/// `ragkeys serve` started by a test on a given address (to come back where the console
/// expects it); stopped with SIGTERM, or killed when dropped.
pub struct Serving(Child);

impl Serving {
    pub fn stop(mut self) {
        // Our own child, by its id.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn serve_at(dir: &Path, addr: SocketAddr) -> Serving {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir)
        // Stopped by SIGTERM to come back at once: no drain to wait out.
        .args(["--drain", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("ragkeys serve did not come back on {addr}");
    }
    Serving(child)
}
