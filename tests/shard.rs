//! Sharded scoring: corpus shards scored apart and merged give the single run's table, row for
//! row; the merge refuses parts that do not make one job; shards run as separate processes the
//! way Kubernetes Indexed Jobs and Slurm arrays start them.

use std::path::{Path, PathBuf};

use simcal::table::read_table;

use crate::common::{ids, random_values, simcal, string_ids, write_embeddings_parquet, write_npy, ValueType, VecType};

const DIM: usize = 8;

/// Queries (20, with a section column), a corpus of `n` rows in row groups of 37 with exact
/// duplicates across shard boundaries (ties), the same corpus as .npy, and qrels.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(n: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let sections: arrow::array::ArrayRef =
            std::sync::Arc::new(arrow::array::StringArray::from((0..20).map(|i| format!("s{}", i % 3)).collect::<Vec<_>>()));
        write_embeddings_parquet(
            &dir.path().join("q.parquet"),
            string_ids(&ids("q", 20)),
            &random_values(20 * DIM, 31),
            DIM,
            VecType::Fixed,
            ValueType::F32,
            vec![("section", sections)],
        );
        let mut c = random_values(n * DIM, 32);
        for dup in [36usize, 37, 38, 90, 150] {
            if dup < n {
                let src: Vec<f32> = c[5 * DIM..6 * DIM].to_vec();
                c[dup * DIM..(dup + 1) * DIM].copy_from_slice(&src);
            }
        }
        write_embeddings_parquet(&dir.path().join("c.parquet"), string_ids(&ids("d", n)), &c, DIM, VecType::Fixed, ValueType::F32, vec![]);
        write_npy(&dir.path().join("c.npy"), &c, n, DIM, "<f4");
        let qrels: String = (0..20).map(|q| format!("q{q} 0 d{} 1\nq{q} 0 d{} 2\n", (q * 7) % n, (q * 13 + 5) % n)).collect();
        std::fs::write(dir.path().join("qrels.txt"), qrels).unwrap();
        Fixture { dir }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn score(&self, corpus: &str, k: usize, extra: &[&str], out: &Path) -> std::process::Output {
        let mut c = simcal();
        // Every process on one kernel: each measures the kernels itself, and under load two
        // may choose differently (kernels sum in different orders, so the last bits differ).
        let kernel = simcal::score::cpu::Isa::available().first().map_or("portable".to_owned(), ToString::to_string);
        c.env("SIMCAL_CPU_KERNEL", kernel);
        c.args(["score", "--backend", "cpu", "--chunk-rows", "16", "-k", &k.to_string(), "--queries"])
            .arg(self.p("q.parquet"))
            .arg("--corpus")
            .arg(self.p(corpus))
            .arg("--qrels")
            .arg(self.p("qrels.txt"))
            .args(extra)
            .arg("--out")
            .arg(out);
        c.output().unwrap()
    }
}

