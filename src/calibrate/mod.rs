//! From a labeled score table to a calibration (docs/architecture.md §5): the labeled pairs of each group,
//! reduced once to their distinct scores ([`distinct`]), then the threshold sweep ([`sweep`]),
//! Platt scaling ([`platt`]), isotonic regression ([`isotonic`]), bootstrap intervals
//! ([`bootstrap`]), cross-fitting by query ([`folds`]), certified thresholds ([`certify`]) and
//! the summaries `drift` compares ([`summary`]), assembled into an [`Artifact`].

pub mod artifact;
pub mod bootstrap;
pub mod certify;
pub(crate) mod chunks;
pub(crate) mod decision;
pub mod distinct;
pub mod folds;
pub mod histogram;
pub mod isotonic;
pub mod maps;
pub(crate) mod pairs;
pub mod platt;
pub mod summary;
pub mod sweep;

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use crate::calibrate::artifact::TargetKind;
use crate::calibrate::maps::FittedMaps;
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::stats::binomial::clopper_pearson;
use crate::table::{RowGroups, ScoreTable, TableView};
use artifact::{
    Artifact, Band, BandScores, CertificationSpec, CertifiedThreshold, Counts, GroupFit, HeldOutSpec, TargetSpec, Threshold,
    ThresholdInterval, UnitCount, ARTIFACT_VERSION, SMALL_SAMPLE,
};
use bootstrap::Blocks;
use certify::{CertifiedBy, CertifyOptions, QueryUnit, Unit};
use distinct::Distinct;
use isotonic::Isotonic;
use sweep::Point;

/// A calibration map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Isotonic regression.
    Isotonic,
    /// Platt scaling.
    Platt,
}

crate::choice::choice!(Method => "calibration method");

/// Which maps a fit makes: one, or both (`simcal fit --method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Maps {
    /// Isotonic regression alone.
    Isotonic,
    /// Platt scaling alone.
    Platt,
    /// Both.
    #[default]
    All,
}

crate::choice::choice!(Maps => "calibration method");

impl Maps {
    /// The maps, isotonic first.
    pub fn methods(self) -> Vec<Method> {
        match self {
            Maps::Isotonic => vec![Method::Isotonic],
            Maps::Platt => vec![Method::Platt],
            Maps::All => vec![Method::Isotonic, Method::Platt],
        }
    }
}

/// The most bootstrap resamples a fit takes (each costs a pass over the count bins).
pub const MAX_BOOTSTRAP: usize = 1_000_000;

/// How to fit.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Maps to fit.
    pub methods: Vec<Method>,
    /// Target precisions, each in (0, 1].
    pub target_precision: Vec<f64>,
    /// Target recalls, each in (0, 1].
    pub target_recall: Vec<f64>,
    /// The abstain band in probability.
    pub abstain: Band,
    /// Group columns.
    pub group_by: Vec<String>,
    /// Groups with fewer labeled pairs are listed, not fitted.
    pub min_pairs: u64,
    /// Groups with fewer relevant pairs are listed, not fitted.
    pub min_relevant: u64,
    /// Folds of the cross-fitting by query (1: none).
    pub folds: usize,
    /// Certified thresholds, when asked for.
    pub certify: Option<CertifyOptions>,
    /// Whose certificates the fit makes: each group's and the global one (`Group`), or the
    /// global one alone (`Global`: all of δ for it, for decisions that act on it).
    pub certified_by: CertifiedBy,
    /// Bootstrap resamples (0: none).
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Labels at or above this are relevant.
    pub rel_level: i32,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            methods: Maps::default().methods(),
            target_precision: vec![0.9],
            target_recall: vec![],
            abstain: Band { low: 0.5, high: 0.9 },
            group_by: vec![],
            min_pairs: 50,
            min_relevant: 10,
            folds: 5,
            certify: None,
            certified_by: CertifiedBy::Group,
            bootstrap: 1000,
            seed: 0,
            rel_level: crate::labels::DEFAULT_REL_LEVEL,
        }
    }
}

impl FitOptions {
    /// The files these options read besides the scores (the certificates' grid file): inputs
    /// that no output of the fit may replace.
    pub fn input_files(&self) -> Vec<&Path> {
        self.certify.iter().filter(|c| c.grid_source != "quantiles").map(|c| Path::new(&c.grid_source)).collect()
    }

