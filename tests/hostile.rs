//! Hostile input: cases that could pass silently, lose a file or panic, each refused with the
//! file, the row or line, and a clear message.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float32Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::Float32Type;

use crate::common::{data_dir, score_sample, simcal, write_batch, write_npy};

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    simcal().current_dir(dir).args(args).output().unwrap()
}

/// Expects `args` to fail (exit 2) with every one of `needles` in the message; returns it.
fn refused(dir: &Path, args: &[&str], needles: &[&str]) -> String {
    let o = run(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{args:?} was not refused: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {n:?} not in: {err}");
    }
    err
}

fn succeeds(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A parquet file's rows and footer metadata.
fn read_parquet(path: &Path) -> (RecordBatch, Vec<parquet::file::metadata::KeyValue>) {
    let f = std::fs::File::open(path).unwrap();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let kv = b.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
    let schema = b.schema().clone();
    let batches: Vec<RecordBatch> = b.build().unwrap().map(|r| r.unwrap()).collect();
    (arrow::compute::concat_batches(&schema, &batches).unwrap(), kv)
}

/// Writes `batch` with the footer metadata `kv` (a simcal table edited in place).
fn write_parquet(path: &Path, batch: &RecordBatch, kv: Vec<parquet::file::metadata::KeyValue>) {
    let kv: Vec<_> = kv.into_iter().filter(|k| k.key != "ARROW:schema").collect();
    let props = parquet::file::properties::WriterProperties::builder().set_key_value_metadata(Some(kv)).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// `batch` with its column `name` replaced by `array`.
fn with_column(batch: &RecordBatch, name: &str, array: ArrayRef) -> RecordBatch {
    let i = batch.schema().index_of(name).unwrap();
    let mut cols = batch.columns().to_vec();
    cols[i] = array;
    RecordBatch::try_new(batch.schema(), cols).unwrap()
}

#[test]
fn a_grid_file_is_an_input_no_output_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    score_sample("minilm", &d.join("t.parquet"));
    std::fs::write(d.join("g.txt"), "0.5\n0.6\n0.7\n").unwrap();
    let before = std::fs::read(d.join("g.txt")).unwrap();
    refused(
        d,
        &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--confidence", "0.9", "--grid", "g.txt", "--out", "./g.txt"],
        &["never writes over its inputs"],
    );
    assert_eq!(std::fs::read(d.join("g.txt")).unwrap(), before);
}

/// An .npy file of f32 values whose header claims the shape `shape`.
fn npy_claiming(path: &Path, shape: &str, values: &[f32]) {
    let mut out = crate::common::npy_header("<f4", shape);
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, out).unwrap();
}

#[test]
fn an_npy_header_that_claims_more_than_the_file_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let values: Vec<f32> = (0..16).map(|i| 1.0 + i as f32).collect();
    npy_claiming(&d.join("c.npy"), "(2, 8)", &values);
    // The header claims 2⁶⁴ − 1 rows (then dimension 2⁶⁴ − 1) over 16 values.
    for shape in [format!("({}, 8)", u64::MAX), format!("(1, {})", u64::MAX)] {
        npy_claiming(&d.join("q.npy"), &shape, &values);
        for (q, c) in [("q.npy", "c.npy"), ("c.npy", "q.npy")] {
            let err =
                refused(d, &["score", "--backend", "cpu", "-k", "1", "--queries", q, "--corpus", c, "--out", "t.parquet"], &["q.npy"]);
            assert!(!err.contains("panicked") && !err.contains("capacity overflow") && !err.contains("fill whole buffer"), "{err}");
        }
    }
    assert!(!d.join("t.parquet").exists());
}

