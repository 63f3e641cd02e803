//! The CPU backend: blocked GEMM with the top-k fused into the tile epilogue.
//!
//! Queries are packed once into panels of `MR` rows, each corpus chunk into panels of `NR`
//! rows (the instruction set's tile shape, [`Isa::tile`]) on the reader thread, overlapping
//! the previous chunk's scoring. Work is cut into tasks of `MB` queries × a corpus slice, run
//! with rayon. A task walks its slice `NB` documents at a time and blocks d by `KC` so that a
//! corpus panel stays in L1 while the query block streams from L2; each finished `MB × NB`
//! block of scores (L2-resident) goes to the queries' [`TopK`] selections before the next
//! block is computed, so the `Q × N` score matrix never exists. When queries are few, the
//! corpus is split across tasks too and the partial selections are merged.

// Indexing here cannot fail: block positions stay within the blocks this module packs.
// (The crate denies indexing elsewhere: its readers of user files index nothing.)
#![allow(clippy::indexing_slicing)]

pub mod kernel;
mod pack;

pub use kernel::Isa;
pub use pack::{AlignedBuf, Panels};

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::{Backend, Staged, TopK};
use crate::error::{Error, Result};

/// Query panels per task (measured on a 2-core Zen 3 with 1 MiB L2: 32 × 8 at KC 256 gave
/// the best median, 150 GFLOP/s of a 192 GFLOP/s FMA peak; 16 × 16 and 48 × 8 were slower).
const MB_PANELS: usize = 32;
/// Corpus panels per block.
const NB_PANELS: usize = 8;
/// Bytes of one corpus panel's pass over d that should stay in L1 (half of a 32 KiB L1).
const L1_PANEL_BYTES: usize = 16 << 10;

/// Block sizes of one instruction set.
#[derive(Clone, Copy, Debug)]
struct Blocking {
    mr: usize,
    nr: usize,
    mb: usize,
    nb: usize,
    kc: usize,
}

/// Exact scoring on the CPU.
#[derive(Debug)]
pub struct CpuBackend {
    isa: Isa,
    queries: Panels,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// A backend using the best instruction set of this processor.
    pub fn new() -> Self {
        Self::with_isa(Isa::detect())
    }

    /// A backend forced onto one instruction set (tests compare them). An instruction set the
    /// processor does not run falls back to [`Isa::Portable`].
    pub fn with_isa(isa: Isa) -> Self {
        let isa = if Isa::available().contains(&isa) { isa } else { Isa::Portable };
        CpuBackend { isa, queries: Panels::default() }
    }