    /// Refuses options no fit can take (a target outside (0, 1], …), before any work.
    pub fn check(&self) -> Result<()> {
        for (what, v) in self.target_precision.iter().map(|v| ("precision", v)).chain(self.target_recall.iter().map(|v| ("recall", v))) {
            if !(*v > 0.0 && *v <= 1.0) {
                return Err(Error::Invalid(format!("target {what} {v} is outside (0, 1]")));
            }
        }
        let Band { low, high } = self.abstain;
        if !(0.0..=1.0).contains(&low) || !(0.0..=1.0).contains(&high) || low > high {
            return Err(Error::Invalid(format!("abstain band {low}:{high} must satisfy 0 ≤ low ≤ high ≤ 1")));
        }
        if self.methods.is_empty() {
            return Err(Error::Invalid("no calibration method asked for".into()));
        }
        if self.bootstrap > MAX_BOOTSTRAP {
            return Err(Error::Invalid(format!(
                "bootstrap {}: at most {MAX_BOOTSTRAP} resamples (1,000 give intervals to about ±0.01 of their level)",
                self.bootstrap
            )));
        }
        if self.folds == 0 || self.folds > 255 {
            return Err(Error::Invalid(format!("folds {}: expected 1 (no cross-fitting) to 255", self.folds)));
        }
        if let Some(c) = &self.certify {
            if !(c.confidence > 0.0 && c.confidence < 1.0) {
                return Err(Error::Invalid(format!("confidence {} is outside (0, 1)", c.confidence)));
            }
            if let certify::Grid::Quantiles(n) = c.grid {
                if !(2..=1_000_000).contains(&n) {
                    return Err(Error::Invalid(format!("grid {n}: expected 2 to 1,000,000 candidate thresholds, or a file")));
                }
            }
        }
        Ok(())
    }
}

