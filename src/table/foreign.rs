//! Score tables written by other tools (pandas, pyarrow, polars, another retriever): the
//! standard columns under other physical types are cast to simcal's (docs/architecture.md §4),
//! a missing `rank` is derived from the scores, and a file without simcal's metadata gets one
//! that says what is unknown.
//!
//! Accepted: ids as any string type, a dictionary of strings (pandas categoricals) or integers;
//! `score` as float16/32/64 (a value beyond float32 is refused by row); `rank`, `label` and
//! `query_relevant` as any integer type (`label` also boolean), refused by row when out of
//! range.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use rustc_hash::FxHashMap;

use super::{columns, id_runs, TableMeta, SCHEMA_VERSION};
use crate::error::{Error, Result};

/// What the metadata says of a table that has none of simcal's: the model is the file's stem,
/// everything else `unknown` (k: the most rows of one query, from the table's query runs, each
/// query's rows together).
pub(crate) fn unknown_meta(path: &Path, runs: &[(usize, usize)]) -> TableMeta {
    let k = runs.iter().map(|(start, end)| end - start).max().unwrap_or(0);
    let unknown = || "unknown".to_owned();
    TableMeta {
        schema_version: SCHEMA_VERSION,
        version: unknown(),
        model: path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(unknown),
        metric: unknown(),
        k,
        backend: unknown(),
        queries_sha256: unknown(),
        corpus_sha256: unknown(),
        extra: [(super::meta::FOREIGN_KEY.to_owned(), "none: written by another tool".to_owned())].into_iter().collect(),
    }
}

