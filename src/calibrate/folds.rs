//! Cross-fitting by query: every labeled pair gets a probability, and every target's threshold
//! a precision and recall, from a fit that did not see the pair's query.
//!
//! Queries (never single pairs: all rows of a query stay together) are dealt into K folds by a
//! seeded hash of their id: the distinct ids are ordered by (hash, id) and dealt round-robin, so
//! the folds are as even as K allows and depend on neither the row order nor the thread count.
//! Fold f is fitted on the other K − 1 folds and measured on itself; the measurements are pooled
//! over the folds (out-of-fold, OOF).

use std::path::Path;

use arrow::array::Array;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::certify::QueryUnit;
use super::distinct::{Distinct, Rest};
use super::isotonic::{Isotonic, Pav};
use super::summary::{CalibrationMetrics, MetricSums};
use super::{platt, sweep, Method};
use crate::calibrate::maps::FittedMaps;
use crate::error::{Error, Result};
use crate::table::{ScoreTable, TableView};

/// 64-bit FNV-1a of `bytes`, then mixed with the seed (SplitMix64's finaliser).
pub(crate) fn query_hash(id: &str, seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fold (0..k) of every row of the table, by its `query_id`.
#[expect(clippy::indexing_slicing, reason = "folds and rows are numbered by the assignment this module makes")]
pub fn assign(view: &TableView, k: usize, seed: u64) -> Result<Vec<u8>> {
    if !(2..=255).contains(&k) {
        return Err(Error::Invalid(format!("`folds` {k}: expected 1 (no cross-fitting) or 2 to 255")));
    }
    let ids = view.query_ids("cross-fitting")?;
    let runs = view.query_runs("cross-fitting")?;
    // Each run's id with its hash, ordered by (hash, id): the distinct ids in that order are
    // dealt round-robin (runs of one id are neighbours there and share its fold).
    let mut order: Vec<(u64, &str, u32)> = runs
        .par_iter()
        .enumerate()
        .map(|(j, &(lo, _))| {
            let id = ids.value(lo);
            (query_hash(id, seed), id, j as u32)
        })
        .collect();
    order.par_sort_unstable();
    let mut fold_of_run = vec![0u8; runs.len()];
    let mut dealt = 0usize;
    for (i, &(h, id, j)) in order.iter().enumerate() {
        if i > 0 && (h, id) != (order[i - 1].0, order[i - 1].1) {
            dealt += 1;
        }
        fold_of_run[j as usize] = (dealt % k) as u8;
    }
    let mut of_row = vec![0u8; ids.len()];
    for (&(lo, hi), &f) in runs.iter().zip(&fold_of_run) {
        of_row[lo..hi].fill(f);
    }
    Ok(of_row)
}

/// Distinct `query_id`s of the table (None without the column). A run of rows of one query
/// is looked up once.
pub(crate) fn query_count(view: &TableView) -> Option<u64> {
    let ids = view.query_id?;
    let runs = view.query_runs("counting queries").ok()?;
    let set: std::collections::HashSet<&str> = runs.iter().map(|&(lo, _)| ids.value(lo)).collect();
    Some(set.len() as u64)
}

/// A target's threshold measured out of fold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeldOutTarget {
    /// Folds whose training part reached the target (the others add nothing below).
    pub folds_reached: usize,
    /// Held-out pairs at or above each fold's threshold, summed over folds.
    pub n: u64,
    /// Relevant ones among them.
    pub tp: u64,
    /// Pooled held-out precision tp / n.
    pub precision: Option<f64>,
    /// Pooled held-out recall: tp over the held-out relevant pairs of those folds.
    pub recall: Option<f64>,
    /// Lowest and highest precision of a single fold.
    pub precision_range: Option<[f64; 2]>,
    /// Lowest and highest recall of a single fold.
    pub recall_range: Option<[f64; 2]>,
}

/// What cross-fitting measured for one group.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOut {
    /// Per map, calibration of the out-of-fold probabilities.
    pub metrics: Vec<(Method, CalibrationMetrics)>,
    /// Per target (precision targets first).
    pub targets: Vec<HeldOutTarget>,
}

/// Newton's stopping step for a fold's Platt map ([`platt::fit_within`]).
pub const FOLD_TOLERANCE: f64 = 1e-4;

super::maps::fitted_maps!(FoldFit);

/// One fold's fits, trained on the other folds.
pub struct FoldFit {
    /// The isotonic map, when asked for.
    pub isotonic: Option<Isotonic>,
    /// The Platt map, when asked for and fittable.
    pub platt: Option<platt::Platt>,
    /// The training part's threshold for each target, where reached.
    pub thresholds: Vec<Option<f64>>,
}

/// Fits every fold of a table, side by side: `parts[f]` is fold f's table and `all` their sum;
/// fold f is fitted on `all` less `parts[f]`, read in place (so a fold's fit needs little
/// memory of its own), and is None where that lacks a class.
/// Platt's maps start from `base`, the table's (made here when not given).
pub(crate) fn fit_folds(
    all: &Distinct,
    parts: &[Distinct],
    base: Option<&platt::Base>,
    methods: &[Method],
    precision: &[f64],
    recall: &[f64],
) -> Vec<Option<FoldFit>> {
    let with_platt = methods.contains(&Method::Platt);
    let own = (with_platt && base.is_none()).then(|| platt::Base::new(all));
    let base = if with_platt { base.or(own.as_ref()) } else { None };
    parts.par_iter().map(|part| fit_fold(all.rest(part), base, methods, precision, recall)).collect()
}

