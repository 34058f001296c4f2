//! The `sparsefill` command-line tool.

mod cli;

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    // A negative number is read as a value, so that `--seed -1` is refused as an invalid seed (naming the
    // flag) rather than as an unknown option `-1`.
    let mut command = cli::Cli::command().mut_subcommands(|sub| sub.mut_args(|arg| arg.allow_negative_numbers(true)));
    let mut matches = command.clone().get_matches();
    let args = cli::Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.format(&mut command).exit());
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
