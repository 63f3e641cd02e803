//! simcal's Python bindings: thin wrappers over the library functions the CLI calls.
//!
//! Arrays come in as numpy (the float32 C-contiguous corpus borrowed, never copied), tables as
//! Arrow record batches (pyarrow's C data interface), and every computation runs with the GIL
//! released. Errors are the library's own messages, raised as `simcal.SimcalError` (a
//! `ValueError`); the Python package (`python/simcal/__init__.py`) checks argument types and
//! shapes first, naming the argument.

// Values from Python flow through here: a failure is an exception, never a panic.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use arrow::array::{RecordBatch, StringBuilder};
use arrow::pyarrow::PyArrowType;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use simcal::calibrate::artifact::Artifact;
use simcal::calibrate::certify::{CertifyOptions, Grid, Unit};
use simcal::calibrate::distinct::Distinct;
use simcal::calibrate::isotonic::Isotonic;
use simcal::calibrate::{platt, FitOptions, Method};
use simcal::embed::Metric;
use simcal::metrics::ranking::{Measure, QueryRun};
use simcal::policy::ApplyOptions;
use simcal::score::matrix::Names;
use simcal::score::{make_backend, BackendChoice, BackendOptions, ScoreOptions};
use simcal::stats::ltt::Fwer;

// The allocator the CLI uses: the library's allocation patterns (many small ids, large
// transient buffers) were measured with it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` and `mi_option_arena_purge_mult`: their indices in the
/// `mi_option_e` of the mimalloc (v3) that libmimalloc-sys builds, which names no constants
/// for them.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ARENA_PURGE_MULT: libmimalloc_sys::mi_option_t = 24;
/// Their defaults in that mimalloc (1 s, and arenas wait as long), which they read unless the
/// environment set them.
const MI_DEFAULTS: [std::ffi::c_long; 2] = [1000, 1];
/// How long freed memory stays with the allocator before it goes back to the OS (ms):
/// jemalloc's default decay.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// Keeps freed memory for [`PURGE_DELAY_MS`] instead of mimalloc's 1 s, unless the user set
/// either option (`MIMALLOC_PURGE_DELAY` or its old name `MIMALLOC_RESET_DELAY`,
/// `MIMALLOC_ARENA_PURGE_MULT`). A call returns its results in new buffers; mimalloc purges
/// what was freed about once per delay, so in a loop of calls every few calls would fault
/// their buffers in afresh from the OS (the kernel zeroing every page). mimalloc purges only
/// while it is called, so an idle process keeps its freed memory either way.
fn keep_freed_memory() {
    let names = ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY", "MIMALLOC_ARENA_PURGE_MULT"];
    if names.iter().any(|n| std::env::var_os(n).is_some()) {
        return;
    }
    // Reading the documented defaults first guards the indices: on a mimalloc whose enum
    // differs, other options would read otherwise and nothing is set.
    if allocator_purge_options() == MI_DEFAULTS {
        // SAFETY: mimalloc's option calls are thread-safe and ignore an index out of range.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

/// The allocator's purge delay (ms) and its multiplier for arenas (for the tests).
#[pyfunction]
fn allocator_purge_options() -> [std::ffi::c_long; 2] {
    // SAFETY: as in `keep_freed_memory`.
    [MI_OPTION_PURGE_DELAY, MI_OPTION_ARENA_PURGE_MULT].map(|o| unsafe { libmimalloc_sys::mi_option_get(o) })
}

create_exception!(_simcal, SimcalError, PyValueError, "An error of simcal's: bad input, named with what was at fault.");

/// The library's error as Python's exception. Its message names options as the library does,
/// in backquotes by their field names (`` `max_ks` ``), which are Python's keyword arguments.
fn err(e: simcal::Error) -> PyErr {
    SimcalError::new_err(e.to_string())
}

fn invalid(msg: impl Into<String>) -> PyErr {
    SimcalError::new_err(msg.into())
}

/// Ctrl-C during a call that released the GIL: `check` runs the signal handlers (on the calling
/// thread, where they run) and keeps the exception they raised, which `raise` then re-raises in
/// place of the library's "interrupted".
#[derive(Default)]
struct Interrupt(Mutex<Option<PyErr>>);

impl Interrupt {
    fn check(&self) -> simcal::Result<()> {
        Python::attach(|py| py.check_signals()).map_err(|e| {
            if let Ok(mut s) = self.0.lock() {
                *s = Some(e);
            }
            simcal::Error::Interrupted
        })
    }

    /// The exception a signal handler raised, else the library's error.
    fn raise(&self, e: simcal::Error) -> PyErr {
        self.0.lock().ok().and_then(|mut s| s.take()).unwrap_or_else(|| err(e))
    }
}

/// A choice by the library's name for it (the CLI takes the same names); anything else is
/// refused naming the argument `what`.
fn named<T: simcal::Choice>(what: &str, name: &str) -> PyResult<T> {
    T::parse(name).map_err(|_| invalid(format!("{what} {name:?}: expected {}", simcal::choice::one_of(T::names()))))
}

/// The library's defaults, as JSON: the Python functions' signatures take theirs from here, so
/// that each default is defined once, in the library (the CLI's help shows the same ones).
#[pyfunction]
fn defaults() -> String {
    use simcal::Choice;
    let fit = FitOptions::default();
    let drift = simcal::metrics::drift::Tolerances::default();
    let fuse = simcal::fuse::FuseOptions::default();
    let apply = ApplyOptions::default();
    let compare = simcal::compare::CompareOptions::default();
    serde_json::json!({
        "k": simcal::job::DEFAULT_K,
        "metric": Metric::default().name(),
        "backend": BackendChoice::default().name(),
        "precision": simcal::score::gpu::Precision::default().name(),
        "zero_vectors": simcal::embed::ZeroVectors::default().name(),
        "rel_level": simcal::labels::DEFAULT_REL_LEVEL,
        "fit": {
            "target_precision": fit.target_precision,
            "method": simcal::calibrate::Maps::default().name(),
            "folds": fit.folds,
            "unit": Unit::default().name(),
            "fwer": Fwer::default().name(),
            "grid": simcal::calibrate::certify::DEFAULT_GRID,
            "bootstrap": fit.bootstrap,
            "seed": fit.seed,
            "min_pairs": fit.min_pairs,
            "min_relevant": fit.min_relevant,
            "abstain": [fit.abstain.low, fit.abstain.high],
            "certified_by": fit.certified_by.name(),
        },
        "drift": {
            "max_ks": drift.max_ks,
            "max_precision_drop": drift.max_precision_drop,
            "min_pairs": drift.min_pairs,
            "significance": drift.significance,
        },
        "fuse": {"method": fuse.method.name(), "k": fuse.k, "rrf_k": fuse.rrf_k},
        "apply": {"decide_on": apply.decide_on.name(), "min_gap": apply.min_gap},
        "compare": {
            "test": compare.test.name(),
            "max_p": compare.max_p,
            "permutations": compare.permutations,
            "resamples": compare.resamples,
            "level": compare.level,
            "seed": compare.seed,
            "correction": compare.correction.name(),
            "target_precision": compare.target_precision,
            "calibration": compare.calibration,
        },
    })
    .to_string()
}

/// trec_eval names from pytrec_eval's (`ndcg_cut.10`, `ndcg_cut` with pytrec_eval's cutoffs,
/// `P_5`, …), each once.
#[pyfunction]
fn pytrec_eval_measures(measures: Vec<String>) -> PyResult<Vec<String>> {
    simcal::metrics::ranking::from_pytrec_eval(&measures).map_err(err)
}

/// `simcal score` on embedding files (parquet or .npy): the score table it writes (labeled from
/// the qrels file when one is given), as a record batch with its metadata.
#[pyfunction]
#[pyo3(signature = (queries, corpus, qrels, k, metric, backend, precision, model, rel_level, zero_vectors, cpu_kernel=None))]
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn score(
    py: Python<'_>,
    queries: String,
    corpus: String,
    qrels: Option<String>,
    k: usize,
    metric: &str,
    backend: &str,
    precision: &str,
    model: Option<String>,
    rel_level: i32,
    zero_vectors: &str,
    cpu_kernel: Option<&str>,
) -> PyResult<PyArrowType<RecordBatch>> {
    let job = simcal::job::ScoreJob {
        queries: queries.into(),
        corpus: corpus.into(),
        qrels: qrels.map(Into::into),
        k,
        metric: metric.parse().map_err(err)?,
        model,
        backend: BackendOptions {
            choice: backend.parse().map_err(err)?,
            precision: named("precision", precision)?,
            cpu_kernel: cpu_kernel.map(|n| named("cpu_kernel", n)).transpose()?,
            ..BackendOptions::default()
        },
        format: simcal::job::OutputFormat::Parquet,
        out: std::path::PathBuf::new(),
        query_read: Default::default(),
        corpus_read: Default::default(),
        rel_level,
        shard: None,
        zero_vectors: named("zero_vectors", zero_vectors)?,
    };
    let stop = Interrupt::default();
    let batch = py.detach(|| -> PyResult<RecordBatch> {
        let (t, _) = simcal::job::score_table(&job, &|_, _| stop.check()).map_err(|e| stop.raise(e))?;
        with_metadata(t.batch, t.meta.to_pairs().into_iter().collect()).map_err(|e| invalid(e.to_string()))
    })?;
    Ok(PyArrowType(batch))
}

/// Exact top-k of `queries` against `corpus` (both float32, C-contiguous, 2-D).
#[pyfunction]
#[pyo3(signature = (queries, corpus, k, metric, backend, precision, zero_vectors, cpu_kernel=None))]
#[expect(clippy::too_many_arguments, clippy::type_complexity, reason = "one argument per Python keyword; numpy arrays out")]
fn topk<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<'py, f32>,
    corpus: PyReadonlyArray2<'py, f32>,
    k: usize,
    metric: &str,
    backend: &str,
    precision: &str,
    zero_vectors: &str,
    cpu_kernel: Option<&str>,
) -> PyResult<(Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<i64>>)> {
    let metric: Metric = metric.parse().map_err(err)?;
    let choice: BackendChoice = backend.parse().map_err(err)?;
    let (precision, zero) = (named("precision", precision)?, named("zero_vectors", zero_vectors)?);
    let cpu_kernel = cpu_kernel.map(|n| named("cpu_kernel", n)).transpose()?;
    let (&[nq, qd], &[nc, cd]) = (queries.shape(), corpus.shape()) else {
        return Err(invalid("queries and corpus: expected 2-D arrays"));
    };
    let q = queries.as_slice().map_err(|_| invalid("queries: expected a C-contiguous array"))?;
    let c = corpus.as_slice().map_err(|_| invalid("corpus: expected a C-contiguous array"))?;
    // faiss's shape: k columns, missing hits (k beyond the corpus) as row -1 and the lowest
    // float; made first, so that a k too large for memory is refused before any work.
    let too_many = || invalid(format!("k: {nq} queries × k = {k} results do not fit in memory"));
    let cells = nq.checked_mul(k).ok_or_else(too_many)?;
    let mut scores: Vec<f32> = filled(cells, f32::MIN).ok_or_else(too_many)?;
    let mut rows: Vec<i64> = filled(cells, -1).ok_or_else(too_many)?;
    let stop = Interrupt::default();
    let result = py.detach(|| {
        let qv = ndarray::ArrayView2::from_shape((nq, qd), q).map_err(|e| simcal::Error::Invalid(format!("queries: {e}")))?;
        let cv = ndarray::ArrayView2::from_shape((nc, cd), c).map_err(|e| simcal::Error::Invalid(format!("corpus: {e}")))?;
        let mut backend = make_backend(&BackendOptions { choice, precision, cpu_kernel, ..BackendOptions::default() })?;
        let opts = ScoreOptions { k, metric, zero_vectors: zero };
        // Ctrl-C: the signal handlers run between corpus blocks, on this (the caller's) thread.
        backend.score_matrices(qv, cv, opts, Names::default(), &|| stop.check())
    });
    let hits = result.map_err(|e| stop.raise(e))?;
    for ((list, s), r) in hits.hits.iter().zip(scores.chunks_mut(k.max(1))).zip(rows.chunks_mut(k.max(1))) {
        for ((h, s), r) in list.iter().zip(s).zip(r) {
            *s = h.score;
            *r = h.row as i64;
        }
    }
    let shape = [nq, k];
    let scores = ndarray::Array2::from_shape_vec(shape, scores).map_err(|e| invalid(e.to_string()))?;
    let rows = ndarray::Array2::from_shape_vec(shape, rows).map_err(|e| invalid(e.to_string()))?;
    Ok((PyArray2::from_owned_array(py, scores), PyArray2::from_owned_array(py, rows)))
}

/// `n` copies of `fill`, or None when memory refuses them (instead of aborting).
fn filled<T: Clone>(n: usize, fill: T) -> Option<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, fill);
    Some(v)
}

