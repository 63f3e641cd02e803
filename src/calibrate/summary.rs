//! What the artifact records besides the maps: calibration metrics of each map on the fitting
//! data, and the score distributions of relevant and irrelevant pairs that `drift` compares.

use serde::{Deserialize, Serialize};

use super::chunks;
use super::distinct::Distinct;
pub use crate::stats::quantiles;

/// Quantile levels recorded for each distribution.
pub const QUANTILES: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99];
/// Histogram bins between the group's lowest and highest score.
pub const HIST_BINS: usize = 50;
/// Equal-width probability bins of the expected calibration error.
pub const ECE_BINS: usize = 10;

/// How well a map's probabilities match the labels it was fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CalibrationMetrics {
    /// Mean squared error of the probabilities.
    pub brier: f64,
    /// Mean negative log-likelihood (probabilities clipped to [1e-15, 1 − 1e-15]).
    pub log_loss: f64,
    /// Expected calibration error over 10 ([`ECE_BINS`]) equal-width probability bins.
    pub ece: f64,
    /// Maximum calibration error over the same bins (absent in artifacts written before it).
    #[serde(default)]
    pub mce: f64,
}

/// The sums behind [`CalibrationMetrics`]: tables scored in pieces (the folds of
/// cross-fitting) are summed with `+` and finished once.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MetricSums {
    /// Pairs.
    pub n: f64,
    /// Sum of squared errors.
    pub brier: f64,
    /// Sum of negative log-likelihoods.
    pub log_loss: f64,
    /// Per ECE bin: pairs, sum of probabilities, relevant pairs.
    pub bins: [(f64, f64, f64); ECE_BINS],
}

impl MetricSums {
    /// The sums over the table's cells of the probabilities `prob(i)` (any cells of scores with
    /// their pair counts: neither sorted nor distinct is needed), in parallel chunks summed in
    /// chunk order.
    #[expect(clippy::indexing_slicing, reason = "curve and bin positions come from the curves and bins this module builds")]
    pub fn of(d: &Distinct, prob: impl Fn(usize) -> f64 + Sync) -> MetricSums {
        let chunk = |lo: usize, hi: usize| -> MetricSums {
            let mut a = MetricSums::default();
            // The logs of the last probability: a step map (isotonic) gives runs of equal ones.
            let (mut last, mut ln_p, mut ln_q) = (f64::NAN, f64::NAN, f64::NAN);
            for i in lo..hi {
                let p = prob(i);
                let (pos, neg) = (d.pos[i] as f64, d.neg[i] as f64);
                a.n += pos + neg;
                a.brier += pos * (1.0 - p).powi(2) + neg * p.powi(2);
                if p != last {
                    (last, ln_p, ln_q) = (p, f64::NAN, f64::NAN);
                }
                // Most distinct scores hold pairs of one class only: one log, not two.
                let pc = p.clamp(1e-15, 1.0 - 1e-15);
                if pos > 0.0 {
                    if ln_p.is_nan() {
                        ln_p = pc.ln();
                    }
                    a.log_loss -= pos * ln_p;
                }
                if neg > 0.0 {
                    if ln_q.is_nan() {
                        ln_q = (1.0 - pc).ln();
                    }
                    a.log_loss -= neg * ln_q;
                }
                let b = ((p * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
                a.bins[b].0 += pos + neg;
                a.bins[b].1 += p * (pos + neg);
                a.bins[b].2 += pos;
            }
            a
        };
        chunks::map(d.len(), chunk).iter().fold(MetricSums::default(), |a, b| a + b)
    }

    /// The metrics (None without pairs).
    pub fn finish(&self) -> Option<CalibrationMetrics> {
        let n = self.n;
        if n <= 0.0 {
            return None;
        }
        let bins = self.bins.iter().filter(|b| b.0 > 0.0);
        let ece = bins.clone().map(|b| (b.1 - b.2).abs()).sum::<f64>() / n;
        let mce = bins.map(|b| (b.1 - b.2).abs() / b.0).fold(0.0, f64::max);
        Some(CalibrationMetrics { brier: self.brier / n, log_loss: self.log_loss / n, ece, mce })
    }
}

impl std::ops::Add<&MetricSums> for MetricSums {
    type Output = MetricSums;

    /// The sums of both.
    fn add(mut self, other: &MetricSums) -> MetricSums {
        self.n += other.n;
        self.brier += other.brier;
        self.log_loss += other.log_loss;
        for (x, y) in self.bins.iter_mut().zip(&other.bins) {
            x.0 += y.0;
            x.1 += y.1;
            x.2 += y.2;
        }
        self
    }
}

/// Calibration metrics of the probabilities `prob(i)` of the table's scores (any cells of
/// scores with their pair counts: neither sorted nor distinct is needed; at least one pair).
pub fn metrics(d: &Distinct, prob: impl Fn(usize) -> f64 + Sync) -> CalibrationMetrics {
    MetricSums::of(d, prob).finish().unwrap_or(CalibrationMetrics { brier: f64::NAN, log_loss: f64::NAN, ece: f64::NAN, mce: f64::NAN })
}

/// Scores of one class of pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Distribution {
    /// Pairs.
    pub n: u64,
    /// Mean score.
    pub mean: Option<f64>,
    /// Scores at the `levels` ([`QUANTILES`]; numpy's linear interpolation); empty without pairs.
    pub quantiles: Vec<f64>,
    /// Pairs per histogram bin (bins between consecutive `edges`).
    pub counts: Vec<u64>,
}

/// Relevant and irrelevant score distributions over shared histogram bins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Distributions {
    /// Quantile levels.
    pub levels: Vec<f64>,
    /// Histogram bin edges (51: [`HIST_BINS`] + 1, from the lowest to the highest score).
    pub edges: Vec<f64>,
    /// Relevant pairs.
    pub relevant: Distribution,
    /// Irrelevant pairs.
    pub irrelevant: Distribution,
}

