//! Exact top-k through a bfloat16 screen.
//!
//! Processors with AVX-512 BF16 multiply pairs of bfloat16 values at twice the rate of f32
//! FMAs. The engine scores every pair in bfloat16 (f32 accumulation) and rescores exactly, in
//! f32, only the documents that can still reach a query's top k; the result is the exact top k
//! of the f32 scores, which are [`exact_dot`]'s.
//!
//! Why it is exact: for f32 vectors `q`, `c` and their bfloat16 roundings `q̂`, `ĉ`,
//!
//! ```text
//! q·c − q̂·ĉ = (q − q̂)·c + q̂·(c − ĉ),  so  |q·c − q̂·ĉ| ≤ ‖q − q̂‖‖c‖ + ‖q̂‖‖c − ĉ‖,
//! ```
//!
//! and each computed dot product is within `γ ‖x‖‖y‖` of the real one (`γ = n·u / (1 − n·u)`,
//! `u = 2⁻²⁴`, `n` the roundings in a chain; bfloat16 products are exact in f32), plus
//! `2⁻¹²⁶` per operation for results flushed to zero. [`margin`] adds these up, from norms
//! computed in f64 and the chunk's largest corpus norms, into `M`: a screening score `s̃` and
//! the exact score `s` of the same pair are never more than `M` apart. If `L` is a lower bound
//! on the query's final k-th best exact score (the k-th best of any k real scores, or
//! `s̃ − M` of k screened documents), every document of the top k has `s ≥ L`, hence
//! `s̃ ≥ L − M`: [`Candidates`] keeps exactly those, and only they are rescored. Ties at the
//! k-th score are kept too (`≥`), so the order's tie rule (row ascending) sees them all.
//!
//! Rounding to bfloat16 is done here, not by the processor (nearest, ties to even; results
//! below f32's normal range become zero, as the dot instruction would read them; results
//! beyond bfloat16's range saturate), so that `q̂` and `ĉ` are known exactly.

use rayon::prelude::*;

use super::pack::AlignedBuf;

/// `x` rounded to bfloat16 (nearest, ties to even) as its 16 bits: results below f32's
/// normal range flush to (signed) zero, results beyond bfloat16's range saturate to its
/// largest finite value. `x` is finite.
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7FFF + ((bits >> 16) & 1));
    let h = (rounded >> 16) as u16;
    let exponent = (h >> 7) & 0xFF;
    let sign = h & 0x8000;
    let h = if exponent == 0 { sign } else { h };
    if exponent == 0xFF {
        sign | 0x7F7F
    } else {
        h
    }
}

/// The f32 value of bfloat16 bits.
#[inline(always)]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// A row's Euclidean norms, in f64: of its f32 values, of their bfloat16 roundings, and of the
/// difference.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Norms {
    /// ‖x‖.
    pub exact: f64,
    /// ‖x̂‖.
    pub rounded: f64,
    /// ‖x − x̂‖.
    pub error: f64,
}

impl Norms {
    fn max(self, o: Norms) -> Norms {
        Norms { exact: self.exact.max(o.exact), rounded: self.rounded.max(o.rounded), error: self.error.max(o.error) }
    }
}

/// The most a screening score and the exact score of a query (norms `q`) and any document of
/// a chunk (largest norms `c`) can differ, for vectors of dimension `dim`. See the module's
/// note; the result is rounded up generously (its f64 arithmetic is far more precise).
pub fn margin(q: &Norms, c: &Norms, dim: usize) -> f64 {
    // Roundings in one chain: one or two per bf16 pair instruction, one per block of d added
    // into the tile, a few in the reductions of exact_dot.
    let n = (dim + dim / 64 + 32) as f64;
    let u = f64::from(f32::EPSILON) / 2.0;
    let gamma = n * u / (1.0 - n * u);
    let flushed = 4.0 * n * f64::from(f32::MIN_POSITIVE);
    let m = q.error * c.exact + q.rounded * c.error + gamma * (q.rounded * c.rounded + q.exact * c.exact) + flushed;
    m * (1.0 + 1e-9)
}

