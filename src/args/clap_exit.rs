//! clap's own answers (help, version, usage errors), given with the CLI's manners (docs/cli.md,
//! Output): an error is one line, `error: …`, exit 2; help and the
//! version go to stdout, and a stdout that cannot be written is `error: cannot write to stdout:
//! <reason>` and exit 1, while a closed pipe (`| head`) is not an error.

use std::io::Write;

use clap::error::ErrorKind;

/// Prints what clap had to say and ends the process with its documented exit code.
pub fn exit(e: clap::Error) -> ! {
    if e.use_stderr() {
        let line = usage_error_line(&e);
        let mut err = std::io::stderr().lock();
        // A stderr that went away leaves nothing to tell; the exit code still says it.
        let _ = err.write_all(format!("{line}\n").as_bytes());
        let _ = err.flush();
        std::process::exit(crate::cli::error::USAGE.into());
    }
    let written = e.print().and_then(|()| std::io::stdout().flush());
    match written {
        Err(w) if w.kind() != std::io::ErrorKind::BrokenPipe => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: cannot write to stdout: {w}");
            std::process::exit(crate::cli::error::OTHER.into());
        }
        _ => std::process::exit(crate::cli::error::OK.into()),
    }
}

/// clap's multi-line usage error folded into one `error: …` line that names the `--help` to read.
/// The user's own arguments are echoed only without control or bidi characters.
pub fn usage_error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let command = command_path(&text);
    let see = format!("see `{command} --help`");
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
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

/// `ragkeys keys issue` from clap's `Usage: ragkeys keys issue [OPTIONS] <SERVICE_ID>` line.
fn command_path(text: &str) -> String {
    let usage = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage:"))
        .unwrap_or("ragkeys");
    let words: Vec<&str> = usage
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    if words.is_empty() {
        "ragkeys".to_owned()
    } else {
        crate::cli::error::one_line(&words.join(" "))
    }
}

/// The names under the help's `Commands:` heading, `help` left out.
fn subcommands(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
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

    #[test]
    fn usage_errors_are_one_line_naming_the_help_to_read() {
        let line = usage_error_line(&error_of(&["keys", "issue"]));
        assert_eq!(
            line,
            "error: the following required arguments were not provided: <SERVICE_ID> \
             (see `ragkeys keys issue --help`)"
        );
        let line = usage_error_line(&error_of(&["services", "lst"]));
        assert!(
            line.starts_with("error: unrecognized subcommand 'lst'; tip: "),
            "{line}"
        );
        assert!(line.ends_with("(see `ragkeys services --help`)"), "{line}");
    }

    #[test]
    fn a_missing_command_names_the_commands() {
        let line = usage_error_line(&error_of(&["services"]));
        assert_eq!(
            line,
            "error: `ragkeys services` needs a command: list, create, delete \
             (see `ragkeys services --help`)"
        );
    }
}
