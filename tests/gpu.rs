//! The GPU backend's schedule arithmetic and its command-line face: backend choice, adapter
//! names in the table's metadata, and the refusals.

use simcal::score::gpu::plan::{self, TILE};
use simcal::table::read_table;

use crate::cli::{expect_bad, stderr, Fixture};
use crate::engine::gpu_engines;

#[test]
fn candidate_slots_cover_three_k_in_whole_tiles() {
    assert_eq!(plan::cap(1), 256);
    assert_eq!(plan::cap(100), 384);
    assert_eq!(plan::cap(1024), 3072);
    assert_eq!(plan::cap(1025), 3200);
    for k in [1, 7, 85, 86, 100, 999, 4096] {
        let c = plan::cap(k);
        assert!(c >= 3 * k && c.is_multiple_of(TILE) && c < (3 * k).max(256) + TILE, "k {k}: {c}");
    }
}

#[test]
fn padding_rounds_up_to_the_kernel_steps() {
    assert_eq!(plan::padded_dim(1), 16);
    assert_eq!(plan::padded_dim(16), 16);
    assert_eq!(plan::padded_dim(17), 32);
    assert_eq!(plan::padded_dim(768), 768);
    assert_eq!(plan::padded_rows(0), 128);
    assert_eq!(plan::padded_rows(129), 256);
}

#[test]
fn dispatches_grow_with_the_rows_seen_and_cover_the_chunk() {
    let (cap, max) = (384, 1 << 20);
    // Unbounded (no query has k hits yet): cap rows, where every score fits in the slots.
    assert_eq!(plan::dispatch_rows(0, 0, 100_000, cap, false, max), 384);
    // Bounded: as many rows as were seen before (corpus rows of earlier chunks count).
    assert_eq!(plan::dispatch_rows(0, 384, 100_000, cap, true, max), 384);
    assert_eq!(plan::dispatch_rows(0, 768, 100_000, cap, true, max), 768);
    assert_eq!(plan::dispatch_rows(50_000, 0, 100_000, cap, true, max), 49_920);
    // Capped by the work limit, and by the chunk's end.
    assert_eq!(plan::dispatch_rows(0, 60_000, 100_000, cap, true, 4096), 4096);
    assert_eq!(plan::dispatch_rows(0, 99_900, 100_000, cap, true, max), 100);
    // Walking a chunk: every dispatch but the last starts and ends on a tile, none is empty,
    // and together they cover the chunk exactly.
    for (first, rows) in [(0u64, 1usize), (0, 1000), (777, 12_345), (1 << 20, 300_000)] {
        let (mut pos, mut n) = (0, 0);
        while pos < rows {
            let len = plan::dispatch_rows(first, pos, rows, cap, pos > 0, 100_000);
            assert!(len > 0 && (len.is_multiple_of(TILE) || pos + len == rows), "{first} {rows}: {pos} + {len}");
            pos += len;
            n += 1;
        }
        assert_eq!(pos, rows);
        assert!(n <= 2 + rows / 100_000 + 20, "{n} dispatches for {rows} rows");
    }
}

#[test]
fn dispatch_limits_follow_the_adapter() {
    // 2^38 multiply-adds: 1,024 queries of 768 dims cover about 350,000 rows.
    let rows = plan::max_dispatch_rows(1000, 768, 65_535);
    assert_eq!(rows % TILE, 0);
    assert!((300_000..=(1 << 38) / (1024 * 768)).contains(&rows), "{rows}");
    // Never more workgroups along x than allowed, never less than one tile.
    assert_eq!(plan::max_dispatch_rows(1, 16, 10), 10 * TILE);
    assert_eq!(plan::max_dispatch_rows(1 << 20, 1 << 14, 65_535), TILE);
    // Query positions: their candidate slots must fit one binding.
    assert_eq!(plan::max_dispatch_queries(384, 384 * 8 * 1000, 65_535), 896);
    assert_eq!(plan::max_dispatch_queries(384, 1, 65_535), TILE);
    assert_eq!(plan::max_dispatch_queries(256, u64::MAX, 4), 4 * TILE);
}

#[test]
fn precision_f16_and_adapter_are_refused_on_the_cpu() {
    let f = Fixture::new();
    expect_bad(&f, &["--backend", "cpu", "--precision", "f16"], &["f16", "CPU"]);
    expect_bad(&f, &["--backend", "cpu", "--adapter", "llvmpipe"], &["--adapter"]);
    expect_bad(&f, &["--precision", "f8"], &["f8"]);
}

#[test]
fn an_adapter_that_is_not_there_is_a_clear_error() {
    let f = Fixture::new();
    expect_bad(&f, &["--backend", "gpu", "--adapter", "no-such-gpu-anywhere"], &["no-such-gpu-anywhere", "adapters found"]);
    // auto with a named adapter does not fall back to the CPU silently.
    expect_bad(&f, &["--adapter", "no-such-gpu-anywhere"], &["no-such-gpu-anywhere"]);
}

