//! `simcal report`: one self-contained HTML page comparing encoders' score tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use simcal::calibrate::artifact::Artifact;
use simcal::labels::read_qrels;
use simcal::metrics::ranking::{Measure, DEFAULT_MEASURES};
use simcal::metrics::EvalOptions;
use simcal::report::{encoder, render};
use simcal::table::read_table;

#[derive(Args)]
pub struct ReportArgs {
    /// Score tables, one per encoder (shown side by side).
    #[arg(long, num_args = 1.., required = true)]
    pub scores: Vec<PathBuf>,
    /// Calibrations (`simcal fit`), each shown with the table of the same model; a table without
    /// one gets a calibration fitted on itself, marked in-sample.
    #[arg(long, num_args = 1..)]
    pub calibration: Vec<PathBuf>,
    /// Judgements (default: the tables' labels).
    #[arg(long)]
    pub qrels: Option<PathBuf>,
    /// Group columns for the thresholds' spread (default: the calibration's).
    #[arg(long = "group-by", num_args = 1..)]
    pub group_by: Vec<String>,
    /// Ranking measures (trec_eval names).
    #[arg(long, num_args = 1.., default_value = DEFAULT_MEASURES)]
    pub metrics: Vec<String>,
    /// Labels at or above this are relevant.
    #[arg(long = "rel-level", default_value_t = 1)]
    pub rel_level: i32,
    /// Where to write the page.
    #[arg(long)]
    pub out: PathBuf,
}

/// Builds the page for `scores` (with `calibrations` matched by model) and writes it to `out`.
pub fn execute(
    scores: &[PathBuf],
    calibrations: &[PathBuf],
    qrels: Option<&Path>,
    group_by: &[String],
    measures: Vec<Measure>,
    rel_level: i32,
    out: &Path,
) -> anyhow::Result<()> {
    let inputs: Vec<&Path> = scores.iter().chain(calibrations).map(PathBuf::as_path).chain(qrels).collect();
    simcal::output::check_destinations(&inputs, &[("--out", out)])?;
    let qrels = qrels.map(read_qrels).transpose()?;
    let arts: Vec<(Artifact, PathBuf)> = calibrations.iter().map(|p| Ok((Artifact::read(p)?, p.clone()))).collect::<anyhow::Result<_>>()?;
    for (i, (a, p)) in arts.iter().enumerate() {
        if let Some((_, q)) = arts.iter().take(i).find(|(b, _)| b.model == a.model) {
            anyhow::bail!("--calibration {}: {} is also for model {:?}; give one calibration per model", p.display(), q.display(), a.model);
        }
    }
    let tables: Vec<_> = scores.iter().map(|p| read_table(p)).collect::<simcal::Result<_>>()?;
    // A calibration that matches no table would be ignored and an in-sample fit drawn instead.
    for (a, p) in &arts {
        if !tables.iter().any(|t| t.meta.model == a.model) {
            let models: Vec<String> = tables.iter().map(|t| format!("{:?}", t.meta.model)).collect();
            anyhow::bail!(
                "--calibration {}: its model {:?} is none of the score tables' ({}): a calibration is matched to a table by model",
                p.display(),
                a.model,
                models.join(", ")
            );
        }
    }
    let mut encoders = Vec::new();
    for (table, path) in tables.into_iter().zip(scores) {
        let art = arts.iter().find(|(a, _)| a.model == table.meta.model).cloned();
        let group_by =
            if !group_by.is_empty() { group_by.to_vec() } else { art.as_ref().map(|(a, _)| a.group_by.clone()).unwrap_or_default() };
        let opts = EvalOptions { measures: measures.clone(), group_by, rel_level, ..EvalOptions::default() };
        encoders.push(encoder(&table, path, qrels.as_ref(), art, &opts)?);
    }
    let page = render(&encoders, &simcal::calibrate::created());
    simcal::output::write_atomic(out, |w| {
        use std::io::Write;
        w.write_all(page.as_bytes()).map_err(|e| simcal::error::Error::Io { path: out.to_path_buf(), source: e })
    })?;
    Ok(())
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let measures = Measure::parse_list(&args.metrics)?;
    execute(&args.scores, &args.calibration, args.qrels.as_deref(), &args.group_by, measures, args.rel_level, &args.out)?;
    eprintln!("report → {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
