//! One typed, validated view of a score table's standard columns (docs/architecture.md §4),
//! which fit, eval and apply read, instead of each pulling the columns out and checking them
//! its own way.
//!
//! [`TableView::new`] checks once what every reader relies on: a standard column that is
//! present has its standard type; `score` is there, and every score is a finite number;
//! `query_id`, `doc_id` and `rank`, where present, have no nulls. An error names the file,
//! and the first bad row with its query. What a step needs beyond that (the labels, the
//! queries, the ranks) it asks for, and a missing column is refused with the reason.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::array::{Array, AsArray, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Float32Type, Int32Type, UInt32Type};

use super::{columns, id_runs, ScoreTable};
use crate::error::{Error, Result};

/// A score table's standard columns, typed and checked.
#[derive(Clone, Copy, Debug)]
pub struct TableView<'a> {
    path: &'a Path,
    batch: &'a RecordBatch,
    /// `query_id`, where present (no nulls).
    pub query_id: Option<&'a StringArray>,
    /// `doc_id`, where present (no nulls).
    pub doc_id: Option<&'a StringArray>,
    /// `rank`, where present (no nulls).
    pub rank: Option<&'a UInt32Array>,
    /// Every row's score, finite.
    pub score: &'a [f32],
    /// Every row's score as a TREC run wrote it, where the table was read from one.
    pub exact_score: Option<&'a [f64]>,
    /// `label`, where present (null: not judged).
    pub label: Option<&'a Int32Array>,
    /// `query_relevant`, where present.
    pub query_relevant: Option<&'a UInt32Array>,
    /// The runs of `query_id`, where found once already (by the reader, or
    /// [`TableView::with_query_runs`]).
    runs: Option<&'a [(usize, usize)]>,
    /// The relevance level `query_relevant` was counted at, where the table records it.
    relevant_level: Option<&'a str>,
}

/// Rows' groups: each row's index into `keys` (key order), and each key's column values.
#[derive(Clone, Debug)]
pub struct RowGroups {
    /// Group index of every row (empty for [`RowGroups::single`]).
    pub index: Vec<u32>,
    /// Keys (`all` without group columns), ascending, with their column values.
    pub keys: Vec<(String, BTreeMap<String, String>)>,
}

impl RowGroups {
    /// Every row in the one group `all`, without an index of rows (for a reader that only needs
    /// [`RowGroups::index`]).
    pub fn single() -> RowGroups {
        RowGroups { index: Vec::new(), keys: vec![("all".to_owned(), BTreeMap::new())] }
    }

    /// The group index of every row (None: every row is in group 0).
    pub fn index(&self) -> Option<&[u32]> {
        (!self.index.is_empty()).then_some(self.index.as_slice())
    }
}

