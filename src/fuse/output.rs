//! The fused run as a score table: ids, ranks and fused scores, labels from qrels or carried
//! over from the inputs, the inputs' per-query columns, and metadata naming the inputs.

use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, Float32Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use arrow::compute::interleave;
use arrow::datatypes::{FieldRef, Schema};
use serde_json::json;

use super::{FuseOptions, Fused, FusedQuery, Hit, Method, Norm, RunInput};
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::labels::Qrels;
use crate::table::{standard_fields, ScoreTable, TableMeta, SCHEMA_VERSION};

/// Where the fused table's labels come from.
#[derive(Clone, Copy, Debug)]
pub enum LabelSource<'a> {
    /// Judgements: a document's relevance, 0 when the query is judged and the document not,
    /// null when the query is not judged.
    Qrels(&'a Qrels, i32),
    /// The labeled input tables: a document's label from the inputs that list it, null where
    /// none of them does.
    Inputs,
}

/// The metadata of a fused table: `model` (default `METHOD(NAME+NAME…)`), `metric` the method
/// and normalisation, `backend` `fuse`, the inputs' common queries/corpus hashes when they
/// all share one, and `simcal.fuse.*` keys naming the method, normalisation, RRF k, weights and
/// every input (path, format, name, rows, sha256).
pub fn fused_meta(runs: &[RunInput], o: &FuseOptions, model: Option<&str>) -> TableMeta {
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let model = model.map(str::to_owned).unwrap_or_else(|| format!("{}({})", o.method.name(), names.join("+")));
    let common = |f: fn(&TableMeta) -> &String| -> String {
        let mut v = runs.iter().map(|r| r.meta.as_ref().map(f).cloned().unwrap_or_default());
        let first = v.next().unwrap_or_default();
        if v.all(|x| x == first) {
            first
        } else {
            String::new()
        }
    };
    let mut extra = BTreeMap::new();
    extra.insert(crate::table::keys::FUSE_METHOD.to_owned(), o.method.name().to_owned());
    if o.method != Method::Rrf || o.norm != Norm::None {
        extra.insert(crate::table::keys::FUSE_NORM.to_owned(), o.norm.name().to_owned());
    }
    if o.method == Method::Rrf {
        extra.insert(crate::table::keys::FUSE_RRF_K.to_owned(), o.rrf_k.to_string());
    }
    if let Some(w) = &o.weights {
        extra.insert(crate::table::keys::FUSE_WEIGHTS.to_owned(), json!(w).to_string());
    }
    let inputs: Vec<_> = runs
        .iter()
        .map(|r| json!({"path": r.path.display().to_string(), "format": r.format.name(), "name": r.name, "rows": r.len(), "sha256": r.sha256}))
        .collect();
    extra.insert(crate::table::keys::FUSE_INPUTS.to_owned(), json!(inputs).to_string());
    let metric = match (o.method, o.norm) {
        (Method::Rrf, Norm::None) => Method::Rrf.name().to_owned(),
        (m, n) => format!("{}-{}", m.name(), n.name()),
    };
    TableMeta {
        schema_version: SCHEMA_VERSION,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model,
        metric,
        k: o.k,
        backend: "fuse".to_owned(),
        queries_sha256: common(|m| &m.queries_sha256),
        corpus_sha256: common(|m| &m.corpus_sha256),
        extra,
    }
}

