//! Applying a calibration: a probability for every row of a score table, top-k with a
//! probability floor, and one decision per query (act / escalate / not found / ambiguous), from
//! the calibration artifact of docs/architecture.md §5.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use crate::calibrate::artifact::TargetKind;
use crate::calibrate::artifact::{Artifact, Band, BandScores, GroupFit};
use crate::calibrate::certify::Unit;
use crate::calibrate::maps::Calibrator;
use crate::calibrate::maps::FittedMaps;
use crate::calibrate::Method;
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::table::{RowGroups, ScoreTable, TableView};

/// What an agent should do with a query's best hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The top hit's probability is at or above the band's high end.
    Act,
    /// Between the band's ends.
    Escalate,
    /// Below the band's low end, or no hit left.
    NotFound,
    /// The top two hits are closer in probability than the minimum gap.
    Ambiguous,
}

crate::choice::choice!(Decision => "decision");

impl Decision {
    /// The decision for people: `act`, `escalate`, `not found`, `ambiguous`.
    pub fn words(self) -> &'static str {
        match self {
            Decision::NotFound => "not found",
            d => d.name(),
        }
    }
}

/// The policy: a band, and the smallest gap between the top two probabilities that still lets
/// the top hit be acted on or escalated.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The abstain band.
    pub band: Band,
    /// Top-1 minus top-2 probability below this is ambiguous (0: never).
    pub min_gap: f64,
}

/// What `act` rests on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecideOn {
    /// The certificate of the designated precision target at the query unit: act only at or
    /// above its score (where the calibration has certified thresholds; otherwise as
    /// `Estimate`, with a warning).
    #[default]
    Certified,
    /// The abstain band on the map's probability.
    Estimate,
}

crate::choice::choice!(DecideOn => "decision rule");

pub use crate::calibrate::certify::CertifiedBy;

impl Policy {
    /// The decision for a query whose top hit (None: no hit left) scores `top_score`, by the
    /// cutoffs `c` of its group: with `certified`, a query at or above `c.act` acts whatever the
    /// band or the gap say (the certified set, whole); otherwise it acts at or above `c.act`
    /// only when its gap allows. Below `c.not_found_below` (or with no such score) it is not
    /// found; otherwise ambiguous when the gap is under the minimum, else escalated.
    pub(crate) fn decide_at(&self, c: &BandScores, top_score: Option<f64>, gap: Option<f64>, certified: bool) -> Decision {
        let Some(s) = top_score else { return Decision::NotFound };
        let acts = c.act.is_some_and(|a| s >= a);
        if certified && acts {
            Decision::Act
        } else if c.not_found_below.is_none_or(|b| s < b) {
            Decision::NotFound
        } else if gap.is_some_and(|g| g < self.min_gap) {
            Decision::Ambiguous
        } else if acts {
            Decision::Act
        } else {
            Decision::Escalate
        }
    }
}

/// The cutoff that every score is at or above (the lowest finite f64: JSON has no −∞).
pub const EVERY_SCORE: f64 = f64::MIN;

/// A decision cutoff as a person reads it: `none` where there is none, −∞ for
/// [`EVERY_SCORE`] (every score is at or above it), else the score to four places.
pub fn cutoff_text(cutoff: Option<f64>, none: &str) -> String {
    match cutoff {
        None => none.to_owned(),
        Some(c) if c <= EVERY_SCORE => "−∞".to_owned(),
        Some(c) => format!("{c:.4}"),
    }
}

