//! The paired tests of src/stats/paired.rs: Student's t against scipy's ttest_rel and Holm and
//! Bonferroni against statsmodels, Tukey's HSD and the studentized range against scipy, Fisher's
//! randomization test against ranx's own (tests/golden/make_paired.py) and against the exact
//! permutation p-value enumerated over all sign assignments, and the bootstrap interval's
//! coverage by seeded simulation.

use simcal::stats::paired::{bonferroni, bootstrap_interval, fisher, fisher_differences, fisher_exact, holm, student};
use simcal::stats::tukey::{studentized_range_sf, tukey_hsd};

fn golden() -> serde_json::Value {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/paired_golden.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn student_equals_scipy_ttest_rel() {
    let g = golden();
    for c in g["student"].as_array().unwrap() {
        let r = student(&floats(&c["a"]), &floats(&c["b"])).unwrap();
        let (t, p) = (c["t"].as_f64().unwrap(), c["p"].as_f64().unwrap());
        assert!((r.statistic - t).abs() <= 1e-12 * t.abs().max(1.0), "{}: t {} vs {t}", c["name"], r.statistic);
        // Relative in the tail (p down to 1e-142), absolute near 1.
        assert!((r.p - p).abs() <= 1e-10 * p + 1e-14, "{}: p {} vs {p}", c["name"], r.p);
    }
    // scipy's edge cases: constant non-zero differences, all zero, one query.
    assert_eq!(student(&[1.0, 2.0, 3.0], &[0.5, 1.5, 2.5]).unwrap().p, 0.0);
    assert!(student(&[1.0, 2.0], &[1.0, 2.0]).unwrap().p.is_nan());
    assert!(student(&[1.0], &[0.0]).unwrap().p.is_nan());
    assert!(student(&[1.0, 2.0], &[1.0]).unwrap_err().to_string().contains("pair them by query"));
    assert!(student(&[1.0, f64::NAN], &[1.0, 2.0]).unwrap_err().to_string().contains("query 1"));
}

#[test]
fn corrections_equal_statsmodels() {
    let g = &golden()["corrections"];
    let p = floats(&g["p"]);
    for (got, want) in [(holm(&p), floats(&g["holm"])), (bonferroni(&p), floats(&g["bonferroni"]))] {
        for (x, y) in got.iter().zip(&want) {
            assert!((x - y).abs() < 1e-15, "{got:?} vs {want:?}");
        }
    }
}

#[test]
fn fisher_tends_to_the_exact_permutation_p_value() {
    // Small cases whose 2^n sign assignments are enumerated.
    let cases: [(&[f64], &[f64]); 3] = [
        (
            &[0.9, 0.7, 0.8, 0.6, 0.95, 0.5, 0.85, 0.75, 0.65, 0.9, 0.7, 0.8],
            &[0.8, 0.72, 0.6, 0.61, 0.9, 0.4, 0.8, 0.7, 0.66, 0.7, 0.6, 0.7],
        ),
        (&[0.1, 0.5, 0.3, 0.7, 0.2, 0.4, 0.6, 0.8, 0.5, 0.3], &[0.2, 0.4, 0.35, 0.6, 0.1, 0.45, 0.5, 0.85, 0.4, 0.15]),
        (&[1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0], &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0]),
    ];
    for (a, b) in cases {
        let exact = fisher_exact(a, b).unwrap().p;
        let n = 200_000;
        let mc = fisher(a, b, n, 7).unwrap().p;
        // Monte Carlo standard error √(p(1 − p)/n); 5 of them is the slack (a false alarm in about
        // 1 run in 1.7 million).
        let se = (exact * (1.0 - exact) / n as f64).sqrt();
        assert!((mc - exact).abs() <= 5.0 * se + 1e-12, "exact {exact}, randomized {mc} (se {se})");
        assert!(exact > 0.0 && exact < 1.0, "{exact}");
        // Seeded: the same seed, the same p.
        assert_eq!(fisher(a, b, 1000, 3).unwrap().p, fisher(a, b, 1000, 3).unwrap().p);
    }
    // Identical systems: every round reaches a zero difference.
    assert_eq!(fisher(&[0.5, 0.4], &[0.5, 0.4], 100, 1).unwrap().p, 1.0);
}

