//! Measuring a score table (docs/architecture.md §8): ranking measures as trec_eval computes them
//! ([`ranking`], over the runs of [`runs`]), the separation of relevant and irrelevant scores
//! ([`separation`]), the reliability of a calibration's probabilities on the table
//! ([`reliability`]), and drift against a calibration's stored distributions ([`drift`]).
//! [`evaluate`] puts the first three together, for the table and for each group; [`summed`]
//! measures separation on summed histograms instead; [`neighbours`] measures how far an
//! approximate index's top k is from the exact top k.

pub mod drift;
mod gains;
pub mod measure;
pub mod neighbours;
pub mod ranking;
pub mod reliability;
pub mod runs;
pub mod separation;
pub mod summed;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::calibrate::artifact::Artifact;
use crate::calibrate::artifact::TargetKind;
use crate::calibrate::distinct::Distinct;
use crate::calibrate::maps::FittedMaps;
use crate::calibrate::sweep::{picks, points, Curve};
use crate::calibrate::Method;
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::labels::Qrels;
use crate::table::{ScoreTable, TableView};
use ranking::{Measure, RankingResult};
use reliability::{BinStrategy, Reliability};
use separation::Separation;

/// The version of `simcal eval --json`'s document.
pub const EVAL_VERSION: u32 = 1;

/// What to measure.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Ranking measures.
    pub measures: Vec<Measure>,
    /// Group columns.
    pub group_by: Vec<String>,
    /// Reliability bins.
    pub bins: usize,
    /// How reliability bins are cut.
    pub strategy: BinStrategy,
    /// Labels at or above this are relevant.
    pub rel_level: i32,
    /// Judged queries missing from the table count as zero (trec_eval `-c`).
    pub complete: bool,
    /// Only each query's top documents count, this many (trec_eval `-M`).
    pub max_docs: Option<usize>,
    /// Unjudged documents are dropped from each ranking before measuring (trec_eval `-J`).
    pub judged_only: bool,
    /// Target precisions for the spread of the best threshold across groups.
    pub target_precision: Vec<f64>,
    /// The calibration map to measure (default: as `apply` picks).
    pub method: Option<Method>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            measures: Measure::parse_list(&[ranking::DEFAULT_MEASURES.to_owned()]).unwrap_or_default(),
            group_by: vec![],
            bins: 10,
            strategy: BinStrategy::Uniform,
            rel_level: crate::labels::DEFAULT_REL_LEVEL,
            complete: false,
            max_docs: None,
            judged_only: false,
            target_precision: vec![0.9],
            method: None,
        }
    }
}

impl EvalOptions {
    /// Refuses options no evaluation can take (no measure, a bin count out of range, a target
    /// outside (0, 1]), before any work.
    pub fn check(&self) -> Result<()> {
        if self.measures.is_empty() {
            return Err(Error::Invalid("no ranking measure asked for".into()));
        }
        if self.bins == 0 || self.bins > MAX_BINS {
            return Err(Error::Invalid(format!("`bins` {}: expected 1 to {MAX_BINS}", self.bins)));
        }
        if let Some(p) = self.target_precision.iter().find(|p| !(**p > 0.0 && **p <= 1.0)) {
            return Err(Error::Invalid(format!("target precision {p} is outside (0, 1]")));
        }
        Ok(())
    }
}

/// A stored threshold measured on this table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdCheck {
    /// What the target is a value of.
    pub target: TargetKind,
    /// The target value.
    pub value: f64,
    /// The threshold score.
    pub score: f64,
    /// Precision on the fitting data.
    pub fitted_precision: Option<f64>,
    /// Recall on the fitting data.
    pub fitted_recall: Option<f64>,
    /// Precision on this table.
    pub precision: f64,
    /// Recall on this table.
    pub recall: f64,
}

/// A calibration measured on this table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibrationEval {
    /// The map.
    pub method: String,
    /// Reliability of its probabilities.
    pub reliability: Reliability,
    /// Its thresholds (the group's own, else the global ones).
    pub thresholds: Vec<ThresholdCheck>,
    /// The calibration was fitted on this very table: `reliability` is in sample (an isotonic
    /// map is then perfectly calibrated by construction), and `held_out` is what to trust.
    pub in_sample: bool,
    /// The artifact's out-of-fold (cross-fitted by query) metrics of this map for this group.
    pub held_out: Option<crate::calibrate::summary::CalibrationMetrics>,
    /// The decisions `apply` makes on this table by default, measured (the whole table only;
    /// where the table has its queries, ranks and labels, and the calibration maps of top hits).
    pub decisions: Option<DecisionEval>,
}

