//! The calibration artifact (docs/architecture.md §5): versioned JSON tied to the score table it was fitted
//! on, one entry per group plus the global fit. Written atomically; read back only when its
//! schema version is one this build knows.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::certify::{CertifiedBy, Unit};
pub use super::folds::HeldOutTarget;
use super::isotonic::Isotonic;
use super::platt::Platt;
use super::summary::{CalibrationMetrics, Distributions};
use super::Method;
use crate::error::{Error, Result};
use crate::policy::Decision;
use crate::stats::ltt::Fwer;

super::maps::fitted_maps!(GroupFit, DecisionFit, FoundFit);

/// What a threshold's target is a value of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Precision: the share of relevant units at or above the threshold.
    Precision,
    /// Recall: the share of relevant units found at or above it.
    Recall,
}

crate::choice::choice!(TargetKind => "target");

/// The artifact schema version this build writes and reads.
pub const ARTIFACT_VERSION: u32 = 1;

/// A calibration: what it was fitted on, how, and the fits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Artifact {
    /// The artifact's schema version, 1 ([`ARTIFACT_VERSION`]): a reader refuses another.
    #[schemars(range(min = 1, max = 1))]
    pub schema_version: u32,
    /// simcal version that fitted it.
    pub simcal_version: String,
    /// Creation time, RFC 3339 UTC (`SOURCE_DATE_EPOCH` when set, for reproducible output).
    pub created: String,
    /// Model of the score table.
    pub model: String,
    /// Metric of the score table.
    pub metric: String,
    /// k of the score table.
    pub k: usize,
    /// sha256 of the score table file.
    pub scores_sha256: String,
    /// Labels at or above this are relevant.
    pub rel_level: i32,
    /// Maps fitted, isotonic first.
    pub methods: Vec<Method>,
    /// Columns the groups were formed by (empty: the global fit only).
    pub group_by: Vec<String>,
    /// Groups with fewer labeled pairs are not fitted.
    pub min_pairs: u64,
    /// Groups with fewer relevant pairs are not fitted.
    #[serde(default)]
    pub min_relevant: u64,
    /// Bootstrap resamples (0: no intervals).
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// What the bootstrap resampled: `query` (whole queries, in random blocks) or `pair`.
    #[serde(default)]
    pub bootstrap_unit: Option<String>,
    /// Targets asked for.
    pub targets: TargetSpec,
    /// How the held-out numbers were measured (absent: no cross-fitting).
    #[serde(default)]
    pub held_out: Option<HeldOutSpec>,
    /// How thresholds were certified (absent: not asked for).
    #[serde(default)]
    pub certification: Option<CertificationSpec>,
    /// The abstain band in probability: act at or above `high`, not found below `low`.
    pub abstain: Band,
    /// Row counts of the table.
    pub counts: Counts,
    /// The fit on every labeled pair.
    pub global: GroupFit,
    /// One entry per value of the group columns, in key order.
    pub groups: Vec<GroupFit>,
}

/// Cross-fitting by query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeldOutSpec {
    /// Folds K: each fold fitted on the other K − 1 and measured on itself.
    pub folds: usize,
    /// Seed of the queries' hash.
    pub seed: u64,
    /// Queries in all.
    pub queries: u64,
}