impl Distributions {
    /// Checks an edited or damaged record: levels in [0, 1], edges finite and ascending, one
    /// count per bin summing to the pairs, one quantile per level (none without pairs) finite
    /// and non-decreasing, a finite mean.
    #[expect(clippy::indexing_slicing, reason = "windows(2) yields pairs: positions 0 and 1 exist")]
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.levels.iter().any(|l| !(0.0..=1.0).contains(l)) || self.levels.windows(2).any(|w| w[0] > w[1]) {
            return Err("quantile levels are not ascending in [0, 1]".into());
        }
        if self.edges.len() < 2 || self.edges.iter().any(|e| !e.is_finite()) || self.edges.windows(2).any(|w| w[0] > w[1]) {
            return Err("histogram edges are not at least two finite, ascending values".into());
        }
        for (class, c) in [("relevant", &self.relevant), ("irrelevant", &self.irrelevant)] {
            if c.counts.len() + 1 != self.edges.len() {
                return Err(format!("{class}: {} counts for {} histogram bins", c.counts.len(), self.edges.len() - 1));
            }
            let total: u64 = c.counts.iter().fold(0u64, |a, &b| a.saturating_add(b));
            if total != c.n {
                return Err(format!(
                    "{class}: histogram counts sum to {}, not its {}",
                    crate::words::num(total),
                    crate::words::count(c.n, "pair", "pairs")
                ));
            }
            let want = if c.n == 0 { 0 } else { self.levels.len() };
            if c.quantiles.len() != want {
                return Err(format!("{class}: {} quantiles for {want} levels", c.quantiles.len()));
            }
            if c.quantiles.iter().any(|q| !q.is_finite()) || c.quantiles.windows(2).any(|w| w[0] > w[1]) {
                return Err(format!("{class}: quantiles are not finite and non-decreasing"));
            }
            if c.mean.is_some_and(|m| !m.is_finite()) || (c.n > 0) != c.mean.is_some() {
                return Err(format!("{class}: the mean is missing or not finite"));
            }
        }
        Ok(())
    }
}

/// The distributions of the table's relevant and irrelevant scores: histograms and means in
/// one parallel pass, quantiles in one walk.
#[expect(clippy::indexing_slicing, reason = "curve and bin positions come from the curves and bins this module builds")]
pub fn distributions(d: &Distinct) -> Distributions {
    let (lo, hi) = (d.x.first().copied().unwrap_or(0.0), d.x.last().copied().unwrap_or(0.0));
    let width = (hi - lo) / HIST_BINS as f64;
    let edges: Vec<f64> = (0..=HIST_BINS).map(|i| if i == HIST_BINS { hi } else { lo + width * i as f64 }).collect();
    let bin = |x: f64| if width > 0.0 { (((x - lo) / width) as usize).min(HIST_BINS - 1) } else { 0 };
    // Per chunk and class: counts per bin, pairs, and the sum of their scores.
    type Acc = [(Vec<u64>, u64, f64); 2];
    let empty = || -> Acc { [(vec![0; HIST_BINS], 0, 0.0), (vec![0; HIST_BINS], 0, 0.0)] };
    let chunk = |start: usize, end: usize| {
        let mut a = empty();
        for i in start..end {
            let b = bin(d.x[i]);
            for (acc, w) in a.iter_mut().zip([d.pos[i], d.neg[i]]) {
                acc.0[b] += w;
                acc.1 += w;
                acc.2 += w as f64 * d.x[i];
            }
        }
        a
    };
    let parts: Vec<Acc> = chunks::map(d.len(), chunk);
    let mut total = empty();
    for part in parts {
        for (t, p) in total.iter_mut().zip(part) {
            for (x, y) in t.0.iter_mut().zip(p.0) {
                *x += y;
            }
            t.1 += p.1;
            t.2 += p.2;
        }
    }
    let [(pc, pn, ps), (nc, nn, ns)] = total;
    let one = |counts: Vec<u64>, n: u64, sum: f64, weights: &[u64]| Distribution {
        n,
        mean: (n > 0).then(|| sum / n as f64),
        quantiles: quantiles(&d.x, weights, &QUANTILES),
        counts,
    };
    let (relevant, irrelevant) = rayon::join(|| one(pc, pn, ps, &d.pos), || one(nc, nn, ns, &d.neg));
    Distributions { levels: QUANTILES.to_vec(), edges, relevant, irrelevant }
}