#[test]
fn backend_gpu_names_the_adapter_in_the_table_and_the_summary() {
    if gpu_engines().is_empty() {
        return;
    }
    let adapter = simcal::score::gpu::adapters().remove(0);
    let f = Fixture::new();
    let o = f.score(&["--backend", "gpu", "-k", "7", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let named = summary["backend"].as_str().unwrap().to_owned();
    assert!(named.starts_with("gpu: ") && named.contains(&adapter.name), "{named}");
    let t = read_table(&f.path("out.parquet")).unwrap();
    assert_eq!(t.meta.backend, named);
    assert_eq!(t.len(), 6 * 7);

    // The same table as the CPU's, up to float rounding (measured 1.2e-7 on lavapipe).
    const TOL: f32 = 1e-6;
    let cpu = f.path("cpu.parquet");
    let o = f.score(&["--backend", "cpu", "-k", "7", "--out", cpu.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = read_table(&cpu).unwrap();
    use arrow::array::AsArray;
    let (gd, cd) = (t.batch.column(1).as_string::<i32>(), c.batch.column(1).as_string::<i32>());
    let gs = t.batch.column(3).as_primitive::<arrow::datatypes::Float32Type>();
    let cs = c.batch.column(3).as_primitive::<arrow::datatypes::Float32Type>();
    for i in 0..t.len() {
        assert!((gs.value(i) - cs.value(i)).abs() <= TOL, "row {i}");
    }
    // The same documents at each rank, except where two of a query's documents score within the
    // rounding of each other (a near tie either engine may order either way).
    let (k, rows) = (7, t.len());
    for q in (0..rows).step_by(k) {
        for r in q..q + k {
            if gd.value(r) == cd.value(r) {
                continue;
            }
            let on_cpu = (q..q + k).find(|&j| cd.value(j) == gd.value(r));
            match on_cpu {
                Some(j) => assert!((cs.value(j) - cs.value(r)).abs() <= TOL, "row {r}: {} ranks elsewhere on the CPU", gd.value(r)),
                // Beyond the CPU's top k: only where it ties the CPU's k-th score.
                None => assert!((gs.value(r) - cs.value(q + k - 1)).abs() <= TOL, "row {r}: {} is not in the CPU's top {k}", gd.value(r)),
            }
        }
    }

    // A named adapter is matched by a piece of its name, case-insensitively.
    let piece = adapter.name.split_whitespace().next().unwrap().to_uppercase();
    let o = f.score(&["--backend", "gpu", "--adapter", &piece, "-k", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn auto_uses_the_cpu_without_a_hardware_gpu() {
    if simcal::score::gpu::adapters().iter().any(|a| a.hardware) {
        eprintln!("auto_uses_the_cpu_without_a_hardware_gpu skipped: this machine has a hardware GPU");
        return;
    }
    let f = Fixture::new();
    let o = f.score(&["-k", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["backend"], "cpu");
}

#[test]
fn a_sorted_corpus_takes_the_overflow_path_and_random_data_does_not() {
    use simcal::embed::{Embeddings, InMemorySource, Metric};
    use simcal::score::gpu::{GpuBackend, GpuRequest};
    use simcal::score::{score_corpus, ScoreOptions};
    if gpu_engines().is_empty() {
        return;
    }
    let counts = |c: Embeddings, q: Embeddings| {
        let mut b = GpuBackend::open(&GpuRequest::default()).unwrap();
        let mut src = InMemorySource::new(c, 100_000);
        score_corpus(&mut b, &q, &mut src, ScoreOptions::new(10, Metric::Dot), &|_| Ok(())).unwrap();
        b.dispatch_counts()
    };
    let n = 20_000;
    // Each row beats every row before it: all pass each bound, and the slots overflow.
    let sorted = Embeddings::from_rows("c", crate::common::ids("c", n), 1, (0..n).map(|i| i as f32).collect()).unwrap();
    let q = Embeddings::from_rows("q", vec!["q".into()], 1, vec![1.0]).unwrap();
    let (dispatches, overflows) = counts(sorted, q);
    assert!(overflows > 0 && dispatches > overflows, "{dispatches} dispatches, {overflows} overflows");
    // Random order: the bound after the first rows keeps about k per dispatch, no overflow,
    // and the dispatches double in length (a handful for 20,000 rows).
    let c = crate::common::embeddings("c", n, 8, 41);
    let q = crate::common::embeddings("q", 50, 8, 42);
    let (dispatches, overflows) = counts(c, q);
    assert_eq!(overflows, 0);
    assert!(dispatches <= 8, "{dispatches} dispatches");
}

#[test]
fn driver_messages_stay_off_stderr_without_xdg_runtime_dir() {
    // Under cron, in containers and in CI there is no XDG_RUNTIME_DIR, and Vulkan drivers'
    // window-system probes complain about it on stderr: that must not read like simcal's errors.
    if gpu_engines().is_empty() {
        return;
    }
    let f = Fixture::new();
    let o = f.command(&["--backend", "gpu", "-k", "3"]).env_remove("XDG_RUNTIME_DIR").output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("XDG_RUNTIME_DIR") && !err.contains("error"), "{err}");
}