/// Certification of thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CertificationSpec {
    /// 1 − δ: every certificate with a δ that the artifact reports (each target of the global
    /// fit and of every group in the family) holds at once with at least this probability.
    pub confidence: f64,
    /// The exchangeable unit.
    pub unit: Unit,
    /// Family-wise procedure.
    pub fwer: Fwer,
    /// Candidate thresholds asked for: quantiles of the units' scores, or a file's count.
    pub grid: usize,
    /// Where the candidates came from: `quantiles` or the grid file's path.
    pub grid_source: String,
    /// Groups in the family: those whose counts alone (at least `min_pairs` labeled pairs, and
    /// enough units that the easiest target could be certified at their share at a precision
    /// halfway between it and 1) admit them, never their labels; fitted or not.
    pub groups: usize,
    /// Queries left out of the query unit: no labeled row at all (not judged).
    #[serde(default)]
    pub unjudged_queries: u64,
    /// Targets certified with a δ (precision targets, and recall targets except conformal risk
    /// control's, which hold in expectation).
    #[serde(default)]
    pub targets: usize,
    /// Certificates sharing δ: targets × (groups + 1).
    #[serde(default)]
    pub certificates: usize,
    /// δ of each certificate: δ / certificates (Bonferroni).
    #[serde(default)]
    pub delta_each: f64,
    /// What the confidence covers, in words.
    #[serde(default)]
    pub family: String,
    /// Whose certificates the fit made: `group` (each group's and the global one) or `global`
    /// (the global one alone); `apply` acts on the same unless told otherwise.
    #[serde(default)]
    pub certified_by: CertifiedBy,
}

/// Target precisions and recalls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetSpec {
    /// Target precisions.
    pub precision: Vec<f64>,
    /// Target recalls.
    pub recall: Vec<f64>,
}

/// An abstain band in probability.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Band {
    /// Below: not found.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub low: f64,
    /// At or above: act.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub high: f64,
}

/// `LOW:HIGH`, as `simcal fit --abstain` takes it.
impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.low, self.high)
    }
}

impl std::str::FromStr for Band {
    type Err = String;
    /// `LOW:HIGH`, e.g. `0.5:0.9` (the order and range are checked by the fit).
    fn from_str(s: &str) -> std::result::Result<Band, String> {
        let (lo, hi) = s.split_once(':').ok_or_else(|| format!("{s:?}: expected LOW_P:HIGH_P, e.g. 0.5:0.9"))?;
        let p = |v: &str| v.trim().parse::<f64>().map_err(|_| format!("{s:?}: {v:?} is not a number"));
        Ok(Band { low: p(lo)?, high: p(hi)? })
    }
}

/// Rows of the score table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counts {
    /// Rows.
    pub rows: u64,
    /// Rows with a label.
    pub labeled: u64,
    /// Labeled rows that are relevant.
    pub relevant: u64,
}

/// The fit of one group (or the global one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupFit {
    /// `all` for the global fit, else `col=value` pairs joined by `,`.
    pub key: String,
    /// The group's value of each group column.
    pub values: BTreeMap<String, String>,
    /// Labeled pairs.
    pub n: u64,
    /// Relevant pairs.
    pub n_relevant: u64,
    /// Whether the maps were fitted (false: too few pairs, or one class only).
    pub fitted: bool,
    /// Why not, when not fitted.
    pub reason: Option<String>,
    /// The Platt map.
    pub platt: Option<Platt>,
    /// Why there is no Platt map although it was asked for.
    pub platt_error: Option<String>,
    /// The isotonic map.
    pub isotonic: Option<Isotonic>,
    /// One per target, precision targets first.
    pub thresholds: Vec<Threshold>,
    /// Per map, the scores where its probability crosses the abstain band.
    pub band_scores: BTreeMap<String, BandScores>,
    /// Per map, calibration on the fitting data.
    pub metrics: BTreeMap<String, CalibrationMetrics>,
    /// Per map, calibration of the out-of-fold probabilities (cross-fitted by query).
    #[serde(default)]
    pub held_out_metrics: BTreeMap<String, CalibrationMetrics>,
    /// Score distributions of relevant and irrelevant pairs.
    pub distributions: Option<Distributions>,
    /// The map of decisions, fitted on each query's top hit (the global fit only).
    #[serde(default)]
    pub decision: Option<DecisionFit>,
}

