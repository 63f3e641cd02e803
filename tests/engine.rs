//! One parity suite for every scoring backend: the CPU engine on each instruction set this
//! processor runs, and the GPU backend (f32 storage, and f16 storage where the adapter has
//! `shader-f16`), each against a naive f64 reference.
//!
//! The GPU engines need a wgpu adapter; llvmpipe (Debian's mesa-vulkan-drivers) is enough. Where
//! none is found they are skipped with a note on stderr, except under CI (the `CI` environment
//! variable), where a missing adapter fails the suite.

use simcal::embed::{Embeddings, InMemorySource, Metric};
use simcal::score::cpu::{CpuBackend, Isa};
use simcal::score::gpu::{self, GpuBackend, GpuRequest, Precision};
use simcal::score::{score_corpus, AnyBackend, Hit, ScoreOptions, Scored};

use crate::common::{embeddings, naive_topk};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Engine {
    Cpu(Isa),
    Gpu(Precision),
}

impl Engine {
    pub fn backend(self) -> Box<dyn AnyBackend> {
        match self {
            Engine::Cpu(isa) => {
                let b = CpuBackend::with_isa(isa);
                assert_eq!(b.isa(), isa);
                Box::new(b)
            }
            Engine::Gpu(precision) => {
                let b = GpuBackend::open(&GpuRequest { hardware_only: false, adapter: None, precision }).unwrap();
                assert_eq!(b.precision(), precision);
                Box::new(b)
            }
        }
    }

    /// Score tolerance against the f64 reference: f32 everywhere, except f16 storage (an
    /// element's relative rounding is 2^-11; accumulation stays f32).
    pub fn tol(self) -> f64 {
        match self {
            Engine::Gpu(Precision::F16) => 4e-3,
            _ => 1e-5,
        }
    }
}

/// The GPU engines this machine can run; see the module's note on skipping.
pub fn gpu_engines() -> Vec<Engine> {
    let found = gpu::adapters();
    let Some(best) = found.first() else {
        if std::env::var_os("CI").is_some() {
            panic!("CI must run the GPU suite, but wgpu found no adapter: install mesa-vulkan-drivers (lavapipe)");
        }
        eprintln!("GPU parity tests skipped: no wgpu adapter on this machine (install mesa-vulkan-drivers for lavapipe)");
        return Vec::new();
    };
    let mut out = vec![Engine::Gpu(Precision::F32)];
    if best.f16 {
        out.push(Engine::Gpu(Precision::F16));
    }
    out
}

/// Every engine: the CPU on each instruction set, then the GPU's.
pub fn engines() -> Vec<Engine> {
    let mut out: Vec<Engine> = Isa::available().into_iter().map(Engine::Cpu).collect();
    out.extend(gpu_engines());
    out
}

fn every_engine(f: impl Fn(Engine)) {
    for e in engines() {
        f(e);
    }
}

pub fn run(engine: Engine, q: &Embeddings, c: &Embeddings, k: usize, metric: Metric, chunk: usize) -> Scored {
    let mut backend = engine.backend();
    let mut src = InMemorySource::new(c.clone(), chunk);
    backend.score_corpus(q, &mut src, ScoreOptions::new(k, metric), &|_| Ok(())).unwrap()
}

/// Checks hits against the reference: same length, each hit's score equal to the reference
/// score of its row within `tol`, rank order, and a valid top k (no reference score above the
/// k-th returned one by more than `tol`). Returns how many positions name the same row.
fn check(hits: &[Vec<Hit>], reference: &[Vec<(u64, f64)>], q: &Embeddings, c: &Embeddings, cosine: bool, tol: f64) -> usize {
    let all = naive_topk(q, c, c.len(), cosine);
    let mut same = 0;
    for (qi, (h, r)) in hits.iter().zip(reference).enumerate() {
        assert_eq!(h.len(), r.len(), "query {qi}: hit count");
        let exact: std::collections::HashMap<u64, f64> = all[qi].iter().copied().collect();
        let mut rows: Vec<u64> = h.iter().map(|x| x.row).collect();
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(rows.len(), h.len(), "query {qi}: a row returned twice");
        for w in h.windows(2) {
            assert!(w[0].score > w[1].score || (w[0].score == w[1].score && w[0].row < w[1].row), "query {qi}: rank order {w:?}");
        }
        for hit in h {
            let want = exact[&hit.row];
            assert!((hit.score as f64 - want).abs() <= tol, "query {qi} row {}: score {} vs {want}", hit.row, hit.score);
        }
        let kth = h.last().unwrap().score as f64;
        assert!(r.last().unwrap().1 <= kth + tol, "query {qi}: missed a better document");
        same += h.iter().zip(r).filter(|(a, b)| a.row == b.0).count();
    }
    same
}