/// The scores where `apply`'s decisions change for the queries of group `key` under map
/// `method`: `act` from the certificate of `target` (by `by`, when deciding on certificates)
/// or where the map of top hits reaches the band's high end (on the estimate); `not_found_below`
/// where the map of "found" (a relevant document in the top k) reaches the band's low end. A
/// calibration without maps of top hits (a table without ranks) decides on the group's pair
/// map.
pub fn cutoffs(
    art: &Artifact,
    key: &str,
    method: Method,
    decided_on: DecideOn,
    target: Option<f64>,
    by: CertifiedBy,
    band: Band,
) -> BandScores {
    let crossing = |maps: &dyn FittedMaps, q: f64| maps.map(method).and_then(|m| m.reaches(q));
    let decision = art.global.decision.as_ref().filter(|d| d.has(method));
    let (act_map, not_found_below, not_found_map) = match decision {
        Some(d) => {
            let top = |q| crossing(d, q);
            match d.found.as_ref().filter(|f| f.has(method)) {
                Some(f) => (top(band.high), crossing(f, band.low), "found"),
                None => (top(band.high), top(band.low), "top-hit"),
            }
        }
        None => {
            let g = Some(art.fit_for(key)).filter(|g| g.has(method)).unwrap_or(&art.global);
            (crossing(g, band.high), crossing(g, band.low), "pair")
        }
    };
    let (act, rests): (Option<f64>, String) = match (decided_on, target) {
        (DecideOn::Estimate, _) => (act_map, "estimate".to_owned()),
        (DecideOn::Certified, None) => (None, "certified: no precision target was fitted".to_owned()),
        (DecideOn::Certified, Some(t)) => match certified_score(art, key, t, by) {
            Some(c) => (Some(c.score), format!("certified precision {t} ({})", c.fit)),
            None => (None, format!("certified precision {t}: no certificate covers these queries")),
        },
    };
    let not_found_below = below_act(act, not_found_below);
    BandScores { act, not_found_below, act_rests_on: Some(rests), not_found_map: Some(not_found_map.to_owned()) }
}

/// `not_found_below` held at or below `act`: a query that acts is never "not found", so the
/// cutoffs read in one order (act, not found, escalate) whatever the maps do where they cross.
pub(crate) fn below_act(act: Option<f64>, not_found_below: Option<f64>) -> Option<f64> {
    match (act, not_found_below) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (Some(a), None) => Some(a),
        (None, b) => b,
    }
}

/// What `apply` decides on by default for `art`: its certificates when it has them (of its
/// first precision target, by the rule its fit used), else the estimate.
pub(crate) fn default_rule(art: &Artifact) -> (DecideOn, Option<f64>, CertifiedBy) {
    let by = match art.certification.as_ref().map(|c| c.certified_by) {
        Some(CertifiedBy::Global) => CertifiedBy::Global,
        _ => CertifiedBy::Group,
    };
    let on = if art.certification.is_some() { DecideOn::Certified } else { DecideOn::Estimate };
    (on, art.targets.precision.first().copied(), by)
}

/// The certificate a query acts on: the fit it comes from (`all` or a group's key) and its score.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    /// `all` for the global fit, else the group's key.
    pub fit: String,
    /// The certified score.
    pub score: f64,
}

/// The designated precision target of `art`: `target` when given (it must be one the fit
/// certified), else the first one the fit was asked for.
pub(crate) fn designated_target(art: &Artifact, target: Option<f64>) -> Result<Option<f64>> {
    match target {
        None => Ok(art.targets.precision.first().copied()),
        Some(t) if art.targets.precision.iter().any(|&p| (p - t).abs() < 1e-12) => Ok(Some(t)),
        Some(t) => Err(Error::Invalid(format!(
            "target {t}: the calibration has no precision target {t} (its targets: {})",
            if art.targets.precision.is_empty() {
                "none".to_owned()
            } else {
                art.targets.precision.iter().map(f64::to_string).collect::<Vec<_>>().join(", ")
            }
        ))),
    }
}

/// The certificate of precision `target` that the queries of group `key` act on: with
/// [`CertifiedBy::Group`] (and a grouped fit) the group's own, none when the group has none;
/// otherwise the global one. Only a certificate at the query unit counts: decisions are about
/// each query's top hit.
pub(crate) fn certified_score(art: &Artifact, key: &str, target: f64, by: CertifiedBy) -> Option<Certificate> {
    let of = |g: &GroupFit| {
        g.thresholds
            .iter()
            .filter(|t| t.target == TargetKind::Precision && (t.value - target).abs() < 1e-12)
            .find_map(|t| t.certified.as_ref().filter(|c| c.unit == Unit::Query).and_then(|c| c.score))
            .map(|score| Certificate { fit: g.key.clone(), score })
    };
    if by == CertifiedBy::Group && !art.group_by.is_empty() {
        art.groups.iter().find(|g| g.key == key && g.fitted).and_then(of)
    } else {
        of(&art.global)
    }
}

