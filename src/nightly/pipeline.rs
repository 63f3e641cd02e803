//! The nightly job's stages: score → fit → apply → eval → drift gate for every encoder, then the
//! report and the manifest. One function per stage; [`run`] chains them and tells an observer
//! what each did. The library prints nothing: the CLI's observer prints, the Python package's
//! checks for Ctrl-C.

use std::path::{Path, PathBuf};

use super::config::{Config, Drift, Encoder};
use super::manifest::{Manifest, OutputFile, Step, MANIFEST_VERSION};
use crate::calibrate::artifact::Artifact;
use crate::calibrate::FitOptions;
use crate::embed::ReadOptions;
use crate::error::{Error, Result};
use crate::job::{OutputFormat, ScoreJob, ScoreSummary};
use crate::metrics::drift::DriftReport;
use crate::metrics::ranking::{Measure, DEFAULT_MEASURES};
use crate::metrics::{EvalOptions, Evaluation};
use crate::policy::Applied;

/// How a run treats what its config leaves open.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// An encoder without a baseline calibration is not gated (the first night). Without it a
    /// missing baseline is an error: a typo in the baseline folder must not turn the gate off.
    pub allow_missing_baseline: bool,
}

/// What a stage did, told to the observer as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// Something the user should know that is not an error.
    Note(String),
    /// Corpus rows of `encoder` scored so far, of `total`.
    Progress {
        /// The encoder being scored.
        encoder: &'a str,
        /// Rows scored.
        done: u64,
        /// Rows in the corpus.
        total: u64,
    },
    /// An encoder's score table is written.
    Scored {
        /// The encoder.
        encoder: &'a str,
        /// The job that scored it.
        job: &'a ScoreJob,
        /// What it reported.
        summary: &'a ScoreSummary,
    },
    /// Its calibration is written.
    Fitted {
        /// The encoder.
        encoder: &'a str,
        /// The calibration.
        artifact: &'a Artifact,
        /// Seconds the fit took.
        seconds: f64,
        /// Where it is.
        out: &'a Path,
    },
    /// The calibration is applied to its table.
    Applied {
        /// The encoder.
        encoder: &'a str,
        /// Probabilities, decisions and warnings.
        applied: &'a Applied,
        /// Where the decisions are.
        decisions: &'a Path,
    },
    /// Its evaluation is written.
    Evaluated {
        /// The encoder.
        encoder: &'a str,
        /// The evaluation.
        evaluation: &'a Evaluation,
        /// Where its document is.
        out: &'a Path,
    },
    /// Its drift gate has run.
    Drift {
        /// The encoder.
        encoder: &'a str,
        /// The gate's report.
        report: &'a DriftReport,
        /// Where the report is.
        out: &'a Path,
    },
    /// The report comparing the encoders is written.
    Reported {
        /// The encoders compared, in order.
        encoders: Vec<&'a str>,
        /// The HTML page.
        out: &'a Path,
    },
}

/// The observer of a run: told every [`Event`]; an error it returns stops the run there (a
/// caller's Ctrl-C), leaving every file already written complete.
pub type Observer<'o> = &'o dyn Fn(&Event<'_>) -> Result<()>;

/// Where encoder `name`'s drift baseline lives.
pub(crate) fn baseline_path(d: &Drift, name: &str) -> PathBuf {
    d.baseline.join(format!("{name}.calibration.json"))
}

/// Copies `calibration` (valid, or it is refused) to `dest`, atomically.
fn copy_calibration(calibration: &Path, dest: &Path) -> Result<()> {
    Artifact::read(calibration)?;
    let bytes = std::fs::read(calibration).map_err(|source| Error::Io { path: calibration.to_owned(), source })?;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    }
    crate::output::write_atomic(dest, |w| {
        use std::io::Write;
        w.write_all(&bytes).map_err(|source| Error::Io { path: dest.to_path_buf(), source })
    })
}

