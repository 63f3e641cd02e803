//! A score table's queries as runs to measure: each query's rows in trec_eval's order with
//! their judgements, from qrels or, without them, from the table's own labels.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Array, Int32Array, StringArray, UInt32Array};

use super::ranking::{ideal_from, QueryRun};
use crate::error::{Error, Result};
use crate::labels::Qrels;
use crate::table::TableView;

/// The columns of a table that ranking reads.
pub struct Columns<'a> {
    qid: &'a StringArray,
    did: &'a StringArray,
    score: &'a [f32],
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
            label: view.label,
            query_relevant: view.query_relevant,
        })
    }
}

/// The table's queries, in order of first appearance, with their rows (a query's rows need not
/// be contiguous).
pub fn query_rows(c: &Columns) -> Vec<(String, Vec<usize>)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
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

/// Runs of judged queries (id, run), and the judged queries the table lacks.
pub type Runs = (Vec<(String, QueryRun)>, Vec<String>);

/// Runs of the judged queries among `queries`, and the judged queries the table lacks. With
/// `qrels`, judgements come from them; without, from the table's labels (null: unjudged), a
/// query being judged when it has a label, with `query_relevant` (when present) as its number
/// of relevant documents and the unretrieved ones given gain `rel_level` in the ideal ordering.
pub fn runs(c: &Columns, path: &Path, queries: &[(String, Vec<usize>)], qrels: Option<&Qrels>, rel_level: i32) -> Result<Runs> {
    use rayon::prelude::*;
    if qrels.is_none() && c.label.is_none_or(|l| l.null_count() == l.len()) {
        return Err(Error::format(path, "the table has no labels: give --qrels, or score it with --qrels"));
    }
    let built: Vec<Result<Option<(String, QueryRun)>>> = queries
        .par_iter()
        .with_min_len(64)
        .map(|(id, rows)| {
            let mut rows = rows.clone();
            let score = |r: usize| c.score.get(r).copied().unwrap_or(f32::NAN);
            rows.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then_with(|| c.did.value(b).as_bytes().cmp(c.did.value(a).as_bytes())));
            if let Some((r, doc)) = duplicate(c, &rows) {
                return Err(Error::row(path, r as u64, Some(id), format!("document {doc:?} is listed twice for this query")));
            }
            Ok(match qrels {
                Some(q) => q.judged.get(id).map(|judged| {
                    let rels = rows.iter().map(|&r| judged.get(c.did.value(r)).copied()).collect();
                    let num_rel = judged.values().filter(|&&v| v >= rel_level).count() as u64;
                    (id.clone(), QueryRun { rels, num_rel, ideal: ideal_from(judged.values().copied()) })
                }),
                None => {
                    let Some(l) = c.label else { return Ok(None) };
                    let rels: Vec<Option<i32>> = rows.iter().map(|&r| l.is_valid(r).then(|| l.value(r))).collect();
                    if rels.iter().all(Option::is_none) {
                        None
                    } else {
                        let retrieved_rel = rels.iter().filter(|r| r.is_some_and(|v| v >= rel_level)).count() as u64;
                        let num_rel = c
                            .query_relevant
                            .and_then(|qr| rows.iter().find(|&&r| qr.is_valid(r)).map(|&r| u64::from(qr.value(r))))
                            .unwrap_or(retrieved_rel)
                            .max(retrieved_rel);
                        let mut ideal: Vec<i32> = rels.iter().flatten().copied().filter(|&v| v > 0).collect();
                        ideal.extend(std::iter::repeat_n(rel_level.max(1), (num_rel - retrieved_rel) as usize));
                        ideal.sort_unstable_by(|a, b| b.cmp(a));
                        Some((id.clone(), QueryRun { rels, num_rel, ideal }))
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
            let seen: std::collections::HashSet<&str> = queries.iter().map(|(id, _)| id.as_str()).collect();
            let mut m: Vec<String> = q.judged.keys().filter(|k| !seen.contains(k.as_str())).cloned().collect();
            m.sort();
            m
        }
        None => Vec::new(),
    };
    Ok((out, missing))
}

/// FNV-1a of an id: cheap, and only compared among one query's documents.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A document listed twice among `rows` (its row and id), found by sorting id hashes and
/// comparing the ids only where hashes meet.
fn duplicate<'a>(c: &Columns<'a>, rows: &[usize]) -> Option<(usize, &'a str)> {
    let mut h: Vec<(u64, usize)> = rows.iter().map(|&r| (fnv(c.did.value(r)), r)).collect();
    h.sort_unstable();
    for (i, (x, y)) in h.iter().zip(h.iter().skip(1)).enumerate() {
        if x.0 == y.0 {
            // Every row sharing this hash, against each other.
            let same: Vec<usize> = h.iter().skip(i).take_while(|z| z.0 == x.0).map(|z| z.1).collect();
            for (j, &a) in same.iter().enumerate() {
                if let Some(&b) = same.iter().skip(j + 1).find(|&&b| c.did.value(b) == c.did.value(a)) {
                    return Some((a.max(b), c.did.value(b)));
                }
            }
        }
    }
    None
}

/// Each row's label: with `qrels`, the judged relevance (0 for a retrieved but unjudged
/// document of a judged query, null for a query without judgements), looked up once per query;
/// without, the table's label column (all null when it has none).
pub fn row_labels(c: &Columns, queries: &[(String, Vec<usize>)], qrels: Option<&Qrels>) -> Vec<Option<i32>> {
    let n = c.qid.len();
    match qrels {
        Some(q) => {
            let mut out = vec![None; n];
            for (id, rows) in queries {
                if let Some(judged) = q.judged.get(id) {
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
