//! simcal's integration tests, one binary.

// Builders for embeddings files, qrels and the naive reference.
mod common;
// The fused CPU engine against a naive f64 reference, on every instruction set this processor runs.
mod engine;
// Every reader on every accepted type: parquet vectors and ids, .npy, qrels formats.
mod readers;
// The command line: outputs, metadata, and every bad input of DESIGN.md §3.
mod cli;
// Golden values from faiss IndexFlatIP (tests/golden/make_faiss.py).
mod golden;
