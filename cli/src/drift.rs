//! `simcal drift`: a new labeled score table against a calibration's stored distributions and
//! thresholds; exit 1 when a tolerance is exceeded.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use simcal::metrics::drift::{drift_files, Tolerances};

#[derive(Args)]
pub struct DriftArgs {
    /// The baseline calibration (`simcal fit`).
    #[arg(long)]
    pub baseline: PathBuf,
    /// The new labeled score table.
    #[arg(long)]
    pub scores: PathBuf,
    /// Largest KS statistic allowed between baseline and new scores, per class and group.
    #[arg(long = "max-ks", default_value_t = Tolerances::default().max_ks)]
    pub max_ks: f64,
    /// Largest drop allowed in the precision a stored threshold gives.
    #[arg(long = "max-precision-drop", default_value_t = Tolerances::default().max_precision_drop)]
    pub max_precision_drop: f64,
    /// Groups with fewer labeled pairs (baseline or new) are measured but not gated.
    #[arg(long = "min-pairs", default_value_t = Tolerances::default().min_pairs)]
    pub min_pairs: u64,
    /// Family-wise level of the gate's tests: an effect beyond tolerance trips it only when its
    /// p-value (KS; Fisher's exact test of a precision drop) is at most this over the number of
    /// tests (Bonferroni).
    #[arg(long, default_value_t = Tolerances::default().significance)]
    pub significance: f64,
    /// Also write the JSON report here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the JSON report on stdout instead of a summary a line per group.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let outputs: Vec<(&str, &std::path::Path)> = args.out.iter().map(|o| ("--out", o.as_path())).collect();
    simcal::output::check_destinations(&[&args.baseline, &args.scores], &outputs)?;
    let tol = Tolerances {
        max_ks: args.max_ks,
        max_precision_drop: args.max_precision_drop,
        min_pairs: args.min_pairs,
        significance: args.significance,
    };
    let r = drift_files(&args.baseline, &args.scores, tol)?;
    let doc = r.document(&args.baseline, &args.scores);
    if let Some(out) = &args.out {
        super::write_json(out, &doc)?;
    }
    if args.json {
        super::print_json(&doc)?;
    } else {
        for g in &r.groups {
            let ks = |c: &simcal::metrics::drift::ClassDrift| match (c.ks, c.ks_p) {
                (Some(k), Some(p)) => format!("KS {k:.3} (p {p:.2e})"),
                (Some(k), None) => format!("KS {k:.3}"),
                _ => "no pairs".to_owned(),
            };
            let drops: Vec<String> = g
                .thresholds
                .iter()
                .filter_map(|t| {
                    t.precision_drop.zip(t.precision).map(|(d, p)| {
                        format!(
                            "at the {} {} {} threshold (score {:.4}) top-hit precision {p:.3} ({:+.3})",
                            t.threshold,
                            t.target,
                            t.value,
                            t.score,
                            -d + 0.0
                        )
                    })
                })
                .collect();
            say!(
                "{}: relevant {}, irrelevant {}{}{}",
                g.key,
                ks(&g.relevant),
                ks(&g.irrelevant),
                if drops.is_empty() { String::new() } else { format!("; {}", drops.join(", ")) },
                if g.gated { "" } else { " (too few pairs to gate)" }
            );
        }
        say!("{}", if r.drifted { "DRIFTED" } else { "within tolerances" });
    }
    for c in r.changes.iter().chain(&r.notes) {
        eprintln!("note: {}", super::worded(c));
    }
    for v in &r.violations {
        eprintln!("drift: {}", super::worded(v));
    }
    Ok(if r.drifted { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
