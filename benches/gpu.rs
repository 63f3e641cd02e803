//! The GPU path against the CPU path on the same files: writes a queries and a corpus parquet
//! file once (bench-data/gpu/), then times `simcal score` as a whole process with
//! `--backend cpu`, `--backend gpu --precision f32` and (where the adapter has shader-f16)
//! `--precision f16`, in interleaved rounds. Prints per backend the median wall time, the median
//! scoring time and GFLOP/s (from `--json`), how many top-k ids agree with the CPU's, and the
//! ratios to the CPU.
//!
//! `cargo bench --bench gpu`; sizes from SIMCAL_BENCH_NQ (default 1,024 queries),
//! SIMCAL_BENCH_N (50,000 corpus rows), SIMCAL_BENCH_D (768), SIMCAL_BENCH_K (100),
//! SIMCAL_BENCH_ROUNDS (5). On a large GPU: SIMCAL_BENCH_NQ=10000 SIMCAL_BENCH_N=1000000, and
//! benches/gpu_torch.py times torch.matmul + torch.topk on the same files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use simcal::table::read_table;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes `n` random unit vectors of `d` dims (ids `{prefix}{i}`), in row groups of 64 Ki rows.
fn write(path: &Path, prefix: &str, n: usize, d: usize, seed: u64) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("embedding", DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), d as i32), false),
    ]));
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).expect("writer");
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    for start in (0..n).step_by(1 << 16) {
        let rows = (1usize << 16).min(n - start);
        let mut values = Vec::with_capacity(rows * d);
        for _ in 0..rows {
            let v: Vec<f32> = (0..d).map(|_| next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            values.extend(v.iter().map(|x| x / norm));
        }
        let ids: ArrayRef = Arc::new(StringArray::from((start..start + rows).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>()));
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let vectors: ArrayRef = Arc::new(FixedSizeListArray::new(item, d as i32, Arc::new(Float32Array::from(values)), None));
        w.write(&RecordBatch::try_new(schema.clone(), vec![ids, vectors]).expect("batch")).expect("write");
    }
    w.close().expect("close");
    std::fs::rename(&tmp, path).expect("rename");
}

struct Run {
    wall: f64,
    scoring: f64,
    gflops: f64,
    backend: String,
}

fn score(q: &Path, c: &Path, k: usize, out: &Path, args: &[&str]) -> Run {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_simcal"))
        .args(["score", "--json", "-k", &k.to_string(), "--queries"])
        .arg(q)
        .arg("--corpus")
        .arg(c)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .expect("run simcal");
    let wall = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "simcal {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    Run {
        wall,
        scoring: v["scoring_seconds"].as_f64().unwrap_or(f64::NAN),
        gflops: v["gflops"].as_f64().unwrap_or(f64::NAN),
        backend: v["backend"].as_str().unwrap_or("?").to_owned(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Fraction of (query, rank) positions naming the same document in two score tables.
fn agreement(a: &Path, b: &Path) -> f64 {
    use arrow::array::AsArray;
    let (a, b) = (read_table(a).expect("table"), read_table(b).expect("table"));
    let (da, db) = (a.batch.column(1).as_string::<i32>(), b.batch.column(1).as_string::<i32>());
    let same = (0..a.len().min(b.len())).filter(|&i| da.value(i) == db.value(i)).count();
    same as f64 / a.len().max(1) as f64
}

fn main() {
    let (nq, n, d, k) =
        (env("SIMCAL_BENCH_NQ", 1024), env("SIMCAL_BENCH_N", 50_000), env("SIMCAL_BENCH_D", 768), env("SIMCAL_BENCH_K", 100));
    let rounds = env("SIMCAL_BENCH_ROUNDS", 5).max(1);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-data").join("gpu");
    std::fs::create_dir_all(&dir).expect("bench-data/gpu");
    let q = dir.join(format!("queries-{nq}x{d}.parquet"));
    let c = dir.join(format!("corpus-{n}x{d}.parquet"));
    if !q.exists() {
        write(&q, "q", nq, d, 1);
    }
    if !c.exists() {
        write(&c, "d", n, d, 2);
    }
    let Some(adapter) = simcal::score::gpu::adapters().into_iter().next() else {
        println!("gpu bench: no wgpu adapter on this machine (install mesa-vulkan-drivers for lavapipe); nothing to compare");
        return;
    };
    let mut configs: Vec<(&str, Vec<&str>)> =
        vec![("cpu", vec!["--backend", "cpu"]), ("gpu f32", vec!["--backend", "gpu", "--precision", "f32"])];
    if adapter.f16 {
        configs.push(("gpu f16", vec!["--backend", "gpu", "--precision", "f16"]));
    }
    println!("gpu bench: {nq} queries × {n} corpus × {d} dims, k = {k}, {rounds} rounds; adapter {adapter}");
    let mut runs: Vec<Vec<Run>> = configs.iter().map(|_| Vec::new()).collect();
    let outs: Vec<PathBuf> = (0..configs.len()).map(|i| dir.join(format!("out-{i}.parquet"))).collect();
    for _ in 0..rounds {
        for (i, (_, args)) in configs.iter().enumerate() {
            runs[i].push(score(&q, &c, k, &outs[i], args));
        }
    }
    let cpu_wall = median(runs[0].iter().map(|r| r.wall).collect());
    let cpu_scoring = median(runs[0].iter().map(|r| r.scoring).collect());
    for (i, (name, _)) in configs.iter().enumerate() {
        let wall = median(runs[i].iter().map(|r| r.wall).collect());
        let scoring = median(runs[i].iter().map(|r| r.scoring).collect());
        let gflops = median(runs[i].iter().map(|r| r.gflops).collect());
        println!(
            "{name:8} wall {wall:8.3} s  scoring {scoring:8.3} s  {gflops:9.1} GFLOP/s  same ids as cpu {:6.2}%  wall ×{:.2} scoring ×{:.2} vs cpu  [{}]",
            100.0 * agreement(&outs[i], &outs[0]),
            cpu_wall / wall,
            cpu_scoring / scoring,
            runs[i][0].backend
        );
    }
}
