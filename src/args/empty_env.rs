//! An environment variable set to the empty string counts as unset (docs/cli.md, Configuration:
//! flags > environment > profile > defaults), as `XDG_DATA_HOME` does: `RAGKEYS_TOKEN= ragkeys …`
//! falls through to the profile instead of sending an empty token, and `RAGKEYS_DATA_DIR=` is not
//! "a value is required for '--data-dir'" about a flag nobody gave.

use clap::Command;

/// `cmd` with every argument whose variable is set but empty no longer reading it, at every depth.
pub fn ignore_empty(cmd: Command) -> Command {
    ignore_empty_with(cmd, &|name| {
        std::env::var_os(name).is_some_and(|v| v.is_empty())
    })
}

fn ignore_empty_with(mut cmd: Command, is_empty: &dyn Fn(&std::ffi::OsStr) -> bool) -> Command {
    let empty: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.get_env().is_some_and(is_empty))
        .map(|a| a.get_id().clone())
        .collect();
    for id in empty {
        cmd = cmd.mut_arg(id, |a| a.env(None));
    }
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subcommands {
        cmd = cmd.mut_subcommand(name, |s| ignore_empty_with(s, is_empty));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_depth_stops_reading_an_empty_variable() {
        let cmd = ignore_empty_with(crate::args::Cli::command(), &|n| n == "RAGKEYS_TOKEN");
        let reads_token = |c: &Command| {
            c.get_arguments()
                .any(|a| a.get_env().is_some_and(|e| e == "RAGKEYS_TOKEN"))
        };
        assert!(!reads_token(&cmd));
        for sub in ["services", "keys", "audit"] {
            assert!(!reads_token(cmd.find_subcommand(sub).unwrap()), "{sub}");
        }
        let endpoint = cmd.get_arguments().find(|a| a.get_id() == "endpoint");
        assert!(endpoint.unwrap().get_env().is_some());
    }
}