impl ApplyOptions {
    /// The first probability option outside [0, 1] (NaN included: a NaN gap would compare as
    /// no gap at all), by its field's name, with its value.
    pub(crate) fn out_of_range(&self) -> Option<(&'static str, f64)> {
        self.floor.map(|f| ("floor", f)).into_iter().chain([("min_gap", self.min_gap)]).find(|(_, v)| !(0.0..=1.0).contains(v))
    }
}

/// How to apply.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// What `act` rests on.
    pub decide_on: DecideOn,
    /// The precision target whose certificate `act` rests on (default: the fit's first).
    pub target: Option<f64>,
    /// Whose certificate a group's queries act on (None: whose the fit made).
    pub certified_by: Option<CertifiedBy>,
    /// The map to use (default: isotonic when the artifact has it, else Platt).
    pub method: Option<Method>,
    /// Drop rows whose probability is below this.
    pub floor: Option<f64>,
    /// Minimum top-1 minus top-2 gap.
    pub min_gap: f64,
    /// The abstain band (None: the fit's), applied to the calibration's maps without refitting.
    pub abstain: Option<Band>,
    /// Apply even when the artifact's model or metric differ from the table's.
    pub force: bool,
}

/// One query's decision.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryDecision {
    /// The query.
    pub query_id: String,
    /// Its group's key (the fit used).
    pub group: String,
    /// The most probable hit left, if any.
    pub top_doc_id: Option<String>,
    /// Its probability.
    pub top_probability: Option<f64>,
    /// Top-1 minus top-2 probability (top-1 alone when one hit is left).
    pub gap: Option<f64>,
    /// What to do.
    pub decision: Decision,
    /// The precision target whose certificate `act` rested on (None: decided on the estimate).
    pub target: Option<f64>,
    /// The certified score the top hit was held to (None: no certificate for this query).
    pub threshold: Option<f64>,
    /// The fit whose certificate that is: `all` or the group's key.
    pub certificate: Option<String>,
}

/// The result of applying: the table with `probability`, the decisions, and warnings.
#[derive(Debug)]
pub struct Applied {
    /// The table with a `probability` column (rows below the floor removed).
    pub table: ScoreTable,
    /// One per query, in table order.
    pub decisions: Vec<QueryDecision>,
    /// Things the user should know (a forced mismatch).
    pub warnings: Vec<String>,
    /// The map used.
    pub method: Method,
    /// What `act` rested on: `certified` or `estimate`.
    pub decided_on: DecideOn,
    /// The precision target whose certificates `act` rested on (None: decided on the estimate).
    pub target: Option<f64>,
    /// Whose certificates the queries acted on.
    pub certified_by: CertifiedBy,
}

/// How many queries got each decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecisionCounts {
    /// Queries decided `act`.
    pub act: usize,
    /// Queries decided `escalate`.
    pub escalate: usize,
    /// Queries decided `not_found`.
    pub not_found: usize,
    /// Queries decided `ambiguous`.
    pub ambiguous: usize,
}

impl DecisionCounts {
    /// Each decision with its count, in the order act, escalate, not found, ambiguous.
    pub fn each(&self) -> [(Decision, usize); 4] {
        [
            (Decision::Act, self.act),
            (Decision::Escalate, self.escalate),
            (Decision::NotFound, self.not_found),
            (Decision::Ambiguous, self.ambiguous),
        ]
    }
}

/// What an apply did (the front ends add where they wrote it): `simcal apply --json`'s document.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ApplySummary {
    /// The map used.
    pub method: Method,
    /// What `act` rested on.
    pub decided_on: DecideOn,
    /// The precision target whose certificates `act` rested on (None: decided on the estimate).
    pub target: Option<f64>,
    /// Whose certificates the queries acted on.
    pub certified_by: CertifiedBy,
    /// Rows of the applied table (rows below the floor removed).
    pub rows: usize,
    /// Queries decided.
    pub queries: usize,
    /// How many queries got each decision.
    pub decisions: DecisionCounts,
    /// Things the user should know, in the library's words.
    pub warnings: Vec<String>,
}

