//! Relevance judgements (qrels): TREC (`qid iter docid rel`), BEIR TSV (header
//! `query-id corpus-id score`) or parquet (`query_id`, `doc_id`, `relevance`); docs/architecture.md §3.
//!
//! The format is chosen by content (parquet magic, a BEIR header), not by extension. Graded
//! relevance is kept as is; a negative value means judged-but-excluded, as in trec_eval.

use rustc_hash::FxHashMap as HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};

/// A query or document id in qrels (a string held inline up to 24 bytes; looked up by `&str`).
pub type Id = compact_str::CompactString;

/// One query's judgements: document id → relevance.
pub type Judged = HashMap<Id, i32>;

/// Relevance at or above which a judged document counts as relevant, unless told otherwise
/// (trec_eval's `-l 1`).
pub const DEFAULT_REL_LEVEL: i32 = 1;

/// Judgements: for each query id, its judged documents and their relevance.
#[derive(Clone, Debug, Default)]
pub struct Qrels {
    /// The file they came from.
    pub path: PathBuf,
    /// query id → (doc id → relevance), with a fast non-cryptographic hash (labeling looks ids
    /// up once per scored row). Ids up to 24 bytes are held inline: reading and freeing 200,000
    /// judgements makes no allocation per judgement.
    pub judged: HashMap<Id, Judged>,
}

impl Qrels {
    /// The relevance of `doc` for `query`, if judged.
    pub fn get(&self, query: &str, doc: &str) -> Option<i32> {
        self.judged.get(query)?.get(doc).copied()
    }

    /// How many documents are relevant (relevance ≥ `rel_level`) for `query`.
    pub fn relevant_count(&self, query: &str, rel_level: i32) -> u32 {
        self.judged.get(query).map_or(0, |d| d.values().filter(|&&r| r >= rel_level).count() as u32)
    }

    /// Number of (query, doc) judgements.
    pub fn len(&self) -> usize {
        self.judged.values().map(HashMap::len).sum()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a judgement; `at` names where it was read (a line or a row) for the error.
    fn insert(&mut self, q: &str, d: &str, rel: i32, at: impl FnOnce(&Path, Option<&str>, String) -> Error) -> Result<()> {
        let docs = match self.judged.get_mut(q) {
            Some(docs) => docs,
            None => self.judged.entry(Id::from(q)).or_default(),
        };
        judge(docs, d, rel).map_err(|why| at(&self.path, Some(d), why))
    }
}

/// Adds document `d`'s grade to one query's judgements; a second grade that differs from the
/// first is refused with why.
fn judge(docs: &mut Judged, d: &str, rel: i32) -> std::result::Result<(), String> {
    // One lookup: an id of up to 24 bytes is made without allocating.
    match docs.entry(Id::from(d)) {
        std::collections::hash_map::Entry::Occupied(e) if *e.get() != rel => {
            Err(format!("judged twice for the same query, with relevance {} and {rel}", e.get()))
        }
        std::collections::hash_map::Entry::Occupied(_) => Ok(()),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(rel);
            Ok(())
        }
    }
}

/// Reads qrels in any accepted format.
pub fn read_qrels(path: &Path) -> Result<Qrels> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut q = Qrels { path: path.to_path_buf(), judged: HashMap::default() };
    if bytes.starts_with(b"PAR1") {
        read_parquet(path, &mut q)?;
    } else {
        let text = crate::text::text_of(path, bytes)?;
        read_text(path, &text, &mut q)?;
    }
    if q.is_empty() {
        return Err(Error::format(path, "no judgements"));
    }
    Ok(q)
}

/// A relevance grade: an integer in i32's range, written as an integer or as a number with an
/// integral value (`1.0`). A fraction or an out-of-range value is refused with `why`.
/// `v` as a grade; `text` is how the file wrote it (a huge integer is named as written, not
/// as f64 rounds it).
fn grade(v: f64, text: &dyn Fn() -> String) -> std::result::Result<i32, String> {
    if v.fract() != 0.0 || !v.is_finite() {
        Err(format!("relevance {} is not an integer grade", text()))
    } else if v < f64::from(i32::MIN) || v > f64::from(i32::MAX) {
        Err(format!("relevance {} is outside the range of a grade ({} to {})", text(), i32::MIN, i32::MAX))
    } else {
        Ok(v as i32)
    }
}

