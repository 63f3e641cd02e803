//! Register-only loops of independent FMAs (and of bfloat16 pair dot products and AMX tile
//! products), one per kernel
//! family: the processor's arithmetic ceiling, which reads no memory. The kernel choice
//! ([`super::choose`]) times them on one thread; `cargo bench --bench peak` on every core.

use super::Isa;

/// One loop: the kernel family it stands for, the flops one iteration does, and the loop.
#[derive(Clone, Copy, Debug)]
pub struct Loop {
    /// The kernel whose arithmetic the loop runs.
    pub isa: Isa,
    /// Floating-point operations per iteration.
    pub flops_per_iter: u64,
    /// Iterations that take about a millisecond on one core at its peak.
    pub iters: u64,
    /// Runs `iters` iterations; the result only keeps the work from being optimised away.
    /// Safe to call: only loops the processor runs are listed by [`loops`].
    pub run: fn(u64) -> f32,
}

/// The loops this processor runs: AMX tile products (`tdpbf16ps`) and bfloat16 pair dot
/// products (`vdpbf16ps`), the screens', AVX-512 f32 FMAs and AVX2 FMAs.
pub fn loops() -> Vec<Loop> {
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let runs = Isa::available();
        if runs.contains(&Isa::AmxBf16) {
            v.push(Loop { isa: Isa::AmxBf16, flops_per_iter: super::amx::PEAK_FLOPS_PER_ITER, iters: 10_000, run: super::amx::peak_loop });
        }
        if runs.contains(&Isa::Avx512Bf16) {
            // Each instruction: 16 lanes × 2 products × (multiply + add).
            v.push(Loop { isa: Isa::Avx512Bf16, flops_per_iter: 24 * 16 * 2 * 2, iters: 100_000, run: |n| unsafe { x86::bf16_loop(n) } });
        }
        if runs.contains(&Isa::Avx512) {
            v.push(Loop { isa: Isa::Avx512, flops_per_iter: 24 * 16 * 2, iters: 100_000, run: |n| unsafe { x86::fma_loop_avx512(n) } });
        }
        if runs.contains(&Isa::Avx2) {
            v.push(Loop { isa: Isa::Avx2, flops_per_iter: 12 * 8 * 2, iters: 100_000, run: |n| unsafe { x86::fma_loop_avx2(n) } });
        }
    }
    v
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_loop_avx2(iters: u64) -> f32 {
        let m = _mm256_set1_ps(0.999_999);
        let a = _mm256_set1_ps(1e-7);
        let mut acc = [_mm256_set1_ps(1.0); 12];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, m, a);
            }
        }
        let s = acc.into_iter().fold(_mm256_setzero_ps(), |s, x| _mm256_add_ps(s, x));
        let mut out = [0f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), s);
        out.iter().sum()
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma_loop_avx512(iters: u64) -> f32 {
        let m = _mm512_set1_ps(0.999_999);
        let a = _mm512_set1_ps(1e-7);
        let mut acc = [_mm512_set1_ps(1.0); 24];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, m, a);
            }
        }
        _mm512_reduce_add_ps(acc.into_iter().fold(_mm512_setzero_ps(), |s, x| _mm512_add_ps(s, x)))
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn bf16_loop(iters: u64) -> f32 {
        // Pairs of bf16 values (1.0, 1.0) and (1e-7-ish, 1e-7-ish), in every lane.
        let m: __m512bh = std::mem::transmute(_mm512_set1_epi32(0x3F80_3F80));
        let a: __m512bh = std::mem::transmute(_mm512_set1_epi32(0x33D6_33D6));
        let mut acc = [_mm512_set1_ps(1.0); 24];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_dpbf16_ps(*x, m, a);
            }
        }
        _mm512_reduce_add_ps(acc.into_iter().fold(_mm512_setzero_ps(), |s, x| _mm512_add_ps(s, x)))
    }
}