/// Creation time: `SOURCE_DATE_EPOCH` when set (reproducible output), else now.
pub fn created() -> String {
    let t = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
        .unwrap_or_else(std::time::SystemTime::now);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Fits the table at `path` (already read as `table`). Warnings (a map that could not be fitted
/// for a group) are in the artifact, as `platt_error` and `reason`.
pub fn fit_table(table: &ScoreTable, path: &Path, opts: &FitOptions) -> Result<Artifact> {
    opts.check()?;
    // Hash the file while fitting.
    let (sha, art) = rayon::join(|| crate::table::sha256_file(path), || fit_pairs(table, &TableView::new(table, path)?, opts));
    let mut art = art?;
    art.scores_sha256 = sha?;
    Ok(art)
}

/// The columns of a score table a fit with `opts` reads: scores, labels and ranks (for the map
/// of top hits); the queries for folds, the bootstrap and the query unit; the group columns.
pub(crate) fn fit_columns(opts: &FitOptions) -> Vec<&str> {
    let mut cols = vec!["score", "label", "rank"];
    if opts.folds > 1 || opts.bootstrap > 0 || opts.certify.as_ref().is_some_and(|c| c.unit.needs_queries()) {
        cols.push("query_id");
        // Only recall counts the relevant documents a query never retrieved.
        if !opts.target_recall.is_empty() {
            cols.push("query_relevant");
        }
    }
    cols.extend(opts.group_by.iter().map(String::as_str));
    cols
}

/// Reads the columns a fit needs from the score table at `path` and fits it.
pub fn fit_file(path: &Path, opts: &FitOptions) -> Result<Artifact> {
    fit_file_labeled(path, None, opts)
}

/// [`fit_file`] with the rows labeled from the judgements at `qrels` (the table's own labels,
/// where it has them, are replaced), as `simcal fit --qrels` does: a table of an index's hits
/// needs no label column of its own.
pub fn fit_file_labeled(path: &Path, qrels: Option<&Path>, opts: &FitOptions) -> Result<Artifact> {
    opts.check()?;
    let mut cols = fit_columns(opts);
    if qrels.is_some() {
        cols.extend(["query_id", "doc_id"]);
    }
    // A TREC run carries no labels: it is fitted with `qrels`.
    let table = crate::metrics::read_scores(path, &cols)?;
    crate::table::check_documents_once(&table, path)?;
    match qrels {
        Some(q) => fit_table(&crate::table::label_from_file(&table, path, q, opts.rel_level)?, path, opts),
        None => fit_table(&table, path, opts),
    }
}

/// `simcal fit`: fits the score table at `scores` (labeled from `qrels` where given) and writes
/// the artifact to `out` (atomically; `out` must not be an input). Returns the artifact and the
/// seconds the fit took.
pub fn fit_and_write(scores: &Path, qrels: Option<&Path>, opts: &FitOptions, out: &Path) -> Result<(Artifact, f64)> {
    let inputs: Vec<&Path> = std::iter::once(scores).chain(qrels).chain(opts.input_files()).collect();
    crate::output::check_destinations(&inputs, &[("`out`", out)])?;
    let t = std::time::Instant::now();
    let art = fit_file_labeled(scores, qrels, opts)?;
    art.write(out)?;
    Ok((art, t.elapsed().as_secs_f64()))
}

/// Fits a table held in memory, which `name` stands for in errors. The artifact records no
/// file hash (`scores_sha256` is empty): no file will be recognised as the one it was fitted on.
pub fn fit_table_in_memory(table: &ScoreTable, name: &Path, opts: &FitOptions) -> Result<Artifact> {
    opts.check()?;
    fit_pairs(table, &TableView::new(table, name)?, opts)
}

/// Fits the labeled pairs of `table` (through `view`): the global fit, each group's, the
/// decisions' top-hit map, certification and cross-fitting as `opts` asks.
// Long: the fit's steps in order, sharing the view, the folds, the query units and the family
// of certificates that later steps read.
#[expect(clippy::indexing_slicing, reason = "group and row positions come from the table's own grouping")]
fn fit_pairs(table: &ScoreTable, view: &TableView, opts: &FitOptions) -> Result<Artifact> {
    let path = view.path();
    // The queries' runs of rows, found once for the folds, the units and the count (where the
    // reader has not found them already).
    let runs = if view.has_query_runs() { None } else { view.query_id.map(crate::table::id_runs) };
    let view = &runs.as_deref().map_or(*view, |r| view.with_query_runs(r));
    // A document twice for a query would count its pair twice (checked where the ids were read).
    view.check_unique_docs()?;
    let fold = if opts.folds > 1 { Some(folds::assign(view, opts.folds, opts.seed)?) } else { None };
    let (parts, global_d) = fold_tables(view, opts, fold.as_deref())?;
    let (n_rel, n) = (global_d.n_pos(), global_d.n_pos() + global_d.n_neg());
    check_both_classes(path, n_rel, n)?;
    let row_groups = unit_groups(view, opts)?;
    let units = query_units(view, opts, row_groups.as_ref(), fold.as_deref(), table.meta.k as u64)?;
    let queries = folds::query_count(view);
    let (block, n_blocks) = bootstrap_blocks(view, opts, queries)?;
    let labeled = if opts.group_by.is_empty() && block.is_none() {
        pairs::LabeledPairs::default()
    } else {
        pairs::labeled_pairs(view, opts.rel_level, &opts.group_by, fold.as_deref(), block.as_deref())?
    };
    let global_blocks =
        block.as_ref().map(|_| Blocks { scores: &labeled.scores, relevant: &labeled.relevant, block: &labeled.block, blocks: n_blocks });
    let by_group = if opts.group_by.is_empty() { Vec::new() } else { labeled.groups() };
    let group_units = units_by_group(&units, &by_group, row_groups.as_ref());
    // The family of certificates that share δ, chosen from counts blind to relevance.
    let family = opts.certify.as_ref().map(|c| {
        let counts: Vec<certify::UnitCounts> =
            by_group.iter().zip(&group_units).map(|((_, _, idx), u)| certify::UnitCounts::of(u, idx.len() as u64)).collect();
        Family::new(c, opts, &counts)
    });
    let delta = family.as_ref().map_or(0.0, |f| f.delta_each);
    let all_units: Vec<&QueryUnit> = units.iter().collect();
    let mut global = fit_group("all", BTreeMap::new(), &global_d, &parts, &all_units, global_blocks, opts, Some(delta), true)?;
    if !units.is_empty() {
        global.decision = Some(decision::fit(&units, opts, family.as_ref().map(|f| f.delta_each)));
    }
    let blocks = block.as_ref().map(|_| n_blocks);
    let mut groups: Vec<GroupFit> = by_group
        .into_par_iter()
        .zip(group_units)
        .enumerate()
        .map(|(i, (group, mine))| {
            let delta = family.as_ref().map_or(Some(0.0), |f| f.member[i].then_some(f.delta_each));
            fit_labeled_group(group, &mine, &labeled, blocks, opts, delta)
        })
        .collect::<Result<_>>()?;
    set_deltas(&global, &mut groups);
    let counts = Counts { rows: table.len() as u64, labeled: n, relevant: n_rel };
    let mut art = artifact(&table.meta.model, &table.meta.metric, table.meta.k, String::new(), opts, counts, global, groups);
    art.bootstrap_unit = Some(if block.is_some() { "query" } else { "pair" }.to_owned());
    if let Some(f) = &fold {
        art.held_out = Some(HeldOutSpec { folds: opts.folds, seed: opts.seed, queries: queries.unwrap_or(f.len() as u64) });
    }
    if let (Some(c), Some(f)) = (&opts.certify, family) {
        let unjudged = if c.unit.needs_queries() { queries.unwrap_or(0).saturating_sub(units.len() as u64) } else { 0 };
        art.certification = Some(f.spec(c, opts.certified_by, unjudged));
    }
    set_cutoffs(&mut art);
    set_decision_quality(&mut art, &units, row_groups.as_ref());
    Ok(art)
}

/// Refuses a fit whose `n` labeled pairs (`n_rel` relevant) hold one class only.
fn check_both_classes(path: &Path, n_rel: u64, n: u64) -> Result<()> {
    if n_rel == 0 || n_rel == n {
        let class = if n_rel == 0 { "irrelevant" } else { "relevant" };
        return Err(Error::format(
            path,
            format!("{} {class}: a calibration needs both classes (check `rel_level` and the qrels)", all_pairs(n, "")),
        ));
    }
    Ok(())
}

/// The judged queries as units (`row_groups` are the queries' rows; `fold` each row's fold;
/// `k` the table's hits per query). Without the queries, each rank-1 row is a query's top hit:
/// enough for decisions.
fn query_units(view: &TableView, opts: &FitOptions, row_groups: Option<&RowGroups>, fold: Option<&[u8]>, k: u64) -> Result<Vec<QueryUnit>> {
    match row_groups {
        Some(g) => certify::query_units(view, opts.rel_level, g.index(), fold, k),
        None if view.rank.is_some() => certify::top_hits(view, opts.rel_level),
        None => Ok(Vec::new()),
    }
}

/// The bootstrap's blocks: whole queries dealt into up to 255 random blocks when the queries
/// are known (each row's block, and how many), else none (the bootstrap resamples pairs).
fn bootstrap_blocks(view: &TableView, opts: &FitOptions, queries: Option<u64>) -> Result<(Option<Vec<u8>>, usize)> {
    let n_blocks = queries.unwrap_or(0).min(255) as usize;
    let block = if opts.bootstrap > 0 && n_blocks >= 2 { Some(folds::assign(view, n_blocks, opts.seed ^ 0xB10C)?) } else { None };
    Ok((block, n_blocks))
}

/// Each fold's table of pairs (sorted from the pairs' keys) and the table of all pairs.
fn fold_tables(view: &TableView, opts: &FitOptions, fold: Option<&[u8]>) -> Result<(Vec<Distinct>, Distinct)> {
    let keys = pairs::fold_class_keys(view, opts.rel_level, fold, opts.folds)?;
    let (mut parts, global) = rayon::join(
        || keys.par_iter().map(|(p, n)| Distinct::from_keys(p, n)).collect::<Vec<_>>(),
        || {
            (keys.len() > 1).then(|| {
                let pos: Vec<&[u32]> = keys.iter().map(|(p, _)| p.as_slice()).collect();
                let neg: Vec<&[u32]> = keys.iter().map(|(_, n)| n.as_slice()).collect();
                Distinct::from_key_sets(&pos, &neg)
            })
        },
    );
    let global = global.unwrap_or_else(|| parts.pop().unwrap_or_default());
    Ok((parts, global))
}

/// The groups of the query units (each query's top hit: the unit of decisions, and of
/// certification at the query unit) when the table has its queries and ranks; None otherwise,
/// refused where the certification's unit needs queries.
fn unit_groups(view: &TableView, opts: &FitOptions) -> Result<Option<crate::table::RowGroups>> {
    let path = view.path();
    let row_groups = if view.query_id.is_some() && view.rank.is_some() {
        Some(if opts.group_by.is_empty() { crate::table::RowGroups::single() } else { view.groups(&opts.group_by)? })
    } else if let Some(c) = opts.certify.as_ref().filter(|c| c.unit.needs_queries()) {
        return Err(Error::format(
            path,
            format!(
                "unit {} needs the query_id and rank columns (its units are queries); unit pair-iid treats the pairs as independent",
                c.unit.name()
            ),
        ));
    } else {
        None
    };
    if opts.certify.as_ref().is_some_and(|c| c.unit == Unit::Query) && !opts.target_recall.is_empty() && view.query_relevant.is_none() {
        return Err(Error::format(
            path,
            "a recall target at the query unit needs the query_relevant column (relevant documents never retrieved are missed); score with qrels, or certify at the pair unit",
        ));
    }
    Ok(row_groups)
}

/// A unit's group key among the units' `groups` ("all" without groups).
#[expect(clippy::indexing_slicing, reason = "group and row positions come from the table's own grouping")]
fn unit_key<'a>(groups: Option<&'a crate::table::RowGroups>, u: &QueryUnit) -> &'a str {
    groups.map(|g| g.keys[u.group as usize].0.as_str()).unwrap_or("all")
}