/// The last run's calibration of encoder `name` becomes its drift baseline (after a person
/// reviewed a drifted night). Returns the calibration and the baseline it was copied to.
pub fn promote(c: &Config, name: &str) -> Result<(PathBuf, PathBuf)> {
    let Some(d) = &c.drift else {
        return Err(Error::Invalid(format!("promote {name}: the config has no [drift] section, so no baseline")));
    };
    if !c.encoders.iter().any(|e| e.name == name) {
        let names: Vec<&str> = c.encoders.iter().map(|e| e.name.as_str()).collect();
        return Err(Error::Invalid(format!("promote {name}: no such encoder in the config (it has {})", names.join(", "))));
    }
    let cal = output(c, name, CALIBRATION);
    if !cal.is_file() {
        return Err(Error::Invalid(format!("promote {name}: {} does not exist: run the job first", cal.display())));
    }
    let dest = baseline_path(d, name);
    copy_calibration(&cal, &dest)?;
    Ok((cal, dest))
}

/// Checks what can be checked before any scoring: the baseline folder is not the output
/// folder, and every group column is a column of every queries file.
pub fn check(c: &Config) -> Result<()> {
    // The whole job's inputs against all its outputs: a later stage must not write over what an
    // earlier one (or the job itself) reads.
    let outputs = job_outputs(c);
    let labeled: Vec<(&str, &Path)> = outputs.iter().map(|p| ("the job's output", p.as_path())).collect();
    crate::output::check_destinations(&job_inputs(c), &labeled)?;
    if let Some(d) = &c.drift {
        let same = std::fs::canonicalize(&d.baseline).ok().is_some_and(|b| std::fs::canonicalize(&c.out).ok() == Some(b));
        if same {
            return Err(Error::Invalid(format!(
                "[drift] baseline {} is the output folder: tonight's calibrations would replace last night's before a person sees a drift; give the baseline a folder of its own",
                d.baseline.display()
            )));
        }
    }
    // Each encoder's queries: columns that can be carried into its table, and the group columns
    // among them (before the first encoder is scored).
    for e in &c.encoders {
        let q = crate::embed::read_queries(&e.queries, &ReadOptions::default())?;
        crate::table::check_carried(&q)?;
        if !c.group_by.is_empty() {
            let have: Vec<&str> = q.carried.iter().map(|(f, _)| f.name().as_str()).collect();
            if let Some(g) = c.group_by.iter().find(|g| !have.contains(&g.as_str())) {
                let list = if have.is_empty() { "none".to_owned() } else { have.join(", ") };
                return Err(Error::Mismatch {
                    message: format!(
                        "group_by column {g:?} is not a column of {} (its columns beside id and vector: {list})",
                        e.queries.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Last night's calibration of each encoder (with its path), `None` where there is no drift
/// gate or, under `allow_missing_baseline`, no baseline yet.
pub fn baselines(c: &Config, opts: &RunOptions, observe: Observer<'_>) -> Result<Vec<Option<(Artifact, PathBuf)>>> {
    let Some(d) = &c.drift else { return Ok(c.encoders.iter().map(|_| None).collect()) };
    let mut v = Vec::new();
    for e in &c.encoders {
        let base = baseline_path(d, &e.name);
        v.push(if base.exists() {
            Some((Artifact::read(&base)?, base))
        } else if opts.allow_missing_baseline {
            observe(&Event::Note(format!(
                "no baseline {} for {} (missing baselines allowed): not gated tonight; its calibration becomes the baseline",
                base.display(),
                e.name
            )))?;
            None
        } else {
            return Err(Error::Invalid(format!(
                "{}: no baseline calibration for encoder {} (is [drift] baseline right?); on the first night allow missing baselines (`allow_missing_baseline`)",
                base.display(),
                e.name
            )));
        });
    }
    Ok(v)
}

/// What the job writes for each encoder, as `out/NAME.SUFFIX`.
const SCORES: &str = "scores.parquet";
const CALIBRATION: &str = "calibration.json";
const CALIBRATED: &str = "calibrated.parquet";
const DECISIONS: &str = "decisions.parquet";
const EVAL: &str = "eval.json";
const DRIFT: &str = "drift.json";
/// What the job writes once, in `out/`.
const REPORT: &str = "report.html";
const MANIFEST: &str = "run.json";

/// Encoder `name`'s output `suffix`.
fn output(c: &Config, name: &str, suffix: &str) -> PathBuf {
    c.out.join(format!("{name}.{suffix}"))
}

/// Every file the job writes in its output folder (the baselines it promotes aside: those it
/// reads first, by design).
pub(crate) fn job_outputs(c: &Config) -> Vec<PathBuf> {
    let each = [SCORES, CALIBRATION, CALIBRATED, DECISIONS, EVAL].into_iter().chain(c.drift.as_ref().map(|_| DRIFT));
    let each: Vec<&str> = each.collect();
    let mut v: Vec<PathBuf> = c.encoders.iter().flat_map(|e| each.iter().map(|s| output(c, &e.name, s))).collect();
    v.extend([c.out.join(REPORT), c.out.join(MANIFEST)]);
    v
}

/// Every file the job reads before it writes anything of its own: the qrels and each
/// encoder's queries and corpus.
pub(crate) fn job_inputs(c: &Config) -> Vec<&Path> {
    std::iter::once(c.qrels.as_path()).chain(c.encoders.iter().flat_map(|e| [e.queries.as_path(), e.corpus.as_path()])).collect()
}

/// Scores encoder `e` into `out/NAME.scores.parquet`, labeled from the config's qrels.
pub fn score(c: &Config, e: &Encoder, observe: Observer<'_>) -> Result<(ScoreJob, ScoreSummary)> {
    let job = ScoreJob {
        queries: e.queries.clone(),
        corpus: e.corpus.clone(),
        qrels: Some(c.qrels.clone()),
        k: c.k,
        metric: e.metric,
        model: Some(e.name.clone()),
        backend: c.backend.clone(),
        format: OutputFormat::Parquet,
        out: output(c, &e.name, SCORES),
        query_read: ReadOptions::default(),
        corpus_read: ReadOptions::default(),
        rel_level: crate::labels::DEFAULT_REL_LEVEL,
        shard: None,
        zero_vectors: Default::default(),
    };
    let summary = crate::job::run_score_job(&job, &|done, total| observe(&Event::Progress { encoder: &e.name, done, total }))?;
    Ok((job, summary))
}

/// The fit options of the job: the config's, with its groups and seed.
pub(crate) fn fit_options(c: &Config) -> FitOptions {
    FitOptions { group_by: c.group_by.clone(), seed: c.seed, ..c.fit.clone() }
}

/// Fits encoder `name`'s table into `out/NAME.calibration.json`.
pub fn fit(c: &Config, name: &str, table: &Path) -> Result<(Artifact, f64, PathBuf)> {
    let cal = output(c, name, CALIBRATION);
    let (art, secs) = crate::calibrate::fit_and_write(table, None, &fit_options(c), &cal)?;
    Ok((art, secs, cal))
}

/// Applies the calibration to the table: `out/NAME.calibrated.parquet` and
/// `out/NAME.decisions.parquet`.
pub fn apply(c: &Config, name: &str, table: &Path, cal: &Path) -> Result<(Applied, PathBuf, PathBuf)> {
    let applied = output(c, name, CALIBRATED);
    let decisions = output(c, name, DECISIONS);
    let a = crate::policy::apply_to(cal, table, &applied, Some(&decisions), &c.apply)?;
    Ok((a, applied, decisions))
}

/// Evaluates the table (ranking, separation, the calibration's reliability, per group) into
/// `out/NAME.eval.json`.
pub fn eval(c: &Config, name: &str, table: &Path, cal: &Path) -> Result<(Evaluation, PathBuf)> {
    let out = output(c, name, EVAL);
    let opts = EvalOptions { group_by: c.group_by.clone(), ..EvalOptions::default() };
    let ev = crate::metrics::evaluate_files(table, None, Some(cal), &opts)?;
    crate::output::write_json(&out, &ev.document(table, false))?;
    Ok((ev, out))
}

/// The drift gate: the table against the baseline calibration, into `out/NAME.drift.json`.
pub fn drift(c: &Config, d: &Drift, name: &str, table: &Path, baseline: (&Artifact, &Path)) -> Result<(DriftReport, PathBuf)> {
    let t = crate::table::read_table(table)?;
    let r = crate::metrics::drift::drift(&t, table, baseline.0, d.tolerances)?;
    let out = output(c, name, DRIFT);
    crate::output::write_json(&out, &r.document(baseline.1, table))?;
    Ok((r, out))
}

/// The report comparing every encoder's table and calibration: `out/report.html`.
pub fn report(c: &Config, tables: &[PathBuf], cals: &[PathBuf]) -> Result<PathBuf> {
    let out = c.out.join(REPORT);
    let measures = Measure::parse_list(&[DEFAULT_MEASURES.to_owned()])?;
    crate::report::write_report(tables, cals, None, &c.group_by, measures, crate::labels::DEFAULT_REL_LEVEL, &out)?;
    Ok(out)
}

/// Runs the whole job: score → fit → apply → eval → drift gate for every encoder, the report,
/// then the calibrations that passed the gate (or had no baseline yet) become their encoders'
/// baselines, and `run.json` is written last, naming every output with its sha256.
///
/// A tripped gate is not an error: every output is written all the same, the manifest names the
/// drifted encoders, and their baselines stay last night's until [`promote`]. On an error the
/// files already written are complete and `run.json` still names the last complete run's.
// Long: the job's stages in order for each encoder, each told to the observer; each stage is its
// own function.
pub fn run(c: &Config, opts: &RunOptions, observe: Observer<'_>) -> Result<Manifest> {
    std::fs::create_dir_all(&c.out).map_err(|source| Error::Io { path: c.out.clone(), source })?;
    check(c)?;
    // Read before anything is written: a calibration written tonight must not be its own baseline.
    let baselines = baselines(c, opts, observe)?;
    let (mut steps, mut outputs) = (Vec::new(), Vec::new());
    let (mut tables, mut cals, mut drifted) = (Vec::new(), Vec::new(), Vec::new());
    for (e, baseline) in c.encoders.iter().zip(&baselines) {
        let name = e.name.as_str();
        let (job, summary) = score(c, e, observe)?;
        let table = job.out.clone();
        observe(&Event::Scored { encoder: name, job: &job, summary: &summary })?;
        steps.push(Step::Score { encoder: name.to_owned(), summary: summary.document(&job) });
        outputs.push(table.clone());

        let (art, seconds, cal) = fit(c, name, &table)?;
        observe(&Event::Fitted { encoder: name, artifact: &art, seconds, out: &cal })?;
        steps.push(Step::Fit { encoder: name.to_owned(), summary: art.summary(seconds, &cal) });
        outputs.push(cal.clone());

        let (a, applied, decisions) = apply(c, name, &table, &cal)?;
        observe(&Event::Applied { encoder: name, applied: &a, decisions: &decisions })?;
        steps.push(Step::Apply {
            encoder: name.to_owned(),
            decisions: a.counts(),
            out: applied.clone(),
            decisions_file: decisions.clone(),
        });
        outputs.extend([applied, decisions]);

        let (ev, eval_out) = eval(c, name, &table, &cal)?;
        observe(&Event::Evaluated { encoder: name, evaluation: &ev, out: &eval_out })?;
        steps.push(Step::Eval { encoder: name.to_owned(), out: eval_out.clone(), ranking: ev.global.ranking.means() });
        outputs.push(eval_out);

        if let (Some(d), Some((art, base))) = (&c.drift, baseline) {
            let (r, drift_out) = drift(c, d, name, &table, (art, base))?;
            observe(&Event::Drift { encoder: name, report: &r, out: &drift_out })?;
            if r.drifted {
                drifted.push(name.to_owned());
            }
            steps.push(Step::Drift {
                encoder: name.to_owned(),
                drifted: r.drifted,
                violations: r.violations.clone(),
                out: drift_out.clone(),
            });
            outputs.push(drift_out);
        }
        tables.push(table);
        cals.push(cal);
    }
    let page = report(c, &tables, &cals)?;
    observe(&Event::Reported { encoders: c.encoders.iter().map(|e| e.name.as_str()).collect(), out: &page })?;
    steps.push(Step::Report { out: page.clone() });
    outputs.push(page);
    let outputs =
        outputs.into_iter().map(|path| Ok(OutputFile { sha256: crate::table::sha256_file(&path)?, path })).collect::<Result<_>>()?;
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
    let manifest = Manifest {
        schema_version: MANIFEST_VERSION,
        command: "run",
        version: env!("CARGO_PKG_VERSION").to_owned(),
        out: c.out.clone(),
        drifted,
        outputs,
        steps,
        promoted,
    };
    crate::output::write_json(&c.out.join(MANIFEST), &manifest)?;
    Ok(manifest)
}
