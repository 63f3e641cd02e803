//! One scoring job from files to a written score table (docs/architecture.md §4): what
//! `simcal score` does.

use std::path::{Path, PathBuf};

use crate::choice::Choice;
use crate::embed::{open_corpus, open_corpus_shard, read_queries, shard_range, Metric, ReadOptions, ZeroVectors};
use crate::error::{Error, Result};
use crate::labels::read_qrels;
use crate::score::{check_dims, make_backend, BackendOptions, ScoreOptions, Scored};
use crate::table::{sha256_file, LabelReport, ScoreTable, TableMeta, SCHEMA_VERSION};

pub use crate::table::OutputFormat;

/// Hits kept per query unless told otherwise (`simcal score`, `fuse`, `run` and the nightly
/// config).
pub const DEFAULT_K: usize = 100;

/// Everything a scoring job needs.
#[derive(Clone, Debug)]
pub struct ScoreJob {
    /// Queries file.
    pub queries: PathBuf,
    /// Corpus file.
    pub corpus: PathBuf,
    /// Optional qrels file.
    pub qrels: Option<PathBuf>,
    /// Hits per query.
    pub k: usize,
    /// Cosine or dot.
    pub metric: Metric,
    /// Model name; `None` takes the corpus file's stem.
    pub model: Option<String>,
    /// Backend, GPU adapter and precision.
    pub backend: BackendOptions,
    /// Output format.
    pub format: OutputFormat,
    /// Output path.
    pub out: PathBuf,
    /// Reader options for the queries file.
    pub query_read: ReadOptions,
    /// Reader options for the corpus file.
    pub corpus_read: ReadOptions,
    /// Relevance at or above which a document counts as relevant.
    pub rel_level: i32,
    /// Score only corpus shard `.0` of `.1` (contiguous row ranges, see
    /// [`crate::embed::shard_range`]); the table records the shard in its metadata.
    pub shard: Option<(u64, u64)>,
    /// What a zero vector does under cosine: an error, or scored 0 (counted in the summary and
    /// the table's metadata).
    pub zero_vectors: ZeroVectors,
}

/// What a finished job reports.
#[derive(Clone, Debug)]
pub struct ScoreSummary {
    /// Rows written.
    pub rows: usize,
    /// Queries scored.
    pub queries: usize,
    /// Corpus rows scored.
    pub corpus_rows: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Wall time of the whole job.
    pub seconds: f64,
    /// Time in the scoring backend.
    pub scoring_seconds: f64,
    /// GFLOP/s of the scoring phase.
    pub gflops: f64,
    /// Backend name.
    pub backend: String,
    /// Backend description.
    pub backend_detail: String,
    /// Label join counts, when qrels were given.
    pub labels: Option<LabelReport>,
    /// The model name written.
    pub model: String,
    /// Query vectors of zeros scored 0 under [`ZeroVectors::Zero`].
    pub zero_queries: u64,
    /// Corpus vectors of zeros scored 0 under [`ZeroVectors::Zero`].
    pub zero_corpus: u64,
}

impl ScoreSummary {
    /// The summary `simcal score --json` prints (and the nightly job's manifest records) of
    /// `job`'s run.
    pub fn document(&self, job: &ScoreJob) -> serde_json::Value {
        serde_json::json!({
            "rows": self.rows,
            "queries": self.queries,
            "corpus_rows": self.corpus_rows,
            "dim": self.dim,
            "k": job.k,
            "metric": job.metric.name(),
            "model": self.model,
            "backend": self.backend,
            "backend_detail": self.backend_detail,
            "seconds": self.seconds,
            "scoring_seconds": self.scoring_seconds,
            "gflops": self.gflops,
            "zero_vectors": (job.zero_vectors == ZeroVectors::Zero)
                .then(|| serde_json::json!({"queries": self.zero_queries, "corpus_rows": self.zero_corpus})),
            "out": job.out,
            "labels": self.labels.as_ref().map(|l| serde_json::json!({
                "judged_retrieved": l.judged_retrieved,
                "docs_not_in_corpus": l.docs_not_in_corpus,
                "queries_not_in_queries": l.queries_not_in_queries,
            })),
        })
    }
}

