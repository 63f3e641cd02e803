//! Packing into GEMM panels: `[panel][d][width]`, zero-padded to whole panels, so that each
//! step of the microkernel reads one contiguous run of `width` floats.

use rayon::prelude::*;

/// A 4-byte element of panel storage: f32 values, or u32 words holding two bf16 values.
pub trait Word: Copy + Default + Send + Sync + private::Sealed {}
impl Word for f32 {}
impl Word for u32 {}

mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u32 {}
}

/// 64 bytes, cache-line aligned: the unit of panel storage, so that vector loads of the
/// microkernel never straddle two cache lines. (Sixteen 4-byte words fill it exactly.)
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Line<T>([T; 16]);

/// Zeroed storage of `n` words (floats unless said otherwise), 64-byte aligned.
#[derive(Clone, Debug)]
pub struct AlignedBuf<T = f32> {
    lines: Vec<Line<T>>,
    len: usize,
}

impl<T: Word> Default for AlignedBuf<T> {
    fn default() -> Self {
        AlignedBuf { lines: Vec::new(), len: 0 }
    }
}

impl<T: Word> AlignedBuf<T> {
    /// `n` zeros.
    pub fn zeros(n: usize) -> Self {
        AlignedBuf { lines: vec![Line::default(); n.div_ceil(16)], len: n }
    }
    /// The words.
    pub fn as_slice(&self) -> &[T] {
        // Line is repr(C) [T; 16] of a 4-byte T, 64 bytes with no padding: the lines are
        // `16 * lines.len() ≥ len` contiguous words.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }
    /// The words, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // As above.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }
}

/// A matrix packed into panels of `width` rows, each stored step-major along d.
#[derive(Clone, Debug, Default)]
pub struct Panels {
    /// `panels × dim × width` floats.
    pub data: AlignedBuf,
    /// Rows before padding.
    pub rows: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Rows per panel.
    pub width: usize,
}

impl Panels {
    /// Packs `rows × dim` row-major values, row `i` multiplied by `scales[i]` when given.
    #[expect(clippy::indexing_slicing, reason = "row positions stay within the chunk being packed")]
    pub fn pack(values: &[f32], scales: Option<&[f32]>, rows: usize, dim: usize, width: usize) -> Panels {
        let panels = rows.div_ceil(width);
        let mut data = AlignedBuf::zeros(panels * dim * width);
        if dim > 0 {
            data.as_mut_slice().par_chunks_mut(dim * width).enumerate().for_each(|(p, out)| {
                let r0 = p * width;
                let n = width.min(rows - r0);
                let src: Vec<&[f32]> = (0..n).map(|j| &values[(r0 + j) * dim..(r0 + j + 1) * dim]).collect();
                let scale: Vec<f32> = (0..n).map(|j| scales.map_or(1.0, |s| s[r0 + j])).collect();
                // Step-major: each step of d writes one contiguous run of `width` floats while
                // the `width` source rows are read in step, each sequentially.
                for (k, step) in out.chunks_exact_mut(width).enumerate() {
                    for ((o, row), s) in step.iter_mut().zip(&src).zip(&scale) {
                        *o = row[k] * s;
                    }
                }
            });
        }
        Panels { data, rows, dim, width }
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.rows.div_ceil(self.width)
    }

    /// Pointer to step `k` of panel `p`.
    #[inline]
    pub fn at(&self, p: usize, k: usize) -> *const f32 {
        debug_assert!(p < self.panels() && k <= self.dim);
        // In bounds: p < panels and k ≤ dim.
        unsafe { self.data.as_slice().as_ptr().add((p * self.dim + k) * self.width) }
    }
}
