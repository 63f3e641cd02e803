//! `simcal fit`: a labeled score table → a calibration artifact (thresholds, Platt and
//! isotonic maps, per group, with bootstrap intervals).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde_json::json;

use simcal::artifact::{Artifact, Band};
use simcal::calibrate::{fit_table, FitOptions, Method};
use simcal::table::read_table_columns;

#[derive(Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Isotonic,
    Platt,
    All,
}

#[derive(Args)]
pub struct FitArgs {
    /// A labeled score table (`simcal score --qrels`).
    #[arg(long, required_unless_present = "from_histograms", conflicts_with = "from_histograms")]
    pub scores: Option<PathBuf>,
    /// Fit from summed score histograms (`simcal hist`) instead of a table: thresholds within
    /// one bin (relative 2⁻¹⁵) of the exact fit's.
    #[arg(long = "from-histograms", num_args = 1.., value_name = "HIST")]
    pub from_histograms: Vec<PathBuf>,
    /// Maps to fit.
    #[arg(long, value_enum, default_value = "all")]
    pub method: MethodArg,
    /// Target precisions: for each, the threshold with the best recall that reaches it.
    #[arg(long = "target-precision", num_args = 1.., default_values_t = [0.9])]
    pub target_precision: Vec<f64>,
    /// Target recalls: for each, the threshold with the best precision that reaches it.
    #[arg(long = "target-recall", num_args = 1..)]
    pub target_recall: Vec<f64>,
    /// Abstain band in probability, LOW:HIGH: act at or above HIGH, not found below LOW.
    #[arg(long, default_value = "0.5:0.9")]
    pub abstain: String,
    /// Fit each value of these columns separately (plus the global fit).
    #[arg(long = "group-by", num_args = 1..)]
    pub group_by: Vec<String>,
    /// Groups with fewer labeled pairs are listed, not fitted.
    #[arg(long = "min-pairs", default_value_t = 50)]
    pub min_pairs: u64,
    /// Bootstrap resamples for the thresholds' 95% intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Labels at or above this are relevant.
    #[arg(long = "rel-level", default_value_t = 1)]
    pub rel_level: i32,
    /// Where to write the calibration (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

fn band(s: &str) -> anyhow::Result<Band> {
    let (lo, hi) = s.split_once(':').ok_or_else(|| anyhow::anyhow!("--abstain {s:?}: expected LOW_P:HIGH_P, e.g. 0.5:0.9"))?;
    let p = |v: &str| v.trim().parse::<f64>().map_err(|_| anyhow::anyhow!("--abstain {s:?}: {v:?} is not a number"));
    Ok(Band { low: p(lo)?, high: p(hi)? })
}

impl FitArgs {
    pub fn options(&self) -> anyhow::Result<FitOptions> {
        Ok(FitOptions {
            methods: match self.method {
                MethodArg::Isotonic => vec![Method::Isotonic],
                MethodArg::Platt => vec![Method::Platt],
                MethodArg::All => vec![Method::Isotonic, Method::Platt],
            },
            target_precision: self.target_precision.clone(),
            target_recall: self.target_recall.clone(),
            abstain: band(&self.abstain)?,
            group_by: self.group_by.clone(),
            min_pairs: self.min_pairs,
            bootstrap: self.bootstrap,
            seed: self.seed,
            rel_level: self.rel_level,
        })
    }
}

/// Fits and writes; returns the artifact and the seconds it took.
pub fn execute(scores: &std::path::Path, opts: &FitOptions, out: &std::path::Path) -> anyhow::Result<(Artifact, f64)> {
    let t = Instant::now();
    // Only the columns a fit reads: scores, labels and the group columns.
    let mut cols = vec!["score", "label"];
    cols.extend(opts.group_by.iter().map(String::as_str));
    let table = read_table_columns(scores, Some(&cols))?;
    let art = fit_table(&table, scores, opts)?;
    art.write(out)?;
    Ok((art, t.elapsed().as_secs_f64()))
}

/// Lines worth printing about an artifact: unreachable targets, groups not fitted, failed maps.
pub fn notes(art: &Artifact) -> Vec<String> {
    let mut v = Vec::new();
    for g in std::iter::once(&art.global).chain(&art.groups) {
        if let Some(r) = &g.reason {
            v.push(format!("group {}: not fitted: {r}", g.key));
        }
        if let Some(e) = &g.platt_error {
            v.push(format!("group {}: no Platt map: {e}", g.key));
        }
        for t in &g.thresholds {
            if let Some(m) = &t.message {
                v.push(format!("group {}: target {} {}: {m}", g.key, t.target, t.value));
            }
        }
    }
    v
}

pub fn summary_json(art: &Artifact, seconds: f64, out: &std::path::Path) -> serde_json::Value {
    json!({
        "out": out,
        "seconds": seconds,
        "labeled": art.counts.labeled,
        "relevant": art.counts.relevant,
        "methods": art.methods,
        "global": {
            "platt": art.global.platt,
            "isotonic_breakpoints": art.global.isotonic.as_ref().map(|i| i.x.len()),
            "thresholds": art.global.thresholds,
            "metrics": art.global.metrics,
        },
        "groups": art.groups.iter().map(|g| json!({"key": g.key, "n": g.n, "fitted": g.fitted, "reason": g.reason})).collect::<Vec<_>>(),
        "notes": notes(art),
    })
}

pub fn run(args: FitArgs) -> anyhow::Result<ExitCode> {
    let opts = args.options()?;
    let (art, seconds) = match &args.scores {
        Some(scores) => execute(scores, &opts, &args.out)?,
        None => {
            let t = Instant::now();
            let h = simcal::calibrate::histogram::Histograms::read_all(&args.from_histograms)?;
            let art = simcal::calibrate::fit_histograms(&h, &opts)?;
            art.write(&args.out)?;
            (art, t.elapsed().as_secs_f64())
        }
    };
    for n in notes(&art) {
        eprintln!("note: {n}");
    }
    if args.json {
        let mut v = summary_json(&art, seconds, &args.out);
        v["schema_version"] = json!(1);
        v["command"] = json!("fit");
        super::print_json(&v)?;
    } else {
        for t in &art.global.thresholds {
            if let (Some(s), Some(p), Some(r)) = (t.score, t.precision, t.recall) {
                let ci =
                    t.interval.as_ref().and_then(|i| i.score).map(|[a, b]| format!(" (95% interval {a:.4}–{b:.4})")).unwrap_or_default();
                eprintln!("target {} {}: score ≥ {s:.4}{ci} gives precision {p:.4}, recall {r:.4}", t.target, t.value);
            }
        }
        eprintln!(
            "{} labeled pairs ({} relevant), {} groups, {:.2} s → {}",
            art.counts.labeled,
            art.counts.relevant,
            art.groups.len(),
            seconds,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
