//! Exact top-k scoring of queries against a streamed corpus.
//!
//! [`score_corpus`] is the driver: a reader thread pulls corpus chunks, checks and normalises
//! them and has the backend stage them (pack for the CPU, upload for a GPU) while the previous
//! chunk is scored, so reading overlaps compute and at most two chunks are in memory.
//! [`matrix::score_matrices`] does the same for matrices held in memory (the corpus borrowed,
//! staged a block at a time). The [`Backend`] trait is the contract every backend meets (each
//! with its own staging type; [`AnyBackend`] is one behind a pointer); the CPU backend is the
//! reference.

pub mod cpu;
pub mod gpu;
pub mod matrix;
mod topk;

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::path::Path;
use std::time::Instant;

use ndarray::ArrayView2;

pub use topk::{rank_order, Hit, TopK};

use crate::embed::{check_unique_ids, prepare, row_scales, ChunkSource, Embeddings, Metric, RowScales, ZeroVectors};
use crate::error::{Error, Result};

/// What every scoring backend does. Each backend owns its staging type: what [`Backend::stage`]
/// makes of a corpus chunk is what [`Backend::score`] takes, so no backend can be handed
/// another's chunk. [`AnyBackend`] is a backend behind a pointer, as [`make_backend`] returns it.
pub trait Backend: Sync {
    /// A corpus chunk made ready for this backend (packed panels, a GPU buffer).
    type Staged: Send;
    /// Short name recorded in the score table (`cpu`, or the GPU adapter's name).
    fn name(&self) -> String;
    /// A longer description for logs and `--json`.
    fn detail(&self) -> String {
        self.name()
    }
    /// What the score table's metadata records of the backend beyond its name (the CPU's
    /// kernel and how it was chosen).
    fn metadata(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Bytes of f32 corpus vectors per chunk the backend wants to be given (the reader's chunk
    /// size when the user sets none).
    fn chunk_bytes(&self) -> usize {
        16 << 20
    }
    /// Takes the (already normalised) queries; called once before any chunk.
    fn load_queries(&mut self, queries: ArrayView2<f32>) -> Result<()>;
    /// Makes a corpus chunk ready to score (runs on the reader thread): row `i` is to be
    /// multiplied by `scales[i]` (the normalisation) on the way.
    fn stage(&self, chunk: ArrayView2<f32>, scales: &[f32]) -> Result<Self::Staged>;
    /// Scores a staged chunk whose first row is `first_row` in the corpus, offering every
    /// score to `topk` (one selection per query, in query order).
    fn score(&self, staged: &Self::Staged, first_row: u64, topk: &mut [TopK]) -> Result<()>;
    /// The largest magnitude a stored (scaled) vector value may have, and the storage's name:
    /// f16 holds ±65,504. None: any finite f32.
    fn value_limit(&self) -> Option<(f32, &'static str)> {
        None
    }
    /// `v` as the storage holds it (rounded to f16 there; as is in f32).
    fn stored(&self, v: f32) -> f32 {
        v
    }
}

/// A backend behind a pointer, whatever its staging type: what [`make_backend`] returns, with
/// the two drivers as methods. Every [`Backend`] is one.
pub trait AnyBackend {
    /// [`Backend::name`].
    fn name(&self) -> String;
    /// [`Backend::detail`].
    fn detail(&self) -> String;
    /// [`Backend::chunk_bytes`].
    fn chunk_bytes(&self) -> usize;
    /// [`Backend::metadata`].
    fn metadata(&self) -> Vec<(String, String)>;
    /// [`score_corpus`] on this backend.
    fn score_corpus(
        &mut self,
        queries: &Embeddings,
        corpus: &mut dyn ChunkSource,
        opts: ScoreOptions,
        progress: &dyn Fn(u64) -> Result<()>,
    ) -> Result<Scored>;
    /// [`matrix::score_matrices`] on this backend.
    fn score_matrices(
        &mut self,
        queries: ArrayView2<f32>,
        corpus: ArrayView2<f32>,
        opts: ScoreOptions,
        names: matrix::Names,
        interrupted: &dyn Fn() -> Result<()>,
    ) -> Result<matrix::MatrixHits>;
}

impl<B: Backend> AnyBackend for B {
    fn name(&self) -> String {
        Backend::name(self)
    }
    fn detail(&self) -> String {
        Backend::detail(self)
    }
    fn chunk_bytes(&self) -> usize {
        Backend::chunk_bytes(self)
    }
    fn metadata(&self) -> Vec<(String, String)> {
        Backend::metadata(self)
    }
    fn score_corpus(
        &mut self,
        queries: &Embeddings,
        corpus: &mut dyn ChunkSource,
        opts: ScoreOptions,
        progress: &dyn Fn(u64) -> Result<()>,
    ) -> Result<Scored> {
        score_corpus(self, queries, corpus, opts, progress)
    }
    fn score_matrices(
        &mut self,
        queries: ArrayView2<f32>,
        corpus: ArrayView2<f32>,
        opts: ScoreOptions,
        names: matrix::Names,
        interrupted: &dyn Fn() -> Result<()>,
    ) -> Result<matrix::MatrixHits> {
        matrix::score_matrices(self, queries, corpus, opts, names, interrupted)
    }
}

/// The share of a row's norm its storage may lose to underflow (values flushed to zero or
/// rounded coarsely below the storage's normal range) before the row is refused: beyond it the
/// scores would be ranked on what is left.
pub const STORAGE_NORM_LOSS: f64 = 0.01;

/// Refuses a row holding a value (times its scale) that the backend's storage cannot hold,
/// naming the row: stored as infinity, it would score NaN or infinity and drop out of the top k.
fn check_storage<B: Backend>(
    backend: &B,
    path: &Path,
    first_row: u64,
    ids: &[String],
    vectors: ndarray::ArrayView2<f32>,
    scales: Option<&[f32]>,
) -> Result<()> {
    let Some((limit, storage)) = backend.value_limit() else { return Ok(()) };
    for (r, row) in vectors.rows().into_iter().enumerate() {
        let s = scales.and_then(|s| s.get(r)).copied().unwrap_or(1.0);
        let bad = |m: String| Error::row(path, first_row + r as u64, ids.get(r).map(String::as_str), m);
        if let Some(v) = row.iter().map(|&v| v * s).find(|v| v.abs() > limit) {
            return Err(bad(format!(
                "value {v:e} is beyond {storage}'s range (±{limit}): score with `precision` f32, or scale the vectors down"
            )));
        }
        // Values too small for the storage: flushed to zero or kept with few bits, they would
        // leave the row scored on a fraction of itself (all zeros: ranked by row order).
        let (exact, kept) = row.iter().fold((0.0f64, 0.0f64), |(e, k), &v| {
            let (v, st) = (f64::from(v * s), f64::from(backend.stored(v * s)));
            (e + v * v, k + (v - st) * (v - st))
        });
        if exact > 0.0 && kept.sqrt() > STORAGE_NORM_LOSS * exact.sqrt() {
            return Err(bad(format!(
                "values as small as this row's (norm {:e}) lose more than {}% of it in {storage} storage, below its normal range: score with `precision` f32, or scale the vectors up",
                exact.sqrt(),
                STORAGE_NORM_LOSS * 100.0
            )));
        }
    }
    Ok(())
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A hardware GPU when there is one, else the CPU.
    #[default]
    Auto,
    /// The CPU engine.
    Cpu,
    /// A GPU adapter (software adapters included).
    Gpu,
}

crate::choice::choice!(BackendChoice => "backend");

/// Which backend, adapter and precision to score with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendOptions {
    /// auto, cpu or gpu.
    pub choice: BackendChoice,
    /// Only GPU adapters whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// GPU storage precision (the CPU always computes in f32).
    pub precision: gpu::Precision,
    /// The CPU kernel to use instead of the one measured fastest (before `SIMCAL_CPU_KERNEL`).
    pub cpu_kernel: Option<cpu::Isa>,
}

/// Builds the backend asked for. `auto` takes a hardware GPU when there is one and the CPU
/// engine otherwise; a software adapter (llvmpipe) is used only when `gpu` asks for it.
pub fn make_backend(opts: &BackendOptions) -> Result<Box<dyn AnyBackend>> {
    let gpu = |hardware_only| {
        let req = gpu::GpuRequest { hardware_only, adapter: opts.adapter.clone(), precision: opts.precision };
        gpu::GpuBackend::open(&req).map(|b| Box::new(b) as Box<dyn AnyBackend>)
    };
    match opts.choice {
        BackendChoice::Cpu => {
            if opts.precision != gpu::Precision::F32 {
                return Err(Error::Invalid("`precision` f16 is a GPU storage format; the CPU engine computes in f32".into()));
            }
            if opts.adapter.is_some() {
                return Err(Error::Invalid("`adapter` names a GPU adapter; it does not apply to `backend` cpu".into()));
            }
            Ok(Box::new(cpu_backend(opts)?))
        }
        BackendChoice::Gpu if opts.cpu_kernel.is_some() => {
            Err(Error::Invalid("`cpu_kernel` names a CPU kernel; it does not apply to `backend` gpu".into()))
        }
        BackendChoice::Gpu => gpu(false),
        // No hardware GPU: the CPU engine, unless a named adapter was asked for.
        BackendChoice::Auto => match gpu(true) {
            Err(Error::Unavailable(_)) if opts.adapter.is_none() => Ok(Box::new(cpu_backend(opts)?)),
            other => other,
        },
    }
}

/// The CPU backend `opts` ask for: on their `cpu_kernel`, else as [`cpu::CpuBackend::from_env`].
fn cpu_backend(opts: &BackendOptions) -> Result<cpu::CpuBackend> {
    match opts.cpu_kernel {
        Some(isa) => cpu::CpuBackend::forced(isa, "cpu_kernel").map_err(|e| match e {
            Error::Unavailable(m) => Error::Unavailable(format!("`cpu_kernel` {}: {m}", isa)),
            e => e,
        }),
        None => cpu::CpuBackend::from_env(),
    }
}

/// Scoring parameters.
#[derive(Clone, Copy, Debug)]
pub struct ScoreOptions {
    /// Hits kept per query (≥ 1).
    pub k: usize,
    /// Cosine or dot.
    pub metric: Metric,
    /// What a zero vector does under cosine.
    pub zero_vectors: ZeroVectors,
}

impl ScoreOptions {
    /// Top `k` by `metric`, refusing zero vectors.
    pub fn new(k: usize, metric: Metric) -> ScoreOptions {
        ScoreOptions { k, metric, zero_vectors: ZeroVectors::Error }
    }
}

/// The largest dot product magnitude scoring accepts: |q·c| ≤ ‖q‖‖c‖ bounds every partial sum
/// too, so below half of f32's range no score (in any summation order) becomes infinite.
const DOT_LIMIT: f64 = f32::MAX as f64 / 2.0;

/// The result of scoring: per query, its hits in rank order.
#[derive(Debug)]
pub struct Scored {
    /// One list per query, in query order, each in rank order.
    pub hits: Vec<Vec<Hit>>,
    /// The corpus ids, by row.
    pub corpus_ids: Vec<String>,
    /// Seconds spent in the backend's scoring (the GEMM and top-k).
    pub scoring_seconds: f64,
    /// Seconds from the first read to the last hit.
    pub total_seconds: f64,
    /// Floating-point operations of the scoring (2 · Q · N · d).
    pub flops: f64,
    /// The backend's name.
    pub backend: String,
    /// The backend's longer description.
    pub backend_detail: String,
    /// What the table's metadata records of the backend ([`Backend::metadata`]).
    pub backend_meta: Vec<(String, String)>,
    /// Query vectors of zeros scored 0 ([`ZeroVectors::Zero`]).
    pub zero_queries: u64,
    /// Corpus vectors of zeros scored 0 ([`ZeroVectors::Zero`]).
    pub zero_corpus: u64,
}

/// Refuses queries and a corpus of different dimensions.
pub(crate) fn check_dims(queries: &Embeddings, corpus: &dyn ChunkSource) -> Result<()> {
    if queries.dim() != corpus.dim() {
        return Err(Error::Mismatch {
            message: format!(
                "dimension mismatch: {} has {}-dimensional vectors, {} has {}",
                queries.path.display(),
                queries.dim(),
                corpus.path().display(),
                corpus.dim()
            ),
        });
    }
    Ok(())
}

/// Scores `queries` against every row of `corpus`, keeping the exact top k of each query.
/// `progress` is called on the calling thread with the number of corpus rows scored so far;
/// an error it returns stops the scoring (a caller's Ctrl-C).
// Long: the reader thread and the scoring loop share a channel, the top-k selections and the
// corpus ids' duplicate check; apart, they would pass each other a dozen borrows.
pub fn score_corpus<B: Backend>(
    backend: &mut B,
    queries: &Embeddings,
    corpus: &mut dyn ChunkSource,
    opts: ScoreOptions,
    progress: &dyn Fn(u64) -> Result<()>,
) -> Result<Scored> {
    if opts.k == 0 {
        return Err(Error::Invalid("k must be at least 1".into()));
    }
    if queries.is_empty() {
        return Err(Error::format(&queries.path, "no query rows"));
    }
    if corpus.rows() == 0 {
        return Err(Error::format(corpus.path(), "no corpus rows"));
    }
    check_dims(queries, corpus)?;
    check_unique_ids(&queries.path, &queries.ids)?;
    let start = Instant::now();
    let mut qv = queries.vectors.clone();
    let qs = prepare(&queries.path, 0, &queries.ids, &mut qv, opts.metric, opts.zero_vectors)?;
    check_storage(backend, &queries.path, 0, &queries.ids, qv.view(), None)?;
    backend.load_queries(qv.view())?;
    drop(qv);

    let backend: &B = backend;
    // No query can have more hits than the corpus has rows; a larger k changes nothing.
    let k = opts.k.min(usize::try_from(corpus.rows()).unwrap_or(usize::MAX));
    let mut topk: Vec<TopK> = (0..queries.len()).map(|_| TopK::new(k)).collect();
    let mut corpus_ids: Vec<String> = Vec::new();
    let mut id_hashes: HashSet<u64> = HashSet::new();
    let hasher = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let mut scoring_seconds = 0.0;
    let path = corpus.path().to_path_buf();
    // Hits are numbered from the source's first row (a shard's rows index its own ids).
    let base = corpus.first_row();

    let mut zero_corpus = 0;
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(u64, Vec<String>, B::Staged)>>(1);
        let (metric, zero) = (opts.metric, opts.zero_vectors);
        let qs = &qs;
        let qpath = &queries.path;
        let qids = &queries.ids;
        let zero_corpus = &mut zero_corpus;
        crate::error::spawn_scoped(s, "reading", move || loop {
            let item = match corpus.next_chunk() {
                Ok(None) => break,
                Ok(Some(chunk)) => {
                    let at = Located { path: corpus.path(), first_row: chunk.first_row, ids: &chunk.ids };
                    let query = Located { path: qpath, first_row: 0, ids: qids };
                    stage_checked(backend, &at, chunk.vectors.view(), metric, zero, qs, &query).map(|(staged, zeros)| {
                        *zero_corpus += zeros;
                        (chunk.first_row, chunk.ids, staged)
                    })
                }
                Err(e) => Err(e),
            };
            let stop = item.is_err();
            if tx.send(item).is_err() || stop {
                break;
            }
        })?;
        for item in rx {
            let (first_row, ids, staged) = item?;
            for (i, id) in ids.iter().enumerate() {
                if !id_hashes.insert(hasher.hash_one(id)) {
                    if let Some(first) = corpus_ids.iter().position(|x| x == id) {
                        return Err(duplicate(&path, first_row + i as u64, id, base as usize + first));
                    }
                }
                corpus_ids.push(id.clone());
            }
            let t = Instant::now();
            backend.score(&staged, first_row - base, &mut topk)?;
            scoring_seconds += t.elapsed().as_secs_f64();
            progress(corpus_ids.len() as u64)?;
        }
        Ok(())
    })?;

    let n = corpus_ids.len() as f64;
    Ok(Scored {
        hits: topk.into_iter().map(TopK::into_sorted).collect(),
        corpus_ids,
        scoring_seconds,
        total_seconds: start.elapsed().as_secs_f64(),
        flops: 2.0 * queries.len() as f64 * n * queries.dim() as f64,
        backend: backend.name(),
        backend_detail: backend.detail(),
        backend_meta: backend.metadata(),
        zero_queries: qs.zeros,
        zero_corpus,
    })
}

