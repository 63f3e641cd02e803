//! Learn-Then-Test (Angelopoulos, Bates, Candès, Jordan, Lei, 2021): thresholds whose risk is
//! at most α with probability at least 1 − δ over the draw of the calibration data, family-wise
//! over a grid of candidate thresholds.
//!
//! Each candidate λ is a hypothesis "the risk at λ exceeds α", tested with the Hoeffding–Bentkus
//! p-value of its empirical risk r̂ = errors / n; a family-wise procedure (Bonferroni–Holm,
//! Bonferroni, fixed-sequence) rejects some of them, and those are the certified thresholds.
//! The definitions of the p-values, Holm and Bonferroni are those of MAPIE 1.6.0's
//! `BinaryClassificationController` (binary losses), with two differences: the count of errors
//! is the integer it is, where MAPIE recomputes it as ⌈n·r̂⌉ in floating point (one too many for
//! some n and error counts); and fixed-sequence testing walks an order fixed before the labels
//! are seen, where MAPIE picks the direction from the calibration data's risks (which makes its
//! error rate exceed δ). Pairs of one query can be tested as clustered ([`Losses::Clustered`]).

use serde::{Deserialize, Serialize};

use super::binomial;

/// A family-wise error rate procedure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Fwer {
    /// Bonferroni–Holm step-down: the smallest remaining p-value against δ / (hypotheses left).
    Holm,
    /// Every p-value against δ / m.
    Bonferroni,
    /// Fixed-sequence testing in orders fixed before the labels are seen, stopping each at its
    /// first acceptance: precision from the highest threshold down, in up to four sequences
    /// whose starts depend on unit counts alone, δ split between them; recall
    /// from the lowest threshold up, at δ. (MAPIE walks one sequence in a direction it picks
    /// from the calibration data's risks, which is not valid.) The default: on the sample and on a set of
    /// 4,000 judged queries it certifies lower thresholds (more recall) than Holm or Bonferroni,
    /// which spend δ over the whole grid.
    #[default]
    FixedSequence,
}

crate::choice::choice!(Fwer => "FWER procedure");

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

/// The Hoeffding–Bentkus p-value of "mean loss > `alpha`" from `n` independent losses in [0, 1]
/// whose mean is `mean`: min(exp(−n·h₁(min(R̂, α), α)), e·P(Binomial(n, α) ≤ ⌈n·R̂⌉)) (Bates et
/// al., 2021, Proposition 3: the factor e is the price of losses that are not binary). 1 when
/// n = 0.
pub(crate) fn hb_p_value_bounded(mean: f64, n: u64, alpha: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let r = mean.clamp(0.0, 1.0);
    let hoeffding = (-(n as f64) * h1(r.min(alpha), alpha)).exp();
    // ⌈n·R̂⌉ rounded up: a count one too high only raises the p-value.
    let k = (n as f64 * r).ceil().min(n as f64) as u64;
    let bentkus = std::f64::consts::E * binomial::cdf(k, n, alpha);
    hoeffding.min(bentkus).min(1.0)
}

/// What one test of a ratio "tp of a" counts as its independent observations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Losses {
    /// Each of the `a` units is an independent binary observation (each query's top hit; or
    /// pairs, assumed independent as MAPIE assumes them).
    Binary,
    /// The units are pairs grouped in `queries` independent queries of at most `max_pairs`
    /// labeled pairs each. A ratio Σ tp_q / Σ a_q of at least t is a mean of the per-query loss
    /// t·a_q − tp_q of at most 0; rescaled to [0, 1], (t·a_q − tp_q + (1 − t)·m) / m, it is a
    /// mean of at most 1 − t, tested with the Hoeffding–Bentkus p-value of bounded losses
    /// (`hb_p_value_bounded`). Valid however the pairs of one query depend on each other; the
    /// price is power: the range m is the most pairs a query could contribute.
    Clustered {
        /// Independent queries.
        queries: u64,
        /// The most labeled pairs a query has.
        max_pairs: u64,
    },
}

impl Losses {
    /// The p-value of "the population's ratio is below `target`" from `tp` successes among `a`
    /// units (a ratio tp / a of 1 − errors / a).
    pub fn p_value(self, tp: u64, a: u64, target: f64) -> f64 {
        let alpha = 1.0 - target;
        match self {
            Losses::Binary => hb_p_value(a.saturating_sub(tp), a, alpha),
            Losses::Clustered { queries, max_pairs } => {
                if queries == 0 || max_pairs == 0 {
                    return 1.0;
                }
                let mean = (target * a as f64 - tp as f64) / (queries as f64 * max_pairs as f64) + alpha;
                hb_p_value_bounded(mean, queries, alpha)
            }
        }
    }

