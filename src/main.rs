//! The `simcal` command: parse, dispatch, print errors, exit with the right code.

// No unwrap or expect on the way from the command line to the library.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

// The stages of a fit allocate and free arrays of millions of elements one after another; an
// allocator that keeps freed memory for the next one saves the page faults of fresh mappings.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    simcal_cli::main()
}

#[path = "cli/mod.rs"]
mod simcal_cli;
