//! `simcal merge`: the parts of a sharded `simcal score` → one score table.

use super::words::count;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use simcal::table::{merge_parts, MergeSummary};

#[derive(Args)]
pub struct MergeArgs {
    /// The parts: one score table per shard, as `simcal score --shard I/N` wrote them.
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,
    #[command(flatten)]
    pub output: super::args::TableOut,
}

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let inputs: Vec<&std::path::Path> = args.parts.iter().map(std::path::PathBuf::as_path).collect();
    simcal::output::check_destinations(&inputs, &[("--out", &args.output.out)])?;
    let start = Instant::now();
    let table = merge_parts(&args.parts)?;
    simcal::table::write_table(&table, &args.output.out, args.output.format)?;
    let seconds = start.elapsed().as_secs_f64();
    if args.output.json {
        let mut v = serde_json::to_value(MergeSummary::new(&args.parts, &table))?;
        let fields =
            [("schema_version", json!(1)), ("command", json!("merge")), ("seconds", json!(seconds)), ("out", json!(args.output.out))];
        super::set_fields(&mut v, fields);
        super::print_json(&v)?;
    } else {
        eprintln!(
            "{} merged from {} in {:.2} s → {}",
            count(table.len(), "row", "rows"),
            count(args.parts.len(), "part", "parts"),
            seconds,
            args.output.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