#[test]
fn a_table_records_its_relevance_level_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = data_dir();
    let (q, c, qrels) = (data.join("minilm.queries.parquet"), data.join("minilm.corpus.parquet"), data.join("qrels.tsv"));
    let o = simcal()
        .current_dir(d)
        .args(["score", "--backend", "cpu", "-k", "10", "--rel-level", "2", "--queries"])
        .arg(&q)
        .arg("--corpus")
        .arg(&c)
        .arg("--qrels")
        .arg(&qrels)
        .args(["--out", "t2.parquet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, kv) = read_parquet(&d.join("t2.parquet"));
    assert!(kv.iter().any(|k| k.key == "simcal.rel_level" && k.value.as_deref() == Some("2")), "{kv:?}");
    // Level 1 against counts taken at level 2: refused, naming both.
    refused(d, &["eval", "--scores", "t2.parquet"], &["t2.parquet", "level 2", "level 1"]);
    // At the table's own level, or relabeled by the qrels at the asked level, it evaluates.
    succeeds(d, &["eval", "--scores", "t2.parquet", "--rel-level", "2"]);
    succeeds(d, &["eval", "--scores", "t2.parquet", "--qrels", qrels.to_str().unwrap()]);
    // Fusion labeled by the qrels records its level too.
    let qrels = qrels.to_str().unwrap();
    std::fs::copy(d.join("t2.parquet"), d.join("t2b.parquet")).unwrap();
    let two = ["fuse", "--run", "t2.parquet", "--run", "t2b.parquet"];
    succeeds(d, &[&two[..], &["--qrels", qrels, "--rel-level", "2", "--out", "f2.parquet"]].concat());
    let (_, kv) = read_parquet(&d.join("f2.parquet"));
    assert!(kv.iter().any(|k| k.key == "simcal.rel_level" && k.value.as_deref() == Some("2")), "{kv:?}");
    refused(d, &["eval", "--scores", "f2.parquet"], &["f2.parquet", "level 2", "level 1"]);
    // Fusion of the inputs' own counts keeps their level, and refuses counts at two levels.
    succeeds(d, &[&two[..], &["--out", "g2.parquet"]].concat());
    let (_, kv) = read_parquet(&d.join("g2.parquet"));
    assert!(kv.iter().any(|k| k.key == "simcal.rel_level" && k.value.as_deref() == Some("2")), "{kv:?}");
    succeeds(
        d,
        &[
            "score",
            "--backend",
            "cpu",
            "-k",
            "10",
            "--queries",
            q.to_str().unwrap(),
            "--corpus",
            c.to_str().unwrap(),
            "--qrels",
            qrels,
            "--out",
            "t1.parquet",
        ],
    );
    refused(
        d,
        &["fuse", "--run", "t1.parquet", "--run", "t2.parquet", "--out", "x.parquet"],
        &["t2.parquet", "level 2", "t1.parquet", "level 1"],
    );
    assert!(!d.join("x.parquet").exists());
}

/// Scores the sample as two shards into p0.parquet and p1.parquet of `d`.
fn shard_parts(d: &Path) {
    let data = data_dir();
    for i in 0..2 {
        let o = simcal()
            .current_dir(d)
            .args(["score", "--backend", "cpu", "-k", "10", "--shard", &format!("{i}/2"), "--queries"])
            .arg(data.join("minilm.queries.parquet"))
            .arg("--corpus")
            .arg(data.join("minilm.corpus.parquet"))
            .args(["--out", &format!("p{i}.parquet")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn merge_reads_its_parts_through_the_checked_view() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    shard_parts(d);
    succeeds(d, &["merge", "p0.parquet", "p1.parquet", "--out", "m.parquet"]);
    let (b, kv) = read_parquet(&d.join("p1.parquet"));
    let s = b.column_by_name("score").unwrap().as_primitive::<Float32Type>();
    let docs = b.column_by_name("doc_id").unwrap().as_string::<i32>();
    // A NaN score.
    let mut v: Vec<f32> = s.values().to_vec();
    v[3] = f32::NAN;
    write_parquet(&d.join("bad.parquet"), &with_column(&b, "score", Arc::new(Float32Array::from(v))), kv.clone());
    refused(d, &["merge", "p0.parquet", "bad.parquet", "--out", "m2.parquet"], &["bad.parquet", "row 3"]);
    // A document twice for one query.
    let mut ids: Vec<&str> = docs.iter().map(|x| x.unwrap()).collect();
    ids[1] = ids[0];
    write_parquet(&d.join("bad.parquet"), &with_column(&b, "doc_id", Arc::new(StringArray::from(ids))), kv.clone());
    refused(d, &["merge", "p0.parquet", "bad.parquet", "--out", "m2.parquet"], &["bad.parquet", "row 1", "listed twice"]);
    // Rows out of rank order (the first two rows swapped).
    let idx = UInt32Array::from((0..b.num_rows() as u32).map(|r| [1, 0].get(r as usize).copied().unwrap_or(r)).collect::<Vec<_>>());
    let mut cols: Vec<ArrayRef> = b.columns().iter().map(|c| arrow::compute::take(c, &idx, None).unwrap()).collect();
    cols[b.schema().index_of("rank").unwrap()] = b.column_by_name("rank").unwrap().clone();
    write_parquet(&d.join("bad.parquet"), &RecordBatch::try_new(b.schema(), cols).unwrap(), kv.clone());
    refused(d, &["merge", "p0.parquet", "bad.parquet", "--out", "m2.parquet"], &["bad.parquet", "rank order"]);
    // A missing query (the last query's rows dropped).
    let q = b.column_by_name("query_id").unwrap().as_string::<i32>();
    let last = q.value(b.num_rows() - 1).to_owned();
    let keep = (0..b.num_rows()).filter(|&r| q.value(r) != last).count();
    write_parquet(&d.join("bad.parquet"), &b.slice(0, keep), kv);
    refused(d, &["merge", "p0.parquet", "bad.parquet", "--out", "m2.parquet"], &["bad.parquet", &format!("no rows for query {last:?}")]);
    assert!(!d.join("m2.parquet").exists());
}

#[test]
fn a_byte_order_mark_is_no_part_of_an_id_in_any_text_reader() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A TREC run given to fuse.
    std::fs::write(d.join("a.txt"), "\u{feff}q0 Q0 d1 1 0.9 a\nq0 Q0 d2 2 0.5 a\n").unwrap();
    std::fs::write(d.join("b.txt"), "q0 Q0 d2 1 0.8 b\nq0 Q0 d1 2 0.1 b\n").unwrap();
    succeeds(d, &["fuse", "--run", "a.txt", "--run", "b.txt", "--out", "f.parquet"]);
    let (f, _) = read_parquet(&d.join("f.parquet"));
    let q = f.column_by_name("query_id").unwrap().as_string::<i32>();
    assert!(q.iter().all(|x| x == Some("q0")), "{q:?}");
    // A --query-ids file of .npy queries.
    write_npy(&d.join("q.npy"), &[0.1, 0.2, 0.3, 0.4], 2, 2, "<f4");
    write_npy(&d.join("c.npy"), &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 3, 2, "<f4");
    std::fs::write(d.join("q.txt"), "\u{feff}first\nsecond\n").unwrap();
    succeeds(
        d,
        &["score", "--backend", "cpu", "-k", "1", "--queries", "q.npy", "--query-ids", "q.txt", "--corpus", "c.npy", "--out", "t.parquet"],
    );
    let (t, _) = read_parquet(&d.join("t.parquet"));
    let q = t.column_by_name("query_id").unwrap().as_string::<i32>();
    assert_eq!(q.value(0), "first");
}

#[test]
fn text_files_name_the_line_of_a_byte_that_is_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("q.txt"), b"q0 0 d0 1\nq1 0 d1 1\nq2 0 d\xff2 1\n").unwrap();
    tiny_table(d);
    refused(d, &["eval", "--scores", "t.parquet", "--qrels", "q.txt"], &["q.txt", "line 3", "not UTF-8"]);
}

/// A foreign table t.parquet of one query q0 retrieving d1 and d2.
fn tiny_table(d: &Path) {
    let q: ArrayRef = Arc::new(StringArray::from(vec!["q0", "q0"]));
    let doc: ArrayRef = Arc::new(StringArray::from(vec!["d1", "d2"]));
    let s: ArrayRef = Arc::new(Float32Array::from(vec![0.9, 0.5]));
    foreign(d, "t.parquet", vec![("query_id", q), ("doc_id", doc), ("score", s)]);
}

/// A foreign table (no simcal metadata) of the given columns, written to `d/name`.
fn foreign(d: &Path, name: &str, cols: Vec<(&str, ArrayRef)>) {
    write_batch(&d.join(name), cols);
}

#[test]
fn a_standard_column_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 40;
    let q: ArrayRef = Arc::new(StringArray::from((0..n).map(|i| format!("q{}", i / 10)).collect::<Vec<_>>()));
    let doc: ArrayRef = Arc::new(StringArray::from((0..n).map(|i| format!("d{i}")).collect::<Vec<_>>()));
    let up: ArrayRef = Arc::new(Float32Array::from((0..n).map(|i| 1.0 - (i % 10) as f32 / 10.0).collect::<Vec<_>>()));
    let down: ArrayRef = Arc::new(Float32Array::from((0..n).map(|i| (i % 10) as f32 / 10.0).collect::<Vec<_>>()));
    let label: ArrayRef = Arc::new(Int32Array::from((0..n).map(|i| i % 2).collect::<Vec<_>>()));
    foreign(d, "t.parquet", vec![("query_id", q), ("doc_id", doc), ("score", up), ("score", down), ("label", label)]);
    for cmd in [
        &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", "c.json"][..],
        &["eval", "--scores", "t.parquet"],
        &["hist", "--scores", "t.parquet", "--out", "h.json"],
    ] {
        refused(d, cmd, &["t.parquet", "2 columns named score"]);
    }
}

