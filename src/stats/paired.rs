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
    let out = fisher_differences(&[&d], permutations, seed)?;
    Ok(out.first().copied().unwrap_or(TestResult { statistic: f64::NAN, p: f64::NAN }))
}

/// Rounds of one block of [`fisher_differences`]: each block draws its swaps from its own
/// ChaCha8 stream (the seed's, stream = the block's number), so p does not depend on the
/// number of threads.
const FISHER_BLOCK: usize = 256;

/// Measures whose subset sums one lookup fetches.
const LANES: usize = 4;

/// [`fisher`] on several measures' per-query differences `a − b` of one pair of systems at
/// once (each of `diffs` one measure's, all of one length): every round's swaps are shared by
/// the measures (each test stays exact in distribution; they are as dependent as the measures
/// are). A round's sum is the whole sum less twice the swapped queries' sum, read four queries
/// at a time from a table of their 16 subset sums.
#[expect(clippy::indexing_slicing, reason = "lanes, chunks and measures are counted from the tables built here")]
pub fn fisher_differences(diffs: &[&[f64]], permutations: usize, seed: u64) -> Result<Vec<TestResult>> {
    use rayon::prelude::*;
    if permutations == 0 {
        return Err(Error::Invalid("permutations: at least 1 is needed".into()));
    }
    let n = diffs.first().map_or(0, |d| d.len());
    if diffs.iter().any(|d| d.len() != n) {
        return Err(Error::Invalid("paired differences: the measures have different numbers of queries".into()));
    }
    if let Some(i) = diffs.iter().find_map(|d| d.iter().position(|x| !x.is_finite())) {
        return Err(Error::Invalid(format!("paired values: query {i} has a difference that is not finite")));
    }
    if n == 0 {
        return Ok(vec![TestResult { statistic: f64::NAN, p: f64::NAN }; diffs.len()]);
    }
    let chunks = n.div_ceil(4);
    let words = n.div_ceil(64);
    // Per group of LANES measures: each chunk of four queries' 16 subset sums.
    let tables: Vec<Vec<[f64; LANES]>> = diffs
        .chunks(LANES)
        .map(|group| {
            let mut t = vec![[0.0; LANES]; chunks * 16];
            for c in 0..chunks {
                for v in 0..16 {
                    for (lane, d) in group.iter().enumerate() {
                        t[c * 16 + v][lane] = (0..4).filter(|b| v >> b & 1 == 1).filter_map(|b| d.get(4 * c + b)).sum();
                    }
                }
            }
            t
        })
        .collect();
    let reaches: Vec<(f64, f64)> = diffs.iter().map(|d| reach(d)).collect();
    let sums: Vec<f64> = diffs.iter().map(|d| d.iter().sum()).collect();
    let nf = n as f64;
    let blocks = permutations.div_ceil(FISHER_BLOCK);
    let counts = (0..blocks)
        .into_par_iter()
        .map(|block| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(block as u64);
            let rounds = FISHER_BLOCK.min(permutations - block * FISHER_BLOCK);
            let mut bits = vec![0u64; words];
            let mut reached = vec![0usize; diffs.len()];
            for _ in 0..rounds {
                bits.iter_mut().for_each(|w| *w = rng.random());
                for (g, table) in tables.iter().enumerate() {
                    let mut acc = [0.0; LANES];
                    for (rows, &w) in table.chunks(256).zip(&bits) {
                        for (c, sixteen) in rows.chunks_exact(16).enumerate() {
                            let row = &sixteen[((w >> (4 * c)) & 15) as usize];
                            for l in 0..LANES {
                                acc[l] += row[l];
                            }
                        }
                    }
                    for (l, swapped) in acc.iter().enumerate().take(LANES.min(diffs.len() - g * LANES)) {
                        let j = g * LANES + l;
                        if ((sums[j] - 2.0 * swapped) / nf).abs() >= reaches[j].1 {
                            reached[j] += 1;
                        }
                    }
                }
            }
            reached
        })
        .reduce(|| vec![0; diffs.len()], |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect());
    Ok(reaches
        .iter()
        .zip(&counts)
        .map(|(&(observed, _), &c)| TestResult { statistic: observed, p: c as f64 / permutations as f64 })
        .collect())
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
    check_level(level)?;
    if resamples == 0 || d.is_empty() {
        return Ok([f64::NAN, f64::NAN]);
    }
    let mut means = bootstrap_means(&d, 1, resamples, seed);
    means.sort_by(f64::total_cmp);
    Ok(percentile_interval(&means, level))
}

