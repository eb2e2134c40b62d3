//! The commands for scripts. (Being built.)

pub mod tokens;

use crate::args::{Command, GlobalArgs};

/// `ragkeys services|keys|completions`: returns the process exit code.
pub fn main(_global: &GlobalArgs, _cmd: Command) -> u8 {
    eprintln!("ragkeys: not built yet");
    1
}