#[test]
fn options_that_would_be_silently_wrong_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    score_sample("minilm", &d.join("t.parquet"));
    succeeds(d, &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", "c.json"]);
    refused(
        d,
        &["apply", "--calibration", "c.json", "--scores", "t.parquet", "--out", "a.parquet", "--min-gap", "NaN"],
        &["--min-gap NaN"],
    );
    refused(
        d,
        &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--group-by", "section", "section", "--out", "g.json"],
        &["\"section\" is given twice"],
    );
    let data = data_dir();
    let (q, c) = (data.join("minilm.queries.parquet"), data.join("minilm.corpus.parquet"));
    let (q, c) = (q.to_str().unwrap(), c.to_str().unwrap());
    std::fs::write(d.join("ids.txt"), "a\nb\n").unwrap();
    refused(
        d,
        &["score", "--backend", "cpu", "--queries", q, "--corpus", c, "--corpus-ids", "ids.txt", "--out", "s.parquet"],
        &["ids.txt", "parquet"],
    );
    refused(d, &["score", "--backend", "cpu", "--queries", q, "--corpus", c, "--chunk-rows", "0", "--out", "s.parquet"], &["--chunk-rows"]);
    assert!(!d.join("a.parquet").exists() && !d.join("g.json").exists() && !d.join("s.parquet").exists());
    // A group column that is not there: the table's own columns are listed, by every command.
    for cmd in [
        &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--group-by", "Section", "--out", "g.json"][..],
        &["hist", "--scores", "t.parquet", "--group-by", "Section", "--out", "h.json"],
        &["eval", "--scores", "t.parquet", "--group-by", "Section"],
    ] {
        refused(d, cmd, &["no column \"Section\"", "query_id, doc_id, rank, score, label, query_relevant, section"]);
    }
}

