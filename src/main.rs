use std::process::ExitCode;

use ragkeys::args::{Cli, Command};

fn main() -> ExitCode {
    let (cli, mut global) = Cli::parse_resolved();
    if let Err(e) = ragkeys::cli::secrets::settle(cli.command.as_ref(), &mut global) {
        ragkeys::cli::output::print_error(&e);
        return ExitCode::from(e.code);
    }
    let code = match cli.command {
        None => ragkeys::console::main(&global, &cli.console),
        Some(Command::Serve(cmd)) => ragkeys::server::main(&global, &cmd.serve),
        Some(Command::Tokens(cmd)) => ragkeys::cli::tokens::main(&global, &cmd.command, &cmd.store),
        Some(Command::Backup(cmd)) => ragkeys::cli::backup::main(&global, &cmd),
        Some(cmd) => ragkeys::cli::main(&global, cmd),
    };
    ExitCode::from(code)
}
