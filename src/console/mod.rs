//! The terminal console. (Being built.)

use crate::args::{ConsoleArgs, GlobalArgs};

/// `ragkeys` with no subcommand: returns the process exit code.
pub fn main(_global: &GlobalArgs, _args: &ConsoleArgs) -> u8 {
    eprintln!("ragkeys console: not built yet");
    1
}

pub mod clipboard;
pub mod msg;
pub mod terminal;
