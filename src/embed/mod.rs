//! Embeddings: ids plus a row-major `f32` matrix, read from parquet or `.npy` (the accepted
//! inputs: docs/architecture.md §3).
//!
//! Queries are read whole ([`read_queries`]); the corpus is read in chunks ([`open_corpus`]) so
//! that a corpus larger than memory scores with bounded memory. Every reader converts to `f32`
//! as it goes and checks each row (nulls, ragged lengths, NaN/Inf), naming the file and the row
//! when one is bad. Normalisation for the cosine metric happens in `prepare`, after reading,
//! because it is also where zero vectors are caught.

mod leaf;
mod npy;
mod parquet;

use std::path::{Path, PathBuf};

use arrow::array::ArrayRef;
use arrow::datatypes::FieldRef;
use ndarray::Array2;

use crate::error::{Error, Result};

/// How queries and documents are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine similarity: both sides are L2-normalised, then the inner product is taken.
    #[default]
    Cosine,
    /// The raw inner product.
    Dot,
}

crate::choice::choice!(Metric => "metric");

/// Where to find ids and vectors in an input file.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Parquet id column (default `id`).
    pub id_col: String,
    /// Parquet vector column; `None` takes the only list-typed column.
    pub vec_col: Option<String>,
    /// For `.npy`: a text file with one id a line; `None` numbers the rows from 0.
    pub ids_file: Option<PathBuf>,
    /// Rows per chunk when the corpus is streamed; 0 picks about 16 MiB of vectors a chunk (under
    /// the allocator's mmap threshold, so chunk buffers are reused rather than faulted in anew).
    pub chunk_rows: usize,
    /// Bytes of f32 vectors per chunk when `chunk_rows` is 0; 0 means 16 MiB. The scoring
    /// backend says what suits it (the GPU takes far larger chunks).
    pub chunk_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { id_col: "id".into(), vec_col: None, ids_file: None, chunk_rows: 0, chunk_bytes: 0 }
    }
}

/// A block of consecutive rows of an embeddings file.
#[derive(Clone, Debug)]
pub struct EmbeddingChunk {
    /// Row number (0-based, in the file) of the chunk's first row.
    pub first_row: u64,
    /// One id per row.
    pub ids: Vec<String>,
    /// `ids.len() × dim`, row-major.
    pub vectors: Array2<f32>,
}

/// A whole embeddings file in memory (the queries), with the scalar columns it carried.
#[derive(Clone, Debug)]
pub struct Embeddings {
    /// The file it was read from.
    pub path: PathBuf,
    /// One id per row.
    pub ids: Vec<String>,
    /// `ids.len() × dim`, row-major.
    pub vectors: Array2<f32>,
    /// Other scalar columns of a parquet file, carried into the score table.
    pub carried: Vec<(FieldRef, ArrayRef)>,
}

impl Embeddings {
    /// Builds embeddings from ids and row-major values (for callers that have them in memory).
    pub fn from_rows(path: impl Into<PathBuf>, ids: Vec<String>, dim: usize, values: Vec<f32>) -> Result<Self> {
        let path = path.into();
        if dim == 0 || values.len() != ids.len() * dim {
            return Err(Error::format(
                &path,
                format!(
                    "{} do not make {} of dimension {dim}",
                    crate::words::count(values.len(), "value", "values"),
                    crate::words::count(ids.len(), "row", "rows")
                ),
            ));
        }
        let vectors = Array2::from_shape_vec((ids.len(), dim), values).map_err(|e| Error::format(&path, e.to_string()))?;
        Ok(Embeddings { path, ids, vectors, carried: Vec::new() })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.vectors.ncols()
    }
}

/// A corpus read chunk by chunk.
pub trait ChunkSource: Send {
    /// The file being read.
    fn path(&self) -> &Path;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Total rows in the file.
    fn rows(&self) -> u64;
    /// The next chunk, or `None` at the end.
    fn next_chunk(&mut self) -> Result<Option<EmbeddingChunk>>;
    /// The file row of the source's first row (not 0 for a shard of a file): hits are
    /// numbered from it.
    fn first_row(&self) -> u64 {
        0
    }
}

/// Rows `start..end` of another source (a corpus shard).
pub struct RangeSource {
    inner: Box<dyn ChunkSource>,
    start: u64,
    end: u64,
}

