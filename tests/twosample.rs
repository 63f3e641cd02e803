//! The drift gate's two-sample tests against scipy (tests/golden/make_twosample.py): Fisher's
//! one-sided exact p-value of a drop in a proportion (`fisher_exact(..., alternative="greater")`
//! on the table [[k1, n1 − k1], [k2, n2 − k2]], i.e. P(X ≤ k2) for the hypergeometric second
//! count) on small, medium and large tables down to p-values below the smallest double, and the
//! asymptotic two-sample Kolmogorov–Smirnov p-value with Stephens' correction
//! (`scipy.special.kolmogorov`) for sample sizes from 5 to 100000.

use crate::common::{close, f, golden_json, u};
use simcal::stats::twosample::{fisher_lower, ks_p_value};

fn golden() -> serde_json::Value {
    golden_json("twosample_golden.json")
}

#[test]
fn fisher_lower_matches_scipy() {
    let g = golden();
    let cases = g["fisher"].as_array().unwrap();
    assert!(cases.len() >= 50);
    // The golden set reaches p-values near 1 and far below 1e-30.
    assert!(cases.iter().any(|c| f(&c["p"]) > 0.99 && f(&c["p"]) < 1.0));
    assert!(cases.iter().any(|c| f(&c["p"]) > 1e-300 && f(&c["p"]) < 1e-250));
    for c in cases {
        let (k1, n1, k2, n2) = (u(&c["k1"]), u(&c["n1"]), u(&c["k2"]), u(&c["n2"]));
        let got = fisher_lower(k1, n1, k2, n2);
        assert!(close(got, f(&c["p"])), "{k1}/{n1} vs {k2}/{n2}: {got} vs scipy {}", c["p"]);
    }
    assert_eq!(fisher_lower(3, 10, 0, 0), 1.0);
    assert_eq!(fisher_lower(0, 0, 3, 10), 1.0);
}

#[test]
fn ks_p_value_matches_scipy() {
    let g = golden();
    let cases = g["ks"].as_array().unwrap();
    assert!(cases.len() >= 40);
    for c in cases {
        let (d, n1, n2) = (f(&c["d"]), u(&c["n1"]), u(&c["n2"]));
        let got = ks_p_value(d, n1, n2);
        assert!(close(got, f(&c["p"])), "d {d} n1 {n1} n2 {n2}: {got} vs scipy {}", c["p"]);
    }
    assert_eq!(ks_p_value(0.5, 0, 10), 1.0);
    assert_eq!(ks_p_value(0.5, 10, 0), 1.0);
}
