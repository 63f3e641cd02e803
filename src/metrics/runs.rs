//! A score table's queries as runs to measure: each query's rows in trec_eval's order with
//! their judgements, from qrels or, without them, from the table's own labels.

use rustc_hash::FxHashMap as HashMap;
use std::path::Path;

use arrow::array::{Array, Int32Array, StringArray, UInt32Array};

use super::ranking::QueryRun;
use crate::error::{Error, Result};
use crate::labels::Qrels;
use crate::table::TableView;

/// The columns of a table that ranking reads.
pub struct Columns<'a> {
    qid: &'a StringArray,
    did: &'a StringArray,
    score: &'a [f32],
    /// The scores as a TREC run wrote them, which order the rows where present.
    exact: Option<&'a [f64]>,
    label: Option<&'a Int32Array>,
    query_relevant: Option<&'a UInt32Array>,
}

impl<'a> Columns<'a> {
    /// The columns of the table `view` (ranking needs its queries and documents).
    pub fn of(view: &TableView<'a>) -> Result<Columns<'a>> {
        Ok(Columns {
            qid: view.query_ids("ranking")?,
            did: view.doc_ids("ranking")?,
            score: view.score,
            exact: view.exact_score,
            label: view.label,
            query_relevant: view.query_relevant,
        })
    }
}

/// The table's queries, in order of first appearance, with their rows (a query's rows need not
/// be contiguous).
pub fn query_rows(c: &Columns) -> Vec<(String, Vec<usize>)> {
    let mut index: HashMap<&str, usize> = HashMap::default();
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (r, end) in crate::table::id_runs(c.qid) {
        let q = c.qid.value(r);
        let i = *index.entry(q).or_insert_with(|| {
            out.push((q.to_owned(), Vec::new()));
            out.len() - 1
        });
        if let Some((_, rows)) = out.get_mut(i) {
            rows.extend(r..end);
        }
    }
    out
}

/// Which of a query's ranked documents count (trec_eval's `-M` and `-J`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cut {
    /// Only the top this many.
    pub max_docs: Option<usize>,
    /// Of those, only the judged ones (unjudged documents dropped, the order kept).
    pub judged_only: bool,
}

impl Cut {
    /// `rels` (a ranking's relevance values, None unjudged, negative pooled but unjudged) cut.
    fn apply(self, mut rels: Vec<Option<i32>>) -> Vec<Option<i32>> {
        if let Some(m) = self.max_docs {
            rels.truncate(m);
        }
        if self.judged_only {
            rels.retain(|r| r.is_some_and(|v| v >= 0));
        }
        rels
    }
}

/// Runs of judged queries (id, run), and the judged queries the table lacks (empty runs).
pub type Runs = (Vec<(String, QueryRun)>, Vec<(String, QueryRun)>);

