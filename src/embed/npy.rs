//! `.npy` embeddings: a 2-D float16/float32/float64 array in C order, read in row ranges.
//! Ids are row numbers unless an ids file (one id a line) is given.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::{ChunkSource, EmbeddingChunk, ReadOptions};
use crate::error::{Error, Result};

/// The largest vector dimension read (2²⁴ values).
pub const MAX_DIM: u64 = 1 << 24;

#[derive(Clone, Copy)]
enum Dtype {
    F16,
    F32,
    F64,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F16 => 2,
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

pub(crate) struct NpySource {
    path: PathBuf,
    data_start: u64,
    reader: BufReader<File>,
    dtype: Dtype,
    big_endian: bool,
    rows: u64,
    dim: usize,
    next_row: u64,
    chunk_rows: usize,
    ids: Option<Vec<String>>,
    buf: Vec<u8>,
}

impl NpySource {
    pub(crate) fn open(path: &Path, opts: &ReadOptions) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let Header { data_start, dtype, big_endian, rows, dim } = read_header(&mut reader, path)?;
        let need = rows.saturating_mul(dim).saturating_mul(dtype.size() as u64);
        // Every size the header claims is checked against the file before anything is allocated.
        if file_len < data_start.saturating_add(need) {
            return Err(Error::format(
                path,
                format!("truncated: {rows}×{dim} values need {need} bytes, the file holds {}", file_len.saturating_sub(data_start)),
            ));
        }
        let ids = opts.ids_file.as_deref().map(|p| read_ids(p, rows, path)).transpose()?;
        reader.seek(SeekFrom::Start(data_start)).map_err(|e| Error::io(path, e))?;
        Ok(NpySource {
            data_start,
            path: path.to_path_buf(),
            reader,
            dtype,
            big_endian,
            rows,
            dim: dim as usize,
            next_row: 0,
            chunk_rows: opts.rows_per_chunk(dim as usize),
            ids,
            buf: Vec::new(),
        })
    }
}

/// What a .npy header says of its array.
struct Header {
    /// Where the values start in the file.
    data_start: u64,
    dtype: Dtype,
    big_endian: bool,
    rows: u64,
    dim: u64,
}

/// Reads and checks the header of the .npy file at `path`: a 2-D float array in C order, of a
/// dimension simcal reads.
// Long: one check per field of a .npy header, in the header's order.
fn read_header(reader: &mut impl Read, path: &Path) -> Result<Header> {
    let bad = |m: &str| Error::format(path, format!("not a valid .npy file: {m}"));
    let mut pre = [0u8; 8];
    reader.read_exact(&mut pre).map_err(|_| bad("too short"))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(bad("bad magic"));
    }
    let header_len = match pre[6] {
        1 => {
            let mut b = [0u8; 2];
            reader.read_exact(&mut b).map_err(|_| bad("truncated header"))?;
            u16::from_le_bytes(b) as usize
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            reader.read_exact(&mut b).map_err(|_| bad("truncated header"))?;
            u32::from_le_bytes(b) as usize
        }
        v => return Err(bad(&format!("unknown format version {v}"))),
    };
    if header_len > 1 << 20 {
        return Err(bad("header too long"));
    }
    let mut header = vec![0u8; header_len];
    reader.read_exact(&mut header).map_err(|_| bad("truncated header"))?;
    let header = String::from_utf8_lossy(&header).into_owned();
    let descr = dict_value(&header, "descr").ok_or_else(|| bad("no descr in header"))?;
    if descr.starts_with('[') {
        return Err(Error::format(path, "array has a structured dtype (named fields); save a plain 2-D float array"));
    }
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (big_endian, dtype) = match descr {
        "<f2" | "=f2" => (false, Dtype::F16),
        ">f2" => (true, Dtype::F16),
        "<f4" | "=f4" => (false, Dtype::F32),
        ">f4" => (true, Dtype::F32),
        "<f8" | "=f8" => (false, Dtype::F64),
        ">f8" => (true, Dtype::F64),
        other => return Err(Error::format(path, format!("array dtype {other} is not float16, float32 or float64"))),
    };
    if dict_value(&header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(Error::format(path, "array is in Fortran order; save it in C order (np.ascontiguousarray)"));
    }
    let shape = dict_value(&header, "shape").ok_or_else(|| bad("no shape in header"))?;
    let dims: Vec<u64> = shape
        .trim_start_matches('(')
        .split([',', ')'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().map_err(|_| bad("bad shape")))
        .collect::<Result<_>>()?;
    let [rows, dim] = dims[..] else {
        return Err(Error::format(path, format!("array has shape {shape}; expected 2 dimensions (rows, dim)")));
    };
    if dim == 0 {
        return Err(Error::format(path, "array has dimension 0"));
    }
    if dim > MAX_DIM {
        return Err(Error::format(path, format!("array has dimension {dim}; simcal reads vectors of at most {MAX_DIM} values")));
    }
    let data_start = 8 + if pre[6] == 1 { 2 } else { 4 } + header_len as u64;
    Ok(Header { data_start, dtype, big_endian, rows, dim })
}