/// The calibration of the unit decisions are about: each labeled query's top hit. The pair maps
/// (`platt`, `isotonic`) are fitted on every labeled pair of the top k, which is not the
/// population a decision about a top hit comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecisionFit {
    /// `top-hit`: one unit per query with a labeled row, its rank-1 hit (relevant or not).
    pub unit: String,
    /// Queries.
    pub queries: u64,
    /// Queries whose top hit is relevant.
    pub relevant: u64,
    /// Why there are no maps (one class only).
    pub reason: Option<String>,
    /// The Platt map of top hits.
    pub platt: Option<Platt>,
    /// Why there is no Platt map although it was asked for.
    pub platt_error: Option<String>,
    /// The isotonic map of top hits.
    pub isotonic: Option<Isotonic>,
    /// Per map, calibration on the top hits it was fitted on.
    pub metrics: BTreeMap<String, CalibrationMetrics>,
    /// Per map, calibration of out-of-fold probabilities of top hits (cross-fitted by query).
    pub held_out_metrics: BTreeMap<String, CalibrationMetrics>,
    /// Each precision target's threshold on the top hits (the unit of decisions): its estimate
    /// in sample and, with folds, held out. `n` and `tp` count queries here, not pairs.
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    /// The map of "found": the probability that a relevant document is anywhere in the query's
    /// top k, given its top score. `not_found` rests on it (absent when the table's queries are
    /// not known).
    #[serde(default)]
    pub found: Option<FoundFit>,
    /// How good each decision was on the fitting queries, in sample, with the cutoffs `apply`
    /// uses by default (`band_scores`; no minimum gap).
    #[serde(default)]
    pub quality: Vec<DecisionQuality>,
    /// The same, held out: each fold of queries decided by maps and a certificate (the global
    /// one) refitted on the other folds.
    #[serde(default)]
    pub held_out_quality: Vec<DecisionQuality>,
}

/// The map of "found" (a relevant document anywhere in the top k) on each judged query's top
/// score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FoundFit {
    /// Judged queries.
    pub queries: u64,
    /// Those with a relevant document in their top k.
    pub found: u64,
    /// The Platt map.
    pub platt: Option<Platt>,
    /// The isotonic map.
    pub isotonic: Option<Isotonic>,
}

/// How good one decision was: its queries, how often their top hit was relevant, and how often
/// a relevant document was anywhere in their top k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecisionQuality {
    /// The decision.
    pub decision: Decision,
    /// Queries given it.
    pub queries: u64,
    /// Those whose top hit is relevant.
    pub top_hit_relevant: u64,
    /// top_hit_relevant / queries (None without queries).
    pub precision: Option<f64>,
    /// Those with a relevant document anywhere in the top k (None where not known).
    pub found: Option<u64>,
    /// found / queries.
    pub found_share: Option<f64>,
}

/// The scores where `apply`'s decisions change for a group's queries, by the top hit's score:
/// act at or above `act`, not found below `not_found_below`, escalate between (ambiguous only
/// with a minimum gap).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BandScores {
    /// Lowest top score that acts (None: none acts).
    pub act: Option<f64>,
    /// Lowest top score that is not "not found" (None: every query is not found).
    pub not_found_below: Option<f64>,
    /// What `act` rests on: a certificate (`certified precision T (fit)`) or the map's
    /// probability (`estimate`). Absent in artifacts whose cutoffs were the pair map's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act_rests_on: Option<String>,
    /// The map whose crossing of the band's low end gives `not_found_below`: `found` (a relevant
    /// document in the top k), `top-hit` or `pair`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_found_map: Option<String>,
}

