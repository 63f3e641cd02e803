//! Evaluation: golden values from pytrec_eval, scikit-learn, scipy and netcal
//! (tests/golden/make_eval.py), judgements from the table against qrels, and drift.

use std::path::{Path, PathBuf};

use simcal::calibrate::distinct::Distinct;
use simcal::metrics::reliability::{reliability, BinStrategy};
use simcal::metrics::separation::separation;

use crate::common::simcal;

fn golden_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/golden")
}

fn golden() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(golden_dir().join("eval_golden.json")).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

const MEASURES: &str = "ndcg_cut_3,ndcg_cut_10,recall_5,recall_20,P_5,P_10,success_1,success_5,recip_rank,map";

fn eval_json(args: &[&str]) -> serde_json::Value {
    let out = simcal().arg("eval").args(args).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ranking_measures_match_trec_eval() {
    let g = golden();
    let run = golden_dir().join("eval_run.parquet");
    let qrels = golden_dir().join("eval_qrels.txt");
    for level in [1, 2] {
        let want = &g[format!("level{level}")];
        for complete in [false, true] {
            let lv = level.to_string();
            let mut args = vec!["--scores", run.to_str().unwrap(), "--qrels", qrels.to_str().unwrap(), "--metrics", MEASURES];
            args.extend(["--rel-level", &lv, "--per-query"]);
            if complete {
                args.push("--complete");
            }
            let got = eval_json(&args);
            let global = &got["global"]["ranking"];
            let queries = if complete { g["judged_queries"].as_u64().unwrap() } else { want["queries"].as_u64().unwrap() };
            assert_eq!(global["queries"].as_u64().unwrap(), queries, "level {level} complete {complete}");
            let means = if complete { &want["complete"] } else { &want["mean"] };
            for (name, v) in means.as_object().unwrap() {
                let ours = global["mean"][name].as_f64().unwrap_or_else(|| panic!("no {name}"));
                assert!((ours - v.as_f64().unwrap()).abs() < 1e-12, "level {level} complete {complete}: {name} {ours} vs {v}");
            }
            for (q, vals) in want["per_query"].as_object().unwrap() {
                for (name, v) in vals.as_object().unwrap() {
                    let ours = global["per_query"][q][name].as_f64().unwrap_or_else(|| panic!("no {q} {name}"));
                    assert!((ours - v.as_f64().unwrap()).abs() < 1e-12, "level {level}: {q} {name}: {ours} vs {v}");
                }
            }
        }
    }
}

#[test]
fn reliability_curves_match_scikit_learn_and_ece_netcal() {
    let g = golden();
    let p = &g["probabilities"];
    let prob = floats(&p["prob"]);
    let y: Vec<bool> = p["label"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() == 1).collect();
    for (name, want) in p["curves"].as_object().unwrap() {
        let (strategy, bins) = name.split_once('-').unwrap();
        let bins: usize = bins.parse().unwrap();
        let r = reliability(&prob, &y, bins, strategy.parse::<BinStrategy>().unwrap()).unwrap();
        let (obs, pred) = (floats(&want["observed"]), floats(&want["predicted"]));
        assert_eq!(r.bins.len(), obs.len(), "{name}: non-empty bins");
        for (b, (o, pr)) in r.bins.iter().zip(obs.iter().zip(&pred)) {
            assert!((b.observed - o).abs() < 1e-12 && (b.mean_predicted - pr).abs() < 1e-12, "{name}: {b:?} vs {o} {pr}");
            assert!(b.wilson[0] <= b.observed && b.observed <= b.wilson[1], "{name}: {b:?}");
        }
    }
    for bins in [10, 15] {
        let r = reliability(&prob, &y, bins, BinStrategy::Uniform).unwrap();
        let (ece, mce) = (p[format!("ece-{bins}")].as_f64().unwrap(), p[format!("mce-{bins}")].as_f64().unwrap());
        assert!((r.ece - ece).abs() < 1e-12, "ECE {bins}: {} vs netcal {ece}", r.ece);
        assert!((r.mce - mce).abs() < 1e-12, "MCE {bins}: {} vs netcal {mce}", r.mce);
    }
    let r = reliability(&prob, &y, 10, BinStrategy::Uniform).unwrap();
    assert!((r.brier - p["brier"].as_f64().unwrap()).abs() < 1e-12, "Brier {}", r.brier);
    assert!((r.log_loss - p["log_loss"].as_f64().unwrap()).abs() < 1e-12, "log loss {}", r.log_loss);
    assert!(reliability(&[0.5, 1.5], &[true, false], 10, BinStrategy::Uniform).is_err());
}

#[test]
fn separation_matches_scikit_learn_and_scipy() {
    let g = golden();
    let p = &g["probabilities"];
    let s: Vec<f32> = floats(&p["score"]).iter().map(|&v| v as f32).collect();
    let y: Vec<bool> = p["label"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() == 1).collect();
    let sep = separation(&Distinct::from_pairs(&s, &y));
    for (name, ours) in [("roc_auc", sep.roc_auc), ("average_precision", sep.average_precision), ("ks", sep.ks)] {
        let want = p[name].as_f64().unwrap();
        assert!((ours.unwrap() - want).abs() < 1e-12, "{name}: {ours:?} vs {want}");
    }
    let o = sep.overlap.unwrap();
    assert!(o > 0.0 && o < 1.0, "overlap {o}");
    // Identical distributions overlap fully; disjoint ones not at all.
    let same = separation(&Distinct::from_pairs(&[0.1, 0.1, 0.9, 0.9], &[true, false, true, false]));
    assert!((same.overlap.unwrap() - 1.0).abs() < 1e-12 && same.ks.unwrap() == 0.0 && same.roc_auc.unwrap() == 0.5);
    let apart = separation(&Distinct::from_pairs(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]));
    assert!(apart.overlap.unwrap() == 0.0 && apart.ks.unwrap() == 1.0 && apart.roc_auc.unwrap() == 1.0);
}

