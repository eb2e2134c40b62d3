//! Asking before a delete: y/N on stderr, the answer from stdin; never without a terminal.

use std::io::{BufRead, IsTerminal, Write};

use super::error::CliError;

/// Refuses early (exit 2) when nobody can be asked and `--yes` was not given.
pub fn check_can_ask(yes: bool) -> Result<(), CliError> {
    check_can_ask_to(yes, "delete")
}

/// As [`check_can_ask`], for another action that stops a key (`disable`, `rotate with --grace 0`).
pub fn check_can_ask_to(yes: bool, action: &str) -> Result<(), CliError> {
    if yes || std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "refusing to {action} without confirmation: stdin is not a terminal; pass --yes to \
         {action} without asking"
    )))
}

/// `question [y/N] ` on stderr; true only for y or yes.
pub fn ask(question: &str) -> Result<bool, CliError> {
    let mut err = std::io::stderr().lock();
    let question = super::output::for_terminal(question);
    write!(err, "{} [y/N] ", super::error::one_line(&question))
        .and_then(|()| err.flush())
        .map_err(|e| CliError::other(format!("cannot write to stderr: {e}")))?;
    drop(err);
    let mut line = String::new();
    // A person thinking is not the service being slow: the command's deadline waits.
    super::deadline::excluded(|| std::io::stdin().lock().read_line(&mut line))
        .map_err(|e| CliError::other(format!("cannot read the answer: {e}")))?;
    Ok(is_yes(&line))
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// The answer was not yes.
pub fn cancelled() -> CliError {
    CliError::other("cancelled: nothing was deleted")
}

/// The answer was not yes, for an action that is not a delete.
pub fn cancelled_unchanged() -> CliError {
    CliError::other("cancelled: nothing was changed")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_y_or_yes_confirms() {
        for a in ["y\n", "Y", " yes \n", "YES"] {
            assert!(super::is_yes(a), "{a:?}");
        }
        for a in ["", "\n", "n", "no", "yess", "ok"] {
            assert!(!super::is_yes(a), "{a:?}");
        }
    }
}
