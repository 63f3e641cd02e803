//! `simcal run`: the pipeline. With no arguments it scores every encoder of the sample in
//! `data/` (with its qrels) into `out/`, fits a calibration per Debian section, applies it,
//! evaluates each encoder and writes `out/report.html` comparing them. With `--config` it runs
//! the encoders a config file names (see [`super::config`]), with a drift gate against last
//! night's calibrations: the nightly job.

use super::words::{count, four};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use simcal::calibrate::artifact::Artifact;
use simcal::calibrate::certify::{CertifyOptions, Grid, Unit};
use simcal::calibrate::FitOptions;
use simcal::embed::ReadOptions;
use simcal::job::{OutputFormat, ScoreJob};
use simcal::metrics::ranking::{Measure, DEFAULT_MEASURES};
use simcal::metrics::EvalOptions;
use simcal::policy::ApplyOptions;
use simcal::stats::ltt::Fwer;

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
    #[arg(short, long, default_value_t = 100)]
    pub k: usize,
    /// Seed of the calibration's bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Scoring backend (default: the config's, else auto).
    #[arg(long, value_enum)]
    pub backend: Option<super::score::BackendArg>,
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

/// The sample's folder: --data, else ./data. Never a path compiled into the binary.
fn data_dir(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let (dir, given) = match arg {
        Some(d) => (d, true),
        None => (PathBuf::from("data"), false),
    };
    if !dir.join("qrels.tsv").is_file() {
        let why = if given { String::new() } else { " (simcal run without --data reads the sample in ./data)".to_owned() };
        anyhow::bail!(
            "{}: no sample here: qrels.tsv not found{why}; run it from the repository's root, or give --data FOLDER or --config FILE",
            dir.display()
        );
    }
    Ok(dir)
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::sample(&data_dir(args.data.clone())?, PathBuf::from("out"), args.k, args.seed),
    };
    if let Some(out) = args.out {
        config.out = out;
    }
    if let Some(b) = args.backend {
        config.backend.choice = super::score::backend_choice(b);
    }
    if let Some(name) = &args.promote {
        return promote(&config, name);
    }
    pipeline(&config, args.json, args.allow_missing_baseline)
}

/// Where encoder `name`'s drift baseline lives.
fn baseline_path(d: &simcal::nightly::Drift, name: &str) -> PathBuf {
    d.baseline.join(format!("{name}.calibration.json"))
}

/// Copies `calibration` (valid, or it is refused) to `dest`, atomically.
fn copy_calibration(calibration: &Path, dest: &Path) -> anyhow::Result<()> {
    Artifact::read(calibration)?;
    let bytes = std::fs::read(calibration).map_err(|e| anyhow::anyhow!("{}: {e}", calibration.display()))?;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    }
    simcal::output::write_atomic(dest, |w| {
        use std::io::Write;
        w.write_all(&bytes).map_err(|source| simcal::Error::Io { path: dest.to_path_buf(), source })
    })?;
    Ok(())
}

/// `run --config F --promote NAME`: the last run's calibration of NAME becomes its baseline.
fn promote(c: &Config, name: &str) -> anyhow::Result<ExitCode> {
    let Some(d) = &c.drift else { anyhow::bail!("--promote {name}: the config has no [drift] section, so no baseline") };
    if !c.encoders.iter().any(|e| e.name == name) {
        let names: Vec<&str> = c.encoders.iter().map(|e| e.name.as_str()).collect();
        anyhow::bail!("--promote {name}: no such encoder in the config (it has {})", names.join(", "));
    }
    let cal = c.out.join(format!("{name}.calibration.json"));
    if !cal.is_file() {
        anyhow::bail!("--promote {name}: {} does not exist: run the job first", cal.display());
    }
    let dest = baseline_path(d, name);
    copy_calibration(&cal, &dest)?;
    eprintln!("promoted {} → {}: the drift gate compares with it from now on", cal.display(), dest.display());
    Ok(ExitCode::SUCCESS)
}

