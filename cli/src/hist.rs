//! `simcal hist`: a labeled score table → its relevant and irrelevant score histograms (per
//! group), which sum across tables and feed `simcal fit --from-histograms`.

use super::words::{count, num};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use simcal::calibrate::histogram::hist_files;

#[derive(Args)]
pub struct HistArgs {
    /// A labeled score table.
    #[arg(long)]
    pub scores: PathBuf,
    /// Also count each value of these columns apart.
    #[arg(long = "group-by", num_args = 1..)]
    pub group_by: Vec<String>,
    #[command(flatten)]
    pub rel: super::args::RelLevel,
    /// Add these histogram files' counts (tables already summed in are refused).
    #[arg(long = "add", num_args = 1.., value_name = "HIST")]
    pub add: Vec<PathBuf>,
    /// Output file (JSON, written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: HistArgs) -> anyhow::Result<ExitCode> {
    let inputs: Vec<&std::path::Path> = std::iter::once(&args.scores).chain(&args.add).map(std::path::PathBuf::as_path).collect();
    simcal::output::check_destinations(&inputs, &[("--out", &args.out)])?;
    let h = hist_files(&args.scores, args.rel.rel_level, &args.group_by, &args.add)?;
    simcal::output::write_json(&args.out, &h)?;
    let (rel, irr) = h.pairs();
    if args.json {
        let mut v = serde_json::to_value(h.summary())?;
        super::set_fields(&mut v, [("schema_version", json!(1)), ("command", json!("hist")), ("out", json!(args.out))]);
        super::print_json(&v)?;
    } else {
        eprintln!(
            "{} relevant + {} from {} in {} (relative width 2^-15), {} → {}",
            num(rel),
            count(irr, "irrelevant pair", "irrelevant pairs"),
            count(h.sources.len(), "table", "tables"),
            count(h.global.bins.len(), "bin", "bins"),
            count(h.groups.len(), "group", "groups"),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
