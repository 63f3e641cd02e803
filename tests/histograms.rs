//! Score histograms that merge: sums across tables equal the whole table's counts, and a fit
//! from histograms is within the stated resolution of the exact fit on the data/ sample.

use std::path::{Path, PathBuf};

use simcal::calibrate::histogram::{edge, Histograms, BITS};
use simcal::table::{read_table, write_parquet, ScoreTable};

use crate::common::{score_sample, simcal};

fn ok(o: std::process::Output) -> std::process::Output {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// The sample's minilm table, labeled, with its section column.
fn sample_table(dir: &Path) -> PathBuf {
    let out = dir.join("minilm.parquet");
    score_sample("minilm", &out);
    out
}

fn hist(table: &Path, out: &Path, extra: &[&str]) {
    ok(simcal().args(["hist", "--group-by", "section", "--scores"]).arg(table).args(extra).arg("--out").arg(out).output().unwrap());
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn histograms_of_parts_sum_to_the_whole_tables() {
    let dir = tempfile::tempdir().unwrap();
    let table = sample_table(dir.path());
    hist(&table, &dir.path().join("whole.json"), &[]);
    // The table in two halves, as two nights or two query batches would give it.
    let t = read_table(&table).unwrap();
    let half = t.len() / 2;
    let parts: Vec<PathBuf> = [(0, half), (half, t.len() - half)]
        .iter()
        .enumerate()
        .map(|(i, &(a, n))| {
            let p = dir.path().join(format!("half{i}.parquet"));
            write_parquet(&ScoreTable::new(t.batch.slice(a, n), t.meta.clone()), &p).unwrap();
            hist(&p, &dir.path().join(format!("half{i}.json")), &[]);
            p
        })
        .collect();
    let sum = Histograms::read_all(&[dir.path().join("half0.json"), dir.path().join("half1.json")]).unwrap();
    let whole = Histograms::read(&dir.path().join("whole.json")).unwrap();
    assert_eq!(sum.global, whole.global);
    assert_eq!(sum.groups, whole.groups);
    assert_eq!(sum.pairs(), (296, 29_704));
    assert_eq!(sum.sources.len(), 2);
    // `hist --add` sums the same way, and refuses a table already summed in.
    hist(&parts[1], &dir.path().join("added.json"), &["--add", dir.path().join("half0.json").to_str().unwrap()]);
    assert_eq!(Histograms::read(&dir.path().join("added.json")).unwrap().global, whole.global);
    let o = simcal()
        .args(["hist", "--group-by", "section", "--scores"])
        .arg(&parts[0])
        .args(["--add", dir.path().join("half0.json").to_str().unwrap(), "--out"])
        .arg(dir.path().join("twice.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is already summed in"));
    // Every bin edge is a float32 at or below the scores it holds, one bin width apart.
    for &(b, _, _) in &whole.global.bins {
        let (lo, hi) = (edge(b), edge(b + 1));
        assert!(lo < hi && (hi - lo) <= lo.abs().max(f32::MIN_POSITIVE) * 2f32.powi(-(BITS as i32 - 9)), "{lo} {hi}");
    }
}

#[test]
fn fit_from_histograms_is_within_one_bin_of_the_exact_fit() {
    let dir = tempfile::tempdir().unwrap();
    let table = sample_table(dir.path());
    let h = dir.path().join("h.json");
    hist(&table, &h, &[]);
    let fit = |args: &[&str], out: &Path| {
        ok(simcal()
            .args(["fit", "--group-by", "section", "--bootstrap", "0", "--target-precision", "0.8", "0.9"])
            .args(args)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap());
        json(out)
    };
    let exact = fit(&["--scores", table.to_str().unwrap()], &dir.path().join("exact.json"));
    let binned = fit(&["--from-histograms", h.to_str().unwrap()], &dir.path().join("binned.json"));
    let mut compared = 0;
    let groups = |a: &serde_json::Value| -> Vec<serde_json::Value> {
        std::iter::once(a["global"].clone()).chain(a["groups"].as_array().unwrap().iter().cloned()).collect()
    };
    for (x, b) in groups(&exact).iter().zip(groups(&binned)) {
        assert_eq!(x["key"], b["key"]);
        for (tx, tb) in x["thresholds"].as_array().unwrap().iter().zip(b["thresholds"].as_array().unwrap()) {
            if let (Some(sx), Some(sb)) = (tx["score"].as_f64(), tb["score"].as_f64()) {
                // The binned threshold is its bin's lower edge: at or below, within one bin.
                assert!(sb <= sx && sx - sb <= sx.abs() * 2f64.powi(-15), "{}: {sx} vs {sb}", x["key"]);
                compared += 1;
            }
        }
    }
    assert!(compared > 20, "{compared} thresholds compared");
    // Reliability of each calibration on the table: ECE within 1e-5 (measured 1.1e-6).
    let ece = |cal: &str| -> f64 {
        let o = ok(simcal().args(["eval", "--json", "--scores"]).arg(&table).args(["--calibration", cal]).output().unwrap());
        let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        d["global"]["calibration"]["reliability"]["ece"].as_f64().unwrap()
    };
    let (ex, eb) = (ece(dir.path().join("exact.json").to_str().unwrap()), ece(dir.path().join("binned.json").to_str().unwrap()));
    assert!((ex - eb).abs() <= 1e-5, "ECE {ex} vs {eb}");
    // Separation from histograms against the table's.
    let o = ok(simcal().args(["eval", "--json", "--histograms"]).arg(&h).output().unwrap());
    let from_h: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = ok(simcal().args(["eval", "--json", "--scores"]).arg(&table).output().unwrap());
    let from_t: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Measured: ROC AUC 1.1e-7 apart, average precision 2.6e-5, KS 0.
    for (m, tol) in [("roc_auc", 1e-6), ("average_precision", 1e-4), ("ks", 1e-6)] {
        let (a, b) = (from_h["global"]["separation"][m].as_f64().unwrap(), from_t["global"]["separation"][m].as_f64().unwrap());
        assert!((a - b).abs() <= tol, "{m}: {a} vs {b}");
    }
    // Grouping other than the histograms' is refused.
    let o = simcal()
        .args(["fit", "--group-by", "other", "--from-histograms"])
        .arg(&h)
        .arg("--out")
        .arg(dir.path().join("x.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("grouped by [section]"));
}