#[test]
fn rows_and_ids_in_messages_are_the_right_ones_and_cut_to_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A null query_id at row 3 of a foreign table is named as such, at row 3.
    let q: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("a"), Some("b"), None, Some("b"), Some("c")]));
    let doc: ArrayRef = Arc::new(StringArray::from((0..6).map(|i| format!("d{i}")).collect::<Vec<_>>()));
    let s: ArrayRef = Arc::new(Float32Array::from(vec![0.9, 0.8, 0.7, 0.6, 0.5, 0.4]));
    let l: ArrayRef = Arc::new(Int32Array::from(vec![1, 0, 1, 0, 1, 0]));
    foreign(d, "t.parquet", vec![("query_id", q), ("doc_id", doc), ("score", s), ("label", l)]);
    refused(d, &["eval", "--scores", "t.parquet"], &["t.parquet: row 3", "query_id is null"]);
    // A 5 MB id is cut in the message, with its length.
    let long = "x".repeat(5 << 20);
    std::fs::write(d.join("run.txt"), format!("q0 Q0 {long} one 0.9 a\n")).unwrap();
    let err = refused(d, &["fuse", "--run", "run.txt", "--run", "run.txt", "--out", "f.parquet"], &["run.txt: line 1", "bytes)"]);
    assert!(err.len() < 1000, "{} bytes of message", err.len());
    // In a message's own words too: a long document id listed twice.
    std::fs::write(d.join("dup.txt"), format!("q0 Q0 {long} 1 0.9 a\nq0 Q0 {long} 2 0.8 a\n")).unwrap();
    let err = refused(d, &["fuse", "--run", "dup.txt", "--run", "dup.txt", "--out", "f.parquet"], &["listed twice", "bytes"]);
    assert!(err.len() < 1000, "{} bytes of message", err.len());
}

#[test]
fn counts_in_messages_group_their_digits_and_agree_with_their_nouns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 30_000;
    let q: ArrayRef = Arc::new(StringArray::from((0..n).map(|i| format!("q{}", i / 10)).collect::<Vec<_>>()));
    let doc: ArrayRef = Arc::new(StringArray::from((0..n).map(|i| format!("d{}", i % 10)).collect::<Vec<_>>()));
    let s: ArrayRef = Arc::new(Float32Array::from((0..n).map(|i| 1.0 - (i % 10) as f32 / 10.0).collect::<Vec<_>>()));
    let l: ArrayRef = Arc::new(Int32Array::from(vec![0; n]));
    foreign(d, "t.parquet", vec![("query_id", q), ("doc_id", doc), ("score", s), ("label", l)]);
    refused(d, &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", "c.json"], &["all 30,000 labeled pairs are irrelevant"]);
}

