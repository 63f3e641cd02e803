//! The score table: one row per (query, retrieved document), in query order then rank.
//!
//! Columns (docs/architecture.md §4): `query_id` utf8, `doc_id` utf8, `rank` uint32 (1-based), `score`
//! float32, `label` int32 (nullable; graded relevance, 0 when retrieved but not judged, null
//! when no qrels were given), `query_relevant` uint32 (nullable; relevant documents the qrels
//! list for the query), then the query file's carried scalar columns. File metadata records
//! what produced the table ([`TableMeta`]); readers refuse a schema version they do not know.

mod foreign;
pub mod keys;
mod merge;
mod meta;
mod parquet;
mod positioned;
mod trec;
mod view;

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float32Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};

pub use self::merge::{merge_parts, MergeSummary};
pub use self::meta::{sha256_bytes, sha256_file, TableMeta, SCHEMA_VERSION};
pub use self::parquet::{
    read_table, read_table_columns, read_table_wide, table_from_batch, table_from_batch_unranked, table_from_batch_wide, write_parquet,
};
pub use self::trec::{is_parquet, read_trec, trec_table, write_trec, TrecRun};
pub(crate) use self::view::key_value;
pub use self::view::{RowGroups, TableView};

use crate::embed::Embeddings;
use crate::error::{Error, Result};
use crate::labels::Qrels;
use crate::score::Scored;

/// The file format a score table is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// A parquet score table.
    #[default]
    Parquet,
    /// A TREC run file (tagged with the table's model).
    Trec,
}

crate::choice::choice!(OutputFormat => "output format");

/// Writes `table` to `path` in `format`, atomically: the score table as parquet, or a TREC run
/// tagged with the table's model.
pub fn write_table(table: &ScoreTable, path: &std::path::Path, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Parquet => write_parquet(table, path),
        OutputFormat::Trec => write_trec(table, path, &table.meta.model),
    }
}

/// Column names of the score table.
pub mod columns {
    /// Query id.
    pub const QUERY_ID: &str = "query_id";
    /// Document id.
    pub const DOC_ID: &str = "doc_id";
    /// 1-based rank.
    pub const RANK: &str = "rank";
    /// Score.
    pub const SCORE: &str = "score";
    /// Graded relevance label.
    pub const LABEL: &str = "label";
    /// Relevant documents for the query.
    pub const QUERY_RELEVANT: &str = "query_relevant";
}

/// The six columns every score table starts with, in order (carried columns follow).
pub(crate) fn standard_fields() -> Vec<Field> {
    vec![
        Field::new(columns::QUERY_ID, DataType::Utf8, false),
        Field::new(columns::DOC_ID, DataType::Utf8, false),
        Field::new(columns::RANK, DataType::UInt32, false),
        Field::new(columns::SCORE, DataType::Float32, false),
        Field::new(columns::LABEL, DataType::Int32, true),
        Field::new(columns::QUERY_RELEVANT, DataType::UInt32, true),
    ]
}

/// The runs of equal consecutive ids, as row ranges `(start, end)`: a table lists each query's
/// rows together, so a query is looked up once per run rather than once per row.
pub fn id_runs(ids: &StringArray) -> Vec<(usize, usize)> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 18;
    let n = ids.len();
    // A run starts where the id differs from the row before: found in chunks in parallel.
    let starts: Vec<Vec<usize>> = (0..n)
        .step_by(CHUNK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|lo| (lo..(lo + CHUNK).min(n)).filter(|&r| r == 0 || ids.value(r) != ids.value(r - 1)).collect())
        .collect();
    let starts = starts.concat();
    let ends = starts.iter().skip(1).copied().chain(std::iter::once(n));
    starts.iter().copied().zip(ends).collect()
}

/// `table` (read from `path`) labeled from the judgements in the file at `qrels` (TREC, BEIR tsv
/// or parquet), at relevance level `rel_level`: what `--qrels` means for a table.
pub fn label_from_file(table: &ScoreTable, path: &std::path::Path, qrels: &std::path::Path, rel_level: i32) -> Result<ScoreTable> {
    relabel(table, path, &crate::labels::read_qrels(qrels)?, rel_level)
}

