//! simcal's integration tests, one binary.

// Builders for embeddings files, qrels and the naive reference.
mod common;
// One parity suite for every backend (CPU instruction sets, GPU f32/f16) against a naive f64 reference.
mod engine;
// The CPU engine's bfloat16 screen: exactly the top k of the exact scores, on near-ties.
mod screen;
// The GPU backend's schedule arithmetic and command-line face.
mod gpu;
// The CPU kernel chosen by measurement: selection on injected timings, what is recorded.
mod choose;
// Every WGSL kernel parses and validates with naga (no GPU needed).
mod shaders;
// Every reader on every accepted type: parquet vectors and ids, .npy, qrels formats.
mod readers;
// The command line: outputs, metadata, and every bad input of docs/architecture.md §3.
mod cli;
// The README and docs/ link to files and headings that exist.
mod docs;
// Golden values from faiss IndexFlatIP (tests/golden/make_faiss.py).
mod golden;
// Calibration: scikit-learn golden values, properties, fit/apply through the CLI.
pub mod calibration;
// Evaluation and drift: pytrec_eval, scikit-learn, scipy and netcal golden values; the drift gate.
mod eval;
// simcal eval against trec_eval's own test suite: every value of its test outputs.
mod trec_eval;
// The HTML report parses and every chart has data in it.
mod report;
// Fusion: ranx golden values, the fused table, bad inputs, RRF of the sample.
mod fuse;
// Sharded scoring and the exact merge; shards as separate processes.
mod shard;
// The nightly job from a config file and its drift gate.
mod nightly;
// Score histograms that merge, and fits from them against the exact fit.
mod histograms;
// The shared statistics: binomial tails, exact intervals, FWER procedures, LTT, CRC.
mod stats;
// The paired tests of comparisons: scipy's t-test, statsmodels' corrections, exact permutations.
mod paired;
// simcal compare: paired tests per measure and pair, pairing, false-positive rate, calibrations.
mod compare;
// Certified thresholds and exact intervals: MAPIE and scipy golden values.
mod certify;
// The drift gate's two-sample tests: scipy's Fisher exact test and asymptotic KS.
mod twosample;
// How far to trust a threshold: folds, out-of-fold numbers, coverage of certified thresholds.
mod trust;
// What is certified is what is acted on: groups, targets, units, families, the reported bounds.
mod acted;
// One unit from estimate to decision: exported cutoffs, not found, decision quality.
mod decisions;
// An approximate index's hits against the exact top k, and fit --qrels.
mod neighbours;
// The artifact's JSON Schema in docs/ is the one its types derive.
mod schema;
// The typed, validated view of a score table that fit, eval and apply read.
mod view;
// No command writes over its inputs or into anything but a regular file.
mod safety;
// All outputs or none; no temporary file left by an error, a limit or a signal.
mod outputs;
// Score tables written by other tools: no metadata, categorical ids, float64 scores, no rank.
mod foreign;
// The fuzzers' corpora replayed on stable: no reader panics on any of them.
mod fuzz_corpus;
// Hostile input, second round: lost files, panics and silent wrong answers, each refused.
mod hostile;
// `simcal run` on the sample writes the committed bytes (tests/golden/run_outputs.sha256).
mod regression;
