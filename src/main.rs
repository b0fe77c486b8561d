//! The `cordon` binary: parse the command line, run, render the one
//! top-level error, exit with the documented code.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match cordon::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version were asked for: they go to stdout. Usage
            // errors go to stderr with cordon's own failure status.
            let _ = err.print();
            return match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(cordon::exit::CORDON_FAILED),
            };
        }
    };
    cordon::logging::init(cli.verbose);
    match cordon::app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            cordon::error::report(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
