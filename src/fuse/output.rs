//! The fused run as a score table: ids, ranks and fused scores, labels from qrels or carried
//! over from the inputs, the inputs' per-query columns, and metadata naming the inputs.

// Indexing here cannot fail: run, row and query positions come from the fused result's own numbering.
// (The crate denies indexing elsewhere: its readers of user files index nothing.)
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, Float32Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::interleave;
use arrow::datatypes::{FieldRef, Schema};
use serde_json::json;

use super::{FuseOptions, Fused, FusedQuery, Hit, Method, Norm, RunInput};
use crate::error::{Error, Result};
use crate::labels::Qrels;
use crate::table::{standard_fields, ScoreTable, TableMeta, SCHEMA_VERSION};

/// Where the fused table's labels come from.
#[derive(Clone, Copy, Debug)]
pub enum LabelSource<'a> {
    /// Judgements: a document's relevance, 0 when the query is judged and the document not,
    /// null when the query is not judged.
    Qrels(&'a Qrels, i32),
    /// The labeled input tables: a document's label from the inputs that list it, null where
    /// none of them does.
    Inputs,
}

/// The metadata of a fused table: `model` (default `METHOD(NAME+NAME…)`), `metric` the method
/// and normalisation, `backend` `fuse`, the inputs' common queries/corpus hashes when they
/// all share one, and `simcal.fuse.*` keys naming the method, normalisation, RRF k, weights and
/// every input (path, format, name, rows, sha256).
pub fn fused_meta(runs: &[RunInput], o: &FuseOptions, model: Option<&str>) -> TableMeta {
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let model = model.map(str::to_owned).unwrap_or_else(|| format!("{}({})", o.method.name(), names.join("+")));
    let common = |f: fn(&TableMeta) -> &String| -> String {
        let mut v = runs.iter().map(|r| r.meta.as_ref().map(f).cloned().unwrap_or_default());
        let first = v.next().unwrap_or_default();
        if v.all(|x| x == first) {
            first
        } else {
            String::new()
        }
    };
    let mut extra = BTreeMap::new();
    extra.insert("simcal.fuse.method".to_owned(), o.method.name().to_owned());
    if o.method != Method::Rrf || o.norm != Norm::None {
        extra.insert("simcal.fuse.norm".to_owned(), o.norm.name().to_owned());
    }
    if o.method == Method::Rrf {
        extra.insert("simcal.fuse.rrf_k".to_owned(), o.rrf_k.to_string());
    }
    if let Some(w) = &o.weights {
        extra.insert("simcal.fuse.weights".to_owned(), json!(w).to_string());
    }
    let inputs: Vec<_> = runs
        .iter()
        .map(|r| json!({"path": r.path.display().to_string(), "format": r.format.name(), "name": r.name, "rows": r.len(), "sha256": r.sha256}))
        .collect();
    extra.insert("simcal.fuse.inputs".to_owned(), json!(inputs).to_string());
    let metric = match (o.method, o.norm) {
        (Method::Rrf, Norm::None) => "rrf".to_owned(),
        (m, n) => format!("{}-{}", m.name(), n.name()),
    };
    TableMeta {
        schema_version: SCHEMA_VERSION,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model,
        metric,
        k: o.k,
        backend: "fuse".to_owned(),
        queries_sha256: common(|m| &m.queries_sha256),
        corpus_sha256: common(|m| &m.corpus_sha256),
        extra,
    }
}

/// Builds the fused score table (docs/architecture.md §4): one row per fused document, queries in order,
/// documents by rank; `score` is the fused score rounded to float32.
pub fn fused_table(runs: &[RunInput], fused: &Fused, labels: LabelSource, meta: TableMeta) -> Result<ScoreTable> {
    let n = fused.rows();
    let mut ranks: Vec<u32> = Vec::with_capacity(n);
    let mut scores: Vec<f32> = Vec::with_capacity(n);
    for q in &fused.queries {
        for (r, h) in q.hits.iter().enumerate() {
            ranks.push(r as u32 + 1);
            scores.push(h.score as f32);
        }
    }
    let err = |e: arrow::error::ArrowError| Error::Invalid(format!("building the fused table: {e}"));
    // The two id columns are gathered side by side, each query's strings in parallel.
    let (qid_col, did_col) =
        rayon::join(|| gather(fused, |q, _| q.id(runs)), || gather(fused, |_, h| runs[h.run as usize].doc_id.value(h.row as usize)));
    let (label, relevant): (Int32Array, UInt32Array) = match labels {
        LabelSource::Qrels(qrels, level) => {
            let mut l = Vec::with_capacity(n);
            let mut rel = Vec::with_capacity(n);
            for q in &fused.queries {
                let id = q.id(runs);
                let judged = qrels.judged.get(id);
                let count = judged.map(|_| qrels.relevant_count(id, level));
                for h in &q.hits {
                    let doc = runs[h.run as usize].doc_id.value(h.row as usize);
                    l.push(judged.map(|j| j.get(doc).copied().unwrap_or(0)));
                    rel.push(count);
                }
            }
            (Int32Array::from(l), UInt32Array::from(rel))
        }
        LabelSource::Inputs => {
            // Unlabeled inputs (the usual case for runs) give null columns without a row-by-row build.
            let labeled = fused.queries.iter().any(|q| q.hits.iter().any(|h| h.label.is_some()));
            let counted = fused.queries.iter().any(|q| q.query_relevant.is_some());
            (
                if labeled { fused.queries.iter().flat_map(|q| q.hits.iter().map(|h| h.label)).collect() } else { Int32Array::new_null(n) },
                if counted {
                    fused.queries.iter().flat_map(|q| q.hits.iter().map(move |_| q.query_relevant)).collect()
                } else {
                    UInt32Array::new_null(n)
                },
            )
        }
    };
    let mut fields = standard_fields();
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(qid_col?),
        Arc::new(did_col?),
        Arc::new(UInt32Array::from(ranks)),
        Arc::new(Float32Array::from(scores)),
        Arc::new(label),
        Arc::new(relevant),
    ];
    for (field, sources) in carried_columns(runs)? {
        // Per query: the first run (in order) that has this column and the query.
        let null = new_null_array(field.data_type(), 1);
        let mut values: Vec<&dyn Array> = sources.iter().map(|&(_, a)| a.as_ref()).collect();
        values.push(null.as_ref());
        let source: Vec<(usize, usize)> = fused
            .queries
            .iter()
            .map(|q| {
                sources
                    .iter()
                    .enumerate()
                    .find_map(|(s, &(run, _))| q.first[run].map(|row| (s, row as usize)))
                    .unwrap_or((sources.len(), 0))
            })
            .collect();
        let idx: Vec<(usize, usize)> =
            fused.queries.iter().zip(&source).flat_map(|(q, &at)| std::iter::repeat_n(at, q.hits.len())).collect();
        fields.push(field.as_ref().clone().with_nullable(true));
        arrays.push(interleave(&values, &idx).map_err(err)?);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(err)?;
    Ok(ScoreTable { batch, meta })
}