/// The standard columns of `batch` cast to their standard types; other columns as they are.
/// With `wide_scores`, float64 scores stay float64.
pub(crate) fn standard_types(path: &Path, batch: RecordBatch, wide_scores: bool) -> Result<RecordBatch> {
    let schema = batch.schema();
    unique_columns(path, &schema)?;
    let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (f, a) in schema.fields().iter().zip(batch.columns()) {
        let want = match f.name().as_str() {
            columns::QUERY_ID | columns::DOC_ID => Some(DataType::Utf8),
            columns::SCORE if wide_scores && a.data_type() == &DataType::Float64 => None,
            columns::SCORE => Some(DataType::Float32),
            columns::RANK | columns::QUERY_RELEVANT => Some(DataType::UInt32),
            columns::LABEL => Some(DataType::Int32),
            _ => None,
        };
        let a = match want {
            Some(t) if a.data_type() != &t => cast_column(path, f.name(), a, &t)?,
            _ => a.clone(),
        };
        fields.push(f.as_ref().clone().with_data_type(a.data_type().clone()));
        arrays.push(a);
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    RecordBatch::try_new(schema, arrays).map_err(|e| Error::format(path, e.to_string()))
}

/// Refuses a schema with a standard column twice: which one a reader took would decide the
/// numbers.
pub(crate) fn unique_columns(path: &Path, schema: &Schema) -> Result<()> {
    for f in super::standard_fields() {
        let n = schema.fields().iter().filter(|g| g.name() == f.name()).count();
        if n > 1 {
            return Err(Error::format(path, format!("the table has {n} columns named {}: a standard column must be one column", f.name())));
        }
    }
    Ok(())
}

fn cast_column(path: &Path, name: &str, a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let from = a.data_type();
    let ok = match to {
        DataType::Utf8 => match from {
            DataType::Dictionary(_, v) => matches!(v.as_ref(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) || v.is_integer(),
            t => matches!(t, DataType::LargeUtf8 | DataType::Utf8View) || t.is_integer(),
        },
        DataType::Float32 => matches!(from, DataType::Float16 | DataType::Float64),
        DataType::Int32 => from.is_integer() || from.is_floating() || from == &DataType::Boolean,
        _ => from.is_integer() || from.is_floating(),
    };
    if !ok {
        return Err(Error::format(path, format!("column {name} is {from}, expected {to} (or a type that converts to it)")));
    }
    if to.is_integer() && from.is_floating() {
        // pandas stores an integer column with missing values as float64 with NaN: whole
        // numbers are taken, NaN is null, a fraction is refused by row.
        let wide = cast_with_options(a, &DataType::Float64, &CastOptions::default()).map_err(|e| Error::format(path, e.to_string()))?;
        let v = wide.as_primitive::<Float64Type>();
        let mut whole: Vec<Option<i64>> = Vec::with_capacity(v.len());
        for r in 0..v.len() {
            let x = v.is_valid(r).then(|| v.value(r)).filter(|x| !x.is_nan());
            match x {
                Some(x) if x.fract() != 0.0 || x.abs() > 9.0e15 => {
                    return Err(Error::row(path, r as u64, None, format!("column {name}: {x} is not a whole number")));
                }
                x => whole.push(x.map(|x| x as i64)),
            }
        }
        let ints: ArrayRef = Arc::new(arrow::array::Int64Array::from(whole));
        return cast_column(path, name, &ints, to);
    }
    if to == &DataType::Float32 {
        // Beyond float32 a score would become infinite: refuse it by row instead.
        let wide = cast_with_options(a, &DataType::Float64, &CastOptions::default()).map_err(|e| Error::format(path, e.to_string()))?;
        let v = wide.as_primitive::<Float64Type>();
        if let Some(r) = (0..v.len()).find(|&r| v.is_valid(r) && v.value(r).is_finite() && v.value(r).abs() > f32::MAX as f64) {
            return Err(Error::row(path, r as u64, None, format!("score {:e} is beyond float32's range", v.value(r))));
        }
    }
    // A value out of the target's range is an error (safe: false), never a silent null.
    let strict = CastOptions { safe: false, ..CastOptions::default() };
    cast_with_options(a, to, &strict).map_err(|e| {
        // Find the row for the message: the first value whose own cast fails.
        let row = (0..a.len()).find(|&r| cast_with_options(&a.slice(r, 1), to, &strict).is_err());
        // The value as written and what it had to be, not the cast's own words.
        let must = match to {
            DataType::UInt32 => " (a non-negative integer up to 4,294,967,295)",
            DataType::Int32 => " (an integer of 32 bits)",
            _ => "",
        };
        match row {
            Some(r) => {
                let v = arrow::util::display::array_value_to_string(a, r).unwrap_or_default();
                Error::row(path, r as u64, None, format!("column {name}: {v} is not a {to}{must}"))
            }
            None => Error::format(path, format!("column {name}: {e}")),
        }
    })
}

/// The runs of equal query ids of `batch` (none without a utf8 `query_id`), refusing a table
/// that lists a query's rows in more than one place (simcal writes each query's rows together;
/// every reader takes a run of one id for one query).
pub(crate) fn together_runs(path: &Path, batch: &RecordBatch) -> Result<Vec<(usize, usize)>> {
    let Some(ids) = batch.column_by_name(columns::QUERY_ID).and_then(|c| c.as_string_opt::<i32>()) else { return Ok(Vec::new()) };
    // A null id is no query's (its slot reads as the empty id): named before runs are compared.
    if let Some(r) = (ids.null_count() > 0).then(|| (0..ids.len()).find(|&r| ids.is_null(r))).flatten() {
        return Err(Error::row(path, r as u64, None, "query_id is null"));
    }
    let runs = id_runs(ids);
    let mut seen: FxHashMap<&str, usize> = FxHashMap::default();
    seen.reserve(runs.len());
    for &(start, _) in &runs {
        if let Some(first) = seen.insert(ids.value(start), start) {
            return Err(Error::row(
                path,
                start as u64,
                Some(ids.value(start)),
                format!("the query's rows are not together (it also starts at row {first}): sort the table by query"),
            ));
        }
    }
    Ok(runs)
}

/// `batch` with a `rank` column derived from the scores when it has none: within each query's
/// rows (`runs`, from [`together_runs`]), 1 for the highest score, ties in file order.
pub(crate) fn derive_ranks(path: &Path, batch: RecordBatch, runs: &[(usize, usize)]) -> Result<RecordBatch> {
    if batch.column_by_name(columns::RANK).is_some() {
        return Ok(batch);
    }
    let Some(scores) = batch.column_by_name(columns::SCORE).and_then(|s| s.as_primitive_opt::<arrow::datatypes::Float32Type>()) else {
        return Ok(batch);
    };
    let scores = scores.values();
    let mut rank = vec![0u32; batch.num_rows()];
    let mut order: Vec<usize> = Vec::new();
    for &(start, end) in runs {
        let (Some(s), Some(ranks)) = (scores.get(start..end), rank.get_mut(start..end)) else { continue };
        if s.windows(2).all(|w| matches!(w, [a, b] if a.total_cmp(b).is_ge())) {
            // Already in rank order (as tables usually are): no sort.
            for (i, r) in ranks.iter_mut().enumerate() {
                *r = u32::try_from(i + 1).unwrap_or(u32::MAX);
            }
            continue;
        }
        order.clear();
        order.extend(0..s.len());
        let score = |i: usize| s.get(i).copied().unwrap_or(f32::NAN);
        order.sort_unstable_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
        for (i, &r) in order.iter().enumerate() {
            if let Some(x) = ranks.get_mut(r) {
                *x = u32::try_from(i + 1).unwrap_or(u32::MAX);
            }
        }
    }
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
    // In the standard place, after doc_id where there is one.
    let at = schema.index_of(columns::DOC_ID).map(|i| i + 1).unwrap_or(fields.len());
    fields.insert(at, Field::new(columns::RANK, DataType::UInt32, false));
    arrays.insert(at, Arc::new(UInt32Array::from(rank)));
    RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), arrays)
        .map_err(|e| Error::format(path, e.to_string()))
}
