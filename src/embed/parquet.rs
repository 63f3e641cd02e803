//! Parquet embeddings: an id column (utf8, large utf8, utf8 view or integer) and a vector
//! column (FixedSizeList, List or LargeList of float16/32/64), read row group by row group.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Float16Type, Float32Type, Float64Type, Schema};
use ndarray::Array2;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use super::leaf::LeafVectors;
use super::{ChunkSource, EmbeddingChunk, Embeddings, ReadOptions};
use crate::error::{Error, Result};

/// Streams a parquet embeddings file in batches of `chunk_rows` rows.
pub(crate) struct ParquetSource {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    id_idx: usize,
    vec_idx: usize,
    carried: Vec<usize>,
    carried_fields: Vec<FieldRef>,
    dim: usize,
    rows: u64,
    next_row: u64,
    /// The vector column's fast reader; when set, the arrow reader reads only ids.
    leaf: Option<LeafVectors>,
}

impl ParquetSource {
    /// Opens `path`; with `shard` (index, count), only the row groups that hold rows of that
    /// shard ([`super::shard_range`]) are read (the caller trims the rows outside it).
    pub(crate) fn open(path: &Path, opts: &ReadOptions, keep_scalars: bool, shard: Option<(u64, u64)>) -> Result<Self> {
        crate::error::decoding(path, || Self::open_unguarded(path, opts, keep_scalars, shard))
    }

    // Long: one check per way a parquet file can fail to hold embeddings (shard row groups, id and
    // vector columns, types), each naming what the file lacks.
    fn open_unguarded(path: &Path, opts: &ReadOptions, keep_scalars: bool, shard: Option<(u64, u64)>) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))?;
        let mut first_group = 0;
        let mut next_row = 0;
        if let Some((index, count)) = shard {
            let total = builder.metadata().file_metadata().num_rows().max(0) as u64;
            let (start, end) = super::shard_range(total, index, count);
            let mut groups = Vec::new();
            let mut at = 0u64;
            for (g, meta) in builder.metadata().row_groups().iter().enumerate() {
                let n = meta.num_rows().max(0) as u64;
                if at + n > start && at < end {
                    if groups.is_empty() {
                        first_group = g;
                        next_row = at;
                    }
                    groups.push(g);
                }
                at += n;
            }
            builder = builder.with_row_groups(groups);
        }
        let schema = builder.schema().clone();
        let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;

        let id_idx = schema
            .index_of(&opts.id_col)
            .map_err(|_| Error::format(path, format!("no id column {:?} (columns: {})", opts.id_col, names(&schema))))?;
        check_id_type(path, schema.field(id_idx))?;
        let vec_idx = match &opts.vec_col {
            Some(name) => schema
                .index_of(name)
                .map_err(|_| Error::format(path, format!("no vector column {name:?} (columns: {})", names(&schema))))?,
            None => {
                let lists: Vec<usize> = (0..schema.fields().len()).filter(|&i| is_list(schema.field(i).data_type())).collect();
                match lists.as_slice() {
                    [one] => *one,
                    [] => return Err(Error::format(path, format!("no list-typed vector column (columns: {})", names(&schema)))),
                    _ => {
                        return Err(Error::format(
                            path,
                            format!(
                                "several list-typed columns ({}); choose one with `vec_col`",
                                lists.iter().map(|&i| schema.field(i).name().as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        ))
                    }
                }
            }
        };
        let fixed_dim = check_vec_type(path, schema.field(vec_idx))?;
        let dim = match fixed_dim {
            Some(d) => d,
            None if rows > 0 => peek_list_dim(path, vec_idx)?,
            None => 0,
        };
        let carried: Vec<usize> = if keep_scalars {
            (0..schema.fields().len()).filter(|&i| i != id_idx && i != vec_idx && !schema.field(i).data_type().is_nested()).collect()
        } else {
            Vec::new()
        };
        let leaf = if keep_scalars { None } else { LeafVectors::open(path, vec_idx, dim, first_group)? };
        let mut roots = vec![id_idx];
        if leaf.is_none() {
            roots.push(vec_idx);
        }
        roots.extend(&carried);
        roots.sort_unstable();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
        let reader =
            builder.with_projection(mask).with_batch_size(opts.rows_per_chunk(dim)).build().map_err(|e| Error::parquet(path, e))?;
        // Indexes into the projected batches.
        let pos = |i: usize| roots.iter().position(|&r| r == i).unwrap_or(0);
        Ok(ParquetSource {
            path: path.to_path_buf(),
            reader,
            id_idx: pos(id_idx),
            vec_idx: pos(vec_idx),
            carried: carried.iter().map(|&i| pos(i)).collect(),
            carried_fields: carried.iter().filter_map(|&i| schema.fields().get(i).cloned()).collect(),
            dim,
            rows,
            next_row,
            leaf,
        })
    }

    fn next_batch(&mut self) -> Result<Option<(RecordBatch, u64)>> {
        match self.reader.next() {
            None => Ok(None),
            Some(Err(e)) => Err(Error::parquet(&self.path, e)),
            Some(Ok(b)) => {
                let first = self.next_row;
                self.next_row += b.num_rows() as u64;
                Ok(Some((b, first)))
            }
        }
    }

    fn decode(&mut self, batch: &RecordBatch, first_row: u64) -> Result<(Vec<String>, Vec<f32>)> {
        let ids = ids_of(&self.path, batch.column(self.id_idx), first_row)?;
        let values = match &mut self.leaf {
            Some(leaf) => leaf.read(ids.len(), first_row, &ids)?,
            None => vectors_of(&self.path, batch.column(self.vec_idx), self.dim, first_row, &ids)?,
        };
        Ok((ids, values))
    }
}

