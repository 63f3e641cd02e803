//! The nightly job's manifest (`run.json`): every output of the run with its sha256, what each
//! stage reported, which encoders drifted and which calibrations became baselines.

use std::path::PathBuf;

use serde::Serialize;

use crate::policy::DecisionCounts;

/// Version of the manifest's layout.
pub const MANIFEST_VERSION: u32 = 1;

/// One file the run wrote.
#[derive(Clone, Debug, Serialize)]
pub struct OutputFile {
    /// Where.
    pub path: PathBuf,
    /// The file's sha256, hex.
    pub sha256: String,
}

/// What one stage did, as the manifest records it (`"step"` names the stage).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// An encoder's score table.
    Score {
        /// The encoder.
        encoder: String,
        /// `simcal score --json`'s summary.
        summary: serde_json::Value,
    },
    /// Its calibration.
    Fit {
        /// The encoder.
        encoder: String,
        /// `simcal fit --json`'s summary.
        summary: serde_json::Value,
    },
    /// The calibration applied to its table.
    Apply {
        /// The encoder.
        encoder: String,
        /// Queries per decision.
        decisions: DecisionCounts,
        /// The table with probabilities.
        out: PathBuf,
        /// One decision per query.
        decisions_file: PathBuf,
    },
    /// Its evaluation.
    Eval {
        /// The encoder.
        encoder: String,
        /// The evaluation's JSON document.
        out: PathBuf,
        /// Mean of each ranking measure over the judged queries.
        ranking: serde_json::Map<String, serde_json::Value>,
    },
    /// The drift gate against its baseline calibration.
    Drift {
        /// The encoder.
        encoder: String,
        /// Whether the gate tripped.
        drifted: bool,
        /// What tripped it.
        violations: Vec<String>,
        /// The drift report.
        out: PathBuf,
    },
    /// The report comparing the encoders.
    Report {
        /// The HTML page.
        out: PathBuf,
    },
}

/// What a run wrote: `run.json` in the output folder, written last.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// The manifest's schema version, 1.
    pub schema_version: u32,
    /// Always `run`.
    pub command: &'static str,
    /// simcal's version.
    pub version: String,
    /// The output folder.
    pub out: PathBuf,
    /// Encoders whose drift gate tripped (their calibrations did not become baselines).
    pub drifted: Vec<String>,
    /// Every output, in the order written, with its hash.
    pub outputs: Vec<OutputFile>,
    /// What each stage did, in order.
    pub steps: Vec<Step>,
    /// Encoders whose calibration became their drift baseline tonight.
    pub promoted: Vec<String>,
}

impl Manifest {
    /// The manifest as JSON.
    pub fn document(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
    }
}
