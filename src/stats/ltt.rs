//! Learn-Then-Test (Angelopoulos, Bates, Candès, Jordan, Lei, 2021): thresholds whose risk is
//! at most α with probability at least 1 − δ over the draw of the calibration data, family-wise
//! over a grid of candidate thresholds.
//!
//! Each candidate λ is a hypothesis "the risk at λ exceeds α", tested with the Hoeffding–Bentkus
//! p-value of its empirical risk r̂ = errors / n; a family-wise procedure (Bonferroni–Holm,
//! Bonferroni, fixed-sequence) rejects some of them, and those are the certified thresholds.
//! The definitions are those of MAPIE 1.6.0's `BinaryClassificationController` (binary losses),
//! with one difference: the count of errors is the integer it is, where MAPIE recomputes it as
//! ⌈n·r̂⌉ in floating point (one too many for some n and error counts).

// Indexing here cannot fail: grid positions run within the grid and the counts built for it.
// (The crate denies indexing elsewhere: its readers of user files index nothing.)
#![allow(clippy::indexing_slicing)]

use serde::{Deserialize, Serialize};

use super::binomial;
use crate::error::{Error, Result};

/// A family-wise error rate procedure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fwer {
    /// Bonferroni–Holm step-down: the smallest remaining p-value against δ / (hypotheses left).
    #[default]
    Holm,
    /// Every p-value against δ / m.
    Bonferroni,
    /// Fixed-sequence testing from the end where the risk is lowest, each at δ, stopping at the
    /// first acceptance.
    FixedSequence,
}

impl Fwer {
    /// `holm`, `bonferroni`, `fixed-sequence`.
    pub fn name(self) -> &'static str {
        match self {
            Fwer::Holm => "holm",
            Fwer::Bonferroni => "bonferroni",
            Fwer::FixedSequence => "fixed-sequence",
        }
    }

    /// Parses a procedure name.
    pub fn parse(s: &str) -> Result<Fwer> {
        match s {
            "holm" => Ok(Fwer::Holm),
            "bonferroni" => Ok(Fwer::Bonferroni),
            "fixed-sequence" => Ok(Fwer::FixedSequence),
            _ => Err(Error::Invalid(format!("unknown FWER procedure {s:?} (expected holm, bonferroni or fixed-sequence)"))),
        }
    }
}

/// h₁(a, b) = a·ln(a/b) + (1 − a)·ln((1 − a)/(1 − b)), with 0·ln 0 = 0.
fn h1(a: f64, b: f64) -> f64 {
    let first = if a == 0.0 { 0.0 } else { a * (a / b).ln() };
    let second = if a == 1.0 { 0.0 } else { (1.0 - a) * ((1.0 - a) / (1.0 - b)).ln() };
    first + second
}

/// The Hoeffding–Bentkus p-value of "risk > `alpha`" from `errors` losses among `n` binary
/// observations: min(exp(−n·h₁(min(r̂, α), α)), P(Binomial(n, α) ≤ errors)). 1 when n = 0.
pub fn hb_p_value(errors: u64, n: u64, alpha: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let r = errors as f64 / n as f64;
    let hoeffding = (-(n as f64) * h1(r.min(alpha), alpha)).exp();
    let bentkus = binomial::cdf(errors, n, alpha);
    hoeffding.min(bentkus)
}

