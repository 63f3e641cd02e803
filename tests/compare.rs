//! `simcal compare` (src/compare): the table on the sample's two encoders, its tests equal to
//! the paired tests run on `simcal eval`'s per-query values, queries paired by id (a query a run
//! lacks measured on an empty ranking), the family-wise false-positive rate of the corrected
//! tests on runs of one encoder with independent noise, the bootstrap interval's coverage of a
//! known difference, the calibrations compared, and refused input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float32Array};
use arrow::record_batch::RecordBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{score_sample, simcal};
use simcal::compare::{compare_tables, compare_values, CompareOptions, Correction, QueryValues, Test};
use simcal::metrics::ranking::Measure;
use simcal::stats::paired;
use simcal::table::{read_table, ScoreTable};

/// The sample's two encoders scored into a temporary folder.
fn sample() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("minilm.parquet"), dir.path().join("lsa.parquet"));
    score_sample("minilm", &a);
    score_sample("lsa", &b);
    (dir, a, b)
}

fn json(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let o = simcal().arg("compare").args(args).arg("--json").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `simcal eval --per-query`'s values of `measure`, by query.
fn per_query(table: &Path, measure: &str, qrels: Option<&Path>) -> BTreeMap<String, f64> {
    let mut c = simcal();
    c.args(["eval", "--json", "--per-query", "--metrics", measure, "--scores"]).arg(table);
    if let Some(q) = qrels {
        c.arg("--qrels").arg(q);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["global"]["ranking"]["per_query"].as_object().unwrap().iter().map(|(q, m)| (q.clone(), m[measure].as_f64().unwrap())).collect()
}

#[test]
fn the_sample_table_marks_what_each_encoder_beats() {
    let (_d, a, b) = sample();
    let o = simcal().arg("compare").arg("--scores").arg(&a).arg(&b).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("300 queries paired"), "{text}");
    // minilm beats lsa on every default measure: each of its values carries lsa's letter.
    let minilm = text.lines().find(|l| l.starts_with("a  minilm")).unwrap();
    assert_eq!(minilm.matches('ᵇ').count(), 7, "{minilm}");
    let lsa = text.lines().find(|l| l.starts_with("b  lsa")).unwrap();
    assert!(!lsa.contains('ᵃ'), "{lsa}");
    assert!(text.contains("minilm − lsa  ndcg_cut_10"), "{text}");
    assert!(text.contains("calibrations (isotonic map, out of fold"), "{text}");
}

#[test]
fn the_tests_are_those_of_the_per_query_values() {
    let (_d, a, b) = sample();
    let qrels = crate::common::data_dir().join("qrels.tsv");
    for test in ["student", "fisher", "tukey", "bootstrap"] {
        let doc = json(&[
            "--scores".as_ref(),
            a.as_os_str(),
            b.as_os_str(),
            "--qrels".as_ref(),
            qrels.as_os_str(),
            "--metrics".as_ref(),
            "ndcg_cut.10".as_ref(),
            "P.1".as_ref(),
            "--test".as_ref(),
            test.as_ref(),
            "--permutations".as_ref(),
            "2000".as_ref(),
            "--no-calibration".as_ref(),
        ]);
        assert_eq!(doc["paired_queries"], 300);
        assert!(doc["calibration"].is_null());
        for (j, measure) in ["ndcg_cut_10", "P_1"].iter().enumerate() {
            let (x, y) = (per_query(&a, measure, Some(&qrels)), per_query(&b, measure, Some(&qrels)));
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            let (x, y): (Vec<f64>, Vec<f64>) = (x.values().copied().collect(), y.values().copied().collect());
            let t = &doc["pairs"][j];
            assert_eq!(t["measure"], *measure);
            let diff = x.iter().zip(&y).map(|(p, q)| p - q).sum::<f64>() / x.len() as f64;
            assert!((t["difference"].as_f64().unwrap() - diff).abs() < 1e-12);
            let want = match test {
                "student" => paired::student(&x, &y).unwrap().p,
                "fisher" => paired::fisher(&x, &y, 2000, 42).unwrap().p,
                "tukey" => simcal::stats::tukey::tukey_hsd(&[&x, &y]).unwrap()[0][1].p,
                // Every resampled difference is far from zero (p < 1e-20 by the t-test): the
                // bootstrap's p is its floor, 1 / (resamples + 1).
                _ => 1.0 / 2001.0,
            };
            assert_eq!(t["p"].as_f64().unwrap(), want, "{test} {measure}");
            let wins = x.iter().zip(&y).filter(|(p, q)| p > q).count();
            assert_eq!(t["wins"], wins);
            // Holm over 2 comparisons; with Tukey, Bonferroni over the 2 measures.
            let ps: Vec<f64> = doc["pairs"].as_array().unwrap().iter().map(|p| p["p"].as_f64().unwrap()).collect();
            let corrected = if test == "tukey" { (ps[j] * 2.0).min(1.0) } else { paired::holm(&ps)[j] };
            assert_eq!(t["p_corrected"].as_f64().unwrap(), corrected);
        }
    }
}

/// `table` with its rows of the queries in `drop` removed.
fn without_queries(table: &ScoreTable, drop: &[&str]) -> ScoreTable {
    let ids = table.batch.column_by_name("query_id").unwrap().as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
    let keep: arrow::array::BooleanArray = ids.iter().map(|q| Some(!drop.contains(&q.unwrap()))).collect();
    let batch = arrow::compute::filter_record_batch(&table.batch, &keep).unwrap();
    ScoreTable::new(batch, table.meta.clone())
}

#[test]
fn a_query_a_run_lacks_is_an_empty_ranking() {
    let (_d, a, b) = sample();
    let (ta, tb) = (read_table(&a).unwrap(), read_table(&b).unwrap());
    let first: Vec<String> = {
        let ids = tb.batch.column_by_name("query_id").unwrap().as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
        let mut v: Vec<String> = ids.iter().map(|q| q.unwrap().to_owned()).collect();
        v.dedup();
        v.into_iter().take(5).collect()
    };
    let drop: Vec<&str> = first.iter().map(String::as_str).collect();
    let tb = without_queries(&tb, &drop);
    let opts =
        CompareOptions { measures: Measure::parse_list(&["ndcg_cut.10".into(), "num_rel".into()]).unwrap(), ..CompareOptions::default() };
    let qrels = simcal::labels::read_qrels(&crate::common::data_dir().join("qrels.tsv")).unwrap();
    for q in [Some(&qrels), None] {
        let c = compare_tables(&[(&ta, a.as_path()), (&tb, b.as_path())], q, &opts).unwrap();
        assert_eq!(c.paired_queries, 300);
        assert_eq!((c.runs[0].filled, c.runs[1].filled), (0, 5));
        for id in &first {
            let i = c.queries.iter().position(|q| q == id).unwrap();
            assert_eq!(c.runs[1].per_query[0][i], 0.0, "{id}: an empty ranking scores 0");
            // Its judgements are kept: num_rel is the query's, as the other run has it.
            assert_eq!(c.runs[1].per_query[1][i], c.runs[0].per_query[1][i]);
            assert!(c.runs[1].per_query[1][i] >= 1.0);
        }
    }
}

/// `table` with independent uniform noise of sd `sd` added to each score.
fn noisy(table: &ScoreTable, sd: f64, rng: &mut ChaCha8Rng) -> ScoreTable {
    let i = table.batch.schema().index_of("score").unwrap();
    let s = table.batch.column(i).as_any().downcast_ref::<Float32Array>().unwrap();
    let half = sd * 3f64.sqrt();
    let v: Float32Array = s.values().iter().map(|&x| Some(x + rng.random_range(-half..half) as f32)).collect();
    let mut cols: Vec<ArrayRef> = table.batch.columns().to_vec();
    cols[i] = Arc::new(v);
    ScoreTable::new(RecordBatch::try_new(table.batch.schema(), cols).unwrap(), table.meta.clone())
}

#[test]
fn corrected_tests_keep_the_family_wise_rate_on_runs_of_one_encoder() {
    // Three runs of one encoder, each its scores plus independent noise: every difference is
    // null. Over 500 seeded repetitions, 3 pairs × 3 measures each, the share of repetitions
    // with any significant comparison at max p 0.05 is the family-wise false-positive rate.
    // Holm keeps it at most 0.05 (slack 0.03: three binomial standard errors at 500); without the
    // correction it exceeds 0.05 (the check has the power to catch a missing correction).
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("minilm.parquet");
    score_sample("minilm", &a);
    let base = read_table(&a).unwrap();
    let measures = Measure::parse_list(&["ndcg_cut.10".into(), "P.5".into(), "recip_rank".into()]).unwrap();
    let names: Vec<String> = measures.iter().map(Measure::name).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(20261204);
    let reps = 500;
    let mut any = BTreeMap::new();
    for rep in 0..reps {
        let runs: Vec<ScoreTable> = (0..3).map(|_| noisy(&base, 0.03, &mut rng)).collect();
        let given: Vec<(&ScoreTable, &Path)> = runs.iter().map(|t| (t, a.as_path())).collect();
        let opts = CompareOptions { measures: measures.clone(), max_p: 0.05, resamples: 1, ..CompareOptions::default() };
        let c = compare_tables(&given, None, &opts).unwrap();
        let values: Vec<QueryValues> = c
            .runs
            .iter()
            .map(|r| QueryValues {
                name: r.name.clone(),
                path: String::new(),
                values: c.queries.iter().enumerate().map(|(i, q)| (q.clone(), r.per_query.iter().map(|v| v[i]).collect())).collect(),
            })
            .collect();
        for (test, correction) in [
            (Test::Student, Correction::Holm),
            (Test::Student, Correction::None),
            (Test::Fisher, Correction::Holm),
            (Test::Tukey, Correction::Holm),
        ] {
            let o = CompareOptions { test, correction, permutations: 1000, seed: rep, ..opts.clone() };
            let c = compare_values(&values, &names, None, &o).unwrap();
            assert_eq!(c.pairs.len(), 9);
            *any.entry(format!("{test} {correction}")).or_insert(0usize) += usize::from(c.pairs.iter().any(|p| p.significant));
        }
    }
    let rate = |k: &str| any[k] as f64 / reps as f64;
    eprintln!("family-wise false-positive rates over {reps}: {any:?}");
    assert!(rate("student holm") <= 0.05 + 0.03, "{any:?}");
    assert!(rate("fisher holm") <= 0.05 + 0.03, "{any:?}");
    // Tukey's p-values, family-wise over the pairs, corrected over the three measures.
    assert!(rate("tukey holm") <= 0.05 + 0.03, "{any:?}");
    assert!(rate("student none") > 0.05, "{any:?}");
}

#[test]
fn the_bootstrap_interval_covers_a_known_difference() {
    // Two runs whose per-query values differ by 0.03 on average (plus noise): over 500 seeded
    // draws of 200 queries, the 95% interval covers 0.03 in 95% of draws (slack 0.03, three
    // binomial standard errors at 500).
    let mut rng = ChaCha8Rng::seed_from_u64(33);
    let draws = 500;
    let mut covered = 0;
    for seed in 0..draws {
        let a: Vec<f64> = (0..200).map(|_| rng.random::<f64>()).collect();
        let b: Vec<f64> = a.iter().map(|x| x - 0.03 + (rng.random::<f64>() - 0.5) * 0.4).collect();
        let run = |name: &str, v: &[f64]| QueryValues {
            name: name.into(),
            path: String::new(),
            values: v.iter().enumerate().map(|(i, x)| (format!("q{i:03}"), vec![*x])).collect(),
        };
        let o = CompareOptions { resamples: 1000, seed, ..CompareOptions::default() };
        let c = compare_values(&[run("a", &a), run("b", &b)], &["m".into()], None, &o).unwrap();
        let [lo, hi] = c.pairs[0].interval;
        covered += usize::from(lo <= 0.03 && 0.03 <= hi);
    }
    let rate = covered as f64 / draws as f64;
    assert!((rate - 0.95).abs() <= 0.03, "coverage {rate}");
}

#[test]
fn calibrations_compared_on_the_sample() {
    let (_d, a, b) = sample();
    let doc = json(&["--scores".as_ref(), a.as_os_str(), b.as_os_str(), "--resamples".as_ref(), "500".as_ref()]);
    let cal = &doc["calibration"];
    assert_eq!(cal["paired_queries"], 300);
    assert_eq!(cal["target_precision"], 0.9);
    // ECE and Brier as `simcal eval` measures them on the same out-of-fold probabilities are
    // not exposed per table; here, the difference is the runs' own difference.
    let (ra, rb) = (&cal["runs"][0], &cal["runs"][1]);
    let d = ra["brier"].as_f64().unwrap() - rb["brier"].as_f64().unwrap();
    assert!((cal["pairs"][0]["brier_difference"].as_f64().unwrap() - d).abs() < 1e-15);
    let [lo, hi] = [cal["pairs"][0]["brier_interval"][0].as_f64().unwrap(), cal["pairs"][0]["brier_interval"][1].as_f64().unwrap()];
    assert!(lo <= d && d <= hi, "{lo} {d} {hi}");
    // ECE and Brier equal the reliability of the same out-of-fold probabilities (5 folds by
    // query, the fit's seed), measured over all pairs at once.
    let table = read_table(&a).unwrap();
    let fit = simcal::nightly::config::default_fit();
    let oof =
        simcal::calibrate::folds::oof_probabilities(&table, &a, 1, fit.folds, fit.seed, &[simcal::calibrate::Method::Isotonic]).unwrap();
    let r = simcal::metrics::reliability::reliability(
        &oof.probabilities[0].1,
        &oof.relevant,
        10,
        simcal::metrics::reliability::BinStrategy::Uniform,
    )
    .unwrap();
    assert!((ra["ece"].as_f64().unwrap() - r.ece).abs() < 1e-12, "{ra} vs {}", r.ece);
    assert!((ra["brier"].as_f64().unwrap() - r.brier).abs() < 1e-12, "{ra} vs {}", r.brier);
    // minilm certifies precision 0.9 at the query unit; its acting queries are those `simcal
    // apply` acts on with that calibration.
    let art = simcal::calibrate::fit_table(&table, &a, &simcal::calibrate::FitOptions { bootstrap: 0, ..fit }).unwrap();
    let applied = simcal::policy::apply_artifact(&table, &a, &art, &a, "", &Default::default()).unwrap();
    let acting = applied.decisions.iter().filter(|d| d.decision == simcal::policy::Decision::Act && d.target.is_some()).count();
    assert!(acting > 100);
    assert_eq!(ra["acting"].as_u64().unwrap(), acting as u64, "{ra}");
    // The same table twice: every difference is exactly zero.
    let same = json(&["--scores".as_ref(), a.as_os_str(), a.as_os_str(), "--resamples".as_ref(), "200".as_ref()]);
    let p = &same["calibration"]["pairs"][0];
    assert_eq!(p["ece_difference"], 0.0);
    assert_eq!(p["acting_difference"], 0.0);
    assert_eq!(same["pairs"][0]["ties"], 300);
}

#[test]
fn refused_input() {
    let (_d, a, b) = sample();
    let run = |args: &[&std::ffi::OsStr]| {
        let o = simcal().arg("compare").args(args).output().unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(run(&["--scores".as_ref(), a.as_os_str()]).contains("--scores"));
    let e = run(&["--scores".as_ref(), a.as_os_str(), b.as_os_str(), "--max-p".as_ref(), "1.5".as_ref()]);
    assert!(e.contains("--max-p"), "{e}");
    let e = run(&["--scores".as_ref(), a.as_os_str(), b.as_os_str(), "--test".as_ref(), "wilcoxon".as_ref()]);
    assert!(e.contains("student"), "{e}");
    let missing = a.with_file_name("nothing.parquet");
    let e = run(&["--scores".as_ref(), a.as_os_str(), missing.as_os_str()]);
    assert!(e.contains("nothing.parquet"), "{e}");
    // Per-query values that do not pair.
    let one = |q: &str| QueryValues { name: q.into(), path: String::new(), values: [(q.to_owned(), vec![1.0])].into() };
    let e = compare_values(&[one("q1"), one("q2")], &["m".into()], None, &CompareOptions::default()).unwrap_err();
    assert!(e.to_string().contains("differ on query"), "{e}");
}
