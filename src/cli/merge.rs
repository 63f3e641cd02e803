//! `simcal merge`: the parts of a sharded `simcal score` → one score table.

use super::words::count;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use simcal::table::merge_parts;

use super::score::FormatArg;

#[derive(Args)]
pub struct MergeArgs {
    /// The parts: one score table per shard, as `simcal score --shard I/N` wrote them.
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: FormatArg,
    /// Output file (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let inputs: Vec<&std::path::Path> = args.parts.iter().map(std::path::PathBuf::as_path).collect();
    simcal::output::check_destinations(&inputs, &[("--out", &args.out)])?;
    let start = Instant::now();
    let table = merge_parts(&args.parts)?;
    super::score::write_output(&table, &args.out, args.format)?;
    let seconds = start.elapsed().as_secs_f64();
    if args.json {
        super::print_json(&json!({
            "schema_version": 1,
            "command": "merge",
            "parts": args.parts,
            "rows": table.len(),
            "k": table.meta.k,
            "model": table.meta.model,
            "seconds": seconds,
            "out": args.out,
        }))?;
    } else {
        eprintln!(
            "{} merged from {} in {:.2} s → {}",
            count(table.len(), "row", "rows"),
            count(args.parts.len(), "part", "parts"),
            seconds,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
