//! In-memory scoring speed of the CPU engine, per instruction set: 2,048 queries × 20,000
//! documents × 768 dims, k = 100, random unit vectors, no file I/O. Prints the median of seven
//! runs (and the best) in GFLOP/s, then the kernel the engine chooses by measurement (`auto`,
//! what `simcal score` uses) and how far its median is from the best kernel's.
//! `cargo bench --bench score` (set SIMCAL_BENCH_N to change the corpus size,
//! SIMCAL_BENCH_KERNELS to a comma-separated list of kernels to time only those).

use std::time::Instant;

use simcal::embed::{Embeddings, InMemorySource, Metric};
use simcal::score::cpu::{CpuBackend, Isa};
use simcal::score::{score_corpus, ScoreOptions};

fn random(n: usize, d: usize, seed: u64) -> Embeddings {
    let mut s = seed;
    let values = (0..n * d)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    Embeddings::from_rows("bench", (0..n).map(|i| i.to_string()).collect(), d, values).expect("shape")
}

fn main() {
    let n: usize = std::env::var("SIMCAL_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let (nq, d, k) = (2048, 768, 100);
    let q = random(nq, d, 1);
    let c = random(n, d, 2);
    let mut medians = Vec::new();
    // SIMCAL_BENCH_KERNELS=amx-bf16,avx512 times only those kernels.
    let only = std::env::var("SIMCAL_BENCH_KERNELS").ok();
    for isa in Isa::available() {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|n| n.trim() == isa.to_string())) {
            continue;
        }
        let mut times = Vec::new();
        for _ in 0..7 {
            let mut backend = CpuBackend::with_isa(isa);
            let mut src =
                InMemorySource::new(c.clone(), std::env::var("SIMCAL_BENCH_CHUNK").ok().and_then(|v| v.parse().ok()).unwrap_or(10_922));
            let t = Instant::now();
            let out = score_corpus(&mut backend, &q, &mut src, ScoreOptions::new(k, Metric::Cosine), &|_| Ok(())).expect("score");
            let _ = t.elapsed();
            times.push(out.scoring_seconds);
        }
        times.sort_by(f64::total_cmp);
        let med = times[3];
        let gflops = 2.0 * (nq * n * d) as f64 / med / 1e9;
        println!(
            "score {isa:?}: {nq}×{n}×{d} k={k}: median {med:.3} s, {gflops:.1} GFLOP/s (best {:.1})",
            2.0 * (nq * n * d) as f64 / times[0] / 1e9
        );
        medians.push((isa, med));
        if isa == Isa::Portable {
            break;
        }
    }
    let auto = simcal::score::cpu::choose::measured();
    let best = medians.iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("a kernel");
    let chosen = medians.iter().find(|m| m.0 == auto.isa).map_or(f64::NAN, |m| m.1);
    println!(
        "auto: {} ({}; one core: {}); its median is {:.1}% slower than the best ({})",
        auto.isa,
        auto.reason,
        simcal::score::cpu::choose::rates_text(&auto.rates),
        (chosen / best.1 - 1.0) * 100.0,
        best.0
    );
}
