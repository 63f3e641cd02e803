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
    let tag = if tag.is_empty() || tag.contains(char::is_whitespace) { "simcal" } else { tag };
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
