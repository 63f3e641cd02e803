//! `simcal run --config`: the nightly job from one config file, its outputs and manifest, and
//! the drift gate's exit code.

use std::path::{Path, PathBuf};

use crate::common::{data_dir, simcal};

/// A config scoring encoder `name` from the sample's `files` encoder, with an optional drift
/// baseline folder.
fn config(dir: &Path, name: &str, files: &str, baseline: Option<&Path>) -> PathBuf {
    let data = data_dir();
    let mut text = format!(
        "out = \"out-{name}\"\nqrels = {:?}\nk = 50\nbackend = \"cpu\"\ngroup_by = [\"section\"]\n\n[[encoder]]\nname = \"{name}\"\nqueries = {:?}\ncorpus = {:?}\n",
        data.join("qrels.tsv"),
        data.join(format!("{files}.queries.parquet")),
        data.join(format!("{files}.corpus.parquet")),
    );
    if let Some(b) = baseline {
        text.push_str(&format!("\n[drift]\nbaseline = {b:?}\nmax_ks = 0.1\n"));
    }
    let path = dir.join(format!("{name}-{files}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(config: &Path) -> (Option<i32>, serde_json::Value, String) {
    run_with(config, &[])
}

fn run_with(config: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let o = simcal().args(["run", "--json", "--config"]).arg(config).args(extra).output().unwrap();
    let doc = serde_json::from_slice(&o.stdout).unwrap_or_default();
    (o.status.code(), doc, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn nightly_job_writes_every_output_and_gates_on_drift() {
    let dir = tempfile::tempdir().unwrap();
    // First night: no baseline yet.
    let (code, doc, err) = run(&config(dir.path(), "minilm", "minilm", None));
    assert_eq!(code, Some(0), "{err}");
    let out = dir.path().join("out-minilm");
    for f in [
        "minilm.scores.parquet",
        "minilm.calibration.json",
        "minilm.calibrated.parquet",
        "minilm.decisions.parquet",
        "minilm.eval.json",
        "report.html",
        "run.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    // The manifest names each output with its hash.
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["outputs"], doc["outputs"]);
    let outputs = manifest["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 6);
    for o in outputs {
        let p = PathBuf::from(o["path"].as_str().unwrap());
        assert_eq!(o["sha256"], simcal::table::sha256_file(&p).unwrap(), "{}", p.display());
    }
    assert_eq!(manifest["drifted"], serde_json::json!([]));

    // The gate's baseline is a folder of its own; a typo in it (or a first night without the
    // explicit flag) is an error, not a gate that is silently off.
    let base = dir.path().join("baseline");
    let (code, _, err) = run(&config(dir.path(), "minilm", "minilm", Some(&dir.path().join("baselnie"))));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no baseline calibration for encoder minilm") && err.contains("--allow-missing-baseline"), "{err}");
    let (code, _, err) = run(&config(dir.path(), "minilm", "minilm", Some(&out)));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is the output folder"), "{err}");
    let same = config(dir.path(), "minilm", "minilm", Some(&base));
    let (code, doc, err) = run_with(&same, &["--allow-missing-baseline"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(doc["promoted"], serde_json::json!(["minilm"]));
    let baseline = base.join("minilm.calibration.json");
    assert_eq!(std::fs::read(&baseline).unwrap(), std::fs::read(out.join("minilm.calibration.json")).unwrap());

    // Second night, same encoder and data, gated against the first night: no drift.
    let (code, doc, err) = run(&same);
    assert_eq!(code, Some(0), "{err}");
    let drift = doc["steps"].as_array().unwrap().iter().find(|s| s["step"] == "drift").unwrap();
    assert_eq!(drift["drifted"], false);
    let good = std::fs::read(&baseline).unwrap();

    // A night where "minilm" is served by another model's vectors: the gate trips, exit 1,
    // and the outputs (drift report included) are written all the same; the baseline is kept.
    let other = config(dir.path(), "minilm", "lsa", Some(&base));
    let (code, doc, err) = run(&other);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("drift gate tripped for minilm"), "{err}");
    assert_eq!(doc["drifted"], serde_json::json!(["minilm"]));
    assert_eq!(doc["promoted"], serde_json::json!([]));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("minilm.drift.json")).unwrap()).unwrap();
    assert_eq!(report["drifted"], true);
    assert_eq!(std::fs::read(&baseline).unwrap(), good, "a drifted calibration replaced the baseline");
    // The next night is still compared with the last good calibration: it trips again.
    let (code, _, err) = run(&other);
    assert_eq!(code, Some(1), "the drifted night became the baseline: {err}");
    // Until a person accepts it.
    let o = simcal().args(["run", "--config"]).arg(&other).args(["--promote", "minilm"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&baseline).unwrap(), std::fs::read(out.join("minilm.calibration.json")).unwrap());
    let (code, _, err) = run(&other);
    assert_eq!(code, Some(0), "{err}");
    let o = simcal().args(["run", "--config"]).arg(&other).args(["--promote", "nosuch"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such encoder"));
}

#[test]
fn the_config_can_force_the_cpu_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "lsa", "lsa", None);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("cpu_kernel = \"portable\"\n{text}")).unwrap();
    let (code, _, err) = run(&path);
    assert_eq!(code, Some(0), "{err}");
    let t = simcal::table::read_table(&dir.path().join("out-lsa/lsa.scores.parquet")).unwrap();
    assert_eq!(t.meta.extra.get("simcal.cpu_kernel").map(String::as_str), Some("portable"));
    assert_eq!(t.meta.extra.get("simcal.cpu_kernel_chosen_by").map(String::as_str), Some("cpu_kernel"));
}

#[test]
fn bad_configs_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown.toml", "qrels = \"q\"\ncolour = 1\n[[encoder]]\nname = \"a\"\nqueries = \"q\"\ncorpus = \"c\"\n", "unknown field"),
        ("none.toml", "qrels = \"q\"\nencoder = []\n", "no [[encoder]]"),
        ("metric.toml", "qrels = \"q\"\n[[encoder]]\nname = \"a\"\nqueries = \"q\"\ncorpus = \"c\"\nmetric = \"l2\"\n", "metric \"l2\""),
        ("kernel.toml", "qrels = \"q\"\ncpu_kernel = \"avx9\"\n[[encoder]]\nname = \"a\"\nqueries = \"q\"\ncorpus = \"c\"\n", "cpu_kernel \"avx9\""),
        ("twice.toml", "qrels = \"q\"\n[[encoder]]\nname = \"a\"\nqueries = \"q\"\ncorpus = \"c\"\n[[encoder]]\nname = \"a\"\nqueries = \"q\"\ncorpus = \"c\"\n", "given twice"),
        ("missing.toml", "qrels = \"nope.tsv\"\n[[encoder]]\nname = \"a\"\nqueries = \"q.parquet\"\ncorpus = \"c.parquet\"\n", "q.parquet"),
    ];
    for (name, text, needle) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (code, _, err) = run(&p);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(needle), "{name}: wanted {needle:?} in {err}");
        if name != "missing.toml" {
            assert!(err.contains(name), "{name}: {err}");
        }
    }
}