/// The distinct-score table of scores and labels of equal length.
fn distinct(scores: &[f32], labels: &[bool]) -> PyResult<Distinct> {
    if scores.len() != labels.len() {
        return Err(invalid(format!("scores has {} values but y has {}", scores.len(), labels.len())));
    }
    if scores.is_empty() {
        return Err(invalid("scores: no values"));
    }
    if let Some((i, s)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(invalid(format!("scores[{i}] is {s}: scores must be finite")));
    }
    Ok(Distinct::from_pairs(scores, labels))
}

/// An isotonic map's breakpoints (x, y) as numpy arrays.
type Breakpoints<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// Isotonic fit: the breakpoints (x, y) of the map.
#[pyfunction]
fn isotonic_fit<'py>(
    py: Python<'py>,
    scores: PyReadonlyArray1<'py, f32>,
    labels: PyReadonlyArray1<'py, bool>,
) -> PyResult<Breakpoints<'py>> {
    let (s, l) = (scores.as_slice()?, labels.as_slice()?);
    let iso = py.detach(|| distinct(s, l).map(|d| Isotonic::fit(&d)))?;
    Ok((iso.x.into_pyarray(py), iso.y.into_pyarray(py)))
}

/// P(relevant) of each score under the isotonic map (x, y).
#[pyfunction]
fn isotonic_predict<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    scores: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let iso = Isotonic { x: x.as_slice()?.to_vec(), y: y.as_slice()?.to_vec() };
    let s = scores.as_slice()?;
    let p: Vec<f64> = py.detach(|| s.iter().map(|&v| iso.predict(v)).collect());
    Ok(p.into_pyarray(py))
}

