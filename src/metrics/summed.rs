//! `simcal eval --histograms`: the separation of relevant and irrelevant scores measured on
//! summed score histograms (`simcal hist`) instead of a table, whole and per group, at the
//! histograms' resolution.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::separation::{separation, Separation};
use super::EVAL_VERSION;
use crate::calibrate::histogram::{Histograms, Source};
use crate::error::Result;

/// The separation of one group's histogram.
#[derive(Clone, Debug, Serialize)]
pub struct GroupSeparation {
    /// `section=admin`.
    pub key: String,
    /// The group's column values.
    pub values: BTreeMap<String, String>,
    /// Its separation.
    pub separation: Separation,
}

/// The separation of all labeled pairs.
#[derive(Clone, Debug, Serialize)]
pub struct GlobalSeparation {
    /// Its separation.
    pub separation: Separation,
}

/// What `eval --histograms` measured: the document it prints and writes.
#[derive(Clone, Debug, Serialize)]
pub struct HistogramEval {
    /// [`EVAL_VERSION`].
    pub schema_version: u32,
    /// `eval`.
    pub command: &'static str,
    /// The histogram files, as given.
    pub histograms: Vec<PathBuf>,
    /// The tables' model.
    pub model: String,
    /// Their metric.
    pub metric: String,
    /// The tables summed into the histograms.
    pub sources: Vec<Source>,
    /// All labeled pairs.
    pub global: GlobalSeparation,
    /// Per group.
    pub groups: Vec<GroupSeparation>,
}

/// Reads and sums the histogram files at `paths` (`simcal hist`) and measures their separation.
pub fn evaluate_histograms(paths: &[PathBuf]) -> Result<HistogramEval> {
    let h = Histograms::read_all(paths)?;
    let groups = h
        .groups
        .iter()
        .map(|g| GroupSeparation { key: g.key.clone(), values: g.values.clone(), separation: separation(&g.histogram.distinct()) })
        .collect();
    Ok(HistogramEval {
        schema_version: EVAL_VERSION,
        command: "eval",
        histograms: paths.to_vec(),
        global: GlobalSeparation { separation: separation(&h.global.distinct()) },
        model: h.model,
        metric: h.metric,
        sources: h.sources,
        groups,
    })
}
