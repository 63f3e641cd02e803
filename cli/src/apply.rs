//! `simcal apply`: a calibration applied to a score table: a probability per row, top-k with a
//! floor, and one decision per query.

use super::args::choice;
use super::words::{count, num};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use simcal::policy::{ApplyOptions, CertifiedBy, DecideOn, DecisionCounts};
use simcal::Choice;

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
    /// One row per query: query_id, group, top_doc_id, top_probability, gap, decision, and the
    /// target, threshold and certificate (`all` or a group) it acted on (parquet, or CSV when
    /// the name ends in .csv).
    #[arg(long)]
    pub decisions: Option<PathBuf>,
    /// Drop rows whose probability is below this (a query may be left with no rows).
    #[arg(long)]
    pub floor: Option<f64>,
    /// A top-1 minus top-2 probability gap below this makes the decision `ambiguous`.
    #[arg(long = "min-gap", default_value_t = 0.0)]
    pub min_gap: f64,
    /// The map to use (default: isotonic when fitted, else platt).
    #[arg(long, value_parser = choice::<simcal::calibrate::Method>())]
    pub method: Option<simcal::calibrate::Method>,
    /// What `act` rests on: the certified threshold (act only at or above it; the band decides
    /// escalate / not found) or the estimate (the abstain band alone).
    #[arg(long = "decide-on", value_parser = choice::<DecideOn>(), default_value_t)]
    pub decide_on: DecideOn,
    /// The precision target whose certificate `act` rests on (one the fit was given; default:
    /// its first). Without a certificate for it, no query acts.
    #[arg(long)]
    pub target: Option<f64>,
    /// Whose certificate a group's queries act on: their group's own (a guarantee per group;
    /// a group without one does not act) or the global one (a guarantee over all queries).
    /// Default: whose the fit made (`fit --certified-by`).
    #[arg(long = "certified-by", value_parser = choice::<CertifiedBy>())]
    pub certified_by: Option<CertifiedBy>,
    /// The abstain band in probability, LOW:HIGH (default: the fit's): not found below LOW on
    /// the map of found, act at or above HIGH on the map of top hits (on the estimate); the
    /// maps are not refitted.
    #[arg(long, value_name = "LOW:HIGH")]
    pub abstain: Option<simcal::calibrate::artifact::Band>,
    /// Apply even when the calibration's model or metric differ from the table's (a warning).
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The decisions' counts for people: "act 3, escalate 274, not found 26" (kinds that occur, in
/// that order; ambiguous last).
pub fn counts_text(c: &DecisionCounts) -> String {
    let v: Vec<String> = c.each().into_iter().filter(|&(_, n)| n > 0).map(|(d, n)| format!("{} {}", d.words(), num(n))).collect();
    if v.is_empty() {
        "no queries".to_owned()
    } else {
        v.join(", ")
    }
}

/// What `act` rested on, for people: " (act on the certificate of precision 0.9, each group's
/// own)", or nothing when decided on the estimate.
pub fn resting_on(a: &simcal::policy::Applied) -> String {
    match a.target {
        Some(t) => format!(
            " (act: certified precision {t} at the query unit, {})",
            match a.certified_by {
                CertifiedBy::Group => "each group's own certificate",
                CertifiedBy::Global => "the global certificate, a guarantee over all queries",
            }
        ),
        None => " (act: the estimate's band, nothing certified)".to_owned(),
    }
}

pub fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let opts = ApplyOptions {
        decide_on: args.decide_on,
        target: args.target,
        certified_by: args.certified_by,
        method: args.method,
        floor: args.floor,
        min_gap: args.min_gap,
        abstain: args.abstain,
        force: args.force,
    };
    let a = simcal::policy::apply_to(&args.calibration, &args.scores, &args.out, args.decisions.as_deref(), &opts)?;
    for w in &a.warnings {
        eprintln!("warning: {}", super::worded(w));
    }
    if args.json {
        let mut v = serde_json::to_value(a.summary())?;
        let warnings: Vec<String> = a.warnings.iter().map(|w| super::worded(w)).collect();
        let fields = [
            ("schema_version", json!(1)),
            ("command", json!("apply")),
            ("out", json!(args.out)),
            ("decisions_file", json!(args.decisions)),
            ("warnings", json!(warnings)),
        ];
        super::set_fields(&mut v, fields);
        super::print_json(&v)?;
    } else {
        eprintln!(
            "{}, {} ({}{}) with {} → {}",
            count(a.table.len(), "row", "rows"),
            count(a.decisions.len(), "query", "queries"),
            counts_text(&a.counts()),
            resting_on(&a),
            a.method.name(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
