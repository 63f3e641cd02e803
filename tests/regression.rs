//! `simcal run` on the data/ sample writes the same bytes as it did when
//! tests/golden/run_outputs.sha256 was made: score tables, calibrations, calibrated tables,
//! decisions, eval documents and the report. A change to any of them is either a bug or an
//! intended change, which is blessed (`SIMCAL_BLESS=1 cargo test --release regression`) and
//! shows in the commit as a changed digest.
//!
//! The run is made reproducible: creation times from `SOURCE_DATE_EPOCH`, the portable CPU
//! kernel (the vectorised kernels sum in other orders, so their scores differ in the last bits
//! from one processor to another), relative paths from a fixed working directory. The manifest
//! (run.json) holds timings and the host's description, so it is not compared.

use std::path::Path;

use super::common::simcal;

const OUTPUTS: [&str; 11] = [
    "minilm.scores.parquet",
    "minilm.calibration.json",
    "minilm.calibrated.parquet",
    "minilm.decisions.parquet",
    "minilm.eval.json",
    "lsa.scores.parquet",
    "lsa.calibration.json",
    "lsa.calibrated.parquet",
    "lsa.decisions.parquet",
    "lsa.eval.json",
    "report.html",
];

/// The digests of one run's outputs, `sha256  name` per line.
fn run_digests(threads: &str) -> String {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root.join("data"), dir.path().join("data")).unwrap();
    let o = simcal()
        .current_dir(dir.path())
        .args(["run", "--backend", "cpu"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("SIMCAL_CPU_KERNEL", "portable")
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut out = String::new();
    for name in OUTPUTS {
        let digest = simcal::table::sha256_file(&dir.path().join("out").join(name)).unwrap();
        out.push_str(&format!("{digest}  {name}\n"));
    }
    out
}

#[test]
fn run_outputs_are_byte_identical_to_the_committed_digests() {
    let golden = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/golden/run_outputs.sha256");
    let got = run_digests("2");
    // The outputs do not depend on the number of worker threads.
    assert_eq!(run_digests("1"), got, "one worker thread wrote other bytes than two");
    if std::env::var_os("SIMCAL_BLESS").is_some() {
        std::fs::write(&golden, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    let changed: Vec<&str> = got.lines().zip(want.lines()).filter(|(g, w)| g != w).map(|(g, _)| g).collect();
    assert!(
        changed.is_empty() && got.lines().count() == want.lines().count(),
        "simcal run's outputs changed (bless an intended change with SIMCAL_BLESS=1):\n{}",
        changed.join("\n")
    );
}
