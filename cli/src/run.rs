//! `simcal run`: the pipeline. With no arguments it scores every encoder of the sample in
//! `data/` (with its qrels) into `out/`, fits a calibration per Debian section, applies it,
//! evaluates each encoder and writes `out/report.html` comparing them. With `--config` it runs
//! the encoders a config file names (see [`super::config`]), with a drift gate against last
//! night's calibrations: the nightly job.

use super::args::choice;
use super::words::{count, four};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use simcal::nightly::pipeline::{self, promote, Event, RunOptions};
use simcal::nightly::Config;

#[derive(Args)]
pub struct RunArgs {
    /// The nightly job's config file (TOML: encoders, qrels, groups, drift gate); without it,
    /// the sample in --data.
    #[arg(long, conflicts_with = "data")]
    pub config: Option<PathBuf>,
    /// Folder holding the sample (default: ./data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output folder (default: out, or the config's `out`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Hits kept per query.
    #[arg(short, long, default_value_t = simcal::job::DEFAULT_K)]
    pub k: usize,
    /// Seed of the calibration's bootstrap.
    #[arg(long, default_value_t = simcal::calibrate::FitOptions::default().seed)]
    pub seed: u64,
    /// Scoring backend (default: the config's, else auto).
    #[arg(long, value_parser = choice::<simcal::score::BackendChoice>())]
    pub backend: Option<simcal::score::BackendChoice>,
    /// With --config: an encoder without a baseline calibration is not gated tonight (the
    /// first night). Without it a missing baseline is an error: a typo must not turn the gate off.
    #[arg(long, requires = "config")]
    pub allow_missing_baseline: bool,
    /// With --config: accept the last run's calibration of encoder NAME as its drift baseline
    /// (after a person reviewed a drifted night), and do nothing else.
    #[arg(long, value_name = "NAME", requires = "config")]
    pub promote: Option<String>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The job: the config file's, else the sample's in --data (default ./data, never a path
/// compiled into the binary).
fn config(args: &RunArgs) -> anyhow::Result<Config> {
    let Some(path) = &args.config else {
        let (dir, given) = match &args.data {
            Some(d) => (d.clone(), true),
            None => (PathBuf::from("data"), false),
        };
        return Config::sample(&dir, PathBuf::from("out"), args.k, args.seed).map_err(|e| {
            let why = if given { "" } else { " (simcal run without --data reads the sample in ./data)" };
            anyhow::anyhow!("{e}{why}; run it from the repository's root, or give --data FOLDER or --config FILE")
        });
    };
    Ok(Config::load(path)?)
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut config = config(&args)?;
    if let Some(out) = args.out {
        config.out = out;
    }
    if let Some(b) = args.backend {
        config.backend.choice = b;
    }
    if let Some(name) = &args.promote {
        // The core's words name the option ("promote NAME: …"); the command line's add its dashes.
        let (cal, dest) = promote(&config, name).map_err(|e| match e {
            simcal::error::Error::Invalid(m) => anyhow::anyhow!("invalid argument: --{m}"),
            e => e.into(),
        })?;
        eprintln!("promoted {} → {}: the drift gate compares with it from now on", cal.display(), dest.display());
        return Ok(ExitCode::SUCCESS);
    }
    let opts = RunOptions { allow_missing_baseline: args.allow_missing_baseline };
    // One progress bar per encoder's scoring, gone before its summary line.
    let bar: std::cell::RefCell<Option<indicatif::ProgressBar>> = std::cell::RefCell::new(None);
    let quiet = args.json;
    let manifest = pipeline::run(&config, &opts, &|event| {
        let mut bar = bar.borrow_mut();
        if let Event::Progress { encoder, done, total } = event {
            let b = bar.get_or_insert_with(|| super::progress::rows_bar(&format!("score {encoder}")));
            b.set_length(*total);
            b.set_position(*done);
        } else {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            print_event(event, quiet);
        }
        Ok(())
    });
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    let manifest = manifest?;
    if args.json {
        super::print_json(&manifest.document())?;
    }
    if !manifest.drifted.is_empty() {
        eprintln!(
            "drift gate tripped for {}: each baseline stays the last good calibration; to accept tonight's calibration, review it and run with --promote NAME",
            manifest.drifted.join(", ")
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line for people per stage (`quiet` under --json: only notes and drift violations).
// Long: one arm per pipeline event, each the line people read for it.
fn print_event(event: &Event<'_>, quiet: bool) {
    match event {
        Event::Note(n) => eprintln!("note: {}", super::worded(n)),
        Event::Progress { .. } => {}
        Event::Scored { encoder, job, summary: s } => {
            super::score::label_warnings(job, s);
            if !quiet {
                eprintln!(
                    "score {encoder}: {}, {}, {:.2} s on {} → {}",
                    count(s.rows, "row", "rows"),
                    count(s.labels.as_ref().map_or(0, |l| l.judged_retrieved), "judged hit", "judged hits"),
                    s.seconds,
                    s.backend_detail,
                    job.out.display()
                );
            }
        }
        Event::Fitted { encoder, artifact: art, seconds, out } => {
            // The job asks for one target precision: one threshold, at the unit decisions use
            // (each query's top hit) where the fit has one.
            let (false, Some(t)) = (quiet, art.global.thresholds.first()) else { return };
            let top = art.global.decision.as_ref().and_then(|d| d.thresholds.first());
            let at = match (top, t.score, t.recall) {
                (Some(x), _, _) => match (x.score, x.n) {
                    (Some(s), Some(n)) => format!(
                        "top-hit score ≥ {s:.4} ({} of {} judged queries)",
                        super::words::num(n),
                        super::words::num(art.global.decision.as_ref().map_or(0, |d| d.queries))
                    ),
                    _ => x.message.clone().unwrap_or_default(),
                },
                (None, Some(s), Some(r)) => format!("score ≥ {s:.4} (recall {r:.3})"),
                _ => t.message.clone().unwrap_or_default(),
            };
            let fitted = art.groups.iter().filter(|g| g.fitted).count();
            let held =
                top.unwrap_or(t).held_out.as_ref().and_then(|h| h.precision).map(|p| format!(", held out {p:.3}")).unwrap_or_default();
            let certified = match t.certified.as_ref() {
                Some(c) => match c.score {
                    Some(s) => format!(
                        "; certified at the {} unit (confidence {} for all certificates) at score ≥ {s:.4}",
                        c.unit,
                        art.certification.as_ref().map_or(0.0, |f| f.confidence)
                    ),
                    None => format!(
                        "; {}{}",
                        c.reason.as_deref().unwrap_or("nothing certified"),
                        c.units_needed
                            .map(|n| format!(
                                "; at the precision observed, about {} more {} would make it certifiable",
                                super::words::num(n),
                                if c.unit == simcal::calibrate::certify::Unit::Query { "judged queries" } else { "units" }
                            ))
                            .unwrap_or_default()
                    ),
                },
                None => String::new(),
            };
            eprintln!(
                "fit {encoder}: precision {} at {at}{held}{certified}; {fitted} of {} groups fitted; {seconds:.2} s → {}",
                t.value,
                art.groups.len(),
                out.display()
            );
        }
        Event::Applied { encoder, applied, decisions } => {
            if !quiet {
                for w in &applied.warnings {
                    eprintln!("note: apply {encoder}: {}", super::worded(w));
                }
                eprintln!(
                    "apply {encoder}: decisions: {}{} → {}",
                    super::apply::counts_text(&applied.counts()),
                    super::apply::resting_on(applied),
                    decisions.display()
                );
            }
        }
        Event::Evaluated { encoder, evaluation: ev, out } => {
            if !quiet {
                let m = ev.global.ranking.means();
                let sep = ev.global.separation.as_ref();
                eprintln!(
                    "eval {encoder}: ndcg_cut_10 {}, map {}, ROC AUC {}, {} → {}",
                    four(m.get("ndcg_cut_10").and_then(|v| v.as_f64())),
                    four(m.get("map").and_then(|v| v.as_f64())),
                    four(sep.and_then(|s| s.roc_auc)),
                    match ev.global.calibration.as_ref() {
                        Some(c) => match &c.decisions {
                            Some(d) => match (&d.held_out, c.in_sample) {
                                (Some(h), true) => format!("top-hit ECE {:.4} held out ({:.4} in sample)", h.ece, d.reliability.ece),
                                (None, true) => format!("top-hit ECE {:.4} in sample", d.reliability.ece),
                                (_, false) => format!("top-hit ECE {:.4}", d.reliability.ece),
                            },
                            None => format!("pair ECE {:.4}{}", c.reliability.ece, if c.in_sample { " in sample" } else { "" }),
                        },
                        None => "ECE n/a".to_owned(),
                    },
                    out.display()
                );
            }
        }
        Event::Drift { encoder, report: r, out } => {
            for v in &r.violations {
                eprintln!("drift {encoder}: {}", super::worded(v));
            }
            if !quiet {
                eprintln!("drift {encoder}: {} → {}", if r.drifted { "DRIFTED" } else { "within tolerances" }, out.display());
            }
        }
        Event::Reported { encoders, out } => {
            if !quiet {
                eprintln!("report: {} → {}", encoders.join(" vs "), out.display());
            }
        }
    }
}
