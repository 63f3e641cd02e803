//! Drift: a new labeled score table against the distributions and thresholds a calibration
//! stored when it was fitted — the gate a nightly recalibration job runs after a model bump.
//!
//! For each group of the artifact (the global fit first) and each class of pairs: the
//! Kolmogorov–Smirnov statistic and the population stability index over the baseline's histogram
//! bins (plus one bin below and one above its range), and the shift of every stored quantile
//! and of the mean. The threshold `apply` acts on (the certified one at the query unit, else the
//! estimate) is measured again at the unit decisions are made on: each judged query's top hit.
//! A violation needs both an effect beyond its tolerance (a KS above `max_ks`, a top-hit
//! precision drop above `max_precision_drop`) and significance for the sample sizes at hand: the
//! KS statistic's p-value (counting queries, not pairs, as the independent units: the scores of
//! one query's hits move together), or a one-sided exact test over top hits (one per query,
//! independent across queries) — for a certified threshold, binomial against its target (what
//! the certificate promises, so a table where it still holds trips at most `significance` of the
//! time); for an estimate, Fisher's against the fit's own top-hit counts at the stored score
//! (an estimate chosen on the same data can make those counts optimistic) — at most
//! `significance` divided by the number of tests (Bonferroni over the report).
//! KS over histogram bins is the exact statistic evaluated at the bin edges: a lower bound of the
//! exact two-sample KS, short of it by at most the mass of one bin.

use std::path::Path;

use serde::Serialize;

use crate::calibrate::artifact::TargetKind;
use crate::calibrate::artifact::{Artifact, Threshold, UnitCount};
use crate::calibrate::certify::QueryUnit;
use crate::calibrate::certify::Unit;
use crate::calibrate::distinct::Distinct;
use crate::calibrate::pairs;
use crate::calibrate::summary::{quantiles, Distribution, Distributions, QUANTILES};
use crate::calibrate::sweep::Curve;
use crate::error::{Error, Result};
use crate::policy::DecideOn;
use crate::table::{ScoreTable, TableView};

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
    /// Family-wise level of the gate's tests (Bonferroni over every test of the report).
    pub significance: f64,
}

impl Tolerances {
    /// The first tolerance outside [0, 1] (NaN included), by its field's name, with its value.
    pub(crate) fn out_of_range(&self) -> Option<(&'static str, f64)> {
        [("max_ks", self.max_ks), ("max_precision_drop", self.max_precision_drop), ("significance", self.significance)]
            .into_iter()
            .find(|(_, v)| !(0.0..=1.0).contains(v))
    }
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances { max_ks: 0.1, max_precision_drop: 0.05, min_pairs: 500, significance: 0.05 }
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
    /// Its asymptotic p-value (conservative: the binned statistic is at most the exact one).
    pub ks_p: Option<f64>,
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
    /// What the target is a value of.
    pub target: TargetKind,
    /// Target value.
    pub value: f64,
    /// Which stored threshold is tested: `certified` (the one `apply` acts on, where the fit
    /// certified one at the query unit) or `estimate`.
    pub threshold: DecideOn,
    /// Its score.
    pub score: f64,
    /// What the new precision is compared with: for a certified threshold its target (what the
    /// certificate promises), for an estimate the top-hit precision at the score on the fitting
    /// data (judged queries whose top hit scores at or above it).
    pub baseline_precision: Option<f64>,
    /// Top-hit precision at the score on the new table.
    pub precision: Option<f64>,
    /// Baseline − new top-hit precision.
    pub precision_drop: Option<f64>,
    /// Judged queries at or above the score on the fitting data.
    pub baseline_n: Option<u64>,
    /// Relevant top hits among them.
    pub baseline_tp: Option<u64>,
    /// Judged queries at or above the score in the new table.
    pub n: u64,
    /// Relevant top hits among them.
    pub tp: u64,
    /// The one-sided p-value of the drop over top hits, one per query: exact binomial against
    /// the target for a certified threshold, Fisher's exact test against the fit's counts for
    /// an estimate (None without them).
    pub p_value: Option<f64>,
    /// Precision of the new table's labeled pairs at the score (for reading; not gated: pairs
    /// of one query are not independent).
    pub pair_precision: f64,
    /// Recall of the new table's labeled pairs at the score.
    pub pair_recall: f64,
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
    /// Groups the table and the baseline do not share, in words.
    pub notes: Vec<String>,
}

