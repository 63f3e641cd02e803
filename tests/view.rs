//! The one typed, validated view of a score table that fit, eval and apply read.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Float64Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{Field, Schema};
use simcal::calibrate::{fit_table, FitOptions};
use simcal::table::{ScoreTable, TableMeta, TableView};

/// Two queries × three rows; `change` may replace or drop a column by name.
fn table(change: &[(&str, Option<ArrayRef>)]) -> ScoreTable {
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        ("query_id", Arc::new(StringArray::from(vec!["a", "a", "a", "b", "b", "b"]))),
        ("doc_id", Arc::new(StringArray::from(vec!["x", "y", "z", "x", "y", "z"]))),
        ("rank", Arc::new(UInt32Array::from(vec![1, 2, 3, 1, 2, 3]))),
        ("score", Arc::new(Float32Array::from(vec![0.9, 0.5, 0.1, 0.8, 0.4, 0.2]))),
        ("label", Arc::new(Int32Array::from(vec![Some(1), Some(0), None, Some(0), Some(1), Some(0)]))),
        ("section", Arc::new(StringArray::from(vec![Some("s"), Some("s"), Some("s"), None, None, None]))),
    ];
    for (name, c) in change {
        cols.retain(|(n, _)| n != name);
        if let Some(c) = c {
            cols.push((name, Arc::clone(c)));
        }
    }
    let fields: Vec<Field> = cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols.into_iter().map(|(_, a)| a).collect()).unwrap();
    ScoreTable::new(batch, TableMeta::default())
}

fn refused(t: &ScoreTable) -> String {
    TableView::new(t, Path::new("t.parquet")).expect_err("refused").to_string()
}

#[test]
fn the_view_holds_typed_checked_columns() {
    let t = table(&[]);
    let v = TableView::new(&t, Path::new("t.parquet")).unwrap();
    assert_eq!(v.len(), 6);
    assert_eq!(v.score, &[0.9, 0.5, 0.1, 0.8, 0.4, 0.2]);
    assert_eq!(v.query_runs("test").unwrap(), vec![(0, 3), (3, 6)]);
    assert_eq!(v.labels().unwrap().len(), 6);
    let g = v.groups(&["section".to_owned()]).unwrap();
    assert_eq!(g.keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(), ["section=null", "section=s"]);
    assert_eq!(g.index, [1, 1, 1, 0, 0, 0]);
    assert_eq!(v.groups(&[]).unwrap().keys[0].0, "all");
}

#[test]
fn the_view_refuses_what_no_reader_could_use() {
    // A standard column of another type is named, with both types.
    let f64_scores: ArrayRef = Arc::new(Float64Array::from(vec![0.9, 0.5, 0.1, 0.8, 0.4, 0.2]));
    let e = refused(&table(&[("score", Some(f64_scores))]));
    assert!(e.contains("t.parquet") && e.contains("column score is Float64, expected Float32"), "{e}");
    // A non-finite or null score: the row and its query.
    let nan: ArrayRef = Arc::new(Float32Array::from(vec![0.9, 0.5, 0.1, 0.8, f32::NAN, 0.2]));
    let e = refused(&table(&[("score", Some(nan))]));
    assert!(e.contains("row 4") && e.contains("\"b\"") && e.contains("score is NaN"), "{e}");
    let null: ArrayRef = Arc::new(Float32Array::from(vec![Some(0.9), None, Some(0.1), Some(0.8), Some(0.4), Some(0.2)]));
    assert!(refused(&table(&[("score", Some(null))])).contains("score is null"));
    // No score at all.
    assert!(refused(&table(&[("score", None)])).contains("no score column"));
    // A null id or rank.
    let ids: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("a"), None, Some("b"), Some("b"), Some("b")]));
    let e = refused(&table(&[("query_id", Some(ids))]));
    assert!(e.contains("row 2") && e.contains("query_id is null"), "{e}");
    let ranks: ArrayRef = Arc::new(UInt32Array::from(vec![Some(1), Some(2), Some(3), None, Some(2), Some(3)]));
    assert!(refused(&table(&[("rank", Some(ranks))])).contains("rank is null"));
    // What a step needs and the table lacks, with what needs it.
    let t = table(&[("query_id", None), ("label", None)]);
    let v = TableView::new(&t, Path::new("t.parquet")).unwrap();
    let e = v.query_runs("cross-fitting").unwrap_err().to_string();
    assert!(e.contains("no query_id column: cross-fitting needs the queries"), "{e}");
    assert!(v.labels().unwrap_err().to_string().contains("no labels"));
    let unlabeled: ArrayRef = Arc::new(Int32Array::from(vec![None::<i32>; 6]));
    let t = table(&[("label", Some(unlabeled))]);
    assert!(TableView::new(&t, Path::new("t.parquet")).unwrap().labels().unwrap_err().to_string().contains("score it with `qrels`"));
}

