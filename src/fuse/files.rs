//! `simcal fuse` as one stage: runs read from files (score tables or TREC runs), fused, labeled
//! and made a score table, with the summary its `--json` document holds.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{fuse, fused_meta, fused_table, read_run, FuseOptions, LabelSource, Method, Norm, RunFormat, RunInput};
use crate::error::Result;
use crate::labels::read_qrels;
use crate::table::{columns, ScoreTable};

/// One input of a fusion, as its summary lists it.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The file.
    pub path: PathBuf,
    /// What kind of file it is.
    pub format: RunFormat,
    /// Its name: the table's model, the run's tag, or the file's stem.
    pub name: String,
    /// Its rows.
    pub rows: usize,
}

/// What a fusion did: its options, inputs and result (the front ends add where they wrote it).
#[derive(Clone, Debug, Serialize)]
pub struct FuseSummary {
    /// The fusion method.
    pub method: Method,
    /// The normalisation of each list's scores.
    pub norm: Norm,
    /// RRF's k (RRF only).
    pub rrf_k: Option<f64>,
    /// The runs' weights, as given.
    pub weights: Option<Vec<f64>>,
    /// Documents kept per query.
    pub k: usize,
    /// The inputs, in order.
    pub runs: Vec<RunSummary>,
    /// Queries fused.
    pub queries: usize,
    /// Rows of the fused table.
    pub rows: usize,
    /// Whether some row of the fused table has a label.
    pub labeled: bool,
    /// The fused table's model name.
    pub model: String,
}

/// Fuses the runs at `paths` by `o` into a score table named `model` (default: the method and
/// the runs' names), labeled from the judgements at `qrels` (at `rel_level`) when given, else
/// from the inputs' own labels.
pub fn fuse_files(
    paths: &[PathBuf],
    qrels: Option<&Path>,
    rel_level: i32,
    model: Option<&str>,
    o: &FuseOptions,
) -> Result<(ScoreTable, FuseSummary)> {
    use rayon::prelude::*;
    let (runs, qrels) =
        rayon::join(|| paths.par_iter().map(|p| read_run(p)).collect::<Result<Vec<RunInput>>>(), || qrels.map(read_qrels).transpose());
    let (runs, qrels) = (runs?, qrels?);
    let fused = fuse(&runs, o)?;
    let labels = match &qrels {
        Some(q) => LabelSource::Qrels(q, rel_level),
        None => LabelSource::Inputs,
    };
    let table = fused_table(&runs, &fused, labels, fused_meta(&runs, o, model))?;
    let labeled = table.batch.column_by_name(columns::LABEL).is_some_and(|l| l.null_count() < table.len());
    let summary = FuseSummary {
        method: o.method,
        norm: o.norm,
        rrf_k: (o.method == Method::Rrf).then_some(o.rrf_k),
        weights: o.weights.clone(),
        k: o.k,
        runs: runs.iter().map(|r| RunSummary { path: r.path.clone(), format: r.format, name: r.name.clone(), rows: r.len() }).collect(),
        queries: fused.queries.len(),
        rows: table.len(),
        labeled,
        model: table.meta.model.clone(),
    };
    Ok((table, summary))
}
