//! The labeled pairs of a score table (rows with a non-null label; relevant when label ≥ the
//! relevance level) and the group each row belongs to.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float32Type, Int32Type};

use super::distinct::key;
use crate::error::{Error, Result};
use crate::table::{columns, ScoreTable};

/// Labeled pairs, and for each the index of its group in `keys`.
#[derive(Clone, Debug, Default)]
pub struct LabeledPairs {
    /// Scores.
    pub scores: Vec<f32>,
    /// Relevance.
    pub relevant: Vec<bool>,
    /// Group of each pair (index into `keys`).
    pub group: Vec<u32>,
    /// Fold of each pair (all 0 without cross-fitting).
    pub fold: Vec<u8>,
    /// Bootstrap block of each pair (empty without blocks).
    pub block: Vec<u8>,
    /// Group keys and their column values, in key order.
    pub keys: Vec<(String, BTreeMap<String, String>)>,
}

impl LabeledPairs {
    /// Each group's key, values and pair indices (none without group columns).
    pub fn groups(&self) -> Vec<(String, BTreeMap<String, String>, Vec<usize>)> {
        let mut idx: Vec<Vec<usize>> = vec![Vec::new(); self.keys.len()];
        for (i, &g) in self.group.iter().enumerate() {
            idx[g as usize].push(i);
        }
        self.keys.iter().cloned().zip(idx).map(|((k, v), i)| (k, v, i)).collect()
    }
}

/// Each group key's value of every group column.
pub type GroupValues = BTreeMap<String, BTreeMap<String, String>>;

/// Rows' groups: each row's index into `keys` (key order), and each key's column values.
#[derive(Clone, Debug)]
pub struct RowGroups {
    /// Group index of every row.
    pub index: Vec<u32>,
    /// Keys (`all` without group columns), ascending, with their column values.
    pub keys: Vec<(String, BTreeMap<String, String>)>,
}

/// The group of every row.
pub fn row_groups(table: &ScoreTable, path: &Path, group_by: &[String]) -> Result<RowGroups> {
    let b = &table.batch;
    let rows = b.num_rows();
    if group_by.is_empty() {
        return Ok(RowGroups { index: vec![0; rows], keys: vec![("all".to_owned(), BTreeMap::new())] });
    }
    let mut cols = Vec::new();
    for name in group_by {
        let Some(col) = b.column_by_name(name) else {
            let have: Vec<String> = b.schema().fields().iter().map(|f| f.name().clone()).collect();
            return Err(Error::format(path, format!("no column {name:?} to group by (columns: {})", have.join(", "))));
        };
        let text = arrow::compute::cast(col, &DataType::Utf8)
            .map_err(|e| Error::format(path, format!("column {name:?} cannot be grouped by: {e}")))?;
        cols.push((name.clone(), text));
    }
    // First pass: provisional indices in order of appearance; then renumber in key order.
    let mut seen: std::collections::HashMap<Vec<Option<&str>>, u32> = std::collections::HashMap::new();
    let mut first: Vec<Vec<Option<&str>>> = Vec::new();
    let mut index = Vec::with_capacity(rows);
    let texts: Vec<_> = cols.iter().map(|(_, c)| c.as_string::<i32>()).collect();
    for r in 0..rows {
        let v: Vec<Option<&str>> = texts.iter().map(|s| if s.is_null(r) { None } else { Some(s.value(r)) }).collect();
        let next = seen.len() as u32;
        let i = *seen.entry(v.clone()).or_insert_with(|| {
            first.push(v);
            next
        });
        index.push(i);
    }
    let mut keys: Vec<(String, BTreeMap<String, String>, u32)> = first
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let map: BTreeMap<String, String> = cols.iter().zip(v).map(|((n, _), x)| (n.clone(), x.unwrap_or("null").to_owned())).collect();
            let key = cols.iter().zip(v).map(|((n, _), x)| format!("{n}={}", x.unwrap_or("null"))).collect::<Vec<_>>().join(",");
            (key, map, i as u32)
        })
        .collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let mut renumber = vec![0u32; keys.len()];
    for (new, k) in keys.iter().enumerate() {
        renumber[k.2 as usize] = new as u32;
    }
    for i in &mut index {
        *i = renumber[*i as usize];
    }
    Ok(RowGroups { index, keys: keys.into_iter().map(|(k, m, _)| (k, m)).collect() })
}

/// The table's scores as f32 (no nulls, no NaN).
pub fn scores(table: &ScoreTable, path: &Path) -> Result<Vec<f32>> {
    let b = &table.batch;
    let col = b.column_by_name(columns::SCORE).ok_or_else(|| Error::format(path, "no score column"))?;
    let s = col.as_primitive_opt::<Float32Type>().ok_or_else(|| Error::format(path, "the score column is not float32"))?;
    let ids = b.column_by_name(columns::QUERY_ID).and_then(|c| c.as_string_opt::<i32>());
    for r in 0..s.len() {
        if s.is_null(r) || !s.value(r).is_finite() {
            let id = ids.map(|i| i.value(r));
            return Err(Error::row(
                path,
                r as u64,
                id,
                format!("score is {}", if s.is_null(r) { "null".to_owned() } else { s.value(r).to_string() }),
            ));
        }
    }
    Ok(s.values().to_vec())
}