/// The largest f32 not above `x`.
fn below(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) > x {
        f.next_down()
    } else {
        f
    }
}

/// Rows staged for screening: bfloat16 panels for the screen, the f32 rows for rescoring, and
/// each row's norms. Read-only once packed: the kernel's pointers and the margin rely on the
/// parts agreeing.
#[derive(Clone, Debug, Default)]
pub struct Screened {
    /// `count × pairs × width` words, each two bfloat16 values of consecutive steps of d (the
    /// first in the low half), zero-padded.
    panels: AlignedBuf<u32>,
    /// Panels, padding included.
    count: usize,
    /// Pairs of steps per panel row, padding included.
    pairs: usize,
    /// The f32 values (scaled), row-major.
    rows: AlignedBuf<f32>,
    norms: Vec<Norms>,
    max: Norms,
    n: usize,
    dim: usize,
    width: usize,
}

impl Screened {
    /// Stages `rows × dim` row-major values, row `i` multiplied by `scales[i]` when given
    /// (the same f32 products the f32 panels hold).
    pub fn pack(values: &[f32], scales: Option<&[f32]>, n: usize, dim: usize, width: usize) -> Screened {
        Self::pack_padded(values, scales, n, dim, Padding { width, pairs: 1, rows: 1 })
    }

    /// As [`Self::pack`], in panels of `padding.width` rows, each row's pairs zero-padded to a
    /// multiple of `padding.pairs` and zero rows added up to a multiple of `padding.rows` (the
    /// AMX kernel reads whole tiles: 16 pairs, 32 rows).
    #[expect(
        clippy::indexing_slicing,
        reason = "rows and panels stay within the chunk being packed, and the selections hold at least k entries when their k-th is read"
    )]
    pub fn pack_padded(values: &[f32], scales: Option<&[f32]>, n: usize, dim: usize, padding: Padding) -> Screened {
        let width = padding.width.max(1);
        let pairs = dim.div_ceil(2).next_multiple_of(padding.pairs.max(1));
        let count = n.next_multiple_of(padding.rows.max(1)).div_ceil(width);
        let mut panels = AlignedBuf::<u32>::zeros(count * pairs * width);
        let mut rows = AlignedBuf::<f32>::zeros(n * dim);
        let mut norms = vec![Norms::default(); n];
        if dim > 0 && n > 0 {
            panels
                .as_mut_slice()
                .par_chunks_mut(pairs * width)
                .zip(rows.as_mut_slice().par_chunks_mut(width * dim))
                .zip(norms.par_chunks_mut(width))
                .enumerate()
                .for_each(|(p, ((words, out), norms))| {
                    let mut halves = vec![0u16; 2 * pairs];
                    for (j, (row, norm)) in out.chunks_exact_mut(dim).zip(norms.iter_mut()).enumerate() {
                        let r = p * width + j;
                        let src = &values[r * dim..(r + 1) * dim];
                        *norm = stage_row(src, scales.map_or(1.0, |s| s[r]), row, &mut halves[..dim]);
                        for (kp, pair) in halves.chunks_exact(2).enumerate() {
                            words[kp * width + j] = u32::from(pair[0]) | u32::from(pair[1]) << 16;
                        }
                    }
                });
        }
        let max = norms.iter().fold(Norms::default(), |a, &b| a.max(b));
        Screened { panels, count, pairs, rows, norms, max, n, dim, width }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows per panel.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The panels' words: `panels × pairs × width` (padding included), each two bfloat16
    /// values of consecutive steps of d (the first in the low half), zero-padded.
    pub fn words(&self) -> &[u32] {
        self.panels.as_slice()
    }

    /// Each row's norms.
    pub fn norms(&self) -> &[Norms] {
        &self.norms
    }

    /// The largest of each norm over the rows.
    pub fn max(&self) -> Norms {
        self.max
    }

    /// Pairs of steps of d per panel row, padding included.
    pub fn pairs(&self) -> usize {
        self.pairs
    }

    /// Number of panels, padding included.
    pub(crate) fn panel_count(&self) -> usize {
        self.count
    }

    /// Pointer to pair `kp` of panel `p`.
    #[inline]
    pub fn at(&self, p: usize, kp: usize) -> *const u32 {
        debug_assert!(p < self.panel_count() && kp <= self.pairs());
        // In bounds: p < panels and kp ≤ pairs.
        unsafe { self.panels.as_slice().as_ptr().add((p * self.pairs() + kp) * self.width) }
    }

    /// Row `i`'s f32 values.
    #[inline]
    #[expect(
        clippy::indexing_slicing,
        reason = "rows and panels stay within the chunk being packed, and the selections hold at least k entries when their k-th is read"
    )]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.rows.as_slice()[i * self.dim..(i + 1) * self.dim]
    }
}