/// How the lines of a qrels text file are split: TREC's `qid iter docid rel` (whitespace), or
/// BEIR's TSV with the columns its header names.
#[derive(Clone, Copy)]
enum Layout {
    Trec,
    Beir { qc: usize, dc: usize, rc: usize, fields: usize },
}

/// One judgement as read: its 1-based line, query, document and grade.
type Judgement<'a> = (u64, &'a str, &'a str, i32);

fn read_text(path: &Path, text: &str, q: &mut Qrels) -> Result<()> {
    use rayon::prelude::*;
    let Some((first_at, first)) = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty()) else {
        return Ok(());
    };
    // BEIR's TSV: a header names the columns (query-id, corpus-id, score) in any order, others
    // ignored; TREC's qrels: `qid iter docid rel`, whitespace-separated, no header.
    let head: Vec<String> = first.split('\t').map(|h| h.trim().to_ascii_lowercase()).collect();
    let col = |name: &str| head.iter().position(|h| h == name);
    let (layout, header) = match (col("query-id"), col("corpus-id")) {
        (Some(qc), Some(dc)) => {
            let rc = col("score").or(if head.len() == 3 { (0..3).find(|&i| i != qc && i != dc) } else { None });
            let Some(rc) = rc else {
                return Err(Error::line(path, 1, None, "the header names query-id and corpus-id but no score column"));
            };
            (Layout::Beir { qc, dc, rc, fields: head.len() }, Some(first_at as u64))
        }
        _ => (Layout::Trec, None),
    };
    // Chunks of whole lines are parsed in parallel; the first bad line in file order is the error.
    let chunks = line_chunks(text, 4 * rayon::current_num_threads());
    let parsed: Vec<Result<Vec<Judgement>>> =
        chunks.par_iter().map(|&(lo, hi, line0)| parse_lines(path, text.get(lo..hi).unwrap_or_default(), line0, header, layout)).collect();
    // The chunks' judgements stay where they were parsed (joined, they would be copied whole).
    let parsed: Vec<Vec<Judgement>> = parsed.into_iter().collect::<Result<_>>()?;
    // Judgements usually come grouped by query: each group's map is built on its own (in
    // parallel, at its size); a query met again in another place (a chunk's first group
    // continuing the one before it, too) joins its first map line by line, so that a
    // conflicting grade is named at its line.
    let groups: Vec<&[Judgement]> = parsed.iter().flat_map(|p| p.chunk_by(|a, b| a.1 == b.1)).collect();
    let maps: Vec<Result<Judged>> = groups.par_iter().map(|g| group_map(path, g)).collect();
    q.judged.reserve(groups.len());
    for (group, map) in groups.iter().zip(maps) {
        let Some(&(_, qid, _, _)) = group.first() else { continue };
        if q.judged.contains_key(qid) {
            for &(n, qid, did, rel) in group.iter() {
                q.insert(qid, did, rel, |p, id, m| Error::line(p, n, id, m))?;
            }
        } else {
            q.judged.insert(Id::from(qid), map?);
        }
    }
    Ok(())
}

/// `text` cut into about `n` pieces of whole lines: (first byte, end byte, index of the first
/// line in the whole text).
fn line_chunks(text: &str, n: usize) -> Vec<(usize, usize, u64)> {
    let bytes = text.as_bytes();
    let size = (bytes.len() / n.max(1)).max(1 << 16);
    let (mut out, mut lo, mut line) = (Vec::new(), 0, 0u64);
    while lo < bytes.len() {
        let cut = (lo + size).min(bytes.len());
        let hi = bytes.get(cut..).and_then(|tail| tail.iter().position(|&b| b == b'\n')).map_or(bytes.len(), |p| cut + p + 1);
        out.push((lo, hi, line));
        line += bytes.get(lo..hi).map_or(0, |c| c.iter().filter(|&&b| b == b'\n').count()) as u64;
        lo = hi;
    }
    out
}

