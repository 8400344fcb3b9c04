//! The `tradeledger` command line. Thin: parsing arguments, calling the library, printing.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRADELEDGER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = match cli::parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    match cli::run(args) {
        Ok(code) => code,
        // The reader of our output stopped reading (`| head`): nothing more to say.
        Err(error) if cli::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", cli::error_text(&error));
            cli::exit_code_for(&error)
        }
    }
}