/// The label column, refused when it is missing or holds no label at all.
fn labels<'a>(table: &'a ScoreTable, path: &Path) -> Result<&'a arrow::array::Int32Array> {
    let label = table
        .batch
        .column_by_name(columns::LABEL)
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .ok_or_else(|| Error::format(path, "no int32 label column"))?;
    if label.null_count() == label.len() {
        return Err(Error::format(path, "the table has no labels: score it with --qrels to calibrate"));
    }
    Ok(label)
}

/// The sort [`key`]s of the scores of the table's relevant and irrelevant pairs, in one
/// parallel pass over the columns that also refuses a null or non-finite score (the first such
/// row is named).
pub fn class_keys(table: &ScoreTable, path: &Path, rel_level: i32) -> Result<(Vec<u32>, Vec<u32>)> {
    let mut parts = fold_class_keys(table, path, rel_level, None, 1)?;
    Ok(parts.pop().unwrap_or_default())
}

/// [`class_keys`] split by fold: entry f holds the keys of the rows whose `fold` is f (all rows
/// in entry 0 without folds).
pub fn fold_class_keys(
    table: &ScoreTable,
    path: &Path,
    rel_level: i32,
    fold: Option<&[u8]>,
    k: usize,
) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 20;
    let label = labels(table, path)?;
    let col = table.batch.column_by_name(columns::SCORE).ok_or_else(|| Error::format(path, "no score column"))?;
    let s = col.as_primitive_opt::<Float32Type>().ok_or_else(|| Error::format(path, "the score column is not float32"))?;
    let (sv, lv) = (s.values(), label.values());
    let k = k.max(1);
    // Each chunk's keys per fold, or its first bad row.
    type Part = std::result::Result<Vec<(Vec<u32>, Vec<u32>)>, usize>;
    let parts: Vec<Part> = (0..s.len())
        .step_by(CHUNK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|lo| {
            let hi = (lo + CHUNK).min(s.len());
            let mut out: Vec<(Vec<u32>, Vec<u32>)> = (0..k).map(|_| (Vec::new(), Vec::with_capacity((hi - lo) / k))).collect();
            for r in lo..hi {
                if !sv[r].is_finite() || s.is_null(r) {
                    return Err(r);
                }
                if label.is_valid(r) {
                    let f = fold.map_or(0, |f| usize::from(f[r]));
                    if lv[r] >= rel_level {
                        out[f].0.push(key(sv[r]));
                    } else {
                        out[f].1.push(key(sv[r]));
                    }
                }
            }
            Ok(out)
        })
        .collect();
    let mut all: Vec<(Vec<u32>, Vec<u32>)> = (0..k).map(|_| (Vec::new(), Vec::new())).collect();
    for part in parts {
        match part {
            Ok(folds) => {
                for ((p, n), (ap, an)) in folds.into_iter().zip(all.iter_mut()) {
                    ap.extend_from_slice(&p);
                    if an.is_empty() {
                        *an = n;
                    } else {
                        an.extend_from_slice(&n);
                    }
                }
            }
            // The first bad row: `scores` words the error.
            Err(_) => return Err(scores(table, path).err().unwrap_or_else(|| Error::format(path, "bad score"))),
        }
    }
    Ok(all)
}

/// The labeled pairs of the table, grouped by `group_by`.
/// `fold` and `block` tag every row (with its fold of cross-fitting and its bootstrap block).
pub fn labeled_pairs(
    table: &ScoreTable,
    path: &Path,
    rel_level: i32,
    group_by: &[String],
    fold: Option<&[u8]>,
    block: Option<&[u8]>,
) -> Result<LabeledPairs> {
    let scores = scores(table, path)?;
    let label = labels(table, path)?;
    let groups = row_groups(table, path, group_by)?;
    let mut out = LabeledPairs { keys: groups.keys, ..Default::default() };
    let n = label.len() - label.null_count();
    out.scores.reserve(n);
    out.relevant.reserve(n);
    out.group.reserve(n);
    let values = label.values();
    for r in 0..label.len() {
        if label.is_valid(r) {
            out.scores.push(scores[r]);
            out.relevant.push(values[r] >= rel_level);
            out.group.push(groups.index[r]);
            out.fold.push(fold.map_or(0, |f| f[r]));
            if let Some(b) = block {
                out.block.push(b[r]);
            }
        }
    }
    // Groups that only have unlabeled rows are not groups of the calibration.
    let mut used = vec![false; out.keys.len()];
    for &g in &out.group {
        used[g as usize] = true;
    }
    if used.iter().any(|u| !u) {
        let remap: Vec<u32> = used
            .iter()
            .scan(0u32, |n, &u| {
                let v = *n;
                if u {
                    *n += 1;
                }
                Some(v)
            })
            .collect();
        out.keys = out.keys.into_iter().zip(&used).filter(|(_, u)| **u).map(|(k, _)| k).collect();
        for g in &mut out.group {
            *g = remap[*g as usize];
        }
    }
    Ok(out)
}
