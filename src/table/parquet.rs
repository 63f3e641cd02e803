//! Score tables to and from parquet.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::Schema;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

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
    // table's keys (a part's shard, say), which must not be written again.
    let schema = Arc::new(table.batch.schema().as_ref().clone().with_metadata(std::collections::HashMap::new()));
    let batch = arrow::array::RecordBatch::try_new(schema.clone(), table.batch.columns().to_vec()).map_err(|e| Error::parquet(path, e))?;
    write_atomic(path, |w| {
        let mut writer = ArrowWriter::try_new(w, schema, Some(props)).map_err(|e| Error::parquet(path, e))?;
        writer.write(&batch).map_err(|e| Error::parquet(path, e))?;
        writer.close().map_err(|e| Error::parquet(path, e))?;
        Ok(())
    })
}

/// Reads a score table, refusing files that are not simcal score tables of a known version.
pub fn read_table(path: &Path) -> Result<ScoreTable> {
    read_table_columns(path, None)
}

/// Reads only the named columns of a score table (all of them for `None`), in file order;
/// a named column the table lacks is left out (the caller reports it).
pub fn read_table_columns(path: &Path, columns: Option<&[&str]>) -> Result<ScoreTable> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))?;
    let pairs: Vec<(String, Option<String>)> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| kv.iter().map(|p| (p.key.clone(), p.value.clone())).collect())
        .unwrap_or_default();
    let meta = TableMeta::from_pairs(path, &pairs)?;
    let schema: Arc<Schema> = builder.schema().clone();
    for name in [super::columns::QUERY_ID, super::columns::DOC_ID, super::columns::RANK, super::columns::SCORE] {
        if schema.index_of(name).is_err() {
            return Err(Error::format(path, format!("score table has no {name} column")));
        }
    }
    let (builder, schema) = match columns {
        None => (builder, schema),
        Some(names) => {
            let idx: Vec<usize> = (0..schema.fields().len()).filter(|&i| names.contains(&schema.field(i).name().as_str())).collect();
            let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), idx.iter().copied());
            let projected = Arc::new(schema.project(&idx).map_err(|e| Error::parquet(path, e))?);
            (builder.with_projection(mask), projected)
        }
    };
    let reader = builder.with_batch_size(1 << 16).build().map_err(|e| Error::parquet(path, e))?;
    let batches: Vec<_> = reader.collect::<std::result::Result<_, _>>().map_err(|e| Error::parquet(path, e))?;
    let batch = arrow::compute::concat_batches(&schema, &batches).map_err(|e| Error::parquet(path, e))?;
    Ok(ScoreTable { batch, meta })
}
