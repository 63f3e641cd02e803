//! The nightly job's configuration (`simcal run --config simcal.toml`, `simcal.run(config)`).
//! Paths are relative to the config file's folder.
//!
//! ```toml
//! out = "out"                  # output folder (default "out")
//! qrels = "data/qrels.tsv"     # judgements for every encoder
//! k = 100                      # hits kept per query
//! backend = "auto"             # auto | cpu | gpu
//! group_by = ["section"]       # fit and evaluate per value of these query columns
//! seed = 0                     # the calibration's bootstrap seed
//!
//! [[encoder]]
//! name = "minilm"
//! queries = "data/minilm.queries.parquet"
//! corpus = "data/minilm.corpus.parquet"
//! metric = "cosine"            # cosine | dot
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

use crate::embed::Metric;
use crate::error::{Error, Result};
use crate::metrics::drift::Tolerances;
use crate::score::{BackendChoice, BackendOptions};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    out: Option<PathBuf>,
    qrels: PathBuf,
    k: Option<usize>,
    backend: Option<String>,
    group_by: Option<Vec<String>>,
    seed: Option<u64>,
    encoder: Vec<EncoderFile>,
    drift: Option<DriftFile>,
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
    /// The drift gate, when asked for.
    pub drift: Option<Drift>,
}

impl Config {
    /// The sample in `data` (the repository's `data/`): both encoders with their qrels, per
    /// section, into `out`. An error when `data` holds no `qrels.tsv`.
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
            drift: None,
        })
    }

    /// Reads a config file, naming it in every error.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let bad = |message: String| Error::Format { path: path.to_owned(), message };
        let f: File = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let at = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
        if f.encoder.is_empty() {
            return Err(bad("no [[encoder]]: name at least one encoder to score".into()));
        }
        let mut names = std::collections::HashSet::new();
        let mut encoders = Vec::new();
        for e in f.encoder {
            if e.name.is_empty() || e.name.contains(['/', '\\']) || !names.insert(e.name.clone()) {
                return Err(bad(format!("encoder name {:?} is empty, has a path separator or is given twice", e.name)));
            }
            let metric = match e.metric.as_deref().unwrap_or("cosine") {
                "cosine" => Metric::Cosine,
                "dot" => Metric::Dot,
                m => return Err(bad(format!("encoder {}: metric {m:?} is not cosine or dot", e.name))),
            };
            encoders.push(Encoder { name: e.name, queries: at(e.queries), corpus: at(e.corpus), metric });
        }
        let choice = match f.backend.as_deref().unwrap_or("auto") {
            "auto" => BackendChoice::Auto,
            "cpu" => BackendChoice::Cpu,
            "gpu" => BackendChoice::Gpu,
            b => return Err(bad(format!("backend {b:?} is not auto, cpu or gpu"))),
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
        Ok(Config {
            out: at(f.out.unwrap_or_else(|| PathBuf::from("out"))),
            qrels: at(f.qrels),
            k,
            backend: BackendOptions { choice, ..BackendOptions::default() },
            group_by: f.group_by.unwrap_or_default(),
            seed: f.seed.unwrap_or(0),
            encoders,
            drift,
        })
    }
}
