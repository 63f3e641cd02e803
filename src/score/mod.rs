//! Exact top-k scoring of queries against a streamed corpus.
//!
//! [`score_corpus`] is the driver: a reader thread pulls corpus chunks, checks and normalises
//! them and has the backend stage them (pack for the CPU, upload for a GPU) while the previous
//! chunk is scored, so reading overlaps compute and at most two chunks are in memory. The
//! [`Backend`] trait is the contract every backend meets; the CPU backend is the reference.

pub mod cpu;
pub mod gpu;
mod topk;

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::path::Path;
use std::time::Instant;

use ndarray::ArrayView2;

pub use topk::{rank_order, Hit, TopK};

use crate::embed::{check_unique_ids, prepare, row_scales, ChunkSource, Embeddings, Metric};
use crate::error::{Error, Result};

/// A corpus chunk made ready for one backend.
#[derive(Debug)]
pub enum Staged {
    /// Packed GEMM panels for the CPU backend.
    Panels(cpu::Panels),
    /// A buffer on the GPU.
    Gpu(gpu::GpuChunk),
}

/// What every scoring backend does.
pub trait Backend: Sync {
    /// Short name recorded in the score table (`cpu`, or the GPU adapter's name).
    fn name(&self) -> String;
    /// A longer description for logs and `--json`.
    fn detail(&self) -> String {
        self.name()
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
    fn stage(&self, chunk: ArrayView2<f32>, scales: &[f32]) -> Result<Staged>;
    /// Scores a staged chunk whose first row is `first_row` in the corpus, offering every
    /// score to `topk` (one selection per query, in query order).
    fn score(&self, staged: &Staged, first_row: u64, topk: &mut [TopK]) -> Result<()>;
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// A hardware GPU when there is one, else the CPU.
    #[default]
    Auto,
    /// The CPU engine.
    Cpu,
    /// A GPU adapter (software adapters included).
    Gpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "cpu" => Ok(BackendChoice::Cpu),
            "gpu" => Ok(BackendChoice::Gpu),
            _ => Err(Error::Invalid(format!("unknown backend {s:?} (expected auto, cpu or gpu)"))),
        }
    }
}

/// Which backend, adapter and precision to score with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendOptions {
    /// auto, cpu or gpu.
    pub choice: BackendChoice,
    /// Only GPU adapters whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// GPU storage precision (the CPU always computes in f32).
    pub precision: gpu::Precision,
}

/// Builds the backend asked for. `auto` takes a hardware GPU when there is one and the CPU
/// engine otherwise; a software adapter (llvmpipe) is used only when `gpu` asks for it.
pub fn make_backend(opts: &BackendOptions) -> Result<Box<dyn Backend>> {
    let gpu = |hardware_only| {
        let req = gpu::GpuRequest { hardware_only, adapter: opts.adapter.clone(), precision: opts.precision };
        gpu::GpuBackend::open(&req).map(|b| Box::new(b) as Box<dyn Backend>)
    };
    match opts.choice {
        BackendChoice::Cpu => {
            if opts.precision != gpu::Precision::F32 {
                return Err(Error::Invalid("--precision f16 is a GPU storage format; the CPU engine computes in f32".into()));
            }
            if opts.adapter.is_some() {
                return Err(Error::Invalid("--adapter names a GPU adapter; it does not apply to --backend cpu".into()));
            }
            Ok(Box::new(cpu::CpuBackend::new()))
        }
        BackendChoice::Gpu => gpu(false),
        // No hardware GPU: the CPU engine, unless a named adapter was asked for.
        BackendChoice::Auto => match gpu(true) {
            Err(Error::Unavailable(_)) if opts.adapter.is_none() => Ok(Box::new(cpu::CpuBackend::new())),
            other => other,
        },
    }
}

/// Scoring parameters.
#[derive(Clone, Copy, Debug)]
pub struct ScoreOptions {
    /// Hits kept per query (≥ 1).
    pub k: usize,
    /// Cosine or dot.
    pub metric: Metric,
}

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
}

/// Refuses queries and a corpus of different dimensions.
pub fn check_dims(queries: &Embeddings, corpus: &dyn ChunkSource) -> Result<()> {
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
/// `progress` is called with the number of corpus rows scored so far.
pub fn score_corpus(
    backend: &mut dyn Backend,
    queries: &Embeddings,
    corpus: &mut dyn ChunkSource,
    opts: ScoreOptions,
    progress: &(dyn Fn(u64) + Sync),
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
    prepare(&queries.path, 0, &queries.ids, &mut qv, opts.metric)?;
    backend.load_queries(qv.view())?;
    drop(qv);

    let backend: &dyn Backend = backend;
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

    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(u64, Vec<String>, Staged)>>(1);
        let metric = opts.metric;
        s.spawn(move || loop {
            let item = match corpus.next_chunk() {
                Ok(None) => break,
                Ok(Some(chunk)) => row_scales(corpus.path(), chunk.first_row, &chunk.ids, chunk.vectors.view(), metric)
                    .and_then(|scales| backend.stage(chunk.vectors.view(), &scales))
                    .map(|staged| (chunk.first_row, chunk.ids, staged)),
                Err(e) => Err(e),
            };
            let stop = item.is_err();
            if tx.send(item).is_err() || stop {
                break;
            }
        });
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
            progress(corpus_ids.len() as u64);
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
    })
}

fn duplicate(path: &Path, row: u64, id: &str, first: usize) -> Error {
    Error::Row { path: path.to_path_buf(), row, id: Some(id.to_owned()), message: format!("duplicate id (first seen at row {first})") }
}