/// Refuses an interval's level outside (0, 1).
pub fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(Error::Invalid(format!("level {level}: an interval's level is inside (0, 1)")))
    }
}

/// Resamples of one block of [`bootstrap_means`] (its own ChaCha8 stream, as Fisher's blocks).
const BOOTSTRAP_BLOCK: usize = 64;

/// The means of `columns` columns of `values` (row-major: one row per query) over `resamples`
/// bootstrap resamples of the rows, drawn with replacement and shared by every column:
/// resample r's mean of column c at `r * columns + c`. Seeded; independent of the thread count.
pub fn bootstrap_means(values: &[f64], columns: usize, resamples: usize, seed: u64) -> Vec<f64> {
    use rayon::prelude::*;
    let n = values.len().checked_div(columns).unwrap_or(0);
    if n == 0 {
        return vec![f64::NAN; resamples * columns];
    }
    let blocks = resamples.div_ceil(BOOTSTRAP_BLOCK);
    (0..blocks)
        .into_par_iter()
        .flat_map_iter(|block| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(block as u64);
            let draws = BOOTSTRAP_BLOCK.min(resamples - block * BOOTSTRAP_BLOCK);
            let mut weight = vec![0u32; n];
            let mut out = Vec::with_capacity(draws * columns);
            for _ in 0..draws {
                weight.fill(0);
                for _ in 0..n {
                    if let Some(w) = weight.get_mut(rng.random_range(0..n)) {
                        *w += 1;
                    }
                }
                let mut acc = vec![0.0; columns];
                for (row, &w) in values.chunks_exact(columns).zip(&weight) {
                    if w > 0 {
                        let w = f64::from(w);
                        acc.iter_mut().zip(row).for_each(|(a, x)| *a += w * x);
                    }
                }
                out.extend(acc.iter().map(|a| a / n as f64));
            }
            out
        })
        .collect()
}

/// numpy's linear-interpolation percentile `q` (0 to 1) of `sorted` (ascending, not empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * sorted.len().saturating_sub(1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let (x, y) = (sorted.get(lo).copied().unwrap_or(f64::NAN), sorted.get(hi).copied().unwrap_or(f64::NAN));
    x + (y - x) * (pos - lo as f64)
}

/// The central `level` interval of `sorted` bootstrap statistics (percentiles (1 − level)/2 and
/// (1 + level)/2).
pub fn percentile_interval(sorted: &[f64], level: f64) -> [f64; 2] {
    let tail = (1.0 - level) / 2.0;
    [percentile(sorted, tail), percentile(sorted, 1.0 - tail)]
}

/// The paired bootstrap test's two-sided p-value (the shift method): the share of `resampled`
/// mean differences at least as far from the `observed` one as it is from zero, counted as a
/// Monte Carlo p-value, (count + 1) / (resamples + 1), so never zero.
pub fn bootstrap_p(resampled: &[f64], observed: f64) -> f64 {
    if resampled.is_empty() || observed.is_nan() {
        return f64::NAN;
    }
    let bar = observed.abs() * (1.0 - 1e-12);
    let count = resampled.iter().filter(|&&m| (m - observed).abs() >= bar).count();
    (count as f64 + 1.0) / (resampled.len() as f64 + 1.0)
}

/// Holm's step-down adjusted p-values (statsmodels' `multipletests(method="holm")`): the k-th
/// smallest p times (m − k + 1), made non-decreasing in that order, capped at 1. A NaN p (a test
/// that is undefined: two runs equal on every query) stays NaN and is left out of m.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p.get(i).is_some_and(|v| !v.is_nan())).collect();
    let m = order.len();
    order.sort_by(|&i, &j| p.get(i).copied().unwrap_or(0.0).total_cmp(&p.get(j).copied().unwrap_or(0.0)));
    let mut out = vec![f64::NAN; p.len()];
    let mut running: f64 = 0.0;
    for (k, &i) in order.iter().enumerate() {
        let v = p.get(i).copied().unwrap_or(f64::NAN);
        running = running.max(((m - k) as f64 * v).min(1.0));
        if let Some(o) = out.get_mut(i) {
            *o = running;
        }
    }
    out
}

/// Bonferroni's adjusted p-values: each times the number of comparisons, capped at 1; a NaN
/// stays NaN and is left out of the number.
pub fn bonferroni(p: &[f64]) -> Vec<f64> {
    let m = p.iter().filter(|v| !v.is_nan()).count() as f64;
    p.iter().map(|v| if v.is_nan() { f64::NAN } else { (v * m).min(1.0) }).collect()
}
