//! How well probabilities match outcomes: the reliability table (scikit-learn's
//! `calibration_curve`, uniform or quantile bins) with Wilson 95% intervals, ECE and MCE (as
//! netcal's `ECE` / `MCE` with equal-width bins), the Brier score and log loss (as
//! scikit-learn's `brier_score_loss` and `log_loss`).
//!
//! The two references put a probability that falls exactly on a bin edge in different bins:
//! `calibration_curve` in the lower one ((a, b] bins), netcal in the upper one ([a, b) bins);
//! each number here follows its reference.

use serde::Serialize;

use crate::calibrate::summary::quantiles;
use crate::error::{Error, Result};

/// How the reliability bins are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BinStrategy {
    /// Equal-width bins over [0, 1].
    Uniform,
    /// Bins holding about equal numbers of pairs (edges at the probabilities' quantiles).
    Quantile,
}

crate::choice::choice!(BinStrategy => "bin strategy");

/// One non-empty reliability bin.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Pairs in the bin.
    pub count: u64,
    /// Mean predicted probability.
    pub mean_predicted: f64,
    /// Fraction of relevant pairs.
    pub observed: f64,
    /// Wilson 95% interval of the observed fraction.
    pub wilson: [f64; 2],
}

/// Calibration quality of probabilities against labels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reliability {
    /// Bin strategy of the table.
    pub strategy: BinStrategy,
    /// Bins asked for.
    pub n_bins: usize,
    /// The non-empty bins, in probability order.
    pub bins: Vec<Bin>,
    /// Expected calibration error over `n_bins` equal-width bins.
    pub ece: f64,
    /// Maximum calibration error over the non-empty equal-width bins.
    pub mce: f64,
    /// Mean squared error.
    pub brier: f64,
    /// Mean negative log-likelihood, probabilities clipped to [ε, 1 − ε] (ε: f64 machine epsilon).
    pub log_loss: f64,
    /// Pairs.
    pub n: u64,
}

/// The Wilson score interval (95%) of `k` successes in `n`.
pub fn wilson(k: f64, n: f64) -> [f64; 2] {
    const Z: f64 = 1.959_963_984_540_054;
    if n <= 0.0 {
        return [0.0, 1.0];
    }
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// numpy's `linspace(0, 1, n + 1)`.
pub fn uniform_edges(n: usize) -> Vec<f64> {
    let step = 1.0 / n as f64;
    (0..=n).map(|i| if i == n { 1.0 } else { i as f64 * step }).collect()
}

/// The ECE's bin of probability `v` among the equal-width `edges` (`uniform_edges`), and `v`
/// clipped as the ECE counts it: netcal's bins, [a, b) with the last closed, on probabilities
/// clipped to [ε, 1 − ε].
pub fn ece_bin(edges: &[f64], v: f64) -> (usize, f64) {
    let v = v.clamp(f64::EPSILON, 1.0 - f64::EPSILON);
    let bins = edges.len().saturating_sub(1).max(1);
    (edges.partition_point(|&e| e <= v).saturating_sub(1).min(bins - 1), v)
}

/// Measures probabilities `p` (each in [0, 1]) against relevance `y`.
// Long: the bins and every reliability measure from one pass over the sorted probabilities.
#[expect(clippy::indexing_slicing, reason = "bins are found within the edges this module computes")]
pub fn reliability(p: &[f64], y: &[bool], n_bins: usize, strategy: BinStrategy) -> Result<Reliability> {
    if n_bins == 0 {
        return Err(Error::Invalid("`bins` must be at least 1".into()));
    }
    if let Some(bad) = p.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::Invalid(format!("probability {bad} is outside [0, 1]")));
    }
    let n = p.len();
    // The reliability table: scikit-learn's bins, a probability on an inner edge in the lower bin.
    let edges = match strategy {
        BinStrategy::Uniform => uniform_edges(n_bins),
        BinStrategy::Quantile => {
            let mut sorted = p.to_vec();
            sorted.sort_by(f64::total_cmp);
            // np.percentile(p, linspace(0, 1, n + 1) * 100): levels through percent and back.
            let levels: Vec<f64> = uniform_edges(n_bins).into_iter().map(|q| q * 100.0 / 100.0).collect();
            quantiles(&sorted, &vec![1; sorted.len()], &levels)
        }
    };
    let inner = if edges.len() >= 2 { &edges[1..edges.len() - 1] } else { &[][..] };
    let mut acc = vec![(0u64, 0.0f64, 0u64); n_bins];
    for (&v, &r) in p.iter().zip(y) {
        let b = inner.partition_point(|&e| e < v);
        acc[b].0 += 1;
        acc[b].1 += v;
        acc[b].2 += r as u64;
    }
    let bins = acc
        .iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(i, &(c, s, k))| Bin {
            lo: edges.get(i).copied().unwrap_or(0.0),
            hi: edges.get(i + 1).copied().unwrap_or(1.0),
            count: c,
            mean_predicted: s / c as f64,
            observed: k as f64 / c as f64,
            wilson: wilson(k as f64, c as f64),
        })
        .collect();
    // ECE and MCE: netcal's equal-width bins, [a, b) with the last closed, on probabilities
    // clipped to [ε, 1 − ε].
    let ue = uniform_edges(n_bins);
    let mut cal = vec![(0u64, 0.0f64, 0u64); n_bins];
    for (&v, &r) in p.iter().zip(y) {
        let (b, v) = ece_bin(&ue, v);
        cal[b].0 += 1;
        cal[b].1 += v;
        cal[b].2 += r as u64;
    }
    let gaps = cal.iter().filter(|c| c.0 > 0).map(|&(c, s, k)| (c, (k as f64 / c as f64 - s / c as f64).abs()));
    let (mut ece, mut mce) = (0.0, 0.0f64);
    for (c, g) in gaps {
        ece += c as f64 / n as f64 * g;
        mce = mce.max(g);
    }
    let brier = p.iter().zip(y).map(|(&v, &r)| (v - r as u8 as f64).powi(2)).sum::<f64>() / n as f64;
    let log_loss = p
        .iter()
        .zip(y)
        .map(|(&v, &r)| {
            let v = v.clamp(f64::EPSILON, 1.0 - f64::EPSILON);
            -(if r { v.ln() } else { (1.0 - v).ln() })
        })
        .sum::<f64>()
        / n as f64;
    Ok(Reliability { strategy, n_bins, bins, ece, mce, brier, log_loss, n: n as u64 })
}