fn ok(o: std::process::Output) -> std::process::Output {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn merge(parts: &[PathBuf], out: &Path) -> std::process::Output {
    simcal().arg("merge").args(parts).arg("--out").arg(out).output().unwrap()
}

/// The two tables' rows, every column, equal.
fn same_rows(a: &Path, b: &Path) {
    let (a, b) = (read_table(a).unwrap(), read_table(b).unwrap());
    assert_eq!(a.batch.schema().fields(), b.batch.schema().fields());
    assert_eq!(a.batch.num_rows(), b.batch.num_rows());
    for (i, f) in a.batch.schema().fields().iter().enumerate() {
        assert_eq!(a.batch.column(i).as_ref(), b.batch.column(i).as_ref(), "column {}", f.name());
    }
    assert_eq!((a.meta.queries_sha256, a.meta.corpus_sha256, a.meta.k), (b.meta.queries_sha256, b.meta.corpus_sha256, b.meta.k));
}

#[test]
fn shards_merge_to_the_single_run_row_for_row() {
    let n = 200;
    let f = Fixture::new(n);
    for corpus in ["c.parquet", "c.npy"] {
        for k in [10, 40] {
            let single = f.p(&format!("single-{corpus}-{k}.parquet"));
            ok(f.score(corpus, k, &[], &single));
            for shards in [1usize, 2, 3, 7, n + 9] {
                let parts: Vec<PathBuf> = (0..shards)
                    .map(|i| {
                        let out = f.p(&format!("part-{corpus}-{k}-{shards}-{i}.parquet"));
                        ok(f.score(corpus, k, &["--shard", &format!("{i}/{shards}")], &out));
                        out
                    })
                    .collect();
                let merged = f.p(&format!("merged-{corpus}-{k}-{shards}.parquet"));
                ok(merge(&parts, &merged));
                same_rows(&single, &merged);
                let m = read_table(&merged).unwrap().meta;
                assert_eq!(m.extra["simcal.merged_shards"], shards.to_string());
                assert!(!m.extra.contains_key("simcal.shard"));
            }
        }
    }
    // A part records its shard, its rows and the corpus size.
    let part = read_table(&f.p("part-c.parquet-10-3-1.parquet")).unwrap().meta;
    assert_eq!(part.extra["simcal.shard"], "1/3");
    assert_eq!(part.extra["simcal.shard_rows"], "66..133");
    assert_eq!(part.extra["simcal.corpus_rows"], "200");
}

fn refused(parts: &[PathBuf], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.parquet");
    let o = merge(parts, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "wanted {needle:?} in {err}");
    assert!(!out.exists());
}

#[test]
fn merge_refuses_parts_that_are_not_one_job() {
    let f = Fixture::new(60);
    let part = |corpus: &str, k: usize, shard: &str, name: &str| {
        let out = f.p(name);
        ok(f.score(corpus, k, &["--shard", shard], &out));
        out
    };
    let p0 = part("c.parquet", 10, "0/3", "p0.parquet");
    let p1 = part("c.parquet", 10, "1/3", "p1.parquet");
    let p2 = part("c.parquet", 10, "2/3", "p2.parquet");
    refused(&[p0.clone(), p2.clone()], "missing shard 1/3 (have 2 of 3)");
    refused(std::slice::from_ref(&p0), "missing shards 1/3, 2/3 (have 1 of 3)");
    refused(&[p0.clone(), p1.clone(), p1.clone(), p2.clone()], "shard 1/3 given twice");
    let k20 = part("c.parquet", 20, "1/3", "k20.parquet");
    refused(&[p0.clone(), k20.clone(), p2.clone()], "was scored with k = 20");
    let npy = part("c.npy", 10, "1/3", "npy.parquet");
    refused(&[p0.clone(), npy, p2.clone()], "was scored from other inputs than");
    let of4 = part("c.parquet", 10, "1/4", "of4.parquet");
    refused(&[p0.clone(), of4, p2.clone()], "parts of different jobs");
    let whole = f.p("whole.parquet");
    ok(f.score("c.parquet", 10, &[], &whole));
    refused(&[p0.clone(), whole, p2.clone()], "not a shard part");
    // A part labeled from other judgements: the same columns, other labels.
    std::fs::write(f.p("qrels.txt"), "q1 0 d3 1\n").unwrap();
    let relabeled = part("c.parquet", 10, "1/3", "relabeled.parquet");
    refused(&[p0, relabeled, p2], "was labeled from other qrels than");
}

#[test]
fn bad_shard_specs_are_refused() {
    let f = Fixture::new(30);
    for (spec, needle) in [
        ("3/3", "shard 3 of 3 does not exist"),
        ("1/0", "N must be a whole number"),
        ("x/3", "I must be a whole number or auto"),
        ("auto/3", "neither JOB_COMPLETION_INDEX"),
        ("2", "expected I/N or auto/N"),
    ] {
        let out = f.p("x.parquet");
        let mut c = simcal();
        c.env_remove("JOB_COMPLETION_INDEX").env_remove("SLURM_ARRAY_TASK_ID");
        c.args(["score", "--backend", "cpu", "--queries"]).arg(f.p("q.parquet")).arg("--corpus").arg(f.p("c.parquet"));
        let o = c.args(["--shard", spec]).arg("--out").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{spec}: {err}");
        assert!(err.contains(needle), "{spec}: wanted {needle:?} in {err}");
        assert!(!out.exists());
    }
}

/// Starts every shard at once as its own process, with the environment a scheduler gives it.
fn run_shards(f: &Fixture, shards: usize, env: &dyn Fn(usize) -> Vec<(&'static str, String)>, tag: &str) -> Vec<PathBuf> {
    let children: Vec<std::process::Child> = (0..shards)
        .map(|i| {
            let mut c = simcal();
            c.env_remove("JOB_COMPLETION_INDEX").env_remove("SLURM_ARRAY_TASK_ID").env_remove("SLURM_ARRAY_TASK_MIN");
            for (k, v) in env(i) {
                c.env(k, v);
            }
            c.args(["score", "--backend", "cpu", "-k", "15", "--queries"])
                .arg(f.p("q.parquet"))
                .arg("--corpus")
                .arg(f.p("c.parquet"))
                .arg("--qrels")
                .arg(f.p("qrels.txt"))
                .args(["--shard", &format!("auto/{shards}")])
                .arg("--out")
                .arg(f.p(&format!("{tag}-part-{{shard}}.parquet")))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    (0..shards).map(|i| f.p(&format!("{tag}-part-{i}.parquet"))).collect()
}

#[test]
fn shards_run_as_separate_processes_merge_to_the_single_run() {
    let f = Fixture::new(150);
    let single = f.p("single.parquet");
    ok(f.score("c.parquet", 15, &[], &single));
    // Kubernetes Indexed Job: JOB_COMPLETION_INDEX = 0..N-1.
    let parts = run_shards(&f, 4, &|i| vec![("JOB_COMPLETION_INDEX", i.to_string())], "k8s");
    let merged = f.p("k8s.parquet");
    ok(merge(&parts, &merged));
    same_rows(&single, &merged);
    // Slurm array --array=1-5: task ids from SLURM_ARRAY_TASK_MIN.
    let parts = run_shards(&f, 5, &|i| vec![("SLURM_ARRAY_TASK_ID", (i + 1).to_string()), ("SLURM_ARRAY_TASK_MIN", "1".into())], "slurm");
    let merged = f.p("slurm.parquet");
    ok(merge(&parts, &merged));
    same_rows(&single, &merged);
    // A retried shard overwrites its part in place, and nothing else is left in the folder.
    let before = std::fs::read_dir(f.dir.path()).unwrap().count();
    let again = run_shards(&f, 4, &|i| vec![("JOB_COMPLETION_INDEX", i.to_string())], "k8s");
    assert_eq!(std::fs::read_dir(f.dir.path()).unwrap().count(), before);
    ok(merge(&again, &merged));
    same_rows(&single, &merged);
}

/// The sample's minilm inputs laid out as the docs/ scripts expect them under `data`.
fn docs_data(data: &Path) {
    let sample = crate::common::data_dir();
    for d in ["in", "parts", "out"] {
        std::fs::create_dir_all(data.join(d)).unwrap();
    }
    std::fs::copy(sample.join("minilm.queries.parquet"), data.join("in/queries.parquet")).unwrap();
    std::fs::copy(sample.join("minilm.corpus.parquet"), data.join("in/corpus.parquet")).unwrap();
    std::fs::copy(sample.join("qrels.tsv"), data.join("in/qrels.tsv")).unwrap();
}

fn docs_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("docs").join(name)).unwrap()
}

/// A folder with `simcal` (this build) and `srun` (runs its arguments) for the scripts' PATH.
fn shim_path(dir: &Path) -> std::ffi::OsString {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_simcal"), bin.join("simcal")).unwrap();
    std::fs::write(bin.join("srun"), "#!/bin/sh\nexec \"$@\"\n").unwrap();
    std::fs::set_permissions(bin.join("srun"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut path = bin.into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    path
}

#[test]
fn docs_kubernetes_and_slurm_scripts_shard_and_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    docs_data(&data);
    let path = shim_path(dir.path());
    let single = dir.path().join("single.parquet");
    let o = simcal()
        .args(["score", "--model", "minilm", "-k", "100", "--queries"])
        .arg(data.join("in/queries.parquet"))
        .arg("--corpus")
        .arg(data.join("in/corpus.parquet"))
        .arg("--qrels")
        .arg(data.join("in/qrels.tsv"))
        .arg("--out")
        .arg(&single)
        .output()
        .unwrap();
    ok(o);
    let d = data.to_str().unwrap();

    // Kubernetes: the Indexed Job's container command for each completion index, then the
    // merge Job's command, with /data mounted at `data`.
    let job = docs_file("k8s/simcal-shards.yaml");
    let completions: usize =
        job.lines().find_map(|l| l.trim().strip_prefix("completions:")).unwrap().split('#').next().unwrap().trim().parse().unwrap();
    let command: Vec<String> = job
        .lines()
        .skip_while(|l| l.trim() != "command:")
        .skip(1)
        .take_while(|l| l.trim_start().starts_with("- "))
        .map(|l| l.trim_start()[2..].trim().replace("/data", d))
        .collect();
    assert_eq!(command[0], "simcal");
    assert!(command.iter().any(|a| a == &format!("--shard=auto/{completions}")), "{command:?}");
    for i in 0..completions {
        let o = std::process::Command::new(&command[0])
            .args(&command[1..])
            .env("PATH", &path)
            .env("JOB_COMPLETION_INDEX", i.to_string())
            .env_remove("SLURM_ARRAY_TASK_ID")
            .output()
            .unwrap();
        ok(o);
    }
    let merge_job = docs_file("k8s/simcal-merge.yaml");
    let line = merge_job.lines().find(|l| l.trim_start().starts_with("command:")).unwrap();
    let script = line.split("\"-c\", \"").nth(1).unwrap().trim_end_matches("\"]").replace("/data", d);
    ok(std::process::Command::new("sh").args(["-c", &script]).env("PATH", &path).output().unwrap());
    same_rows(&single, &data.join("out/minilm.scores.parquet"));

    // Slurm: the array script once per task id (srun runs its command here), then the merge
    // that submit.sh queues behind it.
    std::fs::remove_dir_all(data.join("parts")).unwrap();
    std::fs::remove_file(data.join("out/minilm.scores.parquet")).unwrap();
    let sbatch = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("docs/slurm/simcal-shards.sbatch");
    let array = docs_file("slurm/simcal-shards.sbatch");
    let range = array.lines().find_map(|l| l.strip_prefix("#SBATCH --array=")).unwrap();
    let (lo, hi) = range.split_once('-').unwrap();
    let (lo, hi): (usize, usize) = (lo.parse().unwrap(), hi.parse().unwrap());
    for t in lo..=hi {
        let o = std::process::Command::new("bash")
            .arg(&sbatch)
            .env("PATH", &path)
            .env("DATA", &data)
            .env("SLURM_ARRAY_TASK_ID", t.to_string())
            .env("SLURM_ARRAY_TASK_MIN", lo.to_string())
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .unwrap();
        ok(o);
    }
    let submit = docs_file("slurm/submit.sh");
    let wrap = submit.lines().skip_while(|l| !l.contains("--wrap")).nth(1).unwrap().trim().trim_matches('"').replace("$DATA", d);
    ok(std::process::Command::new("sh").args(["-c", &wrap]).env("PATH", &path).output().unwrap());
    same_rows(&single, &data.join("out/minilm.scores.parquet"));
}
