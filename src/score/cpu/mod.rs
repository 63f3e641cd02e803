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
//!
//! On processors with AVX-512 BF16 ([`Isa::Avx512Bf16`]) or AMX ([`Isa::AmxBf16`]) the same
//! blocks are scored in bfloat16 and each task rescores exactly the few documents that can
//! reach the top k ([`screen`]): the result is still the exact top k.

#[cfg(target_arch = "x86_64")]
pub mod amx;
pub mod choose;
pub mod kernel;
mod pack;
pub mod peak;
pub mod screen;

pub use kernel::Isa;
pub use pack::{AlignedBuf, Panels, Word};
pub use screen::Screened;

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::{Backend, Hit, TopK};
use crate::choice::Choice;
use crate::error::{Error, Result};

/// Query panels per task (measured on a 2-core Zen 3 with 1 MiB L2: 32 × 8 at KC 256 gave
/// the best median, 150 GFLOP/s of a 192 GFLOP/s FMA peak; 16 × 16 and 48 × 8 were slower).
const MB_PANELS: usize = 32;
/// Query blocks of 32 rows per task for the AMX screen: 256 queries, so that a task's block of
/// scores (256 × 256 f32) and its queries' slice of d stay in L2 (measured on an Emerald Rapids
/// Xeon against 2, 4, 16 and 32: 32 halved the rate).
const AMX_MB_PANELS: usize = 8;
/// Corpus panels per block.
const NB_PANELS: usize = 8;
/// Bytes of one corpus panel's pass over d that should stay in L1 (half of a 32 KiB L1).
const L1_PANEL_BYTES: usize = 16 << 10;

/// How the AMX kernel needs rows packed, in panels of the given width: whole tiles of 16 pairs
/// of steps, whole blocks of 32 rows.
fn amx_padding(width: usize) -> screen::Padding {
    screen::Padding { width, pairs: 16, rows: 32 }
}

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
    /// How the kernel was chosen (the table's metadata) and why (the summary).
    chosen_by: &'static str,
    reason: String,
    /// The queries as f32 panels (instruction sets that do not screen).
    queries: Panels,
    /// The queries staged for screening (instruction sets that screen).
    screened: Screened,
}