/// The strings `id(query, hit)` of every fused hit, queries in order, as one utf8 column:
/// offsets from each query's lengths, then each query's bytes copied into its own part of the
/// buffer in parallel (no index of (run, row) pairs, no single-threaded copy).
fn gather<'a, F>(fused: &Fused, id: F) -> Result<StringArray>
where
    F: Fn(&FusedQuery, &Hit) -> &'a str + Sync,
{
    use rayon::prelude::*;
    let lens: Vec<usize> = fused.queries.par_iter().map(|q| q.hits.iter().map(|h| id(q, h).len()).sum()).collect();
    let total: usize = lens.iter().sum();
    let too_big = || Error::Invalid(format!("building the fused table: {total} bytes of ids are more than a utf8 column holds"));
    i32::try_from(total).map_err(|_| too_big())?;
    let mut values = vec![0u8; total];
    let mut offsets = vec![0i32; fused.rows() + 1];
    // Each query's part of the buffer and of the offsets (the first offset stays 0).
    let mut parts: Vec<(&FusedQuery, usize, &mut [u8], &mut [i32])> = Vec::with_capacity(fused.queries.len());
    let (mut rest_v, mut rest_o, mut at) = (values.as_mut_slice(), offsets.get_mut(1..).unwrap_or_default(), 0usize);
    for (q, &len) in fused.queries.iter().zip(&lens) {
        let (v, tail_v) = std::mem::take(&mut rest_v).split_at_mut(len);
        let (o, tail_o) = std::mem::take(&mut rest_o).split_at_mut(q.hits.len());
        parts.push((q, at, v, o));
        (rest_v, rest_o, at) = (tail_v, tail_o, at + len);
    }
    parts.into_par_iter().with_min_len(64).for_each(|(q, start, v, o)| {
        let mut end = 0;
        for (h, off) in q.hits.iter().zip(o.iter_mut()) {
            let s = id(q, h).as_bytes();
            v[end..end + s.len()].copy_from_slice(s);
            end += s.len();
            // Within i32: the total was checked.
            *off = (start + end) as i32;
        }
    });
    let offsets = arrow::buffer::OffsetBuffer::new(arrow::buffer::ScalarBuffer::from(offsets));
    StringArray::try_new(offsets, arrow::buffer::Buffer::from_vec(values), None)
        .map_err(|e| Error::Invalid(format!("building the fused table: {e}")))
}

/// The inputs' carried columns by name, in order of first appearance, each with the runs that
/// have it; a name with two types is refused.
#[allow(clippy::type_complexity)]
fn carried_columns(runs: &[RunInput]) -> Result<Vec<(FieldRef, Vec<(usize, &ArrayRef)>)>> {
    let mut out: Vec<(FieldRef, Vec<(usize, &ArrayRef)>)> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        for (f, a) in &run.carried {
            match out.iter_mut().find(|(g, _)| g.name() == f.name()) {
                Some((g, v)) => {
                    if g.data_type() != f.data_type() {
                        let (first, _) = v[0];
                        return Err(Error::Mismatch {
                            message: format!(
                                "column {} is {} in {} but {} in {}",
                                f.name(),
                                g.data_type(),
                                runs[first].path.display(),
                                f.data_type(),
                                run.path.display()
                            ),
                        });
                    }
                    v.push((i, a));
                }
                None => out.push((Arc::clone(f), vec![(i, a)])),
            }
        }
    }
    Ok(out)
}