/// Platt fit: (a, b) of P = 1 / (1 + exp(a·s + b)).
#[pyfunction]
fn platt_fit<'py>(py: Python<'py>, scores: PyReadonlyArray1<'py, f32>, labels: PyReadonlyArray1<'py, bool>) -> PyResult<(f64, f64)> {
    let (s, l) = (scores.as_slice()?, labels.as_slice()?);
    let p = py.detach(|| distinct(s, l).and_then(|d| platt::fit(&d, "all").map_err(err)))?;
    Ok((p.a, p.b))
}

/// P(relevant) of each score under Platt's (a, b).
#[pyfunction]
fn platt_predict<'py>(py: Python<'py>, a: f64, b: f64, scores: PyReadonlyArray1<'py, f64>) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let m = platt::Platt { a, b };
    let s = scores.as_slice()?;
    let p: Vec<f64> = py.detach(|| s.iter().map(|&v| m.predict(v)).collect());
    Ok(p.into_pyarray(py))
}

/// trec_eval's measures per query from pytrec_eval's dict-of-dicts: `run[q][doc] = score`,
/// `qrels[q][doc] = relevance`. Queries of the run without judgements are left out, as
/// pytrec_eval leaves them.
#[pyfunction]
fn evaluate<'py>(
    py: Python<'py>,
    run: &Bound<'py, PyDict>,
    qrels: &Bound<'py, PyDict>,
    measures: Vec<String>,
    relevance_level: i32,
) -> PyResult<Bound<'py, PyDict>> {
    let measures: Vec<Measure> = Measure::parse_list(&measures).map_err(err)?;
    let mut queries: Vec<(String, QueryRun)> = Vec::with_capacity(run.len());
    for (q, docs) in run.iter() {
        let qid: String = q.extract().map_err(|_| invalid(format!("run: query id {q} is not a string")))?;
        let Some(judged) = qrels.get_item(&q)? else { continue };
        let judged =
            judged.cast::<PyDict>().map_err(|_| invalid(format!("qrels[{}]: expected a dict of document → relevance", py_str(&qid))))?;
        let docs = docs.cast::<PyDict>().map_err(|_| invalid(format!("run[{}]: expected a dict of document → score", py_str(&qid))))?;
        let mut hits: Vec<(String, f64, Option<i32>)> = Vec::with_capacity(docs.len());
        for (d, s) in docs.iter() {
            let doc: String = d.extract().map_err(|_| invalid(format!("run[{}]: document id {d} is not a string", py_str(&qid))))?;
            let score: f64 =
                s.extract().map_err(|_| invalid(format!("run[{}][{}]: score {s} is not a number", py_str(&qid), py_str(&doc))))?;
            if score.is_nan() {
                return Err(invalid(format!("run[{}][{}]: score is NaN", py_str(&qid), py_str(&doc))));
            }
            let rel = match judged.get_item(&d)? {
                Some(r) => Some(relevance(&r, &qid, &doc)?),
                None => None,
            };
            hits.push((doc, score, rel));
        }
        let mut all = Vec::with_capacity(judged.len());
        for (d, r) in judged.iter() {
            let doc = d.cast::<PyString>().map(|s| s.to_string()).unwrap_or_default();
            all.push(relevance(&r, &qid, &doc)?);
        }
        queries.push((qid, QueryRun::from_hits(hits, all.into_iter(), relevance_level)));
    }
    let per_query = py.detach(|| {
        let refs: Vec<&(String, QueryRun)> = queries.iter().collect();
        simcal::metrics::ranking::evaluate(&refs, &[], &measures, relevance_level, false).per_query
    });
    per_query_dict(py, &measures, per_query)
}

/// pytrec_eval's result: `{query: {measure: value}}`, queries in the order given.
fn per_query_dict<'py>(py: Python<'py>, measures: &[Measure], per_query: Vec<(String, Vec<f64>)>) -> PyResult<Bound<'py, PyDict>> {
    // One key object per measure, shared by every query's dict.
    let names: Vec<Bound<'py, PyString>> = measures.iter().map(|m| PyString::intern(py, &m.name())).collect();
    let out = PyDict::new(py);
    for (qid, vals) in per_query {
        let d = PyDict::new(py);
        for (n, v) in names.iter().zip(vals) {
            d.set_item(n, v)?;
        }
        out.set_item(qid, d)?;
    }
    Ok(out)
}