#[test]
fn random_data_matches_reference() {
    every_engine(|e| {
        let q = embeddings("q", 37, 64, 1);
        let c = embeddings("c", 1000, 64, 2);
        for metric in [Metric::Cosine, Metric::Dot] {
            let cosine = metric == Metric::Cosine;
            let out = run(e, &q, &c, 10, metric, 300);
            let r = naive_topk(&q, &c, 10, cosine);
            let same = check(&out.hits, &r, &q, &c, cosine, e.tol());
            let need = if e.tol() > 1e-5 { 37 * 10 * 9 / 10 } else { 37 * 10 - 2 };
            assert!(same >= need, "{e:?}: only {same} of 370 positions agree");
        }
    });
}

#[test]
fn many_queries_span_several_blocks_and_chunks() {
    every_engine(|e| {
        let q = embeddings("q", 700, 48, 3);
        let c = embeddings("c", 2100, 48, 4);
        let out = run(e, &q, &c, 7, Metric::Cosine, 512);
        let r = naive_topk(&q, &c, 7, true);
        check(&out.hits, &r, &q, &c, true, e.tol());
    });
}

#[test]
fn dimension_not_a_multiple_of_16_and_d_1() {
    every_engine(|e| {
        for d in [1usize, 3, 17, 31, 257, 300] {
            let q = embeddings("q", 13, d, 5 + d as u64);
            let c = embeddings("c", 333, d, 6 + d as u64);
            // d = 1 under cosine makes every score ±1: all ties, resolved by row.
            let out = run(e, &q, &c, 5, Metric::Cosine, 100);
            let r = naive_topk(&q, &c, 5, true);
            check(&out.hits, &r, &q, &c, true, e.tol());
        }
        // d = 1 with the dot metric and integer values: exact ties, resolved by row.
        let c = Embeddings::from_rows("c", crate::common::ids("c", 300), 1, (0..300).map(|i| (i % 3) as f32).collect()).unwrap();
        let q = Embeddings::from_rows("q", vec!["q".into()], 1, vec![1.0]).unwrap();
        let out = run(e, &q, &c, 5, Metric::Dot, 64);
        let rows: Vec<u64> = out.hits[0].iter().map(|h| h.row).collect();
        assert_eq!(rows, [2, 5, 8, 11, 14], "{e:?}");
    });
}

#[test]
fn ties_and_duplicate_vectors_rank_by_row() {
    every_engine(|e| {
        let d = 24;
        let base = embeddings("c", 10, d, 7);
        // 400 rows: ten distinct vectors, each repeated 40 times, interleaved.
        let mut values = Vec::new();
        for i in 0..400 {
            values.extend(base.vectors.row(i % 10).iter());
        }
        let c = Embeddings::from_rows("c", crate::common::ids("c", 400), d, values).unwrap();
        let q = embeddings("q", 9, d, 8);
        for chunk in [7, 64, 400] {
            let out = run(e, &q, &c, 50, Metric::Cosine, chunk);
            for (qi, h) in out.hits.iter().enumerate() {
                // The best vector's 40 copies come first, in row order, then the next one's.
                let first = h[0].row % 10;
                let rows: Vec<u64> = h[..40].iter().map(|x| x.row).collect();
                let want: Vec<u64> = (0..40).map(|i| first + 10 * i).collect();
                assert_eq!(rows, want, "{e:?} chunk {chunk} query {qi}");
                assert!(h[..40].iter().all(|x| x.score == h[0].score), "duplicates must score identically");
            }
        }
    });
}

#[test]
fn k_at_least_corpus_size_returns_everything() {
    every_engine(|e| {
        let q = embeddings("q", 5, 20, 9);
        let c = embeddings("c", 30, 20, 10);
        for k in [30, 31, 1000, usize::MAX / 4] {
            let out = run(e, &q, &c, k, Metric::Dot, 8);
            let r = naive_topk(&q, &c, k.min(30), false);
            check(&out.hits, &r, &q, &c, false, e.tol());
            assert!(out.hits.iter().all(|h| h.len() == 30));
        }
    });
}

