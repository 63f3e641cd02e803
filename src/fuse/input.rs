//! The lists to fuse: score tables or TREC runs, read into the columns fusion needs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringArray, UInt32Array};
use arrow::buffer::ScalarBuffer;
use arrow::compute::cast;
use arrow::datatypes::FieldRef;
use arrow::datatypes::{DataType, Float64Type, Int32Type, UInt32Type};

use crate::error::{Error, Result};
use crate::table::{columns, is_parquet, read_table_wide, read_trec, sha256_file, ScoreTable, TableMeta};

/// What kind of file a run came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunFormat {
    /// A simcal score table (parquet).
    Table,
    /// A TREC run (text).
    Trec,
}

crate::choice::choice!(RunFormat => "run format");

/// One input list: per row its query, document and score, with labels and carried columns
/// when it is a labeled score table.
#[derive(Clone, Debug)]
pub struct RunInput {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: RunFormat,
    /// Its name: the table's model, the run's tag, or the file's stem.
    pub name: String,
    /// sha256 of the file.
    pub sha256: String,
    /// The table's metadata (score tables only).
    pub meta: Option<TableMeta>,
    /// Query ids.
    pub query_id: StringArray,
    /// Document ids.
    pub doc_id: StringArray,
    /// Scores (the table's own float64 buffer, shared, when it has one).
    pub score: ScalarBuffer<f64>,
    /// Graded relevance (score tables with labels only).
    pub label: Option<Int32Array>,
    /// Relevant documents per query (score tables only).
    pub query_relevant: Option<UInt32Array>,
    /// The table's other columns (per-query values such as `section`).
    pub carried: Vec<(FieldRef, ArrayRef)>,
    /// 1-based line numbers (TREC runs), for messages.
    lines: Option<Vec<u64>>,
}

impl RunInput {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.score.len()
    }

    /// True when the run has no rows.
    pub fn is_empty(&self) -> bool {
        self.score.is_empty()
    }

    /// An error about `row`, naming its line in a TREC run.
    pub(crate) fn row_error(&self, row: usize, message: impl Into<String>) -> Error {
        let id = Some(self.doc_id.value(row));
        match self.lines.as_ref().and_then(|l| l.get(row)) {
            Some(&line) => Error::line(&self.path, line, id, message),
            None => Error::row(&self.path, row as u64, id, message),
        }
    }

    /// How a row is named in messages: `row R` in a table, `line L` in a TREC run.
    pub(crate) fn where_is(&self, row: usize) -> String {
        match self.lines.as_ref().and_then(|l| l.get(row)) {
            Some(line) => format!("line {line}"),
            None => format!("row {row}"),
        }
    }
}

impl RunInput {
    /// A run held in memory (rows of one query together, each query's rows in rank order),
    /// which `name` stands for in messages: unlabeled, as a TREC run is. Non-finite scores
    /// are refused with their row.
    pub fn from_rows(name: &str, query_id: StringArray, doc_id: StringArray, score: Vec<f64>) -> Result<RunInput> {
        let path = PathBuf::from(name);
        if query_id.len() != score.len() || doc_id.len() != score.len() {
            return Err(Error::format(&path, "query ids, document ids and scores differ in length"));
        }
        if let Some((r, s)) = score.iter().enumerate().find(|(_, s)| !s.is_finite()) {
            return Err(Error::row(&path, r as u64, Some(doc_id.value(r)), format!("score {s} is not finite")));
        }
        Ok(RunInput {
            path,
            format: RunFormat::Trec,
            name: name.to_owned(),
            sha256: String::new(),
            meta: None,
            query_id,
            doc_id,
            score: score.into(),
            label: None,
            query_relevant: None,
            carried: Vec::new(),
            lines: None,
        })
    }
}