/// Where a block of rows comes from, to name a bad row: its file (or argument), the row of its
/// first row there, and the rows' ids (none for a matrix in memory).
pub(crate) struct Located<'a> {
    pub(crate) path: &'a Path,
    pub(crate) first_row: u64,
    pub(crate) ids: &'a [String],
}

/// Checks a block of corpus rows (finite, normalisable, within the backend's storage and, for
/// dot, within f32's range against the largest query `qs`) and has the backend stage it;
/// returns the staged block and the zero vectors it scored 0.
pub(crate) fn stage_checked<B: Backend>(
    backend: &B,
    at: &Located,
    vectors: ArrayView2<f32>,
    metric: Metric,
    zero: ZeroVectors,
    qs: &RowScales,
    query: &Located,
) -> Result<(B::Staged, u64)> {
    let rs = row_scales(at.path, at.first_row, at.ids, vectors, metric, zero)?;
    if metric == Metric::Dot && rs.max_norm * qs.max_norm >= DOT_LIMIT {
        let q = query.ids.get(qs.max_row).map_or_else(|| format!("row {}", qs.max_row), |id| format!("{id} (row {})", qs.max_row));
        return Err(Error::row(
            at.path,
            at.first_row + rs.max_row as u64,
            at.ids.get(rs.max_row).map(String::as_str),
            format!(
                "its norm {:.3e} times that of query {q} of {}, {:.3e}, is beyond f32's range: \
                 `metric` dot could score infinity; scale the vectors down",
                rs.max_norm,
                query.path.display(),
                qs.max_norm
            ),
        ));
    }
    check_storage(backend, at.path, at.first_row, at.ids, vectors, Some(&rs.scales))?;
    let staged = backend.stage(vectors, &rs.scales)?;
    Ok((staged, rs.zeros))
}

fn duplicate(path: &Path, row: u64, id: &str, first: usize) -> Error {
    Error::Row { path: path.to_path_buf(), row, id: Some(id.to_owned()), message: format!("duplicate id (first seen at row {first})") }
}