#[test]
fn k_larger_than_a_chunk_and_up_to_thousands() {
    every_engine(|e| {
        let q = embeddings("q", 3, 40, 21);
        let c = embeddings("c", 3000, 40, 22);
        for (k, chunk) in [(250, 100), (1024, 700), (2500, 1000)] {
            let out = run(e, &q, &c, k, Metric::Cosine, chunk);
            let r = naive_topk(&q, &c, k, true);
            check(&out.hits, &r, &q, &c, true, e.tol());
        }
    });
}

#[test]
fn one_query_splits_the_corpus() {
    every_engine(|e| {
        let q = embeddings("q", 1, 100, 11);
        let c = embeddings("c", 5000, 100, 12);
        let out = run(e, &q, &c, 25, Metric::Cosine, 5000);
        let r = naive_topk(&q, &c, 25, true);
        let same = check(&out.hits, &r, &q, &c, true, e.tol());
        assert!(same >= 24 || e.tol() > 1e-5, "{e:?}: {same}");
    });
}

#[test]
fn a_corpus_sorted_by_score_overflows_the_candidate_slots_and_stays_exact() {
    // Every row beats all before it, so every row passes each dispatch's bound: the worst
    // case for the GPU's fused filter (its candidate slots overflow and ranges are re-run).
    every_engine(|e| {
        let n = 6000;
        // Consecutive f16 values from 1.0 up: distinct and exact in either storage precision.
        let values = (0..n).map(|i| half::f16::from_bits(0x3C00 + i as u16).to_f32()).collect();
        let c = Embeddings::from_rows("c", crate::common::ids("c", n), 1, values).unwrap();
        let q = Embeddings::from_rows("q", vec!["q0".into(), "q1".into()], 1, vec![1.0, -1.0]).unwrap();
        for k in [10, 300] {
            let out = run(e, &q, &c, k, Metric::Dot, 4000);
            let up: Vec<u64> = out.hits[0].iter().map(|h| h.row).collect();
            let want: Vec<u64> = (0..k as u64).map(|i| n as u64 - 1 - i).collect();
            assert_eq!(up, want, "{e:?} k {k}");
            let down: Vec<u64> = out.hits[1].iter().map(|h| h.row).collect();
            assert_eq!(down, (0..k as u64).collect::<Vec<_>>(), "{e:?} k {k}");
        }
    });
}

#[test]
fn massive_ties_rank_by_row() {
    // Every score equal: every dispatch overflows until ranges are small enough not to.
    every_engine(|e| {
        let n = 5000;
        let c = Embeddings::from_rows("c", crate::common::ids("c", n), 2, vec![0.5; 2 * n]).unwrap();
        let q = embeddings("q", 4, 2, 31);
        for k in [1, 100] {
            let out = run(e, &q, &c, k, Metric::Cosine, 2048);
            for h in &out.hits {
                assert_eq!(h.iter().map(|x| x.row).collect::<Vec<_>>(), (0..k as u64).collect::<Vec<_>>(), "{e:?}");
            }
        }
    });
}

#[test]
fn engines_agree() {
    let q = embeddings("q", 50, 96, 13);
    let c = embeddings("c", 900, 96, 14);
    let all = engines();
    let outs: Vec<Scored> = all.iter().map(|&e| run(e, &q, &c, 20, Metric::Cosine, 256)).collect();
    for (e, o) in all.iter().zip(&outs).skip(1) {
        for (a, b) in o.hits.iter().zip(&outs[0].hits) {
            for (x, y) in a.iter().zip(b) {
                assert!(f64::from((x.score - y.score).abs()) <= e.tol(), "{e:?}: {x:?} vs {y:?}");
            }
        }
    }
}

#[test]
fn data_sample_agrees_across_engines() {
    use simcal::embed::{open_corpus, read_queries, ReadOptions};
    let dir = crate::common::data_dir();
    let opts = ReadOptions::default();
    let q = read_queries(&dir.join("minilm.queries.parquet"), &opts).unwrap();
    let mut reference: Option<Scored> = None;
    for e in engines() {
        let mut backend = e.backend();
        let mut src = open_corpus(&dir.join("minilm.corpus.parquet"), &ReadOptions { chunk_rows: 1500, ..opts.clone() }).unwrap();
        let out = backend.score_corpus(&q, src.as_mut(), ScoreOptions::new(100, Metric::Cosine), &|_| Ok(())).unwrap();
        let Some(r) = &reference else {
            reference = Some(out);
            continue;
        };
        let mut same = 0;
        for (qi, (a, b)) in out.hits.iter().zip(&r.hits).enumerate() {
            assert_eq!(a.len(), b.len());
            // Same ids in the same ranks, except where near-equal scores swap places (the scores
            // at each rank agree within the tolerance).
            for (x, y) in a.iter().zip(b) {
                assert!(f64::from((x.score - y.score).abs()) <= e.tol(), "{e:?} query {qi}: {x:?} vs {y:?}");
                same += usize::from(x.row == y.row);
            }
        }
        let total: usize = r.hits.iter().map(Vec::len).sum();
        assert!(same as f64 >= total as f64 * if e.tol() > 1e-5 { 0.8 } else { 0.995 }, "{e:?}: {same} of {total} positions agree");
    }
}

