use std::process::ExitCode;

use clap::Parser;

use ragkeys::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        None => ragkeys::console::main(&cli.global, &cli.console),
        Some(Command::Serve(args)) => ragkeys::server::main(&cli.global, &args),
        Some(Command::Tokens(cmd)) => ragkeys::cli::tokens::main(&cli.global, &cmd),
        Some(cmd) => ragkeys::cli::main(&cli.global, cmd),
    };
    ExitCode::from(code)
}
