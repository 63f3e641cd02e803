//! `simcal apply`: a calibration applied to a score table: a probability per row, top-k with a
//! floor, and one decision per query.

use super::words::{count, num};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use simcal::calibrate::artifact::Artifact;
use simcal::policy::{apply, write_decisions, Applied, ApplyOptions, DecideOn, Decision};
use simcal::table::{read_table, write_parquet};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DecideOnArg {
    Certified,
    Estimate,
}

#[derive(Args)]
pub struct ApplyArgs {
    /// The calibration (`simcal fit`).
    #[arg(long)]
    pub calibration: PathBuf,
    /// A score table.
    #[arg(long)]
    pub scores: PathBuf,
    /// Where to write the table with its `probability` column.
    #[arg(long)]
    pub out: PathBuf,
    /// One row per query: query_id, group, top_doc_id, top_probability, gap, decision
    /// (parquet, or CSV when the name ends in .csv).
    #[arg(long)]
    pub decisions: Option<PathBuf>,
    /// Drop rows whose probability is below this (a query may be left with no rows).
    #[arg(long)]
    pub floor: Option<f64>,
    /// A top-1 minus top-2 probability gap below this makes the decision `ambiguous`.
    #[arg(long = "min-gap", default_value_t = 0.0)]
    pub min_gap: f64,
    /// The map to use (default: isotonic when fitted, else platt).
    #[arg(long, value_enum)]
    pub method: Option<super::fit::MapArg>,
    /// What `act` rests on: the certified threshold (act only at or above it; the band decides
    /// escalate / not found) or the estimate (the abstain band alone).
    #[arg(long = "decide-on", value_enum, default_value = "certified")]
    pub decide_on: DecideOnArg,
    /// Apply even when the calibration's model or metric differ from the table's (a warning).
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Applies and writes the outputs.
pub fn execute(cal: &Path, scores: &Path, out: &Path, decisions: Option<&Path>, opts: &ApplyOptions) -> anyhow::Result<Applied> {
    let mut outputs = vec![("--out", out)];
    outputs.extend(decisions.map(|d| ("--decisions", d)));
    simcal::output::check_destinations(&[cal, scores], &outputs)?;
    let art = Artifact::read(cal)?;
    let table = read_table(scores)?;
    let applied = apply(&table, scores, &art, cal, opts)?;
    write_parquet(&applied.table, out)?;
    if let Some(d) = decisions {
        write_decisions(&applied.decisions, d)?;
    }
    Ok(applied)
}

/// Each kind of decision (its JSON key, its name for people) and how many queries got it.
fn tally(a: &Applied) -> [(&'static str, &'static str, usize); 4] {
    let n = |d: Decision| a.decisions.iter().filter(|x| x.decision == d).count();
    [
        ("act", "act", n(Decision::Act)),
        ("escalate", "escalate", n(Decision::Escalate)),
        ("not_found", "not found", n(Decision::NotFound)),
        ("ambiguous", "ambiguous", n(Decision::Ambiguous)),
    ]
}

pub fn counts(a: &Applied) -> serde_json::Value {
    serde_json::Value::Object(tally(a).into_iter().map(|(key, _, c)| (key.to_owned(), json!(c))).collect())
}

/// The decisions' counts for people: "act 3, escalate 274, not found 26" (kinds that occur, in
/// that order; ambiguous last).
pub fn counts_text(a: &Applied) -> String {
    let v: Vec<String> = tally(a).into_iter().filter(|&(_, _, c)| c > 0).map(|(_, name, c)| format!("{name} {}", num(c))).collect();
    if v.is_empty() {
        "no queries".to_owned()
    } else {
        v.join(", ")
    }
}

pub fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let method = args.method.map(super::fit::MapArg::method);
    let decide_on = match args.decide_on {
        DecideOnArg::Certified => DecideOn::Certified,
        DecideOnArg::Estimate => DecideOn::Estimate,
    };
    let opts = ApplyOptions { decide_on, method, floor: args.floor, min_gap: args.min_gap, force: args.force };
    let a = execute(&args.calibration, &args.scores, &args.out, args.decisions.as_deref(), &opts)?;
    for w in &a.warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        super::print_json(&json!({
            "schema_version": 1,
            "command": "apply",
            "method": a.method.name(),
            "decided_on": a.decided_on.name(),
            "rows": a.table.len(),
            "queries": a.decisions.len(),
            "decisions": counts(&a),
            "out": args.out,
            "decisions_file": args.decisions,
            "warnings": a.warnings,
        }))?;
    } else {
        eprintln!(
            "{}, {} ({}) with {} → {}",
            count(a.table.len(), "row", "rows"),
            count(a.decisions.len(), "query", "queries"),
            counts_text(&a),
            a.method.name(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