/// Builds the fused score table (docs/architecture.md §4): one row per fused document, queries in order,
/// documents by rank; `score` is the fused score rounded to float32.
// Long: the fused table's columns, each built from the same per-query hits in one pass.
#[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the fused result's own numbering")]
pub fn fused_table(runs: &[RunInput], fused: &Fused, labels: LabelSource, meta: TableMeta) -> Result<ScoreTable> {
    let n = fused.rows();
    let err = |e: arrow::error::ArrowError| Error::Invalid(format!("building the fused table: {e}"));
    let own = labels_from_inputs(fused, labels);
    let cols = Columns::build(runs, fused, own)?;
    let (label, relevant): (Int32Array, UInt32Array) = match labels {
        LabelSource::Qrels(qrels, level) => {
            let mut l = Vec::with_capacity(n);
            let mut rel = Vec::with_capacity(n);
            for q in &fused.queries {
                let id = q.id(runs);
                let judged = qrels.judged.get(id);
                let count = judged.map(|_| qrels.relevant_count(id, level));
                for h in &q.hits {
                    let doc = runs[h.run as usize].doc_id.value(h.row as usize);
                    l.push(judged.map(|j| j.get(doc).copied().unwrap_or(0)));
                    rel.push(count);
                }
            }
            (Int32Array::from(l), UInt32Array::from(rel))
        }
        LabelSource::Inputs => {
            // The all-null columns (the usual case for runs: both) share one zeroed buffer.
            let zeros = std::cell::OnceCell::new();
            let zero = || zeros.get_or_init(|| (Buffer::from_vec(vec![0u32; n]), NullBuffer::new_null(n)));
            let label = cols.label.unwrap_or_else(|| {
                let (values, nulls) = zero();
                Int32Array::new(ScalarBuffer::new(values.clone(), 0, n), Some(nulls.clone()))
            });
            let relevant = if fused.queries.iter().any(|q| q.query_relevant.is_some()) {
                fused.queries.iter().flat_map(|q| std::iter::repeat_n(q.query_relevant, q.hits.len())).collect()
            } else {
                let (values, nulls) = zero();
                UInt32Array::new(ScalarBuffer::new(values.clone(), 0, n), Some(nulls.clone()))
            };
            (label, relevant)
        }
    };
    let mut fields = standard_fields();
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(cols.query_id),
        Arc::new(cols.doc_id),
        Arc::new(cols.rank),
        Arc::new(cols.score),
        Arc::new(label),
        Arc::new(relevant),
    ];
    for (field, sources) in carried_columns(runs)? {
        // Per query: the first run (in order) that has this column and the query.
        let null = new_null_array(field.data_type(), 1);
        let mut values: Vec<&dyn Array> = sources.iter().map(|&(_, a)| a.as_ref()).collect();
        values.push(null.as_ref());
        let source: Vec<(usize, usize)> = fused
            .queries
            .iter()
            .map(|q| {
                sources
                    .iter()
                    .enumerate()
                    .find_map(|(s, &(run, _))| q.first[run].map(|row| (s, row as usize)))
                    .unwrap_or((sources.len(), 0))
            })
            .collect();
        let idx: Vec<(usize, usize)> =
            fused.queries.iter().zip(&source).flat_map(|(q, &at)| std::iter::repeat_n(at, q.hits.len())).collect();
        fields.push(field.as_ref().clone().with_nullable(true));
        arrays.push(interleave(&values, &idx).map_err(err)?);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(err)?;
    let mut meta = meta;
    if let Some(level) = relevant_level(runs, labels)? {
        meta.extra.insert(crate::table::keys::REL_LEVEL.to_owned(), level);
    }
    Ok(ScoreTable::new(batch, meta))
}