/// How [`Screened::pack_padded`] lays rows out: panels of `width` rows, pairs of steps padded to
/// a multiple of `pairs`, rows to a multiple of `rows`.
#[derive(Clone, Copy, Debug)]
pub struct Padding {
    /// Rows per panel (1: row-major).
    pub width: usize,
    /// The multiple each row's pairs of steps are padded to.
    pub pairs: usize,
    /// The multiple the rows are padded to.
    pub rows: usize,
}

/// Writes `src` times `s` to `out` and its bfloat16 roundings ([`to_bf16`]) to `halves`;
/// returns the norms.
fn stage_row(src: &[f32], s: f32, out: &mut [f32], halves: &mut [u16]) -> Norms {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512vl") {
            // The processor runs all three (checked just above).
            return unsafe { avx512::stage_row(src, s, out, halves) };
        }
    }
    let (mut exact, mut rounded, mut error) = (0f64, 0f64, 0f64);
    for ((&v, o), h) in src.iter().zip(out.iter_mut()).zip(halves.iter_mut()) {
        let x = v * s;
        *o = x;
        *h = to_bf16(x);
        let (x, xh) = (f64::from(x), f64::from(from_bf16(*h)));
        exact += x * x;
        rounded += xh * xh;
        error += (x - xh) * (x - xh);
    }
    Norms { exact: exact.sqrt(), rounded: rounded.sqrt(), error: error.sqrt() }
}

/// One query's screened documents that can still reach its top k, with the bound that
/// decides it (see the module's note).
#[derive(Debug)]
pub struct Candidates {
    k: usize,
    cap: usize,
    margin: f64,
    /// Exact scores of documents seen before this chunk (the query's kept hits).
    known: Vec<f32>,
    /// A lower bound on the query's final k-th best exact score.
    lower: f32,
    /// Screening scores below this cannot reach the top k: `lower − margin`, rounded down.
    floor: f32,
    /// Screening score and column in the chunk.
    buf: Vec<(f32, u32)>,
    /// Scratch for the bound.
    bounds: Vec<f32>,
}

impl Candidates {
    /// Empty, for a top `k` (k ≥ 1).
    pub fn new(k: usize) -> Self {
        let k = k.max(1);
        let cap = k.saturating_mul(2).max(k + 32);
        Candidates {
            k,
            cap,
            margin: 0.0,
            known: Vec::new(),
            lower: f32::NEG_INFINITY,
            floor: f32::NEG_INFINITY,
            buf: Vec::with_capacity(cap),
            bounds: Vec::new(),
        }
    }

    /// Empties the selection for a new chunk: `known` are exact scores of other documents
    /// (the query's hits so far), `margin` bounds the distance between screening and exact
    /// scores in this chunk.
    pub(crate) fn reset(&mut self, known: impl IntoIterator<Item = f32>, margin: f64) {
        self.buf.clear();
        self.known.clear();
        self.known.extend(known);
        self.margin = margin;
        self.lower = f32::NEG_INFINITY;
        self.floor = f32::NEG_INFINITY;
        self.raise();
    }

