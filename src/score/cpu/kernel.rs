//! GEMM microkernels: an `MR × NR` tile of scores from packed panels, over `kc` steps of d.
//!
//! Panels are packed so that step `p` of the query panel is `MR` consecutive floats and step `p`
//! of the corpus panel is `NR` consecutive floats. The tile is written row-major with stride
//! `ldc` (one row per query), added to what is there when `accumulate` is set (d is blocked
//! into steps of `KC` so that a corpus panel stays in L1).
//!
//! Variants are chosen at run time by measurement ([`super::choose`]), each with its own tile shape
//! ([`Isa::tile`]): AVX-512F (`MR × NR` = 12 × 32 in 24 zmm accumulators), AVX2 + FMA
//! (6 × 16 in 12 ymm accumulators) and a portable 6 × 16 that the compiler vectorises for
//! whatever the build target has. Processors with AVX-512 BF16 or AMX screen in bfloat16 instead
//! ([`screen_tile`], the same 12 × 32 tile over pairs of steps; [`super::amx::tile`], 32 × 32)
//! and rescore the few documents that can reach the top k exactly (see `screen`).

/// The instruction set a kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isa {
    /// AMX-BF16 tiles (x86-64, Intel's Sapphire Rapids and later, where the operating system
    /// grants the tile state): the bfloat16 screen of [`Isa::Avx512Bf16`] on `tdpbf16ps`, a
    /// 32 × 32 block per step, with the same exact rescoring.
    AmxBf16,
    /// AVX-512F with BF16 (x86-64): a bfloat16 screen at twice the f32 FMA rate, then exact
    /// f32 rescoring of the documents whose bound reaches the top k.
    Avx512Bf16,
    /// AVX-512F (x86-64).
    Avx512,
    /// AVX2 with FMA (x86-64).
    Avx2,
    /// Plain Rust, vectorised by the compiler for the build target.
    Portable,
}

crate::choice::choice!(Isa => "CPU kernel");

impl Isa {
    /// Every instruction set this processor runs (best first), for tests and benches.
    pub fn available() -> Vec<Isa> {
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if super::amx::usable() {
                v.push(Isa::AmxBf16);
            }
            if Self::bf16_detected() {
                v.push(Isa::Avx512Bf16);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                v.push(Isa::Avx2);
            }
        }
        v.push(Isa::Portable);
        v
    }

    #[cfg(target_arch = "x86_64")]
    fn bf16_detected() -> bool {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16")
    }

    /// Whether this instruction set screens in bfloat16 and rescores exactly (the corpus is
    /// staged as [`super::Screened`] rather than f32 panels).
    pub fn screens(self) -> bool {
        matches!(self, Isa::AmxBf16 | Isa::Avx512Bf16)
    }

    /// The tile shape `(MR, NR)`: queries per query panel, documents per corpus panel.
    pub fn tile(self) -> (usize, usize) {
        match self {
            Isa::AmxBf16 => (32, 32),
            Isa::Avx512Bf16 | Isa::Avx512 => (12, 32),
            Isa::Avx2 | Isa::Portable => (6, 16),
        }
    }
}

/// Computes one `MR × NR` tile (the shape of `isa`). `a` holds `kc * MR` floats, `b` holds
/// `kc * NR`, `c` has room for `MR` rows of stride `ldc ≥ NR`.
///
/// # Safety
/// The pointers must be valid for those extents, and `isa` must be one the processor runs
/// (one of [`Isa::available`]).
#[inline]
pub unsafe fn tile(isa: Isa, kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Bf16 | Isa::Avx512 => avx512::tile(kc, a, b, c, ldc, accumulate),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::tile(kc, a, b, c, ldc, accumulate),
        _ => portable_tile(kc, a, b, c, ldc, accumulate),
    }
}

/// Computes one 12 × 32 tile of bfloat16 screening scores: `a` holds `kp * 12` words and `b`
/// holds `kp * 32`, each word two bf16 values of consecutive steps (low half first); products
/// are accumulated in f32 (`vdpbf16ps`). `c` as in [`tile`].
///
/// # Safety
/// As [`tile`], and the processor must run AVX-512 BF16 ([`Isa::Avx512Bf16`] available).
#[cfg(target_arch = "x86_64")]
#[inline]
pub unsafe fn screen_tile(kp: usize, a: *const u32, b: *const u32, c: *mut f32, ldc: usize, accumulate: bool) {
    avx512bf16::tile(kp, a, b, c, ldc, accumulate)
}