impl DriftReport {
    /// The JSON document `simcal drift --json` prints and the nightly job writes: the report,
    /// with its schema version and the baseline and table it compared.
    pub fn document(&self, baseline: &Path, scores: &Path) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("schema_version".to_owned(), DRIFT_VERSION.into());
            o.insert("command".to_owned(), "drift".into());
            o.insert("baseline".to_owned(), baseline.to_string_lossy().into_owned().into());
            o.insert("scores".to_owned(), scores.to_string_lossy().into_owned().into());
        }
        v
    }
}

/// Counts of `d`'s scores (weights `w`) in the baseline's bins, with one bin below and one above.
#[expect(clippy::indexing_slicing, reason = "bin, group and row positions come from the histograms and pairs this module builds")]
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

/// `queries` is (baseline, new) queries behind the pairs: the KS p-value counts at most that many
/// independent units a side, since pairs of one query are not independent.
fn class_drift(base: &Distributions, b: &Distribution, d: &Distinct, w: &[u64], queries: (u64, u64)) -> ClassDrift {
    let n_new: u64 = w.iter().sum();
    let mut new_q = Vec::new();
    let (mut ks, mut ks_p, mut psi, mut mean_shift) = (None, None, None, None);
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
        ks_p = Some(crate::stats::twosample::ks_p_value(k, b.n.min(queries.0).max(1), n_new.min(queries.1).max(1)));
        psi = Some(p);
        let new_mean = d.x.iter().zip(w).map(|(&x, &c)| x * c as f64).sum::<f64>() / nn;
        mean_shift = b.mean.map(|m| new_mean - m);
        new_q = quantiles(&d.x, w, &QUANTILES);
    }
    let quantile_shift =
        if new_q.len() == b.quantiles.len() { new_q.iter().zip(&b.quantiles).map(|(n, o)| n - o).collect() } else { Vec::new() };
    ClassDrift { n_baseline: b.n, n_new, ks, ks_p, psi, mean_shift, quantile_shift }
}

/// Effects beyond tolerance, each with its p-value (None: no test possible, the effect
/// decides), and the number of tests run: the report's Bonferroni correction counts them.
#[derive(Default)]
struct Gate {
    tests: usize,
    candidates: Vec<(String, Option<f64>)>,
}

impl Gate {
    /// The violations: the candidates significant after Bonferroni over every test.
    fn violations(self, significance: f64) -> Vec<String> {
        let level = significance / self.tests.max(1) as f64;
        self.candidates
            .into_iter()
            .filter_map(|(m, p)| match p {
                Some(p) if p <= level => Some(format!("{m}, p = {p:.2e}")),
                Some(_) => None,
                None => Some(m),
            })
            .collect()
    }
}

/// `simcal drift`: reads the calibration at `baseline` and the score table at `scores`, and
/// compares them.
pub fn drift_files(baseline: &Path, scores: &Path, tol: Tolerances) -> Result<DriftReport> {
    let art = Artifact::read(baseline)?;
    let table = crate::table::read_table(scores)?;
    drift(&table, scores, &art, tol)
}

