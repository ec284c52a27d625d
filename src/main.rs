//! The `coconut-lake` binary: parses arguments, runs the command, maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: the receiver and the reports allocate many
/// small, short-lived buffers from several threads, where glibc's malloc spends a quarter
/// of the receiver's time (see the README's receiver benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
