//! Fusion of ranked lists: per-list score normalisations and fusion methods, numerically as
//! ranx's `fuse` computes them (docs/architecture.md §8), into a score table (§4).
//!
//! Each input run gives, per query, a list: its rows for that query ordered by score
//! descending, ties in file order (a score table is written in rank order). A list is
//! normalised on its own ([`Norm`]), then the lists of a query are combined document by
//! document ([`Method`]); a query missing from a run is an empty list there. The fused list is
//! ordered by fused score descending, ties by first appearance (run order, then position), and
//! cut to k.

mod files;
mod input;
mod order;
mod output;

pub use self::files::{fuse_files, FuseSummary, RunSummary};
pub use self::input::{read_run, RunFormat, RunInput};
pub use self::output::{fused_meta, fused_table, LabelSource};

use arrow::array::Array;
use rayon::prelude::*;
use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::choice::Choice;
use crate::error::{Error, Result};

/// How the lists of a query are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Reciprocal rank fusion: Σ wᵢ / (k + position), position 1-based.
    #[default]
    Rrf,
    /// CombSUM: the sum of a document's normalised scores.
    CombSum,
    /// CombMNZ: CombSUM times the number of lists that hold the document.
    CombMnz,
    /// CombMAX: the largest of a document's normalised scores.
    Max,
    /// Weighted sum: Σ wᵢ · normalised score.
    WSum,
}

crate::choice::choice!(Method => "fusion method");

impl Method {
    /// The normalisation used when none is named: none for RRF (it reads positions only),
    /// min-max for the score-combining methods.
    pub fn default_norm(self) -> Norm {
        match self {
            Method::Rrf => Norm::None,
            _ => Norm::MinMax,
        }
    }

    /// Whether per-run weights apply.
    pub(crate) fn takes_weights(self) -> bool {
        matches!(self, Method::Rrf | Method::WSum)
    }
}

/// How one list's scores are normalised (per query and per run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// (s − min) / max(max − min, 1e-9).
    MinMax,
    /// (s − mean) / max(std, 1e-9), population standard deviation (ranx's `zmuv`).
    ZScore,
    /// s / max(max, 1e-9).
    Max,
    /// (s − min) / max(Σs − n·min, 1e-9).
    Sum,
    /// 1 − i / n for the i-th (0-based) position of n.
    Rank,
    /// The scores as they are.
    None,
}

crate::choice::choice!(Norm => "normalisation");

impl Norm {
    /// Normalises `s` (one list's scores in position order) in place.
    pub fn apply(self, s: &mut [f64]) {
        const EPS: f64 = 1e-9;
        if s.is_empty() {
            return;
        }
        let n = s.len() as f64;
        match self {
            Norm::None => {}
            Norm::MinMax => {
                let (lo, hi) = min_max(s);
                let den = (hi - lo).max(EPS);
                s.iter_mut().for_each(|x| *x = (*x - lo) / den);
            }
            Norm::Max => {
                let den = min_max(s).1.max(EPS);
                s.iter_mut().for_each(|x| *x /= den);
            }
            Norm::Sum => {
                let lo = min_max(s).0;
                let sum = s.iter().fold(0.0, |a, &x| a + x);
                let den = (sum - lo * n).max(EPS);
                s.iter_mut().for_each(|x| *x = (*x - lo) / den);
            }
            Norm::ZScore => {
                let mean = s.iter().fold(0.0, |a, &x| a + x) / n;
                let var = s.iter().fold(0.0, |a, &x| a + (x - mean) * (x - mean)) / n;
                let den = var.sqrt().max(EPS);
                s.iter_mut().for_each(|x| *x = (*x - mean) / den);
            }
            Norm::Rank => s.iter_mut().enumerate().for_each(|(i, x)| *x = 1.0 - i as f64 / n),
        }
    }
}