/// Reads the ids file at `p` (one id per line) for the `rows` rows of the array at `path`:
/// one non-empty, distinct id per row, a bad line named.
fn read_ids(p: &Path, rows: u64, path: &Path) -> Result<Vec<String>> {
    let text = crate::text::read_text(p)?;
    let ids: Vec<String> = text.lines().map(|l| l.trim_end_matches('\r').to_owned()).collect();
    if ids.len() as u64 != rows {
        return Err(Error::format(
            p,
            format!(
                "{} for {} of {}",
                crate::words::count(ids.len(), "id", "ids"),
                crate::words::count(rows, "row", "rows"),
                path.display()
            ),
        ));
    }
    if let Some(i) = ids.iter().position(String::is_empty) {
        return Err(Error::line(p, i as u64 + 1, None, "empty id"));
    }
    // A repeated id is the ids file's fault: named there, by line.
    let mut seen = std::collections::HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if let Some(first) = seen.insert(id.as_str(), i) {
            return Err(Error::line(p, i as u64 + 1, Some(id), format!("duplicate id (first at line {})", first + 1)));
        }
    }
    Ok(ids)
}

fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'")).or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('(') {
        let end = rest.find(')')?;
        Some(&rest[..=end])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim())
    }
}

impl NpySource {
    /// Moves to `row` (at most the row count): the next chunk starts there.
    pub(crate) fn seek_row(&mut self, row: u64) -> Result<()> {
        let row = row.min(self.rows);
        let at = self.data_start + row * self.dim as u64 * self.dtype.size() as u64;
        self.reader.seek(SeekFrom::Start(at)).map_err(|e| Error::io(&self.path, e))?;
        self.next_row = row;
        Ok(())
    }
}

impl ChunkSource for NpySource {
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
        if self.next_row >= self.rows {
            return Ok(None);
        }
        let first = self.next_row;
        let n = (self.rows - first).min(self.chunk_rows as u64) as usize;
        let count = n * self.dim;
        self.buf.resize(count * self.dtype.size(), 0);
        self.reader.read_exact(&mut self.buf).map_err(|e| Error::io(&self.path, e))?;
        let mut out = vec![0f32; count];
        let b = &self.buf;
        match (self.dtype, self.big_endian) {
            (Dtype::F32, false) => out.iter_mut().zip(b.as_chunks::<4>().0).for_each(|(o, &c)| *o = f32::from_le_bytes(c)),
            (Dtype::F32, true) => out.iter_mut().zip(b.as_chunks::<4>().0).for_each(|(o, &c)| *o = f32::from_be_bytes(c)),
            (Dtype::F64, be) => out
                .iter_mut()
                .zip(b.as_chunks::<8>().0)
                .for_each(|(o, &c)| *o = if be { f64::from_be_bytes(c) } else { f64::from_le_bytes(c) } as f32),
            (Dtype::F16, be) => out.iter_mut().zip(b.as_chunks::<2>().0).for_each(|(o, &c)| {
                let bits = if be { u16::from_be_bytes(c) } else { u16::from_le_bytes(c) };
                *o = half::f16::from_bits(bits).to_f32()
            }),
        }
        let ids = match &self.ids {
            Some(all) => all
                .get(first as usize..first as usize + n)
                .ok_or_else(|| {
                    Error::format(
                        &self.path,
                        format!("{} for {}", crate::words::count(all.len(), "id", "ids"), crate::words::count(self.rows, "row", "rows")),
                    )
                })?
                .to_vec(),
            None => (first..first + n as u64).map(|r| r.to_string()).collect(),
        };
        self.next_row += n as u64;
        let vectors = Array2::from_shape_vec((n, self.dim), out).map_err(|e| Error::format(&self.path, e.to_string()))?;
        Ok(Some(EmbeddingChunk { first_row: first, ids, vectors }))
    }
}