#[test]
fn ndcg_of_a_query_with_nothing_relevant_retrieved_is_zero_not_minus_zero() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_table(d);
    std::fs::write(d.join("qrels.txt"), "q0 0 d9 1\nq0 0 d1 0\n").unwrap();
    let out = succeeds(d, &["eval", "--scores", "t.parquet", "--qrels", "qrels.txt", "--json"]);
    assert!(out.contains("ndcg_cut_10"), "{out}");
    assert!(!out.contains("-0.0"), "{out}");
}

#[test]
fn histogram_files_are_validated_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    score_sample("minilm", &d.join("t.parquet"));
    succeeds(d, &["hist", "--scores", "t.parquet", "--group-by", "section", "--out", "h.json"]);
    succeeds(d, &["fit", "--from-histograms", "h.json", "--out", "c.json"]);
    let h: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("h.json")).unwrap()).unwrap();
    let edited = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = h.clone();
        edit(&mut v);
        std::fs::write(d.join(name), serde_json::to_string(&v).unwrap()).unwrap();
    };
    // Bins in reverse order.
    edited("rev.json", &|v| v["global"]["bins"].as_array_mut().unwrap().reverse());
    refused(d, &["fit", "--from-histograms", "rev.json", "--out", "x.json"], &["rev.json", "ascending order"]);
    // A count of 2⁶⁴ − 1 beside others: the sum would wrap.
    edited("big.json", &|v| v["global"]["bins"][0][2] = serde_json::json!(u64::MAX));
    refused(d, &["fit", "--from-histograms", "big.json", "--out", "x.json"], &["big.json", "overflow"]);
    // A bin in float32's NaN range (the last bins of the grid).
    edited("nan.json", &|v| v["global"]["bins"].as_array_mut().unwrap().push(serde_json::json!([0xFF_FFFF, 1, 1])));
    refused(d, &["fit", "--from-histograms", "nan.json", "--out", "x.json"], &["nan.json", "not a finite score"]);
    // Two groups of one key.
    edited("twice.json", &|v| {
        let g = v["groups"][0].clone();
        v["groups"].as_array_mut().unwrap().push(g);
    });
    refused(d, &["fit", "--from-histograms", "twice.json", "--out", "x.json"], &["twice.json", "listed twice"]);
    // A group's count that the global histogram does not have: the groups split the pairs.
    edited("split.json", &|v| {
        let n = v["groups"][0]["histogram"]["bins"][0][2].as_u64().unwrap();
        v["groups"][0]["histogram"]["bins"][0][2] = serde_json::json!(n + 1);
    });
    refused(d, &["fit", "--from-histograms", "split.json", "--out", "x.json"], &["split.json", "each labeled pair is in one group"]);
    assert!(!d.join("x.json").exists());
}

#[test]
fn an_artifacts_counts_and_keys_are_validated_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    score_sample("minilm", &d.join("t.parquet"));
    succeeds(d, &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--folds", "5", "--group-by", "section", "--out", "c.json"]);
    let a: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("c.json")).unwrap()).unwrap();
    let mut v = a.clone();
    let held = &mut v["global"]["thresholds"][0]["held_out"];
    held["tp"] = serde_json::json!(held["n"].as_u64().unwrap() + 1);
    std::fs::write(d.join("tp.json"), serde_json::to_string(&v).unwrap()).unwrap();
    refused(d, &["drift", "--baseline", "tp.json", "--scores", "t.parquet"], &["tp.json", "more relevant pairs than pairs"]);
    let mut v = a.clone();
    let g = v["groups"][0].clone();
    v["groups"].as_array_mut().unwrap().push(g);
    std::fs::write(d.join("twice.json"), serde_json::to_string(&v).unwrap()).unwrap();
    refused(d, &["apply", "--calibration", "twice.json", "--scores", "t.parquet", "--out", "a.parquet"], &["twice.json", "listed twice"]);
    // A group that counts more labeled pairs than the whole table.
    let mut v = a.clone();
    v["groups"][0]["n"] = serde_json::json!(v["counts"]["labeled"].as_u64().unwrap() + 1);
    std::fs::write(d.join("n.json"), serde_json::to_string(&v).unwrap()).unwrap();
    refused(d, &["drift", "--baseline", "n.json", "--scores", "t.parquet"], &["n.json", "the groups together", "more than the table's"]);
}

