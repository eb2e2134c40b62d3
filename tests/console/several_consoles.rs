//! Several consoles on one data dir, each in its own real terminal: a second console never locks
//! the first one out, a console that quits takes its token with it, and the token of one killed
//! with SIGKILL is pruned by the next console that starts, even while it is an unreaped zombie.
//! Every console's token is named after the person at the keyboard (`LOGNAME@shorthost`), so
//! that the audit trail names a person (docs/console.md, Who did it).

use std::path::Path;

use crate::common::api::Api;
use crate::common::tmux::{Tmux, sh_quote};
use crate::common::{BIN, Server, console_tokens, person_at_this_host};

fn console_line(home: &Path, data: &Path) -> String {
    format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT -u RAGKEYS_TOKEN HOME={home} \
         XDG_CONFIG_HOME={home}/config XDG_DATA_HOME={home}/data LANG=C.UTF-8 \
         LOGNAME=alice USER=bob \
         {bin} --data-dir {data} --lang en --clipboard off",
        home = sh_quote(&home.display().to_string()),
        data = sh_quote(&data.display().to_string()),
        bin = sh_quote(BIN),
    )
}

fn console(home: &Path, data: &Path) -> Tmux {
    Tmux::start(&console_line(home, data), 100, 30)
}

/// A console whose parent never reaps it: killed, it stays a zombie until the pane closes
/// (`sleep` inherits it and never waits). Its input is the pane (a background job's stdin
/// would be /dev/null).
fn unreaped_console(home: &Path, data: &Path) -> Tmux {
    let line = format!("{} </dev/tty & exec sleep 600", console_line(home, data));
    Tmux::start(&line, 100, 30)
}

/// The process's state letter from /proc (`Z` for a zombie); None once it is gone.
fn state(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let i = stat.rfind(')')?;
    stat[i + 1..].split_whitespace().next().map(str::to_string)
}

/// The header's `alice@HOST · manager`: the console's token name, the person at the keyboard.
fn token_name(term: &Tmux) -> String {
    let screen = term.wait_text(" · manager");
    let header = screen.lines().next().unwrap_or_default();
    let end = header.find(" · manager").unwrap();
    let start = header[..end].rfind(' ').map_or(0, |i| i + 1);
    header[start..end].to_string()
}

/// The process ids beside the consoles' tokens of the data dir.
fn console_pids(data: &Path) -> Vec<u32> {
    let tokens = console_tokens(data);
    let alice = person_at_this_host("alice");
    assert!(tokens.iter().all(|(name, _)| *name == alice), "{tokens:?}");
    tokens.into_iter().map(|(_, pid)| pid).collect()
}

#[test]
fn consoles_on_one_data_dir_keep_their_own_tokens_and_prune_dead_ones() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("ragkeys-data");
    let first = unreaped_console(home.path(), &data);
    first.wait_text("rag-demo");
    let alice = person_at_this_host("alice");
    assert_eq!(
        token_name(&first),
        alice,
        "LOGNAME, not USER, names the person"
    );
    let [first_pid] = console_pids(&data)[..] else {
        panic!("one console, one token: {:?}", console_tokens(&data));
    };
    let second = console(home.path(), &data);
    second.wait_text("rag-demo");
    assert_eq!(token_name(&second), alice);
    // Two consoles of one person: one name, two tokens told apart by their process ids.
    let [a, second_pid] = console_pids(&data)[..] else {
        panic!("two consoles, two tokens: {:?}", console_tokens(&data));
    };
    assert_eq!(a, first_pid);
    assert_ne!(first_pid, second_pid);

    // The first console still acts after the second one started; the second sees its work.
    first.keys(&["c"]);
    first.wait_text("[Create]");
    first.keys(&["from-first", "Enter"]);
    first.wait_for("the new service in the list", |s| {
        s.contains("from-first") && !s.contains("[Create]")
    });
    second.keys(&["r"]);
    second.wait_text("from-first");

    // SIGKILL: no chance to revoke; the token stays until another console starts. Its parent
    // does not reap it, so it is a zombie (kill(pid, 0) still succeeds), which is gone too.
    let pid = first_pid as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while state(pid).as_deref() != Some("Z") {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed console is not a zombie: {:?}",
            state(pid)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(console_pids(&data).contains(&first_pid));
    let third = console(home.path(), &data);
    third.wait_text("from-first");
    assert_eq!(token_name(&third), alice);
    let pids = console_pids(&data);
    assert!(
        !pids.contains(&first_pid),
        "a dead console's token stays: {pids:?}"
    );
    let [b, third_pid] = pids[..] else {
        panic!("the second and the third console's tokens: {pids:?}");
    };
    assert_eq!(b, second_pid);

    // `q` quits from the start screen: the console's token goes with it.
    second.keys(&["q"]);
    second.wait_dead();
    assert_eq!(console_pids(&data), [third_pid]);
    third.keys(&["q"]);
    third.wait_dead();
    assert!(console_pids(&data).is_empty());

    // The trail names the person who created the service, not a process.
    let server = Server::start_in(&data, &[]);
    let token = server.create_token("reader", "viewer");
    let events = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let audit = Api::at(server.url())
            .get_as("/v1/audit?limit=500", Some(&token))
            .await;
        audit.expect(200)["events"].as_array().unwrap().clone()
    });
    let actors: Vec<&str> = events
        .iter()
        .filter(|e| e["action"] == "service.create")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    // rag-demo, seeded by the first console, and from-first.
    assert_eq!(actors, [alice.as_str(), alice.as_str()], "{events:?}");
}
