//! A command writes all of its outputs or none, and leaves no temporary file behind: not on an
//! error, a full disk or stdout, a file-size limit, SIGTERM or SIGINT; a killed run's leftovers
//! are removed by the next write of the same output.

use std::path::Path;

use crate::common::{random_values, score_sample, simcal, write_npy};

/// Every name in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn temporaries(dir: &Path) -> Vec<String> {
    names(dir).into_iter().filter(|n| n.contains(".simcal-") && n.ends_with(".tmp")).collect()
}

/// Random queries and corpus as .npy files: `q` × `c` rows of dimension 8.
fn npy_pair(dir: &Path, q: usize, c: usize) -> (String, String) {
    let (qp, cp) = (dir.join("q.npy"), dir.join("c.npy"));
    write_npy(&qp, &random_values(q * 8, 1), q, 8, "<f4");
    write_npy(&cp, &random_values(c * 8, 2), c, 8, "<f4");
    (qp.to_str().unwrap().to_owned(), cp.to_str().unwrap().to_owned())
}

#[cfg(target_os = "linux")]
#[test]
fn a_command_writes_all_of_its_outputs_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    score_sample("minilm", &d.join("t.parquet"));
    let t = d.join("t.parquet");
    let t = t.to_str().unwrap();
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    // The table is written before the summary fails on a full stdout: neither lands.
    let (q, c) = npy_pair(d, 50, 300);
    let out = d.join("s.parquet");
    let o = simcal()
        .args(["score", "--backend", "cpu", "-k", "10", "--queries", &q, "--corpus", &c, "--json", "--out"])
        .arg(&out)
        .stdout(full())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(!out.exists(), "score wrote its table and then failed");
    // eval with --out: the JSON file and the printed report, all or nothing.
    let ev = d.join("e.json");
    let o = simcal().args(["eval", "--scores", t, "--out"]).arg(&ev).stdout(full()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!ev.exists(), "eval wrote --out and then failed");
    // apply writes --out and --decisions; with stdout full, neither.
    let cal = d.join("cal.json");
    let o = simcal().args(["fit", "--scores", t, "--bootstrap", "0", "--out"]).arg(&cal).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, dec) = (d.join("a.parquet"), d.join("dec.jsonl"));
    let o = simcal()
        .args(["apply", "--calibration"])
        .arg(&cal)
        .args(["--scores", t, "--json", "--out"])
        .arg(&a)
        .arg("--decisions")
        .arg(&dec)
        .stdout(full())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!a.exists() && !dec.exists(), "apply wrote some of its outputs");
    // The same command with a working stdout writes both.
    let o = simcal()
        .args(["apply", "--calibration"])
        .arg(&cal)
        .args(["--scores", t, "--json", "--out"])
        .arg(&a)
        .arg("--decisions")
        .arg(&dec)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(a.exists() && dec.exists());
    assert_eq!(temporaries(d), Vec::<String>::new());
}

#[cfg(target_os = "linux")]
#[test]
fn a_file_size_limit_is_an_error_that_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (q, c) = npy_pair(d, 500, 2000);
    let before = names(d);
    // 64 KB: far less than the table of 500 × 100 rows.
    let script = format!("ulimit -f 64; exec \"$0\" score --backend cpu -k 100 --queries {q} --corpus {c} --out {}/s.parquet", d.display());
    let o = std::process::Command::new("sh").arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_simcal")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "killed instead of failing: {:?} {err}", o.status);
    assert!(err.contains("cannot write it: File too large") && !err.contains("not a readable"), "{err}");
    assert_eq!(names(d), before, "a file was left behind");
}

#[cfg(unix)]
#[test]
fn sigterm_and_sigint_remove_the_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A table of 4M rows: its write takes long enough to be caught in the act.
    let (q, c) = npy_pair(d, 20_000, 2_000);
    for (signal, sig, code) in [("TERM", libc::SIGTERM, 143), ("INT", libc::SIGINT, 130)] {
        let before = names(d);
        let mut child = simcal()
            .args(["score", "--backend", "cpu", "-k", "200", "--queries", &q, "--corpus", &c, "--out"])
            .arg(d.join("s.parquet"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while temporaries(d).is_empty() {
            assert!(child.try_wait().unwrap().is_none(), "the command ended before its temporary file was seen");
            assert!(start.elapsed().as_secs() < 120, "no temporary file appeared");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // SAFETY: sends a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}: {status:?}");
        assert_eq!(names(d), before, "SIG{signal} left a file behind");
    }
}

#[cfg(unix)]
#[test]
fn stale_temporaries_of_dead_processes_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (q, c) = npy_pair(d, 20, 50);
    // One from a process that no longer runs (no pid is this large), one from a running process
    // (this test), and one of another output: only the first goes.
    let dead = ".s.parquet.simcal-99999999.Ab12Cd.tmp";
    let alive = format!(".s.parquet.simcal-{}.Ef34Gh.tmp", std::process::id());
    let other = ".t.parquet.simcal-99999999.Ij56Kl.tmp";
    for n in [dead, alive.as_str(), other] {
        std::fs::write(d.join(n), b"half a table").unwrap();
    }
    let o = simcal()
        .args(["score", "--backend", "cpu", "-k", "5", "--queries", &q, "--corpus", &c, "--out"])
        .arg(d.join("s.parquet"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let left = temporaries(d);
    assert!(!left.contains(&dead.to_owned()), "{left:?}");
    assert!(left.contains(&alive) && left.contains(&other.to_owned()), "{left:?}");
}
