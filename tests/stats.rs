//! The shared statistics: binomial probabilities and tails against their definitions, exact
//! intervals, the family-wise procedures, Learn-Then-Test's p-values, conformal risk control.
//! (Golden values from scipy and MAPIE are checked in `certify.rs`.)

use simcal::stats::binomial::*;
use simcal::stats::crc::*;
use simcal::stats::ltt::*;

// binomial
/// P(X = k) summed straight from binomial coefficients, for small n.
fn naive_pmf(k: u64, n: u64, p: f64) -> f64 {
    let mut c = 1.0f64;
    for i in 0..k {
        c *= (n - i) as f64 / (i + 1) as f64;
    }
    c * p.powi(k as i32) * (1.0 - p).powi((n - k) as i32)
}

#[test]
fn pmf_matches_the_definition() {
    for n in [1u64, 2, 7, 20, 60] {
        for p in [0.01, 0.3, 0.5, 0.93] {
            let mut total = 0.0;
            for k in 0..=n {
                let (a, b) = (pmf(k, n, p), naive_pmf(k, n, p));
                assert!((a - b).abs() <= 1e-13 * b.max(1e-300), "n {n} k {k} p {p}: {a} vs {b}");
                total += a;
            }
            assert!((total - 1.0).abs() < 1e-13);
        }
    }
}

#[test]
fn tails_add_up() {
    for (n, p) in [(30u64, 0.2), (1000, 0.5), (200_000, 0.1)] {
        for k in [0, n / 10, n / 5, n / 2, n - 1] {
            let (c, s) = (cdf(k, n, p), sf(k, n, p));
            assert!((c + s - 1.0).abs() < 1e-12, "n {n} k {k}: {c} + {s}");
        }
    }
}

#[test]
fn clopper_pearson_inverts_the_tails() {
    let [lo, hi] = clopper_pearson(4, 4, 0.95);
    assert!((lo - 0.025f64.powf(0.25)).abs() < 1e-12, "{lo}");
    assert_eq!(hi, 1.0);
    let [lo, hi] = clopper_pearson(7, 50, 0.95);
    assert!((sf(6, 50, lo) - 0.025).abs() < 1e-12);
    assert!((cdf(7, 50, hi) - 0.025).abs() < 1e-12);
}

// ltt
#[test]
fn holm_steps_down_and_stops() {
    // m = 4, δ = 0.1: 0.01 ≤ 0.025, 0.02 ≤ 0.0333, 0.06 > 0.05: stop.
    let p = [0.06, 0.01, 0.5, 0.02];
    assert_eq!(control(&p, 0.1, Fwer::Holm, &[]), vec![1, 3]);
    assert_eq!(control(&p, 0.1, Fwer::Bonferroni, &[]), vec![1, 3]);
    assert_eq!(control(&[0.01, 0.02, 0.03, 0.04], 0.1, Fwer::Holm, &[]), vec![0, 1, 2, 3]);
}

#[test]
fn fixed_sequence_walks_its_given_order_and_stops_at_the_first_acceptance() {
    let p = [0.5, 0.2, 0.05, 0.01];
    assert_eq!(control(&p, 0.1, Fwer::FixedSequence, &[vec![3, 2, 1, 0]]), vec![2, 3]);
    // The order is the caller's, fixed before the labels: from the other end nothing passes.
    assert!(control(&p, 0.1, Fwer::FixedSequence, &[vec![0, 1, 2, 3]]).is_empty());
    // A sequence that starts past its first points tests only what it lists.
    assert_eq!(control(&p, 0.1, Fwer::FixedSequence, &[vec![2, 1, 0]]), vec![2]);
    // Two sequences share δ: 0.05 each. The second starts lower and passes where the first stops.
    let p = [0.04, 0.03, 0.2, 0.01];
    assert_eq!(control(&p, 0.1, Fwer::FixedSequence, &[vec![3, 2, 1, 0], vec![1, 0]]), vec![0, 1, 3]);
    assert_eq!(control(&p, 0.1, Fwer::FixedSequence, &[vec![3, 2, 1, 0]]), vec![3]);
}

#[test]
fn p_value_is_one_at_or_beyond_the_level() {
    assert_eq!(hb_p_value(0, 0, 0.1), 1.0);
    // r̂ ≥ α: Hoeffding's term is exp(0) = 1, Bentkus's is a CDF ≤ 1.
    assert!(hb_p_value(50, 100, 0.1) > 0.99);
    assert!(hb_p_value(0, 100, 0.1) < 1e-4);
}

// crc
#[test]
fn picks_the_last_threshold_under_the_bound() {
    // 4 queries with one relevant document each, at 0.1, 0.2, 0.3, 0.4.
    let q: Vec<QueryRecall> = [0.1, 0.2, 0.3, 0.4].iter().map(|&s| QueryRecall { scores: vec![s], relevant: 1 }).collect();
    let grid = [0.05, 0.15, 0.25, 0.35, 0.45];
    let c = control_fnr(&q, &grid, 0.5);
    assert_eq!(c.risk, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    // bound = 0.8·r + 0.2: 0.2, 0.4, 0.6, …
    assert_eq!(c.best, Some(1));
    assert_eq!(control_fnr(&q, &grid, 0.1).best, None);
}
