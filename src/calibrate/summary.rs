//! What the artifact records besides the maps: calibration metrics of each map on the fitting
//! data, and the score distributions of relevant and irrelevant pairs that `drift` compares.

use serde::{Deserialize, Serialize};

use super::distinct::Distinct;

/// Quantile levels recorded for each distribution.
pub const QUANTILES: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99];
/// Histogram bins between the group's lowest and highest score.
pub const HIST_BINS: usize = 50;
/// Equal-width probability bins of the expected calibration error.
pub const ECE_BINS: usize = 10;

/// How well a map's probabilities match the labels it was fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationMetrics {
    /// Mean squared error of the probabilities.
    pub brier: f64,
    /// Mean negative log-likelihood (probabilities clipped to [1e-15, 1 − 1e-15]).
    pub log_loss: f64,
    /// Expected calibration error over [`ECE_BINS`] equal-width probability bins.
    pub ece: f64,
}

/// Calibration metrics of the probabilities `prob` (one per distinct score of the table).
#[allow(clippy::needless_range_loop)] // three parallel arrays, one index
pub fn metrics(d: &Distinct, prob: &[f64]) -> CalibrationMetrics {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    // Per chunk: brier, log loss, and per ECE bin (weight, sum p, sum y); summed in chunk order.
    type Acc = (f64, f64, [(f64, f64, f64); ECE_BINS]);
    let chunk = |lo: usize| -> Acc {
        let mut a: Acc = (0.0, 0.0, [(0.0, 0.0, 0.0); ECE_BINS]);
        for i in lo..(lo + CHUNK).min(d.len()) {
            let p = prob[i];
            let (pos, neg) = (d.pos[i] as f64, d.neg[i] as f64);
            a.0 += pos * (1.0 - p).powi(2) + neg * p.powi(2);
            let pc = p.clamp(1e-15, 1.0 - 1e-15);
            a.1 -= pos * pc.ln() + neg * (1.0 - pc).ln();
            let b = ((p * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
            a.2[b].0 += pos + neg;
            a.2[b].1 += p * (pos + neg);
            a.2[b].2 += pos;
        }
        a
    };
    let parts: Vec<Acc> = (0..d.len()).step_by(CHUNK).collect::<Vec<_>>().into_par_iter().map(chunk).collect();
    let (mut brier, mut log_loss, mut bins) = (0.0, 0.0, [(0.0f64, 0.0f64, 0.0f64); ECE_BINS]);
    for (b, l, e) in parts {
        brier += b;
        log_loss += l;
        for (x, y) in bins.iter_mut().zip(e) {
            x.0 += y.0;
            x.1 += y.1;
            x.2 += y.2;
        }
    }
    let n = (d.n_pos() + d.n_neg()) as f64;
    let ece = bins.iter().filter(|b| b.0 > 0.0).map(|b| (b.1 - b.2).abs()).sum::<f64>() / n;
    CalibrationMetrics { brier: brier / n, log_loss: log_loss / n, ece }
}

/// Scores of one class of pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Pairs.
    pub n: u64,
    /// Mean score.
    pub mean: Option<f64>,
    /// Scores at [`QUANTILES`] (numpy's linear interpolation); empty without pairs.
    pub quantiles: Vec<f64>,
    /// Pairs per histogram bin (bins from [`Distributions::edges`]).
    pub counts: Vec<u64>,
}

/// Relevant and irrelevant score distributions over shared histogram bins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distributions {
    /// Quantile levels.
    pub levels: Vec<f64>,
    /// Histogram bin edges ([`HIST_BINS`] + 1, from the lowest to the highest score).
    pub edges: Vec<f64>,
    /// Relevant pairs.
    pub relevant: Distribution,
    /// Irrelevant pairs.
    pub irrelevant: Distribution,
}

/// The distributions of the table's relevant and irrelevant scores.
pub fn distributions(d: &Distinct) -> Distributions {
    let (lo, hi) = (d.x.first().copied().unwrap_or(0.0), d.x.last().copied().unwrap_or(0.0));
    let width = (hi - lo) / HIST_BINS as f64;
    let edges: Vec<f64> = (0..=HIST_BINS).map(|i| if i == HIST_BINS { hi } else { lo + width * i as f64 }).collect();
    let bin = |x: f64| if width > 0.0 { (((x - lo) / width) as usize).min(HIST_BINS - 1) } else { 0 };
    let one = |weights: &[u64]| {
        let n: u64 = weights.iter().sum();
        let mut counts = vec![0u64; HIST_BINS];
        for (i, &w) in weights.iter().enumerate() {
            counts[bin(d.x[i])] += w;
        }
        let mean = (n > 0).then(|| weights.iter().zip(&d.x).map(|(&w, &x)| w as f64 * x).sum::<f64>() / n as f64);
        let quantiles = quantiles(&d.x, weights, &QUANTILES);
        Distribution { n, mean, quantiles, counts }
    };
    Distributions { levels: QUANTILES.to_vec(), edges, relevant: one(&d.pos), irrelevant: one(&d.neg) }
}

/// Quantiles of the multiset holding `weights[i]` copies of `x[i]` (x ascending), with numpy's
/// default linear interpolation; empty when there is nothing.
pub fn quantiles(x: &[f64], weights: &[u64], levels: &[f64]) -> Vec<f64> {
    let mut cum = Vec::with_capacity(x.len());
    let mut c = 0u64;
    for &w in weights {
        c += w;
        cum.push(c);
    }
    if c == 0 {
        return Vec::new();
    }
    // The value at 0-based position p of the sorted multiset.
    let at = |p: u64| x[cum.partition_point(|&k| k <= p).min(x.len() - 1)];
    levels
        .iter()
        .map(|&q| {
            let h = (c - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as u64;
            let a = at(lo);
            let frac = h - lo as f64;
            if frac == 0.0 {
                a
            } else {
                a + (at(lo + 1) - a) * frac
            }
        })
        .collect()
}