/// `table` with its `label` and `query_relevant` columns taken from `qrels` (added in the
/// standard place, or replacing the table's own): what `--qrels` means for a table.
pub(crate) fn relabel(table: &ScoreTable, path: &std::path::Path, qrels: &Qrels, rel_level: i32) -> Result<ScoreTable> {
    let b = &table.batch;
    let text = |name: &str| {
        b.column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| Error::format(path, format!("labeling from qrels needs the {name} column")))
    };
    let (q, d) = (text(columns::QUERY_ID)?, text(columns::DOC_ID)?);
    let mut label = Vec::with_capacity(b.num_rows());
    let mut relevant = Vec::with_capacity(b.num_rows());
    for r in 0..b.num_rows() {
        let judged = qrels.judged.get(q.value(r));
        label.push(judged.map(|j| j.get(d.value(r)).copied().unwrap_or(0)));
        relevant.push(judged.map(|_| qrels.relevant_count(q.value(r), rel_level)));
    }
    let schema = b.schema();
    let mut fields: Vec<Field> = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (f, a) in schema.fields().iter().zip(b.columns()) {
        if f.name() != columns::LABEL && f.name() != columns::QUERY_RELEVANT {
            fields.push(f.as_ref().clone());
            arrays.push(a.clone());
        }
    }
    // After score, where simcal writes them.
    let at = fields.iter().position(|f| f.name() == columns::SCORE).map_or(fields.len(), |i| i + 1);
    fields.insert(at, Field::new(columns::LABEL, DataType::Int32, true));
    arrays.insert(at, Arc::new(Int32Array::from(label)));
    fields.insert(at + 1, Field::new(columns::QUERY_RELEVANT, DataType::UInt32, true));
    arrays.insert(at + 1, Arc::new(UInt32Array::from(relevant)));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| Error::format(path, e.to_string()))?;
    let mut meta = table.meta.clone();
    meta.extra.insert(keys::REL_LEVEL.to_owned(), rel_level.to_string());
    Ok(ScoreTable::new(batch, meta))
}

/// Refuses a queries file whose carried column is named like a score table column, or like
/// another carried column (it could not be carried into the table): checked before any
/// scoring, so the work is not wasted.
pub(crate) fn check_carried(queries: &Embeddings) -> Result<()> {
    let standard: Vec<String> = standard_fields().iter().map(|f| f.name().clone()).collect();
    let mut names = standard.clone();
    for (field, _) in &queries.carried {
        if names.contains(field.name()) {
            let what = if standard.contains(field.name()) { "has the name of a score table column" } else { "is there twice" };
            return Err(Error::format(&queries.path, format!("column {:?} {what}: rename it to carry it into the table", field.name())));
        }
        names.push(field.name().clone());
    }
    Ok(())
}

/// Refuses a document listed twice for one query in the table at `path`, read as `table`
/// (perhaps without its ids). A table simcal wrote lists each document once per query (its top
/// k, or a merge or fusion of such lists), so only another tool's table read without `doc_id`
/// has its ids read again for the check: a reader of scores alone stays as fast.
pub(crate) fn check_documents_once(table: &ScoreTable, path: &std::path::Path) -> Result<()> {
    let has_ids = table.batch.column_by_name(columns::DOC_ID).is_some() && table.batch.column_by_name(columns::QUERY_ID).is_some();
    if has_ids {
        return TableView::new(table, path)?.check_unique_docs();
    }
    if !table.meta.is_foreign() {
        return Ok(());
    }
    let ids = read_table_columns(path, Some(&[columns::QUERY_ID, columns::DOC_ID, columns::SCORE]))?;
    TableView::new(&ids, path)?.check_unique_docs()
}

/// A score table in memory: its rows as one arrow batch, and its metadata.
#[derive(Clone, Debug)]
pub struct ScoreTable {
    /// The rows.
    pub batch: RecordBatch,
    /// What produced them.
    pub meta: TableMeta,
    /// Each query's run of rows, where a reader found them (and checked that each query has one).
    runs: Option<QueryRuns>,
    /// The scores as a TREC run wrote them (f64, one per row), which trec_eval orders by.
    exact: Option<Arc<[f64]>>,
}

/// The runs of a `query_id` column, kept with the column they were found in: they stand for the
/// table's queries only while its batch still holds that very column.
#[derive(Clone)]
struct QueryRuns {
    ids: ArrayRef,
    runs: Arc<[(usize, usize)]>,
}

impl std::fmt::Debug for QueryRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueryRuns({} runs)", self.runs.len())
    }
}

/// Counts worth a warning when labels were joined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelReport {
    /// Judgements whose document is not in the corpus.
    pub docs_not_in_corpus: usize,
    /// Judged queries that are not in the queries file.
    pub queries_not_in_queries: usize,
    /// Judged (query, document) pairs that were retrieved.
    pub judged_retrieved: usize,
}

impl ScoreTable {
    /// The table of `batch`'s rows, produced as `meta` says.
    pub fn new(batch: RecordBatch, meta: TableMeta) -> ScoreTable {
        ScoreTable { batch, meta, runs: None, exact: None }
    }

    /// This table with its scores as read from a TREC run, before they were narrowed to the
    /// float32 `score` column: the ranking measures order each query's rows by them, as
    /// trec_eval does. Ignored unless there is one per row.
    pub fn with_exact_scores(mut self, scores: Vec<f64>) -> ScoreTable {
        self.exact = (scores.len() == self.batch.num_rows()).then(|| scores.into());
        self
    }

