//! The runs' calibrations compared, per pair, on the queries both judged: the difference in
//! ECE and Brier score of their cross-fitted probabilities (each pair's probability from a fit
//! that did not see its query; 5 folds by query, the fit's defaults), with paired bootstrap
//! intervals over queries; and, where both calibrations certify the same precision at the query
//! unit, how many queries each acts on.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::CompareOptions;
use crate::calibrate::folds::oof_probabilities;
use crate::calibrate::{fit_table, Method};
use crate::error::Result;
use crate::metrics::reliability::{ece_bin, uniform_edges};
use crate::policy::{apply_artifact, ApplyOptions, Decision};
use crate::stats::paired;
use crate::table::ScoreTable;

/// A run's ECE, Brier score and acting share, as read off summed columns.
type RunNumbers = (f64, f64, f64);

/// Bins of the ECE (as `simcal eval`'s default).
const BINS: usize = 10;

/// One run's calibration on the paired queries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunCalibration {
    /// Expected calibration error of the out-of-fold probabilities (10 equal-width bins).
    pub ece: f64,
    /// Their Brier score.
    pub brier: f64,
    /// Labeled pairs measured.
    pub pairs: u64,
    /// The certified score of the target precision at the query unit (None: not certified).
    pub certified_score: Option<f64>,
    /// Paired queries that act on that certificate (in sample: the table the fit certified on).
    pub acting: Option<usize>,
}

/// One pair of runs' calibrations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibrationPair {
    /// The first run.
    pub a: usize,
    /// The second run.
    pub b: usize,
    /// ECE of a minus ECE of b (lower is better).
    pub ece_difference: f64,
    /// Its paired bootstrap interval.
    pub ece_interval: [f64; 2],
    /// Brier of a minus Brier of b (lower is better).
    pub brier_difference: f64,
    /// Its paired bootstrap interval.
    pub brier_interval: [f64; 2],
    /// Where both certify the target: the share of paired queries a acts on minus b's.
    pub acting_difference: Option<f64>,
    /// Its paired bootstrap interval.
    pub acting_interval: Option<[f64; 2]>,
    /// (acting of b − acting of a) / acting of a: "b acts on 12% more queries".
    pub acting_change: Option<f64>,
}

/// The calibrations compared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibrationComparison {
    /// The precision target whose certificates are compared.
    pub target_precision: f64,
    /// The certificates' confidence.
    pub confidence: f64,
    /// The map whose probabilities are measured.
    pub method: String,
    /// Folds (by query) of the cross-fitting.
    pub folds: usize,
    /// Queries with labeled pairs in every run (the ones compared).
    pub paired_queries: usize,
    /// Each run's numbers, in the runs' order.
    pub runs: Vec<RunCalibration>,
    /// Every pair, a before b.
    pub pairs: Vec<CalibrationPair>,
}

/// Per query: its pairs' count, squared error sum, and per ECE bin the count, the sum of
/// probabilities and of relevance (the columns of the bootstrap).
const COLUMNS: usize = 2 + 3 * BINS;

/// One run's per-query sums, and its certificate's acting queries.
struct RunSums {
    by_query: BTreeMap<String, [f64; COLUMNS]>,
    certified_score: Option<f64>,
    acting: Option<BTreeMap<String, bool>>,
}

/// The fit each run's calibration is: the nightly job's (5 folds by query, certified at the
/// query unit), at the comparison's target precision and relevance level, without the
/// thresholds' bootstrap.
fn fit_options(opts: &CompareOptions) -> crate::calibrate::FitOptions {
    crate::calibrate::FitOptions {
        bootstrap: 0,
        rel_level: opts.rel_level,
        target_precision: vec![opts.target_precision],
        ..crate::nightly::config::default_fit()
    }
}

/// ECE and Brier from a run's summed columns (any common scale).
#[expect(clippy::indexing_slicing, reason = "chunks of three")]
fn ece_brier(c: &[f64]) -> (f64, f64) {
    let n = c.first().copied().unwrap_or(0.0);
    let sq = c.get(1).copied().unwrap_or(0.0);
    let gaps: f64 = c.get(2..).unwrap_or(&[]).chunks_exact(3).map(|b| (b[2] - b[1]).abs()).sum();
    if n > 0.0 {
        (gaps / n, sq / n)
    } else {
        (f64::NAN, f64::NAN)
    }
}

