//! No command writes over its inputs or into anything but a regular file: every destination is
//! checked before any work, however its path is spelled.

use std::path::{Path, PathBuf};

use crate::common::{data_dir, score_sample, simcal};

/// Runs simcal in `dir` and expects exit 2 with `needle` in the message.
fn refused(dir: &Path, args: &[&str], needle: &str) {
    let o = simcal().current_dir(dir).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?} was not refused: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

/// The bytes of every file under `dir` (by name).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn no_command_writes_over_an_input_however_it_is_spelled() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    score_sample("minilm", &d.join("t.parquet"));
    for (name, file) in [("q.parquet", "minilm.queries.parquet"), ("c.parquet", "minilm.corpus.parquet"), ("qrels.tsv", "qrels.tsv")] {
        std::fs::copy(data_dir().join(file), d.join(name)).unwrap();
    }
    let ok = simcal().current_dir(d).args(["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", "cal.json"]).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let ok = simcal().current_dir(d).args(["hist", "--scores", "t.parquet", "--out", "h.json"]).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.join("t.parquet"), d.join("link.parquet")).unwrap();
    let before = snapshot(d);
    let never = "never writes over its inputs";
    // The table under three spellings: relative with ./, through .., and a link to it.
    let mut spellings = vec!["./t.parquet", "sub/../t.parquet"];
    if cfg!(unix) {
        spellings.push("link.parquet");
    }
    for t in spellings {
        refused(d, &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", t], never);
        refused(d, &["eval", "--scores", "t.parquet", "--out", t], never);
        refused(d, &["report", "--scores", "t.parquet", "--out", t], never);
        refused(d, &["hist", "--scores", "t.parquet", "--out", t], never);
        refused(d, &["drift", "--baseline", "cal.json", "--scores", "t.parquet", "--out", t], never);
        refused(d, &["merge", "t.parquet", "--out", t], never);
        refused(d, &["fuse", "--run", "t.parquet", "--out", t], never);
        refused(d, &["apply", "--calibration", "cal.json", "--scores", "t.parquet", "--out", t], never);
    }
    // Every other input of a command.
    refused(d, &["score", "--queries", "q.parquet", "--corpus", "c.parquet", "--out", "./c.parquet"], never);
    refused(d, &["score", "--queries", "q.parquet", "--corpus", "c.parquet", "--qrels", "qrels.tsv", "--out", "qrels.tsv"], never);
    refused(d, &["apply", "--calibration", "cal.json", "--scores", "t.parquet", "--out", "a.parquet", "--decisions", "cal.json"], never);
    refused(d, &["drift", "--baseline", "cal.json", "--scores", "t.parquet", "--out", "sub/../cal.json"], never);
    refused(d, &["eval", "--scores", "t.parquet", "--calibration", "cal.json", "--out", "cal.json"], never);
    refused(d, &["fit", "--from-histograms", "h.json", "--out", "h.json"], never);
    // Two outputs of one command in one file.
    refused(
        d,
        &["apply", "--calibration", "cal.json", "--scores", "t.parquet", "--out", "a.parquet", "--decisions", "./a.parquet"],
        "each output needs its own file",
    );
    // Not a regular file, or no folder to put it in.
    refused(d, &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", "sub"], "is a folder");
    #[cfg(unix)]
    refused(d, &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", "/dev/null"], "not a regular file");
    refused(d, &["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", "nowhere/cal.json"], "there is no folder nowhere");
    // Nothing was touched, and nothing was left behind.
    assert_eq!(snapshot(d), before, "an input changed or a file appeared");
    assert_eq!(snapshot(&d.join("sub")), vec![], "a file appeared in sub/");
}

#[test]
fn edited_artifacts_huge_arguments_and_reapplied_tables_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    score_sample("minilm", &d.join("t.parquet"));
    let ok = |args: &[&str]| {
        let o = simcal().current_dir(d).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    ok(&["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", "cal.json"]);
    // Edits that would give probabilities outside [0, 1], NaN, or a panic on a short map.
    let art: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("cal.json")).unwrap()).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 5] = [
        ("values", |a| a["global"]["isotonic"]["y"].as_array_mut().unwrap().truncate(1)),
        ("not probabilities", |a| a["global"]["isotonic"]["y"][0] = serde_json::json!(5.0)),
        ("ascending", |a| {
            let x = a["global"]["isotonic"]["x"].as_array_mut().unwrap();
            x.reverse();
        }),
        ("abstain band", |a| a["abstain"] = serde_json::json!({"low": 0.9, "high": 0.5})),
        ("decision map", |a| a["global"]["decision"]["isotonic"]["y"][0] = serde_json::json!(-3.0)),
    ];
    for (needle, edit) in edits {
        let mut a = art.clone();
        edit(&mut a);
        std::fs::write(d.join("bad.json"), serde_json::to_vec(&a).unwrap()).unwrap();
        for args in [
            &["apply", "--calibration", "bad.json", "--scores", "t.parquet", "--out", "a.parquet"][..],
            &["eval", "--scores", "t.parquet", "--calibration", "bad.json"],
            &["report", "--scores", "t.parquet", "--calibration", "bad.json", "--out", "r.html"],
        ] {
            refused(d, args, "invalid calibration artifact");
            refused(d, args, needle);
        }
    }
    assert!(!d.join("a.parquet").exists() && !d.join("r.html").exists());
    // Counts far beyond use are refused at once, not allocated or run for minutes.
    refused(d, &["fit", "--scores", "t.parquet", "--bootstrap", "10000000000", "--out", "c.json"], "bootstrap 10000000000: at most");
    refused(d, &["eval", "--scores", "t.parquet", "--calibration", "cal.json", "--bins", "1000000000"], "--bins 1000000000: expected 1 to");
    // Applying to a table applied before replaces its probability column.
    ok(&["apply", "--calibration", "cal.json", "--scores", "t.parquet", "--out", "a.parquet"]);
    ok(&["apply", "--calibration", "cal.json", "--scores", "a.parquet", "--out", "b.parquet"]);
    let t = simcal::table::read_table(&d.join("b.parquet")).unwrap();
    let names: Vec<String> = t.batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names.iter().filter(|n| *n == "probability").count(), 1, "{names:?}");
    let a = simcal::table::read_table(&d.join("a.parquet")).unwrap();
    assert_eq!(a.batch.column_by_name("probability").unwrap(), t.batch.column_by_name("probability").unwrap());
}

