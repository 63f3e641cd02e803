//! An approximate index's hits against the exact top k (`simcal eval --reference`): recall@c of
//! the exact neighbours, recounted here from the rows; and `simcal fit --qrels`, which labels an
//! index's unlabeled hits as the exact table was labeled.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use simcal::table::{ScoreTable, TableView};

use crate::common::{data_dir, score_sample, simcal};

/// Rows of a table: (query, doc, rank, score).
fn rows(t: &ScoreTable) -> Vec<(String, String, u32, f32)> {
    let v = TableView::new(t, Path::new("t")).unwrap();
    let (q, d, r) = (v.query_id.unwrap(), v.doc_id.unwrap(), v.rank.unwrap());
    (0..v.len()).map(|i| (q.value(i).to_owned(), d.value(i).to_owned(), r.value(i), v.score[i])).collect()
}

/// A table of `rows` (with or without the rank column), unlabeled, as another tool writes it:
/// no simcal metadata.
fn write(path: &Path, rows: &[(String, String, u32, f32)], with_rank: bool) {
    let mut fields = vec![Field::new("query_id", DataType::Utf8, false), Field::new("doc_id", DataType::Utf8, false)];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()))),
    ];
    if with_rank {
        fields.push(Field::new("rank", DataType::UInt32, false));
        cols.push(Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.2))));
    }
    fields.push(Field::new("score", DataType::Float32, false));
    cols.push(Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.3))));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn eval_reference(args: &[&str]) -> serde_json::Value {
    let o = simcal().arg("eval").args(args).args(["--json", "--per-query"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
// Long: an approximate table built from the exact one, the recount, then the command's numbers
// checked against it with and without ranks.
fn recall_of_the_exact_neighbours_is_counted_per_query() {
    let dir = tempfile::tempdir().unwrap();
    let exact_path = dir.path().join("exact.parquet");
    score_sample("minilm", &exact_path);
    let exact = rows(&simcal::table::read_table(&exact_path).unwrap());
    // The "index": per query, loses some exact neighbours (a pattern that varies by query and
    // rank), finds others (a document from another query's list) in their place, and lists its
    // rows in reverse order; one query is missing and one is not in the reference.
    let queries: Vec<String> = exact.iter().map(|r| r.0.clone()).collect::<Vec<_>>().into_iter().fold(Vec::new(), |mut v, q| {
        if v.last() != Some(&q) {
            v.push(q);
        }
        v
    });
    let mut approx = Vec::new();
    for (qi, q) in queries.iter().enumerate().skip(1) {
        let mut mine: Vec<_> = exact.iter().filter(|r| &r.0 == q).cloned().collect();
        for r in &mut mine {
            if (qi * 31 + r.2 as usize * 17).is_multiple_of(9) {
                r.1 = format!("other-{}", r.2);
            }
        }
        mine.reverse();
        approx.extend(mine);
    }
    approx.push(("not-a-query".into(), "d".into(), 1, 0.5));
    let approx_path = dir.path().join("approx.parquet");
    write(&approx_path, &approx, true);
    // The recount: for each exact query, the share of its first c documents among the index's
    // first c (by rank).
    let by_query = |t: &[(String, String, u32, f32)]| {
        let mut m: HashMap<String, Vec<(u32, String)>> = HashMap::new();
        for r in t {
            m.entry(r.0.clone()).or_default().push((r.2, r.1.clone()));
        }
        for v in m.values_mut() {
            v.sort();
        }
        m
    };
    let (e, a) = (by_query(&exact), by_query(&approx));
    let recall = |q: &str, c: usize| {
        let truth: HashSet<&String> = e[q].iter().take(c).map(|x| &x.1).collect();
        let got = a.get(q).map_or(0, |v| v.iter().take(c).filter(|x| truth.contains(&x.1)).count());
        got as f64 / truth.len() as f64
    };
    let (ap, ep) = (approx_path.to_str().unwrap(), exact_path.to_str().unwrap());
    for with_rank in [true, false] {
        if !with_rank {
            // Without ranks the index's rows are ordered by score: the same order here.
            write(&approx_path, &approx, false);
        }
        let doc = eval_reference(&["--scores", ap, "--reference", ep, "--cutoffs", "1", "10", "50"]);
        assert_eq!(doc["cutoffs"], serde_json::json!([1, 10, 50]));
        assert_eq!((doc["queries"].as_u64(), doc["missing"].as_u64(), doc["not_in_reference"].as_u64()), (Some(300), Some(1), Some(1)));
        for (i, c) in [1usize, 10, 50].into_iter().enumerate() {
            let name = format!("recall@{c}");
            let mut sum = 0.0;
            for q in &queries {
                let want = recall(q, c);
                let got = doc["per_query"][q.as_str()][&name].as_f64().unwrap();
                assert!((got - want).abs() < 1e-12, "{q} {name}: {got} vs {want}");
                sum += want;
            }
            let mean = doc["mean"][&name].as_f64().unwrap();
            assert!((mean - sum / 300.0).abs() < 1e-12, "{name}: {mean}");
            // The index really is approximate at this cutoff, and not useless.
            assert!(mean < 1.0 && mean > 0.5, "{name} (cutoff {i}): {mean}");
        }
    }
    // Defaults: 1, 10 and the exact table's k.
    let doc = eval_reference(&["--scores", ap, "--reference", ep]);
    assert_eq!(doc["cutoffs"], serde_json::json!([1, 10, 100]));
    // The exact table against itself: every neighbour found.
    let doc = eval_reference(&["--scores", ep, "--reference", ep]);
    assert_eq!(doc["mean"]["recall@100"].as_f64(), Some(1.0));
    assert_eq!(doc["below_one"]["recall@100"].as_u64(), Some(0));
    // A cutoff of 0, or one deeper than the reference's top k, is refused, naming it.
    for (c, words) in [("0", "cutoff 0"), ("101", "cutoff 101 is deeper than the reference's top k (100)")] {
        let o = simcal().args(["eval", "--scores", ap, "--reference", ep, "--cutoffs", c]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(words), "{err}");
    }
    // A document twice in one query's hits would count twice: refused, naming the rows.
    let mut twice = approx.clone();
    twice[1].1 = twice[0].1.clone();
    write(&approx_path, &twice, true);
    let o = simcal().args(["eval", "--scores", ap, "--reference", ep]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("rows 1 and 2") && err.contains("twice"), "{err}");
}

#[test]
fn fit_labels_an_index_hits_from_the_qrels() {
    let dir = tempfile::tempdir().unwrap();
    let labeled = dir.path().join("labeled.parquet");
    score_sample("minilm", &labeled);
    let unlabeled = dir.path().join("hits.parquet");
    write(&unlabeled, &rows(&simcal::table::read_table(&labeled).unwrap()), true);
    let fit = |table: &Path, qrels: Option<&Path>, out: &str| {
        let out = dir.path().join(out);
        let mut cmd = simcal();
        cmd.args(["fit", "--bootstrap", "0", "--confidence", "0.9", "--target-precision", "0.8", "--scores"])
            .arg(table)
            .arg("--out")
            .arg(&out);
        if let Some(q) = qrels {
            cmd.arg("--qrels").arg(q);
        }
        let o = cmd.output().unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned(), out)
    };
    let (ok, err, _) = fit(&unlabeled, None, "none.json");
    assert!(!ok && err.contains("label"), "{err}");
    let (ok, err, a) = fit(&unlabeled, Some(&data_dir().join("qrels.tsv")), "a.json");
    assert!(ok, "{err}");
    let (ok, err, b) = fit(&labeled, None, "b.json");
    assert!(ok, "{err}");
    // A TREC run of the same hits (no labels, no ranks' column: trec_eval's format), fitted with
    // the qrels, is the same calibration.
    let run = dir.path().join("hits.run");
    let text: String = rows(&simcal::table::read_table(&labeled).unwrap())
        .iter()
        .map(|(q, d, r, s)| format!("{q} Q0 {d} {r} {} tag\n", f64::from(*s)))
        .collect();
    std::fs::write(&run, text).unwrap();
    let (ok, err, c) = fit(&run, Some(&data_dir().join("qrels.tsv")), "c.json");
    assert!(ok, "{err}");
    let doc = |p: &Path| {
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        // The hits' file names no model or metric (another tool wrote it): all else is equal.
        for k in ["created", "scores_sha256", "model", "metric"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert!(doc(&a) == doc(&b), "fit --qrels on the unlabeled hits differs from the labeled table's fit");
    // A TREC run records no k (0): all else is equal.
    let (mut c, mut b) = (doc(&c), doc(&b));
    assert_eq!(c["k"], 0);
    c.as_object_mut().unwrap().remove("k");
    b.as_object_mut().unwrap().remove("k");
    assert!(c == b, "fit --qrels on the TREC run differs from the labeled table's fit");
    // Histograms carry their own labels: --qrels with them is refused.
    let o = simcal().args(["fit", "--from-histograms", "h.json", "--qrels", "q.tsv", "--out", "x.json"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
}
