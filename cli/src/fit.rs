//! `simcal fit`: a labeled score table → a calibration artifact (thresholds, Platt and
//! isotonic maps, per group, with bootstrap and exact intervals, held-out numbers from
//! cross-fitting by query, and certified thresholds when asked for).

use super::args::choice;
use super::words::{count, num};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use simcal::calibrate::artifact::Band;
use simcal::calibrate::certify::{CertifyOptions, Grid, Unit};
use simcal::calibrate::{FitOptions, Maps};
use simcal::stats::ltt::Fwer;

#[derive(Args)]
pub struct FitArgs {
    /// A score table (or a TREC run): labeled (`simcal score --qrels`), or labeled here by
    /// `--qrels` (an index's hits, a run).
    #[arg(long, required_unless_present = "from_histograms", conflicts_with = "from_histograms")]
    pub scores: Option<PathBuf>,
    /// Fit from summed score histograms (`simcal hist`) instead of a table: thresholds within
    /// one bin (relative 2⁻¹⁵) of the exact fit's.
    #[arg(long = "from-histograms", num_args = 1.., value_name = "HIST", conflicts_with = "qrels")]
    pub from_histograms: Vec<PathBuf>,
    /// Maps to fit.
    #[arg(long, value_parser = choice::<Maps>(), default_value_t)]
    pub method: Maps,
    /// Target precisions: for each, the threshold with the best recall that reaches it.
    #[arg(long = "target-precision", num_args = 1.., default_values_t = FitOptions::default().target_precision)]
    pub target_precision: Vec<f64>,
    /// Target recalls: for each, the threshold with the best precision that reaches it.
    #[arg(long = "target-recall", num_args = 1..)]
    pub target_recall: Vec<f64>,
    /// Abstain band in probability, LOW:HIGH: act at or above HIGH, not found below LOW.
    #[arg(long, value_name = "LOW:HIGH", default_value_t = FitOptions::default().abstain)]
    pub abstain: Band,
    /// Fit each value of these columns separately (plus the global fit).
    #[arg(long = "group-by", num_args = 1..)]
    pub group_by: Vec<String>,
    /// Groups with fewer labeled pairs are listed, not fitted.
    #[arg(long = "min-pairs", default_value_t = FitOptions::default().min_pairs)]
    pub min_pairs: u64,
    /// Groups with fewer relevant pairs are listed, not fitted.
    #[arg(long = "min-relevant", default_value_t = FitOptions::default().min_relevant)]
    pub min_relevant: u64,
    /// Cross-fit by query: each of K folds of queries is calibrated on the others and measured
    /// on itself (out-of-fold probabilities and held-out precision/recall). 1: off.
    #[arg(long, default_value_t = FitOptions::default().folds)]
    pub folds: usize,
    /// Certify thresholds at this confidence (1 − δ): Learn-Then-Test for precision (and recall
    /// over pairs), conformal risk control for per-query recall. Off when not given.
    #[arg(long)]
    pub confidence: Option<f64>,
    /// The exchangeable unit of certification: each judged query's top hit (precision) and
    /// relevant documents (recall), the unit `apply` decides on; every labeled pair, tested as
    /// clustered in independent queries (`pair`); or pairs assumed independent (`pair-iid`,
    /// MAPIE's assumption).
    #[arg(long, value_parser = choice::<Unit>(), default_value_t)]
    pub unit: Unit,
    /// Family-wise error control of Learn-Then-Test.
    #[arg(long, value_parser = choice::<Fwer>(), default_value_t)]
    pub fwer: Fwer,
    /// Whose certificates to make: each group's and the global one (`group`; δ shared by all),
    /// or the global one alone (`global`: all of δ, for decisions that act on it).
    #[arg(long = "certified-by", value_parser = choice::<simcal::calibrate::certify::CertifiedBy>(), default_value_t)]
    pub certified_by: simcal::calibrate::certify::CertifiedBy,
    /// Candidate thresholds: N quantiles of the units' scores, or a file with one score a line.
    #[arg(long, default_value_t = simcal::calibrate::certify::DEFAULT_GRID.to_string(), value_name = "N|FILE")]
    pub grid: String,
    /// Bootstrap resamples for the thresholds' 95% intervals (0: none).
    #[arg(long, default_value_t = FitOptions::default().bootstrap)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = FitOptions::default().seed)]
    pub seed: u64,
    #[command(flatten)]
    pub labels: super::args::Labels,
    /// Where to write the calibration (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

impl FitArgs {
    pub fn options(&self) -> anyhow::Result<FitOptions> {
        Ok(FitOptions {
            methods: self.method.methods(),
            target_precision: self.target_precision.clone(),
            target_recall: self.target_recall.clone(),
            abstain: self.abstain,
            group_by: self.group_by.clone(),
            min_pairs: self.min_pairs,
            min_relevant: self.min_relevant,
            folds: self.folds,
            certify: match self.confidence {
                None => None,
                Some(confidence) => {
                    let (grid, grid_source) = match self.grid.parse::<usize>() {
                        Ok(n) => (Grid::Quantiles(n), "quantiles".to_owned()),
                        Err(_) => (Grid::read(std::path::Path::new(&self.grid))?, self.grid.clone()),
                    };
                    Some(CertifyOptions { confidence, unit: self.unit, fwer: self.fwer, grid, grid_source })
                }
            },
            certified_by: self.certified_by,
            bootstrap: self.bootstrap,
            seed: self.seed,
            rel_level: self.labels.rel_level,
        })
    }
}

/// What a user should read about one target: its estimate and held-out measurement on the top
/// hits (`top`, the unit decisions use, when the fit has queries), its certified threshold, and
/// its estimate and held-out measurement on the pairs (`t`).
/// `family` is the confidence at which all the fit's certificates hold together.
pub fn threshold_lines(
    t: &simcal::calibrate::artifact::Threshold,
    top: Option<&simcal::calibrate::artifact::Threshold>,
    family: Option<f64>,
) -> Vec<String> {
    let mut v = Vec::new();
    let target = format!("target {} {}", t.target, t.value);
    if let Some(top) = top {
        v.extend(estimate_lines(top, &format!("{target} (top hits, the unit decisions use)"), "query", "queries"));
    }
    v.extend(certified_lines(t, &target, family));
    let head = if top.is_some() { format!("{target} (pairs)") } else { target };
    v.extend(estimate_lines(t, &head, "pair", "pairs"));
    v
}

/// The estimate and held-out lines of a threshold over units named `one`/`many`.
fn estimate_lines(t: &simcal::calibrate::artifact::Threshold, head: &str, one: &str, many: &str) -> Vec<String> {
    let mut v = Vec::new();
    if let (Some(s), Some(p), Some(r), Some(n), Some(tp)) = (t.score, t.precision, t.recall, t.n, t.tp) {
        let ci = t.precision_exact.map(|[a, b]| format!(" (exact 95% {a:.3}–{b:.3})")).unwrap_or_default();
        let small = if t.small_sample { ", SMALL SAMPLE" } else { "" };
        v.push(format!(
            "{head}: estimate score ≥ {s:.4}: precision {p:.4}{ci}, recall {r:.4}, on {} relevant of {} in sample{small}",
            num(tp),
            count(n, one, many)
        ));
    } else if let Some(m) = &t.message {
        v.push(format!("{head}: {m}"));
    }
    if let Some(h) = &t.held_out {
        match (h.precision, h.recall) {
            (Some(p), Some(r)) => {
                let range = h.precision_range.map(|[a, b]| format!(" (folds {a:.3}–{b:.3})")).unwrap_or_default();
                v.push(format!(
                    "{head}: held out: precision {p:.4}{range}, recall {r:.4}, on {} relevant of {}",
                    num(h.tp),
                    count(h.n, one, many)
                ));
            }
            _ => v.push(format!("{head}: held out: no fold's threshold selected a {one}")),
        }
    }
    v
}

/// The certified line of a threshold.
fn certified_lines(t: &simcal::calibrate::artifact::Threshold, head: &str, family: Option<f64>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(c) = &t.certified {
        match c.score {
            Some(s) => {
                let what = match (c.confidence, c.risk_bound) {
                    (Some(conf), _) => format!(
                        "{}{} ≥ {} at confidence {conf:.4} alone{}{}",
                        if c.unit == Unit::Query { "top-hit " } else { "" },
                        c.target,
                        c.value,
                        family
                            .filter(|&f| (f - conf).abs() > 1e-12)
                            .map(|f| format!(", {f} with every other certificate of the fit"))
                            .unwrap_or_default(),
                        c.simultaneous_lower_bound.map(|lb| format!(" (simultaneous lower bound {lb:.4})")).unwrap_or_default()
                    ),
                    (None, Some(b)) => format!("expected miss rate ≤ {b:.4} (in expectation over new queries)"),
                    _ => String::new(),
                };
                v.push(format!(
                    "{head}: certified score ≥ {s:.4} ({}, unit {}, {}): {what}",
                    c.method,
                    c.unit,
                    count(c.units, "unit", "units")
                ));
            }
            None => {
                let more = c
                    .units_needed
                    .map(|n| {
                        format!(
                            "; at the precision observed, about {} more {} would let Bonferroni over the grid certify it at this δ (even odds)",
                            num(n),
                            if c.unit == Unit::Query { "judged queries" } else { "units" }
                        )
                    })
                    .unwrap_or_default();
                v.push(format!("{head}: {}{more}", c.reason.as_deref().unwrap_or("nothing is certified")))
            }
        }
    }
    v
}

// Long: the two sources of a fit (a table, summed histograms) and the text people read for it.
pub fn run(args: FitArgs) -> anyhow::Result<ExitCode> {
    let opts = args.options()?;
    let (art, seconds) = match &args.scores {
        Some(scores) => simcal::calibrate::fit_and_write(scores, args.labels.qrels.as_deref(), &opts, &args.out)?,
        None => {
            let inputs: Vec<&std::path::Path> = args.from_histograms.iter().map(PathBuf::as_path).chain(opts.input_files()).collect();
            simcal::output::check_destinations(&inputs, &[("--out", &args.out)])?;
            let t = Instant::now();
            let h = simcal::calibrate::histogram::Histograms::read_all(&args.from_histograms)?;
            if opts.folds > 1 || opts.certify.is_some() {
                eprintln!("note: histograms hold no queries: no cross-fitting and no certified thresholds");
            }
            let art = simcal::calibrate::fit_histograms(&h, &opts)?;
            art.write(&args.out)?;
            (art, t.elapsed().as_secs_f64())
        }
    };
    for n in art.notes() {
        eprintln!("note: {}", super::worded(&n));
    }
    if args.json {
        let mut v = art.summary(seconds, &args.out);
        let notes: Vec<String> = art.notes().iter().map(|n| super::worded(n)).collect();
        super::set_fields(&mut v, [("schema_version", json!(1)), ("command", json!("fit")), ("notes", json!(notes))]);
        super::print_json(&v)?;
    } else {
        let tops = art.global.decision.as_ref().map(|d| d.thresholds.as_slice()).unwrap_or_default();
        for t in &art.global.thresholds {
            let top = tops.iter().find(|x| x.target == t.target && (x.value - t.value).abs() < 1e-12);
            for line in threshold_lines(t, top, art.certification.as_ref().map(|c| c.confidence)) {
                eprintln!("{line}");
            }
        }
        if let Some(d) = &art.global.decision {
            for (m, x) in &d.metrics {
                let ho = d.held_out_metrics.get(m).map(|h| format!(", {:.4} held out", h.ece)).unwrap_or_default();
                eprintln!(
                    "decisions ({m} map of {}, {} relevant): ECE {:.4} in sample{ho}",
                    count(d.queries, "top hit", "top hits"),
                    num(d.relevant),
                    x.ece
                );
            }
            if let Some(c) = art.global.band_scores.values().next() {
                let by_group = !art.group_by.is_empty()
                    && art.certification.as_ref().is_some_and(|c| c.certified_by == simcal::policy::CertifiedBy::Group);
                eprintln!(
                    "decisions: act at top score ≥ {} ({}), not found below {} ({} map)",
                    if by_group {
                        "each group's own certificate (band_scores of its group)".to_owned()
                    } else {
                        simcal::policy::cutoff_text(c.act, "none")
                    },
                    c.act_rests_on.as_deref().unwrap_or("estimate"),
                    simcal::policy::cutoff_text(c.not_found_below, "none"),
                    c.not_found_map.as_deref().unwrap_or("pair")
                );
            }
            if !d.quality.is_empty() {
                eprintln!("decisions in sample: {}", super::words::quality(&d.quality));
            }
            if !d.held_out_quality.is_empty() {
                eprintln!(
                    "decisions held out (maps and the global certificate refitted without each fold): {}",
                    super::words::quality(&d.held_out_quality)
                );
            }
        }
        if let Some(h) = &art.held_out {
            for (m, x) in &art.global.held_out_metrics {
                let Some(i) = art.global.metrics.get(m) else { continue };
                eprintln!(
                    "pairs ({m}): ECE {:.4} held out ({} folds by query), {:.4} in sample; Brier {:.4} held out, {:.4} in sample",
                    x.ece, h.folds, i.ece, x.brier, i.brier
                );
            }
        }
        eprintln!(
            "{} ({} relevant), {}, {:.2} s → {}",
            count(art.counts.labeled, "labeled pair", "labeled pairs"),
            num(art.counts.relevant),
            count(art.groups.len(), "group", "groups"),
            seconds,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