/// Runs of the judged queries among `queries` (each ranking `cut`), and the judged queries the
/// table lacks. With
/// `qrels`, judgements come from them; without, from the table's labels (null: unjudged), a
/// query being judged when it has a label, with `query_relevant` (when present) as its number
/// of relevant documents and the unretrieved ones given gain `rel_level` in the ideal ordering.
// Long: trec_eval's judged runs from the table's labels or the qrels, in one parallel pass per
// query.
pub fn runs(c: &Columns, path: &Path, queries: &[(String, Vec<usize>)], qrels: Option<&Qrels>, rel_level: i32, cut: Cut) -> Result<Runs> {
    use rayon::prelude::*;
    if qrels.is_none() && c.label.is_none_or(|l| l.null_count() == l.len()) {
        return Err(Error::format(path, "the table has no labels: give `qrels`, or score it with `qrels`"));
    }
    let built: Vec<Result<Option<(String, QueryRun)>>> = queries
        .par_iter()
        .with_min_len(64)
        .map_init(Scratch::default, |scratch, (id, rows)| {
            let Scratch { at, rank } = scratch;
            if let Some((r, doc)) = index_docs(c, rows, at) {
                return Err(Error::row(
                    path,
                    r as u64,
                    Some(id),
                    format!("document {} is listed twice for this query", crate::error::quoted(doc)),
                ));
            }
            let order = trec_order(c, rows);
            Ok(match qrels {
                Some(q) => q.judged.get(id.as_str()).map(|judged| {
                    // Each judged document put at its rank (the query's documents are distinct,
                    // checked above): a lookup per judgement, not one per retrieved row.
                    rank.clear();
                    rank.resize(rows.len(), 0);
                    for (p, &j) in order.iter().enumerate() {
                        if let Some(x) = rank.get_mut(j) {
                            *x = p;
                        }
                    }
                    let mut rels = vec![None; rows.len()];
                    for (doc, &rel) in judged {
                        if let Some(x) = at.get(doc.as_str()).and_then(|&j| rank.get(j)).and_then(|&p| rels.get_mut(p)) {
                            *x = Some(rel);
                        }
                    }
                    (id.clone(), QueryRun::new(cut.apply(rels), judged.values().copied(), rel_level))
                }),
                None => {
                    let Some(l) = c.label else { return Ok(None) };
                    let ranked: Vec<usize> = order.iter().filter_map(|&j| rows.get(j).copied()).collect();
                    // The judgements come from every row; only the ranking is cut.
                    let rels: Vec<Option<i32>> = ranked.iter().map(|&r| l.is_valid(r).then(|| l.value(r))).collect();
                    if rels.iter().all(Option::is_none) {
                        None
                    } else {
                        let retrieved_rel = rels.iter().filter(|r| r.is_some_and(|v| v >= rel_level)).count() as u64;
                        let num_rel = c
                            .query_relevant
                            .and_then(|qr| ranked.iter().find(|&&r| qr.is_valid(r)).map(|&r| u64::from(qr.value(r))))
                            .unwrap_or(retrieved_rel)
                            .max(retrieved_rel);
                        let mut ideal: Vec<i32> = rels.iter().flatten().copied().filter(|&v| v > 0).collect();
                        ideal.extend(std::iter::repeat_n(rel_level.max(1), (num_rel - retrieved_rel) as usize));
                        ideal.sort_unstable_by(|a, b| b.cmp(a));
                        // Judged non-relevant documents: those the table holds.
                        let num_nonrel = rels.iter().flatten().filter(|&&v| (0..rel_level).contains(&v)).count() as u64;
                        let num_zero = rels.iter().flatten().filter(|&&v| v == 0).count() as u64;
                        Some((id.clone(), QueryRun { rels: cut.apply(rels), num_rel, ideal, num_nonrel, num_zero }))
                    }
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for b in built {
        if let Some(r) = b? {
            out.push(r);
        }
    }
    let missing = match qrels {
        Some(q) => {
            let seen: rustc_hash::FxHashSet<&str> = queries.iter().map(|(id, _)| id.as_str()).collect();
            let mut m: Vec<(String, QueryRun)> = q
                .judged
                .iter()
                .filter(|(k, _)| !seen.contains(k.as_str()))
                .map(|(k, judged)| (k.to_string(), QueryRun::new(Vec::new(), judged.values().copied(), rel_level)))
                .collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            m
        }
        None => Vec::new(),
    };
    Ok((out, missing))
}

/// The positions of `rows` in trec_eval's order: score descending, ties by document id
/// descending (as bytes), then by row. Sorted as packed words (a score's integer key above the
/// row's position, which sort twice as fast as pairs); only rows of equal score compare ids.
/// A TREC run's rows are ordered by the scores as written (f64), not the table's float32.
fn trec_order(c: &Columns, rows: &[usize]) -> Vec<usize> {
    if let Some(exact) = c.exact {
        // Ascending keys are descending scores (f64's total order, reversed).
        let key = |j: usize| {
            let b = rows.get(j).and_then(|&r| exact.get(r)).copied().unwrap_or(f64::NAN).to_bits();
            !(if b >> 63 == 1 { !b } else { b | (1 << 63) })
        };
        let mut keyed: Vec<(u64, usize)> = (0..rows.len()).map(|j| (key(j), j)).collect();
        keyed.sort_unstable();
        let mut out: Vec<usize> = keyed.iter().map(|&(_, j)| j).collect();
        for tied in out.chunk_by_mut(|&a, &b| key(a) == key(b)) {
            by_doc_descending(c, rows, tied);
        }
        return out;
    }
    // Ascending keys are descending scores (f32's total order, reversed).
    let key = |j: usize| {
        let b = rows.get(j).and_then(|&r| c.score.get(r)).copied().unwrap_or(f32::NAN).to_bits();
        u64::from(!(if b >> 31 == 1 { !b } else { b | 0x8000_0000 }))
    };
    let mut out: Vec<usize> = if u32::try_from(rows.len()).is_ok() {
        let mut words: Vec<u64> = (0..rows.len()).map(|j| key(j) << 32 | j as u64).collect();
        words.sort_unstable();
        words.iter().map(|&w| (w & 0xFFFF_FFFF) as usize).collect()
    } else {
        let mut keyed: Vec<(u64, usize)> = (0..rows.len()).map(|j| (key(j), j)).collect();
        keyed.sort_unstable();
        keyed.iter().map(|&(_, j)| j).collect()
    };
    // Positions ascend within a key (rows in table order); ties are then ordered by id.
    for tied in out.chunk_by_mut(|&a, &b| key(a) == key(b)) {
        by_doc_descending(c, rows, tied);
    }
    out
}

/// Positions of `rows` of one score in trec_eval's order: document id descending (as bytes),
/// then row.
fn by_doc_descending(c: &Columns, rows: &[usize], tied: &mut [usize]) {
    if tied.len() > 1 {
        let doc = |j: usize| rows.get(j).map_or(&[][..], |&r| c.did.value(r).as_bytes());
        tied.sort_unstable_by(|&a, &b| doc(b).cmp(doc(a)).then(a.cmp(&b)));
    }
}

/// A worker's buffers, reused from query to query.
#[derive(Default)]
struct Scratch<'a> {
    /// The query's documents: id → position in its rows.
    at: HashMap<&'a str, usize>,
    /// Per position in its rows, the row's rank.
    rank: Vec<usize>,
}

/// Indexes the documents of `rows` by their position into `at`; the first row (in table order)
/// whose document an earlier row lists too stops it, returned with the document.
fn index_docs<'a>(c: &Columns<'a>, rows: &[usize], at: &mut HashMap<&'a str, usize>) -> Option<(usize, &'a str)> {
    at.clear();
    rows.iter().enumerate().map(|(j, &r)| (j, r, c.did.value(r))).find(|&(j, _, d)| at.insert(d, j).is_some()).map(|(_, r, d)| (r, d))
}

/// Each row's label: with `qrels`, the judged relevance (0 for a retrieved but unjudged
/// document of a judged query, null for a query without judgements), looked up once per query;
/// without, the table's label column (all null when it has none).
pub(crate) fn row_labels(c: &Columns, queries: &[(String, Vec<usize>)], qrels: Option<&Qrels>) -> Vec<Option<i32>> {
    let n = c.qid.len();
    match qrels {
        Some(q) => {
            let mut out = vec![None; n];
            for (id, rows) in queries {
                if let Some(judged) = q.judged.get(id.as_str()) {
                    for &r in rows {
                        if let Some(o) = out.get_mut(r) {
                            *o = Some(judged.get(c.did.value(r)).copied().unwrap_or(0));
                        }
                    }
                }
            }
            out
        }
        None => match c.label {
            Some(l) => (0..n).map(|r| l.is_valid(r).then(|| l.value(r))).collect(),
            None => vec![None; n],
        },
    }
}
