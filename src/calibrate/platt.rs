//! Platt scaling: P(relevant | s) = 1 / (1 + exp(a·s + b)), the maximum-likelihood logistic
//! fit of the labels on the raw score, without regularisation (scikit-learn's
//! `LogisticRegression(C=inf)` with a = −coef, b = −intercept).
//!
//! Newton's method on the two parameters over the distinct-score table (weights: relevant and
//! irrelevant counts), on the standardised score for conditioning, with a stable log-sigmoid and
//! a backtracking line search. Separated data has no finite maximum: it is refused with a
//! message that suggests isotonic.

use super::distinct::Distinct;
use crate::error::{Error, Result};

/// A fitted Platt map.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Platt {
    /// Slope (negative when higher scores mean more relevant).
    pub a: f64,
    /// Offset.
    pub b: f64,
}

impl Platt {
    /// P(relevant | s).
    pub fn predict(&self, s: f64) -> f64 {
        sigmoid(-(self.a * s + self.b))
    }

    /// The score at which the probability equals `p` (0 < p < 1), if the map is not flat.
    pub fn score_for(&self, p: f64) -> Option<f64> {
        (self.a != 0.0 && p > 0.0 && p < 1.0).then(|| ((1.0 / p - 1.0).ln() - self.b) / self.a)
    }
}

/// 1 / (1 + exp(−z)) without overflow.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// log(1 + exp(z)) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// Negative log-likelihood of P = σ(w·u + c) over the table (u: standardised scores).
fn nll(u: &[f64], d: &Distinct, w: f64, c: f64) -> f64 {
    u.iter()
        .zip(d.pos.iter().zip(&d.neg))
        .map(|(&u, (&p, &n))| {
            let z = w * u + c;
            p as f64 * softplus(-z) + n as f64 * softplus(z)
        })
        .sum()
}

/// Fits the map. `group` names the data in errors.
pub fn fit(d: &Distinct, group: &str) -> Result<Platt> {
    let (np, nn) = (d.n_pos(), d.n_neg());
    if np == 0 || nn == 0 {
        return Err(Error::Fit { group: group.to_owned(), message: "Platt scaling needs both relevant and irrelevant pairs".into() });
    }
    // One distinct score: only a·s + b is identifiable; the flat map with b = −logit(rate).
    if d.len() == 1 {
        return Ok(Platt { a: 0.0, b: -(np as f64 / nn as f64).ln() });
    }
    // Separation: every relevant score on one side of every irrelevant one (sharing at most one
    // score value). The likelihood then grows without bound as the slope does.
    let first = |v: &[u64]| v.iter().position(|&c| c > 0).unwrap_or(0);
    let last = |v: &[u64]| v.iter().rposition(|&c| c > 0).unwrap_or(0);
    if last(&d.neg) <= first(&d.pos) || last(&d.pos) <= first(&d.neg) {
        return Err(Error::Fit {
            group: group.to_owned(),
            message:
                "the scores separate relevant from irrelevant pairs perfectly, so Platt scaling has no finite fit; use --method isotonic"
                    .into(),
        });
    }
    let n = (np + nn) as f64;
    let weight = |i: usize| (d.pos[i] + d.neg[i]) as f64;
    let mean = (0..d.len()).map(|i| weight(i) * d.x[i]).sum::<f64>() / n;
    let var = (0..d.len()).map(|i| weight(i) * (d.x[i] - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    let sd = if sd > 0.0 { sd } else { 1.0 };
    let u: Vec<f64> = d.x.iter().map(|&x| (x - mean) / sd).collect();

    // Start at the intercept-only optimum.
    let (mut w, mut c) = (0.0, (np as f64 / nn as f64).ln());
    let mut f = nll(&u, d, w, c);
    for _ in 0..100 {
        let (mut g0, mut g1, mut h00, mut h01, mut h11) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, &ui) in u.iter().enumerate() {
            let (p, m) = (d.pos[i] as f64, d.neg[i] as f64);
            let s = sigmoid(w * ui + c);
            let r = (p + m) * s - p;
            let h = (p + m) * s * (1.0 - s);
            g0 += r * ui;
            g1 += r;
            h00 += h * ui * ui;
            h01 += h * ui;
            h11 += h;
        }
        let det = h00 * h11 - h01 * h01;
        if !(det.is_finite() && det > 0.0) {
            break;
        }
        let s0 = (h11 * g0 - h01 * g1) / det;
        let s1 = (h00 * g1 - h01 * g0) / det;
        // Converged when the Newton step itself is negligible (quadratic convergence makes the
        // step after a 1e-11 one far below the parameters' rounding).
        if s0.abs().max(s1.abs()) <= 1e-11 {
            return Ok(unstandardise(w - s0, c - s1, mean, sd));
        }
        // Backtracking line search; a loss equal to within rounding counts as no increase.
        let mut t = 1.0;
        let mut moved = false;
        for _ in 0..60 {
            let (nw, nc) = (w - t * s0, c - t * s1);
            let nf = nll(&u, d, nw, nc);
            if nf <= f + 1e-13 * f.abs() {
                (w, c, f) = (nw, nc, nf.min(f));
                moved = true;
                break;
            }
            t *= 0.5;
        }
        if !moved {
            if s0.abs().max(s1.abs()) <= 1e-6 {
                return Ok(unstandardise(w, c, mean, sd));
            }
            break;
        }
        if w.abs() > 1e6 {
            break;
        }
    }
    Err(Error::Fit {
        group: group.to_owned(),
        message: "Platt scaling did not converge (the scores nearly separate the classes); use --method isotonic".into(),
    })
}

fn unstandardise(w: f64, c: f64, mean: f64, sd: f64) -> Platt {
    // σ(w·(s − mean)/sd + c) = 1 / (1 + exp(a·s + b)).
    Platt { a: -w / sd, b: -(c - w * mean / sd) }
}
