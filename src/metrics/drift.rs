//! Drift: a new labeled score table against the distributions and thresholds a calibration
//! stored when it was fitted — the gate a nightly recalibration job runs after a model bump.
//!
//! For each group of the artifact (the global fit first) and each class of pairs: the
//! Kolmogorov–Smirnov statistic and the population stability index over the baseline's histogram
//! bins (plus one bin below and one above its range), and the shift of every stored quantile
//! and of the mean. Each stored threshold's precision and recall are measured again on the new
//! table. A KS above `max_ks` or a precision drop above `max_precision_drop` is a violation.
//! KS over histogram bins is the exact statistic evaluated at the bin edges: a lower bound of the
//! exact two-sample KS, short of it by at most the mass of one bin.

use std::path::Path;

use serde::Serialize;

use crate::artifact::Artifact;
use crate::calibrate::distinct::Distinct;
use crate::calibrate::pairs;
use crate::calibrate::summary::{quantiles, Distribution, Distributions, QUANTILES};
use crate::calibrate::sweep::Curve;
use crate::error::{Error, Result};
use crate::table::ScoreTable;

/// The version of the drift report.
pub const DRIFT_VERSION: u32 = 1;

/// Tolerances of the gate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerances {
    /// Largest KS statistic allowed, per class and group.
    pub max_ks: f64,
    /// Largest drop in precision at a stored threshold.
    pub max_precision_drop: f64,
    /// Groups with fewer labeled pairs than this, in the baseline or the new table, are measured
    /// but not gated (their sampling noise alone can exceed the tolerances); the whole table
    /// always is.
    pub min_pairs: u64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances { max_ks: 0.1, max_precision_drop: 0.05, min_pairs: 500 }
    }
}

/// One class's drift.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassDrift {
    /// Baseline pairs.
    pub n_baseline: u64,
    /// New pairs.
    pub n_new: u64,
    /// KS statistic over the baseline's bins (None when either side is empty).
    pub ks: Option<f64>,
    /// Population stability index over the same bins (ε = 1e-4 for empty bins).
    pub psi: Option<f64>,
    /// New mean − baseline mean.
    pub mean_shift: Option<f64>,
    /// New − baseline score at each stored quantile level.
    pub quantile_shift: Vec<f64>,
}

/// A stored threshold on the new table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdDrift {
    /// `precision` or `recall`.
    pub target: String,
    /// Target value.
    pub value: f64,
    /// Threshold score.
    pub score: f64,
    /// Precision and recall when fitted.
    pub baseline_precision: Option<f64>,
    /// Recall when fitted.
    pub baseline_recall: Option<f64>,
    /// Precision on the new table.
    pub precision: f64,
    /// Recall on the new table.
    pub recall: f64,
    /// Baseline − new precision.
    pub precision_drop: Option<f64>,
}

/// One group's drift.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupDrift {
    /// The group key (`all` for the global fit).
    pub key: String,
    /// Relevant pairs.
    pub relevant: ClassDrift,
    /// Irrelevant pairs.
    pub irrelevant: ClassDrift,
    /// Stored thresholds measured again.
    pub thresholds: Vec<ThresholdDrift>,
    /// Whether this group's numbers count for the gate.
    pub gated: bool,
}

/// The drift report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftReport {
    /// Baseline model and the new table's.
    pub baseline_model: String,
    /// The new table's model.
    pub model: String,
    /// What differs between the baseline and the new table (model, metric), named.
    pub changes: Vec<String>,
    /// The tolerances.
    pub tolerances: Tolerances,
    /// Per group, global first.
    pub groups: Vec<GroupDrift>,
    /// Every tolerance exceeded, in words.
    pub violations: Vec<String>,
    /// Whether the gate trips.
    pub drifted: bool,
}

/// Counts of `d`'s scores (weights `w`) in the baseline's bins, with one bin below and one above.
fn binned(base: &Distributions, d: &Distinct, w: &[u64]) -> Vec<u64> {
    let bins = base.edges.len().saturating_sub(1);
    let (lo, hi) = (base.edges.first().copied().unwrap_or(0.0), base.edges.last().copied().unwrap_or(0.0));
    let width = if bins > 0 { (hi - lo) / bins as f64 } else { 0.0 };
    let mut out = vec![0u64; bins + 2];
    for (&x, &c) in d.x.iter().zip(w) {
        let b = if x < lo {
            0
        } else if x > hi {
            bins + 1
        } else if width > 0.0 {
            1 + (((x - lo) / width) as usize).min(bins.saturating_sub(1))
        } else {
            1
        };
        out[b] += c;
    }
    out
}

