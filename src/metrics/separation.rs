//! How well scores separate relevant from irrelevant pairs: ROC AUC and average precision (as
//! scikit-learn's `roc_auc_score` and `average_precision_score`), the two-sample
//! Kolmogorov–Smirnov statistic, the overlap of the two score histograms, and the histograms.

use serde::Serialize;

use crate::calibrate::distinct::Distinct;
use crate::calibrate::summary::{distributions, Distributions};
use crate::calibrate::sweep::points;

/// Separation of one table or group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Separation {
    /// Relevant pairs.
    pub n_relevant: u64,
    /// Irrelevant pairs.
    pub n_irrelevant: u64,
    /// Area under the ROC curve (ties count half); None with one class only.
    pub roc_auc: Option<f64>,
    /// Average precision: Σ (Rₙ − Rₙ₋₁) Pₙ over thresholds from the top; None without
    /// relevant pairs.
    pub average_precision: Option<f64>,
    /// max |F_relevant(s) − F_irrelevant(s)|; None with one class only.
    pub ks: Option<f64>,
    /// Σ min(relevant share, irrelevant share) over the histogram bins: 1 when the two
    /// distributions fill the bins alike, 0 when they share none; None with one class only.
    pub overlap: Option<f64>,
    /// Histograms (shared bins) and quantiles of each class.
    pub distributions: Distributions,
}

/// The separation of the pairs in `d`.
pub fn separation(d: &Distinct) -> Separation {
    let (np, nn) = (d.n_pos(), d.n_neg());
    let (mut auc, mut ap, mut ks) = (0.0, 0.0, 0.0f64);
    let (mut tp0, mut fp0) = (0u64, 0u64);
    for p in points(d) {
        // Trapezoid between consecutive ROC points (a tie block is a diagonal step).
        auc += (p.fp - fp0) as f64 * (p.tp + tp0) as f64 / 2.0;
        if np > 0 {
            ap += (p.tp - tp0) as f64 / np as f64 * p.precision();
        }
        if np > 0 && nn > 0 {
            ks = ks.max((p.tp as f64 / np as f64 - p.fp as f64 / nn as f64).abs());
        }
        (tp0, fp0) = (p.tp, p.fp);
    }
    let both = np > 0 && nn > 0;
    let distributions = distributions(d);
    let overlap = both.then(|| {
        let (r, i) = (&distributions.relevant, &distributions.irrelevant);
        r.counts.iter().zip(&i.counts).map(|(&a, &b)| (a as f64 / np as f64).min(b as f64 / nn as f64)).sum()
    });
    Separation {
        n_relevant: np,
        n_irrelevant: nn,
        roc_auc: both.then(|| auc / (np as f64 * nn as f64)),
        average_precision: (np > 0).then_some(ap),
        ks: both.then_some(ks),
        overlap,
        distributions,
    }
}
