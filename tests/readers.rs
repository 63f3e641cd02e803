use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, LargeStringArray, StringArray, StringViewArray, UInt64Array};
use simcal::embed::{open_corpus, read_queries, ReadOptions};
use simcal::labels::read_qrels;

use crate::common::*;

fn read_all_chunks(path: &std::path::Path, opts: &ReadOptions) -> (Vec<String>, Vec<f32>) {
    let mut src = open_corpus(path, opts).unwrap();
    let (mut ids, mut vals) = (Vec::new(), Vec::new());
    let mut expect_row = 0;
    while let Some(c) = src.next_chunk().unwrap() {
        assert_eq!(c.first_row, expect_row);
        expect_row += c.ids.len() as u64;
        ids.extend(c.ids);
        vals.extend(c.vectors.iter().copied());
    }
    assert_eq!(expect_row, src.rows());
    (ids, vals)
}

#[test]
fn parquet_every_list_and_float_type() {
    let dir = tempfile::tempdir().unwrap();
    let (n, d) = (101, 7);
    let values = random_values(n * d, 21);
    let names = ids("doc", n);
    for (vi, vt) in [VecType::Fixed, VecType::List, VecType::LargeList].into_iter().enumerate() {
        for (fi, ft) in [ValueType::F16, ValueType::F32, ValueType::F64].into_iter().enumerate() {
            let tol = if fi == 0 { 1e-3 } else { 0.0 };
            let path = dir.path().join(format!("e{vi}{fi}.parquet"));
            write_embeddings_parquet(&path, string_ids(&names), &values, d, vt, ft, vec![]);
            for chunk_rows in [0, 1, 10, 1000] {
                let (got_ids, got) = read_all_chunks(&path, &ReadOptions { chunk_rows, ..Default::default() });
                assert_eq!(got_ids, names);
                assert_eq!(got.len(), values.len());
                for (a, b) in got.iter().zip(&values) {
                    assert!((a - b).abs() <= tol, "type {vi}/{fi}: {a} vs {b}");
                }
            }
            // read_queries takes the arrow reader, open_corpus the fast leaf reader (f32, f64).
            let q = read_queries(&path, &ReadOptions::default()).unwrap();
            assert_eq!((q.len(), q.dim()), (n, d));
            for (a, b) in q.vectors.iter().zip(&values) {
                assert!((a - b).abs() <= tol, "type {vi}/{fi}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn parquet_id_types() {
    let dir = tempfile::tempdir().unwrap();
    let (n, d) = (12, 3);
    let values = random_values(n * d, 22);
    let cases: Vec<(ArrayRef, Vec<String>)> = vec![
        (Arc::new(LargeStringArray::from(ids("x", n))), ids("x", n)),
        (Arc::new(StringViewArray::from(ids("v", n))), ids("v", n)),
        (int_ids(n), (0..n).map(|i| (i * 10).to_string()).collect()),
        (Arc::new(Int32Array::from((0..n as i32).collect::<Vec<_>>())), (0..n).map(|i| i.to_string()).collect()),
        (Arc::new(UInt64Array::from((0..n as u64).map(|i| i + 7).collect::<Vec<_>>())), (0..n).map(|i| (i + 7).to_string()).collect()),
    ];
    for (i, (idcol, want)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("ids{i}.parquet"));
        write_embeddings_parquet(&path, idcol, &values, d, VecType::Fixed, ValueType::F32, vec![]);
        let (got, _) = read_all_chunks(&path, &ReadOptions::default());
        assert_eq!(got, want, "id case {i}");
    }
}

#[test]
fn parquet_carries_scalar_columns_and_honours_column_options() {
    let dir = tempfile::tempdir().unwrap();
    let (n, d) = (9, 4);
    let values = random_values(n * d, 23);
    let path = dir.path().join("q.parquet");
    let section: ArrayRef = Arc::new(StringArray::from((0..n).map(|i| format!("s{}", i % 3)).collect::<Vec<_>>()));
    write_embeddings_parquet(
        &path,
        string_ids(&ids("q", n)),
        &values,
        d,
        VecType::List,
        ValueType::F32,
        vec![("section", section.clone())],
    );
    let q = read_queries(&path, &ReadOptions::default()).unwrap();
    assert_eq!(q.carried.len(), 1);
    assert_eq!(q.carried[0].0.name(), "section");
    assert_eq!(q.carried[0].1.as_ref(), section.as_ref());

    // --id-col / --vec-col pick other columns; two list columns need --vec-col.
    let other = dir.path().join("two.parquet");
    let idcol = string_ids(&ids("k", n));
    let fsl = |vals: &[f32]| -> ArrayRef {
        let child = Arc::new(arrow::array::Float32Array::from(vals.to_vec()));
        Arc::new(arrow::array::FixedSizeListArray::new(
            Arc::new(arrow::datatypes::Field::new("item", arrow::datatypes::DataType::Float32, true)),
            d as i32,
            child,
            None,
        ))
    };
    let second: Vec<f32> = values.iter().map(|v| v * 2.0).collect();
    write_batch(&other, vec![("key", idcol), ("a", fsl(&values)), ("b", fsl(&second))]);
    let err = read_queries(&other, &ReadOptions { id_col: "key".into(), ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("several list-typed columns") && err.contains("`vec_col`"), "{err}");
    let q = read_queries(&other, &ReadOptions { id_col: "key".into(), vec_col: Some("b".into()), ..Default::default() }).unwrap();
    assert_eq!(q.vectors.as_slice().unwrap(), &second[..]);
    assert_eq!(q.ids[0], "k0");
}

#[test]
fn npy_every_float_type_with_and_without_ids_file() {
    let dir = tempfile::tempdir().unwrap();
    let (n, d) = (53, 6);
    let values = random_values(n * d, 24);
    for descr in ["<f2", "<f4", "<f8"] {
        let tol = if descr == "<f2" { 1e-3 } else { 0.0 };
        let path = dir.path().join(format!("e{}.npy", &descr[1..]));
        write_npy(&path, &values, n, d, descr);
        for chunk_rows in [0, 5] {
            let (got_ids, got) = read_all_chunks(&path, &ReadOptions { chunk_rows, ..Default::default() });
            assert_eq!(got_ids, (0..n).map(|i| i.to_string()).collect::<Vec<_>>());
            for (a, b) in got.iter().zip(&values) {
                assert!((a - b).abs() <= tol, "{descr}: {a} vs {b}");
            }
        }
        let ids_path = dir.path().join("ids.txt");
        std::fs::write(&ids_path, ids("n", n).join("\n") + "\n").unwrap();
        let q = read_queries(&path, &ReadOptions { ids_file: Some(ids_path), ..Default::default() }).unwrap();
        assert_eq!(q.ids, ids("n", n));
        assert_eq!(q.dim(), d);
    }
}

#[test]
fn qrels_in_every_format_give_the_same_judgements() {
    let dir = tempfile::tempdir().unwrap();
    let trec = dir.path().join("q.trec");
    std::fs::write(&trec, "q1 0 d1 2\nq1 0 d2 0\nq1 0 d3 -1\nq2 Q0 d9 1\n").unwrap();
    let beir = dir.path().join("q.tsv");
    std::fs::write(&beir, "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq1\td3\t-1\nq2\td9\t1\n").unwrap();
    let pq = dir.path().join("q.bin");
    write_batch(
        &pq,
        vec![
            ("query_id", Arc::new(StringArray::from(vec!["q1", "q1", "q1", "q2"])) as ArrayRef),
            ("doc_id", Arc::new(StringArray::from(vec!["d1", "d2", "d3", "d9"]))),
            ("relevance", Arc::new(Int32Array::from(vec![2, 0, -1, 1]))),
        ],
    );
    for p in [&trec, &beir, &pq] {
        let q = read_qrels(p).unwrap();
        assert_eq!(q.len(), 4, "{}", p.display());
        assert_eq!(q.get("q1", "d1"), Some(2));
        assert_eq!(q.get("q1", "d3"), Some(-1));
        assert_eq!(q.get("q2", "d9"), Some(1));
        assert_eq!(q.relevant_count("q1", 1), 1);
        assert_eq!(q.relevant_count("q1", 3), 0);
        assert_eq!(q.relevant_count("nope", 1), 0);
    }
}

#[test]
fn qrels_ids_longer_than_the_inline_limit_read_as_short_ones() {
    // Ids of up to 24 bytes are held inline, longer ones on the heap: both must look up, count
    // and refuse a second grade alike.
    let dir = tempfile::tempdir().unwrap();
    let ids = ["d", &"e".repeat(24), &"f".repeat(25), &"g".repeat(300), "ünïcödé-ïd-longer-than-24-bytes"];
    let query = "q".repeat(40);
    let text: String = ids.iter().enumerate().map(|(i, d)| format!("{query} 0 {d} {i}\n")).collect();
    let path = dir.path().join("q.trec");
    std::fs::write(&path, &text).unwrap();
    let q = read_qrels(&path).unwrap();
    assert_eq!(q.len(), ids.len());
    for (i, d) in ids.iter().enumerate() {
        assert_eq!(q.get(&query, d), Some(i as i32), "{d}");
    }
    assert_eq!(q.get(&query, &"f".repeat(26)), None);
    assert_eq!(q.relevant_count(&query, 2), 3);
    let conflict = dir.path().join("c.trec");
    std::fs::write(&conflict, format!("{text}{query} 0 {} 9\n", ids[3])).unwrap();
    let e = read_qrels(&conflict).unwrap_err().to_string();
    assert!(e.contains("line 6") && e.contains("relevance 3 and 9"), "{e}");
}

#[test]
fn sample_data_reads() {
    let dir = data_dir();
    for enc in ["minilm", "lsa"] {
        let q = read_queries(&dir.join(format!("{enc}.queries.parquet")), &ReadOptions::default()).unwrap();
        assert_eq!(q.len(), 300);
        assert!(q.carried.iter().any(|(f, _)| f.name() == "section"));
        let src = open_corpus(&dir.join(format!("{enc}.corpus.parquet")), &ReadOptions::default()).unwrap();
        assert_eq!(src.rows(), 2500);
        assert_eq!(src.dim(), q.dim());
    }
    assert_eq!(read_qrels(&dir.join("qrels.tsv")).unwrap().len(), 300);
}

/// A qrels file large enough to be parsed in several chunks: every judgement is kept, a query
/// judged in two places joins one map, and a bad line or a conflicting grade is named at its
/// own line, whichever chunk it falls in.
#[test]
fn large_qrels_parse_in_chunks_naming_the_first_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for q in 0..3000 {
        for d in 0..20 {
            text.push_str(&format!("q{q} 0 d{q}-{d} {}\n", (q + d) % 3));
        }
    }
    // q7 again, at the end: its judgements join the first ones.
    text.push_str("q7 0 extra 2\n");
    let lines = text.lines().count();
    assert!(text.len() > 1 << 20, "one chunk only");
    let path = dir.path().join("big.qrels");
    std::fs::write(&path, &text).unwrap();
    let q = read_qrels(&path).unwrap();
    assert_eq!(q.len(), 3000 * 20 + 1);
    assert_eq!(q.get("q7", "extra"), Some(2));
    assert_eq!(q.get("q2999", "d2999-19"), Some((2999 + 19) % 3));
    assert_eq!(q.judged["q7"].len(), 21);

    // A conflicting grade for a query met again far away, and a bad line after it.
    let conflict = format!("{text}q5 0 d5-3 9\nq1 0 x\n");
    std::fs::write(&path, &conflict).unwrap();
    let e = read_qrels(&path).unwrap_err().to_string();
    assert!(e.contains(&format!("line {}", lines + 2)) && e.contains("expected 4 fields"), "{e}");
    let conflict = format!("{text}q5 0 d5-3 9\n");
    std::fs::write(&path, &conflict).unwrap();
    let e = read_qrels(&path).unwrap_err().to_string();
    assert!(e.contains(&format!("line {}", lines + 1)) && e.contains("judged twice"), "{e}");
    // Within one group, in a middle chunk: the second line of the pair is named.
    let mut lines_v: Vec<String> = text.lines().map(str::to_owned).collect();
    lines_v.insert(30_001, "q1500 0 d1500-0 7".to_owned());
    std::fs::write(&path, lines_v.join("\n")).unwrap();
    let e = read_qrels(&path).unwrap_err().to_string();
    assert!(e.contains("line 30002") && e.contains("judged twice"), "{e}");
}