    /// The scores as a TREC run wrote them, where the table was read from one.
    pub fn exact_scores(&self) -> Option<&[f64]> {
        self.exact.as_deref().filter(|s| s.len() == self.batch.num_rows())
    }

    /// This table with its queries' runs of rows, `runs`: [`id_runs`] of its `query_id`, each
    /// query's rows in one run.
    fn with_query_runs(mut self, runs: Vec<(usize, usize)>) -> ScoreTable {
        self.runs = self.batch.column_by_name(columns::QUERY_ID).map(|ids| QueryRuns { ids: Arc::clone(ids), runs: runs.into() });
        self
    }

    /// The queries' runs of rows found when the table was read: one run per query, in row order.
    /// None where they were not found, or the batch no longer holds the column they were found in.
    pub fn query_runs(&self) -> Option<&[(usize, usize)]> {
        let r = self.runs.as_ref()?;
        let ids = self.batch.column_by_name(columns::QUERY_ID)?;
        Arc::ptr_eq(ids, &r.ids).then_some(&*r.runs)
    }

    /// Builds the table from scored hits, joining labels from `qrels` when given.
    // Long: the score table's columns, each built from the same hits in one pass.
    pub fn build(
        queries: &Embeddings,
        scored: &Scored,
        qrels: Option<&Qrels>,
        rel_level: i32,
        mut meta: TableMeta,
    ) -> Result<(ScoreTable, LabelReport)> {
        if qrels.is_some() {
            meta.extra.insert(keys::REL_LEVEL.to_owned(), rel_level.to_string());
        }
        let rows: usize = scored.hits.iter().map(Vec::len).sum();
        let mut qidx = Vec::with_capacity(rows);
        let mut doc_ids = Vec::with_capacity(rows);
        let mut ranks = Vec::with_capacity(rows);
        let mut scores = Vec::with_capacity(rows);
        let mut labels = Vec::with_capacity(if qrels.is_some() { rows } else { 0 });
        let mut relevant = Vec::with_capacity(if qrels.is_some() { rows } else { 0 });
        let mut report = LabelReport::default();
        if scored.hits.len() != queries.ids.len() {
            return Err(Error::Invalid(format!(
                "{} scored, {} given",
                crate::words::count(scored.hits.len(), "query", "queries"),
                crate::words::num(queries.ids.len())
            )));
        }
        for (qi, (hits, qid)) in scored.hits.iter().zip(&queries.ids).enumerate() {
            let judged = qrels.and_then(|q| q.judged.get(qid.as_str()));
            let nrel = qrels.map(|q| q.relevant_count(qid, rel_level)).unwrap_or(0);
            for (r, h) in hits.iter().enumerate() {
                let doc = scored
                    .corpus_ids
                    .get(h.row as usize)
                    .ok_or_else(|| Error::Invalid(format!("hit on corpus row {}, beyond the corpus", h.row)))?;
                qidx.push(qi as u32);
                ranks.push(r as u32 + 1);
                scores.push(h.score);
                if qrels.is_some() {
                    let l = judged.and_then(|d| d.get(doc.as_str())).copied();
                    report.judged_retrieved += l.is_some() as usize;
                    labels.push(l.unwrap_or(0));
                    relevant.push(nrel);
                }
                doc_ids.push(doc.as_str());
            }
        }
        if let Some(q) = qrels {
            let corpus: HashSet<&str> = scored.corpus_ids.iter().map(String::as_str).collect();
            let qset: HashSet<&str> = queries.ids.iter().map(String::as_str).collect();
            for (qid, docs) in &q.judged {
                report.queries_not_in_queries += !qset.contains(qid.as_str()) as usize;
                report.docs_not_in_corpus += docs.keys().filter(|d| !corpus.contains(d.as_str())).count();
            }
        }
        let qidx = UInt32Array::from(qidx);
        let query_ids: StringArray = qidx.values().iter().map(|&i| queries.ids.get(i as usize).map(String::as_str)).collect();
        let mut fields = standard_fields();
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(query_ids),
            Arc::new(StringArray::from(doc_ids)),
            Arc::new(UInt32Array::from(ranks)),
            Arc::new(Float32Array::from(scores)),
            if qrels.is_some() { Arc::new(Int32Array::from(labels)) } else { Arc::new(Int32Array::new_null(rows)) },
            if qrels.is_some() { Arc::new(UInt32Array::from(relevant)) } else { Arc::new(UInt32Array::new_null(rows)) },
        ];
        check_carried(queries)?;
        for (field, array) in &queries.carried {
            let taken = arrow::compute::take(array.as_ref(), &qidx, None)
                .map_err(|e| Error::format(&queries.path, format!("column {}: {e}", field.name())))?;
            fields.push(field.as_ref().clone().with_nullable(true));
            arrays.push(taken);
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok((ScoreTable::new(batch, meta), report))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }
}