impl RangeSource {
    /// Rows `start..end` of `inner` (clamped to its rows), which must not have read past
    /// `start` yet; chunks before the range are dropped, partial ones trimmed.
    pub fn new(inner: Box<dyn ChunkSource>, start: u64, end: u64) -> Self {
        let end = end.min(inner.rows());
        RangeSource { inner, start: start.min(end), end }
    }
}

impl ChunkSource for RangeSource {
    fn path(&self) -> &Path {
        self.inner.path()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn rows(&self) -> u64 {
        self.end - self.start
    }
    fn first_row(&self) -> u64 {
        self.start
    }
    fn next_chunk(&mut self) -> Result<Option<EmbeddingChunk>> {
        loop {
            let Some(c) = self.inner.next_chunk()? else { return Ok(None) };
            let (first, n) = (c.first_row, c.ids.len() as u64);
            if first >= self.end {
                return Ok(None);
            }
            if first + n <= self.start {
                continue;
            }
            let (a, b) = (self.start.max(first), self.end.min(first + n));
            if a == first && b == first + n {
                return Ok(Some(c));
            }
            let (i, j) = ((a - first) as usize, (b - first) as usize);
            return Ok(Some(EmbeddingChunk {
                first_row: a,
                ids: c.ids.get(i..j).unwrap_or_default().to_vec(),
                vectors: c.vectors.slice(ndarray::s![i..j, ..]).to_owned(),
            }));
        }
    }
}

/// Corpus shard `index` of `count`: contiguous row ranges as equal as can be, in file order.
///
/// ```
/// assert_eq!(simcal::embed::shard_range(10, 0, 3), (0, 3));
/// assert_eq!(simcal::embed::shard_range(10, 2, 3), (6, 10));
/// assert_eq!(simcal::embed::shard_range(2, 3, 5), (1, 1));
/// ```
pub fn shard_range(rows: u64, index: u64, count: u64) -> (u64, u64) {
    let at = |i: u64| ((rows as u128 * i as u128) / count.max(1) as u128) as u64;
    (at(index), at(index + 1))
}

/// A corpus that is already in memory, served in chunks (tests, library callers).
pub struct InMemorySource {
    emb: Embeddings,
    next: usize,
    chunk_rows: usize,
}

impl InMemorySource {
    /// Serves `emb` in chunks of `chunk_rows` rows.
    pub fn new(emb: Embeddings, chunk_rows: usize) -> Self {
        InMemorySource { emb, next: 0, chunk_rows: chunk_rows.max(1) }
    }
}

impl ChunkSource for InMemorySource {
    fn path(&self) -> &Path {
        &self.emb.path
    }
    fn dim(&self) -> usize {
        self.emb.dim()
    }
    fn rows(&self) -> u64 {
        self.emb.len() as u64
    }
    fn next_chunk(&mut self) -> Result<Option<EmbeddingChunk>> {
        let start = self.next;
        if start >= self.emb.len() {
            return Ok(None);
        }
        let end = (start + self.chunk_rows).min(self.emb.len());
        self.next = end;
        Ok(Some(EmbeddingChunk {
            first_row: start as u64,
            ids: self.emb.ids.get(start..end).unwrap_or_default().to_vec(),
            vectors: self.emb.vectors.slice(ndarray::s![start..end, ..]).to_owned(),
        }))
    }
}

impl ReadOptions {
    /// Rows per chunk for vectors of `dim` values.
    pub(crate) fn rows_per_chunk(&self, dim: usize) -> usize {
        if self.chunk_rows > 0 {
            self.chunk_rows
        } else {
            let bytes = if self.chunk_bytes > 0 { self.chunk_bytes } else { 16 << 20 };
            (bytes / (4 * dim.max(1))).clamp(1024, 1 << 20)
        }
    }
}

enum Kind {
    Parquet,
    Npy,
}

fn kind_of(path: &Path) -> Result<Kind> {
    use std::io::Read;
    let mut magic = [0u8; 6];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    if n >= 4 && &magic[..4] == b"PAR1" {
        return Ok(Kind::Parquet);
    }
    if n == 6 && &magic == b"\x93NUMPY" {
        return Ok(Kind::Npy);
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => Ok(Kind::Parquet),
        Some("npy") => Ok(Kind::Npy),
        _ => Err(Error::format(path, "neither a parquet nor an .npy file")),
    }
}

/// [`kind_of`], refusing an ids file for parquet embeddings (their ids are a column).
fn kind_for(path: &Path, opts: &ReadOptions) -> Result<Kind> {
    let kind = kind_of(path)?;
    if let (Kind::Parquet, Some(ids)) = (&kind, &opts.ids_file) {
        return Err(Error::Invalid(format!(
            "{}: an ids file names the rows of .npy embeddings, but {} is parquet, whose ids are its {:?} column",
            ids.display(),
            path.display(),
            opts.id_col
        )));
    }
    Ok(kind)
}

/// Opens an embeddings file for chunked reading.
pub fn open_corpus(path: &Path, opts: &ReadOptions) -> Result<Box<dyn ChunkSource>> {
    match kind_for(path, opts)? {
        Kind::Parquet => Ok(Box::new(parquet::ParquetSource::open(path, opts, false, None)?)),
        Kind::Npy => Ok(Box::new(npy::NpySource::open(path, opts)?)),
    }
}

/// Opens shard `index` of `count` of an embeddings file (see [`shard_range`]): a parquet file
/// reads only the row groups that hold the shard's rows, an .npy file seeks to them.
/// Returns the shard and the file's row count.
pub(crate) fn open_corpus_shard(path: &Path, opts: &ReadOptions, index: u64, count: u64) -> Result<(Box<dyn ChunkSource>, u64)> {
    let (inner, rows): (Box<dyn ChunkSource>, u64) = match kind_for(path, opts)? {
        Kind::Parquet => {
            let src = parquet::ParquetSource::open(path, opts, false, Some((index, count)))?;
            let rows = src.rows();
            (Box::new(src), rows)
        }
        Kind::Npy => {
            let mut src = npy::NpySource::open(path, opts)?;
            let rows = src.rows();
            src.seek_row(shard_range(rows, index, count).0)?;
            (Box::new(src), rows)
        }
    };
    let (start, end) = shard_range(rows, index, count);
    Ok((Box::new(RangeSource::new(inner, start, end)), rows))
}

/// Reads a whole embeddings file (the queries), keeping parquet's other scalar columns.
pub fn read_queries(path: &Path, opts: &ReadOptions) -> Result<Embeddings> {
    match kind_for(path, opts)? {
        Kind::Parquet => parquet::read_all(path, opts),
        Kind::Npy => {
            let mut src = npy::NpySource::open(path, &ReadOptions { chunk_rows: usize::MAX, ..opts.clone() })?;
            let dim = src.dim();
            let chunk = src.next_chunk()?;
            let (ids, vectors) = match chunk {
                Some(c) => (c.ids, c.vectors),
                None => (Vec::new(), Array2::zeros((0, dim))),
            };
            Ok(Embeddings { path: path.to_path_buf(), ids, vectors, carried: Vec::new() })
        }
    }
}

/// What scoring does with an all-zero vector under cosine, which has no direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroVectors {
    /// Refuse it, naming the row (the default).
    #[default]
    Error,
    /// Score it 0 against everything, as faiss and sentence-transformers do; counted.
    Zero,
}