#[test]
fn the_documented_config_runs_twice_gating_the_second_night() {
    // docs/nightly.toml as it is, in a tree of its own: docs/ beside data/ (the sample).
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    let config = dir.path().join("docs/nightly.toml");
    std::fs::copy(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("docs/nightly.toml"), &config).unwrap();
    std::os::unix::fs::symlink(data_dir(), dir.path().join("data")).unwrap();
    for night in 0..2 {
        // The first night has no baseline: it says so explicitly.
        let first: &[&str] = if night == 0 { &["--allow-missing-baseline"] } else { &[] };
        let o = simcal().args(["run", "--json", "--config"]).arg(&config).args(first).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "night {night}: {err}");
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let drift: Vec<&serde_json::Value> = doc["steps"].as_array().unwrap().iter().filter(|s| s["step"] == "drift").collect();
        // The first night has no baseline; the second is gated against the first, unchanged.
        assert_eq!(drift.len(), if night == 0 { 0 } else { 2 }, "night {night}");
        assert!(drift.iter().all(|d| d["drifted"] == false));
        assert!(dir.path().join("out/nightly/run.json").exists());
        assert_eq!(doc["outputs"].as_array().unwrap().len(), 11 + drift.len());
    }
}

#[test]
fn run_without_a_sample_in_data_says_where_it_looked() {
    // Started outside the repository: no ./data, and no path compiled into the binary.
    let dir = tempfile::tempdir().unwrap();
    let o = simcal().current_dir(dir.path()).arg("run").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("data: no sample here") && err.contains("--data FOLDER"), "{err}");
    assert!(!dir.path().join("out").exists(), "it wrote before failing");
}

