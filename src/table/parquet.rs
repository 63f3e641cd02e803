//! Score tables to and from parquet.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::Schema;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::positioned::PositionedFile;
use super::{ScoreTable, TableMeta};
use crate::error::{Error, Result};
use crate::output::write_atomic;

/// Writes a score table to `path` atomically.
pub fn write_parquet(table: &ScoreTable, path: &Path) -> Result<()> {
    let kv = table.meta.to_pairs().into_iter().map(|(k, v)| KeyValue::new(k, v)).collect();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(kv))
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    // The metadata is the table's own: a schema read from another table may carry that
    // table's keys (a part's shard, say), which must not be written again. It goes into the
    // Arrow schema stored in the file too, where pyarrow, polars and pandas read it.
    let own: std::collections::HashMap<String, String> = table.meta.to_pairs().into_iter().collect();
    let schema = Arc::new(table.batch.schema().as_ref().clone().with_metadata(own));
    let batch = arrow::array::RecordBatch::try_new(schema.clone(), table.batch.columns().to_vec()).map_err(|e| Error::write(path, e))?;
    write_atomic(path, |w| {
        let mut writer = ArrowWriter::try_new(w, schema, Some(props)).map_err(|e| Error::write(path, e))?;
        writer.write(&batch).map_err(|e| Error::write(path, e))?;
        writer.close().map_err(|e| Error::write(path, e))?;
        Ok(())
    })
}

/// Reads a score table, refusing a simcal table of a schema version this build does not know.
/// Tables of other tools are read too (see `super::foreign`).
pub fn read_table(path: &Path) -> Result<ScoreTable> {
    read_table_columns(path, None)
}

/// Reads only the named columns of a score table (all of them for `None`), in file order;
/// a named column the table lacks is left out (the caller reports it). The standard columns
/// come back in their standard types, and `rank`, when asked for and absent, is derived from
/// the scores (which brings `query_id` along).
pub fn read_table_columns(path: &Path, columns: Option<&[&str]>) -> Result<ScoreTable> {
    read(path, columns, false)
}

/// Reads a whole score table for fusion: as [`read_table`] does, except that float64 scores
/// stay float64 (fusion computes in float64 and writes float32 at the end) and a missing rank
/// is not derived (fusion orders each list by score itself).
pub fn read_table_wide(path: &Path) -> Result<ScoreTable> {
    crate::error::decoding(path, || read_unguarded(path, None, true, false))
}

fn read(path: &Path, columns: Option<&[&str]>, wide_scores: bool) -> Result<ScoreTable> {
    crate::error::decoding(path, || read_unguarded(path, columns, wide_scores, true))
}

/// The root columns `idx` of the parquet file `input` (whose footer is `footer`), in batches.
fn read_batches(path: &Path, input: PositionedFile, footer: &ArrowReaderMetadata, idx: &[usize]) -> Result<Vec<RecordBatch>> {
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(input, footer.clone());
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), idx.iter().copied());
    // One batch of the whole table where it is not huge: batches joined afterwards hold the
    // table twice. The reader reserves a batch's rows up front, so the row count (the file's
    // word, which a damaged file may overstate) is capped.
    const MAX_BATCH: usize = 1 << 24;
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0).clamp(1, MAX_BATCH);
    let reader = builder.with_projection(mask).with_batch_size(rows).build().map_err(|e| Error::parquet(path, e))?;
    reader.collect::<std::result::Result<_, _>>().map_err(|e| Error::parquet(path, e))
}

