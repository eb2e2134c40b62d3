//! Several consoles on one data dir, each in its own real terminal: a second console never locks
//! the first one out, a console that quits takes its token with it, and the token of one killed
//! with SIGKILL is pruned by the next console that starts, even while it is an unreaped zombie.

use std::path::Path;

use crate::common::tmux::{Tmux, sh_quote};
use crate::common::{BIN, token_names};

fn console_line(home: &Path, data: &Path) -> String {
    format!(
        "env -u RAGKEYS_PROFILE -u RAGKEYS_ENDPOINT -u RAGKEYS_TOKEN HOME={home} \
         XDG_CONFIG_HOME={home}/config XDG_DATA_HOME={home}/data LANG=C.UTF-8 \
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

/// The header's `local-console@PID… · manager`: the console's token name.
fn token_name(term: &Tmux) -> String {
    let screen = term.wait_text(" · manager");
    let header = screen.lines().next().unwrap_or_default();
    let end = header.find(" · manager").unwrap();
    let start = header[..end].rfind(' ').map_or(0, |i| i + 1);
    let name = header[start..end].to_string();
    assert!(name.starts_with("local-console@"), "{header}");
    name
}

fn pid_of(token_name: &str) -> i32 {
    let rest = token_name.trim_start_matches("local-console@");
    rest.split('.').next().unwrap().parse().unwrap()
}

#[test]
fn consoles_on_one_data_dir_keep_their_own_tokens_and_prune_dead_ones() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("ragkeys-data");
    let first = unreaped_console(home.path(), &data);
    first.wait_text("rag-demo");
    let first_name = token_name(&first);
    let second = console(home.path(), &data);
    second.wait_text("rag-demo");
    let second_name = token_name(&second);
    assert_ne!(first_name, second_name);

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
    let pid = pid_of(&first_name);
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
    assert!(token_names(&data).contains(&first_name));
    let third = console(home.path(), &data);
    third.wait_text("from-first");
    let third_name = token_name(&third);
    let names = token_names(&data);
    assert!(
        !names.contains(&first_name),
        "a dead console's token stays: {names:?}"
    );
    assert!(
        names.contains(&second_name) && names.contains(&third_name),
        "{names:?}"
    );

    // `q` quits from the start screen: the console's token goes with it.
    second.keys(&["q"]);
    second.wait_dead();
    assert_eq!(token_names(&data), [third_name]);
    third.keys(&["q"]);
    third.wait_dead();
    assert!(token_names(&data).is_empty());
}
