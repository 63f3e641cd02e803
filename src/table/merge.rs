//! Exact merge of a sharded scoring job: the parts that `simcal score --shard I/N` wrote, one
//! per corpus shard, merged per query into the table one run over the whole corpus writes.
//!
//! Each part holds, per query, the exact top k of its contiguous corpus rows in rank order
//! (score descending, ties by corpus row). Merging every query's lists by score descending,
//! ties by shard and then rank, and keeping k, gives the whole corpus's exact top k with its
//! ties broken by corpus row, as a single run breaks them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::interleave;
use arrow::datatypes::Float32Type;
use rustc_hash::FxHashMap;

use super::{columns, read_table, ScoreTable, TableMeta};
use crate::error::{Error, Result};

/// One part: its table and its shard.
struct Part {
    path: PathBuf,
    table: ScoreTable,
    index: u64,
    count: u64,
}

fn shard_of(path: &Path, table: &ScoreTable) -> Result<(u64, u64)> {
    let spec = table
        .meta
        .extra
        .get(super::keys::SHARD)
        .ok_or_else(|| Error::format(path, "not a shard part: no simcal.shard in its metadata (score it with `shard` I/N)"))?;
    let bad = || Error::format(path, format!("bad simcal.shard {spec:?}"));
    let (i, n) = spec.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Checks that the parts are every shard of one job, once each; returns them in shard order.
/// A part's rows as scoring writes them, read through the checked view (ids, finite scores):
/// each query's rows together, ranked 1, 2, … with scores not increasing, no document twice.
fn check_rows(path: &Path, table: &ScoreTable) -> Result<()> {
    let view = super::TableView::new(table, path)?;
    let runs = super::foreign::together_runs(path, &table.batch)?;
    let (qid, did, rank) = (view.query_ids("merging")?, view.doc_ids("merging")?, view.ranks("merging")?);
    let score = view.score;
    for &(lo, hi) in &runs {
        let mut docs: Vec<(&str, usize)> = (lo..hi).map(|r| (did.value(r), r)).collect();
        docs.sort_unstable();
        if let Some(w) = docs.windows(2).find(|w| w.first().map(|a| a.0) == w.get(1).map(|b| b.0)) {
            let (first, again) = (w.first().map_or(0, |a| a.1), w.get(1).map_or(0, |b| b.1));
            return Err(Error::row(
                path,
                again as u64,
                Some(qid.value(lo)),
                format!("document {} is listed twice for the query (also at row {first})", crate::error::quoted(did.value(again))),
            ));
        }
        for r in lo..hi {
            if rank.value(r) as usize != r - lo + 1 {
                return Err(Error::row(
                    path,
                    r as u64,
                    Some(qid.value(r)),
                    format!("rank {} where the query's rows give {}: a part's rows are in rank order", rank.value(r), r - lo + 1),
                ));
            }
            if r > lo && score.get(r) > score.get(r - 1) {
                return Err(Error::row(
                    path,
                    r as u64,
                    Some(qid.value(r)),
                    "the score rises down the ranks: a part's rows are in rank order",
                ));
            }
        }
    }
    Ok(())
}

/// Refuses parts that do not hold the same queries in the same order (every shard scores every
/// query; a part with no rows at all scored an empty shard).
fn same_queries(parts: &[Part]) -> Result<()> {
    let ids = |p: &Part| -> Vec<String> {
        let Some(q) = p.table.batch.column_by_name(columns::QUERY_ID).and_then(|c| c.as_string_opt::<i32>()) else { return Vec::new() };
        super::id_runs(q).iter().map(|&(lo, _)| q.value(lo).to_owned()).collect()
    };
    let mut lists = parts.iter().filter(|p| p.table.batch.num_rows() > 0).map(|p| (p, ids(p)));
    let Some((first, want)) = lists.next() else { return Ok(()) };
    for (p, have) in lists {
        if have != want {
            let (want_set, have_set): (std::collections::HashSet<&String>, std::collections::HashSet<&String>) =
                (want.iter().collect(), have.iter().collect());
            let missing = want.iter().find(|q| !have_set.contains(q));
            let extra = have.iter().find(|q| !want_set.contains(q));
            let what = match (missing, extra) {
                (Some(q), _) => format!("has no rows for query {}, which {} has", crate::error::quoted(q), first.path.display()),
                (None, Some(q)) => format!("has query {}, which {} has not", crate::error::quoted(q), first.path.display()),
                (None, None) => format!("lists its queries in another order than {}", first.path.display()),
            };
            return Err(Error::format(&p.path, format!("{what}: the parts are not of one scoring job")));
        }
    }
    Ok(())
}

// Long: one refusal per way shard parts can disagree, each naming the parts.
fn check(mut parts: Vec<Part>) -> Result<Vec<Part>> {
    let Some(first) = parts.first() else {
        return Err(Error::Invalid("no parts to merge".into()));
    };
    let (n, a) = (first.count, first.path.clone());
    let mismatch = |message: String| Error::Mismatch { message };
    for p in &parts {
        if p.count != n {
            return Err(mismatch(format!(
                "parts of different jobs: {} is shard {} of {}, {} is of {}",
                p.path.display(),
                p.index,
                p.count,
                a.display(),
                n
            )));
        }
        let (m, f) = (&p.table.meta, &first.table.meta);
        let same = [
            ("queries sha256", &m.queries_sha256, &f.queries_sha256),
            ("corpus sha256", &m.corpus_sha256, &f.corpus_sha256),
            ("model", &m.model, &f.model),
            ("metric", &m.metric, &f.metric),
        ];
        for (what, x, y) in same {
            if x != y {
                return Err(mismatch(format!(
                    "{} was scored from other inputs than {}: {what} {x:?} vs {y:?}",
                    p.path.display(),
                    a.display()
                )));
            }
        }
        if m.k != f.k {
            return Err(mismatch(format!("{} was scored with k = {}, {} with k = {}", p.path.display(), m.k, a.display(), f.k)));
        }
        // Labels from other qrels, or zero vectors handled otherwise, would mix two jobs.
        for (key, what) in [
            (super::keys::QRELS_SHA256, "labeled from other qrels"),
            (super::keys::REL_LEVEL, "labeled at another relevance level"),
            (super::keys::ZERO_VECTORS, "scored with other `zero_vectors`"),
        ] {
            if m.extra.get(key) != f.extra.get(key) {
                let show = |v: Option<&String>| v.map_or_else(|| "none".to_owned(), |v| v.chars().take(12).collect());
                return Err(mismatch(format!(
                    "{} was {what} than {}: {key} {} vs {}",
                    p.path.display(),
                    a.display(),
                    show(m.extra.get(key)),
                    show(f.extra.get(key))
                )));
            }
        }
        if m.extra.get(super::keys::CORPUS_ROWS) != f.extra.get(super::keys::CORPUS_ROWS) {
            return Err(mismatch(format!("{} and {} shard corpora of different sizes", p.path.display(), a.display())));
        }
        if p.table.batch.schema().fields() != first.table.batch.schema().fields() {
            return Err(mismatch(format!("{} and {} have different columns", p.path.display(), a.display())));
        }
    }
    parts.sort_by_key(|p| p.index);
    for (a, b) in parts.iter().zip(parts.iter().skip(1)) {
        if a.index == b.index {
            return Err(mismatch(format!("shard {}/{n} given twice: {} and {}", a.index, a.path.display(), b.path.display())));
        }
    }
    if parts.len() as u64 != n {
        let have: Vec<u64> = parts.iter().map(|p| p.index).collect();
        let missing: Vec<String> = (0..n).filter(|i| !have.contains(i)).map(|i| format!("{i}/{n}")).collect();
        return Err(mismatch(format!(
            "missing shard{} {} (have {} of {n})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            parts.len()
        )));
    }
    Ok(parts)
}

/// What a merge made (the front ends add where they wrote it and how long it took).
#[derive(Clone, Debug, serde::Serialize)]
pub struct MergeSummary {
    /// The parts, as given.
    pub parts: Vec<PathBuf>,
    /// Rows of the merged table.
    pub rows: usize,
    /// Hits per query.
    pub k: usize,
    /// The model that scored it.
    pub model: String,
}

impl MergeSummary {
    /// The summary of `table`, merged from `parts`.
    pub fn new(parts: &[PathBuf], table: &ScoreTable) -> MergeSummary {
        MergeSummary { parts: parts.to_vec(), rows: table.len(), k: table.meta.k, model: table.meta.model.clone() }
    }
}

/// Reads and merges the parts of one sharded scoring job into one score table: the same rows,
/// row for row, as scoring the whole corpus at once. Refuses a missing or repeated shard, parts
/// of different inputs (queries or corpus hash, model, metric), k or column sets, naming them.
pub fn merge_parts(paths: &[PathBuf]) -> Result<ScoreTable> {
    use rayon::prelude::*;
    let parts: Vec<Part> = paths
        .par_iter()
        .map(|p| {
            let table = read_table(p)?;
            let (index, count) = shard_of(p, &table)?;
            check_rows(p, &table)?;
            Ok(Part { path: p.clone(), table, index, count })
        })
        .collect::<Result<_>>()?;
    let parts = check(parts)?;
    same_queries(&parts)?;
    let Some(first) = parts.first() else {
        return Err(Error::Invalid("no parts to merge".to_owned()));
    };
    let (at, ranks) = merged_rows(&parts, first.table.meta.k)?;
    let schema = first.table.batch.schema();
    let err = |e: arrow::error::ArrowError| Error::Invalid(format!("merging parts: {e}"));
    let mut ranks = Some(ranks);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (c, f) in schema.fields().iter().enumerate() {
        if f.name() == columns::RANK {
            arrays.push(Arc::new(UInt32Array::from(ranks.take().unwrap_or_default())));
            continue;
        }
        let cols: Vec<&dyn Array> = parts.iter().map(|p| p.table.batch.column(c).as_ref()).collect();
        arrays.push(interleave(&cols, &at).map_err(err)?);
    }
    let batch = RecordBatch::try_new(schema, arrays).map_err(err)?;
    Ok(ScoreTable::new(batch, merged_meta(&parts)))
}

/// The merged table's metadata: the first part's, without its shard, with the number of shards
/// merged, their zero vectors summed and their backends and CPU kernels named.
fn merged_meta(parts: &[Part]) -> TableMeta {
    let Some(first) = parts.first() else { return TableMeta::default() };
    let mut meta = first.table.meta.clone();
    meta.extra.retain(|key, _| !matches!(key.as_str(), super::keys::SHARD | super::keys::SHARD_ROWS | super::keys::CORPUS_ROWS));
    meta.extra.insert(super::keys::MERGED_SHARDS.to_owned(), parts.len().to_string());
    // Each shard counted its own corpus rows scored 0.
    if meta.extra.contains_key(super::keys::ZERO_CORPUS_ROWS) {
        let total: u64 = parts.iter().filter_map(|p| p.table.meta.extra.get(super::keys::ZERO_CORPUS_ROWS)?.parse::<u64>().ok()).sum();
        meta.extra.insert(super::keys::ZERO_CORPUS_ROWS.to_owned(), total.to_string());
    }
    let mut backends: Vec<&str> = parts.iter().map(|p| p.table.meta.backend.as_str()).collect();
    backends.dedup();
    meta.backend = backends.join(" + ");
    // Parts scored on different hosts may have used different CPU kernels: each is named.
    for key in [super::keys::CPU_KERNEL, super::keys::CPU_KERNEL_CHOSEN_BY] {
        let mut values: Vec<&str> = parts.iter().filter_map(|p| p.table.meta.extra.get(key).map(String::as_str)).collect();
        values.dedup();
        if !values.is_empty() {
            meta.extra.insert(key.to_owned(), values.join(" + "));
        }
    }
    meta
}

/// A row of a part: (part, row).
type PartRow = (usize, usize);

/// The rows of the merged table, as (part, row) in order, with their ranks: per query (in order
/// of first appearance), its rows of every part by score descending, then shard, then the
/// part's own rank order, cut to `k`.
fn merged_rows(parts: &[Part], k: usize) -> Result<(Vec<PartRow>, Vec<u32>)> {
    // Per query (in order of first appearance), its rows in each part: contiguous runs.
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    let mut queries: Vec<Vec<(usize, usize, usize)>> = Vec::new();
    let mut scores: Vec<&[f32]> = Vec::new();
    for (pi, p) in parts.iter().enumerate() {
        let b = &p.table.batch;
        let q = b
            .column_by_name(columns::QUERY_ID)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| Error::format(&p.path, "no utf8 query_id column"))?;
        let s = b
            .column_by_name(columns::SCORE)
            .and_then(|c| c.as_primitive_opt::<Float32Type>())
            .ok_or_else(|| Error::format(&p.path, "no float32 score column"))?;
        scores.push(s.values());
        for (r, end) in super::id_runs(q) {
            let next = queries.len();
            let qi = *index.entry(q.value(r)).or_insert(next);
            if qi == next {
                queries.push(Vec::new());
            }
            if let Some(runs) = queries.get_mut(qi) {
                runs.push((pi, r, end));
            }
        }
    }
    let mut at: Vec<(usize, usize)> = Vec::new();
    let mut ranks: Vec<u32> = Vec::new();
    let mut cand: Vec<(usize, usize)> = Vec::new();
    for runs in &queries {
        cand.clear();
        for &(pi, a, b) in runs {
            cand.extend((a..b).map(|r| (pi, r)));
        }
        // Score descending, then shard, then the part's own rank order.
        let score = |p: usize, r: usize| scores.get(p).and_then(|s| s.get(r)).copied().unwrap_or(f32::NAN);
        cand.sort_by(|&(pa, ra), &(pb, rb)| score(pb, rb).total_cmp(&score(pa, ra)).then(pa.cmp(&pb)).then(ra.cmp(&rb)));
        cand.truncate(k);
        at.extend_from_slice(&cand);
        ranks.extend(1..=cand.len() as u32);
    }
    Ok((at, ranks))
}