#[test]
fn a_closed_or_full_stdout_is_not_a_panic() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.parquet");
    score_sample("minilm", &t);
    let t = t.to_str().unwrap();
    for args in [&["eval", "--scores", t, "--per-query"][..], &["eval", "--scores", t, "--json", "--per-query"]] {
        // The reader goes away before simcal writes (as `| head -1` does after one line).
        let mut child = simcal().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    #[cfg(target_os = "linux")]
    {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let o = simcal().args(["eval", "--scores", t]).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("No space left") && !err.contains("panicked"), "{err}");
    }
}

/// A scoped thread the OS cannot start (here: a stack no machine can map) is an error that
/// names the thread, and the scope goes on.
#[test]
fn a_scoped_thread_that_cannot_start_is_an_error() {
    use simcal::error::{spawn_scoped, spawn_scoped_with, Error};
    std::thread::scope(|s| {
        let huge = std::thread::Builder::new().stack_size(1 << 50);
        match spawn_scoped_with(huge, s, "staging", || 1) {
            Err(Error::Unavailable(m)) => assert!(m.starts_with("cannot start the staging thread: "), "{m}"),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a 1 PiB stack started"),
        }
        let ok = spawn_scoped(s, "staging", || 2).map(|h| h.join().ok());
        assert!(matches!(ok, Ok(Some(2))));
    });
}

