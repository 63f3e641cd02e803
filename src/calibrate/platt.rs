//! Platt scaling: P(relevant | s) = 1 / (1 + exp(a·s + b)), the maximum-likelihood logistic
//! fit of the labels on the raw score, without regularisation (scikit-learn's
//! `LogisticRegression(C=inf)` with a = −coef, b = −intercept).
//!
//! Newton's method on the two parameters over the distinct-score table (weights: relevant and
//! irrelevant counts), on the standardised score for conditioning, with a stable log-sigmoid and
//! a backtracking line search. Separated data has no finite maximum: it is refused with a
//! message that suggests isotonic.

use super::chunks;
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

/// The table's scores standardised for conditioning: u = (x − mean) · scale.
#[derive(Clone, Copy)]
struct Standard {
    mean: f64,
    scale: f64,
}

/// Gradient, Hessian and (with `loss`) the value of the negative log-likelihood of
/// P = σ(w·u + c) over the table, in one parallel pass: [f, g_w, g_c, h_ww, h_wc, h_cc]
/// (f is 0 without `loss`: the log is most of a pass's cost, and only a line search needs it).
#[allow(clippy::needless_range_loop)] // three parallel arrays, one index
fn pass(d: &Distinct, st: Standard, w: f64, c: f64, loss: bool) -> [f64; 6] {
    let chunk = |lo: usize, hi: usize| {
        let mut acc = [0.0f64; 6];
        for i in lo..hi {
            let (p, m) = (d.pos[i] as f64, d.neg[i] as f64);
            let ui = (d.x[i] - st.mean) * st.scale;
            let z = w * ui + c;
            // One exp (and one log1p for the loss): softplus(z) = max(z, 0) + log1p(e^−|z|).
            let e = (-z.abs()).exp();
            let s = if z >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
            if loss {
                let sp = z.max(0.0) + e.ln_1p();
                // p · softplus(−z) + m · softplus(z), with softplus(−z) = softplus(z) − z.
                acc[0] += p * (sp - z) + m * sp;
            }
            let r = (p + m) * s - p;
            let h = (p + m) * s * (1.0 - s);
            acc[1] += r * ui;
            acc[2] += r;
            acc[3] += h * ui * ui;
            acc[4] += h * ui;
            acc[5] += h;
        }
        acc
    };
    let add = |mut a: [f64; 6], b: [f64; 6]| {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
        a
    };
    chunks::map(d.len(), chunk).into_iter().fold([0.0; 6], add)
}