/// The units of each labeled group (`by_group`), found by their key among `groups`.
#[expect(clippy::indexing_slicing, reason = "group and row positions come from the table's own grouping")]
fn units_by_group<'a>(
    units: &'a [QueryUnit],
    by_group: &[(String, BTreeMap<String, String>, Vec<usize>)],
    groups: Option<&crate::table::RowGroups>,
) -> Vec<Vec<&'a QueryUnit>> {
    let mut group_units: Vec<Vec<&QueryUnit>> = vec![Vec::new(); by_group.len()];
    let position: std::collections::HashMap<&str, usize> = by_group.iter().enumerate().map(|(i, (key, _, _))| (key.as_str(), i)).collect();
    for u in units {
        if let Some(&i) = position.get(unit_key(groups, u)) {
            group_units[i].push(u);
        }
    }
    group_units
}

/// Fits one labeled group (its key, its columns' values and its pairs `idx` of `labeled`): its
/// query units `mine`, its folds' tables where cross-fitting, and its bootstrap blocks
/// (`blocks` of them) where resampling queries.
#[expect(clippy::indexing_slicing, reason = "group and row positions come from the table's own grouping")]
fn fit_labeled_group(
    (key, values, idx): (String, BTreeMap<String, String>, Vec<usize>),
    mine: &[&QueryUnit],
    labeled: &pairs::LabeledPairs,
    blocks: Option<usize>,
    opts: &FitOptions,
    delta: Option<f64>,
) -> Result<GroupFit> {
    let s: Vec<f32> = idx.iter().map(|&i| labeled.scores[i]).collect();
    let r: Vec<bool> = idx.iter().map(|&i| labeled.relevant[i]).collect();
    let d = Distinct::from_pairs(&s, &r);
    let parts: Vec<Distinct> = if opts.folds > 1 {
        (0..opts.folds as u8)
            .map(|f| {
                let (s, r): (Vec<f32>, Vec<bool>) =
                    idx.iter().filter(|&&i| labeled.fold[i] == f).map(|&i| (labeled.scores[i], labeled.relevant[i])).unzip();
                Distinct::from_pairs(&s, &r)
            })
            .collect()
    } else {
        Vec::new()
    };
    let b: Option<Vec<u8>> = blocks.map(|_| idx.iter().map(|&i| labeled.block[i]).collect());
    let group_blocks = b.as_ref().zip(blocks).map(|(b, n)| Blocks { scores: &s, relevant: &r, block: b, blocks: n });
    fit_group(&key, values, &d, &parts, mine, group_blocks, opts, delta, false)
}

