//! Calibration: golden values from scikit-learn (tests/golden/make_sklearn.py), properties of
//! the maps and thresholds, the artifact's reproducibility, and bad inputs through the CLI.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float32Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{Field, Float32Type, Int32Type, Schema};
use simcal::calibrate::distinct::Distinct;
use simcal::calibrate::isotonic::Isotonic;
use simcal::calibrate::platt;
use simcal::calibrate::sweep::Curve;
use simcal::table::{write_parquet, ScoreTable, TableMeta, SCHEMA_VERSION};

use crate::common::{random_values, simcal};

fn golden_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/golden")
}

/// The golden cases as (name, scores, relevant, expected values).
fn cases() -> Vec<(String, Vec<f32>, Vec<bool>, serde_json::Value)> {
    let text = std::fs::read_to_string(golden_dir().join("sklearn_calibration.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_owned();
            let (s, y) = if name == "sample" {
                sample_pairs()
            } else {
                let s = c["scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                let y = c["labels"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() == 1).collect();
                (s, y)
            };
            (name, s, y, c.clone())
        })
        .collect()
}

/// The labeled pairs of the data/ sample's minilm score table, as make_sklearn.py stored them.
pub fn sample_pairs() -> (Vec<f32>, Vec<bool>) {
    let file = std::fs::File::open(golden_dir().join("sample_pairs.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let (mut s, mut y) = (Vec::new(), Vec::new());
    for b in reader {
        let b = b.unwrap();
        let sc = b.column(0).as_primitive::<Float32Type>();
        let lb = b.column(1).as_primitive::<Int32Type>();
        for i in 0..b.num_rows() {
            if lb.is_valid(i) {
                s.push(sc.value(i));
                y.push(lb.value(i) >= 1);
            }
        }
    }
    (s, y)
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn isotonic_matches_scikit_learn() {
    for (name, s, y, want) in cases() {
        let iso = Isotonic::fit(&Distinct::from_pairs(&s, &y));
        let grid = floats(&want["isotonic"]["grid"]);
        let pred = floats(&want["isotonic"]["predict"]);
        for (x, p) in grid.iter().zip(&pred) {
            let got = iso.predict(*x);
            assert!((got - p).abs() <= 1e-9, "{name}: isotonic({x}) = {got}, scikit-learn {p}");
        }
    }
}

#[test]
fn platt_matches_scikit_learn() {
    for (name, s, y, want) in cases() {
        let d = Distinct::from_pairs(&s, &y);
        let p = platt::fit(&d, &name).unwrap();
        let (a, b) = (want["platt"]["a"].as_f64().unwrap(), want["platt"]["b"].as_f64().unwrap());
        if name == "constant" {
            // One distinct score: only a·s + b is determined; compare the probability.
            let sk = platt::Platt { a, b };
            assert!((p.predict(0.5) - sk.predict(0.5)).abs() < 1e-9, "{p:?} vs {sk:?}");
            continue;
        }
        assert!((p.a - a).abs() <= 1e-6 && (p.b - b).abs() <= 1e-6, "{name}: ({}, {}) vs scikit-learn ({a}, {b})", p.a, p.b);
    }
}

#[test]
fn precision_recall_points_match_scikit_learn() {
    for (name, s, y, want) in cases() {
        let c = Curve::new(&Distinct::from_pairs(&s, &y));
        let pr = &want["pr"];
        let stride = pr["stride"].as_u64().unwrap() as usize;
        assert_eq!(c.threshold.len(), pr["points"].as_u64().unwrap() as usize, "{name}: points");
        // scikit-learn lists thresholds ascending; the curve holds them descending.
        let n = c.threshold.len();
        let idx: Vec<usize> = (0..n).step_by(stride).map(|j| n - 1 - j).collect();
        for (k, (&i, t)) in idx.iter().zip(floats(&pr["thresholds"])).enumerate() {
            assert_eq!(c.threshold[i], t, "{name}: threshold {k}");
            // Equal up to one rounding of the division.
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-15 * b.abs().max(1.0);
            assert!(close(c.precision(i), floats(&pr["precision"])[k]), "{name}: precision {k}");
            assert!(close(c.recall(i), floats(&pr["recall"])[k]), "{name}: recall {k}");
        }
    }
}

#[test]
fn maps_are_monotone_and_probabilities() {
    for (name, s, y, _) in cases() {
        let d = Distinct::from_pairs(&s, &y);
        let iso = Isotonic::fit(&d);
        let p = platt::fit(&d, &name).unwrap();
        let (lo, hi) = (d.x[0] - 0.5, d.x[d.len() - 1] + 0.5);
        let mut prev = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        for i in 0..=2000 {
            let x = lo + (hi - lo) * i as f64 / 2000.0;
            let (a, b) = (iso.predict(x), p.predict(x));
            assert!((0.0..=1.0).contains(&a) && (0.0..=1.0).contains(&b), "{name}: {a} {b}");
            assert!(a >= prev.0, "{name}: isotonic decreases at {x}");
            // Platt is monotone in the direction of its slope; here relevance rises with score.
            assert!(b >= prev.1 || p.a > 0.0, "{name}: Platt decreases at {x}");
            prev = (a, b);
        }
    }
}

#[test]
fn thresholds_for_a_target_precision_really_reach_it() {
    for (name, s, y, _) in cases() {
        let c = Curve::new(&Distinct::from_pairs(&s, &y));
        for p in [0.3, 0.5, 0.8, 0.9, 0.95, 1.0] {
            match c.for_precision(p) {
                Some(i) => {
                    let t = c.threshold[i];
                    // Count directly on the pairs.
                    let (tp, all) =
                        s.iter().zip(&y).filter(|(v, _)| f64::from(**v) >= t).fold((0, 0), |(tp, a), (_, r)| (tp + *r as u32, a + 1));
                    assert!(tp as f64 / all as f64 >= p, "{name}: target {p}: threshold {t} gives {tp}/{all}");
                    // No lower threshold reaches p with more recall.
                    for j in 0..c.threshold.len() {
                        assert!(!(c.precision(j) >= p && c.tp[j] > c.tp[i]), "{name}: target {p}: point {j} is better");
                    }
                }
                None => assert!(c.best_precision() < p, "{name}: target {p} reachable but not found"),
            }
        }
    }
}

/// Scores with many repeats, both signs, ±0 and a wide range of magnitudes, and labels.
fn awkward_pairs(n: usize, seed: u64) -> (Vec<f32>, Vec<bool>) {
    let v = random_values(2 * n, seed);
    let s = (0..n)
        .map(|i| match i % 7 {
            0 => 0.0,
            1 => -0.0,
            2 => (v[2 * i] * 64.0).round() / 64.0, // repeats
            3 => v[2 * i] * 1e-30,
            4 => v[2 * i] * 1e6,
            _ => v[2 * i],
        })
        .collect();
    let y = (0..n).map(|i| v[2 * i + 1] + 0.5 < 0.1 + 0.4 * (v[2 * i] + 0.5)).collect();
    (s, y)
}

#[test]
fn the_distinct_table_counts_each_score_once_in_order() {
    for (n, seed) in [(0, 1), (1, 2), (300, 3), (200_000, 4)] {
        let (s, y) = awkward_pairs(n, seed);
        let d = Distinct::from_pairs(&s, &y);
        // Straightforwardly: sort pairs by score (−0 = +0), count runs.
        let mut pairs: Vec<(f64, bool)> = s.iter().map(|&v| f64::from(v) + 0.0).zip(y.iter().copied()).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut want = Distinct::default();
        for (x, r) in pairs {
            if want.x.last() != Some(&x) {
                want.x.push(x);
                want.pos.push(0);
                want.neg.push(0);
            }
            let i = want.x.len() - 1;
            if r {
                want.pos[i] += 1;
            } else {
                want.neg[i] += 1;
            }
        }
        assert_eq!(d, want, "n = {n}");
    }
}

/// Splits the pairs into `k` sets by a hash of their index.
fn split_pairs(s: &[f32], y: &[bool], k: usize) -> Vec<(Vec<f32>, Vec<bool>)> {
    let mut out = vec![(Vec::new(), Vec::new()); k];
    for (i, (&s, &y)) in s.iter().zip(y).enumerate() {
        let f = (i.wrapping_mul(2_654_435_761) >> 7) % k;
        out[f].0.push(s);
        out[f].1.push(y);
    }
    out
}

#[test]
fn tables_of_parts_add_up_and_subtract_to_the_whole() {
    use simcal::calibrate::distinct::key;
    for (n, seed, k) in [(0, 1, 3), (40, 2, 5), (5_000, 3, 5), (200_000, 4, 7)] {
        let (s, y) = awkward_pairs(n, seed);
        let whole = Distinct::from_pairs(&s, &y);
        let sets = split_pairs(&s, &y, k);
        let parts: Vec<Distinct> = sets.iter().map(|(s, y)| Distinct::from_pairs(s, y)).collect();
        // Summed by the parallel merge, and sorted from the parts' keys together.
        assert_eq!(Distinct::sum(&parts), whole, "sum, n = {n}");
        let keys: Vec<(Vec<u32>, Vec<u32>)> = sets
            .iter()
            .map(|(s, y)| {
                let pos = s.iter().zip(y).filter(|(_, &r)| r).map(|(&v, _)| key(v)).collect();
                let neg = s.iter().zip(y).filter(|(_, &r)| !r).map(|(&v, _)| key(v)).collect();
                (pos, neg)
            })
            .collect();
        let pos: Vec<&[u32]> = keys.iter().map(|(p, _)| p.as_slice()).collect();
        let neg: Vec<&[u32]> = keys.iter().map(|(_, n)| n.as_slice()).collect();
        assert_eq!(Distinct::from_key_sets(&pos, &neg), whole, "key sets, n = {n}");
        // The whole less each part, read in place, is the table of the other parts: up, down,
        // in chunks, its counts and its extreme scores of each class.
        for (f, part) in parts.iter().enumerate() {
            let others = Distinct::sum(&parts.iter().enumerate().filter(|(g, _)| *g != f).map(|(_, p)| p.clone()).collect::<Vec<_>>());
            let rows = |d: &Distinct| (0..d.len()).map(|i| (d.x[i], d.pos[i], d.neg[i])).collect::<Vec<_>>();
            let rest = whole.rest(part);
            assert_eq!(rest.rows().collect::<Vec<_>>(), rows(&others), "rest of part {f}, n = {n}");
            let mut down: Vec<_> = rest.rows_rev().collect();
            down.reverse();
            assert_eq!(down, rows(&others), "rest of part {f} downwards, n = {n}");
            let chunked: Vec<_> = (0..whole.len()).step_by(97).flat_map(|lo| rest.rows_in(lo, lo + 97)).collect();
            assert_eq!(chunked, rows(&others), "rest of part {f} in chunks, n = {n}");
            assert_eq!((rest.n_pos(), rest.n_neg()), (others.n_pos(), others.n_neg()));
            for (relevant, highest) in [(false, false), (false, true), (true, false), (true, true)] {
                let want = rows(&others).into_iter().filter(|r| if relevant { r.1 > 0 } else { r.2 > 0 }).map(|r| r.0);
                let want = if highest { want.max_by(f64::total_cmp) } else { want.min_by(f64::total_cmp) };
                assert_eq!(rest.extreme(relevant, highest), want, "extreme {relevant} {highest} of part {f}, n = {n}");
            }
        }
    }
}

#[test]
fn fits_on_a_table_less_a_part_are_the_fits_on_the_rest() {
    use simcal::calibrate::sweep::{picks, points, points_of};
    for (n, seed, k) in [(60, 11, 3), (5_000, 12, 5), (700_000, 13, 4)] {
        let (s, y) = awkward_pairs(n, seed);
        let whole = Distinct::from_pairs(&s, &y);
        let parts: Vec<Distinct> = split_pairs(&s, &y, k).iter().map(|(s, y)| Distinct::from_pairs(s, y)).collect();
        // The largest table is pooled into bins for Platt's warm start (at 4 · 2¹⁶ scores).
        assert!(n < 700_000 || whole.len() >= 4 << 16, "{} distinct scores", whole.len());
        let base = platt::Base::new(&whole);
        for (f, part) in parts.iter().enumerate() {
            let others = Distinct::sum(&parts.iter().enumerate().filter(|(g, _)| *g != f).map(|(_, p)| p.clone()).collect::<Vec<_>>());
            let rest = whole.rest(part);
            // PAV on counts and the sweep are exact: the same maps and thresholds.
            assert_eq!(Isotonic::fit_rest(rest), Isotonic::fit(&others), "isotonic, part {f}, n = {n}");
            let (ps, rs) = ([0.3, 0.6, 0.9], [0.5, 0.95]);
            assert_eq!(
                picks(points_of(rest.rows_rev()), rest.n_pos(), &ps, &rs),
                picks(points(&others), others.n_pos(), &ps, &rs),
                "picks, part {f}, n = {n}"
            );
            // Platt from the whole table's standardisation and bins: the same optimum, to the
            // tolerance of the fit.
            match (base.fit(rest, "rest", 1e-9), platt::fit(&others, "others")) {
                (Ok(a), Ok(b)) => {
                    for (u, v) in [(a.a, b.a), (a.b, b.b)] {
                        assert!((u - v).abs() <= 1e-9 * v.abs().max(1.0), "Platt of part {f}, n = {n}: {a:?} vs {b:?}");
                    }
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string().replace("rest", "others"), b.to_string()),
                (a, b) => panic!("part {f}, n = {n}: {a:?} vs {b:?}"),
            }
        }
    }
}

#[test]
fn held_out_metrics_pool_the_folds_sums() {
    use simcal::calibrate::summary::{metrics, MetricSums};
    let (s, y) = awkward_pairs(20_000, 8);
    let d = Distinct::from_pairs(&s, &y);
    let iso = Isotonic::fit(&Distinct::from_pairs(&s[..5_000], &y[..5_000]));
    let parts: Vec<Distinct> = split_pairs(&s, &y, 4).iter().map(|(s, y)| Distinct::from_pairs(s, y)).collect();
    let pooled = parts
        .iter()
        .map(|p| {
            // The walk over sorted scores predicts what one search per score does.
            let sorted = iso.predict_sorted(&p.x);
            for (x, v) in p.x.iter().zip(&sorted) {
                assert_eq!(iso.predict(*x), *v, "at {x}");
            }
            MetricSums::of(p, |i| sorted[i])
        })
        .fold(MetricSums::default(), |a, b| a + &b)
        .finish()
        .unwrap();
    let whole = metrics(&d, |i| iso.predict(d.x[i]));
    for (a, b) in [(pooled.ece, whole.ece), (pooled.mce, whole.mce), (pooled.brier, whole.brier), (pooled.log_loss, whole.log_loss)] {
        assert!((a - b).abs() < 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }
    assert!(whole.ece > 0.0 && whole.log_loss > 0.0);
    assert_eq!(MetricSums::default().finish(), None);
}

#[test]
fn one_walk_picks_the_thresholds_the_full_curve_does() {
    use simcal::calibrate::sweep::{picks, points};
    for (n, seed) in [(50, 5), (5_000, 6)] {
        let (s, y) = awkward_pairs(n, seed);
        let d = Distinct::from_pairs(&s, &y);
        let c = Curve::new(&d);
        let (ps, rs) = ([0.2, 0.5, 0.9, 1.0], [0.1, 0.5, 0.99, 1.0]);
        let got = picks(points(&d), d.n_pos(), &ps, &rs);
        for (p, pt) in ps.iter().zip(&got.precision) {
            assert_eq!(*pt, c.for_precision(*p).map(|i| c.point(i)), "precision {p}");
        }
        for (r, pt) in rs.iter().zip(&got.recall) {
            assert_eq!(*pt, c.for_recall(*r).map(|i| c.point(i)), "recall {r}");
        }
        assert_eq!(got.best_precision, c.best_precision());
        assert_eq!(got.best_recall, c.best_recall());
    }
}

#[test]
fn isotonic_values_at_the_scores_are_its_predictions() {
    for (name, s, y, _) in cases() {
        let d = Distinct::from_pairs(&s, &y);
        let (iso, values) = Isotonic::fit_values(&d);
        for (x, v) in d.x.iter().zip(&values) {
            assert_eq!(iso.predict(*x), *v, "{name}: at {x}");
        }
    }
}

#[test]
fn quantiles_are_numpys_on_the_expanded_multiset() {
    use simcal::calibrate::summary::quantiles;
    let x = [0.1, 0.2, 0.5, 0.7, 0.9];
    let w = [3u64, 0, 1, 4, 2];
    let expanded: Vec<f64> = x.iter().zip(&w).flat_map(|(&x, &w)| std::iter::repeat_n(x, w as usize)).collect();
    let levels = [0.0, 0.01, 0.25, 0.3, 0.5, 0.77, 0.99, 1.0];
    let got = quantiles(&x, &w, &levels);
    for (q, g) in levels.iter().zip(got) {
        // numpy's default: linear between the elements around (n − 1)·q.
        let h = (expanded.len() - 1) as f64 * q;
        let lo = h.floor() as usize;
        let hi = (lo + 1).min(expanded.len() - 1);
        let want = expanded[lo] + (expanded[hi] - expanded[lo]) * (h - lo as f64);
        assert!((g - want).abs() < 1e-15, "q {q}: {g} vs {want}");
    }
    assert!(quantiles(&x, &[0; 5], &levels).is_empty());
}

#[test]
fn platt_on_a_large_table_is_the_likelihoods_maximum() {
    // Enough distinct scores for the binned warm start and the quick Newton path.
    let n = 600_000;
    let v = random_values(2 * n, 11);
    let s: Vec<f32> = (0..n).map(|i| v[2 * i] * 2.0).collect();
    let y: Vec<bool> = (0..n).map(|i| v[2 * i + 1] + 0.5 < 1.0 / (1.0 + (-3.0 * f64::from(s[i]) + 1.0).exp()) as f32).collect();
    let d = Distinct::from_pairs(&s, &y);
    assert!(d.len() > 300_000);
    let p = platt::fit(&d, "big").unwrap();
    // The gradient of the log-likelihood in (a, b) vanishes at the maximum.
    let (mut ga, mut gb) = (0.0, 0.0);
    for i in 0..d.len() {
        let r = (d.pos[i] + d.neg[i]) as f64 * p.predict(d.x[i]) - d.pos[i] as f64;
        ga += r * d.x[i];
        gb += r;
    }
    let n = n as f64;
    assert!(ga.abs() / n < 1e-9 && gb.abs() / n < 1e-9, "gradient ({ga}, {gb}) at {p:?}");
    // Near the generating map P = σ(3s − 1), i.e. a = −3, b = 1.
    assert!((p.a + 3.0).abs() < 0.05 && (p.b - 1.0).abs() < 0.05, "{p:?}");
    // A fold's looser stop lands on the same maximum to far below the fit's sampling error.
    let q = platt::fit_within(&d, "big", simcal::calibrate::folds::FOLD_TOLERANCE).unwrap();
    assert!((q.a - p.a).abs() < 1e-7 * p.a.abs() && (q.b - p.b).abs() < 1e-7 * p.b.abs().max(1.0), "{q:?} vs {p:?}");
}

/// Writes a labeled score table of `n_queries` queries × `per` rows: sections alpha, beta and
/// gamma in turn, the first three queries in section tiny; every fifth query unlabeled.
pub fn write_labeled_table(path: &Path, n_queries: usize, per: usize, seed: u64, model: &str) {
    let noise = random_values(n_queries * per * 2, seed);
    let (mut q, mut d, mut rank, mut score, mut label, mut nrel, mut section) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for qi in 0..n_queries {
        let sec = ["alpha", "beta", "gamma", "tiny"][if qi < 3 { 3 } else { qi % 3 }];
        for r in 0..per {
            let i = qi * per + r;
            let rel = noise[2 * i] + 0.5 < 0.9 - r as f32 / per as f32;
            let s = 0.9 - 0.4 * r as f32 / per as f32 + 0.1 * noise[2 * i + 1] + if rel { 0.05 } else { 0.0 };
            q.push(format!("q{qi}"));
            d.push(format!("d{r}"));
            rank.push(r as u32 + 1);
            score.push(s);
            // Every fifth query has no judgements: its rows are unlabeled (null).
            label.push(if qi % 5 == 4 { None } else { Some(rel as i32) });
            nrel.push(1u32);
            section.push(sec);
        }
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("query_id", Arc::new(StringArray::from(q))),
        ("doc_id", Arc::new(StringArray::from(d))),
        ("rank", Arc::new(UInt32Array::from(rank))),
        ("score", Arc::new(Float32Array::from(score))),
        ("label", Arc::new(Int32Array::from(label))),
        ("query_relevant", Arc::new(UInt32Array::from(nrel))),
        ("section", Arc::new(StringArray::from(section))),
    ];
    let fields: Vec<Field> = cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols.into_iter().map(|(_, a)| a).collect()).unwrap();
    let meta = TableMeta {
        schema_version: SCHEMA_VERSION,
        version: "test".into(),
        model: model.into(),
        metric: "cosine".into(),
        k: per,
        backend: "cpu".into(),
        ..Default::default()
    };
    write_parquet(&ScoreTable::new(batch, meta), path).unwrap();
}

pub fn run_ok(args: &[&str]) -> std::process::Output {
    let o = simcal().args(args).env("SOURCE_DATE_EPOCH", "1700000000").output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

#[test]
fn fit_by_group_and_apply_with_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    write_labeled_table(Path::new(&p("raw.parquet")), 60, 40, 3, "m");
    // The best-scoring pair is irrelevant, so no threshold reaches precision 1.
    rewrite(Path::new(&p("raw.parquet")), Path::new(&p("t.parquet")), |s, l| {
        let top = (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        l[top] = Some(0);
    });
    let o = run_ok(&[
        "fit",
        "--scores",
        &p("t.parquet"),
        "--group-by",
        "section",
        "--min-pairs",
        "150",
        "--target-precision",
        "0.8",
        "1",
        "--target-recall",
        "0.5",
        "--bootstrap",
        "200",
        "--out",
        &p("cal.json"),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    let art = simcal::calibrate::artifact::Artifact::read(Path::new(&p("cal.json"))).unwrap();
    assert_eq!(art.created, "2023-11-14T22:13:20Z");
    // Unlabeled queries (every fifth) are not pairs.
    assert_eq!(art.counts.labeled, 48 * 40);
    let keys: Vec<&str> = art.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["section=alpha", "section=beta", "section=gamma", "section=tiny"]);
    let tiny = &art.groups[3];
    assert!(!tiny.fitted && tiny.reason.as_deref().unwrap().contains("--min-pairs"), "{tiny:?}");
    for g in &art.groups[..3] {
        assert!(g.fitted && g.isotonic.is_some() && g.platt.is_some(), "{g:?}");
        let t = &g.thresholds[0];
        assert!(t.reachable && t.precision.unwrap() >= 0.8);
        assert_eq!(t.delta_from_global, Some(t.score.unwrap() - art.global.thresholds[0].score.unwrap()));
        let iv = t.interval.as_ref().unwrap();
        let [lo, hi] = iv.score.unwrap();
        assert!(lo <= hi && iv.reachable_fraction > 0.5);
    }
    // An unreachable target says so, with no made-up threshold.
    let t = &art.global.thresholds[1];
    assert!(!t.reachable && t.score.is_none() && t.message.as_deref().unwrap().starts_with("not reachable: best precision is"), "{t:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("not reachable"));
    assert_eq!(simcal::Choice::name(art.global.thresholds[2].target), "recall");
    assert!(art.global.thresholds[2].recall.unwrap() >= 0.5);

    // Apply with a floor and decisions.
    let o = run_ok(&[
        "apply",
        "--calibration",
        &p("cal.json"),
        "--scores",
        &p("t.parquet"),
        "--out",
        &p("a.parquet"),
        "--decisions",
        &p("d.csv"),
        "--floor",
        "0.2",
        "--min-gap",
        "0.01",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["queries"], 60);
    let t = simcal::table::read_table(Path::new(&p("a.parquet"))).unwrap();
    let prob = t.batch.column_by_name("probability").unwrap().as_primitive::<arrow::datatypes::Float64Type>();
    assert!(prob.values().iter().all(|&x| (0.2..=1.0).contains(&x)));
    assert!(t.len() < 60 * 40);
    let csv = std::fs::read_to_string(p("d.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "query_id,group,top_doc_id,top_probability,gap,decision,target,threshold,certificate");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 60);
    for r in &rows {
        let top: Option<f64> = r[3].parse().ok();
        let gap: Option<f64> = r[4].parse().ok();
        let want = match top {
            None => "not_found",
            Some(p) if p < art.abstain.low => "not_found",
            Some(_) if gap.unwrap() < 0.01 => "ambiguous",
            Some(p) if p >= art.abstain.high => "act",
            Some(_) => "escalate",
        };
        assert_eq!(r[5], want, "{r:?}");
    }
    // The tiny section falls back to the global fit.
    assert!(rows.iter().any(|r| r[1] == "section=tiny"));
}

#[test]
fn the_same_seed_gives_the_same_artifact_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    write_labeled_table(Path::new(&p("t.parquet")), 40, 30, 5, "m");
    let fit = |out: &str, seed: &str| {
        run_ok(&["fit", "--scores", &p("t.parquet"), "--group-by", "section", "--seed", seed, "--bootstrap", "300", "--out", &p(out)])
    };
    fit("a.json", "7");
    fit("b.json", "7");
    fit("c.json", "8");
    let (a, b, c) = (std::fs::read(p("a.json")).unwrap(), std::fs::read(p("b.json")).unwrap(), std::fs::read(p("c.json")).unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c, "a different seed must change the intervals");
}

#[test]
fn apply_refuses_a_mismatched_or_unknown_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    write_labeled_table(Path::new(&p("t.parquet")), 20, 30, 5, "m1");
    write_labeled_table(Path::new(&p("u.parquet")), 20, 30, 5, "m2");
    run_ok(&["fit", "--scores", &p("t.parquet"), "--bootstrap", "0", "--out", &p("cal.json")]);
    let o =
        simcal().args(["apply", "--calibration", &p("cal.json"), "--scores", &p("u.parquet"), "--out", &p("x.parquet")]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert!(!Path::new(&p("x.parquet")).exists());
    let o = run_ok(&["apply", "--calibration", &p("cal.json"), "--scores", &p("u.parquet"), "--out", &p("x.parquet"), "--force"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning"));
    let text = std::fs::read_to_string(p("cal.json")).unwrap().replacen("\"schema_version\": 1", "\"schema_version\": 99", 1);
    std::fs::write(p("v99.json"), text).unwrap();
    let o =
        simcal().args(["apply", "--calibration", &p("v99.json"), "--scores", &p("t.parquet"), "--out", &p("y.parquet")]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("schema version 99"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Rewrites a score table with its scores and labels changed by `f`.
pub fn rewrite(from: &Path, to: &Path, f: impl FnOnce(&mut Vec<f32>, &mut Vec<Option<i32>>)) {
    let t = simcal::table::read_table(from).unwrap();
    let mut s: Vec<f32> = t.batch.column(3).as_primitive::<Float32Type>().values().to_vec();
    let lc = t.batch.column(4).as_primitive::<Int32Type>();
    let mut l: Vec<Option<i32>> = (0..lc.len()).map(|i| lc.is_valid(i).then(|| lc.value(i))).collect();
    f(&mut s, &mut l);
    let mut cols: Vec<ArrayRef> = t.batch.columns().to_vec();
    cols[3] = Arc::new(Float32Array::from(s));
    cols[4] = Arc::new(Int32Array::from(l));
    write_parquet(&ScoreTable::new(RecordBatch::try_new(t.batch.schema(), cols).unwrap(), t.meta), to).unwrap();
}

fn expect_fit_error(table: &Path, extra: &[&str], needle: &str) {
    let out = table.with_file_name("cal.json");
    let o = simcal().arg("fit").arg("--scores").arg(table).args(extra).arg("--out").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
    assert!(!err.contains("panicked"));
    assert!(!out.exists());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.parquet");
    write_labeled_table(&t, 20, 30, 5, "m");
    expect_fit_error(&t, &["--group-by", "nope"], "no column \"nope\"");
    expect_fit_error(&t, &["--target-precision", "0"], "outside (0, 1]");
    expect_fit_error(&t, &["--target-precision", "1.5"], "outside (0, 1]");
    expect_fit_error(&t, &["--abstain", "0.9:0.5"], "abstain");
    // One class only: every label relevant at a level no label reaches... irrelevant.
    expect_fit_error(&t, &["--rel-level", "5"], "all 480 labeled pairs are irrelevant");
    // No labels, a NaN score, separated classes (Platt alone is refused with a pointer to isotonic).
    let nolabels = dir.path().join("nolabels.parquet");
    rewrite(&t, &nolabels, |_, l| l.iter_mut().for_each(|x| *x = None));
    expect_fit_error(&nolabels, &[], "no labels");
    let nan = dir.path().join("nan.parquet");
    rewrite(&t, &nan, |s, _| s[17] = f32::NAN);
    expect_fit_error(&nan, &[], "row 17");
    let sep = dir.path().join("sep.parquet");
    rewrite(&t, &sep, |s, l| l.iter_mut().zip(s.iter()).for_each(|(l, &s)| *l = Some((s > 0.7) as i32)));
    expect_fit_error(&sep, &["--method", "platt"], "use --method isotonic");
}