/// The decisions `apply` makes on a table by default, measured on its judged queries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DecisionEval {
    /// The map of top hits used.
    pub method: String,
    /// Reliability of the top hits' probabilities under that map: the calibration of decisions.
    pub reliability: Reliability,
    /// Cutoffs of the global fit (a group's certificate can differ: see the artifact).
    pub cutoffs: crate::calibrate::artifact::BandScores,
    /// How good each decision was: queries, top-hit precision, share with a relevant document
    /// in the top k. The `act` row is the threshold `apply` acts on, checked on this table.
    pub quality: Vec<crate::calibrate::artifact::DecisionQuality>,
    /// The artifact's out-of-fold quality, for a calibration fitted on this table.
    pub held_out_quality: Vec<crate::calibrate::artifact::DecisionQuality>,
    /// The artifact's out-of-fold calibration of top hits under this map, for a calibration
    /// fitted on this table.
    pub held_out: Option<crate::calibrate::summary::CalibrationMetrics>,
}

/// [`DecisionEval`] of `art` on `view` (None where the table or the calibration lack what it
/// needs).
#[expect(clippy::indexing_slicing, reason = "row and group positions come from the table's own grouping")]
fn decision_eval(view: &TableView, art: &Artifact, opts: &EvalOptions, in_sample: bool) -> Result<Option<DecisionEval>> {
    let Some(d) = art.global.decision.as_ref() else { return Ok(None) };
    if view.rank.is_none() || view.query_id.is_none() || view.label.is_none() {
        return Ok(None);
    }
    let method = opts.method.unwrap_or_else(|| d.default_method());
    let predict = |s: f64| d.map(method).map(|m| m.predict(s));
    let groups = view.groups(&art.group_by)?;
    let units = crate::calibrate::certify::query_units(view, opts.rel_level, groups.index(), None, 0)?;
    let p: Option<Vec<f64>> = units.iter().map(|u| predict(u.top_score)).collect();
    let (Some(p), false) = (p, units.is_empty()) else { return Ok(None) };
    let y: Vec<bool> = units.iter().map(|u| u.top_relevant).collect();
    let reliability = reliability::reliability(&p, &y, opts.bins, opts.strategy)?;
    let (on, target, by) = crate::policy::default_rule(art);
    let cuts: Vec<crate::calibrate::artifact::BandScores> =
        groups.keys.iter().map(|(k, _)| crate::policy::cutoffs(art, k, method, on, target, by, art.abstain)).collect();
    let policy = crate::policy::Policy { band: art.abstain, min_gap: 0.0 };
    let quality = crate::calibrate::decision::quality(
        units.iter().map(|u| (u, &cuts[u.group as usize])),
        on == crate::policy::DecideOn::Certified,
        &policy,
    );
    Ok(Some(DecisionEval {
        method: method.name().to_owned(),
        reliability,
        cutoffs: crate::policy::cutoffs(art, "all", method, on, target, by, art.abstain),
        quality,
        held_out_quality: if in_sample { d.held_out_quality.clone() } else { Vec::new() },
        held_out: if in_sample { d.held_out_metrics.get(method.name()).cloned() } else { None },
    }))
}

/// Everything measured on one set of rows (the table, or a group).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SetEval {
    /// `all` or the group key.
    pub key: String,
    /// The group's column values.
    pub values: BTreeMap<String, String>,
    /// Rows.
    pub rows: u64,
    /// Labeled rows.
    pub labeled: u64,
    /// Ranking measures (means; per query in `per_query`).
    pub ranking: RankingResult,
    /// Separation of relevant and irrelevant scores (None without labeled pairs).
    pub separation: Option<Separation>,
    /// The calibration on these rows (with `--calibration`).
    pub calibration: Option<CalibrationEval>,
    /// Best threshold for each target precision on these rows (None: not reachable).
    pub best_thresholds: Vec<Option<f64>>,
}

/// The spread of the best threshold for one target precision across groups.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spread {
    /// The target precision.
    pub target_precision: f64,
    /// Groups where it is reachable.
    pub groups: usize,
    /// Lowest best threshold.
    pub min: Option<f64>,
    /// Highest best threshold.
    pub max: Option<f64>,
    /// max − min.
    pub range: Option<f64>,
    /// Standard deviation (population) of the best thresholds.
    pub sd: Option<f64>,
}

