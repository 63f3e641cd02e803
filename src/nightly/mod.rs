//! The nightly job: score → fit → apply → eval → drift gate → report for every encoder a
//! config names, and a manifest of what it wrote (`simcal run`, `simcal.run` in Python).
//!
//! - [`config`] reads the job's TOML file (or makes the sample's job);
//! - [`pipeline`] runs it, one function per stage, telling an observer what each stage did (the
//!   CLI prints it; the Python package checks for Ctrl-C);
//! - `manifest` is what the run wrote: `run.json`, each output with its sha256.
//!
//! The contracts of the files each stage writes, and of the manifest, are in
//! docs/architecture.md §6.

pub mod config;
pub(crate) mod manifest;
pub mod pipeline;

pub use config::{Config, Drift, Encoder};
pub use manifest::{Manifest, OutputFile, Step};
pub use pipeline::{promote, run, Event, RunOptions};