/// The environment variable that forces the CPU kernel: `amx-bf16`, `avx512-bf16`, `avx512`,
/// `avx2` or `portable` (`CpuBackend::from_env`).
pub const KERNEL_VAR: &str = "SIMCAL_CPU_KERNEL";

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// A backend on the kernel measured fastest on this processor ([`choose::measured`]: timed
    /// once per process, at first use).
    pub fn new() -> Self {
        let c = choose::measured();
        let chosen_by = if c.rates.is_empty() { "the only kernel" } else { "measurement" };
        CpuBackend { chosen_by, reason: c.reason.clone(), ..Self::with_isa(c.isa) }
    }

    /// A backend on the kernel the environment variable [`KERNEL_VAR`] names (tests, and users
    /// who know their processor), else on the best instruction set this processor runs. A
    /// name that is not a kernel, or a kernel this processor does not run, is refused.
    pub(crate) fn from_env() -> Result<Self> {
        let Some(name) = std::env::var_os(KERNEL_VAR) else { return Ok(Self::new()) };
        let name = name.to_string_lossy();
        let isa = <Isa as Choice>::parse(name.trim()).map_err(|e| Error::Invalid(format!("{KERNEL_VAR}: {e}")))?;
        Self::forced(isa, KERNEL_VAR).map_err(|e| match e {
            Error::Unavailable(m) => Error::Unavailable(format!("{KERNEL_VAR}={name}: {m}")),
            e => e,
        })
    }

    /// A backend on `isa`, as `by` (the option or variable that named it) asks; refused when
    /// this processor does not run it.
    pub(crate) fn forced(isa: Isa, by: &'static str) -> Result<Self> {
        let runs = Isa::available();
        if !runs.contains(&isa) {
            let names: Vec<&str> = runs.iter().map(|i| i.name()).collect();
            return Err(Error::Unavailable(format!("this processor does not run that kernel (it runs {})", crate::choice::one_of(&names))));
        }
        Ok(CpuBackend { chosen_by: by, reason: format!("forced by {by}"), ..Self::with_isa(isa) })
    }

    /// A backend forced onto one instruction set (tests compare them). An instruction set the
    /// processor does not run falls back to [`Isa::Portable`].
    pub fn with_isa(isa: Isa) -> Self {
        let isa = if Isa::available().contains(&isa) { isa } else { Isa::Portable };
        CpuBackend {
            isa,
            chosen_by: "the caller",
            reason: "asked for".to_owned(),
            queries: Panels::default(),
            screened: Screened::default(),
        }
    }

    /// The instruction set in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    fn blocking(&self) -> Blocking {
        let (mr, nr) = self.isa.tile();
        let rows = if self.isa.screens() { self.screened.len() } else { self.queries.rows };
        let queries = rows.div_ceil(mr).max(1);
        let threads = rayon::current_num_threads().max(1);
        // As many query blocks of at most MB_PANELS panels as make a whole number of rounds
        // over the threads, so that no thread idles at the end of a chunk.
        let most = if self.isa == Isa::AmxBf16 { AMX_MB_PANELS } else { MB_PANELS };
        let blocks = threads * queries.div_ceil(threads * most);
        let mb_panels = queries.div_ceil(blocks).max(1);
        Blocking { mr, nr, mb: mb_panels * mr, nb: NB_PANELS * nr, kc: (L1_PANEL_BYTES / (4 * nr)).max(16) }
    }

    /// Walks query block `q_block` (`rows` queries) against corpus columns `cols`: computes
    /// each `MB × NB` block of scores with `tile` (query panel, corpus panel, first step, steps,
    /// output, accumulate) over `steps` steps (f32 values, or bf16 pairs: 4-byte words either
    /// way) in blocks of `KC`, then hands it to `epilogue` (the block with row stride NB, its
    /// first column, its width).
    fn walk(
        &self,
        q_block: usize,
        rows: usize,
        cols: std::ops::Range<usize>,
        steps: usize,
        tile: impl Fn(usize, usize, usize, usize, *mut f32, bool),
        mut epilogue: impl FnMut(&[f32], usize, usize),
    ) {
        let Blocking { mr, nr, mb, nb, kc: kc_max } = self.blocking();
        let qp0 = q_block * (mb / mr);
        let qpanels = rows.div_ceil(mr);
        let mut cbuf = AlignedBuf::<f32>::zeros(mb * nb);
        let cbuf = cbuf.as_mut_slice();
        let mut nb0 = cols.start;
        while nb0 < cols.end {
            let ncols = nb.min(cols.end - nb0);
            let cp0 = nb0 / nr;
            let cpanels = ncols.div_ceil(nr);
            let mut k0 = 0;
            while k0 < steps {
                let kc = kc_max.min(steps - k0);
                for jp in 0..cpanels {
                    for ip in 0..qpanels {
                        // In bounds: (ip + 1) * mr ≤ mb rows and (jp + 1) * nr ≤ nb columns.
                        let c = unsafe { cbuf.as_mut_ptr().add(ip * mr * nb + jp * nr) };
                        tile(qp0 + ip, cp0 + jp, k0, kc, c, k0 > 0);
                    }
                }
                k0 += kc;
            }
            epilogue(cbuf, nb0, ncols);
            nb0 += ncols;
        }
    }

    /// Scores query block `q_block` (its selections are `topk`) against corpus rows `cols`.
    #[expect(clippy::indexing_slicing, reason = "block positions stay within the blocks this module packs")]
    fn run_task(&self, corpus: &Panels, q_block: usize, cols: std::ops::Range<usize>, first_row: u64, topk: &mut [TopK]) {
        let Blocking { nb, .. } = self.blocking();
        let (q, isa) = (&self.queries, self.isa);
        let tile = |qp, cp, k0, kc, c, accumulate| {
            // In bounds: both panels hold kc steps from k0 (k0 + kc ≤ dim), and walk gives
            // room for a tile at c with row stride nb; the isa is one this processor runs
            // (checked in with_isa).
            unsafe { kernel::tile(isa, kc, q.at(qp, k0), corpus.at(cp, k0), c, nb, accumulate) }
        };
        self.walk(q_block, topk.len(), cols, q.dim, tile, |cbuf, nb0, ncols| {
            for (i, t) in topk.iter_mut().enumerate() {
                t.offer(&cbuf[i * nb..i * nb + ncols], first_row + nb0 as u64);
            }
        });
    }

    /// As [`Self::run_task`] on a chunk staged for screening: the blocks are scored in
    /// bfloat16, and the candidates that survive the screen are rescored exactly.
    #[cfg(target_arch = "x86_64")]
    #[expect(clippy::indexing_slicing, reason = "block positions stay within the blocks this module packs")]
    fn run_screened(
        &self,
        corpus: &Screened,
        q_block: usize,
        cols: std::ops::Range<usize>,
        first_row: u64,
        topk: &mut [TopK],
    ) -> Result<()> {
        let Blocking { mr, mb, nb, .. } = self.blocking();
        let q = &self.screened;
        let first_query = q_block * (mb / mr) * mr;
        // AMX sums in an order the architecture leaves open: the margin is taken for twice
        // the chain, which doubles its accumulation and flush terms (a rounding unit twice
        // as large at every step would still be covered).
        let chain = if self.isa == Isa::AmxBf16 { 2 * q.dim() } else { q.dim() };
        let mut candidates: Vec<screen::Candidates> = topk
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut c = screen::Candidates::new(t.k());
                c.reset(t.scores(), screen::margin(&q.norms()[first_query + i], &corpus.max(), chain));
                c
            })
            .collect();
        // AMX's tiles are configured on this thread for the task; the AVX-512 BF16 screen
        // needs nothing.
        let tiles = if self.isa == Isa::AmxBf16 {
            Some(amx::Tiles::configure().ok_or_else(|| Error::Unavailable("the AMX tiles could not be configured".into()))?)
        } else {
            None
        };
        let tile = |qp: usize, cp, k0, kc, c, accumulate| match &tiles {
            // In bounds: the queries are packed a row per panel, padded to whole blocks of mr
            // rows and pairs to whole tiles (load_queries), the corpus panels likewise (stage);
            // walk gives room for an mr × nr block at c with row stride nb. The tiles are
            // configured on this thread.
            Some(t) => unsafe { amx::tile(t, kc, q.at(qp * mr, k0), q.pairs(), corpus.at(cp, k0), c, nb, accumulate) },
            // In bounds as in run_task, over pairs of steps; the processor runs AVX-512 BF16
            // (this isa screens, and with_isa checked it is available).
            None => unsafe { kernel::screen_tile(kc, q.at(qp, k0), corpus.at(cp, k0), c, nb, accumulate) },
        };
        self.walk(q_block, topk.len(), cols, q.pairs(), tile, |cbuf, nb0, ncols| {
            for (i, c) in candidates.iter_mut().enumerate() {
                c.offer(&cbuf[i * nb..i * nb + ncols], nb0 as u32);
            }
        });
        // Rescored a document at a time, each for every query that kept it, so that a row is
        // read from memory once.
        let mut pairs: Vec<u64> = Vec::new();
        for (i, c) in candidates.iter_mut().enumerate() {
            pairs.extend(c.survivors().map(|col| u64::from(col) << 32 | i as u64));
        }
        pairs.sort_unstable();
        for p in pairs {
            let (col, i) = ((p >> 32) as usize, (p & 0xFFFF_FFFF) as usize);
            let score = screen::exact_dot(q.row(first_query + i), corpus.row(col));
            topk[i].push(Hit { row: first_row + col as u64, score });
        }
        Ok(())
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn run_screened(&self, _: &Screened, _: usize, _: std::ops::Range<usize>, _: u64, _: &mut [TopK]) -> Result<()> {
        unreachable!("no instruction set screens on this architecture")
    }
}

