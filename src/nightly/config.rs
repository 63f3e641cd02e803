//! The nightly job's configuration (`simcal run --config simcal.toml`, `simcal.run(config)`).
//! Paths are relative to the config file's folder.
//!
//! ```toml
//! out = "out"                  # output folder (default "out")
//! qrels = "data/qrels.tsv"     # judgements for every encoder
//! k = 100                      # hits kept per query
//! backend = "auto"             # auto | cpu | gpu
//! cpu_kernel = "avx512"        # force a CPU kernel (default: the one measured fastest)
//! group_by = ["section"]       # fit and evaluate per value of these query columns
//! seed = 0                     # the calibration's bootstrap seed
//!
//! [[encoder]]
//! name = "minilm"
//! queries = "data/minilm.queries.parquet"
//! corpus = "data/minilm.corpus.parquet"
//! metric = "cosine"            # cosine | dot
//!
//! [calibration]                # optional: what `simcal fit` takes (these are the defaults)
//! target_precision = [0.9]     # the first is the target decisions act on, unless [decisions] target
//! target_recall = []
//! confidence = 0.9             # every certificate at once; 0 turns certification off
//! unit = "query"               # query | pair | pair-iid
//! fwer = "fixed-sequence"      # fixed-sequence | holm | bonferroni
//! grid = 1000                  # candidate thresholds: quantiles of the units' scores
//! abstain = "0.5:0.9"          # the band in probability: not found below, act at or above
//! folds = 5
//! bootstrap = 1000
//! min_pairs = 50
//! min_relevant = 10
//! method = "all"               # isotonic | platt | all
//!
//! [decisions]                  # optional: what `simcal apply` takes
//! target = 0.9                 # the precision target whose certificate `act` rests on
//! certified_by = "group"       # group (each group its own certificate) | global (one for all;
//!                              # the fit then certifies the global population alone)
//! decide_on = "certified"      # certified | estimate
//! min_gap = 0.0
//!
//! [drift]                      # optional: the gate against each encoder's last good calibration
//! baseline = "baseline"        # folder of NAME.calibration.json per encoder, not `out`: a
//!                              # calibration that passes the gate is copied there; a drifted
//!                              # one only by `simcal run --config F --promote NAME`
//! max_ks = 0.1
//! max_precision_drop = 0.05
//! min_pairs = 500
//! significance = 0.05          # family-wise level of the gate's tests
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::calibrate::artifact::Band;
use crate::calibrate::certify::{CertifyOptions, Grid, Unit, DEFAULT_GRID};
use crate::calibrate::{FitOptions, Maps};
use crate::choice::{one_of, Choice};
use crate::embed::Metric;
use crate::error::{Error, Result};
use crate::metrics::drift::Tolerances;
use crate::policy::{ApplyOptions, CertifiedBy};
use crate::score::cpu::Isa;
use crate::score::{BackendChoice, BackendOptions};
use crate::stats::ltt::Fwer;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    out: Option<PathBuf>,
    qrels: PathBuf,
    k: Option<usize>,
    backend: Option<String>,
    cpu_kernel: Option<String>,
    group_by: Option<Vec<String>>,
    seed: Option<u64>,
    encoder: Vec<EncoderFile>,
    calibration: Option<CalibrationFile>,
    decisions: Option<DecisionsFile>,
    drift: Option<DriftFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalibrationFile {
    target_precision: Option<Vec<f64>>,
    target_recall: Option<Vec<f64>>,
    confidence: Option<f64>,
    unit: Option<String>,
    fwer: Option<String>,
    grid: Option<usize>,
    abstain: Option<String>,
    folds: Option<usize>,
    bootstrap: Option<usize>,
    min_pairs: Option<u64>,
    min_relevant: Option<u64>,
    method: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionsFile {
    target: Option<f64>,
    certified_by: Option<String>,
    decide_on: Option<String>,
    min_gap: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EncoderFile {
    name: String,
    queries: PathBuf,
    corpus: PathBuf,
    metric: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DriftFile {
    baseline: PathBuf,
    max_ks: Option<f64>,
    max_precision_drop: Option<f64>,
    min_pairs: Option<u64>,
    significance: Option<f64>,
}

/// One encoder to score.
pub struct Encoder {
    /// Its name, in the output files' names.
    pub name: String,
    /// Its query embeddings.
    pub queries: PathBuf,
    /// Its corpus embeddings.
    pub corpus: PathBuf,
    /// How its vectors are compared.
    pub metric: Metric,
}

/// The drift gate.
pub struct Drift {
    /// Folder of last night's `NAME.calibration.json`.
    pub baseline: PathBuf,
    /// What the gate lets pass.
    pub tolerances: Tolerances,
}

/// A whole pipeline run.
pub struct Config {
    /// The output folder.
    pub out: PathBuf,
    /// The judgements, for every encoder.
    pub qrels: PathBuf,
    /// Hits kept per query.
    pub k: usize,
    /// Where to score.
    pub backend: BackendOptions,
    /// Query columns to fit and evaluate per value of.
    pub group_by: Vec<String>,
    /// The calibration's seed.
    pub seed: u64,
    /// The encoders to score, in order.
    pub encoders: Vec<Encoder>,
    /// How each encoder's table is fitted (its groups and seed are the config's).
    pub fit: FitOptions,
    /// How each calibration is applied.
    pub apply: ApplyOptions,
    /// The drift gate, when asked for.
    pub drift: Option<Drift>,
}

/// The job's fit when the config says nothing: `simcal fit`'s defaults, held out over 5 folds
/// by query, certified at confidence 0.9 at the query unit (the unit `apply` decides on).
pub fn default_fit() -> FitOptions {
    FitOptions {
        certify: Some(CertifyOptions {
            confidence: 0.9,
            unit: Unit::default(),
            fwer: Fwer::default(),
            grid: Grid::Quantiles(DEFAULT_GRID),
            grid_source: "quantiles".to_owned(),
        }),
        ..FitOptions::default()
    }
}

/// A choice by its name (the library's, which the CLI and Python take too), or an error naming
/// the field.
fn choice<T: crate::Choice>(field: &str, v: &str) -> std::result::Result<T, String> {
    T::parse(v).map_err(|_| format!("{field} = {v:?}: expected one of {}", T::names().join(", ")))
}

impl CalibrationFile {
    /// `FitOptions` from the defaults with this table's fields set.
    fn options(self) -> std::result::Result<FitOptions, String> {
        let mut o = default_fit();
        if let Some(v) = self.target_precision {
            o.target_precision = v;
        }
        if let Some(v) = self.target_recall {
            o.target_recall = v;
        }
        if let Some(v) = self.abstain {
            o.abstain = v.parse::<Band>().map_err(|e| format!("abstain: {e}"))?;
        }
        if let Some(v) = self.folds {
            o.folds = v;
        }
        if let Some(v) = self.bootstrap {
            o.bootstrap = v;
        }
        if let Some(v) = self.min_pairs {
            o.min_pairs = v;
        }
        if let Some(v) = self.min_relevant {
            o.min_relevant = v;
        }
        if let Some(v) = self.method {
            o.methods = choice::<Maps>("method", &v)?.methods();
        }
        match self.confidence {
            Some(0.0) => o.certify = None,
            Some(c) if !(c > 0.0 && c < 1.0) => return Err(format!("confidence = {c}: expected 0 (off) or a value in (0, 1)")),
            _ => {}
        }
        if let Some(cert) = o.certify.as_mut() {
            if let Some(c) = self.confidence {
                cert.confidence = c;
            }
            if let Some(u) = self.unit {
                cert.unit = choice("unit", &u)?;
            }
            if let Some(f) = self.fwer {
                cert.fwer = choice("fwer", &f)?;
            }
            if let Some(g) = self.grid {
                cert.grid = Grid::Quantiles(g);
            }
        }
        Ok(o)
    }
}

impl DecisionsFile {
    fn options(self) -> std::result::Result<ApplyOptions, String> {
        let mut o = ApplyOptions { target: self.target, ..ApplyOptions::default() };
        if let Some(v) = self.certified_by {
            o.certified_by = Some(choice("certified_by", &v)?);
        }
        if let Some(v) = self.decide_on {
            o.decide_on = choice("decide_on", &v)?;
        }
        if let Some(v) = self.min_gap {
            o.min_gap = v;
        }
        Ok(o)
    }
}

impl Config {
    /// The sample in `data` (the repository's `data/`): both encoders with their qrels, per
    /// section, into `out`. An error when `data` holds no `qrels.tsv`. Its 300 queries fall in
    /// 41 sections, none large enough to certify a threshold of its own: its decisions act on
    /// the global certificate (a guarantee over all its queries, none per section).
    pub fn sample(data: &Path, out: PathBuf, k: usize, seed: u64) -> Result<Config> {
        if !data.join("qrels.tsv").is_file() {
            return Err(Error::Format { path: data.to_owned(), message: "no sample here: qrels.tsv not found".into() });
        }
        Ok(Config {
            out,
            qrels: data.join("qrels.tsv"),
            k,
            backend: BackendOptions::default(),
            group_by: vec!["section".into()],
            seed,
            encoders: ["minilm", "lsa"]
                .iter()
                .map(|e| Encoder {
                    name: (*e).to_owned(),
                    queries: data.join(format!("{e}.queries.parquet")),
                    corpus: data.join(format!("{e}.corpus.parquet")),
                    metric: Metric::Cosine,
                })
                .collect(),
            fit: FitOptions { group_by: vec!["section".into()], seed, certified_by: CertifiedBy::Global, ..default_fit() },
            apply: ApplyOptions { certified_by: Some(CertifiedBy::Global), ..ApplyOptions::default() },
            drift: None,
        })
    }

    /// Reads a config file, naming it in every error.
    // Long: one check per key of the config file, in the file's order, each naming the key.
    pub fn load(path: &Path) -> Result<Config> {
        let text = crate::text::read_text(path)?;
        let bad = |message: String| Error::Format { path: path.to_owned(), message };
        let f: File = toml::from_str(&text).map_err(|e| bad(crate::error::foreign_text(e)))?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let at = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
        if f.encoder.is_empty() {
            return Err(bad("no [[encoder]]: name at least one encoder to score".into()));
        }
        let mut names = std::collections::HashSet::new();
        let mut encoders = Vec::new();
        for e in f.encoder {
            if e.name.is_empty() || e.name.starts_with('.') || e.name.contains(['/', '\\']) || !names.insert(e.name.clone()) {
                return Err(bad(format!(
                    "encoder name {:?} is empty, starts with a dot (its files would be hidden), has a path separator or is given twice",
                    e.name
                )));
            }
            let metric = match e.metric.as_deref() {
                None => Metric::default(),
                Some(m) => {
                    Metric::parse(m).map_err(|_| bad(format!("encoder {}: metric {m:?} is not {}", e.name, one_of(Metric::names()))))?
                }
            };
            encoders.push(Encoder { name: e.name, queries: at(e.queries), corpus: at(e.corpus), metric });
        }
        let choice = match f.backend.as_deref() {
            None => BackendChoice::default(),
            Some(b) => BackendChoice::parse(b).map_err(|_| bad(format!("backend {b:?} is not {}", one_of(BackendChoice::names()))))?,
        };
        let cpu_kernel = match f.cpu_kernel.as_deref() {
            None => None,
            Some(c) => Some(Isa::parse(c).map_err(|_| bad(format!("cpu_kernel {c:?} is not {}", one_of(Isa::names()))))?),
        };
        let drift = f.drift.map(|d| {
            let def = Tolerances::default();
            Drift {
                baseline: at(d.baseline),
                tolerances: Tolerances {
                    max_ks: d.max_ks.unwrap_or(def.max_ks),
                    max_precision_drop: d.max_precision_drop.unwrap_or(def.max_precision_drop),
                    min_pairs: d.min_pairs.unwrap_or(def.min_pairs),
                    significance: d.significance.unwrap_or(def.significance),
                },
            }
        });
        let k = f.k.unwrap_or(crate::job::DEFAULT_K);
        if k == 0 {
            return Err(bad("k must be at least 1".into()));
        }
        let group_by = f.group_by.unwrap_or_default();
        let seed = f.seed.unwrap_or(0);
        let fit = match f.calibration {
            Some(c) => c.options().map_err(|e| bad(format!("[calibration] {e}")))?,
            None => default_fit(),
        };
        let apply = match f.decisions {
            Some(d) => d.options().map_err(|e| bad(format!("[decisions] {e}")))?,
            None => ApplyOptions::default(),
        };
        // Decisions on the global certificate: the fit certifies the global population alone.
        let fit = FitOptions { group_by: group_by.clone(), seed, certified_by: apply.certified_by.unwrap_or_default(), ..fit };
        // Every value is checked now, by its key: not on a later night, under a flag's name.
        fit.check().map_err(|e| bad(format!("[calibration] {}", e.to_string().trim_start_matches("invalid argument: "))))?;
        // As apply matches a target to the calibration's (to 1e-12).
        if let Some(t) = apply.target.filter(|&t| !fit.target_precision.iter().any(|&p| (p - t).abs() < 1e-12)) {
            let listed: Vec<String> = fit.target_precision.iter().map(f64::to_string).collect();
            return Err(bad(format!(
                "[decisions] target = {t} is not one of the precision targets the calibration certifies ([calibration] target_precision = [{}]): add it there",
                listed.join(", ")
            )));
        }
        if let Some((key, v)) = apply.out_of_range() {
            return Err(bad(format!("[decisions] {key} = {v} is outside [0, 1]")));
        }
        if let Some((key, v)) = drift.as_ref().and_then(|d| d.tolerances.out_of_range()) {
            return Err(bad(format!("[drift] {key} = {v} is outside [0, 1]")));
        }
        Ok(Config {
            out: at(f.out.unwrap_or_else(|| PathBuf::from("out"))),
            qrels: at(f.qrels),
            k,
            backend: BackendOptions { choice, cpu_kernel, ..BackendOptions::default() },
            group_by,
            seed,
            encoders,
            fit,
            apply,
            drift,
        })
    }
}
