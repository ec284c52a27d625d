//! The `coconut-lake` binary: parses arguments, runs the command, maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = coconut_lake::cli::Cli::parse();
    match coconut_lake::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = coconut_lake::cli::exit_code(&error);
            coconut_lake::cli::output::error(&error);
            ExitCode::from(code)
        }
    }
}
