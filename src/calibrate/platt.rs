//! Platt scaling: P(relevant | s) = 1 / (1 + exp(a·s + b)), the maximum-likelihood logistic
//! fit of the labels on the raw score, without regularisation (scikit-learn's
//! `LogisticRegression(C=inf)` with a = −coef, b = −intercept).
//!
//! Newton's method on the two parameters over the distinct-score table (weights: relevant and
//! irrelevant counts), on the standardised score for conditioning, with a stable log-sigmoid and
//! a backtracking line search. Separated data has no finite maximum: it is refused with a
//! message that suggests isotonic.

use super::chunks;
use super::distinct::{Distinct, Rest};
use crate::error::{Error, Result};

/// A fitted Platt map.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
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
pub(crate) fn sigmoid(z: f64) -> f64 {
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
/// P = σ(w·u + c) over the pairs of `t`, in one parallel pass: [f, g_w, g_c, h_ww, h_wc, h_cc]
/// (f is 0 without `loss`: the log is most of a pass's cost, and only a line search needs it).
#[expect(clippy::indexing_slicing, reason = "bin and row positions are computed within the base's own bins and rows")]
fn pass(t: Rest, st: Standard, w: f64, c: f64, loss: bool) -> [f64; 6] {
    let row = |acc: &mut [f64; 6], x: f64, p: u64, m: u64| {
        let (p, m) = (p as f64, m as f64);
        let ui = (x - st.mean) * st.scale;
        let z = w * ui + c;
        // One exp (and one log1p for the loss): softplus(z) = max(z, 0) + log1p(e^−|z|).
        let e = (-z.abs()).exp();
        let s = if z >= 0.0 { 1.0 } else { e } / (1.0 + e);
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
    };
    let chunk = |lo: usize, hi: usize| {
        let mut acc = [0.0f64; 6];
        if t.part.is_empty() {
            // A whole table: its rows as they are.
            let d = t.all;
            for i in lo..hi {
                row(&mut acc, d.x[i], d.pos[i], d.neg[i]);
            }
        } else {
            for (x, p, m) in t.rows_in(lo, hi) {
                row(&mut acc, x, p, m);
            }
        }
        acc
    };
    let add = |mut a: [f64; 6], b: [f64; 6]| {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
        a
    };
    chunks::map(t.all.len(), chunk).into_iter().fold([0.0; 6], add)
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
#[expect(clippy::indexing_slicing, reason = "bin and row positions are computed within the base's own bins and rows")]
fn standardise(d: &Distinct) -> Standard {
    if d.is_empty() {
        return Standard { mean: 0.0, scale: 1.0 };
    }
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

/// Newton's stopping step of a map fitted to be kept ([`fit_within`]).
pub const TOLERANCE: f64 = 1e-9;

/// Fits the map. `group` names the data in errors.
pub fn fit(d: &Distinct, group: &str) -> Result<Platt> {
    fit_within(d, group, TOLERANCE)
}

/// [`fit`], done when a Newton step (on the standardised score) is at most `tol`: 1e-9 leaves
/// the parameters at their rounding. The folds of cross-fitting, whose maps only score
/// held-out pairs, stop at 1e-4: Newton's error squares with each step (on real tables the step
/// after one of 1e-5 is near 1e-11), so what such a step leaves is near 1e-8 in the
/// standardised parameters, and the binned warm start is usually that close already: one pass.
pub fn fit_within(d: &Distinct, group: &str, tol: f64) -> Result<Platt> {
    Base::new(d).fit(d.whole(), group, tol)
}

/// Bins of the warm start: about this many runs of consecutive scores.
const BINS: usize = 1 << 16;

/// What the fits of a table and of its folds' training parts share, computed once: the
/// table's standardised score and its pairs pooled into bins of consecutive scores (the warm
/// start's data, less a part's pairs for a fold). A fold's fit works on the table's
/// standardised score: Newton's steps do not depend on the scale the score is measured in,
/// only what the tolerance means does, and a part moves it little.
pub struct Base<'a> {
    d: &'a Distinct,
    st: Standard,
    /// Scores per bin (0: too few scores to pool; the warm start is then the base rate).
    per: usize,
    /// Per bin: relevant pairs, irrelevant pairs, Σ pairs · (score − the bin's lowest score).
    bins: Vec<(u64, u64, f64)>,
}

impl<'a> Base<'a> {
    /// The shared part of fits on `d` and on `d` less any part of it.
    #[expect(clippy::indexing_slicing, reason = "bin and row positions are computed within the base's own bins and rows")]
    pub fn new(d: &'a Distinct) -> Base<'a> {
        use rayon::prelude::*;
        let st = standardise(d);
        let per = if d.len() < 4 * BINS { 0 } else { d.len().div_ceil(BINS) };
        let bins = if per == 0 {
            Vec::new()
        } else {
            (0..d.len().div_ceil(per))
                .into_par_iter()
                .map(|b| {
                    let (lo, hi) = (b * per, ((b + 1) * per).min(d.len()));
                    let s: f64 = (lo..hi).map(|i| (d.pos[i] + d.neg[i]) as f64 * (d.x[i] - d.x[lo])).sum();
                    (d.pos[lo..hi].iter().sum(), d.neg[lo..hi].iter().sum(), s)
                })
                .collect()
        };
        Base { d, st, per, bins }
    }

    /// [`fit_within`] on `t`, pairs of this base's table (of another table: with its own base).
    pub fn fit(&self, t: Rest, group: &str, tol: f64) -> Result<Platt> {
        if !std::ptr::eq(t.all, self.d) {
            return Base::new(t.all).fit(t, group, tol);
        }
        let (np, nn) = (t.n_pos(), t.n_neg());
        if np == 0 || nn == 0 {
            return Err(Error::Fit { group: group.to_owned(), message: "Platt scaling needs both relevant and irrelevant pairs".into() });
        }
        // One distinct score: only a·s + b is identifiable; the flat map with b = −logit(rate).
        if t.rows().nth(1).is_none() {
            return Ok(Platt { a: 0.0, b: -(np as f64 / nn as f64).ln() });
        }
        // Separation: every relevant score on one side of every irrelevant one (sharing at most
        // one score value). The likelihood then grows without bound as the slope does.
        let side = |relevant: bool, highest: bool| t.extreme(relevant, highest).unwrap_or(f64::NAN);
        if side(false, true) <= side(true, false) || side(true, true) <= side(false, false) {
            return Err(Error::Fit {
                group: group.to_owned(),
                message: "the scores separate relevant from irrelevant pairs perfectly, so Platt scaling has no finite fit; use \
                          `method` isotonic"
                    .into(),
            });
        }
        newton(t, self.st, self.warm_start(t, np, nn), group, tol)
    }

    /// A starting point near the optimum: the same Newton fit on the pairs of `t` pooled into
    /// the bins (each at its pairs' mean score), which costs a fraction of one full pass.
    #[expect(clippy::indexing_slicing, reason = "bin and row positions are computed within the base's own bins and rows")]
    fn warm_start(&self, t: Rest, np: u64, nn: u64) -> (f64, f64) {
        let start = (0.0, (np as f64 / nn as f64).ln());
        let (d, part, per) = (self.d, t.part, self.per);
        if per == 0 {
            return start;
        }
        // The part's pairs are taken out of the bin of their score.
        let mut bins = self.bins.clone();
        let mut b = 0;
        for j in 0..part.len() {
            while b + 1 < bins.len() && part.x[j] > d.x[((b + 1) * per).min(d.len()) - 1] {
                b += 1;
            }
            let bin = &mut bins[b];
            bin.0 = bin.0.saturating_sub(part.pos[j]);
            bin.1 = bin.1.saturating_sub(part.neg[j]);
            bin.2 -= (part.pos[j] + part.neg[j]) as f64 * (part.x[j] - d.x[b * per]);
        }
        let mut pooled = Distinct::default();
        for (b, &(p, m, s)) in bins.iter().enumerate() {
            let wsum = (p + m) as f64;
            if wsum == 0.0 {
                continue;
            }
            pooled.x.push(s / wsum + d.x[b * per]);
            pooled.pos.push(p);
            pooled.neg.push(m);
        }
        let (mut w, mut c) = start;
        for _ in 0..50 {
            let Some((s0, s1)) = newton_step(&pass(pooled.whole(), self.st, w, c, false)) else { return start };
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
}

/// Newton's method on `t` from the warm start `(w, c)`, done at a step of `tol` ([`fit_within`]).
fn newton(t: Rest, st: Standard, (mut w, mut c): (f64, f64), group: &str, tol: f64) -> Result<Platt> {
    // The binned fit lands close to the optimum, where plain Newton steps shrink quadratically
    // and the loss (most of a pass's cost) is not needed: take them while each is less than
    // half the one before; a step of `tol` or less is the last (what remains after it is far
    // below the parameters' rounding; see [`fit_within`]). A step that does not shrink hands over
    // to the damped iteration below, from the warm start.
    let (w0, c0) = (w, c);
    let mut last_step = f64::INFINITY;
    for _ in 0..20 {
        let Some((s0, s1)) = newton_step(&pass(t, st, w, c, false)) else { break };
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
    let (mut s0, mut s1, mut damp) = (0.0, 0.0, 1.0);
    for _ in 0..200 {
        let g = pass(t, st, w, c, true);
        let f = g[0];
        if let Some((pw, pc, pf)) = prev {
            if f.is_nan() || f > pf + 1e-13 * pf.abs() {
                damp *= 0.5;
                if damp < 1e-12 {
                    break;
                }
                (w, c) = (pw - damp * s0, pc - damp * s1);
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
        damp = 1.0;
        (w, c) = (w - s0, c - s1);
    }
    Err(Error::Fit {
        group: group.to_owned(),
        message: "Platt scaling did not converge (the scores nearly separate the classes); use `method` isotonic".into(),
    })
}

fn unstandardise(w: f64, c: f64, st: Standard) -> Platt {
    // σ(w·(s − mean)·scale + c) = 1 / (1 + exp(a·s + b)).
    Platt { a: -w * st.scale, b: -(c - w * st.mean * st.scale) }
}
