//! Exact top-k of query rows against corpus rows held in memory (no files, no ids): what a
//! caller holding arrays needs, faiss's `IndexFlat.search` in one call.
//!
//! The corpus is borrowed, never copied: its rows are checked and staged by the backend a block
//! at a time (packed into GEMM panels for the CPU, uploaded for a GPU), the next block staged
//! while the last is scored, exactly as [`super::score_corpus`] streams a file. Only the queries
//! are copied, to be normalised.

use std::path::Path;

use ndarray::ArrayView2;

use super::{check_storage, stage_checked, Backend, Hit, Located, ScoreOptions, TopK};
use crate::embed::prepare;
use crate::error::{Error, Result};

/// Names of the two matrices in errors (a bad row reads "corpus: row 7: …").
#[derive(Clone, Copy, Debug)]
pub struct Names<'a> {
    /// The queries' name.
    pub queries: &'a str,
    /// The corpus's name.
    pub corpus: &'a str,
}

impl Default for Names<'_> {
    fn default() -> Self {
        Names { queries: "queries", corpus: "corpus" }
    }
}

/// Each query's top hits (rank order, `row` the corpus row) and the zero vectors scored 0
/// (queries, corpus rows).
#[derive(Debug)]
pub struct MatrixHits {
    /// One list per query, each of `min(k, corpus rows)` hits.
    pub hits: Vec<Vec<Hit>>,
    /// Zero query vectors scored 0.
    pub zero_queries: u64,
    /// Zero corpus vectors scored 0.
    pub zero_corpus: u64,
}

/// Scores every row of `queries` against every row of `corpus` and keeps the exact top
/// `opts.k` of each query. `interrupted` is asked on the calling thread before each block of
/// the corpus is scored; an error it returns stops the scoring (a caller's Ctrl-C).
// Long: as score_corpus: a staging thread and the scoring loop on one channel.
pub fn score_matrices<B: Backend>(
    backend: &mut B,
    queries: ArrayView2<f32>,
    corpus: ArrayView2<f32>,
    opts: ScoreOptions,
    names: Names,
    interrupted: &dyn Fn() -> Result<()>,
) -> Result<MatrixHits> {
    let (qpath, cpath) = (Path::new(names.queries), Path::new(names.corpus));
    if opts.k == 0 {
        return Err(Error::Invalid("k must be at least 1".into()));
    }
    if queries.nrows() == 0 {
        return Err(Error::format(qpath, "no rows"));
    }
    if corpus.nrows() == 0 {
        return Err(Error::format(cpath, "no rows"));
    }
    if queries.ncols() != corpus.ncols() {
        return Err(Error::Mismatch {
            message: format!(
                "dimension mismatch: {} has {} columns, {} has {}",
                names.queries,
                queries.ncols(),
                names.corpus,
                corpus.ncols()
            ),
        });
    }
    if queries.ncols() == 0 {
        return Err(Error::format(qpath, "vectors of dimension 0"));
    }
    let mut qv = queries.to_owned();
    let qs = prepare(qpath, 0, &[], &mut qv, opts.metric, opts.zero_vectors)?;
    check_storage(backend, qpath, 0, &[], qv.view(), None)?;
    backend.load_queries(qv.view())?;
    drop(qv);
    let backend: &B = backend;
    let k = opts.k.min(corpus.nrows());
    let mut topk: Vec<TopK> = (0..queries.nrows()).map(|_| TopK::new(k)).collect();
    let block = (backend.chunk_bytes() / (4 * corpus.ncols())).max(1);
    let mut zero_corpus = 0;
    std::thread::scope(|s| -> Result<()> {
        // Blocks are staged on a second thread while the previous one is scored.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(u64, B::Staged)>>(1);
        let (qs, zero_corpus) = (&qs, &mut zero_corpus);
        crate::error::spawn_scoped(s, "staging", move || {
            for lo in (0..corpus.nrows()).step_by(block) {
                let rows = corpus.slice(ndarray::s![lo..(lo + block).min(corpus.nrows()), ..]);
                let at = Located { path: cpath, first_row: lo as u64, ids: &[] };
                let query = Located { path: qpath, first_row: 0, ids: &[] };
                let item = stage_checked(backend, &at, rows, opts.metric, opts.zero_vectors, qs, &query).map(|(staged, zeros)| {
                    *zero_corpus += zeros;
                    (lo as u64, staged)
                });
                let stop = item.is_err();
                if tx.send(item).is_err() || stop {
                    break;
                }
            }
        })?;
        // Asked on the calling thread, where a caller's signal handlers run.
        for item in rx {
            interrupted()?;
            let (first_row, staged) = item?;
            backend.score(&staged, first_row, &mut topk)?;
        }
        Ok(())
    })?;
    Ok(MatrixHits { hits: topk.into_iter().map(TopK::into_sorted).collect(), zero_queries: qs.zeros, zero_corpus })
}