/// How good each decision was on the fitting queries, in sample (each unit decided by its
/// group's cutoffs under the artifact's default rule and map).
fn set_decision_quality(art: &mut Artifact, units: &[QueryUnit], groups: Option<&crate::table::RowGroups>) {
    if art.global.decision.is_none() {
        return;
    }
    let (on, _, _) = crate::policy::default_rule(art);
    let method = art.global.default_method();
    let cuts_of = |key: &str| -> Option<&BandScores> {
        art.groups.iter().find(|g| g.key == key).unwrap_or(&art.global).band_scores.get(method.name())
    };
    let policy = crate::policy::Policy { band: art.abstain, min_gap: 0.0 };
    let quality = decision::quality(
        units.iter().filter_map(|u| cuts_of(unit_key(groups, u)).map(|c| (u, c))),
        on == crate::policy::DecideOn::Certified,
        &policy,
    );
    if let Some(d) = art.global.decision.as_mut() {
        d.quality = quality;
    }
}

/// The certificates of a fit that share its δ, and the share each gets.
struct Family {
    /// Targets with a δ.
    targets: usize,
    /// Whether each group is in the family.
    member: Vec<bool>,
    /// Groups in the family.
    groups: usize,
    /// Targets × (groups + 1).
    certificates: usize,
    /// δ / certificates.
    delta_each: f64,
    /// What the fit's confidence covers.
    words: String,
}

impl Family {
    /// The certification record of this family, for certificates `c` that `certified_by`
    /// acts on, `unjudged` queries left out.
    fn spec(self, c: &CertifyOptions, certified_by: CertifiedBy, unjudged: u64) -> CertificationSpec {
        CertificationSpec {
            confidence: c.confidence,
            unit: c.unit,
            fwer: c.fwer,
            grid: c.grid.size(),
            grid_source: c.grid_source.clone(),
            groups: self.groups,
            unjudged_queries: unjudged,
            targets: self.targets,
            certificates: self.certificates,
            delta_each: self.delta_each,
            family: self.words,
            certified_by,
        }
    }

    /// The family of a fit with groups of these counts: the global fit and every group that
    /// could certify its easiest precision target at its share of δ were all its units at a
    /// precision halfway between the target and 1 (a rule blind to relevance: a group too small
    /// to certify anything but a near-perfect ranking takes no share). The share
    /// is found as the smallest budget of groups that admits no more groups than it counts;
    /// each member then gets δ / (targets × (members + 1)).
    fn new(c: &CertifyOptions, opts: &FitOptions, counts: &[certify::UnitCounts]) -> Family {
        let delta = 1.0 - c.confidence;
        // Conformal risk control (recall at the query unit) holds in expectation: no δ.
        let recall = if c.unit == Unit::Query { 0 } else { opts.target_recall.len() };
        let targets = opts.target_precision.len() + recall;
        let easiest = opts.target_precision.iter().copied().fold(f64::INFINITY, f64::min);
        let level = |g: usize| delta / (targets.max(1) * (g + 1)) as f64;
        let admitted = |g: usize| -> Vec<bool> {
            counts
                .iter()
                .map(|n| {
                    opts.certified_by == CertifiedBy::Group
                        && n.pairs >= opts.min_pairs
                        && (!easiest.is_finite() || n.could_certify(c.unit, easiest, level(g)))
                })
                .collect()
        };
        let mut budget = counts.len();
        let mut member = admitted(budget);
        while budget > 0 {
            let fewer = admitted(budget - 1);
            if fewer.iter().filter(|&&m| m).count() > budget - 1 {
                break;
            }
            budget -= 1;
            member = fewer;
        }
        let groups = member.iter().filter(|&&m| m).count();
        let certificates = targets * (groups + 1);
        let delta_each = delta / certificates.max(1) as f64;
        let words = format!(
            "with probability at least {} over the draw of the calibration {}, the {certificates} certificates hold at once: {targets} target{} × ({groups} of {} group{} + the global fit), each at δ = {delta} / {certificates}; a group is in the family when its counts alone (labeled pairs ≥ {}, and enough units to certify the easiest target at a precision halfway to 1) allow it, never by its labels{}",
            c.confidence,
            if c.unit == Unit::PairIid { "pairs (assumed independent)" } else { "queries (assumed exchangeable)" },
            if targets == 1 { "" } else { "s" },
            counts.len(),
            if counts.len() == 1 { "" } else { "s" },
            opts.min_pairs,
            if recall == 0 && !opts.target_recall.is_empty() { "; recall targets at the query unit hold in expectation (conformal risk control), outside this family" } else { "" },
        );
        Family { targets, member, groups, certificates, delta_each, words }
    }
}