/// Reads a score table or a TREC run (told apart by parquet's magic bytes), refusing
/// non-finite scores (an empty run is refused by [`super::fuse`]).
pub fn read_run(path: &Path) -> Result<RunInput> {
    let (run, sha) = rayon::join(|| read_any(path), || sha256_file(path));
    let mut run = run?;
    run.sha256 = sha?;
    Ok(run)
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn read_any(path: &Path) -> Result<RunInput> {
    if !is_parquet(path)? {
        let t = read_trec(path)?;
        let name = if t.tag.is_empty() { stem(path) } else { t.tag };
        return Ok(RunInput {
            path: path.to_path_buf(),
            format: RunFormat::Trec,
            name,
            sha256: String::new(),
            meta: None,
            query_id: t.query_id,
            doc_id: t.doc_id,
            score: t.score.into(),
            label: None,
            query_relevant: None,
            carried: Vec::new(),
            lines: Some(t.line),
        });
    }
    RunInput::from_table(path, read_table_wide(path)?)
}

impl RunInput {
    /// The run in a score table that `path` names in messages (its file, or the argument it
    /// came from): ids as text, scores widened to f64 and refused where not finite, labels and
    /// other columns carried; named after the table's model, else the path's stem.
    pub fn from_table(path: &Path, table: ScoreTable) -> Result<RunInput> {
        let b = &table.batch;
        let schema = b.schema();
        let column = |name: &str, to: &DataType| -> Result<Option<ArrayRef>> {
            match b.column_by_name(name) {
                None => Ok(None),
                Some(c) => cast(c, to).map(Some).map_err(|e| Error::format(path, format!("column {name}: {e}"))),
            }
        };
        let text = |name: &str| -> Result<StringArray> {
            let c = column(name, &DataType::Utf8)?.ok_or_else(|| Error::format(path, format!("score table has no {name} column")))?;
            Ok(c.as_string::<i32>().clone())
        };
        let (query_id, doc_id) = (text(columns::QUERY_ID)?, text(columns::DOC_ID)?);
        for (name, c) in [(columns::QUERY_ID, &query_id), (columns::DOC_ID, &doc_id)] {
            if let Some(r) = c.nulls().and_then(|n| n.iter().position(|valid| !valid)) {
                return Err(Error::row(path, r as u64, None, format!("{name} is null")));
            }
        }
        let score = column(columns::SCORE, &DataType::Float64)?.ok_or_else(|| Error::format(path, "score table has no score column"))?;
        let score = score.as_primitive::<Float64Type>();
        // Without nulls, the values alone decide (a vectorised scan).
        let bad = match score.nulls() {
            None => score.values().iter().position(|x| !x.is_finite()),
            Some(_) => (0..score.len()).find(|&r| score.is_null(r) || !score.value(r).is_finite()),
        };
        if let Some(r) = bad {
            let what = if score.is_null(r) { "null".to_owned() } else { score.value(r).to_string() };
            return Err(Error::row(path, r as u64, Some(doc_id.value(r)), format!("score {what} is not a finite number")));
        }
        let label =
            column(columns::LABEL, &DataType::Int32)?.map(|c| c.as_primitive::<Int32Type>().clone()).filter(|l| l.null_count() < l.len());
        let query_relevant = column(columns::QUERY_RELEVANT, &DataType::UInt32)?
            .map(|c| c.as_primitive::<UInt32Type>().clone())
            .filter(|l| l.null_count() < l.len());
        let standard = [columns::QUERY_ID, columns::DOC_ID, columns::RANK, columns::SCORE, columns::LABEL, columns::QUERY_RELEVANT];
        let carried = schema
            .fields()
            .iter()
            .zip(b.columns())
            .filter(|(f, _)| !standard.contains(&f.name().as_str()))
            .map(|(f, c)| (Arc::clone(f), Arc::clone(c)))
            .collect();
        let name = if table.meta.model.is_empty() { stem(path) } else { table.meta.model.clone() };
        Ok(RunInput {
            path: path.to_path_buf(),
            format: RunFormat::Table,
            name,
            sha256: String::new(),
            query_id,
            doc_id,
            score: score.values().clone(),
            label,
            query_relevant,
            carried,
            meta: Some(table.meta),
            lines: None,
        })
    }
}