    /// The instruction set in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    fn blocking(&self) -> Blocking {
        let (mr, nr) = self.isa.tile();
        let queries = self.queries.panels().max(1);
        let threads = rayon::current_num_threads().max(1);
        // As many query blocks of at most MB_PANELS panels as make a whole number of rounds
        // over the threads, so that no thread idles at the end of a chunk.
        let blocks = threads * queries.div_ceil(threads * MB_PANELS);
        let mb_panels = queries.div_ceil(blocks).max(1);
        Blocking { mr, nr, mb: mb_panels * mr, nb: NB_PANELS * nr, kc: (L1_PANEL_BYTES / (4 * nr)).max(16) }
    }

    /// Scores query block `q_block` (its selections are `topk`) against corpus rows `cols`.
    fn run_task(&self, corpus: &Panels, q_block: usize, cols: std::ops::Range<usize>, first_row: u64, topk: &mut [TopK]) {
        let Blocking { mr, nr, mb, nb, kc: kc_max } = self.blocking();
        let q = &self.queries;
        let dim = q.dim;
        let qp0 = q_block * (mb / mr);
        let qpanels = topk.len().div_ceil(mr);
        let mut cbuf = AlignedBuf::zeros(mb * nb);
        let cbuf = cbuf.as_mut_slice();
        let mut nb0 = cols.start;
        while nb0 < cols.end {
            let ncols = nb.min(cols.end - nb0);
            let cp0 = nb0 / nr;
            let cpanels = ncols.div_ceil(nr);
            let mut k0 = 0;
            while k0 < dim {
                let kc = kc_max.min(dim - k0);
                for jp in 0..cpanels {
                    let b = corpus.at(cp0 + jp, k0);
                    for ip in 0..qpanels {
                        let a = q.at(qp0 + ip, k0);
                        // In bounds: (ip + 1) * mr ≤ mb rows and (jp + 1) * nr ≤ nb columns of
                        // cbuf; both panels hold kc steps from k0 (k0 + kc ≤ dim); the isa is
                        // one this processor runs (checked in with_isa).
                        unsafe {
                            let c = cbuf.as_mut_ptr().add(ip * mr * nb + jp * nr);
                            kernel::tile(self.isa, kc, a, b, c, nb, k0 > 0);
                        }
                    }
                }
                k0 += kc;
            }
            for (i, t) in topk.iter_mut().enumerate() {
                t.offer(&cbuf[i * nb..i * nb + ncols], first_row + nb0 as u64);
            }
            nb0 += ncols;
        }
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }

    fn detail(&self) -> String {
        format!("cpu ({}, {} threads)", self.isa.name(), rayon::current_num_threads())
    }

    fn load_queries(&mut self, queries: ArrayView2<f32>) -> Result<()> {
        let values = queries.as_standard_layout();
        let values = values.as_slice().ok_or_else(|| Error::Invalid("queries are not contiguous".into()))?;
        self.queries = Panels::pack(values, None, queries.nrows(), queries.ncols(), self.isa.tile().0);
        Ok(())
    }

    fn stage(&self, chunk: ArrayView2<f32>, scales: &[f32]) -> Result<Staged> {
        let values = chunk.as_standard_layout();
        let values = values.as_slice().ok_or_else(|| Error::Invalid("corpus chunk is not contiguous".into()))?;
        Ok(Staged::Panels(Panels::pack(values, Some(scales), chunk.nrows(), chunk.ncols(), self.isa.tile().1)))
    }

    fn score(&self, staged: &Staged, first_row: u64, topk: &mut [TopK]) -> Result<()> {
        let Staged::Panels(corpus) = staged else {
            return Err(Error::Invalid("corpus chunk was staged for another backend".into()));
        };
        let Blocking { nr, mb, nb, .. } = self.blocking();
        if corpus.width != nr {
            return Err(Error::Invalid("corpus chunk was packed for another tile shape".into()));
        }
        if corpus.dim != self.queries.dim {
            return Err(Error::Mismatch {
                message: format!("corpus dimension {} differs from the queries' {}", corpus.dim, self.queries.dim),
            });
        }
        if topk.len() != self.queries.rows {
            return Err(Error::Invalid(format!("{} selections for {} queries", topk.len(), self.queries.rows)));
        }
        let nc = corpus.rows;
        if nc == 0 || topk.is_empty() {
            return Ok(());
        }
        let q_blocks = topk.len().div_ceil(mb);
        let threads = rayon::current_num_threads().max(1);
        let c_blocks = nc.div_ceil(nb);
        let slices = if q_blocks >= 2 * threads { 1 } else { (4 * threads).div_ceil(q_blocks).min(c_blocks) };
        if slices <= 1 {
            topk.par_chunks_mut(mb).enumerate().for_each(|(qb, tk)| self.run_task(corpus, qb, 0..nc, first_row, tk));
            return Ok(());
        }
        let per = c_blocks.div_ceil(slices) * nb;
        let k = topk[0].k();
        let tasks: Vec<(usize, usize)> = (0..q_blocks).flat_map(|qb| (0..nc).step_by(per).map(move |c| (qb, c))).collect();
        let partial: Vec<(usize, Vec<TopK>)> = tasks
            .into_par_iter()
            .map(|(qb, c0)| {
                let rows = mb.min(topk.len() - qb * mb);
                let mut local: Vec<TopK> = (0..rows).map(|_| TopK::new(k)).collect();
                self.run_task(corpus, qb, c0..(c0 + per).min(nc), first_row, &mut local);
                (qb, local)
            })
            .collect();
        for (qb, local) in partial {
            for (t, l) in topk[qb * mb..].iter_mut().zip(local) {
                t.merge(l);
            }
        }
        Ok(())
    }
}