impl Applied {
    /// How many queries got each decision.
    pub fn counts(&self) -> DecisionCounts {
        let mut c = DecisionCounts::default();
        for d in &self.decisions {
            *match d.decision {
                Decision::Act => &mut c.act,
                Decision::Escalate => &mut c.escalate,
                Decision::NotFound => &mut c.not_found,
                Decision::Ambiguous => &mut c.ambiguous,
            } += 1;
        }
        c
    }

    /// What this apply did.
    pub fn summary(&self) -> ApplySummary {
        ApplySummary {
            method: self.method,
            decided_on: self.decided_on,
            target: self.target,
            certified_by: self.certified_by,
            rows: self.table.len(),
            queries: self.decisions.len(),
            decisions: self.counts(),
            warnings: self.warnings.clone(),
        }
    }
}

/// `simcal apply`: applies the calibration at `cal` to the score table at `scores`, writes the
/// table with its `probability` column to `out` and, when asked, one decision per query to
/// `decisions` (parquet, or CSV for a `.csv` name). No output may be an input.
pub fn apply_to(cal: &Path, scores: &Path, out: &Path, decisions: Option<&Path>, opts: &ApplyOptions) -> Result<Applied> {
    let mut outputs = vec![("`out`", out)];
    outputs.extend(decisions.map(|d| ("`decisions`", d)));
    crate::output::check_destinations(&[cal, scores], &outputs)?;
    let (art, _, sha) = Artifact::read_hashed(cal)?;
    let table = crate::table::read_table(scores)?;
    let applied = apply_artifact(&table, scores, &art, cal, &sha, opts)?;
    crate::table::write_parquet(&applied.table, out)?;
    if let Some(d) = decisions {
        write_decisions(&applied.decisions, d)?;
    }
    Ok(applied)
}

/// P(relevant) of every row of `table` from its group's map in `art` (the global map where the
/// group has none), with the rows' groups and the map used (`method`, or isotonic when the
/// artifact has it, else Platt).
#[expect(clippy::indexing_slicing, reason = "row and query positions come from the table's own query runs")]
pub fn probabilities(view: &TableView, art: &Artifact, art_path: &Path, method: Option<Method>) -> Result<(Vec<f64>, RowGroups, Method)> {
    let method = method.unwrap_or_else(|| art.global.default_method());
    let has = |g: &crate::calibrate::artifact::GroupFit| g.has(method);
    if !has(&art.global) {
        return Err(Error::format(art_path, format!("the calibration has no global {} map", method.name())));
    }
    let scores = view.score;
    let groups = view.groups(&art.group_by)?;
    let fits: Vec<&crate::calibrate::artifact::GroupFit> = groups
        .keys
        .iter()
        .map(|(k, _)| {
            let g = art.fit_for(k);
            if has(g) {
                g
            } else {
                &art.global
            }
        })
        .collect();
    let prob = scores
        .iter()
        .zip(&groups.index)
        .map(|(&s, &gi)| {
            let g = fits[gi as usize];
            let s = f64::from(s);
            match method {
                Method::Isotonic => g.isotonic.as_ref().map_or(f64::NAN, |m| m.predict(s)),
                Method::Platt => g.platt.as_ref().map_or(f64::NAN, |m| m.predict(s)),
            }
        })
        .collect();
    Ok((prob, groups, method))
}

/// Applies `art` (read from `art_path`) to `table` (read from `path`).
pub fn apply(table: &ScoreTable, path: &Path, art: &Artifact, art_path: &Path, opts: &ApplyOptions) -> Result<Applied> {
    apply_artifact(table, path, art, art_path, &crate::table::sha256_file(art_path)?, opts)
}