fn min_max(s: &[f64]) -> (f64, f64) {
    s.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// What to fuse and how.
#[derive(Clone, Debug)]
pub struct FuseOptions {
    /// The fusion method.
    pub method: Method,
    /// The per-list normalisation.
    pub norm: Norm,
    /// RRF's k.
    pub rrf_k: f64,
    /// One weight per run (RRF and wsum; default 1 each).
    pub weights: Option<Vec<f64>>,
    /// Documents kept per query.
    pub k: usize,
}

impl Default for FuseOptions {
    /// RRF with k = 60 (ranx's and the RRF paper's), top [`crate::job::DEFAULT_K`].
    fn default() -> Self {
        let method = Method::default();
        FuseOptions { method, norm: method.default_norm(), rrf_k: 60.0, weights: None, k: crate::job::DEFAULT_K }
    }
}

impl FuseOptions {
    /// `method` with its default normalisation, RRF k = 60, no weights, k = 100.
    pub fn new(method: Method) -> FuseOptions {
        FuseOptions { method, norm: method.default_norm(), rrf_k: 60.0, weights: None, k: 100 }
    }
}

/// One fused document: where its first row is (run and row, which give its ids) and its fused
/// score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Index of the run of its first appearance.
    pub run: u32,
    /// Row in that run.
    pub row: u32,
    /// Fused score.
    pub score: f64,
}

/// One query's fused list.
#[derive(Clone, Debug)]
pub struct FusedQuery {
    /// Per run, the query's first row there (None: the run lacks the query).
    pub first: Vec<Option<u32>>,
    /// Relevant documents for the query, from the first run that records it.
    pub query_relevant: Option<u32>,
    /// The documents, best first, at most k.
    pub hits: Vec<Hit>,
    /// Per hit, its label from the runs that carry labels (none where none of them has it);
    /// empty when no run is labeled.
    pub labels: Vec<Option<i32>>,
}

impl FusedQuery {
    /// The query's id.
    pub fn id<'a>(&self, runs: &'a [RunInput]) -> &'a str {
        // Every fused query comes from at least one run's rows.
        self.first
            .iter()
            .enumerate()
            .find_map(|(r, f)| f.map(|row| (r, row)))
            .and_then(|(r, row)| runs.get(r).map(|run| run.query_id.value(row as usize)))
            .unwrap_or_default()
    }
}

/// The fused run: queries in order of first appearance (run order, then file order).
#[derive(Clone, Debug)]
pub struct Fused {
    /// The queries.
    pub queries: Vec<FusedQuery>,
}

impl Fused {
    /// Total number of fused rows.
    pub fn rows(&self) -> usize {
        self.queries.iter().map(|q| q.hits.len()).sum()
    }
}