/// The model name a corpus path implies: the file stem without a trailing `.corpus`.
///
/// ```
/// use std::path::Path;
/// assert_eq!(simcal::job::model_name(Path::new("data/minilm.corpus.parquet")), "minilm");
/// assert_eq!(simcal::job::model_name(Path::new("vectors.npy")), "vectors");
/// ```
pub fn model_name(corpus: &Path) -> String {
    let stem = corpus.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    stem.strip_suffix(".corpus").map(str::to_owned).unwrap_or(stem)
}

/// Runs the job; `progress(scored, total)` is called on the calling thread as corpus rows are
/// scored, and an error it returns stops the job (a caller's Ctrl-C) with nothing written.
pub fn run_score_job(job: &ScoreJob, progress: &dyn Fn(u64, u64) -> Result<()>) -> Result<ScoreSummary> {
    let t0 = std::time::Instant::now();
    let inputs: Vec<&Path> =
        [Some(&job.queries), Some(&job.corpus), job.qrels.as_ref(), job.query_read.ids_file.as_ref(), job.corpus_read.ids_file.as_ref()]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
            .collect();
    crate::output::check_destinations(&inputs, &[("`out`", &job.out)])?;
    let (table, mut summary) = score_table(job, progress)?;
    crate::table::write_table(&table, &job.out, job.format)?;
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

/// The score table of `job` (its `out` and `format` aside), held in memory, and its summary;
/// `progress` as for [`run_score_job`].
pub fn score_table(job: &ScoreJob, progress: &dyn Fn(u64, u64) -> Result<()>) -> Result<(ScoreTable, ScoreSummary)> {
    let t0 = std::time::Instant::now();
    if job.k == 0 {
        return Err(Error::Invalid("k must be at least 1".into()));
    }
    let inputs = std::thread::scope(|s| -> Result<_> {
        // The files are hashed on their own threads while the queries are read and scored.
        let qh = crate::error::spawn_scoped(s, "hashing", || sha256_file(&job.queries))?;
        let ch = crate::error::spawn_scoped(s, "hashing", || sha256_file(&job.corpus))?;
        let queries = read_queries(&job.queries, &job.query_read)?;
        crate::table::check_carried(&queries)?;
        let qrels = job.qrels.as_deref().map(read_qrels).transpose()?;
        // Parts of one sharded job must be labeled from the same judgements.
        let qrels_sha256 = job.qrels.as_deref().map(sha256_file).transpose()?;
        let (scored, file_rows) = score_job_corpus(job, &queries, progress)?;
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<String>>| {
            h.join().unwrap_or_else(|_| Err(Error::Invalid("hashing thread failed".into())))
        };
        let (queries_sha256, corpus_sha256) = (join(qh)?, join(ch)?);
        Ok(Inputs { queries, qrels, scored, file_rows, queries_sha256, corpus_sha256, qrels_sha256 })
    })?;
    let model = job.model.clone().unwrap_or_else(|| model_name(&job.corpus));
    let Inputs { queries, qrels, scored, .. } = &inputs;
    let (table, report) = ScoreTable::build(queries, scored, qrels.as_ref(), job.rel_level, table_meta(job, &model, &inputs))?;
    let summary = ScoreSummary {
        rows: table.len(),
        queries: queries.len(),
        corpus_rows: scored.corpus_ids.len(),
        dim: queries.dim(),
        seconds: t0.elapsed().as_secs_f64(),
        scoring_seconds: scored.scoring_seconds,
        gflops: scored.flops / scored.scoring_seconds.max(1e-12) / 1e9,
        backend: scored.backend.clone(),
        backend_detail: scored.backend_detail.clone(),
        labels: qrels.as_ref().map(|_| report),
        model,
        zero_queries: scored.zero_queries,
        zero_corpus: scored.zero_corpus,
    };
    Ok((table, summary))
}

/// What a scoring job read and computed, before its table is built.
struct Inputs {
    queries: crate::embed::Embeddings,
    qrels: Option<crate::labels::Qrels>,
    scored: Scored,
    /// Rows of the corpus file (all shards).
    file_rows: u64,
    queries_sha256: String,
    corpus_sha256: String,
    qrels_sha256: Option<String>,
}

/// Scores `queries` against `job`'s corpus (its shard, when sharded) on the backend it asks
/// for; also returns the corpus file's rows. A shard beyond the rows (more shards than rows) is
/// empty, and scores nothing.
fn score_job_corpus(
    job: &ScoreJob,
    queries: &crate::embed::Embeddings,
    progress: &dyn Fn(u64, u64) -> Result<()>,
) -> Result<(Scored, u64)> {
    let mut backend = make_backend(&job.backend)?;
    let corpus_read = ReadOptions { chunk_bytes: backend.chunk_bytes(), ..job.corpus_read.clone() };
    let (mut corpus, file_rows) = match job.shard {
        None => {
            let c = open_corpus(&job.corpus, &corpus_read)?;
            let rows = c.rows();
            (c, rows)
        }
        Some((i, n)) => open_corpus_shard(&job.corpus, &corpus_read, i, n)?,
    };
    let total = corpus.rows();
    if total == 0 && file_rows > 0 {
        check_dims(queries, corpus.as_ref())?;
        let empty = Scored {
            hits: vec![Vec::new(); queries.len()],
            corpus_ids: Vec::new(),
            scoring_seconds: 0.0,
            total_seconds: 0.0,
            flops: 0.0,
            backend: backend.name(),
            backend_detail: backend.detail(),
            backend_meta: backend.metadata(),
            zero_queries: 0,
            zero_corpus: 0,
        };
        return Ok((empty, file_rows));
    }
    let opts = ScoreOptions { k: job.k, metric: job.metric, zero_vectors: job.zero_vectors };
    Ok((backend.score_corpus(queries, corpus.as_mut(), opts, &|n| progress(n, total))?, file_rows))
}

/// The metadata of `job`'s table, named `model`: what was scored, how, and from which files.
fn table_meta(job: &ScoreJob, model: &str, inputs: &Inputs) -> TableMeta {
    let shard_meta = job.shard.map(|(i, n)| {
        let (a, b) = shard_range(inputs.file_rows, i, n);
        [
            (crate::table::keys::SHARD.to_owned(), format!("{i}/{n}")),
            (crate::table::keys::SHARD_ROWS.to_owned(), format!("{a}..{b}")),
            (crate::table::keys::CORPUS_ROWS.to_owned(), inputs.file_rows.to_string()),
        ]
    });
    TableMeta {
        schema_version: SCHEMA_VERSION,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model: model.to_owned(),
        metric: job.metric.name().to_owned(),
        k: job.k,
        backend: inputs.scored.backend.clone(),
        queries_sha256: inputs.queries_sha256.clone(),
        corpus_sha256: inputs.corpus_sha256.clone(),
        extra: shard_meta
            .into_iter()
            .flatten()
            .chain(inputs.scored.backend_meta.iter().cloned())
            .chain(zero_meta(job, &inputs.scored))
            .chain(inputs.qrels_sha256.clone().map(|h| (crate::table::keys::QRELS_SHA256.to_owned(), h)))
            .collect(),
    }
}

/// The table's record of zero vectors scored 0 (none under the default, which refuses them).
fn zero_meta(job: &ScoreJob, scored: &Scored) -> Vec<(String, String)> {
    match job.zero_vectors {
        ZeroVectors::Error => Vec::new(),
        ZeroVectors::Zero => vec![
            (crate::table::keys::ZERO_VECTORS.to_owned(), "zero".to_owned()),
            (crate::table::keys::ZERO_QUERIES.to_owned(), scored.zero_queries.to_string()),
            (crate::table::keys::ZERO_CORPUS_ROWS.to_owned(), scored.zero_corpus.to_string()),
        ],
    }
}