/// The 95% percentile bootstrap interval of a mean difference covers the true difference about
/// 95% of the time: 3,000 seeded draws of 200 queries whose differences are the known shift 0.03
/// plus noise. Measured 0.946 at these seeds (the claim is 0.95; the slack is 3 binomial standard
/// errors of 3,000 draws, 3·√(0.95·0.05/3000) = 0.012, plus 0.01 for the percentile interval's
/// known slight undercoverage at this n: the check fails below 0.928).
#[test]
fn bootstrap_interval_covers_the_true_difference() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(33);
    let (draws, n, shift) = (3000, 200, 0.03);
    let mut covered = 0;
    for i in 0..draws {
        let a: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let b: Vec<f64> = a.iter().map(|x| x - shift + (rng.random::<f64>() - 0.5) * 0.4).collect();
        let [lo, hi] = bootstrap_interval(&a, &b, 1000, 0.95, i).unwrap();
        covered += usize::from(lo <= shift && shift <= hi);
    }
    let rate = covered as f64 / draws as f64;
    assert!((rate - 0.95).abs() <= 3.0 * (0.95f64 * 0.05 / draws as f64).sqrt() + 0.01, "coverage {rate}");
}

#[test]
fn studentized_range_equals_scipy() {
    // scipy integrates the CDF to 1e-11 absolute and takes sf = 1 − CDF: equal within 1e-9
    // absolute, and 1e-6 relative where p is not tiny.
    for c in golden()["studentized_range"].as_array().unwrap() {
        let x = |k: &str| c[k].as_f64().unwrap();
        let (q, k, df, want) = (x("q"), x("k"), x("df"), x("sf"));
        let got = studentized_range_sf(q, k, df);
        assert!((got - want).abs() <= 1e-9 + 1e-6 * want, "q {q} k {k} df {df}: {got} against scipy's {want}");
    }
    assert!(studentized_range_sf(1.0, 1.0, 10.0).is_nan());
    assert_eq!(studentized_range_sf(0.0, 3.0, 10.0), 1.0);
}

#[test]
fn tukey_equals_scipy_tukey_hsd() {
    for c in golden()["tukey"].as_array().unwrap() {
        let samples: Vec<Vec<f64>> = c["samples"].as_array().unwrap().iter().map(floats).collect();
        let refs: Vec<&[f64]> = samples.iter().map(Vec::as_slice).collect();
        let got = tukey_hsd(&refs).unwrap();
        for (i, row) in c["p"].as_array().unwrap().iter().enumerate() {
            for (j, want) in floats(row).into_iter().enumerate() {
                let p = got[i][j].p;
                assert!((p - want).abs() <= 1e-9 + 1e-6 * want, "{} ({i}, {j}): p {p} against scipy's {want}", c["name"]);
                // scipy's statistic is the signed mean difference; ours its q.
                let q = got[i][j].statistic;
                assert!(q >= 0.0 && (i != j || q == 0.0));
            }
        }
    }
    assert!(tukey_hsd(&[&[1.0, 2.0]]).is_err());
    assert!(tukey_hsd(&[&[1.0, 2.0], &[1.0]]).is_err());
}

#[test]
fn fisher_agrees_with_ranx_within_its_monte_carlo_error() {
    // ranx's p and ours each have standard error √(p(1 − p)/R) at R rounds: their difference is
    // within 5 of the pair's combined error (plus one round); on cases of up to 16 queries both
    // are also within 5 of ranx's error of the exact enumeration.
    for c in golden()["ranx_fisher"].as_array().unwrap() {
        let (a, b) = (floats(&c["a"]), floats(&c["b"]));
        let rounds = c["permutations"].as_u64().unwrap() as usize;
        let want = c["p"].as_f64().unwrap();
        let got = fisher(&a, &b, rounds, 42).unwrap().p;
        let se = (want * (1.0 - want) / rounds as f64).sqrt().max(1.0 / rounds as f64);
        assert!((got - want).abs() <= 5.0 * se * 2f64.sqrt() + 1.0 / rounds as f64, "{}: {got} against ranx's {want}", c["name"]);
        if a.len() <= 16 {
            let exact = fisher_exact(&a, &b).unwrap().p;
            assert!((exact - want).abs() <= 5.0 * se + 1.0 / rounds as f64, "{}: exact {exact} against ranx's {want}", c["name"]);
        }
    }
}

#[test]
fn fisher_of_several_measures_is_each_measures_own() {
    // Measures tested together share their rounds: each one's p is the one it gets alone with
    // the same seed (the swaps depend on the seed and the query count only).
    let n = 301;
    let d: Vec<Vec<f64>> = (0..6).map(|m| (0..n).map(|i| ((i * 37 + m * 11) % 17) as f64 / 17.0 - 0.45).collect()).collect();
    let refs: Vec<&[f64]> = d.iter().map(Vec::as_slice).collect();
    let together = fisher_differences(&refs, 3000, 7).unwrap();
    for (m, one) in d.iter().enumerate() {
        let alone = fisher_differences(&[one.as_slice()], 3000, 7).unwrap()[0];
        assert_eq!(together[m], alone, "measure {m}");
    }
    // And it is the test of `fisher` on a − b.
    assert_eq!(fisher(&d[2], &vec![0.0; n], 3000, 7).unwrap().p, together[2].p);
}
