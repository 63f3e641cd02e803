use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float32Array, ListArray, StringArray};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Float32Type, Int32Type, UInt32Type};
use simcal::table::read_table;

use crate::common::*;

pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let f = Fixture { dir: tempfile::tempdir().unwrap() };
        let (d, nq, nc) = (8, 6, 40);
        let qv = random_values(nq * d, 31);
        let cv = random_values(nc * d, 32);
        let section: ArrayRef = Arc::new(StringArray::from((0..nq).map(|i| if i % 2 == 0 { "even" } else { "odd" }).collect::<Vec<_>>()));
        write_embeddings_parquet(
            &f.path("q.parquet"),
            string_ids(&ids("q", nq)),
            &qv,
            d,
            VecType::Fixed,
            ValueType::F32,
            vec![("section", section)],
        );
        write_embeddings_parquet(&f.path("c.parquet"), string_ids(&ids("c", nc)), &cv, d, VecType::Fixed, ValueType::F32, vec![]);
        std::fs::write(f.path("qrels.tsv"), "query-id\tcorpus-id\tscore\nq0\tc1\t1\nq0\tc2\t2\nq1\tc3\t1\nq1\tmissing-doc\t1\n").unwrap();
        f
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn score(&self, extra: &[&str]) -> std::process::Output {
        self.command(extra).output().unwrap()
    }
    /// `simcal score` on the fixture's files with `extra` arguments, not yet run.
    pub fn command(&self, extra: &[&str]) -> std::process::Command {
        let mut cmd = simcal();
        cmd.arg("score");
        let has = |flag: &str| extra.contains(&flag);
        if !has("--queries") {
            cmd.arg("--queries").arg(self.path("q.parquet"));
        }
        if !has("--corpus") {
            cmd.arg("--corpus").arg(self.path("c.parquet"));
        }
        if !has("--out") {
            cmd.arg("--out").arg(self.path("out.parquet"));
        }
        cmd.args(extra);
        cmd
    }
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a failing score and checks exit code 2, the message, and that no output file exists.
pub fn expect_bad(f: &Fixture, args: &[&str], needles: &[&str]) {
    let out = f.path("out.parquet");
    let _ = std::fs::remove_file(&out);
    let o = f.score(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: exit {:?}, stderr {err}", o.status);
    for n in needles {
        assert!(err.contains(n), "args {args:?}: {n:?} not in {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "args {args:?}: an output file was left behind");
    let leftovers: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn score_writes_the_table_with_labels_metadata_and_carried_columns() {
    let f = Fixture::new();
    let o = f.score(&["--qrels", f.path("qrels.tsv").to_str().unwrap(), "-k", "5", "--json", "--model", "m1", "--backend", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["schema_version"], 1);
    assert_eq!(summary["rows"], 30);
    assert_eq!(summary["backend"], "cpu");
    assert_eq!(summary["labels"]["docs_not_in_corpus"], 1);
    assert!(stderr(&o).contains("1 judgement names a document that is not in"), "{}", stderr(&o));

    let t = read_table(&f.path("out.parquet")).unwrap();
    assert_eq!(t.meta.schema_version, 1);
    assert_eq!(t.meta.model, "m1");
    assert_eq!(t.meta.metric, "cosine");
    assert_eq!(t.meta.k, 5);
    assert_eq!(t.meta.backend, "cpu");
    assert_eq!(t.meta.corpus_sha256, simcal::table::sha256_file(&f.path("c.parquet")).unwrap());
    assert_eq!(t.meta.queries_sha256.len(), 64);
    let b = &t.batch;
    let schema = b.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["query_id", "doc_id", "rank", "score", "label", "query_relevant", "section"]);
    let q = b.column(0).as_string::<i32>();
    let d = b.column(1).as_string::<i32>();
    let rank = b.column(2).as_primitive::<UInt32Type>();
    let score = b.column(3).as_primitive::<Float32Type>();
    let label = b.column(4).as_primitive::<Int32Type>();
    let nrel = b.column(5).as_primitive::<UInt32Type>();
    let section = b.column(6).as_string::<i32>();
    for i in 0..b.num_rows() {
        let qi = i / 5;
        assert_eq!(q.value(i), format!("q{qi}"));
        assert_eq!(rank.value(i) as usize, i % 5 + 1);
        if i % 5 > 0 {
            assert!(score.value(i) <= score.value(i - 1));
        }
        let want = match (q.value(i), d.value(i)) {
            ("q0", "c1") => 1,
            ("q0", "c2") => 2,
            ("q1", "c3") => 1,
            _ => 0,
        };
        assert_eq!(label.value(i), want);
        assert_eq!(nrel.value(i), [2, 2, 0, 0, 0, 0][qi]);
        assert_eq!(section.value(i), if qi % 2 == 0 { "even" } else { "odd" });
    }
}

#[test]
fn without_qrels_labels_are_null() {
    let f = Fixture::new();
    let o = f.score(&["-k", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = read_table(&f.path("out.parquet")).unwrap();
    assert_eq!(t.batch.column(4).null_count(), 18);
    assert_eq!(t.batch.column(5).null_count(), 18);
    // The default model name is the corpus file's stem.
    assert_eq!(t.meta.model, "c");
}

#[test]
fn trec_output_reads_back_to_the_same_floats() {
    let f = Fixture::new();
    assert!(f.score(&["-k", "4"]).status.success());
    let trec = f.path("run.trec");
    let o = f.score(&["-k", "4", "--format", "trec", "--out", trec.to_str().unwrap(), "--model", "mytag"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = read_table(&f.path("out.parquet")).unwrap();
    let scores = t.batch.column(3).as_primitive::<Float32Type>();
    let text = std::fs::read_to_string(&trec).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 24);
    for (i, line) in lines.iter().enumerate() {
        let p: Vec<&str> = line.split(' ').collect();
        assert_eq!(p.len(), 6, "{line}");
        assert_eq!(p[1], "Q0");
        assert_eq!(p[3], (i % 4 + 1).to_string());
        assert_eq!(p[4].parse::<f32>().unwrap(), scores.value(i));
        assert_eq!(p[5], "mytag");
    }
}

#[test]
fn trec_refuses_ids_with_whitespace() {
    let f = Fixture::new();
    let p = f.path("spaced.parquet");
    let mut names = ids("c", 10);
    names[3] = "two words".into();
    write_embeddings_parquet(&p, string_ids(&names), &random_values(80, 9), 8, VecType::Fixed, ValueType::F32, vec![]);
    let out = f.path("out.trec");
    let o = f.score(&["--corpus", p.to_str().unwrap(), "-k", "10", "--format", "trec", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("\"two words\""), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn npy_inputs_with_ids_files() {
    let f = Fixture::new();
    let (d, nq, nc) = (5, 3, 20);
    write_npy(&f.path("q.npy"), &random_values(nq * d, 41), nq, d, "<f4");
    write_npy(&f.path("c.npy"), &random_values(nc * d, 42), nc, d, "<f8");
    std::fs::write(f.path("cids.txt"), ids("doc", nc).join("\n")).unwrap();
    let o = f.score(&[
        "--queries",
        f.path("q.npy").to_str().unwrap(),
        "--corpus",
        f.path("c.npy").to_str().unwrap(),
        "--corpus-ids",
        f.path("cids.txt").to_str().unwrap(),
        "-k",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = read_table(&f.path("out.parquet")).unwrap();
    assert_eq!(t.batch.column(0).as_string::<i32>().value(0), "0");
    assert!(t.batch.column(1).as_string::<i32>().value(0).starts_with("doc"));
}

#[test]
fn a_failed_run_keeps_the_previous_output() {
    let f = Fixture::new();
    assert!(f.score(&["-k", "2"]).status.success());
    let before = std::fs::read(f.path("out.parquet")).unwrap();
    let o = f.score(&["-k", "2", "--corpus", f.path("nope.parquet").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(f.path("out.parquet")).unwrap(), before);
}

#[test]
fn missing_and_unreadable_files() {
    let f = Fixture::new();
    expect_bad(&f, &["--corpus", f.path("nope.parquet").to_str().unwrap()], &["nope.parquet", "No such file"]);
    expect_bad(&f, &["--queries", f.dir.path().to_str().unwrap()], &[f.dir.path().to_str().unwrap()]);
    expect_bad(&f, &["--qrels", f.path("nope.tsv").to_str().unwrap()], &["nope.tsv"]);
}

#[test]
fn corrupted_parquet() {
    let f = Fixture::new();
    let bytes = std::fs::read(f.path("c.parquet")).unwrap();
    std::fs::write(f.path("cut.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    expect_bad(&f, &["--corpus", f.path("cut.parquet").to_str().unwrap()], &["cut.parquet", "parquet"]);
    let mut flipped = bytes.clone();
    for b in flipped[8..bytes.len() / 2].iter_mut() {
        *b ^= 0x5a;
    }
    std::fs::write(f.path("flip.parquet"), &flipped).unwrap();
    expect_bad(&f, &["--corpus", f.path("flip.parquet").to_str().unwrap()], &["flip.parquet"]);
    std::fs::write(f.path("text.parquet"), "id,vec\n1,2\n").unwrap();
    expect_bad(&f, &["--corpus", f.path("text.parquet").to_str().unwrap()], &["text.parquet"]);
}

#[test]
fn wrong_column_types() {
    let f = Fixture::new();
    let p = f.path("strvec.parquet");
    write_batch(&p, vec![("id", string_ids(&ids("c", 3))), ("embedding", Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef)]);
    expect_bad(&f, &["--corpus", p.to_str().unwrap()], &["strvec.parquet", "no list-typed vector column"]);
    expect_bad(&f, &["--corpus", p.to_str().unwrap(), "--vec-col", "embedding"], &["expected a list of floats"]);
    let p2 = f.path("floatid.parquet");
    write_embeddings_parquet(
        &p2,
        Arc::new(Float32Array::from(vec![1.0, 2.0])),
        &random_values(16, 1),
        8,
        VecType::Fixed,
        ValueType::F32,
        vec![],
    );
    expect_bad(&f, &["--corpus", p2.to_str().unwrap()], &["floatid.parquet", "id column", "Float32"]);
    expect_bad(&f, &["--id-col", "nope"], &["no id column \"nope\""]);
    let p3 = f.path("ints.parquet");
    let child = Arc::new(arrow::array::Int32Array::from(vec![1; 16]));
    let list: ArrayRef =
        Arc::new(ListArray::new(Arc::new(Field::new("item", DataType::Int32, true)), OffsetBuffer::from_lengths([8, 8]), child, None));
    write_batch(&p3, vec![("id", string_ids(&ids("c", 2))), ("embedding", list)]);
    expect_bad(&f, &["--corpus", p3.to_str().unwrap()], &["ints.parquet", "expected float16, float32 or float64"]);
}

fn list_file(path: &Path, lengths: &[usize], list_nulls: Option<Vec<bool>>, value_nulls: Option<Vec<bool>>) {
    let total: usize = lengths.iter().sum();
    let values = random_values(total, 3);
    let child = Arc::new(Float32Array::new(values.into(), value_nulls.map(NullBuffer::from)));
    let list: ArrayRef = Arc::new(ListArray::new(
        Arc::new(Field::new("item", DataType::Float32, true)),
        OffsetBuffer::from_lengths(lengths.iter().copied()),
        child,
        list_nulls.map(NullBuffer::from),
    ));
    write_batch(path, vec![("id", string_ids(&ids("c", lengths.len()))), ("embedding", list)]);
}

#[test]
fn ragged_and_null_vectors() {
    let f = Fixture::new();
    // --corpus takes the fast leaf reader, --queries the arrow reader: both must name the row.
    for flag in ["--corpus", "--queries"] {
        let p = f.path("ragged.parquet");
        list_file(&p, &[8, 8, 8, 7, 8], None, None);
        expect_bad(&f, &[flag, p.to_str().unwrap()], &["ragged.parquet", "row 3", "\"c3\"", "7 values, expected 8"]);
        let p = f.path("nullvec.parquet");
        list_file(&p, &[8, 8, 0, 8], Some(vec![true, true, false, true]), None);
        expect_bad(&f, &[flag, p.to_str().unwrap()], &["nullvec.parquet", "row 2", "null vector"]);
        let p = f.path("nullval.parquet");
        let mut valid = vec![true; 32];
        valid[8 * 2 + 5] = false;
        list_file(&p, &[8, 8, 8, 8], None, Some(valid));
        expect_bad(&f, &[flag, p.to_str().unwrap()], &["nullval.parquet", "row 2", "null value at position 5"]);
    }
}

#[test]
fn nan_inf_and_zero_vectors() {
    let f = Fixture::new();
    for (name, bad, metric, msg) in
        [("nan", f32::NAN, "cosine", "NaN"), ("inf", f32::INFINITY, "dot", "infinite"), ("zero", 0.0, "cosine", "zero vector")]
    {
        let mut values = random_values(10 * 8, 5);
        if name == "zero" {
            values[7 * 8..8 * 8].iter_mut().for_each(|v| *v = 0.0);
        } else {
            values[7 * 8 + 3] = bad;
        }
        let p = f.path(&format!("{name}.parquet"));
        write_embeddings_parquet(&p, string_ids(&ids("c", 10)), &values, 8, VecType::Fixed, ValueType::F32, vec![]);
        expect_bad(&f, &["--corpus", p.to_str().unwrap(), "--metric", metric], &[&format!("{name}.parquet"), "row 7", "\"c7\"", msg]);
        expect_bad(&f, &["--queries", p.to_str().unwrap(), "--metric", metric], &[&format!("{name}.parquet"), "row 7", msg]);
    }
    // A zero vector is fine for the dot metric.
    let o = f.score(&["--corpus", f.path("zero.parquet").to_str().unwrap(), "--metric", "dot"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn dimension_mismatch_duplicates_empty_and_k_zero() {
    let f = Fixture::new();
    let p = f.path("d7.parquet");
    write_embeddings_parquet(&p, string_ids(&ids("c", 4)), &random_values(28, 1), 7, VecType::Fixed, ValueType::F32, vec![]);
    expect_bad(&f, &["--corpus", p.to_str().unwrap()], &["dimension mismatch", "q.parquet", "d7.parquet", "8", "7"]);

    let mut dup = ids("c", 6);
    dup[4] = "c1".into();
    let p = f.path("dup.parquet");
    write_embeddings_parquet(&p, string_ids(&dup), &random_values(48, 1), 8, VecType::Fixed, ValueType::F32, vec![]);
    expect_bad(&f, &["--corpus", p.to_str().unwrap()], &["dup.parquet", "row 4", "\"c1\"", "duplicate id (first seen at row 1)"]);
    expect_bad(&f, &["--queries", p.to_str().unwrap()], &["dup.parquet", "row 4", "duplicate id"]);

    let p = f.path("empty.parquet");
    write_embeddings_parquet(&p, string_ids(&[]), &[], 8, VecType::Fixed, ValueType::F32, vec![]);
    expect_bad(&f, &["--corpus", p.to_str().unwrap()], &["empty.parquet", "no corpus rows"]);
    expect_bad(&f, &["--queries", p.to_str().unwrap()], &["empty.parquet", "no query rows"]);
    let e = f.path("empty.npy");
    write_npy(&e, &[], 0, 8, "<f4");
    expect_bad(&f, &["--corpus", e.to_str().unwrap()], &["empty.npy", "no corpus rows"]);

    expect_bad(&f, &["-k", "0"], &["k must be at least 1"]);
}

#[test]
fn bad_npy_and_qrels() {
    let f = Fixture::new();
    let p = f.path("int.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }          \n";
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend([0u8; 16]);
    std::fs::write(&p, &bytes).unwrap();
    expect_bad(&f, &["--corpus", p.to_str().unwrap()], &["int.npy", "<i4", "not float16, float32 or float64"]);
    let t = f.path("trunc.npy");
    write_npy(&t, &random_values(80, 1), 10, 8, "<f4");
    let b = std::fs::read(&t).unwrap();
    std::fs::write(&t, &b[..b.len() - 10]).unwrap();
    expect_bad(&f, &["--corpus", t.to_str().unwrap()], &["trunc.npy", "truncated"]);
    let c = f.path("c.npy");
    write_npy(&c, &random_values(80, 1), 10, 8, "<f4");
    std::fs::write(f.path("short.txt"), "a\nb\n").unwrap();
    expect_bad(
        &f,
        &["--corpus", c.to_str().unwrap(), "--corpus-ids", f.path("short.txt").to_str().unwrap()],
        &["short.txt", "2 ids for 10 rows"],
    );

    std::fs::write(f.path("bad.qrels"), "q0 0 c1 1\nq0 0 c2\n").unwrap();
    expect_bad(&f, &["--qrels", f.path("bad.qrels").to_str().unwrap()], &["bad.qrels", "line 2", "expected 4 fields"]);
    std::fs::write(f.path("bad2.qrels"), "q0 0 c1 high\n").unwrap();
    expect_bad(&f, &["--qrels", f.path("bad2.qrels").to_str().unwrap()], &["bad2.qrels", "line 1", "not a number"]);
}

#[test]
fn run_scores_the_sample() {
    let out = tempfile::tempdir().unwrap();
    let o = simcal().args(["run", "--json", "--data"]).arg(data_dir()).arg("--out").arg(out.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    for enc in ["minilm", "lsa"] {
        let t = read_table(&out.path().join(format!("{enc}.scores.parquet"))).unwrap();
        assert_eq!(t.len(), 300 * 100);
        assert_eq!(t.meta.model, enc);
        // Every sample query has its one relevant document in the corpus.
        let nrel = t.batch.column(5).as_primitive::<UInt32Type>();
        assert!(nrel.values().iter().all(|&n| n == 1));
        // Fitted per section and applied: a calibration, probabilities, a decision per query.
        let art = simcal::calibrate::artifact::Artifact::read(&out.path().join(format!("{enc}.calibration.json"))).unwrap();
        assert_eq!(art.group_by, ["section"]);
        assert!(art.global.fitted && art.global.isotonic.is_some() && art.global.platt.is_some());
        assert!(art.groups.len() > 10);
        let c = read_table(&out.path().join(format!("{enc}.calibrated.parquet"))).unwrap();
        assert_eq!(c.len(), 300 * 100);
        assert!(c.batch.column_by_name("probability").is_some());
        let file = std::fs::File::open(out.path().join(format!("{enc}.decisions.parquet"))).unwrap();
        let rows: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(rows, 300);
        // Evaluated per section with its calibration.
        let e: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join(format!("{enc}.eval.json"))).unwrap()).unwrap();
        assert_eq!(e["schema_version"], 1);
        assert_eq!(e["global"]["ranking"]["queries"], 300);
        assert!(e["global"]["ranking"]["mean"]["ndcg_cut_10"].as_f64().unwrap() > 0.0);
        assert!(e["global"]["calibration"]["reliability"]["bins"].as_array().unwrap().len() > 1);
        assert!(e["groups"].as_array().unwrap().len() > 10);
    }
    let steps: Vec<&str> = v["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["score", "fit", "apply", "eval", "score", "fit", "apply", "eval", "report"]);
    // The report compares both encoders.
    let page = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(page.contains("minilm vs lsa"));
}

#[test]
fn bad_usage_exits_2() {
    let o = simcal().args(["score", "--queries", "x"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = simcal().args(["score", "--queries", "a", "--corpus", "b", "--out", "c", "--metric", "l2"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// Summaries are written for people: counts grouped by thousands, nouns that agree with them,
/// decisions as words; an error's cause is not printed twice.
#[test]
fn messages_read_as_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.parquet");
    let o = crate::common::score_sample("minilm", &t);
    assert!(stderr(&o).starts_with("30,000 rows (300 queries × top 100) from 2,500 corpus rows in "), "{}", stderr(&o));
    let c = dir.path().join("c.json");
    let o = simcal().arg("fit").arg("--scores").arg(&t).arg("--out").arg(&c).output().unwrap();
    assert!(stderr(&o).contains("\n30,000 labeled pairs (296 relevant), 0 groups, "), "{}", stderr(&o));
    let o = simcal()
        .arg("apply")
        .arg("--calibration")
        .arg(&c)
        .arg("--scores")
        .arg(&t)
        .arg("--out")
        .arg(dir.path().join("a.parquet"))
        .output()
        .unwrap();
    let err = stderr(&o);
    let summary = err.lines().last().unwrap();
    assert!(summary.starts_with("30,000 rows, 300 queries (act "), "{err}");
    assert!(!summary.contains('{') && summary.contains(", escalate "), "{err}");
    let o = simcal().args(["eval", "--scores"]).arg(dir.path().join("missing.parquet")).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    let o = simcal().arg("hist").arg("--scores").arg(&t).arg("--out").arg(dir.path().join("h.json")).output().unwrap();
    assert!(stderr(&o).contains(" irrelevant pairs from 1 table in "), "{}", stderr(&o));
}

/// Every choice the CLI takes is the library's own enum, named once (by its serde derivation):
/// each name parses back to its value, serialises as itself (the files' spelling), and is
/// what the command's help lists; the default the help shows is the library's `Default`.
#[test]
fn choices_are_the_librarys_enums_with_one_spelling() {
    use simcal::Choice;
    let help = |cmd: &str| String::from_utf8(simcal().args([cmd, "--help"]).output().unwrap().stdout).unwrap();
    fn check<T: Choice + PartialEq + std::fmt::Debug + std::str::FromStr>(help: &str, flag: &str) {
        let names = T::names();
        assert!(names.len() >= 2, "{names:?}");
        for name in names {
            let v = T::parse(name).unwrap();
            assert_eq!(v.name(), *name);
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(name));
            assert_eq!(name.parse::<T>().ok(), Some(v));
        }
        assert!(T::parse("no-such-choice").unwrap_err().contains(&simcal::choice::one_of(names)));
        let listed = format!("[possible values: {}]", names.join(", "));
        let at = help.find(&format!("{flag} <")).unwrap_or_else(|| panic!("{flag} in {help}"));
        let rest = &help[at..];
        let next = rest[2..].find("\n  -").map_or(rest.len(), |i| i + 2);
        assert!(rest[..next].contains(&listed), "{flag}: {} lacks {listed}", &rest[..next]);
    }
    use simcal::calibrate::certify::Unit;
    use simcal::calibrate::{Maps, Method};
    use simcal::embed::{Metric, ZeroVectors};
    use simcal::metrics::reliability::BinStrategy;
    use simcal::policy::DecideOn;
    use simcal::score::{gpu::Precision, BackendChoice};
    use simcal::stats::ltt::Fwer;
    let (score, fit, apply, eval, fuse) = (help("score"), help("fit"), help("apply"), help("eval"), help("fuse"));
    check::<Metric>(&score, "--metric");
    check::<BackendChoice>(&score, "--backend");
    check::<Precision>(&score, "--precision");
    check::<ZeroVectors>(&score, "--zero-vectors");
    check::<simcal::table::OutputFormat>(&score, "--format");
    check::<Maps>(&fit, "--method");
    check::<Unit>(&fit, "--unit");
    check::<Fwer>(&fit, "--fwer");
    check::<simcal::policy::CertifiedBy>(&fit, "--certified-by");
    check::<Method>(&apply, "--method");
    check::<DecideOn>(&apply, "--decide-on");
    check::<BinStrategy>(&eval, "--bin-strategy");
    check::<simcal::fuse::Method>(&fuse, "--method");
    check::<simcal::fuse::Norm>(&fuse, "--norm");
    // The defaults the help shows are the library's.
    let d = simcal::calibrate::FitOptions::default();
    for (flag, value) in [
        ("--abstain", d.abstain.to_string()),
        ("--min-pairs", d.min_pairs.to_string()),
        ("--folds", d.folds.to_string()),
        ("--bootstrap", d.bootstrap.to_string()),
        ("--unit", simcal::calibrate::certify::Unit::default().name().into()),
        ("--fwer", Fwer::default().name().into()),
        ("--method", "all".into()),
        ("--rel-level", simcal::labels::DEFAULT_REL_LEVEL.to_string()),
    ] {
        let at = fit.find(&format!("{flag} <")).unwrap_or_else(|| panic!("{flag} in {fit}"));
        let rest = &fit[at..];
        let next = rest[2..].find("\n  -").map_or(rest.len(), |i| i + 2);
        assert!(rest[..next].contains(&format!("[default: {value}]")), "{flag}: {}", &rest[..next]);
    }
    assert!(help("score").contains(&format!("[default: {}]", simcal::job::DEFAULT_K)));
    assert!(help("fuse").contains(&format!("[default: {}]", simcal::fuse::FuseOptions::default().rrf_k)));
}

/// The library's messages name options by their fields in backquotes; the CLI words each one
/// that is one of its flags as that flag, and leaves any other backquoted word alone.
#[test]
fn library_messages_are_worded_as_flags_by_the_cli() {
    use simcal::error::word_options;
    let flags =
        |name: &str| ["rrf-k", "backend"].contains(&name.replace('_', "-").as_str()).then(|| format!("--{}", name.replace('_', "-")));
    assert_eq!(word_options("`rrf_k` must be ≥ 0; use `backend` cpu", flags), "--rrf-k must be ≥ 0; use --backend cpu");
    assert_eq!(word_options("feature `gpu`, `Odd Name`, a ` lone", flags), "feature `gpu`, `Odd Name`, a ` lone");
    assert_eq!(word_options("`` and `x` at the end `", |n| Some(n.to_uppercase())), "`` and X at the end `");
    // Through the command: the same message with the flag, no markup left.
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r.trec");
    std::fs::write(&run, "q1 Q0 d1 1 0.5 x\n").unwrap();
    let o = simcal()
        .args(["fuse", "--rrf-k", "inf", "--run"])
        .arg(&run)
        .arg("--run")
        .arg(&run)
        .arg("--out")
        .arg(dir.path().join("f.parquet"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--rrf-k must be a finite number ≥ 0, not inf") && !err.contains('`'), "{err}");
}

/// No library message names a command-line flag (each front end words options its own way);
/// the only `--flag` words left in the library's strings are texts recorded in files, kept byte
/// for byte (an artifact's `reason`, an eval document's note).
#[test]
fn the_library_names_no_flag_in_its_strings() {
    let recorded = ["fewer than --min-pairs", "fewer than --min-relevant", "refit with --folds 5"];
    let src = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("src");
    let mut stack = vec![src];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            for (i, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") || !code.contains("--") || recorded.iter().any(|r| code.contains(r)) {
                    continue;
                }
                // A flag inside a string literal, or a string's continuation line.
                let flag = code.match_indices("--").any(|(at, _)| code[at + 2..].starts_with(|c: char| c.is_ascii_lowercase() || c == '{'));
                if flag && (code.contains('"') || !code.contains(' ') || code.ends_with('\\')) {
                    found.push(format!("{}:{}: {code}", path.display(), i + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "flag names in library strings:\n{}", found.join("\n"));
}

/// Another library's error text keeps its own quoting: the keys a TOML or JSON error names are
/// not taken for the CLI's flags, though some share their names (`max_ks`).
#[test]
fn parse_errors_name_keys_not_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[drift]\nmax_kss = 0.1\n").unwrap();
    let o = simcal().arg("run").arg("--config").arg(&config).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown field 'max_kss'") && err.contains("'max_ks'") && !err.contains("--max-ks"), "{err}");
}