/// A nightly config in `d` scoring the sample's minilm encoder as `a`, with `extra` appended.
fn job_config(d: &Path, corpus: &Path, extra: &str) -> std::path::PathBuf {
    let data = data_dir();
    let text = format!(
        "out = \"out\"\nqrels = {:?}\nk = 10\nbackend = \"cpu\"\n\n[[encoder]]\nname = \"a\"\nqueries = {:?}\ncorpus = {:?}\n{extra}",
        data.join("qrels.tsv"),
        data.join("minilm.queries.parquet"),
        corpus,
    );
    let p = d.join("job.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_job_whose_input_is_one_of_its_outputs_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("out")).unwrap();
    // The corpus is where the job writes its calibrated table: a later stage would replace it.
    let corpus = d.join("out/a.calibrated.parquet");
    std::fs::copy(data_dir().join("minilm.corpus.parquet"), &corpus).unwrap();
    let before = std::fs::read(&corpus).unwrap();
    let cfg = job_config(d, &corpus, "");
    refused(d, &["run", "--config", cfg.to_str().unwrap()], &["a.calibrated.parquet", "never writes over its inputs"]);
    assert_eq!(std::fs::read(&corpus).unwrap(), before);
    assert!(!d.join("out/a.scores.parquet").exists());
}

#[test]
fn a_config_is_validated_whole_at_load_by_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = data_dir().join("minilm.corpus.parquet");
    for (extra, needle) in [
        ("\n[drift]\nbaseline = \"base\"\nmax_ks = 5\n", "[drift] max_ks = 5"),
        ("\n[drift]\nbaseline = \"base\"\nsignificance = nan\n", "[drift] significance = NaN"),
        ("\n[decisions]\nmin_gap = 2.0\n", "[decisions] min_gap = 2"),
        ("\n[calibration]\nfolds = 0\n", "[calibration] folds 0"),
        ("\n[calibration]\ngrid = 1\n", "[calibration] grid 1"),
        ("\n[decisions]\ntarget = 0.5\n", "[decisions] target = 0.5 is not one of"),
    ] {
        let cfg = job_config(d, &corpus, extra);
        let err = refused(d, &["run", "--config", cfg.to_str().unwrap()], &["job.toml", needle]);
        assert!(!err.contains("--"), "a flag the user never gave: {err}");
        assert!(!d.join("out/a.scores.parquet").exists(), "{needle}: scored before refusing");
    }
    // --promote of an encoder the config lacks: one message, naming the option once.
    let cfg = job_config(d, &corpus, "\n[drift]\nbaseline = \"base\"\n");
    let err = refused(d, &["run", "--config", cfg.to_str().unwrap(), "--promote", "nosuch"], &["--promote nosuch", "no such encoder"]);
    assert!(!err.contains("error: --") && err.matches("error:").count() == 1, "{err}");
}

#[test]
fn cosine_of_tiny_vectors_stays_within_one_and_matches_their_scaled_copies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (rows, dim) = (20, 16);
    let values = crate::common::random_values(rows * dim, 7);
    let top = |scale: f32, name: &str| -> Vec<f32> {
        let v: Vec<f32> = values.iter().map(|x| x * scale).collect();
        write_npy(&d.join(format!("{name}.npy")), &v, rows, dim, "<f4");
        let out = format!("{name}.parquet");
        let q = format!("{name}.npy");
        succeeds(d, &["score", "--backend", "cpu", "-k", "5", "--queries", &q, "--corpus", &q, "--out", &out]);
        let (t, _) = read_parquet(&d.join(out));
        t.column_by_name("score").unwrap().as_primitive::<Float32Type>().values().to_vec()
    };
    let plain = top(1.0, "plain");
    // Entries near 1e-22 and 1e-23: their squares fall below f32's normal range.
    for (scale, name) in [(1e-22, "tiny"), (1e-23, "tinier"), (1e-30, "tiniest")] {
        let s = top(scale, name);
        assert!(s.iter().all(|&x| x <= 1.0 + 1e-6), "{name}: {:?}", s.iter().cloned().fold(f32::MIN, f32::max));
        for (a, b) in s.iter().zip(&plain) {
            assert!((a - b).abs() < 1e-5, "{name}: {a} vs {b}");
        }
    }
}