/// A corpus chunk staged for the CPU backend, as its kernel reads it.
#[derive(Debug)]
pub enum Staged {
    /// Packed GEMM panels.
    Panels(Panels),
    /// bfloat16 panels and f32 rows for the screen ([`screen`]).
    Screened(Screened),
}

impl Backend for CpuBackend {
    type Staged = Staged;

    fn name(&self) -> String {
        "cpu".into()
    }

    fn detail(&self) -> String {
        format!("cpu ({}: {}, {} threads)", self.isa.name(), self.reason, rayon::current_num_threads())
    }

    fn metadata(&self) -> Vec<(String, String)> {
        vec![
            (crate::table::keys::CPU_KERNEL.to_owned(), self.isa.name().to_owned()),
            (crate::table::keys::CPU_KERNEL_CHOSEN_BY.to_owned(), self.chosen_by.to_owned()),
        ]
    }

    fn load_queries(&mut self, queries: ArrayView2<f32>) -> Result<()> {
        let values = queries.as_standard_layout();
        let values = values.as_slice().ok_or_else(|| Error::Invalid("queries are not contiguous".into()))?;
        let (rows, dim, width) = (queries.nrows(), queries.ncols(), self.isa.tile().0);
        if self.isa == Isa::AmxBf16 {
            // A query per row, so that 16 rows of pairs load as one tile.
            self.screened = Screened::pack_padded(values, None, rows, dim, amx_padding(1));
        } else if self.isa.screens() {
            self.screened = Screened::pack(values, None, rows, dim, width);
        } else {
            self.queries = Panels::pack(values, None, rows, dim, width);
        }
        Ok(())
    }