    /// The largest target at which `tp` of `a` would still be certified by a test at level
    /// `level` (0 when none is): a lower confidence bound on the ratio at confidence 1 − level.
    pub fn lower_bound(self, tp: u64, a: u64, level: f64) -> f64 {
        // The p-value rises with the target: bisect where it crosses the level.
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        if self.p_value(tp, a, 0.0) > level {
            return 0.0;
        }
        for _ in 0..64 {
            let mid = 0.5 * (lo + hi);
            if self.p_value(tp, a, mid) <= level {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// The hypotheses (indices into `p`) that `fwer` rejects at family-wise level `delta`, in index
/// order. Fixed-sequence testing walks each of `sequences` in its order at δ / (sequences), and
/// stops each at its first acceptance (Bonferroni over the sequences): the orders must be fixed
/// before the labels are seen (see [`certify_precision`]).
#[expect(clippy::indexing_slicing, reason = "grid positions run within the grid and the counts built for it")]
pub fn control(p: &[f64], delta: f64, fwer: Fwer, sequences: &[Vec<usize>]) -> Vec<usize> {
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
            let level = delta / sequences.len().max(1) as f64;
            sequences.iter().flat_map(|s| s.iter().copied().filter(|&i| i < m).take_while(|&i| p[i] <= level)).collect()
        }
    };
    out.sort_unstable();
    out.dedup();
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

/// Fixed-sequence starts of a precision test: at most this many, δ split evenly between them.
pub const SEQUENCES: usize = 4;

/// The fixed sequences of a precision test of `target` at `delta` over `grid` (ascending
/// thresholds), each walking down from its start, in an order that looks at unit counts only:
/// the first starts at the highest threshold whose units could certify a precision halfway
/// between the target and 1 at δ / [`SEQUENCES`] (`sequence_start`); each next one where
/// there are at least four times as many units as at the previous start. One noisy stretch
/// near the top then stops one sequence, not the test; each sequence runs at δ / (sequences
/// found).
#[expect(clippy::indexing_slicing, reason = "grid positions run within the grid and the counts built for it")]
pub fn sequences(grid: &[Candidate], target: f64, delta: f64, losses: Losses) -> Vec<Vec<usize>> {
    let level = delta / SEQUENCES as f64;
    let mut starts: Vec<usize> = Vec::new();
    for i in (0..grid.len()).rev() {
        if starts.len() == SEQUENCES {
            break;
        }
        let ready = match starts.last() {
            None => sequence_start(grid[i].n, target, level, losses),
            Some(&s) => grid[i].n >= 4 * grid[s].n.max(1),
        };
        if ready {
            starts.push(i);
        }
    }
    starts.into_iter().map(|s| (0..=s).rev().collect()).collect()
}

/// Whether fixed-sequence testing of precision `target` at `delta` may start at a candidate with
/// `n` units: whether that many units at a precision halfway between the target and 1 would be
/// certified. At the first point where one unit alone could be rejected (every unit relevant),
/// a single irrelevant top hit stops the sequence before it starts; halfway leaves room for
/// the errors a population just good enough makes, and looks at the counts alone.
pub(crate) fn sequence_start(n: u64, target: f64, delta: f64, losses: Losses) -> bool {
    let tp = (n as f64 * (1.0 + target) / 2.0).floor() as u64;
    losses.p_value(tp, n, target) <= delta
}

/// Certifies precision ≥ `target` at confidence 1 − `delta` over `grid` (ascending thresholds),
/// each candidate tested as `losses` says. The chosen threshold has the best recall among the
/// certified ones (among equals, the one with the lowest precision, then the lowest threshold:
/// MAPIE's tie rule). Fixed-sequence testing walks from the highest threshold down, in the
/// sequences of [`sequences`]: orders that depend on the scores, never on the labels.
#[expect(clippy::indexing_slicing, reason = "grid positions run within the grid and the counts built for it")]
pub fn certify_precision(grid: &[Candidate], target: f64, delta: f64, fwer: Fwer, losses: Losses) -> Certified {
    let risk: Vec<f64> = grid.iter().map(|c| if c.n == 0 { 1.0 } else { (c.n - c.tp) as f64 / c.n as f64 }).collect();
    let p_values: Vec<f64> = grid.iter().map(|c| losses.p_value(c.tp, c.n, target)).collect();
    let valid = control(&p_values, delta, fwer, &sequences(grid, target, delta, losses));
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

/// Certifies recall ≥ `target` (the risk is the share of the `n_pos` relevant units below λ) at
/// confidence 1 − `delta`, each candidate tested as `losses` says. The chosen threshold has the
/// best precision among the certified ones (among equals, the lowest recall, then the lowest
/// threshold). Fixed-sequence testing walks from the lowest threshold up.
#[expect(clippy::indexing_slicing, reason = "grid positions run within the grid and the counts built for it")]
pub(crate) fn certify_recall(grid: &[Candidate], n_pos: u64, target: f64, delta: f64, fwer: Fwer, losses: Losses) -> Certified {
    let risk: Vec<f64> = grid.iter().map(|c| if n_pos == 0 { 1.0 } else { (n_pos - c.tp) as f64 / n_pos as f64 }).collect();
    let p_values: Vec<f64> = grid.iter().map(|c| losses.p_value(c.tp, n_pos, target)).collect();
    let valid = control(&p_values, delta, fwer, &[(0..grid.len()).collect()]);
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