#[test]
fn table_labels_give_the_qrels_answers_on_binary_judgements() {
    // A table labeled from binary qrels holds everything trec_eval needs (query_relevant for the
    // unretrieved relevant documents): the same numbers with or without --qrels.
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t.parquet");
    let qrels = dir.path().join("q.txt");
    let mut text = String::new();
    for q in 0..30 {
        for d in 0..12 {
            if (q * 7 + d * 3) % 5 == 0 {
                text.push_str(&format!("q{q} 0 d{d} 1\n"));
            }
        }
    }
    std::fs::write(&qrels, text).unwrap();
    crate::common::write_scored_table(&table, &qrels, 30, 40, 10);
    let a = eval_json(&["--scores", table.to_str().unwrap(), "--qrels", qrels.to_str().unwrap(), "--metrics", MEASURES]);
    let b = eval_json(&["--scores", table.to_str().unwrap(), "--metrics", MEASURES]);
    assert_eq!(a["judgements"], "qrels");
    assert_eq!(b["judgements"], "table");
    for (name, v) in a["global"]["ranking"]["mean"].as_object().unwrap() {
        let w = b["global"]["ranking"]["mean"][name].as_f64().unwrap();
        assert!((v.as_f64().unwrap() - w).abs() < 1e-12, "{name}: qrels {v} vs table {w}");
    }
    assert_eq!(a["global"]["separation"], b["global"]["separation"]);
}

#[test]
fn bad_options_are_refused() {
    let run = golden_dir().join("eval_run.parquet");
    for (args, needle) in [
        (vec!["--metrics", "ndcg_cut_0"], "unknown measure"),
        (vec!["--metrics", "P_avgjg"], "unknown measure"),
        (vec!["--metrics", "utility.1,2"], "utility takes 4 numbers"),
        (vec!["--bins", "0"], "--bins"),
        (vec!["--target-precision", "1.5"], "outside (0, 1]"),
    ] {
        let out = simcal().args(["eval", "--scores", run.to_str().unwrap()]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn drift_trips_on_a_shifted_table_and_not_on_a_fresh_sample() {
    use crate::calibration::{rewrite, write_labeled_table};
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    write_labeled_table(Path::new(&p("base.parquet")), 2000, 20, 1, "enc-v1");
    let fit = simcal()
        .args(["fit", "--scores", &p("base.parquet"), "--bootstrap", "0", "--group-by", "section", "--out", &p("cal.json")])
        .output()
        .unwrap();
    assert!(fit.status.success(), "{}", String::from_utf8_lossy(&fit.stderr));
    let drift = |table: &str| {
        let out = simcal()
            .args(["drift", "--json", "--baseline", &p("cal.json"), "--scores", &p(table), "--out", &p("drift.json")])
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p("drift.json")).unwrap()).unwrap();
        assert_eq!(doc, file, "stdout and --out agree");
        (out.status.code(), doc)
    };
    // Another sample of the same model: within tolerance.
    write_labeled_table(Path::new(&p("same.parquet")), 2000, 20, 2, "enc-v1");
    let (code, doc) = drift("same.parquet");
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["drifted"], false);
    let ks = doc["groups"][0]["irrelevant"]["ks"].as_f64().unwrap();
    assert!(ks > 0.0 && ks < 0.1, "KS {ks}");
    let groups = doc["groups"].as_array().unwrap();
    assert!(groups.len() > 1, "groups are checked too");
    // section=tiny has 60 pairs: measured, not gated.
    let tiny = groups.iter().find(|g| g["key"] == "section=tiny").unwrap();
    assert_eq!(tiny["gated"], false);
    assert!(tiny["irrelevant"]["ks"].as_f64().is_some());
    // A model upgrade that shifts every score up: named, measured, and the gate trips.
    write_labeled_table(Path::new(&p("v2.parquet")), 2000, 20, 2, "enc-v2");
    rewrite(Path::new(&p("v2.parquet")), Path::new(&p("shifted.parquet")), |s, _| s.iter_mut().for_each(|v| *v += 0.08));
    let (code, doc) = drift("shifted.parquet");
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["drifted"], true);
    assert!(doc["changes"][0].as_str().unwrap().contains("enc-v2"), "{:#}", doc["changes"]);
    let v: Vec<&str> = doc["violations"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(v.iter().any(|v| v.contains("KS")), "{v:?}");
    let shift = doc["groups"][0]["irrelevant"]["mean_shift"].as_f64().unwrap();
    assert!((shift - 0.08).abs() < 0.01, "mean shift {shift}");
    // Bad input: exit 2.
    let out = simcal().args(["drift", "--baseline", &p("cal.json"), "--scores", &p("same.parquet"), "--max-ks", "2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