    fn stage(&self, chunk: ArrayView2<f32>, scales: &[f32]) -> Result<Staged> {
        let values = chunk.as_standard_layout();
        let values = values.as_slice().ok_or_else(|| Error::Invalid("corpus chunk is not contiguous".into()))?;
        let (rows, dim, width) = (chunk.nrows(), chunk.ncols(), self.isa.tile().1);
        if self.isa == Isa::AmxBf16 {
            return Ok(Staged::Screened(Screened::pack_padded(values, Some(scales), rows, dim, amx_padding(width))));
        }
        if self.isa.screens() {
            return Ok(Staged::Screened(Screened::pack(values, Some(scales), rows, dim, width)));
        }
        Ok(Staged::Panels(Panels::pack(values, Some(scales), rows, dim, width)))
    }

    #[expect(clippy::indexing_slicing, reason = "block positions stay within the blocks this module packs")]
    fn score(&self, staged: &Staged, first_row: u64, topk: &mut [TopK]) -> Result<()> {
        let Blocking { nr, mb, nb, .. } = self.blocking();
        let (nc, width, dim, queries) = match staged {
            Staged::Panels(c) if !self.isa.screens() => (c.rows, c.width, c.dim, self.queries.rows),
            Staged::Screened(c) if self.isa.screens() => (c.len(), c.width(), c.dim(), self.screened.len()),
            _ => return Err(Error::Invalid("corpus chunk was staged for another backend".into())),
        };
        if width != nr {
            return Err(Error::Invalid("corpus chunk was packed for another tile shape".into()));
        }
        let query_dim = if self.isa.screens() { self.screened.dim() } else { self.queries.dim };
        if dim != query_dim {
            return Err(Error::Mismatch { message: format!("corpus dimension {dim} differs from the queries' {query_dim}") });
        }
        if topk.len() != queries {
            return Err(Error::Invalid(format!("{} selections for {queries} queries", topk.len())));
        }
        let run = |qb: usize, cols: std::ops::Range<usize>, tk: &mut [TopK]| match staged {
            Staged::Panels(c) => {
                self.run_task(c, qb, cols, first_row, tk);
                Ok(())
            }
            Staged::Screened(c) => self.run_screened(c, qb, cols, first_row, tk),
        };
        if nc == 0 || topk.is_empty() {
            return Ok(());
        }
        let q_blocks = topk.len().div_ceil(mb);
        let threads = rayon::current_num_threads().max(1);
        let c_blocks = nc.div_ceil(nb);
        let slices = if q_blocks >= 2 * threads { 1 } else { (4 * threads).div_ceil(q_blocks).min(c_blocks) };
        if slices <= 1 {
            return topk.par_chunks_mut(mb).enumerate().try_for_each(|(qb, tk)| run(qb, 0..nc, tk));
        }
        let per = c_blocks.div_ceil(slices) * nb;
        let k = topk[0].k();
        let tasks: Vec<(usize, usize)> = (0..q_blocks).flat_map(|qb| (0..nc).step_by(per).map(move |c| (qb, c))).collect();
        let partial: Vec<(usize, Vec<TopK>)> = tasks
            .into_par_iter()
            .map(|(qb, c0)| {
                let rows = mb.min(topk.len() - qb * mb);
                let mut local: Vec<TopK> = (0..rows).map(|_| TopK::new(k)).collect();
                run(qb, c0..(c0 + per).min(nc), &mut local)?;
                Ok((qb, local))
            })
            .collect::<Result<_>>()?;
        for (qb, local) in partial {
            for (t, l) in topk[qb * mb..].iter_mut().zip(local) {
                t.merge(l);
            }
        }
        Ok(())
    }
}