/// Compares the labeled pairs of `table` (read from `path`) with the baseline `art`.
// Long: the drift report's parts (distributions, thresholds, groups) from one pass over the table's
// pairs.
#[expect(clippy::indexing_slicing, reason = "bin, group and row positions come from the histograms and pairs this module builds")]
pub fn drift(table: &ScoreTable, path: &Path, art: &Artifact, tol: Tolerances) -> Result<DriftReport> {
    if let Some((name, v)) = tol.out_of_range() {
        return Err(Error::Invalid(format!("`{name}` {v} is outside [0, 1]")));
    }
    let view = TableView::new(table, path)?;
    view.check_unique_docs()?;
    let labeled = pairs::labeled_pairs(&view, art.rel_level, &art.group_by, None, None)?;
    // The new table's judged queries (each query's top hit): the unit the precision drop is
    // tested on.
    let (units, unit_groups) = if view.query_id.is_some() && view.rank.is_some() {
        let g = view.groups(&art.group_by)?;
        (crate::calibrate::certify::query_units(&view, art.rel_level, g.index(), None, table.meta.k as u64)?, Some(g.keys))
    } else {
        (Vec::new(), None)
    };
    let mut changes = Vec::new();
    for (what, a, t) in [("model", &art.model, &table.meta.model), ("metric", &art.metric, &table.meta.metric)] {
        if a != t {
            changes.push(format!("{what} changed: baseline {a:?}, new table {t:?}"));
        }
    }
    let by_key = pairs_by_group(&labeled, art);
    let notes = group_notes(art, &by_key, path, unit_groups.is_some())?;
    let mut gate = Gate::default();
    let mut groups = Vec::new();
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
        // Queries behind the pairs: every query has k rows (the tables' k; at least one query).
        let queries = |pairs: u64, k: usize| pairs.div_ceil(k.max(1) as u64).max(1);
        let q = (queries(fit.n, art.k), queries(d.n_pos() + d.n_neg(), table.meta.k));
        let relevant = class_drift(base, &base.relevant, &d, &d.pos, q);
        let irrelevant = class_drift(base, &base.irrelevant, &d, &d.neg, q);
        let gated = gi == 0 || (fit.n >= tol.min_pairs && d.n_pos() + d.n_neg() >= tol.min_pairs);
        for (class, c) in [("relevant", &relevant), ("irrelevant", &irrelevant)] {
            if gated && c.ks.is_some() {
                gate.tests += 1;
            }
            if let Some(k) = c.ks.filter(|&k| gated && k > tol.max_ks) {
                gate.candidates.push((format!("group {}: {class} scores: KS {k:.4} > {}", fit.key, tol.max_ks), c.ks_p));
            }
        }
        let mine: Option<Vec<&QueryUnit>> =
            unit_groups.as_ref().map(|keys| units.iter().filter(|u| gi == 0 || keys[u.group as usize].0 == fit.key).collect());
        let thresholds = if d.is_empty() {
            Vec::new()
        } else {
            let at = Stored { key: &fit.key, curve: Curve::new(&d), mine: mine.as_deref(), gated, tol: &tol };
            fit.thresholds.iter().filter_map(|t| at.threshold_drift(t, &mut gate)).collect()
        };
        groups.push(GroupDrift { key: fit.key.clone(), relevant, irrelevant, thresholds, gated });
    }
    let violations = gate.violations(tol.significance);
    Ok(DriftReport {
        baseline_model: art.model.clone(),
        model: table.meta.model.clone(),
        changes,
        tolerances: tol,
        drifted: !violations.is_empty(),
        groups,
        violations,
        notes,
    })
}

/// The labeled pairs of each group of the baseline's partition, by key (empty when ungrouped).
#[expect(clippy::indexing_slicing, reason = "bin, group and row positions come from the histograms and pairs this module builds")]
fn pairs_by_group<'a>(labeled: &'a pairs::LabeledPairs, art: &Artifact) -> std::collections::HashMap<&'a str, Vec<usize>> {
    let mut m: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    if !art.group_by.is_empty() {
        for (i, &g) in labeled.group.iter().enumerate() {
            m.entry(labeled.keys[g as usize].0.as_str()).or_default().push(i);
        }
    }
    m
}

/// The report's notes on what is not compared: the precision at the stored thresholds without
/// queries and ranks (`has_units` false), groups of the baseline that the table lacks and the
/// table's groups the baseline lacks. A table with none of the baseline's groups is another
/// partition (a wrong table or `group_by`), not a drift of zero: refused.
fn group_notes(art: &Artifact, by_key: &std::collections::HashMap<&str, Vec<usize>>, path: &Path, has_units: bool) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    if !has_units {
        notes.push(
            "the table has no query_id and rank: the precision at the stored thresholds is not tested (its unit is each query's top hit)"
                .to_owned(),
        );
    }
    if art.group_by.is_empty() {
        return Ok(notes);
    }
    let baseline: Vec<&str> = art.groups.iter().filter(|g| g.distributions.is_some()).map(|g| g.key.as_str()).collect();
    let missing: Vec<&str> = baseline.iter().copied().filter(|k| !by_key.contains_key(k)).collect();
    if !baseline.is_empty() && missing.len() == baseline.len() {
        let mut have: Vec<&str> = by_key.keys().copied().collect();
        have.sort_unstable();
        let show = |v: &[&str]| v.iter().take(5).copied().collect::<Vec<_>>().join("; ") + if v.len() > 5 { "; …" } else { "" };
        return Err(Error::format(
            path,
            format!(
                "none of the baseline's {} groups by {} is in this table (baseline: {}; table: {})",
                baseline.len(),
                art.group_by.join(", "),
                show(&baseline),
                show(&have)
            ),
        ));
    }
    if !missing.is_empty() {
        notes.push(format!("{} of the baseline's groups are not in the table: {}", missing.len(), missing.join("; ")));
    }
    let mut new: Vec<&str> = by_key.keys().copied().filter(|k| !art.groups.iter().any(|g| g.key == *k)).collect();
    new.sort_unstable();
    if !new.is_empty() {
        notes.push(format!("{} of the table's groups have no baseline: {}", new.len(), new.join("; ")));
    }
    Ok(notes)
}