// Long: one check per column of a score table, each naming the file and column.
fn read_unguarded(path: &Path, columns: Option<&[&str]>, wide_scores: bool, derive_rank: bool) -> Result<ScoreTable> {
    use super::columns::{DOC_ID, QUERY_ID, RANK, SCORE};
    let file = File::open(path).and_then(PositionedFile::new).map_err(|e| Error::io(path, e))?;
    let footer = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()).map_err(|e| Error::parquet(path, e))?;
    let pairs: Vec<(String, Option<String>)> = footer
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| kv.iter().map(|p| (p.key.clone(), p.value.clone())).collect())
        .unwrap_or_default();
    // No simcal key at all: another tool's table. Some but no version: a damaged one.
    let foreign = !pairs.iter().any(|(k, _)| k.starts_with(super::keys::PREFIX));
    let meta = if foreign { None } else { Some(TableMeta::from_pairs(path, &pairs)?) };
    let schema: Arc<Schema> = footer.schema().clone();
    super::foreign::unique_columns(path, &schema)?;
    for name in [QUERY_ID, DOC_ID, SCORE] {
        if schema.index_of(name).is_err() {
            return Err(Error::format(path, format!("score table has no {name} column")));
        }
    }
    // A column asked for beyond the standard ones is a group column: missing, it is named with
    // the file's own columns (not those read).
    for name in columns.unwrap_or_default() {
        if !super::standard_fields().iter().any(|f| f.name() == name) && schema.index_of(name).is_err() {
            let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(Error::format(path, format!("no column {name:?} to group by (columns: {})", have.join(", "))));
        }
    }
    let has_rank = schema.index_of(RANK).is_ok();
    let wants_rank = columns.is_none_or(|c| c.contains(&RANK));
    let derive = wants_rank && !has_rank;
    let keep = |n: &str| columns.is_none_or(|names| names.contains(&n) || (derive && (n == QUERY_ID || n == SCORE)));
    let idx: Vec<usize> = (0..schema.fields().len()).filter(|&i| keep(schema.field(i).name())).collect();
    let projected = Arc::new(schema.project(&idx).map_err(|e| Error::parquet(path, e))?);
    // Each column decoded by its own reader, in parallel (a column's pages decode one after
    // another): the read takes as long as its slowest column, not as all of them.
    let read_column = |i: usize| -> Result<ArrayRef> {
        crate::error::decoding(path, || {
            let batches = read_batches(path, file.clone(), &footer, &[i])?;
            let arrays: Vec<&ArrayRef> = batches.iter().filter_map(|b| b.columns().first()).collect();
            match arrays.as_slice() {
                [] => Ok(arrow::array::new_empty_array(schema.field(i).data_type())),
                [one] => Ok(Arc::clone(one)),
                many => {
                    let many: Vec<&dyn Array> = many.iter().map(|a| a.as_ref()).collect();
                    arrow::compute::concat(&many).map_err(|e| Error::parquet(path, e))
                }
            }
        })
    };
    let batch = if idx.len() >= 2 {
        use rayon::prelude::*;
        let cols = idx.par_iter().map(|&i| read_column(i)).collect::<Result<Vec<_>>>()?;
        let rows = cols.first().map_or(0, |c| c.len());
        RecordBatch::try_new_with_options(projected, cols, &RecordBatchOptions::new().with_row_count(Some(rows)))
            .map_err(|e| Error::parquet(path, e))?
    } else {
        let mut batches = read_batches(path, file, &footer, &idx)?;
        match batches.len() {
            1 => batches.pop().ok_or_else(|| Error::format(path, "no rows"))?,
            _ => arrow::compute::concat_batches(&projected, &batches).map_err(|e| Error::parquet(path, e))?,
        }
    };
    finish(path, batch, meta, derive_rank && wants_rank && !has_rank, wide_scores)
}

/// A score table from rows already in memory (an Arrow batch handed over by a caller), as
/// [`read_table`] makes one from a file: the batch's schema metadata says whether simcal wrote
/// it, the standard columns get their standard types, a missing rank is derived. `name` stands
/// for the file in errors.
pub fn table_from_batch(name: &Path, batch: RecordBatch) -> Result<ScoreTable> {
    from_batch(name, batch, false, true)
}

/// [`table_from_batch`] for a reader that does not read ranks (evaluation ranks rows itself),
/// as [`read_table_columns`] reads a file without its `rank`: a missing rank is not derived.
pub fn table_from_batch_unranked(name: &Path, batch: RecordBatch) -> Result<ScoreTable> {
    from_batch(name, batch, false, false)
}

/// [`table_from_batch`] for fusion, as [`read_table_wide`] reads a file: float64 scores kept,
/// no rank derived.
pub fn table_from_batch_wide(name: &Path, batch: RecordBatch) -> Result<ScoreTable> {
    from_batch(name, batch, true, false)
}

fn from_batch(name: &Path, batch: RecordBatch, for_fusion: bool, rank: bool) -> Result<ScoreTable> {
    use super::columns::{QUERY_ID, RANK, SCORE};
    let schema = batch.schema();
    let pairs: Vec<(String, Option<String>)> = schema.metadata().iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    let meta =
        if pairs.iter().any(|(k, _)| k.starts_with(super::keys::PREFIX)) { Some(TableMeta::from_pairs(name, &pairs)?) } else { None };
    for col in [QUERY_ID, SCORE] {
        if schema.index_of(col).is_err() {
            return Err(Error::format(name, format!("score table has no {col} column")));
        }
    }
    let derive = rank && schema.index_of(RANK).is_err();
    finish(name, batch, meta, derive, for_fusion)
}

/// The standard types, the checks of another tool's table, a derived rank where asked, and the
/// metadata (recorded as unknown for another tool's table).
fn finish(path: &Path, batch: RecordBatch, meta: Option<TableMeta>, derive_rank: bool, wide_scores: bool) -> Result<ScoreTable> {
    let mut batch = super::foreign::standard_types(path, batch, wide_scores)?;
    // Another tool's table, or one whose ranks are derived: its queries' rows must be together.
    // Every table's queries must have their rows together (an edited simcal table too): each
    // reader takes a run of one id for one query.
    let runs = super::foreign::together_runs(path, &batch)?;
    if derive_rank {
        batch = super::foreign::derive_ranks(path, batch, &runs)?;
    }
    let meta = match meta {
        Some(m) => m,
        None => super::foreign::unknown_meta(path, &runs),
    };
    Ok(ScoreTable::new(batch, meta).with_query_runs(runs))
}