/// The relevance level the fused table's `query_relevant` counts are taken at: the qrels' level,
/// or the level the inputs that carry counts record (all the same: counts at two levels are
/// refused). None where an input with counts does not record its level.
fn relevant_level(runs: &[RunInput], labels: LabelSource) -> Result<Option<String>> {
    match labels {
        LabelSource::Qrels(_, level) => Ok(Some(level.to_string())),
        LabelSource::Inputs => {
            let mut found: Option<(&str, &RunInput)> = None;
            let mut unrecorded = false;
            for run in runs.iter().filter(|r| r.query_relevant.is_some()) {
                let Some(level) = run.meta.as_ref().and_then(|m| m.extra.get(crate::table::keys::REL_LEVEL)) else {
                    unrecorded = true;
                    continue;
                };
                match found {
                    Some((first, by)) if first != level => {
                        return Err(Error::format(
                            &run.path,
                            format!(
                                "its query_relevant column counts relevance level {level} and above, but {} counts level {first}: label every run from the qrels, at one level",
                                by.path.display()
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => found = Some((level.as_str(), run)),
                }
            }
            // An input whose counts' level is not recorded: the fused counts' level is unknown.
            if unrecorded {
                return Ok(None);
            }
            Ok(found.map(|(level, _)| level.to_owned()))
        }
    }
}

/// Whether the fused table carries the inputs' own labels: asked for, and some fused
/// document has one (unlabeled inputs, the usual case for runs, give a null column).
fn labels_from_inputs(fused: &Fused, labels: LabelSource) -> bool {
    use rayon::prelude::*;
    matches!(labels, LabelSource::Inputs) && fused.queries.par_iter().any(|q| q.labels.iter().any(Option::is_some))
}

/// The per-row columns of the fused table.
struct Columns {
    query_id: StringArray,
    doc_id: StringArray,
    rank: UInt32Array,
    score: Float32Array,
    /// The hits' own labels, when asked for.
    label: Option<Int32Array>,
}

/// One query's part of every column, not yet written.
struct Part<'b> {
    /// Where its bytes start in the query and document id buffers.
    at: (usize, usize),
    query_bytes: &'b mut [MaybeUninit<u8>],
    query_offsets: &'b mut [MaybeUninit<i32>],
    doc_bytes: &'b mut [MaybeUninit<u8>],
    doc_offsets: &'b mut [MaybeUninit<i32>],
    rank: &'b mut [MaybeUninit<u32>],
    score: &'b mut [MaybeUninit<f32>],
    label: &'b mut [MaybeUninit<i32>],
    valid: &'b mut [MaybeUninit<bool>],
}

impl<'b> Part<'b> {
    /// Takes the first `rows` rows and (query, document) `bytes` bytes off the front.
    fn split_off(&mut self, rows: usize, bytes: (usize, usize), labels: bool) -> Part<'b> {
        fn head<'b, T>(s: &mut &'b mut [T], n: usize) -> &'b mut [T] {
            let (head, tail) = std::mem::take(s).split_at_mut(n);
            *s = tail;
            head
        }
        let at = self.at;
        self.at = (at.0 + bytes.0, at.1 + bytes.1);
        let labeled = if labels { rows } else { 0 };
        Part {
            at,
            query_bytes: head(&mut self.query_bytes, bytes.0),
            query_offsets: head(&mut self.query_offsets, rows),
            doc_bytes: head(&mut self.doc_bytes, bytes.1),
            doc_offsets: head(&mut self.doc_offsets, rows),
            rank: head(&mut self.rank, rows),
            score: head(&mut self.score, rows),
            label: head(&mut self.label, labeled),
            valid: head(&mut self.valid, labeled),
        }
    }

    /// Writes query `q`'s rows; true when they filled the part exactly (every element
    /// written once), as the lengths it was cut to say.
    #[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the fused result's own numbering")]
    fn fill(self, q: &FusedQuery, runs: &[RunInput]) -> bool {
        let id = q.id(runs).as_bytes();
        let (mut qend, mut dend) = (0, 0);
        let rows = self.rank.len();
        for (i, h) in q.hits.iter().enumerate().take(rows) {
            let d = runs[h.run as usize].doc_id.value(h.row as usize).as_bytes();
            let (Some(qdst), Some(ddst)) = (self.query_bytes.get_mut(qend..qend + id.len()), self.doc_bytes.get_mut(dend..dend + d.len()))
            else {
                return false;
            };
            qdst.copy_from_slice(uninit(id));
            ddst.copy_from_slice(uninit(d));
            (qend, dend) = (qend + id.len(), dend + d.len());
            // Within i32: the totals were checked.
            self.query_offsets[i].write((self.at.0 + qend) as i32);
            self.doc_offsets[i].write((self.at.1 + dend) as i32);
            self.rank[i].write(i as u32 + 1);
            self.score[i].write(h.score as f32);
        }
        let labeled = self.label.len();
        for ((x, l), v) in q.labels.iter().zip(self.label.iter_mut()).zip(self.valid.iter_mut()) {
            l.write(x.unwrap_or(0));
            v.write(x.is_some());
        }
        q.hits.len() == rows
            && (labeled == 0 || q.labels.len() == labeled)
            && qend == self.query_bytes.len()
            && dend == self.doc_bytes.len()
    }
}

/// `s` as a slice of possibly uninitialised values, to copy from.
fn uninit<T: Copy>(s: &[T]) -> &[MaybeUninit<T>] {
    // SAFETY: MaybeUninit<T> has T's layout, and initialised values are valid MaybeUninit.
    unsafe { &*(s as *const [T] as *const [MaybeUninit<T>]) }
}

