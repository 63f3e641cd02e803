//! The labeled pairs of a score table (rows with a non-null label; relevant when label ≥ the
//! relevance level) and the group each row belongs to.

use std::collections::BTreeMap;

use arrow::array::Array;

use super::distinct::key;
use crate::error::Result;
use crate::table::TableView;

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
    #[expect(clippy::indexing_slicing, reason = "row positions come from the labeled pairs this module collects")]
    pub fn groups(&self) -> Vec<(String, BTreeMap<String, String>, Vec<usize>)> {
        let mut idx: Vec<Vec<usize>> = vec![Vec::new(); self.keys.len()];
        for (i, &g) in self.group.iter().enumerate() {
            idx[g as usize].push(i);
        }
        self.keys.iter().cloned().zip(idx).map(|((k, v), i)| (k, v, i)).collect()
    }
}

/// The sort [`key`]s of the scores of the table's relevant and irrelevant pairs, in one
/// parallel pass over the columns.
pub(crate) fn class_keys(view: &TableView, rel_level: i32) -> Result<(Vec<u32>, Vec<u32>)> {
    let mut parts = fold_class_keys(view, rel_level, None, 1)?;
    Ok(parts.pop().unwrap_or_default())
}

/// [`class_keys`] split by fold: entry f holds the keys of the rows whose `fold` is f (all rows
/// in entry 0 without folds).
#[expect(clippy::indexing_slicing, reason = "row positions come from the labeled pairs this module collects")]
pub(crate) fn fold_class_keys(view: &TableView, rel_level: i32, fold: Option<&[u8]>, k: usize) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 20;
    let label = view.labels()?;
    let (sv, lv) = (view.score, label.values());
    let k = k.max(1);
    // Each chunk's keys per fold.
    let parts: Vec<Vec<(Vec<u32>, Vec<u32>)>> = (0..sv.len())
        .step_by(CHUNK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|lo| {
            let hi = (lo + CHUNK).min(sv.len());
            let mut out: Vec<(Vec<u32>, Vec<u32>)> = (0..k).map(|_| (Vec::new(), Vec::with_capacity((hi - lo) / k))).collect();
            for r in lo..hi {
                if label.is_valid(r) {
                    let f = fold.map_or(0, |f| usize::from(f[r]));
                    if lv[r] >= rel_level {
                        out[f].0.push(key(sv[r]));
                    } else {
                        out[f].1.push(key(sv[r]));
                    }
                }
            }
            out
        })
        .collect();
    let mut all: Vec<(Vec<u32>, Vec<u32>)> = (0..k).map(|_| (Vec::new(), Vec::new())).collect();
    for folds in parts {
        for ((p, n), (ap, an)) in folds.into_iter().zip(all.iter_mut()) {
            ap.extend_from_slice(&p);
            if an.is_empty() {
                *an = n;
            } else {
                an.extend_from_slice(&n);
            }
        }
    }
    Ok(all)
}

/// The labeled pairs of the table, grouped by `group_by`.
/// `fold` and `block` tag every row (with its fold of cross-fitting and its bootstrap block).
#[expect(clippy::indexing_slicing, reason = "row positions come from the labeled pairs this module collects")]
pub(crate) fn labeled_pairs(
    view: &TableView,
    rel_level: i32,
    group_by: &[String],
    fold: Option<&[u8]>,
    block: Option<&[u8]>,
) -> Result<LabeledPairs> {
    let scores = view.score;
    let label = view.labels()?;
    let groups = view.groups(group_by)?;
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