/// [`apply`] with the calibration's sha256 (recorded in the table's metadata) given: for an
/// artifact held in memory, which `art_path` then only names in messages.
// Long: apply's checks of the artifact against the table, then the probabilities and the decisions,
// in the order the command reports them.
pub fn apply_artifact(
    table: &ScoreTable,
    path: &Path,
    art: &Artifact,
    art_path: &Path,
    art_sha256: &str,
    opts: &ApplyOptions,
) -> Result<Applied> {
    let mut warnings = fitted_on_another(table, path, art, art_path, opts.force)?;
    if let Some((name, v)) = opts.out_of_range() {
        return Err(Error::Invalid(format!("`{name}` {v} is outside [0, 1]")));
    }
    let view = TableView::new(table, path)?;
    view.check_unique_docs()?;
    let (prob, groups, method) = probabilities(&view, art, art_path, opts.method)?;
    // A decision per query needs the queries and the documents: refused before the options.
    view.query_ids("a decision per query")?;
    view.doc_ids("a decision per query")?;
    let keep: Vec<bool> = prob.iter().map(|&p| opts.floor.is_none_or(|f| p >= f)).collect();
    let band = opts.abstain.unwrap_or(art.abstain);
    if !(0.0 <= band.low && band.low <= band.high && band.high <= 1.0) {
        return Err(Error::Invalid(format!("abstain band {}:{} must satisfy 0 ≤ low ≤ high ≤ 1", band.low, band.high)));
    }
    let decided_on = decided_on(opts.decide_on, art, art_path, &mut warnings);
    let target = designated_target(art, opts.target)?;
    let by = opts.certified_by.unwrap_or(default_rule(art).2);
    let certified: Vec<Option<Certificate>> = match (decided_on, target) {
        (DecideOn::Certified, Some(t)) => groups.keys.iter().map(|(k, _)| certified_score(art, k, t, by)).collect(),
        _ => vec![None; groups.keys.len()],
    };
    if decided_on == DecideOn::Certified {
        let keys: Vec<&str> = groups.keys.iter().map(|(k, _)| k.as_str()).collect();
        warnings.extend(certificate_warnings(art, art_path, target, by, &keys, &certified));
    }
    let rule = QueryRule {
        policy: Policy { band, min_gap: opts.min_gap },
        // Decisions are the cutoffs' (the ones the artifact exports).
        cuts: groups.keys.iter().map(|(k, _)| cutoffs(art, k, method, decided_on, target, by, band)).collect(),
        certified,
        // The map of top hits, where the calibration has one for this method.
        top_map: art.global.decision.as_ref().and_then(|d| d.map(method)),
        on_certificate: decided_on == DecideOn::Certified,
        target,
    };
    let decisions = rule.decide(&view, &groups, &prob, &keep)?;
    let batch = with_probability(table, path, prob, opts.floor.map(|_| keep))?;
    let mut meta = table.meta.clone();
    meta.extra.insert(crate::table::keys::CALIBRATION_SHA256.into(), art_sha256.to_owned());
    meta.extra.insert(crate::table::keys::CALIBRATION_METHOD.into(), method.name().into());
    if let Some(f) = opts.floor {
        meta.extra.insert(crate::table::keys::PROBABILITY_FLOOR.into(), f.to_string());
    }
    meta.extra.insert(crate::table::keys::DECIDED_ON.into(), decided_on.name().into());
    if decided_on == DecideOn::Certified {
        if let Some(t) = target {
            meta.extra.insert(crate::table::keys::CERTIFIED_TARGET.into(), t.to_string());
        }
        meta.extra.insert(crate::table::keys::CERTIFIED_BY.into(), by.name().into());
    }
    meta.extra.insert(crate::table::keys::DECISION_UNIT.into(), if rule.top_map.is_some() { "top-hit" } else { "pair" }.into());
    let target = if decided_on == DecideOn::Certified { target } else { None };
    Ok(Applied { table: ScoreTable::new(batch, meta), decisions, warnings, method, decided_on, target, certified_by: by })
}

/// What `act` rests on when `on` is asked of `art`: the estimate, with a warning, for a
/// calibration without certificates.
pub(crate) fn decided_on(on: DecideOn, art: &Artifact, art_path: &Path, warnings: &mut Vec<String>) -> DecideOn {
    match (on, &art.certification) {
        (DecideOn::Certified, None) => {
            warnings.push(format!("{}: no certified thresholds (fit with `confidence`): deciding on the estimate", art_path.display()));
            DecideOn::Estimate
        }
        (on, _) => on,
    }
}