/// Fits summed histograms ([`histogram::Histograms`]) as [`fit_table`] fits pairs: each bin
/// stands for its smallest score, so thresholds are within one bin (relative 2⁻¹⁵) of the
/// exact fit's. The options' grouping must be the histograms' (or none: the global fit only)
/// and their relevance level the one they were counted at.
pub fn fit_histograms(h: &histogram::Histograms, opts: &FitOptions) -> Result<Artifact> {
    opts.check()?;
    if opts.rel_level != h.rel_level {
        return Err(Error::Invalid(format!("the histograms were counted at `rel_level` {}, not {}", h.rel_level, opts.rel_level)));
    }
    if !opts.group_by.is_empty() && opts.group_by != h.group_by {
        return Err(Error::Invalid(format!(
            "the histograms are grouped by [{}], not [{}]",
            h.group_by.join(", "),
            opts.group_by.join(", ")
        )));
    }
    let (n_rel, n_irr) = h.pairs();
    let n = n_rel + n_irr;
    if n_rel == 0 || n_irr == 0 {
        let class = if n_rel == 0 { "irrelevant" } else { "relevant" };
        return Err(Error::Invalid(format!("{} {class}: a calibration needs both classes", all_pairs(n, " of the histograms"))));
    }
    let global = fit_group("all", BTreeMap::new(), &h.global.distinct(), &[], &[], None, opts, None, true)?;
    let mut groups: Vec<GroupFit> = if opts.group_by.is_empty() {
        Vec::new()
    } else {
        h.groups
            .par_iter()
            .map(|g| fit_group(&g.key, g.values.clone(), &g.histogram.distinct(), &[], &[], None, opts, None, false))
            .collect::<Result<_>>()?
    };
    set_deltas(&global, &mut groups);
    let sha = match h.sources.as_slice() {
        [one] => one.sha256.clone(),
        _ => String::new(),
    };
    let counts = Counts { rows: h.sources.iter().map(|s| s.rows).sum(), labeled: n, relevant: n_rel };
    let mut art = artifact(&h.model, &h.metric, h.k, sha, opts, counts, global, groups);
    // Histograms hold no queries: no cross-fitting, no certification.
    art.held_out = None;
    art.certification = None;
    set_cutoffs(&mut art);
    Ok(art)
}

/// Stability: each group's thresholds against the global ones.
fn set_deltas(global: &GroupFit, groups: &mut [GroupFit]) {
    for g in groups {
        for (t, gt) in g.thresholds.iter_mut().zip(&global.thresholds) {
            if let (Some(a), Some(b)) = (t.score, gt.score) {
                t.delta_from_global = Some(a - b);
            }
        }
    }
}

/// The artifact of a fit.
#[expect(clippy::too_many_arguments, reason = "the artifact's parts, each a field of it")]
fn artifact(
    model: &str,
    metric: &str,
    k: usize,
    scores_sha256: String,
    opts: &FitOptions,
    counts: Counts,
    global: GroupFit,
    groups: Vec<GroupFit>,
) -> Artifact {
    Artifact {
        schema_version: ARTIFACT_VERSION,
        simcal_version: env!("CARGO_PKG_VERSION").to_owned(),
        created: created(),
        model: model.to_owned(),
        metric: metric.to_owned(),
        k,
        scores_sha256,
        rel_level: opts.rel_level,
        methods: opts.methods.clone(),
        group_by: opts.group_by.clone(),
        min_pairs: opts.min_pairs,
        min_relevant: opts.min_relevant,
        bootstrap: opts.bootstrap,
        seed: opts.seed,
        targets: TargetSpec { precision: opts.target_precision.clone(), recall: opts.target_recall.clone() },
        held_out: None,
        certification: None,
        bootstrap_unit: None,
        abstain: opts.abstain,
        counts,
        global,
        groups,
    }
}