/// A threshold for one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Threshold {
    /// What the target is a value of.
    pub target: TargetKind,
    /// The target value.
    pub value: f64,
    /// Whether some threshold reaches it on the fitting data.
    pub reachable: bool,
    /// Predict relevant at or above this score.
    pub score: Option<f64>,
    /// Precision at the threshold on the fitting data.
    pub precision: Option<f64>,
    /// Recall at the threshold on the fitting data.
    pub recall: Option<f64>,
    /// Why it is not reachable ("not reachable: best precision is …").
    pub message: Option<String>,
    /// Bootstrap 95% intervals.
    pub interval: Option<ThresholdInterval>,
    /// This group's threshold minus the global one (stability across groups).
    pub delta_from_global: Option<f64>,
    /// Pairs at or above the threshold.
    #[serde(default)]
    pub n: Option<u64>,
    /// Relevant pairs at or above the threshold.
    #[serde(default)]
    pub tp: Option<u64>,
    /// Exact (Clopper–Pearson) 95% interval of the precision: tp of n.
    #[serde(default)]
    pub precision_exact: Option<[f64; 2]>,
    /// Exact (Clopper–Pearson) 95% interval of the recall: tp of the relevant pairs.
    #[serde(default)]
    pub recall_exact: Option<[f64; 2]>,
    /// The estimate rests on fewer than 30 ([`SMALL_SAMPLE`]) pairs at or above it.
    #[serde(default)]
    pub small_sample: bool,
    /// The threshold chosen on the other folds, measured on each held-out fold, pooled.
    #[serde(default)]
    pub held_out: Option<HeldOutTarget>,
    /// The certified threshold for this target, when certification was asked for.
    #[serde(default)]
    pub certified: Option<CertifiedThreshold>,
    /// The judged queries whose top hit scores at or above `score`, and how many of those top
    /// hits are relevant, on the fitting data: the unit decisions are made on.
    #[serde(default)]
    pub top_hits: Option<UnitCount>,
}

/// Units at or above a threshold, and the relevant ones among them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnitCount {
    /// Units.
    pub n: u64,
    /// Relevant units.
    pub tp: u64,
}

impl UnitCount {
    /// The units of `units` whose top hit scores at or above `score`.
    pub fn at_or_above<'a>(units: impl IntoIterator<Item = &'a super::certify::QueryUnit>, score: f64) -> UnitCount {
        let (mut n, mut tp) = (0, 0);
        for u in units.into_iter().filter(|u| u.top_score >= score) {
            n += 1;
            tp += u64::from(u.top_relevant);
        }
        UnitCount { n, tp }
    }

    /// tp / n (None when n = 0).
    pub fn precision(&self) -> Option<f64> {
        (self.n > 0).then(|| self.tp as f64 / self.n as f64)
    }
}

/// Fewer pairs than this at or above a threshold are flagged as a small sample.
pub const SMALL_SAMPLE: u64 = 30;

/// A threshold with a finite-sample guarantee.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CertifiedThreshold {
    /// What the target is a value of.
    pub target: TargetKind,
    /// The target value.
    pub value: f64,
    /// Predict relevant at or above this score; none when nothing is certified.
    pub score: Option<f64>,
    /// Units at or above it.
    pub n: Option<u64>,
    /// Relevant units at or above it.
    pub tp: Option<u64>,
    /// Precision of the calibration units at it.
    pub precision: Option<f64>,
    /// Recall of the calibration units at it.
    pub recall: Option<f64>,
    /// Its Hoeffding–Bentkus p-value (Learn-Then-Test).
    pub p_value: Option<f64>,
    /// A lower confidence bound on the precision there (on the recall for a recall target over
    /// pairs) that holds whichever grid point was chosen: the largest target at which the
    /// chosen threshold would still be certified by Bonferroni over the whole grid at this
    /// certificate's δ (so the bounds of all certificates hold at once with probability at
    /// least 1 − δ of the fit, as a family of their own beside the certificates').
    #[serde(default)]
    pub simultaneous_lower_bound: Option<f64>,
    /// Conformal risk control's bound on the expected miss rate there.
    pub risk_bound: Option<f64>,
    /// What kind of claim it is: `probability` (it holds with probability at least `confidence`
    /// over the draw of the calibration units, Learn-Then-Test) or `expectation` (the expected
    /// miss rate of a new query is at most the target's, conformal risk control: no δ).
    #[serde(default)]
    pub guarantee: String,
    /// 1 − δ of this certificate alone (absent for a guarantee in expectation).
    pub confidence: Option<f64>,
    /// δ of this certificate alone: the fit's δ split over every certificate it reports.
    pub delta: Option<f64>,
    /// Each query's top hit (or its relevant documents for recall), pairs clustered in
    /// independent queries, or pairs assumed independent.
    pub unit: Unit,
    /// `holm`, `bonferroni`, `fixed-sequence` (Learn-Then-Test) or `crc`.
    pub method: String,
    /// Distinct candidate thresholds tested.
    pub grid: usize,
    /// Units the guarantee rests on.
    pub units: u64,
    /// Independent queries the units came from (the pair unit's test counts these).
    #[serde(default)]
    pub queries: Option<u64>,
    /// Why there is no certified score.
    pub reason: Option<String>,
    /// Where nothing is certified: about how many more units would let Bonferroni over the grid
    /// certify the target at this δ, were the precision observed at the most promising
    /// candidate the true one (even odds, not a power of 1 − δ).
    #[serde(default)]
    pub units_needed: Option<u64>,
}

