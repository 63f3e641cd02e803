//! The `simcal.*` keys of a score table's parquet metadata (docs/score.md): every key simcal
//! reads or writes is named here, once.

/// Every key simcal writes starts with this; a table without one is another tool's.
pub const PREFIX: &str = "simcal.";
/// The table's schema version.
pub const SCHEMA_VERSION: &str = "simcal.schema_version";
/// The simcal version that wrote the table.
pub const VERSION: &str = "simcal.version";
/// The model (encoder) that scored it.
pub const MODEL: &str = "simcal.model";
/// `cosine` or `dot`.
pub const METRIC: &str = "simcal.metric";
/// Hits kept per query.
pub const K: &str = "simcal.k";
/// The backend that scored it (`cpu`, `gpu: ADAPTER`, or several joined by ` + `).
pub const BACKEND: &str = "simcal.backend";
/// The queries file's sha256.
pub const QUERIES_SHA256: &str = "simcal.queries_sha256";
/// The corpus file's sha256.
pub const CORPUS_SHA256: &str = "simcal.corpus_sha256";
/// The qrels' sha256, when labeled from qrels.
pub const QRELS_SHA256: &str = "simcal.qrels_sha256";
/// The relevance level a table's `query_relevant` counts were taken at.
pub const REL_LEVEL: &str = "simcal.rel_level";
/// `I/N`: the part of a sharded job.
pub const SHARD: &str = "simcal.shard";
/// `A..B`: the corpus rows the part scored.
pub const SHARD_ROWS: &str = "simcal.shard_rows";
/// Rows of the whole corpus file (a part's).
pub const CORPUS_ROWS: &str = "simcal.corpus_rows";
/// How many parts a merged table was merged from.
pub const MERGED_SHARDS: &str = "simcal.merged_shards";
/// `zero` when zero vectors were scored 0 (absent: refused).
pub const ZERO_VECTORS: &str = "simcal.zero_vectors";
/// Zero query vectors scored 0.
pub const ZERO_QUERIES: &str = "simcal.zero_queries";
/// Zero corpus vectors scored 0.
pub const ZERO_CORPUS_ROWS: &str = "simcal.zero_corpus_rows";
/// The metadata key that marks a table another tool wrote (its metadata is simcal's guess).
pub const FOREIGN_KEY: &str = "simcal.metadata";
/// The sha256 of the calibration an applied table was applied with.
pub const CALIBRATION_SHA256: &str = "simcal.calibration_sha256";
/// The map an applied table's probabilities come from.
pub const CALIBRATION_METHOD: &str = "simcal.calibration_method";
/// The floor below which an applied table's rows were dropped.
pub const PROBABILITY_FLOOR: &str = "simcal.probability_floor";
/// What `act` rested on (`certified` or `estimate`).
pub const DECIDED_ON: &str = "simcal.decided_on";
/// The precision target whose certificates `act` rested on.
pub const CERTIFIED_TARGET: &str = "simcal.certified_target";
/// Whose certificates the queries acted on.
pub const CERTIFIED_BY: &str = "simcal.certified_by";
/// The unit of the certificates the decisions rest on.
pub const DECISION_UNIT: &str = "simcal.decision_unit";
/// The fused table's fusion method.
pub const FUSE_METHOD: &str = "simcal.fuse.method";
/// The fusion's normalisation (absent for rrf without one).
pub const FUSE_NORM: &str = "simcal.fuse.norm";
/// RRF's k (rrf only).
pub const FUSE_RRF_K: &str = "simcal.fuse.rrf_k";
/// The runs' weights, as JSON.
pub const FUSE_WEIGHTS: &str = "simcal.fuse.weights";
/// The fused runs (path, format, name, rows, sha256), as JSON.
pub const FUSE_INPUTS: &str = "simcal.fuse.inputs";
/// The CPU kernel that scored the table (`amx-bf16`, `avx512-bf16`, `avx512`, `avx2`, `portable`).
pub const CPU_KERNEL: &str = "simcal.cpu_kernel";
/// How it was chosen: `measurement`, `the only kernel`, `cpu_kernel` (the option), `SIMCAL_CPU_KERNEL` or `the caller`.
pub const CPU_KERNEL_CHOSEN_BY: &str = "simcal.cpu_kernel_chosen_by";
