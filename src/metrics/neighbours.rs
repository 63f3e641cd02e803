//! How far an approximate index's top k is from the exact top k: the recall of the exact
//! neighbours (faiss's and ann-benchmarks' "k-recall@k"), per query and overall, from two score
//! tables of the same queries — the index's hits, and simcal's exact top k of the same
//! embeddings (`simcal score`). What users of HNSW or IVF indexes measure when they tune them.
//!
//! Each query's hits are taken in rank order (the `rank` column where the table has one, else
//! score descending, ties in row order). recall@c of a query is the share of the exact table's
//! first c documents that the approximate table's first c documents hold, by document id; a
//! query of the exact table that the approximate table lacks has recall 0 (counted as missing).
//! An exact neighbour tied in score with one just outside the exact top c is still one document
//! among equals: a tie at the cut can cost an index a hit it did not miss (none on real scores).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::table::{ScoreTable, TableView};

/// The version of the document `simcal eval --reference` prints.
pub const RECALL_VERSION: u32 = 1;

/// The recall of the exact neighbours.
#[derive(Clone, Debug, Serialize)]
pub struct NeighbourRecall {
    /// [`RECALL_VERSION`].
    pub version: u32,
    /// The cutoffs c measured (recall@c), ascending.
    pub cutoffs: Vec<usize>,
    /// Queries of the exact table.
    pub queries: usize,
    /// Of them, queries the approximate table has no hit for (recall 0).
    pub missing: usize,
    /// Queries of the approximate table that the exact table lacks (not measured).
    pub not_in_reference: usize,
    /// Mean recall over the queries, by cutoff (`recall@10`).
    pub mean: BTreeMap<String, f64>,
    /// Queries whose recall is below 1, by cutoff.
    pub below_one: BTreeMap<String, usize>,
    /// Each query's recall by cutoff, in the exact table's query order.
    pub per_query: Vec<(String, Vec<f64>)>,
}