#[expect(clippy::indexing_slicing, reason = "tile positions stay within the fixed-size tiles the packing made")]
unsafe fn portable_tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
    const MR: usize = 6;
    const NR: usize = 16;
    let mut acc = [[0f32; NR]; MR];
    for p in 0..kc {
        let ap = std::slice::from_raw_parts(a.add(p * MR), MR);
        let bp = std::slice::from_raw_parts(b.add(p * NR), NR);
        for i in 0..MR {
            let ai = ap[i];
            for j in 0..NR {
                // Multiply and add, not mul_add: without an FMA target feature mul_add is a
                // library call.
                acc[i][j] += ai * bp[j];
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        let out = std::slice::from_raw_parts_mut(c.add(i * ldc), NR);
        if accumulate {
            out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
        } else {
            out.copy_from_slice(row);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    const MR: usize = 6;
    const NR: usize = 16;

    /// 6 queries × 16 documents.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
        let mut c00 = _mm256_setzero_ps();
        let mut c01 = _mm256_setzero_ps();
        let mut c10 = _mm256_setzero_ps();
        let mut c11 = _mm256_setzero_ps();
        let mut c20 = _mm256_setzero_ps();
        let mut c21 = _mm256_setzero_ps();
        let mut c30 = _mm256_setzero_ps();
        let mut c31 = _mm256_setzero_ps();
        let mut c40 = _mm256_setzero_ps();
        let mut c41 = _mm256_setzero_ps();
        let mut c50 = _mm256_setzero_ps();
        let mut c51 = _mm256_setzero_ps();
        let mut ap = a;
        let mut bp = b;
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            let a0 = _mm256_broadcast_ss(&*ap);
            c00 = _mm256_fmadd_ps(a0, b0, c00);
            c01 = _mm256_fmadd_ps(a0, b1, c01);
            let a1 = _mm256_broadcast_ss(&*ap.add(1));
            c10 = _mm256_fmadd_ps(a1, b0, c10);
            c11 = _mm256_fmadd_ps(a1, b1, c11);
            let a2 = _mm256_broadcast_ss(&*ap.add(2));
            c20 = _mm256_fmadd_ps(a2, b0, c20);
            c21 = _mm256_fmadd_ps(a2, b1, c21);
            let a3 = _mm256_broadcast_ss(&*ap.add(3));
            c30 = _mm256_fmadd_ps(a3, b0, c30);
            c31 = _mm256_fmadd_ps(a3, b1, c31);
            let a4 = _mm256_broadcast_ss(&*ap.add(4));
            c40 = _mm256_fmadd_ps(a4, b0, c40);
            c41 = _mm256_fmadd_ps(a4, b1, c41);
            let a5 = _mm256_broadcast_ss(&*ap.add(5));
            c50 = _mm256_fmadd_ps(a5, b0, c50);
            c51 = _mm256_fmadd_ps(a5, b1, c51);
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        let rows = [(c00, c01), (c10, c11), (c20, c21), (c30, c31), (c40, c41), (c50, c51)];
        for (i, (lo, hi)) in rows.into_iter().enumerate() {
            let out = c.add(i * ldc);
            if accumulate {
                _mm256_storeu_ps(out, _mm256_add_ps(lo, _mm256_loadu_ps(out)));
                _mm256_storeu_ps(out.add(8), _mm256_add_ps(hi, _mm256_loadu_ps(out.add(8))));
            } else {
                _mm256_storeu_ps(out, lo);
                _mm256_storeu_ps(out.add(8), hi);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    const MR: usize = 12;
    const NR: usize = 32;

    /// Writes (or adds) a 12 × 32 tile of accumulators to `c`, rows `ldc` apart.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn store(acc: &[[__m512; 2]; MR], c: *mut f32, ldc: usize, accumulate: bool) {
        for (i, row) in acc.iter().enumerate() {
            let out = c.add(i * ldc);
            if accumulate {
                _mm512_storeu_ps(out, _mm512_add_ps(row[0], _mm512_loadu_ps(out)));
                _mm512_storeu_ps(out.add(16), _mm512_add_ps(row[1], _mm512_loadu_ps(out.add(16))));
            } else {
                _mm512_storeu_ps(out, row[0]);
                _mm512_storeu_ps(out.add(16), row[1]);
            }
        }
    }

    /// 12 queries × 32 documents in 24 zmm accumulators.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        let mut ap = a;
        let mut bp = b;
        for _ in 0..kc {
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(16));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*ap.add(i));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        store(&acc, c, ldc, accumulate);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512bf16 {
    use std::arch::x86_64::*;

    use super::avx512::store;
    const MR: usize = 12;
    const NR: usize = 32;

    /// 12 queries × 32 documents in 24 zmm accumulators, two steps of d per instruction.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn tile(kp: usize, a: *const u32, b: *const u32, c: *mut f32, ldc: usize, accumulate: bool) {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        let mut ap = a;
        let mut bp = b;
        for _ in 0..kp {
            // 32 documents' pairs of bf16 values, 16 per vector.
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.cast()));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(16).cast()));
            for (i, row) in acc.iter_mut().enumerate() {
                // Query i's pair, in every lane.
                let ai: __m512bh = std::mem::transmute(_mm512_set1_epi32(*ap.add(i) as i32));
                row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
                row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        store(&acc, c, ldc, accumulate);
    }
}