/// The hypotheses (indices into `p`) that `fwer` rejects at family-wise level `delta`, in index
/// order. `risk` is each hypothesis's empirical risk; fixed-sequence testing walks from the end
/// where it is lowest, as MAPIE decides it (a risk non-decreasing along the grid within 1e-6 is
/// tested from the start, one non-increasing from the end, any other from the end whose risk is
/// lower on average).
pub fn control(p: &[f64], risk: &[f64], delta: f64, fwer: Fwer) -> Vec<usize> {
    let m = p.len();
    if m == 0 {
        return Vec::new();
    }
    let mut out = match fwer {
        Fwer::Bonferroni => (0..m).filter(|&i| p[i] <= delta / m as f64).collect(),
        Fwer::Holm => {
            let mut order: Vec<usize> = (0..m).collect();
            order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
            let mut out = Vec::new();
            for (j, &i) in order.iter().enumerate() {
                if p[i] <= delta / (m - j) as f64 {
                    out.push(i);
                } else {
                    break;
                }
            }
            out
        }
        Fwer::FixedSequence => {
            let diffs = || risk.windows(2).map(|w| w[1] - w[0]);
            let ascending = if diffs().all(|d| d >= -1e-6) {
                true
            } else if diffs().all(|d| d <= 1e-6) {
                false
            } else {
                risk[m - 1] - risk[0] > 0.0
            };
            let order: Box<dyn Iterator<Item = usize>> = if ascending { Box::new(0..m) } else { Box::new((0..m).rev()) };
            order.take_while(|&i| p[i] <= delta).collect()
        }
    };
    out.sort_unstable();
    out
}

/// One candidate threshold of a precision test: at or above `lambda`, `n` units of which `tp`
/// are relevant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// The threshold.
    pub lambda: f64,
    /// Units at or above it.
    pub n: u64,
    /// Relevant units at or above it.
    pub tp: u64,
}

/// What Learn-Then-Test certified for one target.
#[derive(Clone, Debug, PartialEq)]
pub struct Certified {
    /// Each candidate's p-value.
    pub p_values: Vec<f64>,
    /// The certified candidates (indices, ascending).
    pub valid: Vec<usize>,
    /// The chosen one: the best secondary measure among the valid, as MAPIE picks it.
    pub best: Option<usize>,
}

/// Certifies precision ≥ `target` at confidence 1 − `delta` over `grid` (ascending thresholds),
/// out of `n_pos` relevant units in all. The chosen threshold has the best recall among the
/// certified ones (among equals, the one with the lowest precision, then the lowest threshold:
/// MAPIE's tie rule).
pub fn certify_precision(grid: &[Candidate], target: f64, delta: f64, fwer: Fwer) -> Certified {
    let alpha = 1.0 - target;
    let risk: Vec<f64> = grid.iter().map(|c| if c.n == 0 { 1.0 } else { (c.n - c.tp) as f64 / c.n as f64 }).collect();
    let p_values: Vec<f64> = grid.iter().map(|c| hb_p_value(c.n - c.tp, c.n, alpha)).collect();
    let valid = control(&p_values, &risk, delta, fwer);
    // Recall rises with tp; among equal tp, MAPIE keeps the highest precision risk, then the first.
    let mut best: Option<usize> = None;
    for &i in &valid {
        let better = match best {
            None => true,
            Some(b) => grid[i].tp > grid[b].tp || (grid[i].tp == grid[b].tp && risk[i] > risk[b]),
        };
        if better {
            best = Some(i);
        }
    }
    Certified { p_values, valid, best }
}

/// Certifies recall ≥ `target` (pair unit: the risk is the share of the `n_pos` relevant units
/// below λ) at confidence 1 − `delta`. The chosen threshold has the best precision among the
/// certified ones (among equals, the lowest recall, then the lowest threshold).
pub fn certify_recall(grid: &[Candidate], n_pos: u64, target: f64, delta: f64, fwer: Fwer) -> Certified {
    let alpha = 1.0 - target;
    let risk: Vec<f64> = grid.iter().map(|c| if n_pos == 0 { 1.0 } else { (n_pos - c.tp) as f64 / n_pos as f64 }).collect();
    let p_values: Vec<f64> = grid.iter().map(|c| hb_p_value(n_pos - c.tp, n_pos, alpha)).collect();
    let valid = control(&p_values, &risk, delta, fwer);
    let precision = |c: &Candidate| if c.n == 0 { 0.0 } else { c.tp as f64 / c.n as f64 };
    let mut best: Option<usize> = None;
    for &i in &valid {
        let better = match best {
            None => true,
            Some(b) => {
                let (pi, pb) = (precision(&grid[i]), precision(&grid[b]));
                pi > pb || (pi == pb && risk[i] > risk[b])
            }
        };
        if better {
            best = Some(i);
        }
    }
    Certified { p_values, valid, best }
}
