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

/// Relevance at or above which a judged document counts as relevant, unless told otherwise
/// (trec_eval's `-l 1`).
pub const DEFAULT_REL_LEVEL: i32 = 1;

/// Judgements: for each query id, its judged documents and their relevance.
#[derive(Clone, Debug, Default)]
pub struct Qrels {
    /// The file they came from.
    pub path: PathBuf,
    /// query id → (doc id → relevance), with a fast non-cryptographic hash (ids are looked up
    /// once per scored row).
    pub judged: HashMap<String, HashMap<String, i32>>,
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
    fn insert(&mut self, q: String, d: String, rel: i32, at: impl FnOnce(&Path, Option<&str>, String) -> Error) -> Result<()> {
        let docs = self.judged.entry(q).or_default();
        if let Some(prev) = docs.insert(d.clone(), rel) {
            if prev != rel {
                return Err(at(&self.path, Some(&d), format!("judged twice for the same query, with relevance {prev} and {rel}")));
            }
        }
        Ok(())
    }
}

/// Reads qrels in any accepted format.
pub fn read_qrels(path: &Path) -> Result<Qrels> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut q = Qrels { path: path.to_path_buf(), judged: HashMap::default() };
    if bytes.starts_with(b"PAR1") {
        read_parquet(path, &mut q)?;
    } else {
        let text = std::str::from_utf8(&bytes).map_err(|e| Error::format(path, format!("not UTF-8 text: {e}")))?;
        read_text(path, text, &mut q)?;
    }
    if q.is_empty() {
        return Err(Error::format(path, "no judgements"));
    }
    Ok(q)
}

/// A relevance grade: an integer in i32's range, written as an integer or as a number with an
/// integral value (`1.0`). A fraction or an out-of-range value is refused with `why`.
fn grade(v: f64) -> std::result::Result<i32, String> {
    if v.fract() != 0.0 || !v.is_finite() {
        Err(format!("relevance {v} is not an integer grade"))
    } else if v < f64::from(i32::MIN) || v > f64::from(i32::MAX) {
        Err(format!("relevance {v} is outside the range of a grade ({} to {})", i32::MIN, i32::MAX))
    } else {
        Ok(v as i32)
    }
}

fn read_text(path: &Path, text: &str, q: &mut Qrels) -> Result<()> {
    // A byte-order mark (as some editors write) is not part of the first id.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.clone().next() else {
        return Ok(());
    };
    // BEIR's TSV: a header names the columns (query-id, corpus-id, score) in any order, others
    // ignored; TREC's qrels: `qid iter docid rel`, whitespace-separated, no header.
    let head: Vec<String> = first.split('\t').map(|h| h.trim().to_ascii_lowercase()).collect();
    let col = |name: &str| head.iter().position(|h| h == name);
    let beir = match (col("query-id"), col("corpus-id")) {
        (Some(qc), Some(dc)) => {
            let rc = col("score").or(if head.len() == 3 { (0..3).find(|&i| i != qc && i != dc) } else { None });
            let Some(rc) = rc else {
                return Err(Error::line(path, 1, None, "the header names query-id and corpus-id but no score column"));
            };
            lines.next();
            Some((qc, dc, rc))
        }
        _ => None,
    };
    for (i, line) in lines {
        let n = i as u64 + 1;
        let (qid, did, rel) = match beir {
            Some((qc, dc, rc)) => {
                let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
                match (fields.get(qc), fields.get(dc), fields.get(rc)) {
                    (Some(q), Some(d), Some(r)) if fields.len() == head.len() => (*q, *d, *r),
                    _ => {
                        return Err(Error::line(
                            path,
                            n,
                            None,
                            format!("expected {} tab-separated fields as the header names them, found {}", head.len(), fields.len()),
                        ))
                    }
                }
            }
            None => match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                [q, _iter, d, r] => (*q, *d, *r),
                fields => {
                    return Err(Error::line(path, n, None, format!("expected 4 fields (qid iter docid rel), found {}", fields.len())))
                }
            },
        };
        let value: f64 = rel.parse().map_err(|_| Error::line(path, n, Some(did), format!("relevance {rel:?} is not a number")))?;
        let rel = grade(value).map_err(|why| Error::line(path, n, Some(did), why))?;
        if qid.is_empty() || did.is_empty() {
            return Err(Error::line(path, n, None, "empty query or document id"));
        }
        q.insert(qid.to_owned(), did.to_owned(), rel, |p, id, m| Error::line(p, n, id, m))?;
    }
    Ok(())
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
            let rel = grade(rels.value(i)).map_err(|why| Error::row(path, row + i as u64, Some(did), why))?;
            q.insert(qid.clone(), did.clone(), rel, |p, id, m| Error::row(p, row + i as u64, id, m))?;
        }
        row += batch.num_rows() as u64;
    }
    Ok(())
}
