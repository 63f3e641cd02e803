//! Fusion: golden values from ranx `fuse` (tests/golden/make_fuse.py) for every method and
//! normalisation, the command line's table (labels, carried columns, metadata), bad inputs,
//! and RRF of the data/ sample's two encoders evaluated with `simcal eval`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float32Type, Int32Type, UInt32Type};
use simcal::fuse::{fuse, read_run, FuseOptions, Method, Norm, RunInput};
use simcal::table::{read_table, sha256_file};

use crate::common::{data_dir, score_sample, simcal};

fn golden_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/golden")
}

fn golden() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(golden_dir().join("fuse_golden.json")).unwrap()).unwrap()
}

fn fixture() -> Vec<PathBuf> {
    ["fuse_a.parquet", "fuse_b.txt", "fuse_c.parquet"].iter().map(|f| golden_dir().join(f)).collect()
}

fn method(name: &str) -> Method {
    match name {
        "rrf" => Method::Rrf,
        "combsum" => Method::CombSum,
        "combmnz" => Method::CombMnz,
        "max" => Method::Max,
        "wsum" => Method::WSum,
        _ => panic!("{name}"),
    }
}

fn norm(name: &str) -> Norm {
    match name {
        "minmax" => Norm::MinMax,
        "zscore" => Norm::ZScore,
        "max" => Norm::Max,
        "sum" => Norm::Sum,
        "rank" => Norm::Rank,
        "none" => Norm::None,
        _ => panic!("{name}"),
    }
}

fn options(case: &serde_json::Value, k: usize) -> FuseOptions {
    FuseOptions {
        method: method(case["method"].as_str().unwrap()),
        norm: norm(case["norm"].as_str().unwrap()),
        rrf_k: case["rrf_k"].as_f64().unwrap(),
        weights: case["weights"].as_array().map(|w| w.iter().map(|x| x.as_f64().unwrap()).collect()),
        k,
    }
}

/// The golden fused list of every query: (doc, score) best first.
fn want(case: &serde_json::Value) -> HashMap<String, Vec<(String, f64)>> {
    case["queries"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(q, v)| {
            let list = v.as_array().unwrap().iter().map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_f64().unwrap())).collect();
            (q.clone(), list)
        })
        .collect()
}