/// Checks the options against the runs.
#[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the inputs this module numbered")]
fn check(runs: &[RunInput], o: &FuseOptions) -> Result<Vec<f64>> {
    if runs.is_empty() {
        return Err(Error::Invalid("no runs to fuse".into()));
    }
    if let Some(r) = runs.iter().find(|r| r.is_empty()) {
        return Err(Error::format(&r.path, "the run is empty: no rows to fuse"));
    }
    if o.k == 0 {
        return Err(Error::Invalid("k must be at least 1".into()));
    }
    if !(o.rrf_k.is_finite() && o.rrf_k >= 0.0) {
        return Err(Error::Invalid(format!("`rrf_k` must be a finite number ≥ 0, not {}", o.rrf_k)));
    }
    match &o.weights {
        None => Ok(vec![1.0; runs.len()]),
        Some(_) if !o.method.takes_weights() => Err(Error::Invalid(format!("`weights` apply to rrf and wsum, not {}", o.method.name()))),
        Some(w) if w.len() != runs.len() => Err(Error::Mismatch {
            message: format!(
                "{} weight{} for {} run{}: give one weight per `run`",
                w.len(),
                plural(w.len()),
                runs.len(),
                plural(runs.len())
            ),
        }),
        Some(w) => match w.iter().position(|x| !x.is_finite()) {
            Some(i) => Err(Error::Invalid(format!("weight {} ({}) is not a finite number", i + 1, w[i]))),
            None => Ok(w.clone()),
        },
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Each run's rows grouped by query, as spans of consecutive rows:
/// `spans[offsets[q]..offsets[q + 1]]` hold query q's rows, in file order (one span when the
/// run lists the query's rows together, as tables and most runs do).
struct Grouped {
    offsets: Vec<u32>,
    spans: Vec<(u32, u32)>,
}

impl Grouped {
    /// Query `q`'s rows, in file order, into `rows`.
    #[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the inputs this module numbered")]
    fn rows(&self, q: usize, rows: &mut Vec<u32>) {
        rows.clear();
        for &(start, end) in &self.spans[self.offsets[q] as usize..self.offsets[q + 1] as usize] {
            rows.extend(start..end);
        }
    }
}

/// Numbers the queries of all runs in order of first appearance and groups each run's spans
/// of equal query ids by them (a counting sort of the spans, so each query's rows stay in
/// file order).
#[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the inputs this module numbered")]
fn group(runs: &[RunInput]) -> Result<(usize, Vec<Grouped>)> {
    if let Some(run) = runs.iter().find(|r| r.len() >= u32::MAX as usize) {
        return Err(Error::format(&run.path, "more than 4 billion rows"));
    }
    let spans: Vec<Vec<(usize, usize)>> = runs.par_iter().map(|run| crate::table::id_runs(&run.query_id)).collect();
    let mut index: FxHashMap<&str, u32> = FxHashMap::default();
    let qidx: Vec<Vec<u32>> = runs
        .iter()
        .zip(&spans)
        .map(|(run, spans)| {
            spans
                .iter()
                .map(|&(start, _)| {
                    let next = index.len() as u32;
                    *index.entry(run.query_id.value(start)).or_insert(next)
                })
                .collect()
        })
        .collect();
    let nq = index.len();
    let grouped = qidx
        .par_iter()
        .zip(&spans)
        .map(|(q, spans)| {
            let mut offsets = vec![0u32; nq + 1];
            for &i in q {
                offsets[i as usize + 1] += 1;
            }
            for i in 0..nq {
                offsets[i + 1] += offsets[i];
            }
            let mut next = offsets.clone();
            let mut out = vec![(0u32, 0u32); q.len()];
            for (&i, &(start, end)) in q.iter().zip(spans) {
                // Within u32: the rows were counted above.
                out[next[i as usize] as usize] = (start as u32, end as u32);
                next[i as usize] += 1;
            }
            Grouped { offsets, spans: out }
        })
        .collect();
    Ok((nq, grouped))
}

/// The error for row `r` of `run`, whose document is also at a row of `before` (the rows of
/// its list before it).
fn listed_twice(run: &RunInput, before: &[u32], r: u32) -> Error {
    let doc = run.doc_id.value(r as usize);
    let qid = run.query_id.value(r as usize);
    let other = before.iter().copied().find(|&b| run.doc_id.value(b as usize) == doc).unwrap_or(r);
    let (a, b) = (other.min(r) as usize, other.max(r) as usize);
    run.row_error(
        b,
        format!(
            "document {} is listed twice for query {} (also at {})",
            crate::error::quoted(doc),
            crate::error::quoted(qid),
            run.where_is(a)
        ),
    )
}

/// A document being fused.
struct Slot {
    sum: f64,
    max: f64,
    /// Where it first appears.
    run: u32,
    row: u32,
    /// The run that last added to it (catches a document listed twice in one list).
    last_run: u32,
    count: u32,
}

/// Fuses `runs` per query.
pub fn fuse(runs: &[RunInput], o: &FuseOptions) -> Result<Fused> {
    let weights = check(runs, o)?;
    let (nq, grouped) = group(runs)?;
    let queries = (0..nq)
        .into_par_iter()
        .with_min_len(16)
        .map_init(Scratch::default, |scratch, q| fuse_query(runs, &grouped, &weights, o, q, scratch))
        .collect::<Result<Vec<_>>>()?;
    Ok(Fused { queries })
}

/// A worker's buffers, reused from query to query.
#[derive(Default)]
struct Scratch {
    /// The query's documents so far: slot numbers, found by the hash of their id.
    table: hashbrown::HashTable<u32>,
    /// Per slot, the hash of its document id.
    hashes: Vec<u64>,
    slots: Vec<Slot>,
    /// Per slot, its label and where that came from (run, row), kept when some run is labeled.
    labels: Vec<Option<(i32, u32, u32)>>,
    rows: Vec<u32>,
    /// Per row of the current list (in file order), the hash of its document id.
    row_hashes: Vec<u64>,
    order: Vec<u32>,
    keys: Vec<u64>,
    sorter: order::Order,
    vals: Vec<f64>,
}

/// An integer key of `x` that sorts ascending as `x` sorts descending (f64's total order).
fn descending(x: f64) -> u64 {
    let b = x.to_bits();
    !(if b >> 63 == 1 { !b } else { b | 1 << 63 })
}

/// Fuses query `q`: each run's list for it, in rank order, added into one slot per document;
/// then the top `o.k` by fused score.
fn fuse_query(
    runs: &[RunInput],
    grouped: &[Grouped],
    weights: &[f64],
    o: &FuseOptions,
    q: usize,
    scratch: &mut Scratch,
) -> Result<FusedQuery> {
    scratch.clear();
    let labeled = runs.iter().any(|r| r.label.is_some());
    let mut first = vec![None; runs.len()];
    let mut query_relevant = None;
    for (i, ((run, g), &w)) in runs.iter().zip(grouped).zip(weights).enumerate() {
        g.rows(q, &mut scratch.rows);
        let Some(&r0) = scratch.rows.first() else { continue };
        if let Some(f) = first.get_mut(i) {
            *f = Some(r0);
        }
        if query_relevant.is_none() {
            query_relevant = run
                .query_relevant
                .as_ref()
                .and_then(|c| scratch.rows.iter().find(|&&r| c.is_valid(r as usize)).map(|&r| c.value(r as usize)));
        }
        scratch.rank_list(run);
        scratch.list_values(run, o);
        scratch.add_list(runs, i, w, o, labeled)?;
    }
    scratch.check_range(runs, o)?;
    let (hits, labels) = scratch.top(o, labeled);
    Ok(FusedQuery { first, query_relevant, hits, labels })
}

/// A slot's fused score by `o`'s method.
fn fused_score(o: &FuseOptions, s: &Slot) -> f64 {
    match o.method {
        Method::Rrf | Method::CombSum | Method::WSum => s.sum,
        Method::CombMnz => s.sum * f64::from(s.count),
        Method::Max => s.max,
    }
}

impl Scratch {
    /// Empties the slots for the next query.
    fn clear(&mut self) {
        self.table.clear();
        self.hashes.clear();
        self.slots.clear();
        self.labels.clear();
    }

    /// Puts the positions of the list's `rows` in rank order into `order` (by score, ties in
    /// file order), and their documents' hashes in file order into `row_hashes`.
    #[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the inputs this module numbered")]
    fn rank_list(&mut self, run: &RunInput) {
        let Scratch { rows, row_hashes, order, keys, sorter, .. } = self;
        // The documents' hashes in file order: one sequential pass over the ids, which a
        // walk in rank order would read at random (cache misses on a large run).
        row_hashes.clear();
        row_hashes.extend(rows.iter().map(|&r| FxBuildHasher.hash_one(run.doc_id.value(r as usize))));
        order.clear();
        let score = |r: u32| run.score[r as usize];
        if rows.windows(2).all(|w| score(w[0]).total_cmp(&score(w[1])).is_ge()) {
            // In rank order already, as score tables are written.
            order.extend(0..rows.len() as u32);
        } else {
            // By score, ties in file order (rows ascending), on integer keys.
            keys.clear();
            keys.extend(rows.iter().map(|&r| descending(score(r))));
            sorter.smallest(keys, rows.len(), order);
        }
    }

    /// Each ranked row's value before weighting, into `vals`: RRF's 1 / (k + rank), else its
    /// score normalised over the list.
    #[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the inputs this module numbered")]
    fn list_values(&mut self, run: &RunInput, o: &FuseOptions) {
        let Scratch { rows, order, vals, .. } = self;
        vals.clear();
        match o.method {
            Method::Rrf => vals.extend((0..order.len()).map(|p| 1.0 / (o.rrf_k + p as f64 + 1.0))),
            _ => {
                vals.extend(order.iter().map(|&j| run.score[rows[j as usize] as usize]));
                o.norm.apply(vals);
            }
        }
    }

    /// Adds run `i`'s ranked list (weight `w`) into the slots: a document's first appearance
    /// opens its slot. Refuses a document listed twice in the list, and labels that disagree.
    #[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the inputs this module numbered")]
    fn add_list(&mut self, runs: &[RunInput], i: usize, w: f64, o: &FuseOptions, labeled: bool) -> Result<()> {
        let Scratch { table, hashes, slots, labels, rows, row_hashes, order, vals, .. } = self;
        let run = &runs[i];
        for (p, (&j, &x)) in order.iter().zip(vals.iter()).enumerate() {
            let r = rows[j as usize];
            let doc = run.doc_id.value(r as usize);
            let next = slots.len() as u32;
            let hash = row_hashes[j as usize];
            let same = |&s: &u32| {
                let at = &slots[s as usize];
                runs[at.run as usize].doc_id.value(at.row as usize) == doc
            };
            let s = match table.entry(hash, same, |&s| hashes[s as usize]) {
                hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
                hashbrown::hash_table::Entry::Vacant(e) => {
                    e.insert(next);
                    next
                }
            };
            if s == next {
                hashes.push(hash);
                slots.push(Slot { sum: 0.0, max: f64::NEG_INFINITY, run: i as u32, row: r, last_run: u32::MAX, count: 0 });
                if labeled {
                    labels.push(None);
                }
            }
            let slot = &mut slots[s as usize];
            if slot.last_run == i as u32 {
                let before: Vec<u32> = order[..p].iter().map(|&j| rows[j as usize]).collect();
                return Err(listed_twice(run, &before, r));
            }
            slot.last_run = i as u32;
            slot.sum += if o.method.takes_weights() { w * x } else { x };
            slot.count += 1;
            slot.max = slot.max.max(x);
            if let Some(l) = run.label.as_ref().filter(|l| l.is_valid(r as usize)).map(|l| l.value(r as usize)) {
                match labels[s as usize] {
                    None => labels[s as usize] = Some((l, i as u32, r)),
                    Some((prev, pi, pr)) if prev != l => {
                        let other = &runs[pi as usize];
                        return Err(run.row_error(
                            r as usize,
                            format!(
                                "label {l} disagrees with label {prev} for the same query and document in {} ({})",
                                other.path.display(),
                                other.where_is(pr as usize)
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Refuses a fused score beyond float32 (the table's type): a raw 1e40 under `norm` none or
    /// a weight of 1e300 would be written as infinity, which every later command refuses.
    fn check_range(&self, runs: &[RunInput], o: &FuseOptions) -> Result<()> {
        let Some(slot) = self.slots.iter().find(|s| !(fused_score(o, s) as f32).is_finite()) else { return Ok(()) };
        let Some(run) = runs.get(slot.run as usize) else {
            return Err(Error::Invalid(format!("fused slot names run {} of {}", slot.run, runs.len())));
        };
        let (qid, doc) = (run.query_id.value(slot.row as usize), run.doc_id.value(slot.row as usize));
        let what = match o.norm {
            Norm::None => " (`norm` none keeps raw scores: normalise them with `norm`, or scale `weights` down)",
            _ => " (scale `weights` down)",
        };
        Err(run.row_error(
            slot.row as usize,
            format!("the fused score {:e} of document {doc:?} for query {qid:?} is beyond float32's range{what}", fused_score(o, slot)),
        ))
    }

    /// The top `o.k` slots by fused score, ties by first appearance (the slot's number), and
    /// their labels when some run is `labeled`.
    #[expect(clippy::indexing_slicing, reason = "run, row and query positions come from the inputs this module numbered")]
    fn top(&mut self, o: &FuseOptions, labeled: bool) -> (Vec<Hit>, Vec<Option<i32>>) {
        let Scratch { slots, labels, keys, sorter, order, .. } = self;
        keys.clear();
        keys.extend(slots.iter().map(|s| descending(fused_score(o, s))));
        sorter.smallest(keys, o.k, order);
        let hits = order
            .iter()
            .map(|&s| {
                let s = &slots[s as usize];
                Hit { run: s.run, row: s.row, score: fused_score(o, s) }
            })
            .collect();
        let hit_labels = if labeled { order.iter().map(|&s| labels[s as usize].map(|l| l.0)).collect() } else { Vec::new() };
        (hits, hit_labels)
    }
}