/// The evaluation of a table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// The model of the table.
    pub model: String,
    /// Its metric.
    pub metric: String,
    /// Relevance level.
    pub rel_level: i32,
    /// Target precisions of `best_thresholds` and `spread`.
    pub target_precision: Vec<f64>,
    /// Where the judgements came from: `qrels` or `table`.
    pub judgements: String,
    /// The whole table.
    pub global: SetEval,
    /// Each group (with `group_by`).
    pub groups: Vec<SetEval>,
    /// Spread of the best thresholds across groups (with `group_by`).
    pub spread: Vec<Spread>,
    /// Things worth knowing (a calibration from another model).
    pub notes: Vec<String>,
}

impl Evaluation {
    /// The JSON document `simcal eval --json` prints and the nightly job writes: the evaluation
    /// with each set's mean ranking measures by name, and with `per_query` each query's values.
    pub fn document(&self, scores: &Path, per_query: bool) -> serde_json::Value {
        use serde_json::{Map, Value};
        fn insert(v: &mut Value, key: &str, x: Value) {
            if let Some(o) = v.as_object_mut() {
                o.insert(key.to_owned(), x);
            }
        }
        let set = |s: &SetEval| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            let Some(ranking) = v.get_mut("ranking") else { return v };
            insert(ranking, "mean", Value::Object(s.ranking.means()));
            if per_query {
                let per_query: Map<String, Value> = s
                    .ranking
                    .per_query
                    .iter()
                    .map(|(id, vals)| {
                        let m: Map<String, Value> = s.ranking.measures.iter().cloned().zip(vals.iter().map(|&x| Value::from(x))).collect();
                        (id.clone(), Value::Object(m))
                    })
                    .collect();
                insert(ranking, "per_query", Value::Object(per_query));
            }
            v
        };
        let mut doc = serde_json::to_value(self).unwrap_or_default();
        insert(&mut doc, "schema_version", EVAL_VERSION.into());
        insert(&mut doc, "command", "eval".into());
        insert(&mut doc, "scores", scores.to_string_lossy().into_owned().into());
        insert(&mut doc, "global", set(&self.global));
        insert(&mut doc, "groups", Value::Array(self.groups.iter().map(set).collect()));
        doc
    }
}

/// The most reliability bins (each bin is a point of the diagram).
pub const MAX_BINS: usize = 100_000;

/// The distinct-score table of the labeled pairs (labels from `qrels` or the table).
pub(crate) fn labeled_distinct(table: &ScoreTable, path: &Path, qrels: Option<&Qrels>, rel_level: i32) -> Result<Distinct> {
    let view = TableView::new(table, path)?;
    let scores = view.score;
    let cols = runs::Columns::of(&view)?;
    let labels =
        if qrels.is_some() { runs::row_labels(&cols, &runs::query_rows(&cols), qrels) } else { runs::row_labels(&cols, &[], None) };
    let (s, y): (Vec<f32>, Vec<bool>) = scores.iter().zip(&labels).filter_map(|(&s, l)| l.map(|l| (s, l >= rel_level))).unzip();
    Ok(Distinct::from_pairs(&s, &y))
}

/// `simcal eval`: reads the score table at `scores` (only the columns evaluation needs) and the
/// judgements at `qrels` side by side, and evaluates, measuring the calibration at
/// `calibration` when one is given.
pub fn evaluate_files(scores: &Path, qrels: Option<&Path>, calibration: Option<&Path>, opts: &EvalOptions) -> Result<Evaluation> {
    // A grouped calibration applies its maps per group: its columns are read too.
    let art = calibration.map(Artifact::read).transpose()?;
    let mut cols = vec!["query_id", "doc_id", "score", "label", "query_relevant"];
    cols.extend(opts.group_by.iter().map(String::as_str));
    cols.extend(art.iter().flat_map(|a| a.group_by.iter().map(String::as_str)));
    // The decisions' top hits: each query's best-scoring row, ties by rank.
    if art.is_some() {
        cols.push("rank");
    }
    let (table, qrels) = rayon::join(|| read_scores(scores, &cols), || qrels.map(crate::labels::read_qrels).transpose());
    let (table, qrels) = (table?, qrels?);
    evaluate(&table, scores, qrels.as_ref(), art.as_ref().zip(calibration), opts)
}

/// The score table at `path` (its `columns`), or the TREC run there (`qid Q0 docid rank score
/// tag`, told apart by parquet's magic bytes) as one.
pub fn read_scores(path: &Path, columns: &[&str]) -> Result<ScoreTable> {
    if crate::table::is_parquet(path)? {
        return crate::table::read_table_columns(path, Some(columns));
    }
    crate::table::trec_table(path, crate::table::read_trec(path)?)
}