/// The warnings for a calibration fitted on another model or metric than `table`'s; an error
/// unless `force`.
fn fitted_on_another(table: &ScoreTable, path: &Path, art: &Artifact, art_path: &Path, force: bool) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for (what, a, t) in [("model", &art.model, &table.meta.model), ("metric", &art.metric, &table.meta.metric)] {
        if a != t {
            let msg = format!("{}: fitted on {what} {a:?}, but {} is {what} {t:?}", art_path.display(), path.display());
            if !force {
                return Err(Error::Mismatch { message: format!("{msg} (use `force` to apply it anyway)") });
            }
            warnings.push(msg);
        }
    }
    Ok(warnings)
}

/// How each query of a table is decided: by its group's cutoffs (and certificate).
struct QueryRule<'a> {
    policy: Policy,
    /// Each group's cutoffs.
    cuts: Vec<BandScores>,
    /// Each group's certificate (None: none, or not deciding on certificates).
    certified: Vec<Option<Certificate>>,
    /// The map of top hits, where the calibration has one for the method applied.
    top_map: Option<&'a dyn Calibrator>,
    /// Whether `act` rests on the certificates.
    on_certificate: bool,
    /// The designated precision target.
    target: Option<f64>,
}

impl QueryRule<'_> {
    /// One decision per query of `view` (its rows' probabilities `prob`, those kept by the
    /// floor `keep`); queries are contiguous runs of rows.
    #[expect(clippy::indexing_slicing, reason = "row and query positions come from the table's own query runs")]
    fn decide(&self, view: &TableView, groups: &RowGroups, prob: &[f64], keep: &[bool]) -> Result<Vec<QueryDecision>> {
        let qid = view.query_ids("a decision per query")?;
        let did = view.doc_ids("a decision per query")?;
        let scores = view.score;
        let mut decisions = Vec::new();
        for &(r, end) in view.query_runs("a decision per query")?.iter() {
            let group = groups.index[r] as usize;
            let hits = crate::decider::decide_hits(
                &self.policy,
                &self.cuts[group],
                self.top_map,
                self.on_certificate,
                &scores[r..end],
                &prob[r..end],
                &keep[r..end],
            );
            let cert = self.certified[group].as_ref();
            decisions.push(QueryDecision {
                query_id: qid.value(r).to_owned(),
                group: groups.keys[group].0.clone(),
                top_doc_id: hits.top.map(|i| did.value(r + i).to_owned()),
                top_probability: hits.top_probability,
                gap: hits.gap,
                // The cutoffs the artifact exports, by the top hit's score.
                decision: hits.decision,
                target: if self.on_certificate { self.target } else { None },
                threshold: cert.map(|c| c.score),
                certificate: cert.map(|c| c.fit.clone()),
            });
        }
        Ok(decisions)
    }
}

/// `table` with its `probability` column (`prob`), only the rows `keep` says where given. A
/// table that was applied before has a probability column: this one replaces it (a file with
/// two fields of one name is one pyarrow and pandas refuse).
fn with_probability(table: &ScoreTable, path: &Path, prob: Vec<f64>, keep: Option<Vec<bool>>) -> Result<RecordBatch> {
    let b = &table.batch;
    let (mut fields, mut cols): (Vec<Field>, Vec<ArrayRef>) = b
        .schema()
        .fields()
        .iter()
        .zip(b.columns())
        .filter(|(f, _)| f.name() != "probability")
        .map(|(f, c)| (f.as_ref().clone(), Arc::clone(c)))
        .unzip();
    fields.push(Field::new("probability", DataType::Float64, false));
    cols.push(Arc::new(Float64Array::from(prob)));
    let with = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| Error::format(path, e.to_string()))?;
    match keep {
        Some(keep) => arrow::compute::filter_record_batch(&with, &BooleanArray::from(keep)).map_err(|e| Error::format(path, e.to_string())),
        None => Ok(with),
    }
}