/// One fold's fits on its training part `train`, Platt's from `base` (the table's).
fn fit_fold(train: Rest, base: Option<&platt::Base>, methods: &[Method], precision: &[f64], recall: &[f64]) -> Option<FoldFit> {
    let np = train.n_pos();
    if np == 0 || train.n_neg() == 0 {
        return None;
    }
    // One walk down the scores serves the sweep and PAV.
    let mut pav = methods.contains(&Method::Isotonic).then(Pav::default);
    let rows = train.rows_rev().inspect(|&r| {
        if let Some(pav) = pav.as_mut() {
            pav.push(r);
        }
    });
    let picks = sweep::picks(sweep::points_of(rows), np, precision, recall);
    let thresholds = picks.precision.iter().chain(&picks.recall).map(|p| p.map(|p| p.threshold)).collect();
    let isotonic = pav.map(Pav::finish);
    let platt = base.and_then(|b| b.fit(train, "fold", FOLD_TOLERANCE).ok());
    Some(FoldFit { isotonic, platt, thresholds })
}

impl FoldFit {
    /// P(relevant) of `s` from this fold's `method` map (NaN when it has none).
    pub fn predict(&self, method: Method, s: f64) -> f64 {
        self.map(method).map_or(f64::NAN, |m| m.predict(s))
    }
}

/// What one fold contributes: per map the sums of its held-out metrics (None where the fold's
/// training part had no such map), and per target (tp, n, relevant pairs) of the fold at the
/// training part's threshold, where it reached the target.
struct FoldCounts {
    sums: Vec<Option<MetricSums>>,
    targets: Vec<Option<(u64, u64, u64)>>,
}

/// Relevant and all pairs of `d` scoring at or above `t`.
#[expect(clippy::indexing_slicing, reason = "the partition point is within the table's distinct scores, whose counts have its length")]
fn at_or_above(d: &Distinct, t: f64) -> (u64, u64) {
    let i = d.x.partition_point(|&x| x < t);
    let tp: u64 = d.pos[i..].iter().sum();
    (tp, tp + d.neg[i..].iter().sum::<u64>())
}

/// Cross-fits one group: `parts[f]` is fold f's table, `all` their sum, `base` Platt's base
/// of `all` (`fit_folds`).
// Long: the cross-fitted numbers of one group: each fold's fit, its predictions on the held-out
// fold and their summary share the fold tables.
#[expect(clippy::indexing_slicing, reason = "folds and rows are numbered by the assignment this module makes")]
pub fn held_out(
    all: &Distinct,
    parts: &[Distinct],
    base: Option<&platt::Base>,
    methods: &[Method],
    precision: &[f64],
    recall: &[f64],
) -> HeldOut {
    let fits = fit_folds(all, parts, base, methods, precision, recall);
    let folds: Vec<FoldCounts> = parts
        .par_iter()
        .zip(fits)
        .filter_map(|(part, fit)| {
            let fit = fit?;
            Some(FoldCounts {
                sums: methods
                    .iter()
                    .map(|&m| {
                        fit.has(m).then(|| match (m, &fit.isotonic) {
                            (Method::Isotonic, Some(iso)) => {
                                let p = iso.predict_sorted(&part.x);
                                MetricSums::of(part, |i| p[i])
                            }
                            _ => MetricSums::of(part, |i| fit.predict(m, part.x[i])),
                        })
                    })
                    .collect(),
                targets: fit
                    .thresholds
                    .iter()
                    .map(|t| {
                        t.map(|t| {
                            let (tp, n) = at_or_above(part, t);
                            (tp, n, part.n_pos())
                        })
                    })
                    .collect(),
            })
        })
        .collect();
    // Out of fold: a map's metrics pool the held-out pairs of every fold, and are reported
    // only when every fold that was fitted has that map.
    let metrics = methods
        .iter()
        .enumerate()
        .filter_map(|(j, m)| {
            let sums: Option<Vec<&MetricSums>> = folds.iter().map(|f| f.sums[j].as_ref()).collect();
            let total = sums?.into_iter().fold(MetricSums::default(), |a, b| a + b);
            Some((*m, total.finish()?))
        })
        .filter(|(_, c)| c.brier.is_finite() && c.log_loss.is_finite())
        .collect();
    let n_targets = precision.len() + recall.len();
    let targets = (0..n_targets)
        .map(|j| {
            let reached: Vec<(u64, u64, u64)> = folds.iter().filter_map(|f| f.targets[j]).collect();
            let (tp, n, pos) = reached.iter().fold((0, 0, 0), |a, f| (a.0 + f.0, a.1 + f.1, a.2 + f.2));
            let range = |v: Vec<f64>| {
                (!v.is_empty())
                    .then(|| [v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max)])
            };
            HeldOutTarget {
                folds_reached: reached.len(),
                n,
                tp,
                precision: (n > 0).then(|| tp as f64 / n as f64),
                recall: (pos > 0).then(|| tp as f64 / pos as f64),
                precision_range: range(reached.iter().filter(|f| f.1 > 0).map(|f| f.0 as f64 / f.1 as f64).collect()),
                recall_range: range(reached.iter().filter(|f| f.2 > 0).map(|f| f.0 as f64 / f.2 as f64).collect()),
            }
        })
        .collect();
    HeldOut { metrics, targets }
}