/// Each query's document ids in rank order, the queries in order of first appearance.
fn ranked<'a>(view: &TableView<'a>) -> Result<Vec<(&'a str, Vec<&'a str>)>> {
    let qid = view.query_ids("the recall of exact neighbours")?;
    let did = view.doc_ids("the recall of exact neighbours")?;
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut rows: Vec<(&str, Vec<usize>)> = Vec::new();
    for r in 0..view.len() {
        let q = qid.value(r);
        let i = *at.entry(q).or_insert_with(|| {
            rows.push((q, Vec::new()));
            rows.len() - 1
        });
        if let Some((_, v)) = rows.get_mut(i) {
            v.push(r);
        }
    }
    let score = view.score;
    let key = |r: usize| (view.rank.map(|k| k.value(r)), score.get(r).copied().unwrap_or(f32::NAN));
    // A document twice in one query's hits would count twice.
    for (q, v) in &rows {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(v.len());
        for &r in v {
            if let Some(first) = seen.insert(did.value(r), r) {
                return Err(Error::format(
                    view.path(),
                    format!("rows {} and {}: query {q:?} lists document {:?} twice", first + 1, r + 1, did.value(r)),
                ));
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|(q, mut v)| {
            // Stable: ties keep row order.
            v.sort_by(|&a, &b| {
                let ((ra, sa), (rb, sb)) = (key(a), key(b));
                match (ra, rb) {
                    (Some(ra), Some(rb)) => ra.cmp(&rb),
                    _ => sb.total_cmp(&sa),
                }
            });
            (q, v.into_iter().map(|r| did.value(r)).collect())
        })
        .collect())
}

/// The recall of `exact`'s neighbours in `approx` at each of `cutoffs` (empty: 1, 10 and the
/// exact table's deepest query, those not above it; a cutoff deeper than that is refused),
/// each table named by its path in errors. A document listed twice for one query is refused.
// Long: the two tables' rankings, the cutoffs, then one pass over the exact table's queries.
pub fn neighbour_recall(
    approx: &ScoreTable,
    approx_path: &Path,
    exact: &ScoreTable,
    exact_path: &Path,
    cutoffs: &[usize],
) -> Result<NeighbourRecall> {
    let a = ranked(&TableView::new(approx, approx_path)?)?;
    let e = ranked(&TableView::new(exact, exact_path)?)?;
    if e.is_empty() {
        return Err(Error::format(exact_path, "no rows: the exact top k to compare with is empty"));
    }
    let deepest = e.iter().map(|(_, d)| d.len()).max().unwrap_or(0);
    let mut cuts: Vec<usize> = if cutoffs.is_empty() { vec![1, 10, deepest] } else { cutoffs.to_vec() };
    if let Some(&c) = cuts.iter().find(|&&c| c == 0) {
        return Err(Error::Invalid(format!("cutoff {c}: a recall@c needs c ≥ 1")));
    }
    if cutoffs.is_empty() {
        cuts.retain(|&c| c <= deepest);
    } else if let Some(&c) = cuts.iter().find(|&&c| c > deepest) {
        return Err(Error::Invalid(format!(
            "cutoff {c} is deeper than the reference's top k ({deepest}): recall@{c} needs the exact top {c}"
        )));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let found: HashMap<&str, &Vec<&str>> = a.iter().map(|(q, d)| (*q, d)).collect();
    let reference: std::collections::HashSet<&str> = e.iter().map(|(q, _)| *q).collect();
    let mut per_query = Vec::with_capacity(e.len());
    let mut missing = 0;
    for (q, want) in &e {
        let got = found.get(q);
        missing += usize::from(got.is_none());
        let recalls = cuts
            .iter()
            .map(|&c| {
                let truth: std::collections::HashSet<&str> = want.iter().take(c).copied().collect();
                let hits = got.map_or(0, |g| g.iter().take(c).filter(|d| truth.contains(*d)).count());
                if truth.is_empty() {
                    1.0
                } else {
                    hits as f64 / truth.len() as f64
                }
            })
            .collect::<Vec<f64>>();
        per_query.push(((*q).to_owned(), recalls));
    }
    let name = |c: usize| format!("recall@{c}");
    let n = per_query.len() as f64;
    let mean = cuts
        .iter()
        .enumerate()
        .map(|(i, &c)| (name(c), per_query.iter().map(|(_, r)| r.get(i).copied().unwrap_or(0.0)).sum::<f64>() / n))
        .collect();
    let below_one = cuts
        .iter()
        .enumerate()
        .map(|(i, &c)| (name(c), per_query.iter().filter(|(_, r)| r.get(i).is_some_and(|&v| v < 1.0)).count()))
        .collect();
    Ok(NeighbourRecall {
        version: RECALL_VERSION,
        cutoffs: cuts,
        queries: e.len(),
        missing,
        not_in_reference: a.iter().filter(|(q, _)| !reference.contains(q)).count(),
        mean,
        below_one,
        per_query,
    })
}

/// [`neighbour_recall`] of the tables at two paths (parquet score tables or TREC runs).
pub fn neighbour_recall_files(approx: &Path, exact: &Path, cutoffs: &[usize]) -> Result<NeighbourRecall> {
    let cols = ["query_id", "doc_id", "rank", "score"];
    let (a, e) = rayon::join(|| super::read_scores(approx, &cols), || super::read_scores(exact, &cols));
    neighbour_recall(&a?, approx, &e?, exact, cutoffs)
}

impl NeighbourRecall {
    /// The JSON document (`simcal eval --reference --json`), per query only when asked.
    pub fn document(&self, per_query: bool) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "version": self.version,
            "cutoffs": self.cutoffs,
            "queries": self.queries,
            "missing": self.missing,
            "not_in_reference": self.not_in_reference,
            "mean": self.mean,
            "below_one": self.below_one,
        });
        if per_query {
            let names: Vec<String> = self.cutoffs.iter().map(|c| format!("recall@{c}")).collect();
            let per: serde_json::Map<String, serde_json::Value> = self
                .per_query
                .iter()
                .map(|(q, r)| {
                    let row: serde_json::Map<String, serde_json::Value> = names.iter().cloned().zip(r.iter().map(|&v| v.into())).collect();
                    (q.clone(), row.into())
                })
                .collect();
            if let Some(o) = doc.as_object_mut() {
                o.insert("per_query".into(), per.into());
            }
        }
        doc
    }
}
