//! Score tables from other tools (as pandas and pyarrow write them: no simcal metadata,
//! categorical ids, float64 scores, labels as float64 with NaN, no rank) give the numbers of
//! the same table written by simcal.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, DictionaryArray, Float64Array, LargeStringArray, StringArray};
use arrow::datatypes::{Float32Type, Int32Type, UInt32Type};

use crate::common::{score_sample, simcal, write_batch};

/// The simcal table at `from` as another tool would write it to `to`: within each query the
/// rows reversed with `reverse` (rank is derived from the scores either way), ids as a dictionary and large
/// strings, scores float64, labels float64 with NaN for null, no rank and no metadata.
fn as_foreign(from: &Path, to: &Path, reverse: bool, label: impl Fn(usize, Option<i32>) -> Option<f64>) {
    let t = simcal::table::read_table(from).unwrap();
    let b = &t.batch;
    let q = b.column_by_name("query_id").unwrap().as_string::<i32>();
    let mut order: Vec<usize> = Vec::with_capacity(b.num_rows());
    for (start, end) in simcal::table::id_runs(q) {
        if reverse {
            order.extend((start..end).rev());
        } else {
            order.extend(start..end);
        }
    }
    let d = b.column_by_name("doc_id").unwrap().as_string::<i32>();
    let s = b.column_by_name("score").unwrap().as_primitive::<Float32Type>();
    let l = b.column_by_name("label").unwrap().as_primitive::<Int32Type>();
    let n = b.column_by_name("query_relevant").unwrap().as_primitive::<UInt32Type>();
    let section = b.column_by_name("section").unwrap().as_string::<i32>();
    let qids: DictionaryArray<Int32Type> = order.iter().map(|&r| q.value(r)).collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("query_id", Arc::new(qids)),
        ("doc_id", Arc::new(LargeStringArray::from(order.iter().map(|&r| d.value(r)).collect::<Vec<_>>()))),
        ("score", Arc::new(Float64Array::from(order.iter().map(|&r| s.value(r) as f64).collect::<Vec<_>>()))),
        (
            "label",
            Arc::new(Float64Array::from(
                order.iter().map(|&r| label(r, l.is_valid(r).then(|| l.value(r))).unwrap_or(f64::NAN)).collect::<Vec<_>>(),
            )),
        ),
        ("query_relevant", Arc::new(arrow::array::Int64Array::from(order.iter().map(|&r| n.value(r) as i64).collect::<Vec<_>>()))),
        ("section", Arc::new(StringArray::from(order.iter().map(|&r| section.value(r)).collect::<Vec<_>>()))),
    ];
    write_batch(to, cols);
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let o = simcal().current_dir(dir).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

#[test]
fn tables_from_other_tools_give_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    score_sample("minilm", &d.join("t.parquet"));
    as_foreign(&d.join("t.parquet"), &d.join("pandas.parquet"), false, |_, l| l.map(f64::from));
    as_foreign(&d.join("t.parquet"), &d.join("reversed.parquet"), true, |_, l| l.map(f64::from));
    // The reader gives the standard types, ranks from the scores, and metadata saying so.
    let f = simcal::table::read_table(&d.join("pandas.parquet")).unwrap();
    let t = simcal::table::read_table(&d.join("t.parquet")).unwrap();
    assert_eq!(f.meta.model, "pandas");
    assert_eq!(f.meta.metric, "unknown");
    assert_eq!(f.meta.k, 100);
    assert!(f.meta.extra["simcal.metadata"].starts_with("none"));
    // Ranks from the scores: the same score at every rank of every query, however the rows
    // are ordered (tied documents may swap places).
    let ranked = |x: &simcal::table::ScoreTable| {
        let (q, s, r) = (
            x.batch.column_by_name("query_id").unwrap().as_string::<i32>().clone(),
            x.batch.column_by_name("score").unwrap().as_primitive::<Float32Type>().clone(),
            x.batch.column_by_name("rank").unwrap().as_primitive::<UInt32Type>().clone(),
        );
        let mut v: Vec<(String, u32, u32)> = (0..q.len()).map(|i| (q.value(i).to_owned(), r.value(i), s.value(i).to_bits())).collect();
        v.sort();
        v
    };
    let reversed = simcal::table::read_table(&d.join("reversed.parquet")).unwrap();
    assert!(ranked(&f) == ranked(&t) && ranked(&reversed) == ranked(&t), "derived ranks differ from the written ones");
    // eval: the same ranking and separation numbers.
    let ev = |table: &str| -> serde_json::Value {
        let o = run(d, &["eval", "--scores", table, "--json"]);
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["global"].take()
    };
    assert_eq!(ev("pandas.parquet"), ev("t.parquet"));
    // fit: the same thresholds and maps (the artifact names each table's model).
    let fit = |table: &str, out: &str| -> serde_json::Value {
        run(d, &["fit", "--scores", table, "--bootstrap", "0", "--group-by", "section", "--out", out]);
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join(out)).unwrap()).unwrap();
        serde_json::json!([v["global"].take(), v["groups"].take()])
    };
    assert_eq!(fit("pandas.parquet", "a.json"), fit("t.parquet", "b.json"));
    // apply and fuse take it too.
    run(d, &["apply", "--calibration", "a.json", "--scores", "pandas.parquet", "--out", "applied.parquet"]);
    run(d, &["fuse", "--run", "pandas.parquet", "--run", "t.parquet", "--out", "fused.parquet"]);
}

#[test]
fn other_tools_tables_are_refused_by_row_when_they_cannot_be_read_right() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    score_sample("minilm", &d.join("t.parquet"));
    // A fractional label.
    as_foreign(&d.join("t.parquet"), &d.join("half.parquet"), false, |r, l| if r == 5 { Some(0.5) } else { l.map(f64::from) });
    let o = simcal().current_dir(d).args(["fit", "--scores", "half.parquet", "--out", "x.json"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("half.parquet") && err.contains("column label: 0.5 is not a whole number"), "{err}");
    // A query's rows apart, without rank.
    let t = simcal::table::read_table(&d.join("t.parquet")).unwrap();
    let b = &t.batch;
    let take = |name: &str| -> ArrayRef {
        let c = b.column_by_name(name).unwrap();
        let idx = arrow::array::UInt32Array::from(
            (0..b.num_rows() as u32)
                .map(|i| {
                    if i == 0 {
                        150
                    } else if i == 150 {
                        0
                    } else {
                        i
                    }
                })
                .collect::<Vec<_>>(),
        );
        arrow::compute::take(c.as_ref(), &idx, None).unwrap()
    };
    write_batch(&d.join("apart.parquet"), vec![("query_id", take("query_id")), ("doc_id", take("doc_id")), ("score", take("score"))]);
    let qrels = crate::common::data_dir().join("qrels.tsv");
    let o = simcal().current_dir(d).args(["eval", "--scores", "apart.parquet", "--qrels"]).arg(&qrels).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("apart.parquet") && err.contains("not together"), "{err}");
    // A simcal table whose metadata lost its version is damaged, not foreign.
    let pairs: Vec<parquet::file::metadata::KeyValue> =
        vec![parquet::file::metadata::KeyValue::new("simcal.model".to_owned(), "m".to_owned())];
    let props = parquet::file::properties::WriterProperties::builder().set_key_value_metadata(Some(pairs)).build();
    let file = std::fs::File::create(d.join("damaged.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, b.schema(), Some(props)).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
    let o = simcal().current_dir(d).args(["eval", "--scores", "damaged.parquet"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no simcal.schema_version"));
}