/// The judgements of the lines of `chunk` (whose first line is line `line0` of the file, from
/// 0), skipping blank lines and the `header` line.
fn parse_lines<'a>(path: &Path, chunk: &'a str, line0: u64, header: Option<u64>, layout: Layout) -> Result<Vec<Judgement<'a>>> {
    let mut out = Vec::with_capacity(chunk.len() / 24);
    for (i, line) in chunk.lines().enumerate() {
        let at = line0 + i as u64;
        if Some(at) == header || line.trim().is_empty() {
            continue;
        }
        let n = at + 1;
        let (qid, did, rel) = match layout {
            Layout::Beir { qc, dc, rc, fields } => {
                let f: Vec<&str> = line.split('\t').map(str::trim).collect();
                match (f.get(qc), f.get(dc), f.get(rc)) {
                    (Some(q), Some(d), Some(r)) if f.len() == fields => (*q, *d, *r),
                    _ => {
                        let why = format!("expected {fields} tab-separated fields as the header names them, found {}", f.len());
                        return Err(Error::line(path, n, None, why));
                    }
                }
            }
            Layout::Trec => {
                let mut f = line.split_whitespace();
                match (f.next(), f.next(), f.next(), f.next(), f.next()) {
                    (Some(q), Some(_iter), Some(d), Some(r), None) => (q, d, r),
                    _ => {
                        let found = line.split_whitespace().count();
                        return Err(Error::line(path, n, None, format!("expected 4 fields (qid iter docid rel), found {found}")));
                    }
                }
            }
        };
        // Integers as they are; a number with an integral value (`1.0`) through f64.
        let rel = match rel.parse::<i32>() {
            Ok(r) => r,
            Err(_) => {
                let value: f64 = rel.parse().map_err(|_| Error::line(path, n, Some(did), format!("relevance {rel:?} is not a number")))?;
                grade(value, &|| rel.trim().to_owned()).map_err(|why| Error::line(path, n, Some(did), why))?
            }
        };
        if qid.is_empty() || did.is_empty() {
            return Err(Error::line(path, n, None, "empty query or document id"));
        }
        out.push((n, qid, did, rel));
    }
    Ok(out)
}

/// One query's judgements (a group of consecutive lines) as a map, refusing a document judged
/// twice with different grades at the second line.
fn group_map(path: &Path, group: &[Judgement]) -> Result<Judged> {
    let mut docs = Judged::default();
    docs.reserve(group.len());
    for &(n, _, did, rel) in group {
        judge(&mut docs, did, rel).map_err(|why| Error::line(path, n, Some(did), why))?;
    }
    Ok(docs)
}

fn read_parquet(path: &Path, q: &mut Qrels) -> Result<()> {
    crate::error::decoding(path, || read_parquet_unguarded(path, q))
}

fn read_parquet_unguarded(path: &Path, q: &mut Qrels) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))?;
    let schema = builder.schema().clone();
    let idx = |name: &str| {
        schema
            .index_of(name)
            .map_err(|_| Error::format(path, format!("qrels parquet needs columns query_id, doc_id, relevance; {name} is missing")))
    };
    let (qi, di, ri) = (idx("query_id")?, idx("doc_id")?, idx("relevance")?);
    let reader = builder.build().map_err(|e| Error::parquet(path, e))?;
    let mut row = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(path, e))?;
        let as_str = |i: usize| -> Result<Vec<Option<String>>> {
            let c = arrow::compute::cast(batch.column(i), &DataType::Utf8)
                .map_err(|e| Error::format(path, format!("column {}: {e}", schema.field(i).name())))?;
            Ok(c.as_string::<i32>().iter().map(|s| s.map(str::to_owned)).collect())
        };
        let qs = as_str(qi)?;
        let ds = as_str(di)?;
        let rel_col = batch.column(ri);
        if !rel_col.data_type().is_numeric() {
            return Err(Error::format(path, format!("relevance column has type {}; expected a number", rel_col.data_type())));
        }
        let rels = arrow::compute::cast(rel_col, &DataType::Float64).map_err(|e| Error::format(path, e.to_string()))?;
        let rels = rels.as_primitive::<Float64Type>();
        for (i, (qid, did)) in qs.iter().zip(&ds).enumerate() {
            let (Some(qid), Some(did)) = (qid, did) else {
                return Err(Error::row(path, row + i as u64, None, "null query_id or doc_id"));
            };
            if rels.is_null(i) {
                return Err(Error::row(path, row + i as u64, Some(did), "null relevance"));
            }
            let written = || arrow::util::display::array_value_to_string(rel_col, i).unwrap_or_default();
            let rel = grade(rels.value(i), &written).map_err(|why| Error::row(path, row + i as u64, Some(did), why))?;
            q.insert(qid, did, rel, |p, id, m| Error::row(p, row + i as u64, id, m))?;
        }
        row += batch.num_rows() as u64;
    }
    Ok(())
}