/// Bootstrap 95% intervals of a threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ThresholdInterval {
    /// Of the threshold a resample picks.
    pub score: Option<[f64; 2]>,
    /// Of the precision the fitted threshold gives in a resample.
    pub precision: Option<[f64; 2]>,
    /// Fraction of resamples where the target was reachable.
    pub reachable_fraction: f64,
}

impl Artifact {
    /// The artifact's JSON Schema (draft 2020-12), derived from these types and their docs:
    /// what docs/artifact.schema.json holds, for readers in any language.
    pub fn json_schema() -> serde_json::Value {
        let mut schema = schemars::schema_for!(Artifact);
        schema.insert("$id".into(), "https://simcal.invalid/artifact.schema.json".into());
        schema.insert("title".into(), format!("simcal calibration artifact, schema_version {ARTIFACT_VERSION}").into());
        schema.to_value()
    }

    /// What a user should know about the fit beside its thresholds: unreachable targets,
    /// groups not fitted, failed maps, and the groups' thresholds that could not be certified
    /// (the global threshold's reason is part of the threshold itself).
    pub fn notes(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(c) = self.certification.as_ref().filter(|c| c.unjudged_queries > 0) {
            v.push(format!(
                "{} no judgement (no labeled row) and are not units of certification",
                crate::words::count(c.unjudged_queries, "query has", "queries have")
            ));
        }
        for (i, g) in std::iter::once(&self.global).chain(&self.groups).enumerate() {
            if let Some(r) = &g.reason {
                v.push(format!("group {}: not fitted: {r}", g.key));
            }
            if let Some(e) = &g.platt_error {
                v.push(format!("group {}: no Platt map: {e}", g.key));
            }
            for t in &g.thresholds {
                if let Some(m) = &t.message {
                    v.push(format!("group {}: target {} {}: {m}", g.key, t.target, t.value));
                }
                if let Some(r) = t.certified.as_ref().and_then(|c| c.reason.as_ref()).filter(|_| i > 0) {
                    v.push(format!("group {}: target {} {}: {r}", g.key, t.target, t.value));
                }
            }
        }
        v
    }

    /// The summary `simcal fit --json` prints (and the nightly job's manifest records) of this
    /// artifact, fitted in `seconds` and written to `out`.
    pub fn summary(&self, seconds: f64, out: &Path) -> serde_json::Value {
        serde_json::json!({
            "out": out,
            "seconds": seconds,
            "labeled": self.counts.labeled,
            "relevant": self.counts.relevant,
            "methods": self.methods,
            "global": {
                "platt": self.global.platt,
                "isotonic_breakpoints": self.global.isotonic.as_ref().map(|i| i.x.len()),
                "thresholds": self.global.thresholds,
                "metrics": self.global.metrics,
                "held_out_metrics": self.global.held_out_metrics,
            },
            "held_out": self.held_out,
            "certification": self.certification,
            "groups": self.groups.iter().map(|g| serde_json::json!({"key": g.key, "n": g.n, "fitted": g.fitted, "reason": g.reason})).collect::<Vec<_>>(),
            "notes": self.notes(),
        })
    }