impl ChunkSource for ParquetSource {
    fn path(&self) -> &Path {
        &self.path
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn rows(&self) -> u64 {
        self.rows
    }
    fn next_chunk(&mut self) -> Result<Option<EmbeddingChunk>> {
        let path = self.path.clone();
        crate::error::decoding(&path, || self.next_chunk_unguarded())
    }
}

impl ParquetSource {
    fn next_chunk_unguarded(&mut self) -> Result<Option<EmbeddingChunk>> {
        let Some((batch, first_row)) = self.next_batch()? else {
            return Ok(None);
        };
        let (ids, values) = self.decode(&batch, first_row)?;
        let vectors = Array2::from_shape_vec((ids.len(), self.dim), values).map_err(|e| Error::format(&self.path, e.to_string()))?;
        Ok(Some(EmbeddingChunk { first_row, ids, vectors }))
    }
}

/// Reads a whole parquet embeddings file with its scalar columns.
pub(crate) fn read_all(path: &Path, opts: &ReadOptions) -> Result<Embeddings> {
    crate::error::decoding(path, || read_all_unguarded(path, opts))
}

fn read_all_unguarded(path: &Path, opts: &ReadOptions) -> Result<Embeddings> {
    let mut src = ParquetSource::open(path, &ReadOptions { chunk_rows: 65_536, ..opts.clone() }, true, None)?;
    let mut ids = Vec::new();
    let mut values = Vec::new();
    let mut carried_parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); src.carried.len()];
    while let Some((batch, first_row)) = src.next_batch()? {
        let (i, v) = src.decode(&batch, first_row)?;
        ids.extend(i);
        values.extend(v);
        for (parts, &c) in carried_parts.iter_mut().zip(&src.carried) {
            parts.push(batch.column(c).clone());
        }
    }
    let projected = src.carried_fields.clone();
    let mut carried = Vec::new();
    for (field, parts) in projected.into_iter().zip(carried_parts) {
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let array = if refs.is_empty() {
            arrow::array::new_empty_array(field.data_type())
        } else {
            arrow::compute::concat(&refs).map_err(|e| Error::parquet(path, e))?
        };
        carried.push((field, array));
    }
    let dim = src.dim;
    let vectors = Array2::from_shape_vec((ids.len(), dim), values).map_err(|e| Error::format(path, e.to_string()))?;
    Ok(Embeddings { path: path.to_path_buf(), ids, vectors, carried })
}

/// For List/LargeList columns the dimension is the first row's length.
fn peek_list_dim(path: &Path, vec_idx: usize) -> Result<usize> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [vec_idx]);
    let mut reader = builder.with_projection(mask).with_batch_size(1).build().map_err(|e| Error::parquet(path, e))?;
    let batch = match reader.next() {
        Some(b) => b.map_err(|e| Error::parquet(path, e))?,
        None => return Ok(0),
    };
    let col = batch.column(0);
    if col.is_null(0) {
        return Err(Error::row(path, 0, None, "null vector"));
    }
    let len = match col.data_type() {
        DataType::List(_) => col.as_list::<i32>().value_length(0) as usize,
        DataType::LargeList(_) => col.as_list::<i64>().value_length(0) as usize,
        _ => 0,
    };
    if len == 0 {
        return Err(Error::row(path, 0, None, "empty vector"));
    }
    Ok(len)
}

fn names(schema: &Schema) -> String {
    schema.fields().iter().map(|f| format!("{} ({})", f.name(), f.data_type())).collect::<Vec<_>>().join(", ")
}

fn is_list(t: &DataType) -> bool {
    matches!(t, DataType::FixedSizeList(..) | DataType::List(_) | DataType::LargeList(_))
}

fn check_id_type(path: &Path, f: &Field) -> Result<()> {
    match f.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(()),
        t if t.is_integer() => Ok(()),
        t => Err(Error::format(path, format!("id column {:?} has type {t}; expected a string or integer column", f.name()))),
    }
}