#[test]
fn smaller_cases_say_what_is_wrong_where() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A structured .npy dtype is named as such, not cut off inside its field list.
    // (The placeholder is as long as the field list that replaces it: the header's length stays.)
    let list = "[('a', '<f4'), ('b', '<f4')]";
    let placeholder = format!("'{}'", "x".repeat(list.len() - 2));
    let mut npy = crate::common::npy_header(&"x".repeat(list.len() - 2), "(2,)");
    let at = npy.windows(placeholder.len()).position(|w| w == placeholder.as_bytes()).unwrap();
    npy.splice(at..at + placeholder.len(), list.bytes());
    npy.extend([0u8; 16]);
    std::fs::write(d.join("s.npy"), npy).unwrap();
    write_npy(&d.join("c.npy"), &[0.1, 0.2, 0.3, 0.4], 2, 2, "<f4");
    refused(
        d,
        &["score", "--backend", "cpu", "-k", "1", "--queries", "s.npy", "--corpus", "c.npy", "--out", "t.parquet"],
        &["s.npy", "structured dtype"],
    );
    // A repeated id in an ids file is the ids file's, by line.
    std::fs::write(d.join("ids.txt"), "a\na\n").unwrap();
    refused(
        d,
        &[
            "score",
            "--backend",
            "cpu",
            "-k",
            "1",
            "--queries",
            "c.npy",
            "--query-ids",
            "ids.txt",
            "--corpus",
            "c.npy",
            "--out",
            "t.parquet",
        ],
        &["ids.txt: line 2", "duplicate id"],
    );
    // A huge grade is named as written.
    tiny_table(d);
    std::fs::write(d.join("q.txt"), "q0 0 d1 18446744073709551615\n").unwrap();
    refused(d, &["eval", "--scores", "t.parquet", "--qrels", "q.txt"], &["q.txt: line 1", "18446744073709551615"]);
    // A table of three queries with a negative rank, named by row in the table's own terms, by
    // every command that reads ranks.
    let q: ArrayRef = Arc::new(StringArray::from((0..30).map(|i| format!("q{}", i / 10)).collect::<Vec<_>>()));
    let doc: ArrayRef = Arc::new(StringArray::from((0..30).map(|i| format!("d{i}")).collect::<Vec<_>>()));
    let s: ArrayRef = Arc::new(Float32Array::from((0..30).map(|i| 1.0 - (i % 10) as f32 / 10.0).collect::<Vec<_>>()));
    let l: ArrayRef = Arc::new(Int32Array::from((0..30).map(|i| i % 2).collect::<Vec<_>>()));
    let rank: ArrayRef =
        Arc::new(arrow::array::Int64Array::from((0..30).map(|i| if i == 4 { -1 } else { i % 10 + 1 }).collect::<Vec<i64>>()));
    foreign(d, "neg.parquet", vec![("query_id", q), ("doc_id", doc), ("rank", rank), ("score", s), ("label", l)]);
    for cmd in [
        &["fit", "--scores", "neg.parquet", "--bootstrap", "0", "--out", "c.json"][..],
        &["report", "--scores", "neg.parquet", "--out", "r.html"],
    ] {
        refused(d, cmd, &["neg.parquet: row 4", "column rank: -1 is not a UInt32"]);
    }
    // A histogram file given as a calibration.
    score_sample("minilm", &d.join("m.parquet"));
    succeeds(d, &["hist", "--scores", "m.parquet", "--out", "h.json"]);
    refused(d, &["apply", "--calibration", "h.json", "--scores", "m.parquet", "--out", "a.parquet"], &["h.json", "a histogram file"]);
    // An encoder named "." would write hidden files.
    let cfg = job_config(d, &data_dir().join("minilm.corpus.parquet"), "").to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&cfg).unwrap().replace("name = \"a\"", "name = \".\"");
    std::fs::write(&cfg, text).unwrap();
    refused(d, &["run", "--config", &cfg], &["job.toml", "starts with a dot"]);
}