/// A string as Python writes it in a subscript: `'q1'`.
fn py_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// trec_eval's measures per query of a score table (a record batch), judged by the qrels file
/// at `qrels` or, without one, by the table's own labels, as `simcal eval` judges it.
#[pyfunction]
fn evaluate_table<'py>(
    py: Python<'py>,
    table: PyArrowType<RecordBatch>,
    meta: HashMap<String, String>,
    qrels: Option<String>,
    measures: Vec<String>,
    relevance_level: i32,
) -> PyResult<Bound<'py, PyDict>> {
    use simcal::metrics::{ranking, runs};
    let measures: Vec<Measure> = Measure::parse_list(&measures).map_err(err)?;
    let per_query = py.detach(|| -> PyResult<Vec<(String, Vec<f64>)>> {
        let name = Path::new("table");
        // The judgements are parsed while the table is taken in and its rows grouped by query.
        let (qrels, taken) = rayon::join(
            || qrels.map(|p| simcal::labels::read_qrels(Path::new(&p))).transpose(),
            || {
                // Evaluation ranks the rows itself: no rank is derived.
                let t = table_by(simcal::table::table_from_batch_unranked, table.0, meta, "table")?;
                let view = simcal::table::TableView::new(&t, name).map_err(err)?;
                let queries = runs::query_rows(&runs::Columns::of(&view).map_err(err)?);
                Ok::<_, PyErr>((t, queries))
            },
        );
        let (qrels, (t, queries)) = (qrels.map_err(err)?, taken?);
        let view = simcal::table::TableView::new(&t, name).map_err(err)?;
        let cols = runs::Columns::of(&view).map_err(err)?;
        let (all, _) = runs::runs(&cols, name, &queries, qrels.as_ref(), relevance_level, runs::Cut::default()).map_err(err)?;
        let refs: Vec<&(String, QueryRun)> = all.iter().collect();
        let per_query = ranking::evaluate(&refs, &[], &measures, relevance_level, false).per_query;
        // Freeing the judgements and runs (many small strings and maps) is left to a worker
        // while the result goes back to Python.
        rayon::spawn(move || drop((all, queries, qrels)));
        Ok(per_query)
    })?;
    per_query_dict(py, &measures, per_query)
}

/// Fuses runs given as ranx's dicts (`run[q][doc] = score`; each query's documents ranked by
/// score, ties in the dict's order) into one, `{q: {doc: fused score}}`, best first.
// Long: each run converted from its Python form (a table, a DataFrame or a dict of dicts) while
// the borrowed Python objects live, the fusion, and the result in the caller's form.
#[pyfunction]
#[pyo3(signature = (runs, method, norm, k, rrf_k, weights))]
fn fuse<'py>(
    py: Python<'py>,
    runs: Vec<Bound<'py, PyDict>>,
    method: &str,
    norm: Option<&str>,
    k: usize,
    rrf_k: f64,
    weights: Option<Vec<f64>>,
) -> PyResult<Bound<'py, PyDict>> {
    use simcal::fuse::RunInput;
    let opts = fuse_options(method, norm, k, rrf_k, weights)?;
    // Each run's rows in dict order (fusion orders each list by score, ties in this order),
    // with the dicts' own key objects kept for the result: no string is made twice, and
    // Python has already hashed them.
    let mut inputs = Vec::with_capacity(runs.len());
    let mut query_keys: Vec<Vec<Bound<'py, PyString>>> = Vec::with_capacity(runs.len());
    let mut doc_keys: Vec<Vec<Bound<'py, PyString>>> = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let name = format!("runs[{i}]");
        let rows: usize = run.values().iter().map(|d| d.len().unwrap_or(0)).sum();
        let (mut qids, mut dids) = (StringBuilder::with_capacity(rows, 8 * rows), StringBuilder::with_capacity(rows, 8 * rows));
        let mut scores = Vec::with_capacity(rows);
        let (mut qkeys, mut dkeys) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for (q, docs) in run.iter() {
            let q = q.cast_into::<PyString>().map_err(|e| invalid(format!("{name}: query id {} is not a string", e.into_inner())))?;
            let qid = q.to_str()?;
            let docs =
                docs.cast::<PyDict>().map_err(|_| invalid(format!("{name}[{}]: expected a dict of document → score", py_str(qid))))?;
            for (d, x) in docs.iter() {
                let d = d
                    .cast_into::<PyString>()
                    .map_err(|e| invalid(format!("{name}[{}]: document id {} is not a string", py_str(qid), e.into_inner())))?;
                let doc = d.to_str()?;
                let score: f64 =
                    x.extract().map_err(|_| invalid(format!("{name}[{}][{}]: score {x} is not a number", py_str(qid), py_str(doc))))?;
                qids.append_value(qid);
                dids.append_value(doc);
                scores.push(score);
                dkeys.push(d);
                qkeys.push(q.clone());
            }
        }
        inputs.push(RunInput::from_rows(&name, qids.finish(), dids.finish(), scores).map_err(err)?);
        query_keys.push(qkeys);
        doc_keys.push(dkeys);
    }
    let fused = py.detach(|| simcal::fuse::fuse(&inputs, &opts)).map_err(err)?;
    let key = |keys: &'_ [Vec<Bound<'py, PyString>>], run: u32, row: u32| -> PyResult<Bound<'py, PyString>> {
        keys.get(run as usize).and_then(|k| k.get(row as usize)).cloned().ok_or_else(|| invalid("fused row beyond its run"))
    };
    let out = PyDict::new(py);
    for q in &fused.queries {
        let d = PyDict::new(py);
        for h in &q.hits {
            d.set_item(key(&doc_keys, h.run, h.row)?, h.score)?;
        }
        let (run, row) = q.first.iter().enumerate().find_map(|(r, f)| f.map(|row| (r as u32, row))).unwrap_or((0, 0));
        out.set_item(key(&query_keys, run, row)?, d)?;
    }
    Ok(out)
}

/// The fusion's options from the Python arguments (the CLI's names).
fn fuse_options(method: &str, norm: Option<&str>, k: usize, rrf_k: f64, weights: Option<Vec<f64>>) -> PyResult<simcal::fuse::FuseOptions> {
    let method: simcal::fuse::Method = named("method", method)?;
    let norm = match norm {
        None => method.default_norm(),
        Some(n) => named("norm", n)?,
    };
    Ok(simcal::fuse::FuseOptions { method, norm, rrf_k, weights, k })
}