crate::choice::choice!(ZeroVectors => "zero-vector rule");

/// What `row_scales` finds in a block of rows.
#[derive(Clone, Debug, Default)]
pub struct RowScales {
    /// The factor each row is multiplied by: 1 for dot, the inverse L2 norm for cosine (0 for a
    /// zero vector under [`ZeroVectors::Zero`]).
    pub scales: Vec<f32>,
    /// Zero vectors scored 0.
    pub zeros: u64,
    /// The largest L2 norm (computed in f64).
    pub max_norm: f64,
    /// The row of the largest norm within the block.
    pub max_row: usize,
}

/// Checks rows for NaN/Inf and, under cosine, L2-normalises them in place (zero vectors are an
/// error, or rows of zeros with [`ZeroVectors::Zero`]). `first_row` and `ids` locate a bad row
/// in `path`.
pub(crate) fn prepare(
    path: &Path,
    first_row: u64,
    ids: &[String],
    vectors: &mut Array2<f32>,
    metric: Metric,
    zero: ZeroVectors,
) -> Result<RowScales> {
    let scales = row_scales(path, first_row, ids, vectors.view(), metric, zero)?;
    for (mut row, &s) in vectors.rows_mut().into_iter().zip(&scales.scales) {
        row.iter_mut().for_each(|v| *v *= s);
    }
    Ok(scales)
}

