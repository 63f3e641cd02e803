//! Certified thresholds and exact intervals against their references (tests/golden/
//! make_certify.py): MAPIE 1.6.0's Hoeffding–Bentkus p-values, Learn-Then-Test valid sets and
//! chosen thresholds for the three FWER procedures on the data/ sample, conformal risk control's
//! λ̂, and scipy's Clopper–Pearson intervals.

use crate::common::{close, f, golden_json, u};
use simcal::stats::binomial::clopper_pearson;
use simcal::stats::crc::{control_fnr, QueryRecall};
use simcal::stats::ltt::{certify_precision, hb_p_value, Candidate, Fwer, Losses};

use crate::calibration::sample_pairs;

fn golden() -> serde_json::Value {
    golden_json("certify_golden.json")
}

#[test]
fn hoeffding_bentkus_p_values_match_mapie() {
    let g = golden();
    let cases = g["hb"].as_array().unwrap();
    assert!(cases.len() > 200);
    for c in cases {
        let (n, tp, alpha) = (u(&c["n"]), u(&c["tp"]), f(&c["alpha"]));
        let got = hb_p_value(n - tp, n, alpha);
        assert!(close(got, f(&c["p"])), "n {n} tp {tp} alpha {alpha}: {got} vs MAPIE {}", c["p"]);
    }
}

/// Where MAPIE's ⌈n·(1 − tp/n)⌉ in floating point is one more than the integer error count, the
/// integer count gives the smaller, correct p-value.
#[test]
fn p_values_count_errors_as_integers_where_mapie_rounds_up() {
    let g = golden();
    let cases = g["float_ceil"].as_array().unwrap();
    assert!(!cases.is_empty());
    let mut smaller = 0;
    for c in cases {
        let (n, tp, alpha) = (u(&c["n"]), u(&c["tp"]), f(&c["alpha"]));
        let got = hb_p_value(n - tp, n, alpha);
        assert!(close(got, f(&c["integer"])), "n {n} tp {tp}: {got} vs {}", c["integer"]);
        // One error too many never lowers the p-value (Hoeffding's term may be the smaller one
        // either way).
        assert!(got <= f(&c["mapie"]), "n {n} tp {tp}: {got} above MAPIE's {}", c["mapie"]);
        smaller += (got < f(&c["mapie"])) as usize;
    }
    // e.g. n = 100, tp = 97, α = 0.1: MAPIE counts ⌈100 · 0.03⌉ = 4 errors, p 0.0237; 3 give 0.0078.
    assert!(smaller > 0);
}

#[test]
fn learn_then_test_matches_mapie_on_the_sample() {
    let g = golden();
    let grid: Vec<f64> = g["ltt"]["grid"].as_array().unwrap().iter().map(f).collect();
    let (s, y) = sample_pairs();
    let candidates: Vec<Candidate> = grid
        .iter()
        .map(|&l| {
            let above = s.iter().zip(&y).filter(|(&s, _)| f64::from(s) >= l);
            let (n, tp) = above.fold((0, 0), |(n, tp), (_, &r)| (n + 1, tp + r as u64));
            Candidate { lambda: l, n, tp }
        })
        .collect();
    let cases = g["ltt"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    // MAPIE's fixed-sequence testing picks its direction from the calibration data's risks,
    // which simcal does not (its order is fixed before the labels are seen): only the p-values
    // of those cases are compared; Holm and Bonferroni must match in full.
    for c in cases {
        let fwer: Fwer = c["fwer"].as_str().unwrap().parse().unwrap();
        let (target, conf) = (f(&c["target"]), f(&c["confidence"]));
        let got = certify_precision(&candidates, target, 1.0 - conf, fwer, Losses::Binary);
        // MAPIE's p-value where its float ⌈n·r̂⌉ is the integer error count; elsewhere ours is at
        // most MAPIE's (one error fewer).
        let exact = g["ltt"]["ceil_exact"][c["target"].to_string().as_str()].as_array().unwrap();
        let mut compared = 0;
        for (i, (a, b)) in got.p_values.iter().zip(c["p_values"].as_array().unwrap()).enumerate() {
            if exact[i].as_bool().unwrap() {
                assert!(close(*a, f(b)), "{fwer:?} target {target}: p-value {i} {a} vs MAPIE {b}");
                compared += 1;
            } else {
                assert!(*a <= f(b) * (1.0 + 1e-9), "{fwer:?} target {target}: p-value {i} {a} above MAPIE's {b}");
            }
        }
        assert!(compared > candidates.len() / 2);
        if fwer == Fwer::FixedSequence {
            continue;
        }
        let mut want: Vec<usize> = c["valid"].as_array().unwrap().iter().map(|v| u(v) as usize).collect();
        want.sort_unstable();
        assert_eq!(got.valid, want, "{fwer:?} target {target} confidence {conf}");
        assert_eq!(got.best, c["best"].as_u64().map(|b| b as usize), "{fwer:?} target {target} confidence {conf}");
    }
}

#[test]
fn conformal_risk_control_matches_mapie() {
    let g = golden();
    let grid: Vec<f64> = g["crc"]["grid"].as_array().unwrap().iter().map(f).collect();
    let queries: Vec<QueryRecall> = g["crc"]["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| QueryRecall { scores: q["scores"].as_array().unwrap().iter().map(f).collect(), relevant: u(&q["relevant"]) })
        .collect();
    for c in g["crc"]["cases"].as_array().unwrap() {
        let target = f(&c["target"]);
        let got = control_fnr(&queries, &grid, 1.0 - target);
        for (i, (a, b)) in got.risk.iter().zip(c["risk"].as_array().unwrap()).enumerate() {
            assert!((a - f(b)).abs() < 1e-12, "target {target}: risk at {i}: {a} vs MAPIE {b}");
        }
        for (a, b) in got.bound.iter().zip(c["bound"].as_array().unwrap()) {
            assert!((a - f(b)).abs() < 1e-12);
        }
        assert_eq!(got.best, Some(u(&c["best"]) as usize), "target {target}");
    }
}

#[test]
fn clopper_pearson_matches_scipy() {
    let g = golden();
    for c in g["cp"].as_array().unwrap() {
        let (k, n, conf) = (u(&c["k"]), u(&c["n"]), f(&c["confidence"]));
        let [lo, hi] = clopper_pearson(k, n, conf);
        // scipy solves to an absolute 2e-12.
        assert!((lo - f(&c["low"])).abs() < 1e-10, "{k}/{n}: low {lo} vs scipy {}", c["low"]);
        assert!((hi - f(&c["high"])).abs() < 1e-10, "{k}/{n}: high {hi} vs scipy {}", c["high"]);
    }
}
