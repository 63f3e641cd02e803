//! `simcal eval`: ranking measures (trec_eval's), the separation of relevant and irrelevant
//! scores, and with a calibration its reliability on the table; per group with `--group-by`.

use super::args::choice;
use super::words::{count, num};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use simcal::calibrate::Method;
use simcal::metrics::ranking::{Measure, DEFAULT_MEASURES};
use simcal::metrics::reliability::BinStrategy;
use simcal::metrics::{EvalOptions, SetEval};

#[derive(Args)]
pub struct EvalArgs {
    /// A score table.
    #[arg(long, required_unless_present = "histograms", conflicts_with = "histograms")]
    pub scores: Option<PathBuf>,
    /// Measure summed score histograms (`simcal hist`) instead of a table: the separation of
    /// relevant and irrelevant scores, whole and per group, at the histograms' resolution.
    #[arg(long, num_args = 1.., value_name = "HIST")]
    pub histograms: Vec<PathBuf>,
    #[command(flatten)]
    pub labels: super::args::Labels,
    /// A calibration (`simcal fit`) to measure on this table.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// The exact top k of the same queries (`simcal score`): measure instead how many of its
    /// neighbours `--scores` (an approximate index's hits) holds, recall@c per query and overall.
    #[arg(
        long,
        value_name = "EXACT",
        conflicts_with_all = ["histograms", "calibration", "qrels", "metrics", "group_by", "complete", "max_docs", "judged_only", "target_precision", "method", "bins", "bin_strategy"]
    )]
    pub reference: Option<PathBuf>,
    /// With --reference: the cutoffs c of recall@c (default 1, 10 and the exact table's k).
    #[arg(long, num_args = 1.., value_name = "C", requires = "reference")]
    pub cutoffs: Vec<usize>,
    /// Ranking measures, with trec_eval's names and parameters (P_10, P.5,10, ndcg_cut.10,
    /// iprec_at_recall..10,.50, ndcg.1=3,2=9, utility.2,-1,0,0) or its lists (official, set,
    /// all_trec).
    #[arg(long, num_args = 1.., default_value = DEFAULT_MEASURES)]
    pub metrics: Vec<String>,
    /// Evaluate each value of these columns separately (plus the whole table).
    #[arg(long = "group-by", num_args = 1..)]
    pub group_by: Vec<String>,
    /// Reliability bins.
    #[arg(long, default_value_t = EvalOptions::default().bins)]
    pub bins: usize,
    /// How reliability bins are cut.
    #[arg(long = "bin-strategy", value_parser = choice::<BinStrategy>(), default_value_t = EvalOptions::default().strategy)]
    pub bin_strategy: BinStrategy,
    /// Judged queries missing from the table count as zero (trec_eval -c).
    #[arg(long)]
    pub complete: bool,
    /// Only each query's top N documents count (trec_eval -M).
    #[arg(long = "max-docs", value_name = "N")]
    pub max_docs: Option<usize>,
    /// Drop unjudged documents from each ranking before measuring (trec_eval -J).
    #[arg(long = "judged-only")]
    pub judged_only: bool,
    /// Every query's values too.
    #[arg(long = "per-query")]
    pub per_query: bool,
    /// Target precisions whose best threshold is compared across groups.
    #[arg(long = "target-precision", num_args = 1.., default_values_t = EvalOptions::default().target_precision)]
    pub target_precision: Vec<f64>,
    /// The calibration's map to measure (default: isotonic when fitted, else platt).
    #[arg(long, value_parser = choice::<Method>())]
    pub method: Option<Method>,
    /// Also write the JSON document here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

