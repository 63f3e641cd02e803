//! simcal: is a vector search result good enough to act on?
//!
//! simcal scores query embeddings against corpus embeddings (cosine or dot, exact top-k) and
//! writes the hits as a parquet **score table**; labeled score tables become calibrations
//! (thresholds, Platt and isotonic maps per group) and decisions per query.
//!
//! ```text
//! embeddings (parquet | npy)          qrels (TREC | BEIR tsv | parquet)
//!         │                                   │
//!         ▼                                   │
//!    score  ── backend: gpu | cpu ────────────┤   exact top-k, streamed corpus chunks
//!         │                                   ▼
//!         └──────────────► score table (parquet)
//!                                │
//!          ┌─────────────────────┼───────────────────────┐
//!          ▼                     ▼                       ▼
//!        fit ──► calibration.json ──► apply ──► probabilities + decisions
//!          │                     │
//!          ▼                     ▼
//!        eval (JSON)          drift (baseline vs new table: exit 1 on drift)
//!          │
//!          ▼
//!        report (self-contained HTML with SVG charts)
//! ```
//!
//! The pieces, in the order data flows through them:
//! - [`embed`] reads embeddings (whole for queries, chunk by chunk for the corpus), checks every
//!   row and normalises for cosine;
//! - [`labels`] reads relevance judgements;
//! - [`score`] runs a [`score::Backend`] over the corpus chunks and keeps each query's exact
//!   top k ([`score::TopK`]); the CPU backend is the reference every other backend is tested
//!   against;
//! - [`table`] joins hits with labels into a [`table::ScoreTable`] and writes it as parquet or
//!   a TREC run; it also merges the parts of a sharded job ([`table::merge_parts`]: corpus
//!   shards from `embed::open_corpus_shard`) into the single run's table;
//! - [`fuse`] fuses several tables or TREC runs (RRF, CombSUM, CombMNZ, max, weighted sum, with
//!   ranx's normalisations) into one table;
//! - [`job`] chains them for one `simcal score` invocation;
//! - [`nightly`] runs the nightly job (`simcal run`): its config, one function per stage, and
//!   the manifest of what it wrote;
//! - [`stats`] holds the statistics every later stage shares: binomial tails and exact
//!   (Clopper–Pearson) intervals, Learn-Then-Test, conformal risk control, quantiles and the
//!   drift gate's two-sample tests;
//! - [`calibrate`] fits a labeled table: threshold sweep, Platt, isotonic, bootstrap, per group,
//!   cross-fitted by query ([`calibrate::folds`]) and certified ([`calibrate::certify`]), with a
//!   map of each query's top hit for decisions, into an [`calibrate::artifact::Artifact`] — or fits summed
//!   score histograms ([`calibrate::histogram`]) when the pairs are too many for one machine;
//! - [`policy`] applies an artifact: a probability per row, a floor, a decision per query;
//!   [`decider::Decider`] decides one query at a time, from its hits' scores, by the same rule;
//! - [`metrics`] measures a table: trec_eval's ranking measures, separation, a calibration's
//!   reliability, and drift against an artifact's stored distributions;
//! - [`report`] draws those numbers for several encoders on one HTML page.
//!
//! # The stages: the front ends' interface
//!
//! Each command is one library function taking typed options (whose `Default` is the one
//! definition of every default) and returning a typed result; the command's `--json` document
//! is that result's `Serialize` form (apply, merge, fuse, hist, eval on histograms) or the
//! document it builds (`ScoreSummary::document`, `Artifact::summary`, `Evaluation::document`,
//! `DriftReport::document`). The CLI and the Python package call these and add only where they
//! wrote and how long it took.
//!
//! | command | stage | result |
//! |---|---|---|
//! | `score` | [`job::run_score_job`] ([`job::score_table`] in memory) | [`job::ScoreSummary`] |
//! | `fit` | [`calibrate::fit_and_write`] ([`calibrate::fit_histograms`] from histograms) | [`calibrate::artifact::Artifact`] |
//! | `apply` | [`policy::apply_to`] | [`policy::Applied`], [`policy::ApplySummary`] |
//! | `eval` | [`metrics::evaluate_files`] ([`metrics::summed::evaluate_histograms`]) | [`metrics::Evaluation`] |
//! | `drift` | [`metrics::drift::drift_files`] | [`metrics::drift::DriftReport`] |
//! | `report` | [`report::write_report`] | the HTML page |
//! | `fuse` | [`fuse::fuse_files`] | [`fuse::FuseSummary`] |
//! | `merge` | [`table::merge_parts`] | [`table::MergeSummary`] |
//! | `hist` | [`calibrate::histogram::hist_files`] | [`calibrate::histogram::HistSummary`] |
//! | `run` | [`nightly::run`] | [`nightly::Manifest`] |
//!
//! Errors name the library's own options and fields in backquotes (`` `max_ks` ``); each front
//! end words them its own way ([`error::word_options`]). The rest of the public items serve
//! the test suite and the benches, not as a promise.
//!
//! The contracts between the stages (inputs, the score table, the calibration artifact, the
//! nightly manifest, the references the numbers agree with) are in the repository's
//! `docs/architecture.md`; the pages of `docs/` document every command.
//!
//! The library never prints and never exits: every fallible function returns
//! [`error::Result`], whose errors name the file and the row at fault.
#![deny(missing_docs)]
// User data flows through the library: a failure is an Error, never an unwrap's panic.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod calibrate;
pub mod choice;
pub mod compare;
pub mod decider;
pub mod embed;
pub mod error;
pub mod fuse;
pub mod job;
pub mod labels;
pub mod metrics;
pub mod nightly;
pub mod output;
pub mod policy;
pub mod report;
pub mod score;
pub mod stats;
pub mod table;
pub(crate) mod text;
pub mod words;

pub use choice::Choice;
pub use error::{Error, Result};
