//! Packing into GEMM panels: `[panel][d][width]`, zero-padded to whole panels, so that each
//! step of the microkernel reads one contiguous run of `width` floats.

use rayon::prelude::*;

/// A matrix packed into panels of `width` rows, each stored step-major along d.
#[derive(Clone, Debug, Default)]
pub struct Panels {
    /// `panels × dim × width` floats.
    pub data: Vec<f32>,
    /// Rows before padding.
    pub rows: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Rows per panel.
    pub width: usize,
}

impl Panels {
    /// Packs `rows × dim` row-major values.
    pub fn pack(values: &[f32], rows: usize, dim: usize, width: usize) -> Panels {
        let panels = rows.div_ceil(width);
        let mut data = vec![0f32; panels * dim * width];
        if dim > 0 {
            data.par_chunks_mut(dim * width)
                .enumerate()
                .for_each(|(p, out)| {
                    let r0 = p * width;
                    let n = width.min(rows - r0);
                    for j in 0..n {
                        let src = &values[(r0 + j) * dim..(r0 + j + 1) * dim];
                        for (k, &v) in src.iter().enumerate() {
                            out[k * width + j] = v;
                        }
                    }
                });
        }
        Panels {
            data,
            rows,
            dim,
            width,
        }
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
        unsafe { self.data.as_ptr().add((p * self.dim + k) * self.width) }
    }
}