fn class_drift(base: &Distributions, b: &Distribution, d: &Distinct, w: &[u64]) -> ClassDrift {
    let n_new: u64 = w.iter().sum();
    let mut new_q = Vec::new();
    let (mut ks, mut psi, mut mean_shift) = (None, None, None);
    if n_new > 0 && b.n > 0 {
        let newc = binned(base, d, w);
        let mut basec = vec![0u64];
        basec.extend(&b.counts);
        basec.push(0);
        let (nb, nn) = (b.n as f64, n_new as f64);
        let (mut cb, mut cn, mut k) = (0.0, 0.0, 0.0f64);
        let mut p = 0.0;
        for (&x, &y) in basec.iter().zip(&newc) {
            cb += x as f64 / nb;
            cn += y as f64 / nn;
            k = k.max((cb - cn).abs());
            let (pb, pn) = ((x as f64 / nb).max(1e-4), (y as f64 / nn).max(1e-4));
            p += (pn - pb) * (pn / pb).ln();
        }
        ks = Some(k);
        psi = Some(p);
        let new_mean = d.x.iter().zip(w).map(|(&x, &c)| x * c as f64).sum::<f64>() / nn;
        mean_shift = b.mean.map(|m| new_mean - m);
        new_q = quantiles(&d.x, w, &QUANTILES);
    }
    let quantile_shift =
        if new_q.len() == b.quantiles.len() { new_q.iter().zip(&b.quantiles).map(|(n, o)| n - o).collect() } else { Vec::new() };
    ClassDrift { n_baseline: b.n, n_new, ks, psi, mean_shift, quantile_shift }
}

/// Compares the labeled pairs of `table` (read from `path`) with the baseline `art`.
pub fn drift(table: &ScoreTable, path: &Path, art: &Artifact, tol: Tolerances) -> Result<DriftReport> {
    for (name, v) in [("--max-ks", tol.max_ks), ("--max-precision-drop", tol.max_precision_drop)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(Error::Invalid(format!("{name} {v} is outside [0, 1]")));
        }
    }
    let labeled = pairs::labeled_pairs(table, path, art.rel_level, &art.group_by, None)?;
    let mut changes = Vec::new();
    for (what, a, t) in [("model", &art.model, &table.meta.model), ("metric", &art.metric, &table.meta.metric)] {
        if a != t {
            changes.push(format!("{what} changed: baseline {a:?}, new table {t:?}"));
        }
    }
    let mut groups = Vec::new();
    let mut violations = Vec::new();
    let by_key: std::collections::HashMap<&str, Vec<usize>> = if art.group_by.is_empty() {
        std::collections::HashMap::new()
    } else {
        let mut m: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
        for (i, &g) in labeled.group.iter().enumerate() {
            m.entry(labeled.keys[g as usize].0.as_str()).or_default().push(i);
        }
        m
    };
    for (gi, fit) in std::iter::once(&art.global).chain(art.groups.iter()).enumerate() {
        let Some(base) = &fit.distributions else { continue };
        let d = if gi == 0 {
            Distinct::from_pairs(&labeled.scores, &labeled.relevant)
        } else {
            let idx = by_key.get(fit.key.as_str()).cloned().unwrap_or_default();
            let s: Vec<f32> = idx.iter().map(|&i| labeled.scores[i]).collect();
            let r: Vec<bool> = idx.iter().map(|&i| labeled.relevant[i]).collect();
            Distinct::from_pairs(&s, &r)
        };
        let relevant = class_drift(base, &base.relevant, &d, &d.pos);
        let irrelevant = class_drift(base, &base.irrelevant, &d, &d.neg);
        let gated = gi == 0 || (fit.n >= tol.min_pairs && d.n_pos() + d.n_neg() >= tol.min_pairs);
        let mut violations = |v: String| {
            if gated {
                violations.push(v);
            }
        };
        for (class, c) in [("relevant", &relevant), ("irrelevant", &irrelevant)] {
            if let Some(k) = c.ks.filter(|&k| k > tol.max_ks) {
                violations(format!("group {}: {class} scores: KS {k:.4} > {}", fit.key, tol.max_ks));
            }
        }
        let curve = Curve::new(&d);
        let mut thresholds = Vec::new();
        if !d.is_empty() {
            for t in &fit.thresholds {
                let Some(score) = t.score else { continue };
                let (precision, recall) = curve.at(score);
                let drop = t.precision.map(|p| p - precision);
                if let Some(dr) = drop.filter(|&dr| dr > tol.max_precision_drop) {
                    violations(format!(
                        "group {}: threshold {score:.4} (target {} {}): precision {precision:.4}, {dr:.4} below the fitted {:.4} (> {})",
                        fit.key,
                        t.target,
                        t.value,
                        t.precision.unwrap_or(0.0),
                        tol.max_precision_drop
                    ));
                }
                thresholds.push(ThresholdDrift {
                    target: t.target.clone(),
                    value: t.value,
                    score,
                    baseline_precision: t.precision,
                    baseline_recall: t.recall,
                    precision,
                    recall,
                    precision_drop: drop,
                });
            }
        }
        groups.push(GroupDrift { key: fit.key.clone(), relevant, irrelevant, thresholds, gated });
    }
    Ok(DriftReport {
        baseline_model: art.model.clone(),
        model: table.meta.model.clone(),
        changes,
        tolerances: tol,
        drifted: !violations.is_empty(),
        groups,
        violations,
    })
}