/// Checks rows for NaN/Inf and returns the factor each row is to be multiplied by (1 for the
/// dot metric, the inverse L2 norm for cosine), the count of zero vectors scored 0, and the
/// largest norm. `first_row` and `ids` locate a bad row in `path`.
pub(crate) fn row_scales(
    path: &Path,
    first_row: u64,
    ids: &[String],
    vectors: ndarray::ArrayView2<f32>,
    metric: Metric,
    zero: ZeroVectors,
) -> Result<RowScales> {
    use rayon::prelude::*;
    let rows: Vec<ndarray::ArrayView1<f32>> = vectors.rows().into_iter().collect();
    let sums: Vec<f64> = rows
        .par_iter()
        .enumerate()
        .with_min_len(256)
        .map(|(r, row)| {
            let bad = |msg: &str| Error::row(path, first_row + r as u64, ids.get(r).map(String::as_str), msg);
            let sum = match row.as_slice() {
                Some(v) => sum_squares(v),
                None => row.iter().map(|&v| v * v).sum(),
            };
            // NaN or Inf anywhere makes the sum non-finite; a finite sum needs no further check,
            // unless it is so small that squares may have lost bits to f32's underflow (then in
            // f64, whose squares of f32 values never underflow).
            if sum.is_finite() && sum >= EXACT_SUM {
                Ok(sum as f64)
            } else if row.iter().all(|v| v.is_finite()) {
                Ok(row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>())
            } else {
                Err(bad("vector holds NaN or infinite values"))
            }
        })
        .collect::<Result<_>>()?;
    let mut out = RowScales { scales: Vec::with_capacity(sums.len()), ..RowScales::default() };
    for (r, &sum) in sums.iter().enumerate() {
        if sum > out.max_norm * out.max_norm {
            out.max_norm = sum.sqrt();
            out.max_row = r;
        }
        let scale = match metric {
            Metric::Dot => 1.0,
            Metric::Cosine if sum < MIN_NORM * MIN_NORM => match zero {
                ZeroVectors::Error => {
                    return Err(Error::row(
                        path,
                        first_row + r as u64,
                        ids.get(r).map(String::as_str),
                        "zero vector (norm below 2⁻¹²⁶ ≈ 1.2e-38) cannot be normalised for the cosine metric (use `zero_vectors` zero to score it 0, `metric` dot, or drop the row)",
                    ))
                }
                ZeroVectors::Zero => {
                    out.zeros += 1;
                    0.0
                }
            },
            Metric::Cosine => (1.0 / sum.sqrt()) as f32,
        };
        out.scales.push(scale);
    }
    Ok(out)
}

/// A sum of squares in f32 at or above this (2⁻¹⁰⁰) is exact to f32's precision: no square that
/// matters to it fell below f32's normal range. Below, the sum is taken again in f64.
const EXACT_SUM: f32 = 7.888_609e-31;

/// The smallest norm normalised for the cosine metric (2⁻¹²⁶, f32's smallest normal value):
/// its scale, 1 / norm, is then finite in f32. A smaller norm is a zero vector.
pub const MIN_NORM: f64 = 1.175_494_350_822_287_5e-38;

/// Sum of squares in eight independent f32 lanes (vectorises; f32 like faiss's normalisation).
fn sum_squares(v: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x * x;
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&x| x * x).sum();
    acc.iter().sum::<f32>() + tail
}

/// Checks that every id is unique, naming the first repeated one.
pub(crate) fn check_unique_ids(path: &Path, ids: &[String]) -> Result<()> {
    let mut seen = std::collections::HashMap::with_capacity(ids.len());
    for (row, id) in ids.iter().enumerate() {
        if let Some(first) = seen.insert(id.as_str(), row) {
            return Err(Error::row(path, row as u64, Some(id), format!("duplicate id (first seen at row {first})")));
        }
    }
    Ok(())
}