impl<'a> TableView<'a> {
    /// The view of `table`, read from `path` (named in errors).
    pub fn new(table: &'a ScoreTable, path: &'a Path) -> Result<TableView<'a>> {
        let b = &table.batch;
        let typed = |name: &str, want: &DataType| -> Result<Option<&'a dyn Array>> {
            match b.column_by_name(name) {
                None => Ok(None),
                Some(c) if c.data_type() == want => Ok(Some(c.as_ref())),
                Some(c) => Err(Error::format(path, format!("column {name} is {}, expected {want}", c.data_type()))),
            }
        };
        let query_id = typed(columns::QUERY_ID, &DataType::Utf8)?.map(|c| c.as_string::<i32>());
        let doc_id = typed(columns::DOC_ID, &DataType::Utf8)?.map(|c| c.as_string::<i32>());
        let rank = typed(columns::RANK, &DataType::UInt32)?.map(|c| c.as_primitive::<UInt32Type>());
        let score = typed(columns::SCORE, &DataType::Float32)?
            .map(|c| c.as_primitive::<Float32Type>())
            .ok_or_else(|| Error::format(path, "no score column"))?;
        let label = typed(columns::LABEL, &DataType::Int32)?.map(|c| c.as_primitive::<Int32Type>());
        let query_relevant = typed(columns::QUERY_RELEVANT, &DataType::UInt32)?.map(|c| c.as_primitive::<UInt32Type>());
        let id = |r: usize| query_id.map(|q| q.value(r));
        for (name, nulls) in [
            (columns::QUERY_ID, query_id.map(|c| c as &dyn Array)),
            (columns::DOC_ID, doc_id.map(|c| c as &dyn Array)),
            (columns::RANK, rank.map(|c| c as &dyn Array)),
        ] {
            if let Some(r) = nulls.filter(|c| c.null_count() > 0).and_then(|c| (0..c.len()).find(|&r| c.is_null(r))) {
                let q = if name == columns::QUERY_ID { None } else { id(r) };
                return Err(Error::row(path, r as u64, q, format!("{name} is null")));
            }
        }
        let values = score.values();
        let bad = if score.null_count() > 0 {
            values.iter().enumerate().position(|(r, v)| score.is_null(r) || !v.is_finite())
        } else {
            first_non_finite(values)
        };
        if let Some(r) = bad {
            let what = match values.get(r) {
                Some(v) if !score.is_null(r) => v.to_string(),
                _ => "null".to_owned(),
            };
            return Err(Error::row(path, r as u64, id(r), format!("score is {what}")));
        }
        Ok(TableView {
            path,
            batch: b,
            query_id,
            doc_id,
            rank,
            score: values,
            exact_score: table.exact_scores(),
            label,
            query_relevant,
            runs: table.query_runs(),
            relevant_level: table.meta.extra.get(super::keys::REL_LEVEL).map(String::as_str),
        })
    }

    /// The file the table was read from.
    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.score.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.score.is_empty()
    }

    /// `query_id`, refused when missing: `why` says what needs it.
    pub fn query_ids(&self, why: &str) -> Result<&'a StringArray> {
        self.query_id.ok_or_else(|| Error::format(self.path, format!("no query_id column: {why} needs the queries")))
    }

    /// `doc_id`, refused when missing.
    pub(crate) fn doc_ids(&self, why: &str) -> Result<&'a StringArray> {
        self.doc_id.ok_or_else(|| Error::format(self.path, format!("no doc_id column: {why} needs the documents")))
    }

    /// `rank`, refused when missing.
    pub fn ranks(&self, why: &str) -> Result<&'a UInt32Array> {
        self.rank.ok_or_else(|| Error::format(self.path, format!("no rank column: {why} needs the ranks")))
    }

    /// `label`, refused when missing or when it holds no label at all.
    pub fn labels(&self) -> Result<&'a Int32Array> {
        match self.label {
            Some(l) if l.null_count() < l.len() => Ok(l),
            Some(_) if self.is_empty() => Err(Error::format(self.path, "the table has no rows")),
            _ => Err(Error::format(self.path, "the table has no labels: score it with `qrels` to calibrate")),
        }
    }

    /// Refuses to count relevant documents at `level` from a `query_relevant` column counted at
    /// another level (the table records the level it was labeled at): the recall would mix one
    /// level's labels with another's totals.
    pub(crate) fn check_relevant_level(&self, level: i32) -> Result<()> {
        match self.relevant_level {
            Some(l) if self.query_relevant.is_some() && l != level.to_string() => Err(Error::format(
                self.path,
                format!(
                    "its query_relevant column counts the documents of relevance level {l} and above, but level {level} is asked for: give the qrels again (they relabel the table at level {level}), or ask for level {l}"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses a document listed twice for one query (its pair would count twice), naming the
    /// second row; nothing to check without `doc_id` and `query_id`.
    pub(crate) fn check_unique_docs(&self) -> Result<()> {
        use rayon::prelude::*;
        let (Some(qid), Some(did)) = (self.query_id, self.doc_id) else { return Ok(()) };
        let runs = self.query_runs("documents per query")?;
        let twice = runs
            .par_iter()
            .with_min_len(256)
            .map_init(rustc_hash::FxHashSet::<&str>::default, |seen, &(lo, hi)| {
                seen.clear();
                (lo..hi).find(|&r| !seen.insert(did.value(r)))
            })
            .find_first(Option::is_some)
            .flatten();
        match twice {
            Some(r) => Err(Error::row(
                self.path,
                r as u64,
                Some(qid.value(r)),
                format!("document {} is listed twice for this query", crate::error::quoted(did.value(r))),
            )),
            None => Ok(()),
        }
    }

    /// Whether the runs of `query_id` are at hand (found by the reader or given), so that
    /// [`TableView::query_runs`] does not look for them.
    pub(crate) fn has_query_runs(&self) -> bool {
        self.runs.is_some()
    }

    /// The runs of rows of one query, as row ranges `(start, end)`.
    pub fn query_runs(&self, why: &str) -> Result<std::borrow::Cow<'a, [(usize, usize)]>> {
        let ids = self.query_ids(why)?;
        Ok(self.runs.map_or_else(|| id_runs(ids).into(), std::borrow::Cow::Borrowed))
    }

    /// This view with the runs of its `query_id` found: `runs` must be [`id_runs`] of it.
    /// (A fit reads them for its folds, its query units and its count of queries.)
    pub(crate) fn with_query_runs(self, runs: &'a [(usize, usize)]) -> TableView<'a> {
        TableView { runs: Some(runs), ..self }
    }

    /// The group of every row by the columns `group_by` (any type, compared as text; a null
    /// is the value `null`, told apart from the text "null" in the key). Keys read
    /// `col=value,col2=value2`; a value that could be mistaken is quoted (see `key_value`).
    /// Without columns, every row is in the group `all`.
    pub fn groups(&self, group_by: &[String]) -> Result<RowGroups> {
        let b = self.batch;
        let rows = b.num_rows();
        if group_by.is_empty() {
            return Ok(RowGroups { index: vec![0; rows], keys: vec![("all".to_owned(), BTreeMap::new())] });
        }
        for (i, name) in group_by.iter().enumerate() {
            if let Some(first) = group_by.iter().take(i).position(|n| n == name) {
                return Err(Error::Invalid(format!("group column {name:?} is given twice (group columns {} and {})", first + 1, i + 1)));
            }
        }
        let mut cols = Vec::new();
        for name in group_by {
            let Some(col) = b.column_by_name(name) else {
                let have: Vec<String> = b.schema().fields().iter().map(|f| f.name().clone()).collect();
                return Err(Error::format(self.path, format!("no column {name:?} to group by (columns: {})", have.join(", "))));
            };
            let text = arrow::compute::cast(col, &DataType::Utf8)
                .map_err(|e| Error::format(self.path, format!("column {name:?} cannot be grouped by: {e}")))?;
            cols.push((name.clone(), text));
        }
        // First pass: provisional indices in order of appearance; then renumber in key order.
        let mut seen: HashMap<Vec<Option<&str>>, u32> = HashMap::new();
        let mut first: Vec<Vec<Option<&str>>> = Vec::new();
        let mut index = Vec::with_capacity(rows);
        let texts: Vec<_> = cols.iter().map(|(_, c)| c.as_string::<i32>()).collect();
        for r in 0..rows {
            let v: Vec<Option<&str>> = texts.iter().map(|s| if s.is_null(r) { None } else { Some(s.value(r)) }).collect();
            let next = seen.len() as u32;
            let i = *seen.entry(v.clone()).or_insert_with(|| {
                first.push(v);
                next
            });
            index.push(i);
        }
        let mut keys: Vec<(String, BTreeMap<String, String>, u32)> = first
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let map: BTreeMap<String, String> =
                    cols.iter().zip(v).map(|((n, _), x)| (n.clone(), x.unwrap_or("null").to_owned())).collect();
                let key = cols.iter().zip(v).map(|((n, _), x)| format!("{n}={}", key_value(*x))).collect::<Vec<_>>().join(",");
                (key, map, i as u32)
            })
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut renumber = vec![0u32; keys.len()];
        for (new, k) in keys.iter().enumerate() {
            if let Some(r) = renumber.get_mut(k.2 as usize) {
                *r = new as u32;
            }
        }
        for i in &mut index {
            *i = renumber.get(*i as usize).copied().unwrap_or(*i);
        }
        Ok(RowGroups { index, keys: keys.into_iter().map(|(k, m, _)| (k, m)).collect() })
    }
}

/// A group column's value as it is written in a group key: `null` for a null, the text itself
/// where that cannot be mistaken for something else, else the text as a JSON string (a value
/// that reads `null`, or holds `,`, `=` or `"`, which would run into the next column's part).
pub(crate) fn key_value(x: Option<&str>) -> String {
    match x {
        None => "null".to_owned(),
        Some(v) if v == "null" || v.contains([',', '=', '"']) => serde_json::Value::from(v).to_string(),
        Some(v) => v.to_owned(),
    }
}

/// The first row whose score is not finite, in parallel chunks (the check runs on every table
/// every command reads).
fn first_non_finite(values: &[f32]) -> Option<usize> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 20;
    values.par_chunks(CHUNK).enumerate().find_map_first(|(c, v)| v.iter().position(|s| !s.is_finite()).map(|i| c * CHUNK + i))
}
