//! Paired tests of two systems measured on the same queries (the tests `simcal compare` runs):
//! the two-sided paired Student's t-test (scipy's `ttest_rel`, ranx's `student`), Fisher's
//! randomization test (ranx's `fisher`: random swaps of the two systems' values per query), a
//! percentile bootstrap interval of the mean difference (queries resampled), and the
//! family-wise corrections across the comparisons made (Holm, Bonferroni; statsmodels'
//! `multipletests`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// A test's statistic and two-sided p-value (NaN where the test is undefined: fewer than two
/// queries, or every difference zero for the t-test).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct TestResult {
    /// The t statistic (Student), or the absolute mean difference (randomization).
    pub statistic: f64,
    /// The two-sided p-value.
    pub p: f64,
}

/// The per-query differences `a − b` of two systems' values, paired by position.
fn differences(a: &[f64], b: &[f64]) -> Result<Vec<f64>> {
    if a.len() != b.len() {
        return Err(Error::Invalid(format!("paired values: {} against {} queries (pair them by query first)", a.len(), b.len())));
    }
    if let Some(i) = a.iter().zip(b).position(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return Err(Error::Invalid(format!("paired values: query {i} has a value that is not finite")));
    }
    Ok(a.iter().zip(b).map(|(x, y)| x - y).collect())
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// The two-sided paired Student's t-test of `a` against `b` (scipy's `ttest_rel`): t = mean
/// difference over its standard error (sample standard deviation, n − 1), p from Student's t
/// with n − 1 degrees of freedom. Every difference equal and non-zero gives t = ±∞, p = 0; every
/// difference zero gives NaN, as scipy does.
pub fn student(a: &[f64], b: &[f64]) -> Result<TestResult> {
    let d = differences(a, b)?;
    let n = d.len();
    if n < 2 {
        return Ok(TestResult { statistic: f64::NAN, p: f64::NAN });
    }
    let m = mean(&d);
    let var = d.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
    let t = m / (var / n as f64).sqrt();
    if t.is_nan() {
        return Ok(TestResult { statistic: f64::NAN, p: f64::NAN });
    }
    if t.is_infinite() {
        return Ok(TestResult { statistic: t, p: 0.0 });
    }
    let df = (n - 1) as f64;
    // P(|T| ≥ |t|) = I_{df / (df + t²)}(df / 2, 1 / 2).
    let p = statrs::function::beta::beta_reg(df / 2.0, 0.5, df / (df + t * t));
    Ok(TestResult { statistic: t, p: p.clamp(0.0, 1.0) })
}

/// The randomization tests' observed statistic, |mean difference|, and the bar a round's
/// statistic must reach: the observed one less a tolerance, so that a round that swaps nothing,
/// or everything, counts as reaching it whatever the order of the sums.
fn reach(d: &[f64]) -> (f64, f64) {
    let observed = mean(d).abs();
    (observed, observed - 1e-12 * d.iter().map(|x| x.abs()).sum::<f64>() / d.len() as f64)
}

/// Fisher's randomization test of `a` against `b`, as ranx runs it: in each of `permutations`
/// rounds every query's two values are swapped with probability ½ (the sign of its difference
/// flipped), and p is the share of rounds whose absolute mean difference is at least the
/// observed one. Its Monte Carlo standard error is √(p(1 − p) / permutations); with many rounds it
/// tends to the exact permutation p-value over all 2ⁿ swaps. Seeded: the same seed gives the same p.
pub fn fisher(a: &[f64], b: &[f64], permutations: usize, seed: u64) -> Result<TestResult> {
    let d = differences(a, b)?;
    if permutations == 0 {
        return Err(Error::Invalid("permutations: at least 1 is needed".into()));
    }
    if d.is_empty() {
        return Ok(TestResult { statistic: f64::NAN, p: f64::NAN });
    }
    let (observed, bar) = reach(&d);
    let n = d.len() as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut reached = 0usize;
    for _ in 0..permutations {
        let mut sum = 0.0;
        let mut bits = 0u64;
        for (i, x) in d.iter().enumerate() {
            if i % 64 == 0 {
                bits = rng.random();
            }
            sum += if bits & 1 == 1 { -x } else { *x };
            bits >>= 1;
        }
        if (sum / n).abs() >= bar {
            reached += 1;
        }
    }
    Ok(TestResult { statistic: observed, p: reached as f64 / permutations as f64 })
}

/// The exact permutation p-value of [`fisher`]'s statistic: the share of all 2ⁿ sign
/// assignments whose absolute mean difference reaches the observed one (n ≤ 24).
pub fn fisher_exact(a: &[f64], b: &[f64]) -> Result<TestResult> {
    let d = differences(a, b)?;
    if d.len() > 24 {
        return Err(Error::Invalid(format!(
            "an exact randomization test of {} queries needs 2^{} sign assignments: use fisher",
            d.len(),
            d.len()
        )));
    }
    if d.is_empty() {
        return Ok(TestResult { statistic: f64::NAN, p: f64::NAN });
    }
    let (observed, bar) = reach(&d);
    let n = d.len() as f64;
    let all = 1u64 << d.len();
    let reached = (0..all)
        .filter(|mask| {
            let sum: f64 = d.iter().enumerate().map(|(i, x)| if mask >> i & 1 == 1 { -x } else { *x }).sum();
            (sum / n).abs() >= bar
        })
        .count();
    Ok(TestResult { statistic: observed, p: reached as f64 / all as f64 })
}

/// The percentile bootstrap interval of the mean difference `a − b` at `level` (0.95: the 2.5th
/// and 97.5th percentiles of `resamples` means of queries drawn with replacement; numpy's
/// linear interpolation between order statistics). Seeded.
pub fn bootstrap_interval(a: &[f64], b: &[f64], resamples: usize, level: f64, seed: u64) -> Result<[f64; 2]> {
    let d = differences(a, b)?;
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::Invalid(format!("level {level}: an interval's level is inside (0, 1)")));
    }
    if resamples == 0 || d.is_empty() {
        return Ok([f64::NAN, f64::NAN]);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = d.len();
    let mut means: Vec<f64> =
        (0..resamples).map(|_| (0..n).map(|_| d.get(rng.random_range(0..n)).copied().unwrap_or(0.0)).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (means.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        let (x, y) = (means.get(lo).copied().unwrap_or(f64::NAN), means.get(hi).copied().unwrap_or(f64::NAN));
        x + (y - x) * (pos - lo as f64)
    };
    let tail = (1.0 - level) / 2.0;
    Ok([at(tail), at(1.0 - tail)])
}

/// Holm's step-down adjusted p-values (statsmodels' `multipletests(method="holm")`): the k-th
/// smallest p times (m − k + 1), made non-decreasing in that order, capped at 1; NaN stays NaN
/// and counts in m.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p.get(i).copied().unwrap_or(f64::NAN).total_cmp(&p.get(j).copied().unwrap_or(f64::NAN)));
    let mut out = vec![f64::NAN; m];
    let mut running: f64 = 0.0;
    for (k, &i) in order.iter().enumerate() {
        let v = p.get(i).copied().unwrap_or(f64::NAN);
        if v.is_nan() {
            continue;
        }
        running = running.max(((m - k) as f64 * v).min(1.0));
        if let Some(o) = out.get_mut(i) {
            *o = running;
        }
    }
    out
}

/// Bonferroni's adjusted p-values: each times the number of comparisons, capped at 1.
pub fn bonferroni(p: &[f64]) -> Vec<f64> {
    let m = p.len() as f64;
    p.iter().map(|v| (v * m).min(1.0)).collect()
}
