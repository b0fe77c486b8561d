//! The `cordon` binary: parse the command line, run, render the one
//! top-level error, exit with the documented code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cordon::cli::Cli::parse();
    cordon::logging::init(cli.verbose);
    match cordon::app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            cordon::error::report(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
