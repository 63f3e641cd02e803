//! The processor's FMA peak: a register-only loop of independent FMAs on every core, for the
//! widest vector the processor runs (and of bfloat16 pair dot products where it has them). It reads no memory, so it is the ceiling that the scoring
//! kernel's GFLOP/s is a fraction of. `cargo bench --bench peak`.

use std::time::Instant;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop_avx2(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let m = _mm256_set1_ps(0.999_999);
    let a = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, m, a);
        }
    }
    let mut s = _mm256_setzero_ps();
    for x in acc {
        s = _mm256_add_ps(s, x);
    }
    let mut out = [0f32; 8];
    _mm256_storeu_ps(out.as_mut_ptr(), s);
    out.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let m = _mm512_set1_ps(0.999_999);
    let a = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(1.0); 24];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, m, a);
        }
    }
    sum(acc)
}

/// The sum of the accumulators (so that the loops are not optimised away).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn sum(acc: [std::arch::x86_64::__m512; 24]) -> f32 {
    use std::arch::x86_64::*;
    _mm512_reduce_add_ps(acc.into_iter().fold(_mm512_setzero_ps(), |s, x| _mm512_add_ps(s, x)))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn bf16_loop(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    // Pairs of bf16 values (1.0, 1.0) and (1e-7-ish, 1e-7-ish), in every lane.
    let m: __m512bh = std::mem::transmute(_mm512_set1_epi32(0x3F80_3F80));
    let a: __m512bh = std::mem::transmute(_mm512_set1_epi32(0x33D6_33D6));
    let mut acc = [_mm512_set1_ps(1.0); 24];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_dpbf16_ps(*x, m, a);
        }
    }
    sum(acc)
}

/// A named FMA loop and the flops one iteration of it does.
type Probe = (&'static str, u64, unsafe fn(u64) -> f32);

fn main() {
    #[cfg(target_arch = "x86_64")]
    {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let iters = 200_000_000u64;
        let runs: Vec<Probe> = {
            let mut v: Vec<Probe> = Vec::new();
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16") {
                // Each instruction: 16 lanes × 2 products × (multiply + add). The CPU engine's
                // bfloat16 screen is measured against this.
                v.push(("avx512-bf16 (vdpbf16ps)", 24 * 16 * 2 * 2, bf16_loop));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(("avx512", 24 * 16 * 2, fma_loop_avx512));
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                v.push(("avx2", 12 * 8 * 2, fma_loop_avx2));
            }
            v
        };
        for (name, flops_per_iter, f) in runs {
            let mut best = 0f64;
            for _ in 0..3 {
                let t = Instant::now();
                let sink: f32 = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..threads).map(|_| s.spawn(move || unsafe { f(iters / 4) })).collect();
                    hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
                });
                let gflops = (iters / 4 * flops_per_iter * threads as u64) as f64 / t.elapsed().as_secs_f64() / 1e9;
                best = best.max(gflops);
                std::hint::black_box(sink);
            }
            println!("fma peak {name}: {best:.1} GFLOP/s on {threads} threads");
        }
    }
}