/// One group of the new table, where its stored thresholds are measured again.
struct Stored<'a> {
    key: &'a str,
    /// The group's pairs, for the pair precision and recall at a score.
    curve: Curve,
    /// The group's judged queries (None: the table has no query ids and ranks).
    mine: Option<&'a [&'a QueryUnit]>,
    gated: bool,
    tol: &'a Tolerances,
}

impl Stored<'_> {
    /// The threshold `apply` acts on for target `t`: the certificate at the query unit where
    /// there is one, tested against what it promises (its target: no selection bias, since the
    /// fit's own counts at a threshold it chose are not used); else the estimate, against the
    /// fit's top-hit counts there. None where the fit stored no threshold for it.
    fn threshold_drift(&self, t: &Threshold, gate: &mut Gate) -> Option<ThresholdDrift> {
        let certified = t.certified.as_ref().filter(|c| c.unit == Unit::Query && c.target == TargetKind::Precision);
        let (which, score, base) = match (certified.and_then(|c| c.score), t.score) {
            (Some(s), _) => (DecideOn::Certified, s, None),
            (None, Some(s)) => (DecideOn::Estimate, s, t.top_hits),
            (None, None) => return None,
        };
        let (pair_precision, pair_recall) = self.curve.at(score);
        let tested = self.mine.is_some();
        let new = UnitCount::at_or_above(self.mine.unwrap_or_default().iter().copied(), score);
        let base = base.filter(|_| tested);
        let precision = new.precision().filter(|_| tested);
        let base_precision = if which == DecideOn::Certified { Some(t.value).filter(|_| tested) } else { base.and_then(|b| b.precision()) };
        let drop = base_precision.zip(precision).map(|(b, n)| b - n);
        let p_value = match which {
            // P(X ≤ tp) for X ~ Binomial(n, target): how unlikely so few relevant top hits are
            // if the precision there still reached the target.
            DecideOn::Certified => precision.map(|_| crate::stats::binomial::cdf(new.tp, new.n, t.value)),
            _ => base.map(|b| crate::stats::twosample::fisher_lower(b.tp, b.n, new.tp, new.n)),
        };
        if self.gated && drop.is_some() {
            gate.tests += 1;
        }
        if let Some(dr) = drop.filter(|&dr| self.gated && dr > self.tol.max_precision_drop) {
            gate.candidates.push((
                format!(
                    "group {}: {which} threshold {score:.4} (target {} {}): top-hit precision {:.4} ({} of {} queries), {dr:.4} below {} {:.4} (> {})",
                    self.key,
                    t.target,
                    t.value,
                    precision.unwrap_or(0.0),
                    new.tp,
                    new.n,
                    if which == DecideOn::Certified { "the certified target" } else { "the fit's" },
                    base_precision.unwrap_or(0.0),
                    self.tol.max_precision_drop
                ),
                p_value,
            ));
        }
        Some(ThresholdDrift {
            target: t.target,
            value: t.value,
            threshold: which,
            score,
            baseline_precision: base_precision,
            precision,
            precision_drop: drop,
            baseline_n: base.map(|b| b.n),
            baseline_tp: base.map(|b| b.tp),
            n: new.n,
            tp: new.tp,
            p_value,
            pair_precision,
            pair_recall,
        })
    }
}