impl EvalArgs {
    pub fn options(&self) -> anyhow::Result<EvalOptions> {
        Ok(EvalOptions {
            measures: Measure::parse_list(&self.metrics)?,
            group_by: self.group_by.clone(),
            bins: self.bins,
            strategy: self.bin_strategy,
            rel_level: self.labels.rel_level,
            complete: self.complete,
            max_docs: self.max_docs,
            judged_only: self.judged_only,
            target_precision: self.target_precision.clone(),
            method: self.method,
        })
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".into(), |x| format!("{x:.4}"))
}

// Long: the text report of one evaluated set, line by line in the order it is printed.
fn print_set(s: &SetEval) -> anyhow::Result<()> {
    say!("[{}] rows {}, labeled {}, judged queries {}", s.key, num(s.rows), num(s.labeled), num(s.ranking.queries));
    let names: Vec<String> = s.ranking.measures.iter().map(|m| format!("{m:>12}")).collect();
    say!("  {}", names.join(" "));
    let vals: Vec<String> = s.ranking.mean.iter().map(|v| format!("{v:>12.4}")).collect();
    say!("  {}", vals.join(" "));
    if let Some(sep) = &s.separation {
        say!(
            "  separation: ROC AUC {}, average precision {}, KS {}, overlap {} ({} relevant / {} irrelevant)",
            opt(sep.roc_auc),
            opt(sep.average_precision),
            opt(sep.ks),
            opt(sep.overlap),
            num(sep.n_relevant),
            num(sep.n_irrelevant)
        );
    }
    if let Some(c) = &s.calibration {
        let r = &c.reliability;
        let scope = if c.in_sample { " in sample" } else { "" };
        say!(
            "  calibration ({}, pairs){scope}: ECE {:.4}, MCE {:.4}, Brier {:.4}, log loss {:.4}",
            c.method,
            r.ece,
            r.mce,
            r.brier,
            r.log_loss
        );
        if let Some(h) = c.held_out.as_ref().filter(|_| c.in_sample) {
            say!(
                "  calibration ({}) held out: ECE {:.4}, MCE {:.4}, Brier {:.4}, log loss {:.4}",
                c.method,
                h.ece,
                h.mce,
                h.brier,
                h.log_loss
            );
        }
        if let Some(d) = &c.decisions {
            let r = &d.reliability;
            say!(
                "  decisions ({} map of {} top hits){scope}: ECE {:.4}, MCE {:.4}, Brier {:.4}, log loss {:.4}",
                d.method,
                num(r.n),
                r.ece,
                r.mce,
                r.brier,
                r.log_loss
            );
            say!(
                "  decisions: act at top score ≥ {} ({}), not found below {} ({} map)",
                simcal::policy::cutoff_text(d.cutoffs.act, "none"),
                d.cutoffs.act_rests_on.as_deref().unwrap_or("estimate"),
                simcal::policy::cutoff_text(d.cutoffs.not_found_below, "none"),
                d.cutoffs.not_found_map.as_deref().unwrap_or("pair")
            );
            if let Some(h) = &d.held_out {
                say!(
                    "  decisions ({}) held out: ECE {:.4}, MCE {:.4}, Brier {:.4}, log loss {:.4}",
                    d.method,
                    h.ece,
                    h.mce,
                    h.brier,
                    h.log_loss
                );
            }
            say!("  decisions{scope}: {}", super::words::quality(&d.quality));
            if !d.held_out_quality.is_empty() {
                say!("  decisions held out (the fit's folds): {}", super::words::quality(&d.held_out_quality));
            }
        }
        say!("    {:>15} {:>8} {:>10} {:>9} {:>17}", "bin", "count", "predicted", "observed", "Wilson 95%");
        for b in &r.bins {
            say!(
                "    [{:.3}, {:.3}] {:>8} {:>10.4} {:>9.4}   [{:.4}, {:.4}]",
                b.lo,
                b.hi,
                b.count,
                b.mean_predicted,
                b.observed,
                b.wilson[0],
                b.wilson[1]
            );
        }
        for t in &c.thresholds {
            say!(
                "    threshold {:.4} (target {} {}): precision {:.4} (fitted {}), recall {:.4} (fitted {})",
                t.score,
                t.target,
                t.value,
                t.precision,
                opt(t.fitted_precision),
                t.recall,
                opt(t.fitted_recall)
            );
        }
    }
    Ok(())
}

/// `--reference`: the recall of the exact neighbours.
fn run_reference(args: &EvalArgs, scores: &Path, exact: &Path) -> anyhow::Result<ExitCode> {
    let r = simcal::metrics::neighbours::neighbour_recall_files(scores, exact, &args.cutoffs)?;
    let doc = r.document(args.per_query);
    if let Some(out) = &args.out {
        super::write_json(out, &doc)?;
    }
    if args.json {
        super::print_json(&doc)?;
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{} against the exact top k of {}: {} ({} missing, {} not in the reference)",
        scores.display(),
        exact.display(),
        count(r.queries, "query", "queries"),
        num(r.missing),
        num(r.not_in_reference)
    );
    for (name, mean) in &r.mean {
        let below = r.below_one.get(name).copied().unwrap_or(0);
        say!("  {name:<12} {mean:.4}   ({} of {} queries below 1)", num(below), num(r.queries));
    }
    if args.per_query {
        let names: Vec<String> = r.cutoffs.iter().map(|c| format!("recall@{c}")).collect();
        say!("per query ({}):", names.join(", "));
        for (id, v) in &r.per_query {
            let vals: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
            say!("  {id}\t{}", vals.join("\t"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--histograms`: separation from summed histograms.
fn run_histograms(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let h = simcal::metrics::summed::evaluate_histograms(&args.histograms)?;
    let doc = serde_json::to_value(&h)?;
    if let Some(out) = &args.out {
        super::write_json(out, &doc)?;
    }
    if args.json {
        super::print_json(&doc)?;
    } else {
        let global = &h.global.separation;
        say!(
            "{} ({}, {}), {}",
            count(args.histograms.len(), "histogram file", "histogram files"),
            h.model,
            h.metric,
            count(h.sources.len(), "table", "tables")
        );
        say!(
            "  separation: ROC AUC {}, average precision {}, KS {}, overlap {} ({} relevant / {} irrelevant)",
            opt(global.roc_auc),
            opt(global.average_precision),
            opt(global.ks),
            opt(global.overlap),
            num(global.n_relevant),
            num(global.n_irrelevant)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let inputs: Vec<&Path> = args
        .scores
        .iter()
        .chain(&args.histograms)
        .chain(&args.labels.qrels)
        .chain(&args.calibration)
        .chain(&args.reference)
        .map(PathBuf::as_path)
        .collect();
    let outputs: Vec<(&str, &Path)> = args.out.iter().map(|o| ("--out", o.as_path())).collect();
    simcal::output::check_destinations(&inputs, &outputs)?;
    let Some(scores) = args.scores.clone() else { return run_histograms(&args) };
    if let Some(exact) = &args.reference {
        return run_reference(&args, &scores, exact);
    }
    let opts = args.options()?;
    let e = simcal::metrics::evaluate_files(&scores, args.labels.qrels.as_deref(), args.calibration.as_deref(), &opts)?;
    for n in &e.notes {
        eprintln!("note: {}", super::worded(n));
    }
    let doc = e.document(&scores, args.per_query);
    if let Some(out) = &args.out {
        super::write_json(out, &doc)?;
    }
    if args.json {
        super::print_json(&doc)?;
        return Ok(ExitCode::SUCCESS);
    }
    say!("{} ({}, {}), judgements from {}", scores.display(), e.model, e.metric, e.judgements);
    print_set(&e.global)?;
    for g in &e.groups {
        print_set(g)?;
    }
    for s in &e.spread {
        say!(
            "best threshold for precision {} across {} groups: min {}, max {}, range {}, sd {}",
            s.target_precision,
            s.groups,
            opt(s.min),
            opt(s.max),
            opt(s.range),
            opt(s.sd)
        );
    }
    if args.per_query {
        say!("per query ({}):", e.global.ranking.measures.join(", "));
        for (id, v) in &e.global.ranking.per_query {
            let vals: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
            say!("  {id}\t{}", vals.join("\t"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