    /// Writes the artifact as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = self.file_text().map_err(|e| Error::format(path, e))?;
        crate::output::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()).map_err(|e| Error::io(path, e)))
    }

    /// The artifact's file: the text [`Artifact::write`] writes (pretty JSON and a newline). A
    /// calibrated table records its sha256 (`simcal.calibration_sha256`): an artifact held in
    /// memory is hashed as the file it would be, so both front ends record the same hash.
    pub fn file_text(&self) -> std::result::Result<String, String> {
        serde_json::to_string_pretty(self).map(|t| t + "\n").map_err(|e| e.to_string())
    }

    /// Reads an artifact, refusing a schema version this build does not know.
    pub fn read(path: &Path) -> Result<Artifact> {
        let text = crate::text::read_text(path)?;
        Artifact::from_json(&text, path)
    }

    /// Reads an artifact with its file's text and the sha256 of the file's bytes (which a table
    /// it is applied to records), in one read.
    pub fn read_hashed(path: &Path) -> Result<(Artifact, String, String)> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let sha = crate::table::sha256_bytes(&bytes);
        let text = crate::text::text_of(path, bytes)?;
        Ok((Artifact::from_json(&text, path)?, text, sha))
    }

    /// Parses and validates an artifact's JSON text (`path` names it in errors), as
    /// [`Artifact::read`] does a file's.
    pub fn from_json(text: &str, path: &Path) -> Result<Artifact> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::format(path, format!("not a calibration artifact (JSON: {})", crate::error::foreign_text(e))))?;
        // Another of simcal's JSON files, named for what it is.
        if value.get("bits").is_some() && value.get("sources").is_some() {
            return Err(Error::format(path, "a histogram file (of hist), not a calibration: fit a calibration from it first"));
        }
        match value.get("schema_version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(ARTIFACT_VERSION) => {}
            Some(v) => {
                return Err(Error::format(
                    path,
                    format!("calibration schema version {v} is not one this simcal reads (it reads {ARTIFACT_VERSION}); refit or use a matching simcal"),
                ))
            }
            None => return Err(Error::format(path, "not a calibration artifact: no schema_version")),
        }
        let art: Artifact = serde_json::from_value(value)
            .map_err(|e| Error::format(path, format!("malformed calibration artifact: {}", crate::error::foreign_text(e))))?;
        art.validate().map_err(|why| Error::format(path, format!("invalid calibration artifact: {why}")))?;
        Ok(art)
    }

    /// Checks what every reader of an artifact relies on, once, on load: the abstain band is
    /// ordered within [0, 1]; every isotonic map has as many values as breakpoints, breakpoints
    /// finite and ascending, values in [0, 1] and non-decreasing; every Platt map has finite
    /// parameters; every threshold score is finite. An edited artifact that breaks one of these
    /// would give probabilities outside [0, 1] or NaN; it is refused with what is wrong where.
    // Long: one check per field of an artifact that readers rely on, each naming the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let Band { low, high } = self.abstain;
        if !((0.0..=1.0).contains(&low) && (0.0..=1.0).contains(&high) && low <= high) {
            return Err(format!("abstain band {low}:{high} is not 0 ≤ low ≤ high ≤ 1"));
        }
        fn maps(g: &GroupFit) -> Vec<(String, Option<&Isotonic>, Option<&Platt>)> {
            let mut v = vec![(g.key.clone(), g.isotonic.as_ref(), g.platt.as_ref())];
            if let Some(d) = &g.decision {
                v.push((format!("{} (decision map)", g.key), d.isotonic.as_ref(), d.platt.as_ref()));
            }
            v
        }
        for g in std::iter::once(&self.global).chain(&self.groups) {
            for (key, iso, platt) in maps(g) {
                if let Some(m) = iso {
                    if m.x.len() != m.y.len() || m.x.is_empty() {
                        return Err(format!("group {key}: isotonic map has {} breakpoints and {} values", m.x.len(), m.y.len()));
                    }
                    if m.x.iter().any(|x| !x.is_finite()) || m.x.iter().zip(m.x.iter().skip(1)).any(|(a, b)| a > b) {
                        return Err(format!("group {key}: isotonic breakpoints are not finite and ascending"));
                    }
                    if m.y.iter().any(|y| !(0.0..=1.0).contains(y)) || m.y.iter().zip(m.y.iter().skip(1)).any(|(a, b)| a > b) {
                        return Err(format!("group {key}: isotonic values are not probabilities in non-decreasing order"));
                    }
                }
                if let Some(p) = platt {
                    if !(p.a.is_finite() && p.b.is_finite()) {
                        return Err(format!("group {key}: Platt parameters a = {}, b = {} are not finite", p.a, p.b));
                    }
                }
            }
            if let Some(d) = &g.distributions {
                d.validate().map_err(|e| format!("group {}: score distributions: {e}", g.key))?;
            }
            if g.n_relevant > g.n {
                return Err(format!("group {}: {} relevant of {} labeled pairs", g.key, g.n_relevant, g.n));
            }
            for t in &g.thresholds {
                if t.score.is_some_and(|s| !s.is_finite()) || t.certified.as_ref().and_then(|c| c.score).is_some_and(|s| !s.is_finite()) {
                    return Err(format!("group {}: threshold for {} {} is not a finite score", g.key, t.target, t.value));
                }
                // Counts of a part are at most the whole's: true positives of the pairs at or above.
                let over = |tp: Option<u64>, n: Option<u64>| tp.zip(n).is_some_and(|(tp, n)| tp > n);
                if over(t.tp, t.n) || t.held_out.as_ref().is_some_and(|h| over(Some(h.tp), Some(h.n))) {
                    return Err(format!(
                        "group {}: threshold for {} {}: more relevant pairs than pairs at or above it",
                        g.key, t.target, t.value
                    ));
                }
            }
        }
        let c = &self.counts;
        if c.relevant > c.labeled || c.labeled > c.rows {
            return Err(format!("counts: {} relevant of {} labeled of {} rows", c.relevant, c.labeled, c.rows));
        }
        // One fit per key: a reader would take the first and never see the second.
        let mut keys = std::collections::HashSet::new();
        if let Some(g) = self.groups.iter().find(|g| !keys.insert(g.key.as_str())) {
            return Err(format!("group {} is listed twice", g.key));
        }
        // The groups split the labeled pairs: neither the whole nor the groups together count more.
        let sums = self.groups.iter().try_fold((0u64, 0u64), |(n, r), g| n.checked_add(g.n).zip(r.checked_add(g.n_relevant)));
        for (what, n, r) in std::iter::once(("the global fit", Some(self.global.n), Some(self.global.n_relevant))).chain(std::iter::once((
            "the groups together",
            sums.map(|s| s.0),
            sums.map(|s| s.1),
        ))) {
            match (n, r) {
                (Some(n), Some(r)) if n <= c.labeled && r <= c.relevant => {}
                (Some(n), Some(r)) => {
                    return Err(format!("{what}: {n} labeled pairs ({r} relevant), more than the table's {} ({})", c.labeled, c.relevant))
                }
                _ => return Err(format!("{what}: the labeled pairs overflow (more than 2⁶⁴ − 1)")),
            }
        }
        Ok(())
    }

    /// The fit for a group key: the group's when fitted, else the global one.
    pub(crate) fn fit_for(&self, key: &str) -> &GroupFit {
        self.groups.iter().find(|g| g.key == key && g.fitted).unwrap_or(&self.global)
    }
}