/// Fits one group. The global fit (`strict`) fails where a group is only marked not fitted.
/// `parts` are the group's fold tables (empty: no cross-fitting); `units` its query units; and
/// `delta` the level each of its certificates gets (None: outside the family that shares δ).
#[expect(clippy::too_many_arguments, reason = "a group's data and its place in the family of certificates, set per group")]
fn fit_group(
    key: &str,
    values: BTreeMap<String, String>,
    d: &Distinct,
    parts: &[Distinct],
    units: &[&QueryUnit],
    blocks: Option<Blocks>,
    opts: &FitOptions,
    delta: Option<f64>,
    strict: bool,
) -> Result<GroupFit> {
    let (np, nn) = (d.n_pos(), d.n_neg());
    let mut g = GroupFit {
        key: key.to_owned(),
        values,
        n: np + nn,
        n_relevant: np,
        fitted: false,
        reason: None,
        platt: None,
        platt_error: None,
        isotonic: None,
        thresholds: vec![],
        band_scores: BTreeMap::new(),
        metrics: BTreeMap::new(),
        held_out_metrics: BTreeMap::new(),
        distributions: None,
        decision: None,
    };
    g.distributions = Some(summary::distributions(d));
    if let Some(why) = not_fitted(g.n, np, opts, strict) {
        g.reason = Some(why);
        return Ok(g);
    }
    g.fitted = true;
    // The folds' fits run beside the group's own, Platt's from the same base.
    let base = opts.methods.contains(&Method::Platt).then(|| platt::Base::new(d));
    let base = base.as_ref();
    let (held_out, g) = rayon::join(
        || (parts.len() > 1).then(|| folds::held_out(d, parts, base, &opts.methods, &opts.target_precision, &opts.target_recall)),
        || fit_both_classes(g, d, base, units, blocks, opts, delta, strict),
    );
    let mut g = g?;
    if let Some(h) = &held_out {
        for (t, ho) in g.thresholds.iter_mut().zip(&h.targets) {
            t.held_out = Some(ho.clone());
        }
        for (m, metrics) in &h.metrics {
            g.held_out_metrics.insert(m.name().into(), metrics.clone());
        }
    }
    Ok(g)
}

/// "all 30,000 labeled pairs{of} are" (or "the one labeled pair{of} is"), before their class.
fn all_pairs(n: u64, of: &str) -> String {
    if n == 1 {
        format!("the one labeled pair{of} is")
    } else {
        format!("all {} labeled pairs{of} are", crate::words::num(n))
    }
}

/// Why a group of `n` labeled pairs, `np` relevant, is not fitted (None: it is). The global fit
/// (`strict`) has no minimum counts. The reason is recorded in the artifact (`reason`), whose
/// text is a file contract kept byte for byte; it names the minimums as the command line has
/// always written them, unlike the library's error messages.
fn not_fitted(n: u64, np: u64, opts: &FitOptions, strict: bool) -> Option<String> {
    if !strict && n < opts.min_pairs {
        Some(format!(
            "{}, fewer than --min-pairs {}",
            crate::words::count(n, "labeled pair", "labeled pairs"),
            crate::words::num(opts.min_pairs)
        ))
    } else if np == 0 || np == n {
        Some(format!("one class only: {} {}", all_pairs(n, ""), if np == 0 { "irrelevant" } else { "relevant" }))
    } else if !strict && np < opts.min_relevant {
        Some(format!(
            "{}, fewer than --min-relevant {}",
            crate::words::count(np, "relevant pair", "relevant pairs"),
            crate::words::num(opts.min_relevant)
        ))
    } else {
        None
    }
}

/// The thresholds, certified thresholds and maps of a group with both classes.
#[expect(clippy::too_many_arguments, reason = "fit_group's arguments, passed on")]
#[expect(clippy::indexing_slicing, reason = "group and row positions come from the table's own grouping")]
fn fit_both_classes(
    mut g: GroupFit,
    d: &Distinct,
    base: Option<&platt::Base>,
    units: &[&QueryUnit],
    blocks: Option<Blocks>,
    opts: &FitOptions,
    delta: Option<f64>,
    strict: bool,
) -> Result<GroupFit> {
    let np = g.n_relevant;
    let picks = sweep::picks(sweep::points(d), np, &opts.target_precision, &opts.target_recall);
    let targets: Vec<(TargetKind, f64, Option<Point>)> = opts
        .target_precision
        .iter()
        .zip(&picks.precision)
        .map(|(&p, &pt)| (TargetKind::Precision, p, pt))
        .chain(opts.target_recall.iter().zip(&picks.recall).map(|(&r, &pt)| (TargetKind::Recall, r, pt)))
        .collect();
    let intervals = (opts.bootstrap > 0).then(|| {
        let t = bootstrap::Targets {
            precision: opts.target_precision.clone(),
            recall: opts.target_recall.clone(),
            fitted: targets.iter().map(|(_, _, pt)| pt.map(|pt| pt.threshold)).collect(),
        };
        match blocks {
            Some(b) => bootstrap::intervals_by_block(d, &t, opts.bootstrap, opts.seed, b),
            None => bootstrap::intervals(d, &t, opts.bootstrap, opts.seed),
        }
    });
    let mut certified = certificates(d, units, opts, delta, targets.len());
    for (j, &(target, value, point)) in targets.iter().enumerate() {
        let interval = intervals.as_ref().map(|iv| ThresholdInterval {
            score: iv[j].threshold,
            precision: iv[j].precision,
            reachable_fraction: iv[j].reachable,
        });
        let mut t = estimate(target, value, point, np, &picks, interval);
        t.certified = certified[j].take();
        if !units.is_empty() {
            t.top_hits = t.score.map(|s| UnitCount::at_or_above(units.iter().copied(), s));
        }
        g.thresholds.push(t);
    }
    fit_maps(&mut g, d, base, opts, strict)?;
    Ok(g)
}