/// Out-of-fold probabilities of every labeled pair of a table (the global fit's folds).
#[derive(Clone, Debug, PartialEq)]
pub struct Oof {
    /// Row of each labeled pair in the table.
    pub rows: Vec<usize>,
    /// Its fold.
    pub fold: Vec<u8>,
    /// Whether it is relevant.
    pub relevant: Vec<bool>,
    /// Per map, its probability from the fit on the other folds (NaN where that fold's training
    /// part had one class only).
    pub probabilities: Vec<(Method, Vec<f64>)>,
}

/// Cross-fits the table as [`super::fit_table`] does (same folds, same fits) and returns each
/// labeled pair's out-of-fold probability from every map of `methods`.
#[expect(clippy::indexing_slicing, reason = "folds and rows are numbered by the assignment this module makes")]
pub fn oof_probabilities(table: &ScoreTable, path: &Path, rel_level: i32, k: usize, seed: u64, methods: &[Method]) -> Result<Oof> {
    let view = TableView::new(table, path)?;
    let fold = assign(&view, k, seed)?;
    let keys = super::pairs::fold_class_keys(&view, rel_level, Some(&fold), k)?;
    let parts: Vec<Distinct> = keys.par_iter().map(|(p, n)| Distinct::from_keys(p, n)).collect();
    let all = Distinct::sum(&parts);
    let fits = fit_folds(&all, &parts, None, methods, &[], &[]);
    let scores = view.score;
    let label = view.labels()?;
    let rows: Vec<usize> = (0..label.len()).filter(|&r| label.is_valid(r)).collect();
    let probabilities = methods
        .iter()
        .map(|&m| {
            let p = rows
                .iter()
                .map(|&r| fits[usize::from(fold[r])].as_ref().map_or(f64::NAN, |f| f.predict(m, f64::from(scores[r]))))
                .collect();
            (m, p)
        })
        .collect();
    Ok(Oof {
        fold: rows.iter().map(|&r| fold[r]).collect(),
        relevant: rows.iter().map(|&r| label.value(r) >= rel_level).collect(),
        rows,
        probabilities,
    })
}

/// The table of each fold's top hits (fold 0 to k − 1), the units of the decision maps.
pub(crate) fn top_hit_folds(units: &[QueryUnit], k: usize) -> Vec<Distinct> {
    (0..k)
        .map(|f| {
            let (s, r): (Vec<f32>, Vec<bool>) =
                units.iter().filter(|u| usize::from(u.fold) == f).map(|u| (u.top_score as f32, u.top_relevant)).unzip();
            Distinct::from_pairs(&s, &r)
        })
        .collect()
}

/// Every labeled query's top hit with its probability under the decision map (the map of top
/// hits) of `method`, and whether it is relevant: out of fold when `folds` is given (k and
/// seed: each fold's map fitted on the other folds' top hits, as the fit's held-out decision
/// metrics are), else from `map`, the artifact's decision map. Empty when the table has no
/// ranks; the queries' top hits need `query_id` for folds.
#[expect(clippy::indexing_slicing, reason = "folds and rows are numbered by the assignment this module makes")]
pub fn top_hit_probabilities(
    table: &ScoreTable,
    path: &Path,
    rel_level: i32,
    method: Method,
    folds: Option<(usize, u64)>,
    map: Option<&FoldFit>,
) -> Result<(Vec<f64>, Vec<bool>)> {
    let view = TableView::new(table, path)?;
    if view.rank.is_none() {
        return Ok((Vec::new(), Vec::new()));
    }
    let units = match folds {
        Some((k, seed)) => {
            let fold = assign(&view, k, seed)?;
            super::certify::query_units(&view, rel_level, None, Some(&fold), 0)?
        }
        None if view.query_id.is_some() => super::certify::query_units(&view, rel_level, None, None, 0)?,
        None => super::certify::top_hits(&view, rel_level)?,
    };
    let y: Vec<bool> = units.iter().map(|u| u.top_relevant).collect();
    let p = match folds {
        Some((k, _)) => {
            let parts = top_hit_folds(&units, k);
            let all = Distinct::sum(&parts);
            let fits = fit_folds(&all, &parts, None, &[method], &[], &[]);
            units.iter().map(|u| fits[usize::from(u.fold)].as_ref().map_or(f64::NAN, |f| f.predict(method, u.top_score))).collect()
        }
        None => units.iter().map(|u| map.map_or(f64::NAN, |f| f.predict(method, u.top_score))).collect(),
    };
    Ok((p, y))
}
