//! What the artifact records besides the maps: calibration metrics of each map on the fitting
//! data, and the score distributions of relevant and irrelevant pairs that `drift` compares.

use serde::{Deserialize, Serialize};

use super::distinct::Distinct;
pub use crate::stats::quantiles;

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
    /// Maximum calibration error over the same bins (absent in artifacts written before it).
    #[serde(default)]
    pub mce: f64,
}

/// Calibration metrics of the probabilities `prob(i)` of the table's scores (any cells of
/// scores with their pair counts: neither sorted nor distinct is needed).
pub fn metrics(d: &Distinct, prob: impl Fn(usize) -> f64 + Sync) -> CalibrationMetrics {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    // Per chunk: brier, log loss, and per ECE bin (weight, sum p, sum y); summed in chunk order.
    type Acc = (f64, f64, [(f64, f64, f64); ECE_BINS]);
    let chunk = |lo: usize| -> Acc {
        let mut a: Acc = (0.0, 0.0, [(0.0, 0.0, 0.0); ECE_BINS]);
        for i in lo..(lo + CHUNK).min(d.len()) {
            let p = prob(i);
            let (pos, neg) = (d.pos[i] as f64, d.neg[i] as f64);
            a.0 += pos * (1.0 - p).powi(2) + neg * p.powi(2);
            // Most distinct scores hold pairs of one class only: one log, not two.
            let pc = p.clamp(1e-15, 1.0 - 1e-15);
            if pos > 0.0 {
                a.1 -= pos * pc.ln();
            }
            if neg > 0.0 {
                a.1 -= neg * (1.0 - pc).ln();
            }
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
    let mce = bins.iter().filter(|b| b.0 > 0.0).map(|b| (b.1 - b.2).abs() / b.0).fold(0.0, f64::max);
    CalibrationMetrics { brier: brier / n, log_loss: log_loss / n, ece, mce }
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

/// The distributions of the table's relevant and irrelevant scores: histograms and means in
/// one parallel pass, quantiles in one walk.
pub fn distributions(d: &Distinct) -> Distributions {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    let (lo, hi) = (d.x.first().copied().unwrap_or(0.0), d.x.last().copied().unwrap_or(0.0));
    let width = (hi - lo) / HIST_BINS as f64;
    let edges: Vec<f64> = (0..=HIST_BINS).map(|i| if i == HIST_BINS { hi } else { lo + width * i as f64 }).collect();
    let bin = |x: f64| if width > 0.0 { (((x - lo) / width) as usize).min(HIST_BINS - 1) } else { 0 };
    // Per chunk and class: counts per bin, pairs, and the sum of their scores.
    type Acc = [(Vec<u64>, u64, f64); 2];
    let empty = || -> Acc { [(vec![0; HIST_BINS], 0, 0.0), (vec![0; HIST_BINS], 0, 0.0)] };
    let chunk = |lo: usize| {
        let mut a = empty();
        for i in lo..(lo + CHUNK).min(d.len()) {
            let b = bin(d.x[i]);
            for (acc, w) in a.iter_mut().zip([d.pos[i], d.neg[i]]) {
                acc.0[b] += w;
                acc.1 += w;
                acc.2 += w as f64 * d.x[i];
            }
        }
        a
    };
    let parts: Vec<Acc> = (0..d.len()).step_by(CHUNK).collect::<Vec<_>>().into_par_iter().map(chunk).collect();
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
