//! `simcal score`: exact top-k of every query against the corpus, written as a score table.

use super::args::choice;
use super::words::{count, num};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use simcal::embed::{Metric, ReadOptions, ZeroVectors};
use simcal::job::{run_score_job, ScoreJob, ScoreSummary, DEFAULT_K};
use simcal::score::gpu::Precision;
use simcal::score::{BackendChoice, BackendOptions};

#[derive(Args)]
pub struct ScoreArgs {
    /// Query embeddings (.parquet or .npy).
    #[arg(long)]
    pub queries: PathBuf,
    /// Corpus embeddings (.parquet or .npy), read in chunks.
    #[arg(long)]
    pub corpus: PathBuf,
    #[command(flatten)]
    pub labels: super::args::Labels,
    /// Hits kept per query.
    #[arg(short, long, default_value_t = DEFAULT_K)]
    pub k: usize,
    /// cosine L2-normalises both sides; dot takes the raw inner product.
    #[arg(long, value_parser = choice::<Metric>(), default_value_t)]
    pub metric: Metric,
    /// Model name recorded in the table (default: the corpus file's stem).
    #[arg(long)]
    pub model: Option<String>,
    /// Scoring backend: auto takes a hardware GPU when there is one, else the CPU; gpu also
    /// accepts a software adapter (llvmpipe).
    #[arg(long, value_parser = choice::<BackendChoice>(), default_value_t)]
    pub backend: BackendChoice,
    /// GPU adapter to use: part of its name, case-insensitive (default: the best one).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// GPU storage precision: f16 halves memory traffic (f32 accumulation; needs the adapter's
    /// shader-f16, else f32 is used and the table says so).
    #[arg(long, value_parser = choice::<Precision>(), default_value_t)]
    pub precision: Precision,
    /// The CPU kernel, instead of the one measured fastest on this processor (before the
    /// SIMCAL_CPU_KERNEL variable); refused when the processor does not run it.
    #[arg(long = "cpu-kernel", value_parser = choice::<simcal::score::cpu::Isa>())]
    pub cpu_kernel: Option<simcal::score::cpu::Isa>,
    #[command(flatten)]
    pub output: super::args::TableOut,
    /// Parquet id column.
    #[arg(long, default_value = "id")]
    pub id_col: String,
    /// Parquet vector column (default: the only list-typed column).
    #[arg(long)]
    pub vec_col: Option<String>,
    /// For an .npy queries file: a text file with one id a line (default: row numbers).
    #[arg(long)]
    pub query_ids: Option<PathBuf>,
    /// For an .npy corpus file: a text file with one id a line (default: row numbers).
    #[arg(long)]
    pub corpus_ids: Option<PathBuf>,
    /// Corpus rows per chunk (default: about 16 MiB of vectors on the CPU, up to 256 MiB on a GPU).
    #[arg(long)]
    pub chunk_rows: Option<std::num::NonZeroUsize>,
    /// Score only corpus shard I of N (contiguous row ranges): `I/N`, or `auto/N` to take I
    /// from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array,
    /// counted from SLURM_ARRAY_TASK_MIN). `{shard}` in --out is replaced by I.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// A zero vector under cosine has no direction: error refuses it (naming the row), zero
    /// scores it 0 against everything, as faiss and sentence-transformers do (counted in the
    /// summary and the table's metadata).
    #[arg(long, value_parser = choice::<ZeroVectors>(), default_value_t)]
    pub zero_vectors: ZeroVectors,
}

/// Parses `I/N` or `auto/N` (I from the scheduler's environment) into (I, N).
pub fn parse_shard(spec: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<(u64, u64)> {
    let (i, n) = spec.split_once('/').ok_or_else(|| anyhow::anyhow!("--shard {spec:?}: expected I/N or auto/N"))?;
    let n: u64 = n.trim().parse().map_err(|_| anyhow::anyhow!("--shard {spec:?}: N must be a whole number ≥ 1"))?;
    if n == 0 {
        anyhow::bail!("--shard {spec:?}: N must be a whole number ≥ 1");
    }
    let i: u64 = if i.trim() == "auto" {
        let number = |name: &str| -> anyhow::Result<Option<u64>> {
            env(name)
                .map(|v| v.trim().parse::<u64>().map_err(|_| anyhow::anyhow!("--shard auto: {name}={v:?} is not a whole number")))
                .transpose()
        };
        match (number("JOB_COMPLETION_INDEX")?, number("SLURM_ARRAY_TASK_ID")?) {
            (Some(i), _) => i,
            (None, Some(t)) => t.checked_sub(number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0)).ok_or_else(|| {
                anyhow::anyhow!("--shard auto: SLURM_ARRAY_TASK_ID {t} is below SLURM_ARRAY_TASK_MIN")
            })?,
            (None, None) => anyhow::bail!(
                "--shard auto/{n}: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID (Slurm array) is set; give the shard as I/{n}"
            ),
        }
    } else {
        i.trim().parse().map_err(|_| anyhow::anyhow!("--shard {spec:?}: I must be a whole number or auto"))?
    };
    if i >= n {
        anyhow::bail!("--shard: shard {i} of {n} does not exist (shards are numbered 0 to {})", n - 1);
    }
    Ok((i, n))
}