/// Evaluates `table` (read from `path`), with judgements from `qrels` or the table's labels,
/// and a calibration `cal` (artifact and its path) to measure.
#[expect(clippy::indexing_slicing, reason = "row and group positions come from the table's own grouping")]
pub fn evaluate(
    table: &ScoreTable,
    path: &Path,
    qrels: Option<&Qrels>,
    cal: Option<(&Artifact, &Path)>,
    opts: &EvalOptions,
) -> Result<Evaluation> {
    opts.check()?;
    let view = TableView::new(table, path)?;
    if qrels.is_none() {
        view.check_relevant_level(opts.rel_level)?;
    }
    let cols = runs::Columns::of(&view)?;
    let queries = runs::query_rows(&cols);
    let cut = runs::Cut { max_docs: opts.max_docs, judged_only: opts.judged_only };
    let (all_runs, missing) = runs::runs(&cols, path, &queries, qrels, opts.rel_level, cut)?;
    let groups = view.groups(&opts.group_by)?;
    let in_sample = match cal {
        Some((art, _)) => crate::table::sha256_file(path)? == art.scores_sha256,
        None => false,
    };
    let notes = cal.map(|(art, art_path)| calibration_notes(table, path, art, art_path, in_sample)).unwrap_or_default();
    let sets = Sets {
        // The group of each query: that of its first row.
        query_group: queries.iter().map(|(id, rows)| (id.as_str(), groups.index[rows[0]])).collect(),
        all_runs: &all_runs,
        missing: &missing,
        scores: view.score,
        labels: runs::row_labels(&cols, &queries, qrels),
        probs: cal.map(|(art, art_path)| crate::policy::probabilities(&view, art, art_path, opts.method)).transpose()?,
        artifact: cal.map(|(art, _)| art),
        in_sample,
        opts,
    };
    let mut global = sets.eval("all", BTreeMap::new(), &|_| true, None)?;
    if let (Some(c), Some((art, _))) = (global.calibration.as_mut(), cal) {
        c.decisions = decision_eval(&view, art, opts, in_sample)?;
    }
    let mut group_evals = Vec::new();
    if !opts.group_by.is_empty() {
        for (gi, (key, values)) in groups.keys.iter().enumerate() {
            let gi = gi as u32;
            group_evals.push(sets.eval(key, values.clone(), &|r| groups.index[r] == gi, Some(gi))?);
        }
    }
    let spread = if opts.group_by.is_empty() { Vec::new() } else { spread(&opts.target_precision, &group_evals) };
    Ok(Evaluation {
        model: table.meta.model.clone(),
        metric: table.meta.metric.clone(),
        rel_level: opts.rel_level,
        target_precision: opts.target_precision.clone(),
        judgements: if qrels.is_some() { "qrels" } else { "table" }.into(),
        global,
        groups: group_evals,
        spread,
        notes,
    })
}

/// What every evaluated set (the table, each group) is measured from.
struct Sets<'a> {
    /// Each query's group.
    query_group: std::collections::HashMap<&'a str, u32>,
    /// The judged queries' runs.
    all_runs: &'a [(String, ranking::QueryRun)],
    /// Judged queries the table lacks (empty runs).
    missing: &'a [(String, ranking::QueryRun)],
    scores: &'a [f32],
    /// Each row's judgement (None: unjudged).
    labels: Vec<Option<i32>>,
    /// Each row's probability under the calibration, with the map used.
    probs: Option<(Vec<f64>, crate::table::RowGroups, Method)>,
    artifact: Option<&'a Artifact>,
    /// Whether the calibration was fitted on this table.
    in_sample: bool,
    opts: &'a EvalOptions,
}

