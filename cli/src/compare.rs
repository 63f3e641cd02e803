//! `simcal compare`: paired significance tests between runs, per measure and pair, and their
//! calibrations compared; ranx's table with its superscripts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::args::choice;
use super::words::{count, num};
use simcal::compare::{compare_files, CompareOptions, Correction, Test};
use simcal::metrics::ranking::{Measure, DEFAULT_MEASURES};

#[derive(Args)]
pub struct CompareArgs {
    /// Score tables or TREC runs, one per run compared (2 to 26).
    #[arg(long, num_args = 2.., required = true)]
    pub scores: Vec<PathBuf>,
    #[command(flatten)]
    pub labels: super::args::Labels,
    /// Ranking measures, with trec_eval's names and parameters.
    #[arg(long, num_args = 1.., default_value = DEFAULT_MEASURES)]
    pub metrics: Vec<String>,
    /// The paired test that decides significance.
    #[arg(long, value_parser = choice::<Test>(), default_value_t = CompareOptions::default().test)]
    pub test: Test,
    /// Significant when the corrected p-value is at most this.
    #[arg(long = "max-p", default_value_t = CompareOptions::default().max_p)]
    pub max_p: f64,
    /// Rounds of Fisher's randomization test.
    #[arg(long, default_value_t = CompareOptions::default().permutations)]
    pub permutations: usize,
    /// Bootstrap resamples of the queries (the intervals, and the bootstrap test).
    #[arg(long, default_value_t = CompareOptions::default().resamples)]
    pub resamples: usize,
    /// The intervals' level.
    #[arg(long, default_value_t = CompareOptions::default().level)]
    pub level: f64,
    /// Seed of the randomization test and the bootstrap.
    #[arg(long, default_value_t = CompareOptions::default().seed)]
    pub seed: u64,
    /// The family-wise correction over every comparison made (pairs × measures).
    #[arg(long, value_parser = choice::<Correction>(), default_value_t = CompareOptions::default().correction)]
    pub correction: Correction,
    /// The precision whose certificates (query unit) the calibrations' acting queries are
    /// compared at.
    #[arg(long = "target-precision", default_value_t = CompareOptions::default().target_precision)]
    pub target_precision: f64,
    /// Do not compare the runs' calibrations (each one's fit; labeled from --qrels when given).
    #[arg(long = "no-calibration")]
    pub no_calibration: bool,
    /// Also write the JSON document here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

impl CompareArgs {
    pub fn options(&self) -> anyhow::Result<CompareOptions> {
        Ok(CompareOptions {
            measures: Measure::parse_list(&self.metrics)?,
            test: self.test,
            max_p: self.max_p,
            permutations: self.permutations,
            resamples: self.resamples,
            level: self.level,
            seed: self.seed,
            correction: self.correction,
            rel_level: self.labels.rel_level,
            calibration: !self.no_calibration,
            target_precision: self.target_precision,
        })
    }
}

fn interval(i: [f64; 2]) -> String {
    format!("[{:+.4}, {:+.4}]", i[0], i[1])
}

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let inputs: Vec<&Path> = args.scores.iter().chain(&args.labels.qrels).map(PathBuf::as_path).collect();
    let outputs: Vec<(&str, &Path)> = args.out.iter().map(|o| ("--out", o.as_path())).collect();
    simcal::output::check_destinations(&inputs, &outputs)?;
    let opts = args.options()?;
    let c = compare_files(&args.scores, args.labels.qrels.as_deref(), &opts)?;
    let doc = c.document();
    if let Some(out) = &args.out {
        super::write_json(out, &doc)?;
    }
    if args.json {
        super::print_json(&doc)?;
        return Ok(ExitCode::SUCCESS);
    }
    for n in &c.notes {
        eprintln!("note: {}", super::worded(n));
    }
    let filled: Vec<String> = c.runs.iter().map(|r| format!("{} {}", r.name, num(r.filled))).collect();
    say!("{} paired: {}", count(c.paired_queries, "query", "queries"), c.pairing);
    say!("queries a run lacked (or had no judged rows for), measured as empty rankings: {}", filled.join(", "));
    say!("{}; superscripts: the runs each one beats", c.method_text());
    say!("");
    say!("{}", c.table());
    say!("");
    say!("{}", c.pairs_table());
    if let Some(cal) = &c.calibration {
        say!("");
        say!(
            "calibrations ({} map, out of fold, {} folds by query) on {}; acting: queries on the certificate of precision {} at confidence {}, in sample",
            cal.method,
            cal.folds,
            count(cal.paired_queries, "query", "queries"),
            cal.target_precision,
            cal.confidence
        );
        for (r, rc) in c.runs.iter().zip(&cal.runs) {
            let acting = match (rc.acting, rc.certified_score) {
                (Some(a), Some(s)) => format!("acts on {} at score ≥ {s:.4}", num(a)),
                _ => "certifies no threshold at this target".to_owned(),
            };
            say!("  {}: ECE {:.4}, Brier {:.4} ({} pairs); {acting}", r.name, rc.ece, rc.brier, num(rc.pairs));
        }
        for p in &cal.pairs {
            let name = |i: usize| c.runs.get(i).map_or("", |r| r.name.as_str());
            let (a, b) = (name(p.a), name(p.b));
            let mut line = format!(
                "  {a} − {b}: ECE {:+.4} {}, Brier {:+.4} {}",
                p.ece_difference,
                interval(p.ece_interval),
                p.brier_difference,
                interval(p.brier_interval)
            );
            if let (Some(d), Some(i)) = (p.acting_difference, p.acting_interval) {
                line.push_str(&format!(", acting share {d:+.4} {}", interval(i)));
            }
            if let Some(ch) = p.acting_change {
                line.push_str(&format!(" ({b} acts on {:.1}% {} queries)", (ch * 100.0).abs(), if ch >= 0.0 { "more" } else { "fewer" }));
            }
            say!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
