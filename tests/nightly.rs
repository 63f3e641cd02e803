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
    let o = simcal().args(["run", "--json", "--config"]).arg(config).output().unwrap();
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

    // Second night, same encoder and data, gated against the first night: no drift.
    let (code, doc, err) = run(&config(dir.path(), "minilm", "minilm", Some(&out)));
    assert_eq!(code, Some(0), "{err}");
    let drift = doc["steps"].as_array().unwrap().iter().find(|s| s["step"] == "drift").unwrap();
    assert_eq!(drift["drifted"], false);

    // A night where "minilm" is served by another model's vectors: the gate trips, exit 1,
    // and the outputs (drift report included) are written all the same.
    let (code, doc, err) = run(&config(dir.path(), "minilm", "lsa", Some(&out)));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("drift gate tripped for minilm"), "{err}");
    assert_eq!(doc["drifted"], serde_json::json!(["minilm"]));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("minilm.drift.json")).unwrap()).unwrap();
    assert_eq!(report["drifted"], true);
}

#[test]
fn bad_configs_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown.toml", "qrels = \"q\"\ncolour = 1\n[[encoder]]\nname = \"a\"\nqueries = \"q\"\ncorpus = \"c\"\n", "unknown field"),
        ("none.toml", "qrels = \"q\"\nencoder = []\n", "no [[encoder]]"),
        ("metric.toml", "qrels = \"q\"\n[[encoder]]\nname = \"a\"\nqueries = \"q\"\ncorpus = \"c\"\nmetric = \"l2\"\n", "metric \"l2\""),
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
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/nightly.toml"), &config).unwrap();
    std::os::unix::fs::symlink(data_dir(), dir.path().join("data")).unwrap();
    for night in 0..2 {
        let o = simcal().args(["run", "--json", "--config"]).arg(&config).output().unwrap();
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
