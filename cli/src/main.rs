//! The command line: clap definitions (one file per subcommand), dispatch, error printing and
//! exit codes. This is the only place that prints, draws progress bars or exits.
//!
//! Exit codes: 0 success; 1 a gate tripped; 2 bad usage or bad input.

// No unwrap or expect on the way from the command line to the library.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

// The stages of a fit allocate and free arrays of millions of elements one after another; an
// allocator that keeps freed memory for the next one saves the page faults of fresh mappings.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `println!` that returns a failed write (a closed pipe, a full disk) as the command's error
/// instead of panicking; `main` exits quietly on a closed pipe, as `head` expects.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod apply;
mod args;
mod compare;
mod drift;
mod eval;
mod fit;
mod fuse;
mod hist;
mod merge;
mod progress;
mod report;
mod run;
mod score;
mod words;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "simcal", version, about = "Exact top-k scoring of embeddings and calibration of the scores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Let the GPU drivers' own messages through to stderr (silenced by default).
    #[arg(long, global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Score queries against a corpus: exact top-k, written as a score table.
    Score(Box<score::ScoreArgs>),
    /// Fit a calibration (thresholds, Platt and isotonic maps) to a labeled score table.
    Fit(Box<fit::FitArgs>),
    /// Apply a calibration: probabilities, a floor, and a decision per query.
    Apply(Box<apply::ApplyArgs>),
    /// Evaluate a score table: ranking measures, separation, and a calibration's reliability.
    Eval(Box<eval::EvalArgs>),
    /// Compare runs (encoders) with paired significance tests, per measure and pair, and their calibrations.
    Compare(Box<compare::CompareArgs>),
    /// Compare a new labeled table with a calibration's baseline: exit 1 when it drifted.
    Drift(Box<drift::DriftArgs>),
    /// Write one self-contained HTML page comparing encoders' score tables.
    Report(Box<report::ReportArgs>),
    /// Fuse score tables or TREC runs (RRF, CombSUM, CombMNZ, max, weighted sum) into one table.
    Fuse(Box<fuse::FuseArgs>),
    /// Merge the parts of a sharded `simcal score --shard I/N` into one score table (exact).
    Merge(Box<merge::MergeArgs>),
    /// Count a labeled table's relevant and irrelevant scores into histograms that sum across tables.
    Hist(Box<hist::HistArgs>),
    /// Run the pipeline (with no arguments: on the sample in data/, into out/).
    Run(run::RunArgs),
}

/// Parses the command line, runs it and turns the outcome into an exit code.
// Long: one arm per command.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    simcal::score::gpu::show_driver_messages(cli.verbose);
    // The worker threads, started now so that a failure (a process or memory limit) is an
    // error with a message instead of a panic inside the first parallel step.
    if let Err(e) = rayon::ThreadPoolBuilder::new().build_global() {
        eprintln!("error: cannot start worker threads: {e}");
        return ExitCode::from(2);
    }
    #[cfg(unix)]
    if let Err(e) = simcal::output::remove_temporaries_on_signals() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    // A command writes all of its outputs or none: its files are staged and renamed into place
    // once it succeeds. `run` is a pipeline whose stages read what the earlier ones wrote: each
    // stage's files land as it ends, and its manifest (run.json) last.
    let transaction = !matches!(cli.command, Command::Run(_));
    if transaction {
        simcal::output::begin();
    }
    let result = match cli.command {
        Command::Score(a) => score::run(*a),
        Command::Fit(a) => fit::run(*a),
        Command::Apply(a) => apply::run(*a),
        Command::Eval(a) => eval::run(*a),
        Command::Compare(a) => compare::run(*a),
        Command::Drift(a) => drift::run(*a),
        Command::Report(a) => report::run(*a),
        Command::Fuse(a) => fuse::run(*a),
        Command::Merge(a) => merge::run(*a),
        Command::Hist(a) => hist::run(*a),
        Command::Run(a) => run::run(a),
    };
    // A closed stdout (`| head`) is not a failure: the outputs are kept.
    let result = match result {
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        r => r,
    };
    let result = match result {
        Ok(code) if transaction => simcal::output::commit().map(|()| code).map_err(anyhow::Error::from),
        Ok(code) => Ok(code),
        Err(e) => {
            simcal::output::abandon();
            Err(e)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", worded(&e.to_string()));
            // A cause the message above already quotes (an I/O error after its path) is not
            // printed again.
            let mut said = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !said.contains(&c) {
                    eprintln!("  caused by: {}", worded(&c));
                }
                said = c;
            }
            ExitCode::from(2)
        }
    }
}

/// A message of the library worded for the command line: each option it names in backquotes
/// that is one of the command's flags becomes that flag (`` `rrf_k` `` → `--rrf-k`).
fn worded(message: &str) -> String {
    use clap::CommandFactory;
    static FLAGS: std::sync::OnceLock<std::collections::HashSet<String>> = std::sync::OnceLock::new();
    let flags = FLAGS.get_or_init(|| {
        let cli = Cli::command();
        let args = cli.get_arguments().chain(cli.get_subcommands().flat_map(clap::Command::get_arguments));
        args.filter_map(clap::Arg::get_long).map(str::to_owned).collect()
    });
    simcal::error::word_options(message, |name| {
        let flag = name.replace('_', "-");
        flags.contains(&flag).then(|| format!("--{flag}"))
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let pipe = Some(std::io::ErrorKind::BrokenPipe);
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().map(std::io::Error::kind) == pipe
            || c.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind) == pipe
    })
}

/// Sets `fields` in the JSON object `value` (a document serialised from a struct); a value
/// that is not an object is left as it is.
fn set_fields<const N: usize>(value: &mut serde_json::Value, fields: [(&str, serde_json::Value); N]) {
    if let Some(o) = value.as_object_mut() {
        o.extend(fields.map(|(k, v)| (k.to_owned(), v)));
    }
}

/// Writes `value` as one JSON document on stdout.
fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Writes `value` as pretty JSON to `path`, atomically.
fn write_json(path: &std::path::Path, value: &serde_json::Value) -> anyhow::Result<()> {
    Ok(simcal::output::write_json(path, value)?)
}