/// Fuses score tables (record batches with their schemas' metadata) as `simcal fuse` does,
/// into the table it writes: labels from the inputs, other columns carried.
#[pyfunction]
#[pyo3(signature = (tables, metas, method, norm, k, rrf_k, weights))]
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn fuse_tables(
    py: Python<'_>,
    tables: Vec<PyArrowType<RecordBatch>>,
    metas: Vec<HashMap<String, String>>,
    method: &str,
    norm: Option<&str>,
    k: usize,
    rrf_k: f64,
    weights: Option<Vec<f64>>,
) -> PyResult<PyArrowType<RecordBatch>> {
    use simcal::fuse::{fuse, fused_meta, fused_table, LabelSource, RunInput};
    let opts = fuse_options(method, norm, k, rrf_k, weights)?;
    let batch = py.detach(|| -> PyResult<RecordBatch> {
        use rayon::prelude::*;
        let inputs = tables
            .into_par_iter()
            .zip(metas)
            .enumerate()
            .map(|(i, (t, meta))| {
                let name = format!("runs[{i}]");
                let t = table_by(simcal::table::table_from_batch_wide, t.0, meta, &name)?;
                RunInput::from_table(Path::new(&name), t).map_err(err)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let fused = fuse(&inputs, &opts).map_err(err)?;
        let t = fused_table(&inputs, &fused, LabelSource::Inputs, fused_meta(&inputs, &opts, None)).map_err(err)?;
        with_metadata(t.batch, t.meta.to_pairs().into_iter().collect()).map_err(|e| invalid(e.to_string()))
    })?;
    Ok(PyArrowType(batch))
}

fn relevance(r: &Bound<'_, PyAny>, qid: &str, doc: &str) -> PyResult<i32> {
    r.extract::<i32>().map_err(|_| invalid(format!("qrels[{}][{}]: relevance {r} is not an integer", py_str(qid), py_str(doc))))
}

/// A score table in memory: `batch` as a pyarrow RecordBatch (one chunk) and its schema's
/// metadata (which the C data interface does not carry for a batch).
fn table(batch: RecordBatch, meta: HashMap<String, String>, name: &str) -> PyResult<simcal::table::ScoreTable> {
    table_by(simcal::table::table_from_batch, batch, meta, name)
}

/// A score table from `batch` and its schema's metadata `meta`, made by `build`.
fn table_by(
    build: fn(&Path, RecordBatch) -> simcal::Result<simcal::table::ScoreTable>,
    batch: RecordBatch,
    meta: HashMap<String, String>,
    name: &str,
) -> PyResult<simcal::table::ScoreTable> {
    let batch = with_metadata(batch, meta).map_err(|e| invalid(format!("{name}: {e}")))?;
    build(Path::new(name), batch).map_err(err)
}

/// `batch` with `meta` as its schema's metadata.
fn with_metadata(batch: RecordBatch, meta: HashMap<String, String>) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = std::sync::Arc::new(batch.schema().as_ref().clone().with_metadata(meta));
    batch.with_schema(schema)
}

/// Fits a table (a record batch, or the path of a parquet file) and returns the artifact JSON.
// Long: one argument per Python keyword, each converted and checked.
#[pyfunction]
#[pyo3(signature = (table, meta, path, method, target_precision, target_recall, abstain, group_by, min_pairs, min_relevant, folds, confidence, unit, fwer, grid, bootstrap, seed, rel_level, certified_by, qrels=None))]
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn fit(
    py: Python<'_>,
    table: Option<PyArrowType<RecordBatch>>,
    meta: HashMap<String, String>,
    path: Option<String>,
    method: &str,
    target_precision: Vec<f64>,
    target_recall: Vec<f64>,
    abstain: (f64, f64),
    group_by: Vec<String>,
    min_pairs: u64,
    min_relevant: u64,
    folds: usize,
    confidence: Option<f64>,
    unit: &str,
    fwer: &str,
    grid: usize,
    bootstrap: usize,
    seed: u64,
    rel_level: i32,
    certified_by: &str,
    qrels: Option<String>,
) -> PyResult<String> {
    let methods = named::<simcal::calibrate::Maps>("method", method)?.methods();
    let certify = match confidence {
        None => None,
        Some(c) => Some(CertifyOptions {
            confidence: c,
            unit: unit.parse::<Unit>().map_err(err)?,
            fwer: fwer.parse::<Fwer>().map_err(err)?,
            grid: Grid::Quantiles(grid),
            grid_source: "quantiles".into(),
        }),
    };
    let opts = FitOptions {
        methods,
        target_precision,
        target_recall,
        abstain: simcal::calibrate::artifact::Band { low: abstain.0, high: abstain.1 },
        group_by,
        min_pairs,
        min_relevant,
        folds,
        certify,
        certified_by: named("certified_by", certified_by)?,
        bootstrap,
        seed,
        rel_level,
    };
    let art = py.detach(|| -> PyResult<Artifact> {
        match (table, path) {
            (Some(batch), _) => {
                let mut t = self::table(batch.0, meta, "table")?;
                if let Some(q) = &qrels {
                    t = simcal::table::label_from_file(&t, Path::new("table"), Path::new(q), rel_level).map_err(err)?;
                }
                simcal::calibrate::fit_table_in_memory(&t, Path::new("table"), &opts).map_err(err)
            }
            (None, Some(p)) => simcal::calibrate::fit_file_labeled(Path::new(&p), qrels.as_deref().map(Path::new), &opts).map_err(err),
            (None, None) => Err(invalid("table: expected a pyarrow table or a path")),
        }
    })?;
    // The text of the file it would be: applied, it is hashed as that file is.
    art.file_text().map_err(invalid)
}

/// Reads and validates an artifact file; returns its text and the file's sha256 (which a table
/// it is applied to records, as the command line records it).
#[pyfunction]
fn load_artifact(py: Python<'_>, path: String) -> PyResult<(String, String)> {
    let (_, text, sha) = py.detach(|| Artifact::read_hashed(Path::new(&path))).map_err(err)?;
    Ok((text, sha))
}

/// `simcal report`: writes the HTML page comparing the score tables at `scores` (with the
/// calibrations at `calibrations`, matched by model) to `out`.
#[pyfunction]
#[pyo3(signature = (scores, calibrations, qrels, group_by, measures, rel_level, out))]
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn report(
    py: Python<'_>,
    scores: Vec<String>,
    calibrations: Vec<String>,
    qrels: Option<String>,
    group_by: Vec<String>,
    measures: Vec<String>,
    rel_level: i32,
    out: String,
) -> PyResult<()> {
    // None asked for: the CLI's default list.
    let measures = if measures.is_empty() { vec![simcal::metrics::ranking::DEFAULT_MEASURES.to_owned()] } else { measures };
    let measures = Measure::parse_list(&measures).map_err(err)?;
    let (scores, calibrations): (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) =
        (scores.iter().map(Into::into).collect(), calibrations.iter().map(Into::into).collect());
    py.detach(|| {
        simcal::report::write_report(
            &scores,
            &calibrations,
            qrels.as_deref().map(Path::new),
            &group_by,
            measures,
            rel_level,
            Path::new(&out),
        )
    })
    .map_err(err)
}

/// `simcal drift`: a labeled score table (a record batch, or the path of a parquet file)
/// against the baseline calibration (artifact JSON, and the name it goes by); returns the
/// JSON document `simcal drift --json` prints.
#[pyfunction]
#[pyo3(signature = (json, baseline_name, table, meta, path, max_ks, max_precision_drop, min_pairs, significance))]
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn drift(
    py: Python<'_>,
    json: &str,
    baseline_name: String,
    table: Option<PyArrowType<RecordBatch>>,
    meta: HashMap<String, String>,
    path: Option<String>,
    max_ks: f64,
    max_precision_drop: f64,
    min_pairs: u64,
    significance: f64,
) -> PyResult<String> {
    use simcal::metrics::drift::Tolerances;
    let art = artifact(json)?;
    let tol = Tolerances { max_ks, max_precision_drop, min_pairs, significance };
    let doc = py.detach(|| -> PyResult<serde_json::Value> {
        let (t, name) = match (table, path) {
            (Some(batch), _) => (self::table(batch.0, meta, "table")?, "table".to_owned()),
            (None, Some(p)) => (simcal::table::read_table(Path::new(&p)).map_err(err)?, p),
            (None, None) => return Err(invalid("table: expected a pyarrow table or a path")),
        };
        let r = simcal::metrics::drift::drift(&t, Path::new(&name), &art, tol).map_err(err)?;
        Ok(r.document(Path::new(&baseline_name), Path::new(&name)))
    })?;
    serde_json::to_string(&doc).map_err(|e| invalid(e.to_string()))
}

/// `simcal compare`'s options from Python's keywords (`test` and `correction` by name).
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn compare_options(
    measures: Vec<Measure>,
    test: &str,
    max_p: f64,
    permutations: usize,
    resamples: usize,
    level: f64,
    seed: u64,
    correction: &str,
    rel_level: i32,
    calibration: bool,
    target_precision: f64,
) -> PyResult<simcal::compare::CompareOptions> {
    Ok(simcal::compare::CompareOptions {
        measures,
        test: named("test", test)?,
        max_p,
        permutations,
        resamples,
        level,
        seed,
        correction: named("correction", correction)?,
        rel_level,
        calibration,
        target_precision,
    })
}

/// A comparison as Python takes it: the JSON document, ranx's table, the pairs' table, and each
/// run's per-query values (`{run: {measure: {query: value}}}`).
fn comparison_out(c: &simcal::compare::Comparison) -> PyResult<(String, String, String, String)> {
    let per_query: serde_json::Map<String, serde_json::Value> = c
        .runs
        .iter()
        .map(|r| {
            let by_measure: serde_json::Map<String, serde_json::Value> = c
                .measures
                .iter()
                .zip(&r.per_query)
                .map(|(m, v)| {
                    (
                        m.clone(),
                        c.queries.iter().cloned().zip(v.iter().map(|&x| serde_json::json!(x))).collect::<serde_json::Map<_, _>>().into(),
                    )
                })
                .collect();
            (r.name.clone(), by_measure.into())
        })
        .collect();
    let doc = serde_json::to_string(&c.document()).map_err(|e| invalid(e.to_string()))?;
    let per_query = serde_json::to_string(&per_query).map_err(|e| invalid(e.to_string()))?;
    Ok((doc, c.table(), c.pairs_table(), per_query))
}

/// `simcal compare` on score tables or TREC runs at `scores`, judged by `qrels` (None: the
/// tables' labels).
#[pyfunction]
#[pyo3(signature = (scores, qrels, measures, test, max_p, permutations, resamples, level, seed, correction, rel_level, calibration, target_precision))]
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn compare(
    py: Python<'_>,
    scores: Vec<String>,
    qrels: Option<String>,
    measures: Vec<String>,
    test: &str,
    max_p: f64,
    permutations: usize,
    resamples: usize,
    level: f64,
    seed: u64,
    correction: &str,
    rel_level: i32,
    calibration: bool,
    target_precision: f64,
) -> PyResult<(String, String, String, String)> {
    let measures = if measures.is_empty() { vec![simcal::metrics::ranking::DEFAULT_MEASURES.to_owned()] } else { measures };
    let measures = Measure::parse_list(&measures).map_err(err)?;
    let opts =
        compare_options(measures, test, max_p, permutations, resamples, level, seed, correction, rel_level, calibration, target_precision)?;
    let scores: Vec<std::path::PathBuf> = scores.iter().map(Into::into).collect();
    let c = py.detach(|| simcal::compare::compare_files(&scores, qrels.as_deref().map(Path::new), &opts)).map_err(err)?;
    comparison_out(&c)
}

/// A run's per-query values as Python gives them: `{query: {measure: value}}`.
type PerQuery = HashMap<String, HashMap<String, f64>>;

/// Compares runs given as per-query values: `runs` is `[(name, {query: {measure: value}})]`
/// (`evaluate`'s output), `measures` the measures compared (trec_eval's names form their
/// values as trec_eval does; other names are means).
#[pyfunction]
#[pyo3(signature = (runs, measures, test, max_p, permutations, resamples, level, seed, correction))]
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn compare_values(
    py: Python<'_>,
    runs: Vec<(String, PerQuery)>,
    measures: Vec<String>,
    test: &str,
    max_p: f64,
    permutations: usize,
    resamples: usize,
    level: f64,
    seed: u64,
    correction: &str,
) -> PyResult<(String, String, String, String)> {
    let parsed: Vec<Option<Measure>> = measures.iter().map(|m| Measure::parse(m).ok()).collect();
    let aggregates: Vec<simcal::metrics::measure::Aggregate> =
        parsed.iter().map(|m| m.as_ref().map_or(simcal::metrics::measure::Aggregate::Mean, Measure::aggregate)).collect();
    let base = simcal::compare::CompareOptions::default();
    let opts = compare_options(
        parsed.into_iter().flatten().collect(),
        test,
        max_p,
        permutations,
        resamples,
        level,
        seed,
        correction,
        base.rel_level,
        false,
        base.target_precision,
    )?;
    let mut given = Vec::with_capacity(runs.len());
    for (i, (name, per_query)) in runs.into_iter().enumerate() {
        let mut values = std::collections::BTreeMap::new();
        for (q, by_measure) in per_query {
            let mut v = Vec::with_capacity(measures.len());
            for m in &measures {
                match by_measure.get(m) {
                    Some(&x) => v.push(x),
                    None => return Err(invalid(format!("runs[{i}] ({name:?}), query {}: no value of {m:?}", py_str(&q)))),
                }
            }
            values.insert(q, v);
        }
        given.push(simcal::compare::QueryValues { name, path: String::new(), values });
    }
    let c = py.detach(|| simcal::compare::compare_values(&given, &measures, Some(&aggregates), &opts)).map_err(err)?;
    comparison_out(&c)
}

/// Validates an artifact's JSON (the text of a file, or what `fit` returned).
fn artifact(json: &str) -> PyResult<Artifact> {
    Artifact::from_json(json, Path::new("calibration")).map_err(err)
}

/// Writes an artifact (JSON) to `path`, atomically.
#[pyfunction]
fn save_artifact(py: Python<'_>, json: &str, path: String) -> PyResult<()> {
    let art = artifact(json)?;
    py.detach(|| art.write(Path::new(&path))).map_err(err)
}

/// `apply`'s options from Python's keywords (shared by `apply` and `Decider`).
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn apply_options(
    decide_on: &str,
    target: Option<f64>,
    certified_by: Option<&str>,
    method: Option<String>,
    floor: Option<f64>,
    min_gap: f64,
    abstain: Option<(f64, f64)>,
    force: bool,
) -> PyResult<ApplyOptions> {
    Ok(ApplyOptions {
        decide_on: named("decide_on", decide_on)?,
        target,
        certified_by: certified_by.map(|c| named("certified_by", c)).transpose()?,
        method: method.map(|m| m.parse::<Method>()).transpose().map_err(err)?,
        floor,
        min_gap,
        abstain: abstain.map(|(low, high)| simcal::calibrate::artifact::Band { low, high }),
        force,
    })
}

/// Applies an artifact to a table: (the table with `probability`, the decisions, the warnings
/// the command line prints).
#[pyfunction]
#[pyo3(signature = (json, table, meta, decide_on, target, certified_by, method, floor, min_gap, force, abstain=None, sha256=None))]
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn apply(
    py: Python<'_>,
    json: &str,
    table: PyArrowType<RecordBatch>,
    meta: HashMap<String, String>,
    decide_on: &str,
    target: Option<f64>,
    certified_by: Option<&str>,
    method: Option<String>,
    floor: Option<f64>,
    min_gap: f64,
    force: bool,
    abstain: Option<(f64, f64)>,
    sha256: Option<String>,
) -> PyResult<(PyArrowType<RecordBatch>, PyArrowType<RecordBatch>, Vec<String>)> {
    let art = artifact(json)?;
    let opts = apply_options(decide_on, target, certified_by, method, floor, min_gap, abstain, force)?;
    let (rows, decisions, warnings) = py.detach(|| -> PyResult<(RecordBatch, RecordBatch, Vec<String>)> {
        let t = self::table(table.0, meta, "table")?;
        // The file's hash where it was read from one, else that of the file it would be.
        let sha = sha256.unwrap_or_else(|| simcal::table::sha256_bytes(json.as_bytes()));
        let applied = simcal::policy::apply_artifact(&t, Path::new("table"), &art, Path::new("calibration"), &sha, &opts).map_err(err)?;
        let decisions = simcal::policy::decisions_batch(&applied.decisions).map_err(err)?;
        // The table's provenance, as the parquet file `simcal apply` writes carries it.
        let rows =
            with_metadata(applied.table.batch, applied.table.meta.to_pairs().into_iter().collect()).map_err(|e| invalid(e.to_string()))?;
        Ok((rows, decisions, applied.warnings))
    })?;
    Ok((PyArrowType(rows), PyArrowType(decisions), warnings))
}

/// One query's decision as Python receives it: (decision, top probability, threshold, target,
/// certificate, gap, group, top hit's position).
type VerdictTuple = (&'static str, Option<f64>, Option<f64>, Option<f64>, Option<String>, Option<f64>, String, Option<usize>);

fn verdict_tuple(v: simcal::decider::Verdict) -> VerdictTuple {
    use simcal::Choice;
    (v.decision.name(), v.top_probability, v.threshold, v.target, v.certificate, v.gap, v.group, v.top)
}

/// A calibration made ready to decide one query at a time (`Calibration.decide`): built once,
/// then each call is the map, the cutoffs and the certificate of the query's group.
#[pyclass(frozen, module = "simcal._simcal")]
struct Decider {
    inner: simcal::decider::Decider,
}

#[pymethods]
impl Decider {
    #[new]
    #[pyo3(signature = (json, decide_on, target, certified_by, method, floor, min_gap, abstain=None))]
    #[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
    fn new(
        json: &str,
        decide_on: &str,
        target: Option<f64>,
        certified_by: Option<&str>,
        method: Option<String>,
        floor: Option<f64>,
        min_gap: f64,
        abstain: Option<(f64, f64)>,
    ) -> PyResult<Decider> {
        let art = artifact(json)?;
        let opts = apply_options(decide_on, target, certified_by, method, floor, min_gap, abstain, false)?;
        Ok(Decider { inner: simcal::decider::Decider::new(art, Path::new("calibration"), &opts).map_err(err)? })
    }

    /// What `apply` would warn of for every query (no certificate for the target, deciding on
    /// the estimate).
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings().to_vec()
    }

    /// The key of the group whose group columns have `values` (None: a null).
    fn group_key(&self, values: std::collections::BTreeMap<String, Option<String>>) -> PyResult<String> {
        self.inner.group_key(&values).map_err(err)
    }

    /// Whether the fit has a group of this key.
    fn knows_group(&self, key: &str) -> bool {
        self.inner.knows_group(key)
    }

    /// One query's decision from its hits' scores.
    #[pyo3(signature = (scores, group=None))]
    fn decide(&self, scores: PyReadonlyArray1<'_, f32>, group: Option<&str>) -> PyResult<VerdictTuple> {
        self.inner.decide(scores.as_slice()?, group).map(verdict_tuple).map_err(err)
    }

    /// The decisions of many queries: query i's hit scores are `scores[offsets[i]..offsets[i + 1]]`
    /// (an Arrow list array's layout), its group `groups[i]` where the calibration has groups;
    /// with the GIL released.
    #[pyo3(signature = (scores, offsets, groups=None))]
    fn decide_many(
        &self,
        py: Python<'_>,
        scores: PyReadonlyArray1<'_, f32>,
        offsets: PyReadonlyArray1<'_, u64>,
        groups: Option<Vec<Option<String>>>,
    ) -> PyResult<Vec<VerdictTuple>> {
        let (s, o) = (scores.as_slice()?, offsets.as_slice()?);
        let queries = o.len().saturating_sub(1);
        if let Some(g) = &groups {
            if g.len() != queries {
                return Err(invalid(format!("groups has {} entries but there are {queries} queries", g.len())));
            }
        }
        py.detach(|| {
            o.windows(2)
                .enumerate()
                .map(|(i, w)| {
                    let hits = w
                        .first()
                        .zip(w.get(1))
                        .and_then(|(&a, &b)| s.get(usize::try_from(a).ok()?..usize::try_from(b).ok()?))
                        .ok_or_else(|| invalid(format!("offsets[{i}..{}] is not a range of the scores", i + 1)))?;
                    let group = groups.as_ref().and_then(|g| g.get(i)).and_then(Option::as_deref);
                    self.inner.decide(hits, group).map(verdict_tuple).map_err(|e| invalid(format!("queries[{i}]: {e}")))
                })
                .collect()
        })
    }

    /// P(relevant) of each hit under its group's pair map (`apply`'s `probability`).
    #[pyo3(signature = (scores, group=None))]
    fn probabilities<'py>(
        &self,
        py: Python<'py>,
        scores: PyReadonlyArray1<'py, f32>,
        group: Option<&str>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(self.inner.probabilities(scores.as_slice()?, group).map_err(err)?.into_pyarray(py))
    }
}