impl Columns {
    /// Fills every column in one pass over the hits, each query's part in parallel: the
    /// byte lengths first (to place each query's strings), then the values, with no
    /// (run, row) index and no single-threaded copy. The buffers are not zeroed first:
    /// every element is written once, which each part checks before the lengths are set.
    // Long: every column in one pass over the hits (see above).
    #[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the fused result's own numbering")]
    fn build(runs: &[RunInput], fused: &Fused, labels: bool) -> Result<Columns> {
        use rayon::prelude::*;
        let n = fused.rows();
        let doc = |h: &Hit| runs[h.run as usize].doc_id.value(h.row as usize);
        // From the hits themselves (a caller may have changed them since fusion).
        let lens: Vec<(usize, usize)> =
            fused.queries.par_iter().map(|q| (q.id(runs).len() * q.hits.len(), q.hits.iter().map(|h| doc(h).len()).sum())).collect();
        let (qtotal, dtotal) = lens.iter().fold((0, 0), |(a, b), &(x, y)| (a + x, b + y));
        for total in [qtotal, dtotal] {
            if i32::try_from(total).is_err() {
                return Err(Error::Invalid(format!("building the fused table: {total} bytes of ids are more than a utf8 column holds")));
            }
        }
        let (mut qv, mut dv) = (Vec::<u8>::with_capacity(qtotal), Vec::<u8>::with_capacity(dtotal));
        // The first offsets are 0; the rest are written.
        let (mut qo, mut doff) = (vec![0i32], vec![0i32]);
        qo.reserve_exact(n);
        doff.reserve_exact(n);
        let (mut rank, mut score) = (Vec::<u32>::with_capacity(n), Vec::<f32>::with_capacity(n));
        let m = if labels { n } else { 0 };
        let (mut label, mut valid) = (Vec::<i32>::with_capacity(m), Vec::<bool>::with_capacity(m));
        // Each query's part of every buffer.
        let mut rest = Part {
            at: (0, 0),
            query_bytes: &mut qv.spare_capacity_mut()[..qtotal],
            query_offsets: &mut qo.spare_capacity_mut()[..n],
            doc_bytes: &mut dv.spare_capacity_mut()[..dtotal],
            doc_offsets: &mut doff.spare_capacity_mut()[..n],
            rank: &mut rank.spare_capacity_mut()[..n],
            score: &mut score.spare_capacity_mut()[..n],
            label: &mut label.spare_capacity_mut()[..m],
            valid: &mut valid.spare_capacity_mut()[..m],
        };
        let parts: Vec<(&FusedQuery, Part)> =
            fused.queries.iter().zip(&lens).map(|(q, &bytes)| (q, rest.split_off(q.hits.len(), bytes, labels))).collect();
        let whole = rest.rank.is_empty() && rest.query_bytes.is_empty() && rest.doc_bytes.is_empty();
        if !(whole && parts.into_par_iter().with_min_len(64).map(|(q, p)| p.fill(q, runs)).reduce(|| true, |a, b| a && b)) {
            return Err(Error::Invalid("building the fused table: the hits changed while it was built".into()));
        }
        // SAFETY: the parts cover each buffer's first `len` elements (`whole`), and each part
        // wrote all of its elements (`fill`).
        unsafe {
            qv.set_len(qtotal);
            dv.set_len(dtotal);
            qo.set_len(n + 1);
            doff.set_len(n + 1);
            rank.set_len(n);
            score.set_len(n);
            label.set_len(m);
            valid.set_len(m);
        }
        let text = |offsets: Vec<i32>, values: Vec<u8>| {
            let offsets = arrow::buffer::OffsetBuffer::new(arrow::buffer::ScalarBuffer::from(offsets));
            StringArray::try_new(offsets, arrow::buffer::Buffer::from_vec(values), None)
                .map_err(|e| Error::Invalid(format!("building the fused table: {e}")))
        };
        Ok(Columns {
            query_id: text(qo, qv)?,
            doc_id: text(doff, dv)?,
            rank: UInt32Array::from(rank),
            score: Float32Array::from(score),
            label: labels.then(|| Int32Array::new(label.into(), Some(valid.into()))),
        })
    }
}

/// The inputs' carried columns by name, in order of first appearance, each with the runs that
/// have it; a name with two types is refused.
#[expect(clippy::type_complexity, reason = "a column and the runs that carry it, named where it is used once")]
#[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the fused result's own numbering")]
fn carried_columns(runs: &[RunInput]) -> Result<Vec<(FieldRef, Vec<(usize, &ArrayRef)>)>> {
    let mut out: Vec<(FieldRef, Vec<(usize, &ArrayRef)>)> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        for (f, a) in &run.carried {
            match out.iter_mut().find(|(g, _)| g.name() == f.name()) {
                Some((g, v)) => {
                    if g.data_type() != f.data_type() {
                        let (first, _) = v[0];
                        return Err(Error::Mismatch {
                            message: format!(
                                "column {} is {} in {} but {} in {}",
                                f.name(),
                                g.data_type(),
                                runs[first].path.display(),
                                f.data_type(),
                                run.path.display()
                            ),
                        });
                    }
                    v.push((i, a));
                }
                None => out.push((Arc::clone(f), vec![(i, a)])),
            }
        }
    }
    Ok(out)
}
