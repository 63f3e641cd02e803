//! TREC run files: `qid Q0 docid rank score tag`, one line per hit. Scores are printed in the
//! shortest form that reads back to the same float32.

use std::io::Write;
use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::{Float32Type, UInt32Type};

use super::{columns, ScoreTable};
use crate::error::{Error, Result};
use crate::output::write_atomic;

/// Writes a score table as a TREC run, atomically; `tag` is the run's name (the model).
pub fn write_trec(table: &ScoreTable, path: &Path, tag: &str) -> Result<()> {
    let b = &table.batch;
    let col = |name: &str| b.column_by_name(name).ok_or_else(|| Error::Invalid(format!("score table has no {name} column")));
    let q = col(columns::QUERY_ID)?.as_string::<i32>();
    let d = col(columns::DOC_ID)?.as_string::<i32>();
    let r = col(columns::RANK)?.as_primitive::<UInt32Type>();
    let s = col(columns::SCORE)?.as_primitive::<Float32Type>();
    // The tag is one field: a model name's whitespace becomes '_' (it stays recognisable).
    let tag: String =
        if tag.is_empty() { "simcal".to_owned() } else { tag.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect() };
    write_atomic(path, |w| {
        for i in 0..b.num_rows() {
            let (qid, did) = (q.value(i), d.value(i));
            for id in [qid, did] {
                if id.is_empty() || id.contains(char::is_whitespace) {
                    return Err(Error::Invalid(format!(
                        "id {id:?} (row {i} of the table) cannot be written to a TREC run: TREC fields are separated by whitespace"
                    )));
                }
            }
            writeln!(w, "{qid} Q0 {did} {} {} {tag}", r.value(i), s.value(i)).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

/// Whether `path` is a parquet file (by its magic bytes) rather than text such as a TREC run.
pub fn is_parquet(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    Ok(n == 4 && &magic == b"PAR1")
}

/// A TREC run as a score table (`query_id`, `doc_id`, `rank`, `score`, in file order) named
/// after its tag. The `score` column is float32, as in every score table (a score beyond its
/// range saturates to the largest float32); the scores as written are kept beside it
/// ([`ScoreTable::exact_scores`]), and the ranking measures order by them, as trec_eval does.
pub fn trec_table(path: &Path, run: TrecRun) -> Result<ScoreTable> {
    use arrow::array::{ArrayRef, Float32Array, UInt32Array};
    use std::sync::Arc;
    let TrecRun { query_id, doc_id, rank, score, tag, .. } = run;
    let narrow: Float32Array = score.iter().map(|&s| Some((s as f32).clamp(f32::MIN, f32::MAX))).collect();
    let batch = arrow::record_batch::RecordBatch::try_from_iter([
        (columns::QUERY_ID, Arc::new(query_id) as ArrayRef),
        (columns::DOC_ID, Arc::new(doc_id) as ArrayRef),
        (columns::RANK, Arc::new(UInt32Array::from(rank)) as ArrayRef),
        (columns::SCORE, Arc::new(narrow) as ArrayRef),
    ])
    .map_err(|e| Error::format(path, e.to_string()))?;
    let meta = super::TableMeta { model: tag, ..Default::default() };
    Ok(ScoreTable::new(batch, meta).with_exact_scores(score))
}

/// A TREC run read into columns, one entry per non-blank line, in file order.
#[derive(Clone, Debug)]
pub struct TrecRun {
    /// Query ids.
    pub query_id: arrow::array::StringArray,
    /// Document ids.
    pub doc_id: arrow::array::StringArray,
    /// The rank field.
    pub rank: Vec<u32>,
    /// Scores, parsed as f64 (the text's own precision).
    pub score: Vec<f64>,
    /// The run's tag (the last field of its first line).
    pub tag: String,
    /// Each entry's 1-based line number.
    pub line: Vec<u64>,
}

/// Reads a TREC run (`qid Q0 docid rank score tag`, whitespace separated), as trec_eval reads
/// one: blank lines and lines starting with `#` are skipped, and fields after the sixth are
/// ignored. Refuses a line with fewer fields, a rank that is not a non-negative integer or a
/// score that is not a finite number, naming the file and line.
pub fn read_trec(path: &Path) -> Result<TrecRun> {
    use arrow::array::StringBuilder;
    let text = crate::text::read_text(path)?;
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut qid = StringBuilder::with_capacity(lines, lines * 4);
    let mut did = StringBuilder::with_capacity(lines, lines * 8);
    let (mut rank, mut score, mut line) = (Vec::with_capacity(lines), Vec::with_capacity(lines), Vec::with_capacity(lines));
    let mut tag = String::new();
    for (n, l) in text.lines().enumerate() {
        let n = n as u64 + 1;
        let mut f = l.split_ascii_whitespace();
        let fields: [Option<&str>; 6] = std::array::from_fn(|_| f.next());
        let [Some(q), Some(_), Some(d), Some(r), Some(s), Some(t)] = fields else {
            if fields[0].is_none_or(|f| f.starts_with('#')) {
                continue;
            }
            return Err(Error::line(path, n, None, "expected 6 fields: qid Q0 docid rank score tag"));
        };
        if q.starts_with('#') {
            continue;
        }
        let r: u32 = r.parse().map_err(|_| Error::line(path, n, Some(d), format!("rank {r:?} is not a non-negative integer")))?;
        let s: f64 = s.parse().map_err(|_| Error::line(path, n, Some(d), format!("score {s:?} is not a number")))?;
        if !s.is_finite() {
            return Err(Error::line(path, n, Some(d), format!("score {s} is not finite")));
        }
        if tag.is_empty() {
            tag = t.to_owned();
        }
        qid.append_value(q);
        did.append_value(d);
        rank.push(r);
        score.push(s);
        line.push(n);
    }
    Ok(TrecRun { query_id: qid.finish(), doc_id: did.finish(), rank, score, tag, line })
}