/// A score table from Python: a record batch with its metadata, or the path of a file.
type TableSource = (Option<PyArrowType<RecordBatch>>, HashMap<String, String>, Option<String>);

/// The recall of an exact top k's neighbours in an approximate index's hits (the document
/// `simcal eval --reference --json` prints, per query included), as JSON.
#[pyfunction]
#[pyo3(signature = (approx, exact, cutoffs))]
fn ann_recall(py: Python<'_>, approx: TableSource, exact: TableSource, cutoffs: Vec<usize>) -> PyResult<String> {
    let cols = ["query_id", "doc_id", "rank", "score"];
    let load = |(batch, meta, path): TableSource, name: &str| -> PyResult<(simcal::table::ScoreTable, std::path::PathBuf)> {
        match (batch, path) {
            (Some(b), _) => Ok((self::table(b.0, meta, name)?, std::path::PathBuf::from(name))),
            (None, Some(p)) => Ok((simcal::metrics::read_scores(Path::new(&p), &cols).map_err(err)?, std::path::PathBuf::from(p))),
            (None, None) => Err(invalid(format!("{name}: expected a score table or a path"))),
        }
    };
    py.detach(|| {
        let (a, ap) = load(approx, "approx")?;
        let (e, ep) = load(exact, "exact")?;
        let r = simcal::metrics::neighbours::neighbour_recall(&a, &ap, &e, &ep, &cutoffs).map_err(err)?;
        Ok(r.document(true).to_string())
    })
}

