//! The key service. (Being built.)

use crate::args::{GlobalArgs, ServeArgs};

/// `ragkeys serve`: returns the process exit code.
pub fn main(_global: &GlobalArgs, _args: &ServeArgs) -> u8 {
    eprintln!("ragkeys serve: not built yet");
    1
}