/// score → fit → apply → eval → drift gate → report, for every encoder; then `run.json`
/// naming every output with its sha256. Exit 1 when the drift gate trips (every output is
/// written all the same), 2 on an error (the files already written are complete; `run.json`
/// still names the last complete run's).
pub fn pipeline(c: &Config, json_out: bool, allow_missing_baseline: bool) -> anyhow::Result<ExitCode> {
    let out = &c.out;
    std::fs::create_dir_all(out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    if let Some(d) = &c.drift {
        let same = std::fs::canonicalize(&d.baseline).ok().is_some_and(|b| std::fs::canonicalize(out).ok() == Some(b));
        if same {
            anyhow::bail!(
                "[drift] baseline {} is the output folder: tonight's calibrations would replace last night's before a person sees a drift; give the baseline a folder of its own",
                d.baseline.display()
            );
        }
    }
    // The group columns come from the queries files: check them before any scoring.
    if !c.group_by.is_empty() {
        for e in &c.encoders {
            let q = simcal::embed::read_queries(&e.queries, &ReadOptions::default())?;
            let have: Vec<&str> = q.carried.iter().map(|(f, _)| f.name().as_str()).collect();
            if let Some(g) = c.group_by.iter().find(|g| !have.contains(&g.as_str())) {
                let list = if have.is_empty() { "none".to_owned() } else { have.join(", ") };
                anyhow::bail!(
                    "group_by column {g:?} is not a column of {} (its columns beside id and vector: {list})",
                    e.queries.display()
                );
            }
        }
    }
    let mut steps = Vec::new();
    let mut outputs: Vec<PathBuf> = Vec::new();
    let (mut tables, mut cals) = (Vec::new(), Vec::new());
    let mut drifted = Vec::new();
    // Last night's calibrations, read before anything is written: the baseline folder may be
    // the output folder itself.
    let mut baselines = Vec::new();
    for e in &c.encoders {
        baselines.push(match &c.drift {
            Some(d) => {
                let base = baseline_path(d, &e.name);
                if base.exists() {
                    Some((Artifact::read(&base)?, base))
                } else if allow_missing_baseline {
                    eprintln!(
                        "note: no baseline {} for {} (--allow-missing-baseline): not gated tonight; its calibration becomes the baseline",
                        base.display(),
                        e.name
                    );
                    None
                } else {
                    anyhow::bail!(
                        "{}: no baseline calibration for encoder {} (is [drift] baseline right?); on the first night run with --allow-missing-baseline",
                        base.display(),
                        e.name
                    );
                }
            }
            None => None,
        });
    }
    for (e, baseline) in c.encoders.iter().zip(&baselines) {
        let enc = e.name.as_str();
        let job = ScoreJob {
            queries: e.queries.clone(),
            corpus: e.corpus.clone(),
            qrels: Some(c.qrels.clone()),
            k: c.k,
            metric: e.metric,
            model: Some(enc.to_owned()),
            backend: c.backend.clone(),
            format: OutputFormat::Parquet,
            out: out.join(format!("{enc}.scores.parquet")),
            query_read: ReadOptions::default(),
            corpus_read: ReadOptions::default(),
            rel_level: 1,
            shard: None,
            zero_vectors: Default::default(),
        };
        let s = super::score::execute(&job, enc)?;
        if !json_out {
            eprintln!(
                "score {enc}: {}, {}, {:.2} s on {} → {}",
                count(s.rows, "row", "rows"),
                count(s.labels.as_ref().map_or(0, |l| l.judged_retrieved), "judged hit", "judged hits"),
                s.seconds,
                s.backend_detail,
                job.out.display()
            );
        }
        steps.push(json!({"step": "score", "encoder": enc, "summary": super::score::summary_json(&job, &s)}));
        outputs.push(job.out.clone());

        // Calibrate per group (the sample's: Debian section), then apply it.
        let cal = out.join(format!("{enc}.calibration.json"));
        // Held out (5 folds by query) and certified at 0.9 over pairs, by default.
        let certify = Some(CertifyOptions {
            confidence: 0.9,
            unit: Unit::Pair,
            fwer: Fwer::Holm,
            grid: Grid::Quantiles(1000),
            grid_source: "quantiles".to_owned(),
        });
        let opts = FitOptions { group_by: c.group_by.clone(), seed: c.seed, certify, ..FitOptions::default() };
        let (art, secs) = super::fit::execute(&job.out, &opts, &cal)?;
        // The config asks for one target precision: one threshold.
        if let (false, Some(t)) = (json_out, art.global.thresholds.first()) {
            let at = match (t.score, t.recall) {
                (Some(s), Some(r)) => format!("score ≥ {s:.4} (recall {r:.3})"),
                _ => t.message.clone().unwrap_or_default(),
            };
            let fitted = art.groups.iter().filter(|g| g.fitted).count();
            let held = t.held_out.as_ref().and_then(|h| h.precision).map(|p| format!(", held out {p:.3}")).unwrap_or_default();
            let certified = match t.certified.as_ref() {
                Some(c) => match c.score {
                    Some(s) => format!("; certified (confidence {}) at score ≥ {s:.4}", c.confidence),
                    None => format!("; {}", c.reason.as_deref().unwrap_or("nothing certified")),
                },
                None => String::new(),
            };
            eprintln!(
                "fit {enc}: precision {} at {at}{held}{certified}; {fitted} of {} groups fitted; {secs:.2} s → {}",
                t.value,
                art.groups.len(),
                cal.display()
            );
        }
        steps.push(json!({"step": "fit", "encoder": enc, "summary": super::fit::summary_json(&art, secs, &cal)}));
        outputs.push(cal.clone());
        let applied = out.join(format!("{enc}.calibrated.parquet"));
        let decisions = out.join(format!("{enc}.decisions.parquet"));
        let a = super::apply::execute(&cal, &job.out, &applied, Some(&decisions), &ApplyOptions::default())?;
        if !json_out {
            for w in &a.warnings {
                eprintln!("note: apply {enc}: {w}");
            }
            eprintln!("apply {enc}: decisions: {} → {}", super::apply::counts_text(&a), decisions.display());
        }
        steps.push(
            json!({"step": "apply", "encoder": enc, "decisions": super::apply::counts(&a), "out": applied, "decisions_file": decisions}),
        );
        outputs.extend([applied, decisions]);

        // Evaluate: ranking, separation, and the calibration's reliability, per group.
        let eval_out = out.join(format!("{enc}.eval.json"));
        let eopts = EvalOptions { group_by: c.group_by.clone(), ..EvalOptions::default() };
        let ev = super::eval::execute(&job.out, None, Some(&cal), &eopts)?;
        simcal::output::write_json(&eval_out, &ev.document(&job.out, false))?;
        if !json_out {
            let m = ev.global.ranking.means();
            let sep = ev.global.separation.as_ref();
            eprintln!(
                "eval {enc}: ndcg_cut_10 {}, map {}, ROC AUC {}, ECE {} → {}",
                four(m.get("ndcg_cut_10").and_then(|v| v.as_f64())),
                four(m.get("map").and_then(|v| v.as_f64())),
                four(sep.and_then(|s| s.roc_auc)),
                four(ev.global.calibration.as_ref().map(|c| c.reliability.ece)),
                eval_out.display()
            );
        }
        steps.push(json!({"step": "eval", "encoder": enc, "out": eval_out, "ranking": ev.global.ranking.means()}));
        outputs.push(eval_out);

        // The drift gate: tonight's table against last night's calibration.
        if let (Some(d), Some((art, base))) = (&c.drift, baseline) {
            let table = simcal::table::read_table(&job.out)?;
            let r = simcal::metrics::drift::drift(&table, &job.out, art, d.tolerances)?;
            let drift_out = out.join(format!("{enc}.drift.json"));
            simcal::output::write_json(&drift_out, &r.document(base, &job.out))?;
            for v in &r.violations {
                eprintln!("drift {enc}: {v}");
            }
            if !json_out {
                eprintln!("drift {enc}: {} → {}", if r.drifted { "DRIFTED" } else { "within tolerances" }, drift_out.display());
            }
            if r.drifted {
                drifted.push(enc.to_owned());
            }
            steps.push(json!({"step": "drift", "encoder": enc, "drifted": r.drifted, "violations": r.violations, "out": drift_out}));
            outputs.push(drift_out);
        }
        tables.push(job.out.clone());
        cals.push(cal);
    }
    let report = out.join("report.html");
    let measures = Measure::parse_list(&[DEFAULT_MEASURES.to_owned()])?;
    simcal::report::write_report(&tables, &cals, None, &c.group_by, measures, 1, &report)?;
    let names: Vec<&str> = c.encoders.iter().map(|e| e.name.as_str()).collect();
    if !json_out {
        eprintln!("report: {} → {}", names.join(" vs "), report.display());
    }
    steps.push(json!({"step": "report", "out": report}));
    outputs.push(report);
    // Last: the manifest of this run's outputs.
    let files: Vec<serde_json::Value> =
        outputs.iter().map(|p| Ok(json!({"path": p, "sha256": simcal::table::sha256_file(p)?}))).collect::<Result<_, simcal::Error>>()?;
    let doc = json!({
        "schema_version": 1,
        "command": "run",
        "version": env!("CARGO_PKG_VERSION"),
        "out": out,
        "drifted": drifted,
        "outputs": files,
        "steps": steps,
    });
    // A calibration that passed the gate (or had no baseline yet) becomes its encoder's
    // baseline; a drifted one waits in the output folder until a person promotes it.
    let mut promoted = Vec::new();
    if let Some(d) = &c.drift {
        for (e, cal) in c.encoders.iter().zip(&cals) {
            if !drifted.contains(&e.name) {
                copy_calibration(cal, &baseline_path(d, &e.name))?;
                promoted.push(e.name.clone());
            }
        }
    }
    let mut doc = doc;
    super::set_fields(&mut doc, [("promoted", json!(promoted))]);
    simcal::output::write_json(&out.join("run.json"), &doc)?;
    if json_out {
        super::print_json(&doc)?;
    }
    if !drifted.is_empty() {
        eprintln!(
            "drift gate tripped for {}: each baseline stays the last good calibration; to accept tonight's calibration, review it and run with --promote NAME",
            drifted.join(", ")
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