#[test]
fn a_model_name_with_a_space_is_its_trec_tag_with_underscores() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = data_dir();
    let o = simcal()
        .current_dir(d)
        .args(["score", "--backend", "cpu", "-k", "2", "--format", "trec", "--model", "my model", "--queries"])
        .arg(data.join("minilm.queries.parquet"))
        .arg("--corpus")
        .arg(data.join("minilm.corpus.parquet"))
        .args(["--out", "run.txt"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(d.join("run.txt")).unwrap();
    assert!(text.lines().all(|l| l.ends_with(" my_model")), "{}", text.lines().next().unwrap_or_default());
}

#[test]
fn a_queries_column_named_like_a_table_column_is_refused_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let q = d.join("q.parquet");
    let label: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3]));
    crate::common::write_embeddings_parquet(
        &q,
        crate::common::string_ids(&crate::common::ids("q", 3)),
        &crate::common::random_values(3 * 4, 5),
        4,
        crate::common::VecType::Fixed,
        crate::common::ValueType::F32,
        vec![("label", label)],
    );
    let c = d.join("c.parquet");
    crate::common::write_embeddings_parquet(
        &c,
        crate::common::string_ids(&crate::common::ids("d", 5)),
        &crate::common::random_values(5 * 4, 6),
        4,
        crate::common::VecType::Fixed,
        crate::common::ValueType::F32,
        vec![],
    );
    refused(
        d,
        &["score", "--backend", "cpu", "-k", "2", "--queries", "q.parquet", "--corpus", "c.parquet", "--out", "t.parquet"],
        &["q.parquet", "\"label\"", "rename it"],
    );
    assert!(!d.join("t.parquet").exists());
    // A carried column twice: the second would be lost to the first.
    let section: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
    crate::common::write_embeddings_parquet(
        &d.join("q2.parquet"),
        crate::common::string_ids(&crate::common::ids("q", 3)),
        &crate::common::random_values(3 * 4, 5),
        4,
        crate::common::VecType::Fixed,
        crate::common::ValueType::F32,
        vec![("section", section.clone()), ("section", section)],
    );
    refused(
        d,
        &["score", "--backend", "cpu", "-k", "2", "--queries", "q2.parquet", "--corpus", "c.parquet", "--out", "t.parquet"],
        &["q2.parquet", "\"section\" is there twice"],
    );
    // In a nightly job, before the first encoder is scored.
    let data = data_dir();
    let cfg = format!(
        "out = \"out\"\nqrels = {:?}\nk = 10\nbackend = \"cpu\"\n\n[[encoder]]\nname = \"a\"\nqueries = {:?}\ncorpus = {:?}\n\n[[encoder]]\nname = \"b\"\nqueries = \"q.parquet\"\ncorpus = \"c.parquet\"\n",
        data.join("qrels.tsv"),
        data.join("minilm.queries.parquet"),
        data.join("minilm.corpus.parquet"),
    );
    std::fs::write(d.join("job.toml"), cfg).unwrap();
    refused(d, &["run", "--config", "job.toml"], &["q.parquet", "\"label\"", "rename it"]);
    assert!(!d.join("out").exists() || std::fs::read_dir(d.join("out")).unwrap().next().is_none(), "encoder a was scored first");
}

#[test]
fn another_tools_table_with_a_document_twice_is_refused_by_fit_and_hist_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Four queries of ten labeled rows; query q2 lists document d21 twice.
    let n = 40;
    let doc = |i: usize| if i == 25 { "d21".to_owned() } else { format!("d{i}") };
    let cols = |docs: Vec<String>| -> Vec<(&str, ArrayRef)> {
        vec![
            ("query_id", Arc::new(StringArray::from((0..n).map(|i| format!("q{}", i / 10)).collect::<Vec<_>>())) as ArrayRef),
            ("doc_id", Arc::new(StringArray::from(docs))),
            ("score", Arc::new(Float32Array::from((0..n).map(|i| 1.0 - (i % 10) as f32 / 10.0).collect::<Vec<_>>()))),
            ("label", Arc::new(Int32Array::from((0..n).map(|i| i32::from(i % 3 == 0)).collect::<Vec<_>>()))),
        ]
    };
    foreign(d, "dup.parquet", cols((0..n).map(doc).collect()));
    foreign(d, "ok.parquet", cols((0..n).map(|i| format!("d{i}")).collect()));
    for args in [
        &["fit", "--scores", "dup.parquet", "--folds", "1", "--bootstrap", "0", "--out", "c.json"][..],
        &["hist", "--scores", "dup.parquet", "--out", "h.json"],
    ] {
        refused(d, args, &["dup.parquet", "row 25", "\"q2\"", "document \"d21\" is listed twice"]);
    }
    assert!(!d.join("c.json").exists() && !d.join("h.json").exists());
    // The same table with each document once fits.
    succeeds(
        d,
        &[
            "fit",
            "--scores",
            "ok.parquet",
            "--folds",
            "1",
            "--bootstrap",
            "0",
            "--min-pairs",
            "2",
            "--min-relevant",
            "1",
            "--out",
            "c.json",
        ],
    );
}