impl Sets<'_> {
    /// The evaluation of the set `key` (`values` its columns' values): the rows for which `rows`
    /// holds, the queries of group `gi` (None: all, with the judged queries the table lacks).
    #[expect(clippy::indexing_slicing, reason = "row and group positions come from the table's own grouping")]
    fn eval(&self, key: &str, values: BTreeMap<String, String>, rows: &dyn Fn(usize) -> bool, gi: Option<u32>) -> Result<SetEval> {
        let opts = self.opts;
        let runs_here: Vec<&(String, ranking::QueryRun)> =
            self.all_runs.iter().filter(|(id, _)| gi.is_none_or(|g| self.query_group.get(id.as_str()) == Some(&g))).collect();
        // Judged queries the table lacks have no group: only the global mean counts them.
        let missing_here: &[(String, ranking::QueryRun)] = if gi.is_none() { self.missing } else { &[] };
        let ranking = ranking::evaluate(&runs_here, missing_here, &opts.measures, opts.rel_level, opts.complete);
        let idx: Vec<usize> = (0..self.scores.len()).filter(|&r| rows(r) && self.labels[r].is_some()).collect();
        let s: Vec<f32> = idx.iter().map(|&r| self.scores[r]).collect();
        let y: Vec<bool> = idx.iter().map(|&r| self.labels[r].is_some_and(|l| l >= opts.rel_level)).collect();
        let d = Distinct::from_pairs(&s, &y);
        let n_rows = (0..self.scores.len()).filter(|&r| rows(r)).count() as u64;
        let separation = (!d.is_empty()).then(|| separation::separation(&d));
        let best_thresholds =
            picks(points(&d), d.n_pos(), &opts.target_precision, &[]).precision.iter().map(|p| p.map(|p| p.threshold)).collect();
        let calibration = match (&self.probs, self.artifact) {
            (Some((p, _, method)), Some(art)) if !idx.is_empty() => {
                let pv: Vec<f64> = idx.iter().map(|&r| p[r]).collect();
                let reliability = reliability::reliability(&pv, &y, opts.bins, opts.strategy)?;
                let fit = if key == "all" { &art.global } else { art.fit_for(key) };
                let thresholds = threshold_checks(fit, &d);
                let held_out = fit.held_out_metrics.get(method.name()).cloned();
                let in_sample = self.in_sample;
                Some(CalibrationEval { method: method.name().to_owned(), reliability, thresholds, in_sample, held_out, decisions: None })
            }
            _ => None,
        };
        Ok(SetEval {
            key: key.to_owned(),
            values,
            rows: n_rows,
            labeled: idx.len() as u64,
            ranking,
            separation,
            calibration,
            best_thresholds,
        })
    }
}

/// The notes on a calibration evaluated on `table`: fitted on this very table (in sample), or
/// on another model or metric.
fn calibration_notes(table: &ScoreTable, path: &Path, art: &Artifact, art_path: &Path, in_sample: bool) -> Vec<String> {
    let mut notes = Vec::new();
    if in_sample {
        notes.push(format!(
            "{} was fitted on this table: its reliability here is in sample{}",
            art_path.display(),
            match &art.held_out {
                Some(h) => format!(
                    "; the held-out numbers (cross-fitted, {} by query) are the ones to trust",
                    crate::words::count(h.folds, "fold", "folds")
                ),
                // A note of the eval document: its text is kept byte for byte.
                None => "; refit with --folds 5 for held-out numbers".to_owned(),
            }
        ));
    }
    for (what, a, t) in [("model", &art.model, &table.meta.model), ("metric", &art.metric, &table.meta.metric)] {
        if a != t {
            notes.push(format!("{}: fitted on {what} {a:?}, but {} is {what} {t:?}", art_path.display(), path.display()));
        }
    }
    notes
}

/// The precision and recall of `d`'s pairs at each threshold `fit` stored.
fn threshold_checks(fit: &crate::calibrate::artifact::GroupFit, d: &Distinct) -> Vec<ThresholdCheck> {
    let curve = Curve::new(d);
    fit.thresholds
        .iter()
        .filter_map(|t| {
            let score = t.score?;
            let (precision, recall) = curve.at(score);
            Some(ThresholdCheck {
                target: t.target,
                value: t.value,
                score,
                fitted_precision: t.precision,
                fitted_recall: t.recall,
                precision,
                recall,
            })
        })
        .collect()
}

/// How far the groups' best thresholds for each target precision spread.
#[expect(clippy::indexing_slicing, reason = "row and group positions come from the table's own grouping")]
fn spread(targets: &[f64], groups: &[SetEval]) -> Vec<Spread> {
    targets
        .iter()
        .enumerate()
        .map(|(j, &p)| {
            let v: Vec<f64> = groups.iter().filter_map(|g| g.best_thresholds[j]).collect();
            let (min, max) = (v.iter().copied().reduce(f64::min), v.iter().copied().reduce(f64::max));
            let sd = (!v.is_empty()).then(|| {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
            });
            Spread { target_precision: p, groups: v.len(), min, max, range: min.zip(max).map(|(a, b)| b - a), sd }
        })
        .collect()
}