/// Threads the OS will not start (here every new thread asks for a 64 TiB stack through
/// `RUST_MIN_STACK`, which std reads) are an error with exit 2, not a panic, and nothing is
/// written.
#[test]
fn threads_that_cannot_start_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir();
    let out = dir.path().join("t.parquet");
    let o = simcal()
        .env("RUST_MIN_STACK", (1u64 << 46).to_string())
        .args(["score", "--backend", "cpu", "--queries"])
        .arg(data.join("minilm.queries.parquet"))
        .arg("--corpus")
        .arg(data.join("minilm.corpus.parquet"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: cannot start worker threads: ") && !err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "something was written");
}

#[test]
fn qrels_grades_are_integers_and_beir_headers_are_read_by_name() {
    use simcal::labels::read_qrels;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // A byte-order mark, a reordered header and an extra column: the same judgements.
    let plain = read_qrels(&write("a.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n")).unwrap();
    let odd = read_qrels(&write("b.tsv", "\u{feff}score\tnote\tcorpus-id\tquery-id\n2\tx\td1\tq1\n0.0\ty\td2\tq1\n")).unwrap();
    assert_eq!(plain.judged, odd.judged);
    assert_eq!(odd.get("q1", "d1"), Some(2));
    // A fraction or a grade beyond i32 is refused with its line, never rounded or clamped.
    for (text, line, needle) in [
        ("q1 0 d1 1\nq1 0 d2 0.5\n", "line 2", "not an integer grade"),
        ("q1 0 d1 99999999999\n", "line 1", "outside the range"),
        ("query-id\tcorpus-id\tscore\nq1\td1\n", "line 2", "expected 3 tab-separated fields"),
    ] {
        let e = read_qrels(&write("c.txt", text)).unwrap_err().to_string();
        assert!(e.contains(line) && e.contains(needle), "{text:?}: {e}");
    }
}

#[test]
fn zero_vectors_are_an_error_or_scored_zero_and_counted() {
    use crate::common::{random_values, write_npy};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut c = random_values(30 * 8, 5);
    c[7 * 8..8 * 8].fill(0.0);
    write_npy(&d.join("c.npy"), &c, 30, 8, "<f4");
    write_npy(&d.join("q.npy"), &random_values(4 * 8, 6), 4, 8, "<f4");
    let score = |extra: &[&str], out: &str| {
        simcal()
            .current_dir(d)
            .args(["score", "--backend", "cpu", "-k", "30", "--queries", "q.npy", "--corpus", "c.npy", "--out", out, "--json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = score(&[], "a.parquet");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("row 7") && err.contains("zero vector") && err.contains("--zero-vectors zero"), "{err}");
    assert!(!d.join("a.parquet").exists());
    let o = score(&["--zero-vectors", "zero"], "b.parquet");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["zero_vectors"]["corpus_rows"], 1);
    assert_eq!(v["zero_vectors"]["queries"], 0);
    let t = simcal::table::read_table(&d.join("b.parquet")).unwrap();
    assert_eq!(t.meta.extra["simcal.zero_corpus_rows"], "1");
    // Document 7 scores exactly 0 for every query (k = 30 keeps every document).
    let doc = t.batch.column_by_name("doc_id").unwrap().as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
    let score = t.batch.column_by_name("score").unwrap().as_any().downcast_ref::<arrow::array::Float32Array>().unwrap();
    let zeros: Vec<f32> = (0..t.batch.num_rows()).filter(|&i| doc.value(i) == "7").map(|i| score.value(i)).collect();
    assert_eq!(zeros, vec![0.0; 4]);
}

#[test]
fn dot_products_beyond_f32_are_refused_at_the_source() {
    use crate::common::write_npy;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Norms of 2.8e20 and 2.8e19: finite inputs whose dot products reach 8e39 > f32::MAX.
    write_npy(&d.join("q.npy"), &[1e20; 3 * 8], 3, 8, "<f4");
    let mut c = vec![1.0f32; 10 * 8];
    c[4 * 8..5 * 8].fill(1e19);
    write_npy(&d.join("c.npy"), &c, 10, 8, "<f4");
    let o = simcal()
        .current_dir(d)
        .args(["score", "--backend", "cpu", "--metric", "dot", "-k", "5", "--queries", "q.npy", "--corpus", "c.npy", "--out", "t.parquet"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("c.npy") && err.contains("row 4") && err.contains("beyond f32's range"), "{err}");
    assert!(!d.join("t.parquet").exists());
}

#[test]
fn drift_and_report_refuse_baselines_and_calibrations_that_do_not_fit_the_table() {
    use crate::calibration::write_labeled_table;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_labeled_table(&d.join("base.parquet"), 600, 20, 1, "enc-v1");
    let o = simcal()
        .current_dir(d)
        .args(["fit", "--scores", "base.parquet", "--bootstrap", "0", "--group-by", "section", "--out", "cal.json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A table partitioned otherwise: the sample's Debian sections share no key with alpha/beta/gamma.
    score_sample("minilm", &d.join("other.parquet"));
    refused(
        d,
        &["drift", "--baseline", "cal.json", "--scores", "other.parquet"],
        "none of the baseline's 4 groups by section is in this table",
    );
    // A damaged baseline: histogram counts that do not add up to the pairs.
    let mut art: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("cal.json")).unwrap()).unwrap();
    let counts = &mut art["global"]["distributions"]["relevant"]["counts"][0];
    *counts = serde_json::json!(counts.as_u64().unwrap() + 7);
    std::fs::write(d.join("bad.json"), serde_json::to_string(&art).unwrap()).unwrap();
    refused(d, &["drift", "--baseline", "bad.json", "--scores", "base.parquet"], "histogram counts sum to");
    // A calibration for a model none of the tables has is an error, not an in-sample fit.
    refused(
        d,
        &["report", "--scores", "other.parquet", "--calibration", "cal.json", "--out", "r.html"],
        "its model \"enc-v1\" is none of the score tables'",
    );
    assert!(!d.join("r.html").exists());
    // The table the baseline was fitted on: every group shared, no note, within tolerances.
    let o = simcal().current_dir(d).args(["drift", "--baseline", "cal.json", "--scores", "base.parquet"]).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("section=alpha: relevant KS") && out.ends_with("within tolerances\n"), "{out}");
    assert!(!err.contains("note"), "{err}");
}

#[test]
fn options_offer_only_what_works_and_report_labels_from_qrels() {
    use crate::common::data_dir;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = data_dir();
    // A table scored without qrels: report --qrels labels it, as its help says.
    let o = simcal()
        .current_dir(d)
        .args(["score", "--backend", "cpu", "-k", "50", "--out", "u.parquet", "--queries"])
        .arg(data.join("minilm.queries.parquet"))
        .arg("--corpus")
        .arg(data.join("minilm.corpus.parquet"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = simcal()
        .current_dir(d)
        .args(["report", "--scores", "u.parquet", "--out", "r.html", "--qrels"])
        .arg(data.join("qrels.tsv"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(page.contains("ECE"), "the report has no calibration");
    // apply and eval use one map: `all` is not offered (clap refuses it as any unknown value).
    score_sample("minilm", &d.join("t.parquet"));
    let o = simcal().current_dir(d).args(["fit", "--scores", "t.parquet", "--bootstrap", "0", "--out", "cal.json"]).output().unwrap();
    assert!(o.status.success());
    for cmd in [
        &["apply", "--calibration", "cal.json", "--scores", "t.parquet", "--out", "a.parquet", "--method", "all"][..],
        &["eval", "--scores", "t.parquet", "--calibration", "cal.json", "--method", "all"],
    ] {
        let o = simcal().current_dir(d).args(cmd).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("invalid value 'all'") && err.contains("[possible values: isotonic, platt]"), "{err}");
    }
    // Grammar: one run.
    let o = simcal().current_dir(d).args(["fuse", "--run", "t.parquet", "--out", "f.parquet"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("fused from 1 run by"), "{err}");
}