    /// Raises the bound to the k-th best of the known exact scores and the candidates'
    /// `s̃ − margin` (each a lower bound on a different document's exact score).
    fn raise(&mut self) {
        if self.known.len() + self.buf.len() < self.k {
            return;
        }
        self.bounds.clear();
        self.bounds.extend_from_slice(&self.known);
        let m = self.margin;
        self.bounds.extend(self.buf.iter().map(|c| below(f64::from(c.0) - m)));
        let (_, &mut kth, _) = self.bounds.select_nth_unstable_by(self.k - 1, |a, b| b.total_cmp(a));
        if kth > self.lower {
            self.lower = kth;
            self.floor = below(f64::from(kth) - m);
        }
    }

    /// Offers the screening scores of consecutive columns from `first`.
    pub(crate) fn offer(&mut self, scores: &[f32], first: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // The processor runs AVX-512F (checked just above).
                return unsafe { self.offer_avx512(scores, first) };
            }
        }
        self.offer_body(scores, first)
    }

    /// [`Self::offer`] compiled for AVX-512 (one compare per sixteen scores).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn offer_avx512(&mut self, scores: &[f32], first: u32) {
        self.offer_body(scores, first)
    }

    #[inline(always)]
    fn offer_body(&mut self, scores: &[f32], first: u32) {
        const W: usize = 16;
        let mut chunks = scores.chunks_exact(W);
        let mut col = first;
        for c in &mut chunks {
            let t = self.floor;
            if c.iter().fold(false, |any, &s| any | (s >= t)) {
                for (i, &s) in c.iter().enumerate() {
                    self.push(s, col + i as u32);
                }
            }
            col += W as u32;
        }
        for (i, &s) in chunks.remainder().iter().enumerate() {
            self.push(s, col + i as u32);
        }
    }

    #[inline]
    fn push(&mut self, s: f32, col: u32) {
        if s >= self.floor {
            self.buf.push((s, col));
            if self.buf.len() >= self.cap {
                self.compact();
            }
        }
    }

    /// Raises the bound and drops what falls below the floor.
    fn compact(&mut self) {
        self.raise();
        let floor = self.floor;
        self.buf.retain(|c| c.0 >= floor);
        if 2 * self.buf.len() > self.cap {
            self.cap = self.cap.saturating_mul(2);
        }
    }

    /// The columns left to rescore.
    pub(crate) fn survivors(&mut self) -> impl Iterator<Item = u32> + '_ {
        self.compact();
        self.buf.iter().map(|c| c.1)
    }
}

/// The exact score of two f32 vectors (of equal length): sixteen lanes times four chains of
/// fused multiply-adds over d, then a fixed pairwise reduction, so the same two vectors always
/// give the same score. Vectorised where the processor runs AVX-512F, with the same result.
pub fn exact_dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // The processor runs AVX-512F (checked just above).
            return unsafe { avx512::dot(a, b) };
        }
    }
    portable_dot(a, b)
}

/// Lane-by-lane sums in the vector version's order.
#[expect(
    clippy::indexing_slicing,
    reason = "rows and panels stay within the chunk being packed, and the selections hold at least k entries when their k-th is read"
)]
fn reduce(mut lanes: [[f32; 16]; 4]) -> f32 {
    let [a0, a1, a2, a3] = &mut lanes;
    let mut s = [0f32; 16];
    for l in 0..16 {
        s[l] = (a0[l] + a1[l]) + (a2[l] + a3[l]);
    }
    let mut width = 8;
    while width > 0 {
        for l in 0..width {
            s[l] += s[l + width];
        }
        width /= 2;
    }
    s[0]
}