/// The nightly job (`simcal run`): the config file's encoders, or with no config the sample in
/// `data`, into `out`. Returns the manifest (`run.json`, as JSON) and the notes the CLI would
/// print (missing baselines let through, forced applies).
#[pyfunction]
#[pyo3(signature = (config, data, out, k, seed, backend, allow_missing_baseline))]
#[expect(clippy::too_many_arguments, reason = "one argument per Python keyword")]
fn run(
    py: Python<'_>,
    config: Option<String>,
    data: Option<String>,
    out: Option<String>,
    k: usize,
    seed: u64,
    backend: Option<&str>,
    allow_missing_baseline: bool,
) -> PyResult<(String, Vec<String>)> {
    let mut c = nightly_config(config, data, k, seed)?;
    if let Some(o) = out {
        c.out = o.into();
    }
    if let Some(b) = backend {
        c.backend.choice = b.parse().map_err(err)?;
    }
    let opts = simcal::nightly::RunOptions { allow_missing_baseline };
    let stop = Interrupt::default();
    let notes = Mutex::new(Vec::new());
    let manifest = py.detach(|| {
        simcal::nightly::run(&c, &opts, &|event| {
            use simcal::nightly::Event;
            let note = match event {
                Event::Note(n) => vec![n.clone()],
                Event::Applied { encoder, applied, .. } => applied.warnings.iter().map(|w| format!("apply {encoder}: {w}")).collect(),
                _ => Vec::new(),
            };
            if let Ok(mut v) = notes.lock() {
                v.extend(note);
            }
            stop.check()
        })
        .map_err(|e| stop.raise(e))
    })?;
    let json = serde_json::to_string(&manifest).map_err(|e| invalid(e.to_string()))?;
    Ok((json, notes.into_inner().unwrap_or_default()))
}