/// The Newton step (Hessian⁻¹ · gradient) from a pass's derivatives, if the Hessian is
/// positive definite.
fn newton_step(g: &[f64; 6]) -> Option<(f64, f64)> {
    let [_, g0, g1, h00, h01, h11] = *g;
    let det = h00 * h11 - h01 * h01;
    if !(det.is_finite() && det > 0.0) {
        return None;
    }
    let s = ((h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det);
    (s.0.is_finite() && s.1.is_finite()).then_some(s)
}

/// The weighted mean and standard deviation of the scores (1 when they do not vary), in one
/// parallel pass around a pivot score.
fn standardise(d: &Distinct) -> Standard {
    let pivot = d.x[d.len() / 2];
    let parts = chunks::map(d.len(), |lo, hi| {
        let mut a = (0.0, 0.0, 0.0);
        for i in lo..hi {
            let (w, v) = ((d.pos[i] + d.neg[i]) as f64, d.x[i] - pivot);
            a = (a.0 + w, a.1 + w * v, a.2 + w * v * v);
        }
        a
    });
    let (n, s1, s2) = parts.into_iter().fold((0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    let m = s1 / n;
    let sd = (s2 / n - m * m).max(0.0).sqrt();
    Standard { mean: pivot + m, scale: if sd > 0.0 { 1.0 / sd } else { 1.0 } }
}

/// Fits the map. `group` names the data in errors.
pub fn fit(d: &Distinct, group: &str) -> Result<Platt> {
    fit_to(d, group, 1e-9)
}

/// [`fit`], done when a Newton step (on the standardised score) is at most `tol`: 1e-9 leaves
/// the parameters at their rounding. The folds of cross-fitting, whose maps only score
/// held-out pairs, stop at 1e-4: Newton's error squares with each step (on real tables the step
/// after one of 1e-5 is near 1e-11), so what such a step leaves is near 1e-8 in the
/// standardised parameters, and the binned warm start is usually that close already: one pass.
pub fn fit_to(d: &Distinct, group: &str, tol: f64) -> Result<Platt> {
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
    let st = standardise(d);
    let (mut w, mut c) = warm_start(d, st, np, nn);
    // The binned fit lands close to the optimum, where plain Newton steps shrink quadratically
    // and the loss (most of a pass's cost) is not needed: take them while each is less than
    // half the one before; a step of 1e-9 or less is the last (what remains after it is far
    // below the parameters' rounding; see [`fit_to`]). A step that does not shrink hands over to the damped
    // iteration below, from the warm start.
    let (w0, c0) = (w, c);
    let mut last_step = f64::INFINITY;
    for _ in 0..20 {
        let Some((s0, s1)) = newton_step(&pass(d, st, w, c, false)) else { break };
        let size = s0.abs().max(s1.abs());
        if size > 0.5 * last_step || w.abs() > 1e6 {
            break;
        }
        if size <= tol {
            return Ok(unstandardise(w - s0, c - s1, st));
        }
        (w, c, last_step) = (w - s0, c - s1, size);
    }
    (w, c) = (w0, c0);
    // Otherwise damped Newton: each iteration is one pass (the loss there, and the derivatives
    // for the next step); a step that raises the loss is halved.
    let mut prev: Option<(f64, f64, f64)> = None; // (w, c, loss) of the last accepted point
    let (mut s0, mut s1, mut t) = (0.0, 0.0, 1.0);
    for _ in 0..200 {
        let g = pass(d, st, w, c, true);
        let f = g[0];
        if let Some((pw, pc, pf)) = prev {
            if f.is_nan() || f > pf + 1e-13 * pf.abs() {
                t *= 0.5;
                if t < 1e-12 {
                    break;
                }
                (w, c) = (pw - t * s0, pc - t * s1);
                continue;
            }
        }
        let Some(step) = newton_step(&g) else { break };
        (s0, s1) = step;
        // Converged when the Newton step itself is negligible (quadratic convergence makes the
        // step after a 1e-11 one far below the parameters' rounding).
        if s0.abs().max(s1.abs()) <= 1e-11 {
            return Ok(unstandardise(w - s0, c - s1, st));
        }
        if w.abs() > 1e6 {
            break;
        }
        prev = Some((w, c, f));
        t = 1.0;
        (w, c) = (w - s0, c - s1);
    }
    Err(Error::Fit {
        group: group.to_owned(),
        message: "Platt scaling did not converge (the scores nearly separate the classes); use --method isotonic".into(),
    })
}

/// A starting point near the optimum: the same Newton fit on the table pooled into about
/// 65,536 bins of consecutive scores (each at its weighted mean score), which costs a fraction
/// of one full pass.
fn warm_start(d: &Distinct, st: Standard, np: u64, nn: u64) -> (f64, f64) {
    const BINS: usize = 1 << 16;
    let start = (0.0, (np as f64 / nn as f64).ln());
    if d.len() < 4 * BINS {
        return start;
    }
    let per = d.len().div_ceil(BINS);
    // Bins at their mean score.
    let mut b = Distinct::default();
    for lo in (0..d.len()).step_by(per) {
        let hi = (lo + per).min(d.len());
        let (p, m): (u64, u64) = (d.pos[lo..hi].iter().sum(), d.neg[lo..hi].iter().sum());
        let wsum = (p + m) as f64;
        if wsum == 0.0 {
            continue;
        }
        let mean = (lo..hi).map(|i| (d.pos[i] + d.neg[i]) as f64 * (d.x[i] - d.x[lo])).sum::<f64>() / wsum + d.x[lo];
        b.x.push(mean);
        b.pos.push(p);
        b.neg.push(m);
    }
    let (mut w, mut c) = start;
    for _ in 0..50 {
        let Some((s0, s1)) = newton_step(&pass(&b, st, w, c, false)) else { return start };
        if w.abs() > 1e6 {
            return start;
        }
        (w, c) = (w - s0, c - s1);
        if s0.abs().max(s1.abs()) < 1e-12 {
            break;
        }
    }
    (w, c)
}

fn unstandardise(w: f64, c: f64, st: Standard) -> Platt {
    // σ(w·(s − mean)·scale + c) = 1 / (1 + exp(a·s + b)).
    Platt { a: -w * st.scale, b: -(c - w * st.mean * st.scale) }
}
