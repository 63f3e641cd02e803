//! The CPU backend: blocked GEMM with the top-k fused into the tile epilogue.
//!
//! Queries are packed once into panels of [`MR`] rows, each corpus chunk into panels of [`NR`]
//! rows (on the reader thread, overlapping the previous chunk's scoring). Work is cut into
//! tasks of `MB` queries × a corpus slice, run with rayon; a task walks its slice `NB`
//! documents at a time, blocks d by `KC` so the corpus panel stays in L1 while the query block
//! streams from L2, and hands each finished `MB × NB` block of scores (L2-resident) to the
//! queries' [`TopK`] selections before moving on. The `Q × N` score matrix never exists.
//! When queries are few, the corpus is split across tasks too and the partial selections are
//! merged.

mod kernel;
mod pack;

pub use kernel::{Isa, MR, NR};
pub use pack::Panels;

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::{Backend, Staged, TopK};
use crate::error::{Error, Result};

/// Queries per task (a multiple of `MR`).
const MB: usize = 8 * MR;
/// Documents per block (a multiple of `NR`).
const NB: usize = 8 * NR;
/// Steps of d per pass over a block.
const KC: usize = 192;

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

    /// A backend forced onto one instruction set (tests compare them). `isa` must be one the
    /// processor runs; an unsupported one falls back to [`Isa::Portable`].
    pub fn with_isa(isa: Isa) -> Self {
        let isa = if Isa::available().contains(&isa) {
            isa
        } else {
            Isa::Portable
        };
        CpuBackend {
            isa,
            queries: Panels::default(),
        }
    }

    /// The instruction set in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    fn run_task(
        &self,
        corpus: &Panels,
        q_block: usize,
        cols: std::ops::Range<usize>,
        first_row: u64,
        topk: &mut [TopK],
    ) {
        let q = &self.queries;
        let dim = q.dim;
        let qp0 = q_block * (MB / MR);
        let qpanels = topk.len().div_ceil(MR);
        let mut cbuf = vec![0f32; MB * NB];
        let mut nb0 = cols.start;
        while nb0 < cols.end {
            let ncols = NB.min(cols.end - nb0);
            let cp0 = nb0 / NR;
            let cpanels = ncols.div_ceil(NR);
            let mut k0 = 0;
            while k0 < dim {
                let kc = KC.min(dim - k0);
                for jp in 0..cpanels {
                    let b = corpus.at(cp0 + jp, k0);
                    for ip in 0..qpanels {
                        let a = q.at(qp0 + ip, k0);
                        // In bounds: ip * MR + MR ≤ MB rows and jp * NR + NR ≤ NB columns of cbuf;
                        // the panels hold kc steps from k0 (k0 + kc ≤ dim).
                        unsafe {
                            let c = cbuf.as_mut_ptr().add(ip * MR * NB + jp * NR);
                            kernel::tile(self.isa, kc, a, b, c, NB, k0 > 0);
                        }
                    }
                }
                k0 += kc;
            }
            for (i, t) in topk.iter_mut().enumerate() {
                t.offer(&cbuf[i * NB..i * NB + ncols], first_row + nb0 as u64);
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
        format!(
            "cpu ({}, {} threads)",
            self.isa.name(),
            rayon::current_num_threads()
        )
    }

    fn load_queries(&mut self, queries: ArrayView2<f32>) -> Result<()> {
        let values = queries.as_standard_layout();
        let values = values
            .as_slice()
            .ok_or_else(|| Error::Invalid("queries are not contiguous".into()))?;
        self.queries = Panels::pack(values, queries.nrows(), queries.ncols(), MR);
        Ok(())
    }

    fn stage(&self, chunk: ArrayView2<f32>) -> Result<Staged> {
        let values = chunk.as_standard_layout();
        let values = values
            .as_slice()
            .ok_or_else(|| Error::Invalid("corpus chunk is not contiguous".into()))?;
        Ok(Staged::Panels(Panels::pack(
            values,
            chunk.nrows(),
            chunk.ncols(),
            NR,
        )))
    }

    fn score(&self, staged: &Staged, first_row: u64, topk: &mut [TopK]) -> Result<()> {
        #[allow(irrefutable_let_patterns)] // other backends add variants
        let Staged::Panels(corpus) = staged
        else {
            return Err(Error::Invalid(
                "corpus chunk was staged for another backend".into(),
            ));
        };
        if corpus.dim != self.queries.dim {
            return Err(Error::Mismatch {
                message: format!(
                    "corpus dimension {} differs from the queries' {}",
                    corpus.dim, self.queries.dim
                ),
            });
        }
        if topk.len() != self.queries.rows {
            return Err(Error::Invalid(format!(
                "{} selections for {} queries",
                topk.len(),
                self.queries.rows
            )));
        }
        let nc = corpus.rows;
        if nc == 0 || topk.is_empty() {
            return Ok(());
        }
        let q_blocks = topk.len().div_ceil(MB);
        let threads = rayon::current_num_threads().max(1);
        let c_blocks = nc.div_ceil(NB);
        let slices = if q_blocks >= 2 * threads {
            1
        } else {
            (4 * threads).div_ceil(q_blocks).min(c_blocks)
        };
        if slices <= 1 {
            topk.par_chunks_mut(MB)
                .enumerate()
                .for_each(|(qb, tk)| self.run_task(corpus, qb, 0..nc, first_row, tk));
            return Ok(());
        }
        let per = c_blocks.div_ceil(slices) * NB;
        let tasks: Vec<(usize, usize)> = (0..q_blocks)
            .flat_map(|qb| (0..nc).step_by(per).map(move |c| (qb, c)))
            .collect();
        let partial: Vec<(usize, Vec<TopK>)> = tasks
            .into_par_iter()
            .map(|(qb, c0)| {
                let k = topk[0].k();
                let rows = MB.min(topk.len() - qb * MB);
                let mut local: Vec<TopK> = (0..rows).map(|_| TopK::new(k)).collect();
                self.run_task(corpus, qb, c0..(c0 + per).min(nc), first_row, &mut local);
                (qb, local)
            })
            .collect();
        for (qb, local) in partial {
            for (t, l) in topk[qb * MB..].iter_mut().zip(local) {
                t.merge(l);
            }
        }
        Ok(())
    }
}