/// The job's config: the file's, else the sample's in `data` (default `data`) into `out`.
fn nightly_config(config: Option<String>, data: Option<String>, k: usize, seed: u64) -> PyResult<simcal::nightly::Config> {
    match config {
        Some(path) => simcal::nightly::Config::load(Path::new(&path)).map_err(err),
        None => {
            let dir = std::path::PathBuf::from(data.unwrap_or_else(|| "data".to_owned()));
            simcal::nightly::Config::sample(&dir, "out".into(), k, seed).map_err(err)
        }
    }
}

/// The last run's calibration of encoder `name` becomes its drift baseline; returns the
/// baseline's path.
#[pyfunction]
fn promote(py: Python<'_>, config: String, name: &str) -> PyResult<String> {
    let c = simcal::nightly::Config::load(Path::new(&config)).map_err(err)?;
    let (_, dest) = py.detach(|| simcal::nightly::promote(&c, name)).map_err(err)?;
    Ok(dest.to_string_lossy().into_owned())
}

/// The compiled part of the `simcal` package.
#[pymodule]
fn _simcal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The worker threads start now, so that a failure to start them (a process or memory
    // limit) is an import error with the OS's reason, not a panic inside the first call.
    rayon::ThreadPoolBuilder::new()
        .build_global()
        .map_err(|e| pyo3::exceptions::PyImportError::new_err(format!("simcal: cannot start worker threads: {e}")))?;
    keep_freed_memory();
    m.add("SimcalError", m.py().get_type::<SimcalError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(defaults, m)?)?;
    m.add_function(wrap_pyfunction!(pytrec_eval_measures, m)?)?;
    m.add_function(wrap_pyfunction!(topk, m)?)?;
    m.add_function(wrap_pyfunction!(score, m)?)?;
    m.add_function(wrap_pyfunction!(isotonic_fit, m)?)?;
    m.add_function(wrap_pyfunction!(isotonic_predict, m)?)?;
    m.add_function(wrap_pyfunction!(platt_fit, m)?)?;
    m.add_function(wrap_pyfunction!(platt_predict, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_table, m)?)?;
    m.add_function(wrap_pyfunction!(fuse, m)?)?;
    m.add_function(wrap_pyfunction!(fuse_tables, m)?)?;
    m.add_function(wrap_pyfunction!(allocator_purge_options, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(load_artifact, m)?)?;
    m.add_function(wrap_pyfunction!(save_artifact, m)?)?;
    m.add_function(wrap_pyfunction!(apply, m)?)?;
    m.add_class::<Decider>()?;
    m.add_function(wrap_pyfunction!(ann_recall, m)?)?;
    m.add_function(wrap_pyfunction!(drift, m)?)?;
    m.add_function(wrap_pyfunction!(report, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(compare_values, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(promote, m)?)?;
    Ok(())
}