impl ScoreArgs {
    pub fn job(&self) -> anyhow::Result<ScoreJob> {
        let shard = self.shard.as_deref().map(|s| parse_shard(s, &|name| std::env::var(name).ok())).transpose()?;
        let out = match shard {
            Some((i, _)) => PathBuf::from(self.output.out.to_string_lossy().replace("{shard}", &i.to_string())),
            None => self.output.out.clone(),
        };
        let read = |ids: &Option<PathBuf>| ReadOptions {
            id_col: self.id_col.clone(),
            vec_col: self.vec_col.clone(),
            ids_file: ids.clone(),
            chunk_rows: self.chunk_rows.map_or(0, std::num::NonZeroUsize::get),
            chunk_bytes: 0,
        };
        Ok(ScoreJob {
            queries: self.queries.clone(),
            corpus: self.corpus.clone(),
            qrels: self.labels.qrels.clone(),
            k: self.k,
            metric: self.metric,
            model: self.model.clone(),
            backend: BackendOptions {
                choice: self.backend,
                adapter: self.adapter.clone(),
                precision: self.precision,
                cpu_kernel: self.cpu_kernel,
            },
            format: self.output.format,
            out,
            query_read: read(&self.query_ids),
            corpus_read: read(&self.corpus_ids),
            rel_level: self.labels.rel_level,
            shard,
            zero_vectors: self.zero_vectors,
        })
    }
}

/// Runs one scoring job with a progress bar; returns its summary.
pub fn execute(job: &ScoreJob, label: &str) -> anyhow::Result<ScoreSummary> {
    let bar = super::progress::rows_bar(label);
    let summary = run_score_job(job, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
        Ok(())
    });
    bar.finish_and_clear();
    let summary = summary?;
    label_warnings(job, &summary);
    Ok(summary)
}

/// Warns of judgements that name documents or queries the job's files do not hold.
pub fn label_warnings(job: &ScoreJob, summary: &ScoreSummary) {
    if let Some(l) = &summary.labels {
        if l.docs_not_in_corpus > 0 {
            let n = l.docs_not_in_corpus;
            let verb = if n == 1 { "names a document that is" } else { "name documents that are" };
            eprintln!("warning: {} {verb} not in {}", count(n, "judgement", "judgements"), job.corpus.display());
        }
        if l.queries_not_in_queries > 0 {
            let n = l.queries_not_in_queries;
            let verb = if n == 1 { "is" } else { "are" };
            eprintln!("warning: {} {verb} not in {}", count(n, "judged query", "judged queries"), job.queries.display());
        }
    }
}

pub fn run(args: ScoreArgs) -> anyhow::Result<ExitCode> {
    let job = args.job()?;
    let s = execute(&job, "score")?;
    if args.output.json {
        let mut v = s.document(&job);
        super::set_fields(&mut v, [("schema_version", json!(1)), ("command", json!("score"))]);
        super::print_json(&v)?;
    } else {
        eprintln!(
            "{} ({} × top {}) from {} in {:.2} s; scoring {:.2} s at {:.1} GFLOP/s on {} → {}",
            count(s.rows, "row", "rows"),
            count(s.queries, "query", "queries"),
            num(job.k),
            count(s.corpus_rows, "corpus row", "corpus rows"),
            s.seconds,
            s.scoring_seconds,
            s.gflops,
            s.backend_detail,
            job.out.display()
        );
        if s.zero_queries + s.zero_corpus > 0 {
            eprintln!(
                "zero vectors scored 0: {}, {}",
                count(s.zero_queries, "query", "queries"),
                count(s.zero_corpus, "corpus row", "corpus rows")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
