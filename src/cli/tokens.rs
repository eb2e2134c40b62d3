//! `ragkeys tokens …`. (Being built.)

use crate::args::{GlobalArgs, TokensCommand};

pub fn main(_global: &GlobalArgs, _cmd: &TokensCommand) -> u8 {
    eprintln!("ragkeys tokens: not built yet");
    1
}