/// The certificate of each target (None without certification): certified at level `delta`,
/// or marked outside the family that shares δ (`delta` None).
fn certificates(
    d: &Distinct,
    units: &[&QueryUnit],
    opts: &FitOptions,
    delta: Option<f64>,
    targets: usize,
) -> Vec<Option<CertifiedThreshold>> {
    match (&opts.certify, delta) {
        (Some(c), Some(delta)) => {
            certify::certify(d, units, &opts.target_precision, &opts.target_recall, c, delta).into_iter().map(Some).collect()
        }
        (Some(c), None) => certify::outside_family(
            &opts.target_precision,
            &opts.target_recall,
            c,
            &if opts.certified_by == CertifiedBy::Global {
                "not certified: the fit certified the global population alone (certified by global)".to_owned()
            } else {
                format!(
                "not certified: {} judged queries ({} labeled pairs) are too few to certify any target at a share of δ (even at a precision halfway to 1), so the group takes no share",
                units.len(),
                d.n_pos() + d.n_neg()
            )
            },
        )
        .into_iter()
        .map(Some)
        .collect(),
        (None, _) => vec![None; targets],
    }
}

/// Fits the maps `opts.methods` ask for on the group's pairs `d` (Platt from the fit's `base`
/// when given). A Platt fit that fails is an error of the global fit (`strict`) when it is the
/// only map asked for, else recorded as the group's `platt_error`.
#[expect(clippy::indexing_slicing, reason = "group and row positions come from the table's own grouping")]
fn fit_maps(g: &mut GroupFit, d: &Distinct, base: Option<&platt::Base>, opts: &FitOptions, strict: bool) -> Result<()> {
    for &m in &opts.methods {
        match m {
            Method::Isotonic => {
                let (iso, values) = Isotonic::fit_values(d);
                g.metrics.insert(m.name().into(), summary::metrics(d, |i| values[i]));
                g.isotonic = Some(iso);
            }
            Method::Platt => match base.map_or_else(|| platt::fit(d, &g.key), |b| b.fit(d.whole(), &g.key, platt::TOLERANCE)) {
                Ok(p) => {
                    g.metrics.insert(m.name().into(), summary::metrics(d, |i| p.predict(d.x[i])));
                    g.platt = Some(p);
                }
                Err(e) if strict && opts.methods.len() == 1 => return Err(e),
                Err(e) => g.platt_error = Some(e.to_string()),
            },
        }
    }
    Ok(())
}

/// A target's threshold as estimated on the fitting data (`point`: the sweep's pick, None where
/// the target is not reached), with its exact interval and bootstrap `interval`.
pub(crate) fn estimate(
    target: TargetKind,
    value: f64,
    point: Option<Point>,
    np: u64,
    picks: &sweep::Picks,
    interval: Option<ThresholdInterval>,
) -> Threshold {
    match point {
        Some(pt) => Threshold {
            target,
            value,
            reachable: true,
            score: Some(pt.threshold),
            precision: Some(pt.precision()),
            recall: Some(pt.recall(np)),
            message: None,
            interval,
            delta_from_global: None,
            n: Some(pt.tp + pt.fp),
            tp: Some(pt.tp),
            precision_exact: Some(clopper_pearson(pt.tp, pt.tp + pt.fp, 0.95)),
            recall_exact: Some(clopper_pearson(pt.tp, np, 0.95)),
            small_sample: pt.tp + pt.fp < SMALL_SAMPLE,
            held_out: None,
            certified: None,
            top_hits: None,
        },
        None => Threshold {
            target,
            value,
            reachable: false,
            score: None,
            precision: None,
            recall: None,
            message: Some(if target == TargetKind::Precision {
                format!("not reachable: best precision is {:.4}", picks.best_precision)
            } else {
                format!("not reachable: best recall is {:.4}", picks.best_recall)
            }),
            interval,
            delta_from_global: None,
            n: None,
            tp: None,
            precision_exact: None,
            recall_exact: None,
            small_sample: false,
            held_out: None,
            certified: None,
            top_hits: None,
        },
    }
}

/// Each fit's `band_scores`: the scores where `apply`'s default decisions change for its
/// queries, under each map (groups not fitted included: their queries are decided too).
fn set_cutoffs(art: &mut Artifact) {
    let (on, target, by) = crate::policy::default_rule(art);
    let methods = art.methods.clone();
    let cuts = |art: &Artifact, key: &str| -> BTreeMap<String, BandScores> {
        methods.iter().map(|&m| (m.name().to_owned(), crate::policy::cutoffs(art, key, m, on, target, by, art.abstain))).collect()
    };
    let global = cuts(art, "all");
    let groups: Vec<BTreeMap<String, BandScores>> = art.groups.iter().map(|g| cuts(art, &g.key)).collect();
    art.global.band_scores = global;
    for (g, c) in art.groups.iter_mut().zip(groups) {
        g.band_scores = c;
    }
}