/// Checks the vector column's type; returns its dimension when the type fixes it.
fn check_vec_type(path: &Path, f: &Field) -> Result<Option<usize>> {
    let (inner, dim) = match f.data_type() {
        DataType::FixedSizeList(inner, n) => (inner, Some(*n as usize)),
        DataType::List(inner) | DataType::LargeList(inner) => (inner, None),
        t => return Err(Error::format(path, format!("vector column {:?} has type {t}; expected a list of floats", f.name()))),
    };
    match inner.data_type() {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {}
        t => return Err(Error::format(path, format!("vector column {:?} holds {t}; expected float16, float32 or float64", f.name()))),
    }
    if dim == Some(0) {
        return Err(Error::format(path, format!("vector column {:?} has dimension 0", f.name())));
    }
    Ok(dim)
}

fn ids_of(path: &Path, col: &ArrayRef, first_row: u64) -> Result<Vec<String>> {
    if let Some(i) = first_null(col.as_ref()) {
        return Err(Error::row(path, first_row + i as u64, None, "null id"));
    }
    let n = col.len();
    let out: Vec<String> = match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().iter().map(|s| s.unwrap_or_default().to_owned()).collect(),
        DataType::LargeUtf8 => col.as_string::<i64>().iter().map(|s| s.unwrap_or_default().to_owned()).collect(),
        DataType::Utf8View => col.as_string_view().iter().map(|s| s.unwrap_or_default().to_owned()).collect(),
        t if t.is_integer() => {
            let s = arrow::compute::cast(col, &DataType::Utf8).map_err(|e| Error::parquet(path, e))?;
            s.as_string::<i32>().iter().map(|s| s.unwrap_or_default().to_owned()).collect()
        }
        t => return Err(Error::format(path, format!("id column has type {t}"))),
    };
    debug_assert_eq!(out.len(), n);
    Ok(out)
}

fn first_null(a: &dyn Array) -> Option<usize> {
    let nulls = a.logical_nulls()?;
    if nulls.null_count() == 0 {
        return None;
    }
    (0..a.len()).find(|&i| nulls.is_null(i))
}

fn vectors_of(path: &Path, col: &ArrayRef, dim: usize, first_row: u64, ids: &[String]) -> Result<Vec<f32>> {
    let bad = |row: usize, msg: String| Error::row(path, first_row + row as u64, ids.get(row).map(String::as_str), msg);
    if let Some(i) = first_null(col.as_ref()) {
        return Err(bad(i, "null vector".into()));
    }
    let n = col.len();
    let (values, start) = match col.data_type() {
        DataType::FixedSizeList(_, d) => {
            if *d as usize != dim {
                return Err(bad(0, format!("vector has {d} values, expected {dim}")));
            }
            let l = col.as_fixed_size_list();
            (l.values().clone(), 0usize)
        }
        DataType::List(_) => list_values(col.as_list::<i32>(), dim).map_err(|(r, m)| bad(r, m))?,
        DataType::LargeList(_) => list_values(col.as_list::<i64>(), dim).map_err(|(r, m)| bad(r, m))?,
        t => return Err(Error::format(path, format!("vector column has type {t}"))),
    };
    let values = values.slice(start, n * dim);
    if let Some(i) = first_null(values.as_ref()) {
        return Err(bad(i / dim, format!("null value at position {} of the vector", i % dim)));
    }
    let mut out = vec![0f32; n * dim];
    match values.data_type() {
        DataType::Float32 => out.copy_from_slice(values.as_primitive::<Float32Type>().values()),
        DataType::Float64 => {
            for (o, &v) in out.iter_mut().zip(values.as_primitive::<Float64Type>().values().iter()) {
                *o = v as f32;
            }
        }
        DataType::Float16 => {
            use half::slice::HalfFloatSliceExt;
            values.as_primitive::<Float16Type>().values().convert_to_f32_slice(&mut out);
        }
        t => return Err(Error::format(path, format!("vector values have type {t}"))),
    }
    Ok(out)
}

/// The child values of a List column and where this batch's rows start in them; every row
/// must have `dim` values.
fn list_values<O: OffsetSizeTrait>(l: &GenericListArray<O>, dim: usize) -> std::result::Result<(ArrayRef, usize), (usize, String)> {
    let offsets = l.value_offsets();
    for (row, (a, b)) in offsets.iter().zip(offsets.iter().skip(1)).enumerate() {
        let len = (*b - *a).as_usize();
        if len != dim {
            return Err((row, format!("vector has {len} values, expected {dim} (ragged vectors)")));
        }
    }
    Ok((l.values().clone(), offsets.first().map_or(0, |o| o.as_usize())))
}
