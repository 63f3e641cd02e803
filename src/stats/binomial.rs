//! The binomial distribution's probabilities and tails, and exact (Clopper–Pearson) intervals.
//!
//! The probability of one count comes from Loader's saddle-point form (Stirling's error term
//! and the deviance `bd0`), which keeps full relative precision for any n, so that tails far
//! below 1e-300 of the largest term still come out right. A tail is summed from its own end
//! inward (terms fall off geometrically past the mode), and the upper tail is never taken as
//! one minus the lower one where it is small: a p-value of 1e-12 keeps its digits.

use std::f64::consts::PI;

/// ln(n!) − ln(√(2πn)·(n/e)ⁿ), Stirling's error, for n ≥ 1.
fn stirlerr(n: f64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    if n <= 15.0 {
        // Exact for the small counts: ln(n!) summed, then the Stirling part taken off.
        let lnfact: f64 = (2..=n as u64).map(|i| (i as f64).ln()).sum();
        return lnfact - (n + 0.5) * n.ln() + n - 0.5 * (2.0 * PI).ln();
    }
    let nn = n * n;
    if n > 500.0 {
        (S0 - S1 / nn) / n
    } else if n > 80.0 {
        (S0 - (S1 - S2 / nn) / nn) / n
    } else if n > 35.0 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
    }
}

/// x·ln(x/m) + m − x, computed without cancellation when x is close to m.
fn bd0(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        let mut v = (x - m) / (x + m);
        let mut s = (x - m) * v;
        let mut ej = 2.0 * x * v;
        v *= v;
        for j in 1..1000 {
            ej *= v;
            let s1 = s + ej / f64::from(2 * j + 1);
            if s1 == s {
                return s1;
            }
            s = s1;
        }
        s
    } else {
        x * (x / m).ln() + m - x
    }
}

/// P(X = k) for X ~ Binomial(n, p).
pub fn pmf(k: u64, n: u64, p: f64) -> f64 {
    if k > n {
        return 0.0;
    }
    let q = 1.0 - p;
    if p == 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    if q == 0.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    let (kf, nf) = (k as f64, n as f64);
    if k == 0 {
        if n == 0 {
            return 1.0;
        }
        let lc = if p < 0.1 { -bd0(nf, nf * q) - nf * p } else { nf * q.ln() };
        return lc.exp();
    }
    if k == n {
        let lc = if q < 0.1 { -bd0(nf, nf * p) - nf * q } else { nf * p.ln() };
        return lc.exp();
    }
    let lc = stirlerr(nf) - stirlerr(kf) - stirlerr(nf - kf) - bd0(kf, nf * p) - bd0(nf - kf, nf * q);
    let lf = (2.0 * PI).ln() + kf.ln() + (-kf / nf).ln_1p();
    (lc - 0.5 * lf).exp()
}

/// Σ P(X = j) for j from `k` down to 0, where `k` is at most the mean (terms fall going down).
fn sum_down(k: u64, n: u64, p: f64) -> f64 {
    let q = 1.0 - p;
    let mut term = pmf(k, n, p);
    let mut sum = term;
    let mut j = k;
    while j > 0 && term > 0.0 {
        term *= j as f64 * q / ((n - j + 1) as f64 * p);
        j -= 1;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Σ P(X = j) for j from `k` up to n, where `k` is above the mean (terms fall going up).
fn sum_up(k: u64, n: u64, p: f64) -> f64 {
    let q = 1.0 - p;
    let mut term = pmf(k, n, p);
    let mut sum = term;
    let mut j = k;
    while j < n && term > 0.0 {
        term *= (n - j) as f64 * p / ((j + 1) as f64 * q);
        j += 1;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// P(X ≤ k) for X ~ Binomial(n, p) (scipy's `binom.cdf`).
pub fn cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    if (k as f64) <= n as f64 * p {
        sum_down(k, n, p).min(1.0)
    } else {
        (1.0 - sum_up(k + 1, n, p)).max(0.0)
    }
}

/// P(X > k) for X ~ Binomial(n, p) (scipy's `binom.sf`).
pub fn sf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    if (k + 1) as f64 > n as f64 * p {
        sum_up(k + 1, n, p).min(1.0)
    } else {
        (1.0 - sum_down(k, n, p)).max(0.0)
    }
}

/// The p in [0, 1] where the non-increasing `f` crosses `target`, by bisection to the last bit.
fn solve_decreasing(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The exact one-sided lower confidence bound on a proportion from `k` successes in `n` trials at
/// confidence `1 − alpha`: the p at which P(X ≥ k) = alpha (0 when k = 0).
pub fn lower_bound(k: u64, n: u64, alpha: f64) -> f64 {
    if k == 0 || n == 0 {
        return 0.0;
    }
    // P(X ≥ k) = sf(k − 1) rises with p.
    solve_decreasing(|p| -sf(k - 1, n, p), -alpha)
}

/// The exact one-sided upper confidence bound: the p at which P(X ≤ k) = alpha (1 when k = n).
pub(crate) fn upper_bound(k: u64, n: u64, alpha: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    solve_decreasing(|p| cdf(k, n, p), alpha)
}

/// The exact two-sided Clopper–Pearson interval for `k` successes in `n` trials at `confidence`
/// (scipy's `binomtest(k, n).proportion_ci(confidence, method="exact")`); `[0, 1]` when n = 0.
pub fn clopper_pearson(k: u64, n: u64, confidence: f64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let a = (1.0 - confidence) / 2.0;
    [lower_bound(k, n, a), upper_bound(k, n, a)]
}

/// ln(n!), exact in its last bits for every n (Stirling's series plus its error term).
pub(crate) fn ln_factorial(n: u64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let x = n as f64;
    stirlerr(x) + (x + 0.5) * x.ln() - x + 0.5 * (2.0 * PI).ln()
}
