//! `simcal eval` against trec_eval's own test suite (`tests/trec_eval`: the test folder of
//! trec_eval 10.0, NIST): every value of `out.test.aq`, `out.test.aqc` and `out.test.aql`, per
//! query and overall, as trec_eval prints it (4 decimals, counts as integers), from the run files
//! as they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::simcal;

fn dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/trec_eval")
}

/// trec_eval's printed lines: (measure, query or `all`, value as printed), in file order.
fn printed(file: &str) -> Vec<(String, String, String)> {
    std::fs::read_to_string(dir().join(file))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (m, q, v) = (f.next()?.trim(), f.next()?.trim(), f.next()?.trim());
            Some((m.to_owned(), q.to_owned(), v.to_owned()))
        })
        .collect()
}

/// What simcal prints for a value trec_eval printed as `like`: an integer where trec_eval
/// printed one, else 4 decimals.
fn as_printed(v: f64, like: &str) -> String {
    if like.contains('.') {
        format!("{v:.4}")
    } else {
        format!("{v:.0}")
    }
}

/// Checks every value `file` holds against `simcal eval` on `run` and `qrels` with `args`;
/// returns the measures of the file simcal did not report.
fn check(file: &str, run: &str, qrels: &str, args: &[&str]) -> Vec<String> {
    let (run, qrels) = (dir().join(run), dir().join(qrels));
    let mut cmd = simcal();
    cmd.args(["eval", "--scores", run.to_str().unwrap(), "--qrels", qrels.to_str().unwrap()]);
    let out = cmd.args(args).args(["--per-query", "--json"]).output().unwrap();
    assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ranking = &got["global"]["ranking"];
    let mut missing: Vec<String> = Vec::new();
    let mut compared = 0;
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (m, q, v) in printed(file) {
        // The run's name and the relevance string are text, not measures.
        if m == "runid" || m.starts_with("relstring") {
            continue;
        }
        let ours = if q == "all" { &ranking["mean"][&m] } else { &ranking["per_query"][&q][&m] };
        let Some(ours) = ours.as_f64() else {
            if !missing.contains(&m) {
                missing.push(m);
            }
            continue;
        };
        compared += 1;
        let mine = as_printed(ours, &v);
        if mine != v {
            wrong.entry(m).or_default().push(format!("{q}: {mine} (trec_eval {v})"));
        }
    }
    assert!(wrong.is_empty(), "{file}: values that differ from trec_eval's: {wrong:#?}");
    assert!(compared > 0, "{file}: nothing compared");
    eprintln!("{file}: {compared} values equal to trec_eval's; not reported: {missing:?}");
    missing
}

/// Measures of trec_eval's `all_trec` that simcal does not compute yet.
const NOT_YET: &[&str] = &[];

#[test]
fn every_value_of_trec_evals_own_test_outputs() {
    // trec_eval's own commands (its Makefile's quicktest): -m all_trec -q, with -c, -l2, -c -M100.
    let all = ["--metrics", "all_trec"];
    let runs = [
        ("out.test.aq", "results.test", "qrels.test", vec![]),
        ("out.test.aqc", "results.trunc", "qrels.test", vec!["--complete"]),
        ("out.test.aql", "results.test", "qrels.rel_level", vec!["--rel-level", "2"]),
        ("out.test.aqcM", "results.trunc", "qrels.test", vec!["--complete", "--max-docs", "100"]),
    ];
    for (file, run, qrels, args) in runs {
        let args: Vec<&str> = all.iter().copied().chain(args).collect();
        let missing = check(file, run, qrels, &args);
        assert_eq!(missing, NOT_YET, "{file}: the measures simcal does not report");
    }
}

#[test]
fn trec_evals_parameter_syntax_gives_its_values() {
    // trec_eval -q -miprec_at_recall..10,.20,.25,.75,.50 -m P.5,7,3 … (its out.test.meas_params).
    let metrics = [
        "--metrics",
        "iprec_at_recall..10,.20,.25,.75,.50",
        "P.5,7,3",
        "recall.20,2000",
        "Rprec_mult.5.0,0.2,0.35",
        "utility.2,-1,0,0",
        "11pt_avg..25,.5,.75",
        "ndcg.1=3,2=9,4=4.5",
        "ndcg_cut.10,20,23.4",
        "success.2,5,20",
    ];
    assert!(check("out.test.meas_params", "results.test", "qrels.test", &metrics).is_empty());
}

#[test]
fn a_run_file_in_any_line_order_gives_the_same_values() {
    // results.trunc interleaves its two queries' lines; sorted by query it must measure the same.
    let text = std::fs::read_to_string(dir().join("results.trunc")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.split_whitespace().next().unwrap_or("").to_owned()));
    let tmp = tempfile::tempdir().unwrap();
    let sorted = tmp.path().join("sorted.txt");
    std::fs::write(&sorted, lines.join("\n")).unwrap();
    let eval = |run: &Path| {
        let q = dir().join("qrels.test");
        let out = simcal()
            .args(["eval", "--scores", run.to_str().unwrap(), "--qrels", q.to_str().unwrap(), "--metrics", "all_trec", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["global"]["ranking"]["mean"].clone()
    };
    assert_eq!(eval(&dir().join("results.trunc")), eval(&sorted));
}
