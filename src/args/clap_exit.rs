//! clap's own answers (help, version, usage errors), given with the CLI's manners (docs/cli.md,
//! Output): an error is one line, `error: …`, exit 2; help and the
//! version go to stdout, and a stdout that cannot be written is `error: cannot write to stdout:
//! <reason>` and exit 1, while a closed pipe (`| head`) is not an error.

use std::io::Write;

use clap::CommandFactory;
use clap::error::ErrorKind;

/// Prints what clap had to say and ends the process with its documented exit code. Without a
/// UTF-8 locale (or with `--ascii`) it is printed in 7-bit ASCII (docs/cli.md, Output).
pub fn exit(e: clap::Error) -> ! {
    let ascii =
        crate::charset::Charset::choose(std::env::args_os().any(|a| a == "--ascii")).is_ascii();
    if e.use_stderr() {
        // Lossy: an argument that is not UTF-8 must not stop the error from being told.
        let args: Vec<String> = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut line = usage_error_line(&e, &args);
        if ascii {
            line = crate::charset::ascii(&line).into_owned();
        }
        let mut err = std::io::stderr().lock();
        // A stderr that went away leaves nothing to tell; the exit code still says it.
        let _ = err.write_all(format!("{line}\n").as_bytes());
        let _ = err.flush();
        std::process::exit(crate::cli::error::USAGE.into());
    }
    let written = if ascii {
        let text = e.render().to_string();
        let mut out = std::io::stdout().lock();
        out.write_all(crate::charset::ascii(&text).as_bytes())
            .and_then(|()| out.flush())
    } else {
        e.print().and_then(|()| std::io::stdout().flush())
    };
    match written {
        Err(w) if w.kind() != std::io::ErrorKind::BrokenPipe => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: cannot write to stdout: {w}");
            std::process::exit(crate::cli::error::OTHER.into());
        }
        _ => std::process::exit(crate::cli::error::OK.into()),
    }
}

/// clap's multi-line usage error folded into one `error: …` line that names the `--help` to read
/// (that of the command `args`, the arguments after the program's name, were for). The user's own
/// arguments are echoed only without control or bidi characters.
pub fn usage_error_line(e: &clap::Error, args: &[String]) -> String {
    let text = e.render().to_string();
    // clap gives no usage line with some errors (an invalid value): the arguments then say.
    let command = command_path(&text).unwrap_or_else(|| command_path_of_args(args));
    let see = format!("see `{command} --help`");
    // A missing command is one error whether clap shows the help (nothing but the command typed)
    // or not (a flag or a RAGKEYS_* variable given as well).
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand
    ) {
        let subcommands = subcommands(&text);
        let body = if subcommands.is_empty() {
            format!("`{command}` needs arguments")
        } else {
            format!("`{command}` needs a command: {}", subcommands.join(", "))
        };
        return format!("error: {} ({see})", crate::cli::error::one_line(&body));
    }
    let mut line = String::new();
    for part in text.lines().map(str::trim) {
        if part.is_empty() || part.starts_with("Usage:") || part.starts_with("For more information")
        {
            continue;
        }
        let part = part.strip_prefix("error:").map(str::trim).unwrap_or(part);
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    format!("error: {} ({see})", crate::cli::error::one_line(&line))
}

/// `ragkeys keys issue` from clap's `Usage: ragkeys keys issue [OPTIONS] <SERVICE_ID>` line, if
/// the text has one.
fn command_path(text: &str) -> Option<String> {
    let usage = text.lines().find_map(|l| l.trim().strip_prefix("Usage:"))?;
    let words: Vec<&str> = usage
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    (!words.is_empty()).then(|| crate::cli::error::one_line(&words.join(" ")))
}

/// `ragkeys tokens create` from the arguments `tokens create --role admin`: the subcommands they
/// name, the values of options skipped.
fn command_path_of_args(args: &[String]) -> String {
    let mut root = crate::args::Cli::command();
    root.build();
    let mut cmd = &root;
    let mut path = vec!["ragkeys".to_owned()];
    let takes_value = |cmd: &clap::Command, is: &dyn Fn(&clap::Arg) -> bool| {
        cmd.get_arguments()
            .any(|a| is(a) && a.get_action().takes_values())
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            if !long.contains('=') && takes_value(cmd, &|arg| arg.get_long() == Some(long)) {
                it.next();
            }
        } else if let Some(short) = a.strip_prefix('-') {
            let mut chars = short.chars();
            if let (Some(c), None) = (chars.next(), chars.next())
                && takes_value(cmd, &|arg| arg.get_short() == Some(c))
            {
                it.next();
            }
        } else if let Some(sub) = cmd.find_subcommand(a) {
            path.push(sub.get_name().to_owned());
            cmd = sub;
        }
    }
    crate::cli::error::one_line(&path.join(" "))
}

/// The names under the help's `Commands:` heading, or in clap's `[subcommands: …]` list, `help`
/// left out.
fn subcommands(text: &str) -> Vec<String> {
    let listed = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("[subcommands:"))
        .and_then(|l| l.strip_suffix(']'));
    let names: Vec<String> = match listed {
        Some(list) => list.split(',').map(|n| n.trim().to_owned()).collect(),
        None => text
            .lines()
            .skip_while(|l| l.trim() != "Commands:")
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect(),
    };
    names.into_iter().filter(|name| name != "help").collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn error_of(args: &[&str]) -> clap::Error {
        crate::args::Cli::command()
            .try_get_matches_from(std::iter::once("ragkeys").chain(args.iter().copied()))
            .unwrap_err()
    }

    /// The one line for `ragkeys ARGS`.
    fn line_of(args: &[&str]) -> String {
        let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        usage_error_line(&error_of(args), &owned)
    }

    #[test]
    fn usage_errors_are_one_line_naming_the_help_to_read() {
        let line = line_of(&["keys", "issue"]);
        assert_eq!(
            line,
            "error: the following required arguments were not provided: <SERVICE_ID> \
             (see `ragkeys keys issue --help`)"
        );
        let line = line_of(&["services", "lst"]);
        assert!(
            line.starts_with("error: unrecognized subcommand 'lst'; tip: "),
            "{line}"
        );
        assert!(line.ends_with("(see `ragkeys services --help`)"), "{line}");
    }

    #[test]
    fn a_missing_command_names_the_commands() {
        let line = line_of(&["services"]);
        assert_eq!(
            line,
            "error: `ragkeys services` needs a command: list, create, delete \
             (see `ragkeys services --help`)"
        );
        // The same line when a flag comes with it (a RAGKEYS_* variable counts as one too).
        assert_eq!(line_of(&["services", "--json"]), line);
    }

    #[test]
    fn an_invalid_value_names_the_help_of_its_command() {
        let line = line_of(&["tokens", "create", "--name", "a", "--role", "admin"]);
        assert!(line.starts_with("error: invalid value 'admin'"), "{line}");
        assert!(
            line.ends_with("(see `ragkeys tokens create --help`)"),
            "{line}"
        );
        let line = line_of(&["--profile", "keys", "completions", "tcsh"]);
        assert!(
            line.ends_with("(see `ragkeys completions --help`)"),
            "{line}"
        );
    }
}