#[test]
fn k_zero_is_refused() {
    let q = embeddings("q", 2, 4, 1);
    let c = embeddings("c", 3, 4, 2);
    let mut backend = CpuBackend::new();
    let mut src = InMemorySource::new(c, 2);
    let err = score_corpus(&mut backend, &q, &mut src, ScoreOptions::new(0, Metric::Cosine), &|_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("k must be at least 1"), "{err}");
}

#[test]
fn values_beyond_the_storage_range_are_refused_never_dropped() {
    // Dot products of ordinary rows and one row holding 1e5, beyond f16's ±65,504: the CPU and
    // f32 storage score it (it is every query's top hit); f16 storage refuses it by row.
    let q = embeddings("q", 4, 8, 51);
    let mut values = embeddings("c", 100, 8, 52).vectors.into_raw_vec_and_offset().0;
    values[37 * 8 + 3] = 1e5;
    let c = Embeddings::from_rows("c", crate::common::ids("c", 100), 8, values).unwrap();
    let reference = naive_topk(&q, &c, 100, false);
    for engine in engines() {
        let mut backend = engine.backend();
        let mut src = InMemorySource::new(c.clone(), 64);
        match backend.score_corpus(&q, &mut src, ScoreOptions::new(100, Metric::Dot), &|_| Ok(())) {
            Ok(out) => {
                assert_ne!(engine, Engine::Gpu(Precision::F16), "f16 storage took a value beyond its range");
                for (h, r) in out.hits.iter().zip(&reference) {
                    assert_eq!(h.len(), 100, "{engine:?} dropped rows");
                    for (hit, want) in h.iter().zip(r) {
                        assert_eq!(hit.row, want.0, "{engine:?}");
                        assert!(
                            (hit.score as f64 - want.1).abs() <= 1e-5 * want.1.abs().max(1.0),
                            "{engine:?}: {} vs {}",
                            hit.score,
                            want.1
                        );
                    }
                }
            }
            Err(e) => {
                assert_eq!(engine, Engine::Gpu(Precision::F16), "{engine:?}: {e}");
                let m = e.to_string();
                assert!(m.contains("row 37") && m.contains("f16's range"), "{m}");
            }
        }
    }
}

#[test]
fn values_below_the_storage_range_are_refused_never_ranked_as_zeros() {
    // Dot products of vectors scaled to 1e-8 (below f16's normal range, 6.1e-5; most flush to
    // zero): the CPU and f32 storage rank them as the reference does; f16 storage refuses the
    // first query, by row, instead of scoring everything 0 in row order.
    let scale = |e: Embeddings| {
        let ids = e.ids.clone();
        let dim = e.dim();
        let v: Vec<f32> = e.vectors.into_raw_vec_and_offset().0.iter().map(|x| x * 1e-8).collect();
        Embeddings::from_rows("x", ids, dim, v).unwrap()
    };
    let q = scale(embeddings("q", 4, 8, 61));
    let c = scale(embeddings("c", 50, 8, 62));
    let reference = naive_topk(&q, &c, 10, false);
    for engine in engines() {
        let mut backend = engine.backend();
        let mut src = InMemorySource::new(c.clone(), 64);
        match backend.score_corpus(&q, &mut src, ScoreOptions::new(10, Metric::Dot), &|_| Ok(())) {
            Ok(out) => {
                assert_ne!(engine, Engine::Gpu(Precision::F16), "f16 storage ranked vectors it flushes to zero");
                for (h, r) in out.hits.iter().zip(&reference) {
                    let rows: Vec<u64> = h.iter().map(|hit| hit.row).collect();
                    let want: Vec<u64> = r.iter().map(|w| w.0).collect();
                    assert_eq!(rows, want, "{engine:?}");
                }
            }
            Err(e) => {
                assert_eq!(engine, Engine::Gpu(Precision::F16), "{engine:?}: {e}");
                let m = e.to_string();
                assert!(m.contains("row 0") && m.contains("f16 storage") && m.contains("`precision` f32"), "{m}");
            }
        }
    }
}