#[expect(
    clippy::indexing_slicing,
    reason = "rows and panels stay within the chunk being packed, and the selections hold at least k entries when their k-th is read"
)]
fn portable_dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [[0f32; 16]; 4];
    let whole = n / 64 * 64;
    for i in (0..whole).step_by(64) {
        for (j, lanes) in acc.iter_mut().enumerate() {
            for (l, x) in lanes.iter_mut().enumerate() {
                *x = a[i + 16 * j + l].mul_add(b[i + 16 * j + l], *x);
            }
        }
    }
    for i in (whole..n).step_by(16) {
        for (l, x) in acc[0].iter_mut().enumerate() {
            let (p, q) = if i + l < n { (a[i + l], b[i + l]) } else { (0.0, 0.0) };
            *x = p.mul_add(q, *x);
        }
    }
    reduce(acc)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::Norms;

    /// [`super::stage_row`] sixteen values at a time: [`super::to_bf16`]'s rounding in integer
    /// lanes, the squares summed in f64.
    ///
    /// # Safety
    /// The processor must run AVX-512F, BW and VL.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    #[expect(
        clippy::indexing_slicing,
        reason = "rows and panels stay within the chunk being packed, and the selections hold at least k entries when their k-th is read"
    )]
    pub unsafe fn stage_row(src: &[f32], s: f32, out: &mut [f32], halves: &mut [u16]) -> Norms {
        let n = src.len().min(out.len()).min(halves.len());
        let scale = _mm512_set1_ps(s);
        let (one, half, high) = (_mm512_set1_epi32(1), _mm512_set1_epi32(0x7FFF), _mm512_set1_epi32(0xFFFF_0000u32 as i32));
        let (exponent, sign, largest) = (_mm512_set1_epi32(0xFF), _mm512_set1_epi32(i32::MIN), _mm512_set1_epi32(0x7F7F_0000));
        let mut acc = [_mm512_setzero_pd(); 6];
        let mut i = 0;
        while i < n {
            let left = n - i;
            let mask: __mmask16 = if left >= 16 { 0xFFFF } else { (1u16 << left) - 1 };
            let x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, src.as_ptr().add(i)), scale);
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(i), mask, x);
            // Round to nearest, ties to even, in the high half of each word.
            let bits = _mm512_castps_si512(x);
            let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), one);
            let mut h = _mm512_and_si512(_mm512_add_epi32(bits, _mm512_add_epi32(odd, half)), high);
            let e = _mm512_and_si512(_mm512_srli_epi32::<23>(h), exponent);
            let sg = _mm512_and_si512(h, sign);
            h = _mm512_mask_mov_epi32(h, _mm512_cmpeq_epi32_mask(e, _mm512_setzero_si512()), sg);
            h = _mm512_mask_mov_epi32(h, _mm512_cmpeq_epi32_mask(e, exponent), _mm512_or_si512(sg, largest));
            _mm256_mask_storeu_epi16(halves.as_mut_ptr().add(i).cast(), mask, _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(h)));
            let xh = _mm512_castsi512_ps(h);
            // x − x̂ is exact in f32 (x̂ is x with its low bits cleared, or zero, or a saturation
            // of a value within a factor of two of it).
            for (pair, v) in acc.chunks_exact_mut(2).zip([x, xh, _mm512_sub_ps(x, xh)]) {
                let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
                let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))));
                pair[0] = _mm512_fmadd_pd(lo, lo, pair[0]);
                pair[1] = _mm512_fmadd_pd(hi, hi, pair[1]);
            }
            i += 16;
        }
        let norm = |a: __m512d, b: __m512d| _mm512_reduce_add_pd(_mm512_add_pd(a, b)).sqrt();
        Norms { exact: norm(acc[0], acc[1]), rounded: norm(acc[2], acc[3]), error: norm(acc[4], acc[5]) }
    }

    /// [`super::exact_dot`] with AVX-512F.
    ///
    /// # Safety
    /// The processor must run AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let whole = n / 64 * 64;
        let mut i = 0;
        while i < whole {
            for (j, x) in acc.iter_mut().enumerate() {
                *x = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i + 16 * j)), _mm512_loadu_ps(pb.add(i + 16 * j)), *x);
            }
            i += 64;
        }
        while i < n {
            let left = n - i;
            let mask: __mmask16 = if left >= 16 { 0xFFFF } else { (1u16 << left) - 1 };
            acc[0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, pa.add(i)), _mm512_maskz_loadu_ps(mask, pb.add(i)), acc[0]);
            i += 16;
        }
        let mut lanes = [[0f32; 16]; 4];
        for (out, x) in lanes.iter_mut().zip(acc) {
            _mm512_storeu_ps(out.as_mut_ptr(), x);
        }
        super::reduce(lanes)
    }
}
