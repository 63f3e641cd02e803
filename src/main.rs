//! The `simcal` command: parse, dispatch, print errors, exit with the right code.

fn main() -> std::process::ExitCode {
    simcal_cli::main()
}

#[path = "cli/mod.rs"]
mod simcal_cli;
