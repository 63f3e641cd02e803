//! `simcal report`: one self-contained HTML page comparing encoders' score tables.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use simcal::metrics::ranking::{Measure, DEFAULT_MEASURES};
use simcal::report::write_report;

#[derive(Args)]
pub struct ReportArgs {
    /// Score tables, one per encoder (shown side by side).
    #[arg(long, num_args = 1.., required = true)]
    pub scores: Vec<PathBuf>,
    /// Calibrations (`simcal fit`), each shown with the table of the same model; a table without
    /// one gets a calibration fitted on itself, marked in-sample.
    #[arg(long, num_args = 1..)]
    pub calibration: Vec<PathBuf>,
    #[command(flatten)]
    pub labels: super::args::Labels,
    /// Group columns for the thresholds' spread (default: the calibration's).
    #[arg(long = "group-by", num_args = 1..)]
    pub group_by: Vec<String>,
    /// Ranking measures (trec_eval names).
    #[arg(long, num_args = 1.., default_value = DEFAULT_MEASURES)]
    pub metrics: Vec<String>,
    /// Where to write the page.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let measures = Measure::parse_list(&args.metrics)?;
    write_report(
        &args.scores,
        &args.calibration,
        args.labels.qrels.as_deref(),
        &args.group_by,
        measures,
        args.labels.rel_level,
        &args.out,
    )?;
    eprintln!("report → {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