#[test]
fn fit_reads_through_the_view() {
    // fit refuses what the view refuses, with the same words.
    let nan: ArrayRef = Arc::new(Float32Array::from(vec![0.9, 0.5, f32::INFINITY, 0.8, 0.4, 0.2]));
    let t = table(&[("score", Some(nan))]);
    let e = fit_table(&t, Path::new("t.parquet"), &FitOptions { bootstrap: 0, folds: 1, ..FitOptions::default() }).unwrap_err();
    assert!(e.to_string().contains("row 2") && e.to_string().contains("score is inf"), "{e}");
}

#[test]
fn group_keys_cannot_collide() {
    // A null and the text "null"; values with the separators in them.
    let a: ArrayRef = Arc::new(StringArray::from(vec![None, Some("null"), Some("x,b=y"), Some("x"), Some("x"), Some("plain")]));
    let b: ArrayRef = Arc::new(StringArray::from(vec![Some("1"), Some("1"), Some("1"), Some("b=y"), Some("b=y"), Some("1")]));
    let t = table(&[("a", Some(a)), ("b", Some(b))]);
    let v = TableView::new(&t, Path::new("t.parquet")).unwrap();
    let g = v.groups(&["a".to_owned(), "b".to_owned()]).unwrap();
    let keys: Vec<&str> = g.keys.iter().map(|k| k.0.as_str()).collect();
    // Five distinct rows of values, five groups: rows 3 and 4 share theirs.
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(keys.contains(&"a=null,b=1") && keys.contains(&"a=\"null\",b=1") && keys.contains(&"a=plain,b=1"), "{keys:?}");
    assert!(keys.contains(&"a=\"x,b=y\",b=1") && keys.contains(&"a=x,b=\"b=y\""), "{keys:?}");
    assert_eq!(g.index[3], g.index[4]);
}

#[test]
fn runs_found_by_the_reader_stand_only_for_the_batch_they_were_found_in() {
    let batch = |ids: Vec<&str>| {
        let scores: Vec<f32> = (0..ids.len()).map(|i| 1.0 - i as f32 / 10.0).collect();
        let docs: Vec<String> = (0..ids.len()).map(|i| format!("d{i}")).collect();
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("query_id", Arc::new(StringArray::from(ids))),
            ("doc_id", Arc::new(StringArray::from(docs))),
            ("score", Arc::new(Float32Array::from(scores))),
        ];
        RecordBatch::try_from_iter(cols).unwrap()
    };
    let mut t = simcal::table::table_from_batch(Path::new("t"), batch(vec!["a", "a", "b"])).unwrap();
    assert_eq!(t.query_runs(), Some(&[(0, 2), (2, 3)][..]));
    // Another batch (other queries) put in its place: the runs found before no longer count.
    t.batch = batch(vec!["a", "b", "b"]);
    assert_eq!(t.query_runs(), None);
    let view = TableView::new(&t, Path::new("t")).unwrap();
    assert_eq!(view.query_runs("test").unwrap().as_ref(), &[(0, 1), (1, 3)]);
}

#[test]
fn id_runs_split_where_the_id_changes() {
    use simcal::table::id_runs;
    let ids = StringArray::from(vec!["q1", "q1", "q10", "q10", "q1", "", "", "a-long-query-identifier-1", "a-long-query-identifier-2"]);
    assert_eq!(id_runs(&ids), vec![(0, 2), (2, 4), (4, 5), (5, 7), (7, 8), (8, 9)]);
    // A slice of the array keeps its own offsets.
    let sliced = ids.slice(1, 4);
    assert_eq!(id_runs(&sliced), vec![(0, 1), (1, 3), (3, 4)]);
}