#[test]
fn a_group_column_the_queries_lack_is_refused_before_any_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "minilm", "minilm", None);
    let text = std::fs::read_to_string(&path).unwrap().replace("group_by = [\"section\"]", "group_by = [\"sectoin\"]");
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = run(&path);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("group_by column \"sectoin\" is not a column of") && err.contains("section"), "{err}");
    assert!(!dir.path().join("out-minilm/minilm.scores.parquet").exists(), "it scored before checking");
}

#[test]
fn the_config_sets_what_fit_and_apply_take() {
    let dir = tempfile::tempdir().unwrap();
    let base = config(dir.path(), "minilm", "minilm", None);
    let text = std::fs::read_to_string(&base).unwrap()
        + "\n[calibration]\ntarget_precision = [0.8, 0.6]\nfwer = \"holm\"\ngrid = 200\nfolds = 1\nbootstrap = 0\n\n[decisions]\ntarget = 0.6\ncertified_by = \"global\"\n";
    let path = dir.path().join("set.toml");
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = run(&path);
    assert_eq!(code, Some(0), "{err}");
    let out = dir.path().join("out-minilm");
    let art = simcal::calibrate::artifact::Artifact::read(&out.join("minilm.calibration.json")).unwrap();
    assert_eq!(art.targets.precision, vec![0.8, 0.6]);
    let spec = art.certification.as_ref().unwrap();
    assert_eq!((simcal::Choice::name(spec.unit), simcal::Choice::name(spec.fwer), spec.grid), ("query", "holm", 200));
    assert!(art.held_out.is_none() && art.bootstrap == 0);
    // Decisions act on target 0.6's global certificate.
    let file = std::fs::File::open(out.join("minilm.decisions.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    use arrow::array::AsArray;
    for b in reader {
        let b = b.unwrap();
        let target = b.column_by_name("target").unwrap().as_primitive::<arrow::datatypes::Float64Type>();
        let cert = b.column_by_name("certificate").unwrap().as_string::<i32>();
        for r in 0..b.num_rows() {
            assert_eq!(target.value(r), 0.6);
            assert_eq!(cert.value(r), "all");
        }
    }
    // A choice that does not exist is refused, naming the table and field.
    let bad = std::fs::read_to_string(&base).unwrap() + "\n[calibration]\nunit = \"pairs\"\n";
    std::fs::write(&path, bad).unwrap();
    let (code, _, err) = run(&path);
    assert_eq!(code, Some(2));
    assert!(err.contains("[calibration] unit = \"pairs\"") && err.contains("pair-iid"), "{err}");
    let bad = std::fs::read_to_string(&base).unwrap() + "\n[decisions]\ncertify_by = \"global\"\n";
    std::fs::write(&path, bad).unwrap();
    let (code, _, err) = run(&path);
    assert_eq!(code, Some(2));
    assert!(err.contains("certify_by"), "{err}");
}