#[expect(clippy::indexing_slicing, reason = "bins come from ece_bin over BINS edges")]
fn run_sums(table: &ScoreTable, path: &Path, opts: &CompareOptions, method: Method) -> Result<RunSums> {
    let fo = fit_options(opts);
    let oof = oof_probabilities(table, path, opts.rel_level, fo.folds, fo.seed, &[method])?;
    let view = crate::table::TableView::new(table, path)?;
    let ids = view.query_ids("comparing calibrations")?;
    let edges = uniform_edges(BINS);
    let mut by_query: BTreeMap<String, [f64; COLUMNS]> = BTreeMap::new();
    if let Some((_, p)) = oof.probabilities.first() {
        for ((&row, &rel), &v) in oof.rows.iter().zip(&oof.relevant).zip(p) {
            if v.is_nan() {
                continue;
            }
            let c = by_query.entry(ids.value(row).to_owned()).or_insert([0.0; COLUMNS]);
            let y = f64::from(u8::from(rel));
            c[0] += 1.0;
            c[1] += (v - y) * (v - y);
            let (b, clipped) = ece_bin(&edges, v);
            c[2 + 3 * b] += 1.0;
            c[3 + 3 * b] += clipped;
            c[4 + 3 * b] += y;
        }
    }
    // The certificate of the target at the query unit, and the queries acting on it.
    let art = fit_table(table, path, &fo)?;
    let target = fo.target_precision.first().copied();
    let certified_score =
        art.global.thresholds.iter().filter(|t| Some(t.value) == target).find_map(|t| t.certified.as_ref().and_then(|c| c.score));
    let acting = match certified_score {
        Some(_) => {
            let applied = apply_artifact(table, path, &art, path, "", &ApplyOptions { target, ..ApplyOptions::default() })?;
            Some(applied.decisions.iter().map(|d| (d.query_id.clone(), d.decision == Decision::Act && d.target.is_some())).collect())
        }
        None => None,
    };
    Ok(RunSums { by_query, certified_score, acting })
}

/// Compares the calibrations of `tables` (judged by their labels), on the queries every
/// one has labeled pairs for (the runs in the order given).
// Long: each run's sums, the shared bootstrap, then every pair read off it.
#[expect(clippy::indexing_slicing, reason = "run and column positions are those of the matrix built here")]
pub fn compare(tables: &[(&ScoreTable, &Path)], opts: &CompareOptions) -> Result<Option<CalibrationComparison>> {
    let method = Method::Isotonic;
    let sums: Vec<RunSums> = tables.iter().map(|(t, p)| run_sums(t, p, opts, method)).collect::<Result<_>>()?;
    let Some(first) = sums.first() else { return Ok(None) };
    let queries: Vec<&String> = first
        .by_query
        .keys()
        .filter(|q| sums.iter().all(|s| s.by_query.contains_key(*q) && s.acting.as_ref().is_none_or(|a| a.contains_key(*q))))
        .collect();
    let k = sums.len();
    let width = COLUMNS + 1;
    let columns = k * width;
    let mut rows = vec![0.0; queries.len() * columns];
    for (qi, q) in queries.iter().enumerate() {
        for (r, s) in sums.iter().enumerate() {
            let at = qi * columns + r * width;
            if let Some(c) = s.by_query.get(*q) {
                rows[at..at + COLUMNS].copy_from_slice(c);
            }
            rows[at + COLUMNS] = f64::from(u8::from(s.acting.as_ref().and_then(|a| a.get(*q)).copied().unwrap_or(false)));
        }
    }
    let totals: Vec<f64> =
        (0..columns).map(|c| rows.chunks_exact(columns).map(|r| r[c]).sum::<f64>() / queries.len().max(1) as f64).collect();
    let means = paired::bootstrap_means(&rows, columns, opts.resamples, opts.seed);
    let run_of = |m: &[f64], r: usize| {
        let (ece, brier) = ece_brier(&m[r * width..r * width + COLUMNS]);
        (ece, brier, m[r * width + COLUMNS])
    };
    let runs: Vec<RunCalibration> = (0..k)
        .map(|r| {
            let (ece, brier, act) = run_of(&totals, r);
            RunCalibration {
                ece,
                brier,
                pairs: (totals[r * width] * queries.len() as f64).round() as u64,
                certified_score: sums[r].certified_score,
                acting: sums[r].acting.as_ref().map(|_| (act * queries.len() as f64).round() as usize),
            }
        })
        .collect();
    let interval = |mut v: Vec<f64>| {
        v.retain(|x| !x.is_nan());
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            [f64::NAN, f64::NAN]
        } else {
            paired::percentile_interval(&v, opts.level)
        }
    };
    let mut pairs = Vec::new();
    for a in 0..k {
        for b in a + 1..k {
            let resampled = |f: &dyn Fn(RunNumbers, RunNumbers) -> f64| {
                interval(
                    (0..opts.resamples)
                        .map(|s| f(run_of(&means[s * columns..(s + 1) * columns], a), run_of(&means[s * columns..(s + 1) * columns], b)))
                        .collect(),
                )
            };
            let (ra, rb) = (run_of(&totals, a), run_of(&totals, b));
            let both = sums[a].acting.is_some() && sums[b].acting.is_some();
            pairs.push(CalibrationPair {
                a,
                b,
                ece_difference: ra.0 - rb.0,
                ece_interval: resampled(&|x, y| x.0 - y.0),
                brier_difference: ra.1 - rb.1,
                brier_interval: resampled(&|x, y| x.1 - y.1),
                acting_difference: both.then_some(ra.2 - rb.2),
                acting_interval: both.then(|| resampled(&|x, y| x.2 - y.2)),
                acting_change: (both && ra.2 > 0.0).then(|| (rb.2 - ra.2) / ra.2),
            });
        }
    }
    let fit = fit_options(opts);
    Ok(Some(CalibrationComparison {
        target_precision: opts.target_precision,
        confidence: fit.certify.as_ref().map_or(f64::NAN, |c| c.confidence),
        method: method.to_string(),
        folds: fit.folds,
        paired_queries: queries.len(),
        runs,
        pairs,
    }))
}
