//! Two-sample tests for the drift gate: Fisher's exact test of a drop in a proportion, and the
//! asymptotic p-value of a two-sample Kolmogorov–Smirnov statistic.

use super::binomial::ln_factorial;

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// One-sided Fisher exact p-value that the second proportion (`k2` of `n2`) is lower than the
/// first (`k1` of `n1`): P(X ≤ k2) for X hypergeometric with the table's margins. 1 when either
/// sample is empty.
pub fn fisher_lower(k1: u64, n1: u64, k2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 || k1 > n1 || k2 > n2 {
        return 1.0;
    }
    let (n, k) = (n1 + n2, k1 + k2);
    let lo = n2.saturating_sub(n - k);
    let denom = ln_choose(n, n2);
    let mut p = 0.0;
    for x in lo..=k2.min(k) {
        p += (ln_choose(k, x) + ln_choose(n - k, n2 - x) - denom).exp();
    }
    p.min(1.0)
}

/// The asymptotic p-value of a two-sample KS statistic `d` from samples of `n1` and `n2`:
/// Q(λ) = 2 Σ (−1)^(j−1) exp(−2 j² λ²) with λ = (√nₑ + 0.12 + 0.11/√nₑ)·d, nₑ = n1·n2/(n1 + n2)
/// (Stephens' correction). 1 when either sample is empty.
pub fn ks_p_value(d: f64, n1: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let ne = (n1 as f64 * n2 as f64) / (n1 + n2) as f64;
    let lambda = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..200 {
        let jf = f64::from(j);
        let term = (-2.0 * jf * jf * lambda * lambda).exp();
        sum += if j % 2 == 1 { term } else { -term };
        if term < 1e-17 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}