/// What a user must know about the certificates the decisions rest on: none for the target,
/// one at another unit than the decisions', groups (of `keys`) that do not act for want of
/// their own.
pub(crate) fn certificate_warnings(
    art: &Artifact,
    art_path: &Path,
    target: Option<f64>,
    by: CertifiedBy,
    keys: &[&str],
    certified: &[Option<Certificate>],
) -> Vec<String> {
    let at = art_path.display();
    let Some(t) = target else {
        return vec![format!("{at}: no precision target was fitted: no query acts")];
    };
    let unit = art.certification.as_ref().map(|c| c.unit);
    if unit != Some(Unit::Query) {
        let unit = unit.map_or("", Choice::name);
        return vec![format!(
            "{at}: certified at the {unit} unit, but decisions are about each query's top hit: no query acts (fit at the query unit)"
        )];
    }
    let grouped = by == CertifiedBy::Group && !art.group_by.is_empty();
    if certified.iter().all(Option::is_none) && (!grouped || certified_score(art, "all", t, CertifiedBy::Global).is_none()) {
        return vec![format!("{at}: nothing was certified for target precision {t}: no query acts")];
    }
    let mut v = Vec::new();
    if grouped {
        let without: Vec<&str> = keys.iter().zip(certified).filter(|(_, c)| c.is_none()).map(|(k, _)| *k).collect();
        if !without.is_empty() {
            v.push(format!(
                "{at}: {} of {} groups have no certificate of their own for precision {t} (not certified, not fitted, or not seen in the fit): their queries do not act (certified by global acts on the global certificate, a guarantee over all queries together, not per group)",
                without.len(),
                keys.len()
            ));
        }
    }
    v
}

/// The decisions as an arrow batch: `query_id, group, top_doc_id, top_probability, gap, decision,
/// target, threshold, certificate`.
pub fn decisions_batch(d: &[QueryDecision]) -> Result<RecordBatch> {
    let schema = Schema::new(vec![
        Field::new("query_id", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, false),
        Field::new("top_doc_id", DataType::Utf8, true),
        Field::new("top_probability", DataType::Float64, true),
        Field::new("gap", DataType::Float64, true),
        Field::new("decision", DataType::Utf8, false),
        Field::new("target", DataType::Float64, true),
        Field::new("threshold", DataType::Float64, true),
        Field::new("certificate", DataType::Utf8, true),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(d.iter().map(|x| x.query_id.as_str()))),
        Arc::new(StringArray::from_iter_values(d.iter().map(|x| x.group.as_str()))),
        Arc::new(StringArray::from_iter(d.iter().map(|x| x.top_doc_id.as_deref()))),
        Arc::new(Float64Array::from_iter(d.iter().map(|x| x.top_probability))),
        Arc::new(Float64Array::from_iter(d.iter().map(|x| x.gap))),
        Arc::new(StringArray::from_iter_values(d.iter().map(|x| x.decision.name()))),
        Arc::new(Float64Array::from_iter(d.iter().map(|x| x.target))),
        Arc::new(Float64Array::from_iter(d.iter().map(|x| x.threshold))),
        Arc::new(StringArray::from_iter(d.iter().map(|x| x.certificate.as_deref()))),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).map_err(|e| Error::Invalid(format!("decisions: {e}")))
}

/// Writes decisions: CSV when `path` ends in `.csv`, else parquet; atomically.
pub(crate) fn write_decisions(d: &[QueryDecision], path: &Path) -> Result<()> {
    let batch = decisions_batch(d)?;
    let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    crate::output::write_atomic(path, |w| {
        if csv {
            let mut writer = arrow::csv::Writer::new(w);
            writer.write(&batch).map_err(|e| Error::write(path, e))
        } else {
            let mut writer = parquet::arrow::ArrowWriter::try_new(w, batch.schema(), None).map_err(|e| Error::write(path, e))?;
            writer.write(&batch).map_err(|e| Error::write(path, e))?;
            writer.close().map_err(|e| Error::write(path, e))?;
            Ok(())
        }
    })
}
