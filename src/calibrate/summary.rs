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

/// Calibration metrics of `predict` on the table.
pub fn metrics(d: &Distinct, predict: impl Fn(f64) -> f64) -> CalibrationMetrics {
    let n = (d.n_pos() + d.n_neg()) as f64;
    let (mut brier, mut log_loss) = (0.0, 0.0);
    let mut bins = [(0.0f64, 0.0f64, 0.0f64); ECE_BINS]; // (weight, sum p, sum y)
    for i in 0..d.len() {
        let p = predict(d.x[i]);
        let (pos, neg) = (d.pos[i] as f64, d.neg[i] as f64);
        brier += pos * (1.0 - p).powi(2) + neg * p.powi(2);
        let pc = p.clamp(1e-15, 1.0 - 1e-15);
        log_loss -= pos * pc.ln() + neg * (1.0 - pc).ln();
        let b = ((p * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[b].0 += pos + neg;
        bins[b].1 += p * (pos + neg);
        bins[b].2 += pos;
    }
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
        let quantiles = QUANTILES.iter().filter_map(|&q| d.quantile(q, |i| weights[i])).collect();
        Distribution { n, mean, quantiles, counts }
    };
    Distributions { levels: QUANTILES.to_vec(), edges, relevant: one(&d.pos), irrelevant: one(&d.neg) }
}