#[test]
fn every_method_and_norm_matches_ranx() {
    let g = golden();
    let runs: Vec<RunInput> = fixture().iter().map(|p| read_run(p).unwrap()).collect();
    let cases = g["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 32);
    for case in cases {
        let name = format!("{} / {} / k {} / weights {}", case["method"], case["norm"], case["rrf_k"], case["weights"]);
        let fused = fuse(&runs, &options(case, 1000)).unwrap();
        let want = want(case);
        assert_eq!(fused.queries.len(), want.len(), "{name}: queries");
        for q in &fused.queries {
            let id = q.id(&runs);
            let w = &want[id];
            let got: Vec<(&str, f64)> = q.hits.iter().map(|h| (runs[h.run as usize].doc_id.value(h.row as usize), h.score)).collect();
            assert_eq!(got.len(), w.len(), "{name}: {id}: {got:?} vs {w:?}");
            for ((gd, gs), (wd, ws)) in got.iter().zip(w) {
                assert_eq!(gd, wd, "{name}: {id}: order {got:?} vs {w:?}");
                assert!((gs - ws).abs() <= 1e-12 * ws.abs().max(1.0), "{name}: {id} {gd}: {gs} vs {ws}");
            }
        }
    }
}

#[test]
fn k_cuts_the_fused_lists_after_ordering() {
    let g = golden();
    let runs: Vec<RunInput> = fixture().iter().map(|p| read_run(p).unwrap()).collect();
    let case = &g["cases"][7]; // combsum / zscore
    let want = want(case);
    let fused = fuse(&runs, &options(case, 3)).unwrap();
    for q in &fused.queries {
        let w = &want[q.id(&runs)];
        let got: Vec<&str> = q.hits.iter().map(|h| runs[h.run as usize].doc_id.value(h.row as usize)).collect();
        let w: Vec<&str> = w.iter().take(3).map(|(d, _)| d.as_str()).collect();
        assert_eq!(got, w);
    }
}

/// Scores a few units in the last place apart, in shuffled file order with exact ties: each
/// list and each fused list must come out in exact score order, ties in file order, whatever
/// k cuts (fusion sorts on packed words whose low bits hold positions, not the key's).
#[test]
fn scores_a_few_ulps_apart_are_ordered_exactly() {
    use arrow::array::StringArray;
    let n = 600u64;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // ulps above 0.5: 0..300 each twice (exact ties), shuffled; some beyond a 2^16 boundary.
    let mut ulps: Vec<u64> = (0..n).map(|i| if i % 5 == 0 { 65_500 + i / 2 } else { i / 2 }).collect();
    for i in (1..ulps.len()).rev() {
        ulps.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    let scores: Vec<f64> = ulps.iter().map(|&u| f64::from_bits(0.5f64.to_bits() + u)).collect();
    let docs: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
    let run = |name: &str, rows: std::ops::Range<usize>| {
        let len = rows.len();
        RunInput::from_rows(
            name,
            StringArray::from(vec!["q"; len]),
            StringArray::from(docs[rows.clone()].iter().map(String::as_str).collect::<Vec<_>>()),
            scores[rows].to_vec(),
        )
        .unwrap()
    };
    let doc = |runs: &[RunInput], h: &simcal::fuse::Hit| runs[h.run as usize].doc_id.value(h.row as usize).to_owned();
    // Score descending, ties in file order (one run: each list's own order, which RRF keeps).
    let mut want: Vec<usize> = (0..n as usize).collect();
    want.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let want: Vec<String> = want.iter().map(|&i| docs[i].clone()).collect();
    let one = [run("all", 0..n as usize)];
    // Two runs holding half the documents each: the fused order (the max of a document's
    // scores, ties by first appearance: the first run's documents first) differs from the
    // order in which documents were first seen.
    let two = [run("a", 0..n as usize / 2), run("b", n as usize / 2..n as usize)];
    for (runs, method, k) in [
        (&one[..], Method::Rrf, 1000),
        (&one[..], Method::CombSum, 97),
        (&two[..], Method::Max, 1000),
        (&two[..], Method::Max, 97),
        (&two[..], Method::Max, 7),
    ] {
        let o = FuseOptions { norm: Norm::None, k, ..FuseOptions::new(method) };
        let fused = fuse(runs, &o).unwrap();
        let got: Vec<String> = fused.queries[0].hits.iter().map(|h| doc(runs, h)).collect();
        assert_eq!(got, want[..k.min(want.len())], "{method:?} of {} runs, k = {k}", runs.len());
    }
}

fn fuse_cli(args: &[&str], out: &Path) -> std::process::Output {
    let mut c = simcal();
    c.arg("fuse");
    for r in fixture() {
        c.arg("--run").arg(r);
    }
    c.args(args).arg("--out").arg(out).output().unwrap()
}

#[test]
fn cli_writes_a_labeled_score_table_naming_its_inputs() {
    let g = golden();
    let case = g["cases"].as_array().unwrap().iter().find(|c| c["method"] == "combmnz" && c["norm"] == "zscore").unwrap();
    let want = want(case);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fused.parquet");
    let o = fuse_cli(&["--method", "combmnz", "--norm", "zscore", "-k", "50"], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = read_table(&out).unwrap();
    let b = &t.batch;
    let q = b.column_by_name("query_id").unwrap().as_string::<i32>();
    let d = b.column_by_name("doc_id").unwrap().as_string::<i32>();
    let rank = b.column_by_name("rank").unwrap().as_primitive::<UInt32Type>();
    let score = b.column_by_name("score").unwrap().as_primitive::<Float32Type>();
    let label = b.column_by_name("label").unwrap().as_primitive::<Int32Type>();
    let rel = b.column_by_name("query_relevant").unwrap().as_primitive::<UInt32Type>();
    let section = b.column_by_name("section").unwrap().as_string::<i32>();
    assert_eq!(b.num_rows(), want.values().map(Vec::len).sum::<usize>());
    let labels_a = &g["labels_a"];
    let mut seen = 0;
    for r in 0..b.num_rows() {
        let (qid, doc) = (q.value(r), d.value(r));
        let pos = rank.value(r) as usize - 1;
        let (wd, ws) = &want[qid][pos];
        assert_eq!(doc, wd, "{qid} rank {}", pos + 1);
        assert_eq!(score.value(r), *ws as f32);
        // Labels come from A (the labeled table) where A lists the document, else null.
        match labels_a[qid][doc].as_i64() {
            Some(l) => {
                assert!(label.is_valid(r) && label.value(r) as i64 == l, "{qid} {doc}");
                seen += 1;
            }
            None => assert!(label.is_null(r), "{qid} {doc}: {}", label.value(r)),
        }
        // query_relevant and section come from the tables; q10 is only in the TREC run.
        if qid == "q10" {
            assert!(rel.is_null(r) && section.is_null(r));
        } else {
            assert_eq!(rel.value(r), 3);
            assert_eq!(section.value(r), format!("s{}", qid[1..].parse::<u32>().unwrap() % 3));
        }
    }
    assert!(seen > 20, "labels carried: {seen}");
    let m = &t.meta;
    assert_eq!(m.model, "combmnz(fuse_a+bm25+fuse_c)");
    assert_eq!(m.metric, "combmnz-zscore");
    assert_eq!(m.backend, "fuse");
    assert_eq!(m.k, 50);
    // A TREC run has no hashes of queries and corpus, so the inputs share none.
    assert_eq!(m.queries_sha256, "");
    assert_eq!(m.extra["simcal.fuse.method"], "combmnz");
    assert_eq!(m.extra["simcal.fuse.norm"], "zscore");
    let inputs: serde_json::Value = serde_json::from_str(&m.extra["simcal.fuse.inputs"]).unwrap();
    let inputs = inputs.as_array().unwrap();
    assert_eq!(inputs.len(), 3);
    for (i, p) in fixture().iter().enumerate() {
        assert_eq!(inputs[i]["path"], p.display().to_string());
        assert_eq!(inputs[i]["sha256"], sha256_file(p).unwrap());
        assert_eq!(inputs[i]["format"], if i == 1 { "trec" } else { "table" });
    }
}

#[test]
fn cli_labels_from_qrels_and_writes_trec() {
    let dir = tempfile::tempdir().unwrap();
    let qrels = dir.path().join("qrels.txt");
    std::fs::write(&qrels, "q00 0 d0005 2\nq00 0 d0011 0\nq10 0 zzz 1\n").unwrap();
    let out = dir.path().join("fused.parquet");
    let o = fuse_cli(&["--qrels", qrels.to_str().unwrap()], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = read_table(&out).unwrap();
    let b = &t.batch;
    let q = b.column_by_name("query_id").unwrap().as_string::<i32>();
    let d = b.column_by_name("doc_id").unwrap().as_string::<i32>();
    let label = b.column_by_name("label").unwrap().as_primitive::<Int32Type>();
    let rel = b.column_by_name("query_relevant").unwrap().as_primitive::<UInt32Type>();
    for r in 0..b.num_rows() {
        let want = match (q.value(r), d.value(r)) {
            ("q00", "d0005") => Some(2),
            ("q00" | "q10", _) => Some(0),
            _ => None,
        };
        assert_eq!(label.is_valid(r).then(|| label.value(r)), want, "{} {}", q.value(r), d.value(r));
        let want_rel = match q.value(r) {
            "q00" | "q10" => Some(1),
            _ => None,
        };
        assert_eq!(rel.is_valid(r).then(|| rel.value(r)), want_rel);
    }
    let trec = dir.path().join("fused.txt");
    let o = fuse_cli(&["--format", "trec", "--model", "hybrid"], &trec);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&trec).unwrap();
    assert_eq!(text.lines().count(), b.num_rows());
    assert!(text.lines().all(|l| l.ends_with(" hybrid")));
    // The fused TREC run reads back as a run.
    let back = read_run(&trec).unwrap();
    assert_eq!(back.len(), b.num_rows());
}

fn refused(args: &[&str], runs: &[&Path], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fused.parquet");
    let mut c = simcal();
    c.arg("fuse");
    for r in runs {
        c.arg("--run").arg(r);
    }
    let o = c.args(args).arg("--out").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: wanted {needle:?} in {err}");
    assert!(!out.exists(), "{args:?}: output left behind");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary files left behind");
}

#[test]
fn bad_inputs_are_refused_with_file_and_row() {
    let f = fixture();
    let (a, b) = (f[0].as_path(), f[1].as_path());
    refused(&["--method", "wsum", "--weights", "1,2,3"], &[a, b], "3 weights for 2 runs");
    refused(&["--method", "combsum", "--weights", "1,2"], &[a, b], "--weights apply to rrf and wsum");
    refused(&["--weights", "1,nan"], &[a, b], "weight 2 (NaN) is not a finite number");
    refused(&["-k", "0"], &[a, b], "k must be at least 1");
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let empty = p("empty.txt", "\n");
    refused(&[], &[a, empty.as_path()], &format!("{}: the run is empty", empty.display()));
    let dup = p("dup.txt", "q1 Q0 x 1 0.9 t\nq1 Q0 y 2 0.8 t\nq2 Q0 x 1 0.7 t\nq1 Q0 x 3 0.1 t\n");
    refused(
        &[],
        &[a, dup.as_path()],
        &format!("{}: line 4 (id \"x\"): document \"x\" is listed twice for query \"q1\" (also at line 1)", dup.display()),
    );
    let short = p("short.txt", "q1 Q0 x 1 0.9 t\nq1 Q0 y 2\n");
    refused(&[], &[short.as_path()], &format!("{}: line 2: expected 6 fields", short.display()));
    let nan = p("nan.txt", "q1 Q0 x 1 0.9 t\nq1 Q0 y 2 NaN t\n");
    refused(&[], &[nan.as_path()], &format!("{}: line 2 (id \"y\"): score NaN is not finite", nan.display()));
    // A table whose labels disagree with A's, and one listing a document twice.
    let t = read_table(a).unwrap();
    let mut cols = t.batch.columns().to_vec();
    let li = t.batch.schema().index_of("label").unwrap();
    let bumped: arrow::array::Int32Array = cols[li].as_primitive::<Int32Type>().iter().map(|v| v.map(|x| x + 1)).collect();
    cols[li] = std::sync::Arc::new(bumped);
    let relabeled = dir.path().join("relabeled.parquet");
    let table = |cols: Vec<arrow::array::ArrayRef>| {
        simcal::table::ScoreTable::new(arrow::array::RecordBatch::try_new(t.batch.schema(), cols).unwrap(), t.meta.clone())
    };
    simcal::table::write_parquet(&table(cols), &relabeled).unwrap();
    refused(&[], &[a, relabeled.as_path()], &format!("{}: row 0 (id \"", relabeled.display()));
    refused(
        &[],
        &[a, relabeled.as_path()],
        &format!("disagrees with label {} for the same query and document in {} (row 0)", g0(&t), a.display()),
    );
    let mut cols = t.batch.columns().to_vec();
    let di = t.batch.schema().index_of("doc_id").unwrap();
    let docs = t.batch.column(di).as_string::<i32>();
    let twice: arrow::array::StringArray = (0..docs.len()).map(|r| Some(docs.value(if r == 1 { 0 } else { r }))).collect();
    cols[di] = std::sync::Arc::new(twice);
    let dup_table = dir.path().join("dup.parquet");
    simcal::table::write_parquet(&table(cols), &dup_table).unwrap();
    refused(
        &[],
        &[dup_table.as_path()],
        &format!("{}: row 1 (id \"{}\"): document \"{}\" is listed twice", dup_table.display(), docs.value(0), docs.value(0)),
    );
    let missing = dir.path().join("missing.txt");
    refused(&[], &[a, missing.as_path()], "missing.txt");
    // Scores beyond float32 are refused at the source, naming the run, line and document.
    let huge = p("huge.txt", "q1 Q0 x 1 1e40 t\nq1 Q0 y 2 0.5 t\n");
    refused(
        &["--method", "combsum", "--norm", "none"],
        &[huge.as_path()],
        &format!(
            "{}: line 1 (id \"x\"): the fused score 1e40 of document \"x\" for query \"q1\" is beyond float32's range",
            huge.display()
        ),
    );
    let plain = p("plain.txt", "q1 Q0 x 1 2 t\nq1 Q0 y 2 1 t\n");
    refused(&["--method", "wsum", "--norm", "minmax", "--weights", "1e300,1e300"], &[plain.as_path(), a], "scale --weights down");
}

/// The label of the table's first row.
fn g0(t: &simcal::table::ScoreTable) -> i32 {
    t.batch.column_by_name("label").unwrap().as_primitive::<Int32Type>().value(0)
}

/// Reciprocal rank fusion written out plainly, for the sample test.
fn plain_rrf(tables: &[&Path], k: f64) -> HashMap<String, Vec<(String, f64)>> {
    let mut acc: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for p in tables {
        let t = read_table(p).unwrap();
        let b = &t.batch;
        let q = b.column_by_name("query_id").unwrap().as_string::<i32>();
        let d = b.column_by_name("doc_id").unwrap().as_string::<i32>();
        let rank = b.column_by_name("rank").unwrap().as_primitive::<UInt32Type>();
        for r in 0..b.num_rows() {
            *acc.entry(q.value(r).to_owned()).or_default().entry(d.value(r).to_owned()).or_default() += 1.0 / (k + rank.value(r) as f64);
        }
    }
    acc.into_iter()
        .map(|(q, docs)| {
            let mut v: Vec<(String, f64)> = docs.into_iter().collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1));
            (q, v)
        })
        .collect()
}

#[test]
fn rrf_of_the_sample_encoders_is_evaluated() {
    let dir = tempfile::tempdir().unwrap();
    let qrels = data_dir().join("qrels.tsv");
    let mut tables = Vec::new();
    for enc in ["minilm", "lsa"] {
        let out = dir.path().join(format!("{enc}.parquet"));
        score_sample(enc, &out);
        tables.push(out);
    }
    let fused = dir.path().join("rrf.parquet");
    let o = simcal().args(["fuse", "--run"]).arg(&tables[0]).arg("--run").arg(&tables[1]).arg("--out").arg(&fused).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The fused ranking is RRF's: each query's top 10 against a plain computation (scores
    // compared, as near ties may swap between f64 and the table's f32).
    let plain = plain_rrf(&[&tables[0], &tables[1]], 60.0);
    let t = read_table(&fused).unwrap();
    let b = &t.batch;
    let q = b.column_by_name("query_id").unwrap().as_string::<i32>();
    let score = b.column_by_name("score").unwrap().as_primitive::<Float32Type>();
    let rank = b.column_by_name("rank").unwrap().as_primitive::<UInt32Type>();
    for r in 0..b.num_rows() {
        let pos = rank.value(r) as usize - 1;
        if pos < 10 {
            let want = plain[q.value(r)][pos].1;
            assert!((score.value(r) as f64 - want).abs() < 1e-7, "{} rank {}: {} vs {want}", q.value(r), pos + 1, score.value(r));
        }
    }
    assert_eq!(plain.len(), 300);
    // Evaluated from the carried labels and from the qrels: the same numbers.
    let eval = |extra: &[&str]| -> serde_json::Value {
        let o = simcal().args(["eval", "--json", "--scores"]).arg(&fused).args(extra).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let from_table = eval(&[]);
    let from_qrels = eval(&["--qrels", qrels.to_str().unwrap()]);
    let mean = &from_table["global"]["ranking"]["mean"];
    assert_eq!(mean, &from_qrels["global"]["ranking"]["mean"]);
    let ndcg = mean["ndcg_cut_10"].as_f64().unwrap();
    assert!(ndcg > 0.5 && ndcg < 1.0, "nDCG@10 {ndcg}");
    assert_eq!(from_table["model"], "rrf(minilm+lsa)");
}
