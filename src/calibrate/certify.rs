//! Certified thresholds: for each target, the threshold that Learn-Then-Test certifies (precision,
//! or recall over pairs) or that conformal risk control bounds (per-query recall), over a grid
//! of candidates, at the unit asked for.
//!
//! Units: `query` (the default: the unit decisions are made on) takes one unit per judged query
//! (a query with a labeled row): its rank-1 hit for precision, relevant or not (a judged query
//! with nothing relevant is a unit whose top hit is irrelevant; an unjudged top hit of a judged
//! query counts as irrelevant), and, for recall, the relevant documents of each query that has
//! one (those not retrieved are missed at every threshold, which needs `query_relevant`).
//! `pair` certifies the precision of labeled pairs with a test that stays valid however the
//! pairs of one query depend on each other (each query's bounded loss, [`Losses::Clustered`]);
//! `pair-iid` treats the pairs as independent, as MAPIE does (valid only if they are).

use rayon::prelude::*;
use std::path::Path;

use arrow::array::Array;

use super::distinct::Distinct;
use crate::calibrate::artifact::CertifiedThreshold;
use crate::calibrate::artifact::TargetKind;
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::stats::crc::{control_fnr, QueryRecall};
use crate::stats::ltt::{certify_precision, certify_recall, Candidate, Fwer, Losses};
use crate::table::TableView;

/// The exchangeable unit a guarantee is about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// One per judged query: its top hit (precision), its relevant documents (recall). The unit
    /// `apply` decides on.
    #[default]
    Query,
    /// Every labeled pair, tested through each query's bounded loss: valid when the pairs of a
    /// query depend on each other, at the price of power.
    Pair,
    /// Every labeled pair, assumed independent (MAPIE's assumption; pairs of one query rarely
    /// are).
    PairIid,
}

crate::choice::choice!(Unit => "unit");

impl Unit {
    /// Whether its test needs each pair's query (every unit but `pair-iid`).
    pub(crate) fn needs_queries(self) -> bool {
        self != Unit::PairIid
    }
}

/// Whose certificate a query of a group acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertifiedBy {
    /// Its group's own certificate, obtained on that group's queries: a guarantee for each
    /// group. A group without one (nothing certified, too small to fit, or not seen when
    /// fitting) does not act.
    #[default]
    Group,
    /// The global certificate for every query: a guarantee over the whole table's population
    /// of queries (marginal), none for any one group.
    Global,
}

crate::choice::choice!(CertifiedBy => "certified-by value");

/// Candidate thresholds by default: this many quantiles of the units' scores.
pub const DEFAULT_GRID: usize = 1000;

/// The candidate thresholds.
#[derive(Clone, Debug, PartialEq)]
pub enum Grid {
    /// This many quantiles (levels i/(N − 1), numpy's linear interpolation) of the units' scores.
    Quantiles(usize),
    /// These thresholds.
    Values(Vec<f64>),
}

impl Grid {
    /// Reads a grid file: one threshold a line (blank lines and `#` comments skipped).
    pub fn read(path: &Path) -> Result<Grid> {
        let text = crate::text::read_text(path)?;
        let mut v = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let x: f64 = t.parse().map_err(|_| Error::line(path, i as u64 + 1, None, format!("{t:?} is not a number")))?;
            if !x.is_finite() {
                return Err(Error::line(path, i as u64 + 1, None, format!("threshold {x} is not finite")));
            }
            v.push(x);
        }
        if v.is_empty() {
            return Err(Error::format(path, "the grid file holds no threshold"));
        }
        Ok(Grid::Values(v))
    }

    /// The ascending, distinct thresholds for units whose scores are `x` with `weights`.
    pub fn thresholds(&self, x: &[f64], weights: &[u64]) -> Vec<f64> {
        let mut v = match self {
            Grid::Values(v) => v.clone(),
            Grid::Quantiles(n) => {
                let n = (*n).max(2);
                let levels: Vec<f64> = (0..n).map(|i| i as f64 / (n - 1) as f64).collect();
                crate::stats::quantiles(x, weights, &levels)
            }
        };
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    }

    /// How many candidates it asks for (the file's count for a file).
    pub fn size(&self) -> usize {
        match self {
            Grid::Quantiles(n) => *n,
            Grid::Values(v) => v.len(),
        }
    }
}

/// How to certify.
#[derive(Clone, Debug, PartialEq)]
pub struct CertifyOptions {
    /// 1 − δ.
    pub confidence: f64,
    /// The unit.
    pub unit: Unit,
    /// Family-wise procedure of Learn-Then-Test.
    pub fwer: Fwer,
    /// Candidates.
    pub grid: Grid,
    /// Where the candidates came from: `quantiles`, or the grid file.
    pub grid_source: String,
}

/// One query's units.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryUnit {
    /// Score of the rank-1 hit.
    pub top_score: f64,
    /// Whether it is relevant.
    pub top_relevant: bool,
    /// The query's relevant retrieved documents and its relevant count.
    pub recall: QueryRecall,
    /// Whether the query has a relevant document (only those are units of recall).
    pub answerable: bool,
    /// The most labeled pairs it could contribute: the table's list depth k where known, or its
    /// labeled rows where they are more (the pair unit's test rescales by the largest).
    pub labeled: u64,
    /// Group of the query (of its first row).
    pub group: u32,
    /// Fold of the query.
    pub fold: u8,
}

/// The query units of a table: one per judged query (a run of equal `query_id`s with a labeled
/// row); `answerable` when it has a relevant document, either in `query_relevant` or among its
/// labeled rows. Its top hit is its best-scoring row (ties: the lower rank), the row `apply`
/// decides on. `group` and `fold` give each row's group and fold (None: all in group 0, or fold
/// 0); `depth` is the table's k (0: unknown), the most pairs a query could contribute.
#[expect(clippy::indexing_slicing, reason = "row positions come from the table's own query runs")]
pub fn query_units(view: &TableView, rel_level: i32, group: Option<&[u32]>, fold: Option<&[u8]>, depth: u64) -> Result<Vec<QueryUnit>> {
    let why = "a query's top hit";
    let runs = view.query_runs(why)?;
    let rank = view.ranks(why)?;
    let label = view.labels()?;
    let score = view.score;
    view.check_relevant_level(rel_level)?;
    let listed = view.query_relevant;
    // Queries in parallel, in table order; each query's rows in one pass.
    Ok(runs
        .par_iter()
        .copied()
        .filter_map(|(lo, hi)| {
            let (mut labeled, mut top, mut relevant) = (0u64, lo, Vec::new());
            for r in lo..hi {
                // The best score, ties to the lower rank, then the earlier row.
                if score[top].total_cmp(&score[r]).then(rank.value(r).cmp(&rank.value(top))).is_lt() {
                    top = r;
                }
                if label.is_valid(r) {
                    labeled += 1;
                    if label.value(r) >= rel_level {
                        relevant.push(f64::from(score[r]));
                    }
                }
            }
            if labeled == 0 {
                return None;
            }
            let listed_n = listed.filter(|c| c.is_valid(lo)).map_or(0, |c| u64::from(c.value(lo)));
            let n_rel = listed_n.max(relevant.len() as u64);
            Some(QueryUnit {
                top_score: f64::from(score[top]),
                top_relevant: label.is_valid(top) && label.value(top) >= rel_level,
                recall: QueryRecall { scores: relevant, relevant: n_rel },
                answerable: n_rel > 0,
                labeled: labeled.max(depth),
                group: group.map_or(0, |g| g[lo]),
                fold: fold.map_or(0, |f| f[lo]),
            })
        })
        .collect())
}

/// Each labeled rank-1 row as a query's top hit, for a table read without its queries (no
/// group, fold 0): a query's rows run from its rank-1 row to the next (the table's order), so
/// its relevant retrieved documents are known; its relevant count in the qrels is not, so it is
/// not a unit of recall.
#[expect(clippy::indexing_slicing, reason = "row positions come from the table's own rank-1 rows")]
pub fn top_hits(view: &TableView, rel_level: i32) -> Result<Vec<QueryUnit>> {
    let rank = view.ranks("a query's top hit")?;
    let label = view.labels()?;
    let score = view.score;
    let starts: Vec<usize> = (0..view.len()).filter(|&r| rank.value(r) == 1).collect();
    let ends = starts.iter().skip(1).copied().chain(std::iter::once(view.len()));
    Ok(starts
        .iter()
        .zip(ends)
        .filter(|&(&r, _)| label.is_valid(r))
        .map(|(&r, end)| {
            let relevant: Vec<f64> =
                (r..end).filter(|&i| label.is_valid(i) && label.value(i) >= rel_level).map(|i| f64::from(score[i])).collect();
            QueryUnit {
                top_score: f64::from(score[r]),
                top_relevant: label.value(r) >= rel_level,
                recall: QueryRecall { relevant: relevant.len() as u64, scores: relevant },
                answerable: false,
                labeled: 1,
                group: 0,
                fold: 0,
            }
        })
        .collect())
}

/// The certified threshold of every target (precision targets first), each certificate at its
/// own level `delta` (the fit's δ split over the certificates it reports), from the group's
/// labeled pairs `d` (pair units) or its judged query units.
pub fn certify(
    d: &Distinct,
    units: &[&QueryUnit],
    precision: &[f64],
    recall: &[f64],
    opts: &CertifyOptions,
    delta: f64,
) -> Vec<CertifiedThreshold> {
    let top: Distinct;
    let (pd, losses) = match opts.unit {
        Unit::PairIid => (d, Losses::Binary),
        Unit::Pair => {
            let max_pairs = units.iter().map(|u| u.labeled).max().unwrap_or(0);
            (d, Losses::Clustered { queries: units.len() as u64, max_pairs })
        }
        Unit::Query => {
            top = top_hit_units(units);
            (&top, Losses::Binary)
        }
    };
    let tests = Tests::new(pd, losses, units, opts, delta);
    let mut out: Vec<CertifiedThreshold> = precision.iter().map(|&p| tests.precision(p)).collect();
    out.extend(recall.iter().map(|&r| match opts.unit {
        Unit::Pair | Unit::PairIid => tests.recall(r),
        Unit::Query => recall_by_query(units, r, opts, delta),
    }));
    out
}

/// Each judged query's top hit as one labeled unit.
fn top_hit_units(units: &[&QueryUnit]) -> Distinct {
    let s: Vec<f32> = units.iter().map(|u| u.top_score as f32).collect();
    let r: Vec<bool> = units.iter().map(|u| u.top_relevant).collect();
    Distinct::from_pairs(&s, &r)
}

/// The tests of one group's candidate thresholds (its units of precision at each grid point),
/// with what every test on them shares.
struct Tests<'a> {
    /// The group's units (pairs, or each judged query's top hit) by distinct score.
    units: &'a Distinct,
    /// What one test counts as independent observations.
    losses: Losses,
    /// Each grid threshold with the units at or above it.
    candidates: Vec<Candidate>,
    /// Judged queries (None for iid pairs).
    queries: Option<u64>,
    opts: &'a CertifyOptions,
    /// The level of each certificate.
    delta: f64,
}

impl<'a> Tests<'a> {
    fn new(units: &'a Distinct, losses: Losses, judged: &[&QueryUnit], opts: &'a CertifyOptions, delta: f64) -> Tests<'a> {
        let weights: Vec<u64> = units.pos.iter().zip(&units.neg).map(|(a, b)| a + b).collect();
        let suffix = units.suffix_counts();
        let candidates = opts
            .grid
            .thresholds(&units.x, &weights)
            .into_iter()
            .map(|l| {
                let (tp, n) = units.at_or_above(&suffix, l);
                Candidate { lambda: l, n, tp }
            })
            .collect();
        let queries = (opts.unit != Unit::PairIid).then_some(judged.len() as u64);
        Tests { units, losses, candidates, queries, opts, delta }
    }

    /// The level of a bound that holds whichever grid point is chosen: Bonferroni over the grid.
    fn simultaneous_level(&self) -> f64 {
        self.delta / self.candidates.len().max(1) as f64
    }

    /// A blank certificate of `target` `value` on this grid, over `units` units.
    fn blank(&self, target: TargetKind, value: f64, units: u64) -> CertifiedThreshold {
        let mut c = uncertified(target, value, self.opts, Some(self.delta));
        c.grid = self.candidates.len();
        c.units = units;
        c.queries = self.queries;
        c
    }

    /// The certificate of precision `p`.
    #[expect(clippy::indexing_slicing, reason = "grid and curve positions come from searches within the curve they index")]
    fn precision(&self, p: f64) -> CertifiedThreshold {
        let (candidates, n_pos, losses) = (&self.candidates, self.units.n_pos(), self.losses);
        let units_n = n_pos + self.units.n_neg();
        let mut c = self.blank(TargetKind::Precision, p, units_n);
        let cert = certify_precision(candidates, p, self.delta, self.opts.fwer, losses);
        match cert.best {
            Some(i) => {
                let k = candidates[i];
                chosen(&mut c, k, n_pos, cert.p_values[i]);
                c.simultaneous_lower_bound = Some(losses.lower_bound(k.tp, k.n, self.simultaneous_level()));
            }
            None => {
                c.reason = Some(nothing_certified(candidates, &cert.p_values, self.delta));
                c.units_needed = units_needed(candidates, units_n, p, self.simultaneous_level(), losses, |k| (k.tp, k.n));
                if self.opts.fwer == Fwer::FixedSequence {
                    c.reason = Some(sequence_stopped(candidates, &cert.p_values, p, self.delta, losses));
                }
            }
        }
        c
    }

    /// The certificate of recall `r` over the relevant pairs.
    #[expect(clippy::indexing_slicing, reason = "grid and curve positions come from searches within the curve they index")]
    fn recall(&self, r: f64) -> CertifiedThreshold {
        let (candidates, n_pos, losses) = (&self.candidates, self.units.n_pos(), self.losses);
        let units_n = n_pos + self.units.n_neg();
        let mut c = self.blank(TargetKind::Recall, r, n_pos);
        let cert = certify_recall(candidates, n_pos, r, self.delta, self.opts.fwer, losses);
        match cert.best {
            Some(i) => {
                let k = candidates[i];
                chosen(&mut c, k, n_pos, cert.p_values[i]);
                c.simultaneous_lower_bound = Some(losses.lower_bound(k.tp, n_pos, self.simultaneous_level()));
            }
            None => {
                c.reason = Some(nothing_certified(candidates, &cert.p_values, self.delta));
                c.units_needed = units_needed(candidates, units_n, r, self.simultaneous_level(), losses, |k| (k.tp, n_pos));
            }
        }
        c
    }
}

/// The certificate of recall `r` at the query unit: conformal risk control of the miss rate
/// over the queries that have a relevant document (a guarantee in expectation).
#[expect(clippy::indexing_slicing, reason = "grid and curve positions come from searches within the curve they index")]
fn recall_by_query(units: &[&QueryUnit], r: f64, opts: &CertifyOptions, delta: f64) -> CertifiedThreshold {
    let mut c = uncertified(TargetKind::Recall, r, opts, Some(delta));
    c.method = "crc".to_owned();
    c.guarantee = "expectation".to_owned();
    c.confidence = None;
    c.delta = None;
    let q: Vec<QueryRecall> = units.iter().filter(|u| u.answerable).map(|u| u.recall.clone()).collect();
    let mut x: Vec<f64> = q.iter().flat_map(|q| q.scores.iter().copied()).collect();
    x.sort_by(f64::total_cmp);
    let grid = opts.grid.thresholds(&x, &vec![1; x.len()]);
    c.grid = grid.len();
    c.units = q.len() as u64;
    c.queries = Some(q.len() as u64);
    let ctl = control_fnr(&q, &grid, 1.0 - r);
    match ctl.best {
        Some(i) => {
            c.score = Some(grid[i]);
            c.recall = Some(1.0 - ctl.risk[i]);
            c.risk_bound = Some(ctl.bound[i]);
        }
        None => {
            c.reason = Some(match ctl.bound.first() {
                Some(b) => format!(
                    "nothing is controlled: the bound on the miss rate is {b:.4} even at the lowest threshold, above {:.4}",
                    1.0 - r
                ),
                None => "nothing is controlled: no query has a relevant document".to_owned(),
            })
        }
    }
    c
}

/// A certificate of `target` `value` with nothing certified yet, at level `delta` (None: the
/// group is outside the family that shares δ).
fn uncertified(target: TargetKind, value: f64, opts: &CertifyOptions, delta: Option<f64>) -> CertifiedThreshold {
    CertifiedThreshold {
        target,
        value,
        score: None,
        n: None,
        tp: None,
        precision: None,
        recall: None,
        p_value: None,
        simultaneous_lower_bound: None,
        risk_bound: None,
        guarantee: "probability".to_owned(),
        confidence: delta.map(|d| 1.0 - d),
        delta,
        unit: opts.unit,
        method: opts.fwer.name().to_owned(),
        grid: 0,
        units: 0,
        queries: None,
        reason: None,
        units_needed: None,
    }
}

/// The certificates of a group outside the family that shares δ: none, each saying `why`.
pub(crate) fn outside_family(precision: &[f64], recall: &[f64], opts: &CertifyOptions, why: &str) -> Vec<CertifiedThreshold> {
    let targets = precision.iter().map(|&p| (TargetKind::Precision, p)).chain(recall.iter().map(|&r| (TargetKind::Recall, r)));
    targets.map(|(t, v)| CertifiedThreshold { reason: Some(why.to_owned()), ..uncertified(t, v, opts, None) }).collect()
}

/// What a group's certification can rest on, counted without looking at relevance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitCounts {
    /// Labeled pairs.
    pub pairs: u64,
    /// Judged queries.
    pub queries: u64,
    /// The most labeled pairs one query has.
    pub max_pairs: u64,
}

impl UnitCounts {
    /// The counts of `units` (a group's judged queries) with `pairs` labeled pairs in all.
    pub fn of(units: &[&QueryUnit], pairs: u64) -> UnitCounts {
        UnitCounts { pairs, queries: units.len() as u64, max_pairs: units.iter().map(|u| u.labeled).max().unwrap_or(0) }
    }

    /// Whether a precision of `target` could realistically be certified at `level` on these
    /// units: whether all of them at a precision halfway between the target and 1 would be (the
    /// start rule of fixed-sequence testing). It depends on the counts alone, never on labels;
    /// a group that fails it would rarely certify anything and takes no share of δ.
    pub(crate) fn could_certify(&self, unit: Unit, target: f64, level: f64) -> bool {
        let (losses, n) = match unit {
            Unit::Query => (Losses::Binary, self.queries),
            Unit::PairIid => (Losses::Binary, self.pairs),
            Unit::Pair => (Losses::Clustered { queries: self.queries, max_pairs: self.max_pairs }, self.pairs),
        };
        crate::stats::ltt::sequence_start(n, target, level, losses)
    }
}

/// About how many more units like `units` (whose grid points are `c`) a test at `level` would
/// need to certify `target` at the grid point that needs the fewest: each point's observed ratio
/// (`ratio` gives its successes and units) held, the units multiplied until its p-value reaches
/// the level. None when no point's observed ratio is above the target.
fn units_needed(
    c: &[Candidate],
    units: u64,
    target: f64,
    level: f64,
    losses: Losses,
    ratio: impl Fn(&Candidate) -> (u64, u64),
) -> Option<u64> {
    let mut best: Option<f64> = None;
    for k in c {
        let (tp, a) = ratio(k);
        if a == 0 || (tp as f64) <= target * a as f64 {
            continue;
        }
        // The p-value at `factor` times the units, the observed ratio kept.
        let scaled = |f: f64| {
            let s = |v: u64| (v as f64 * f).round() as u64;
            let l = match losses {
                Losses::Clustered { queries, max_pairs } => Losses::Clustered { queries: s(queries), max_pairs },
                binary => binary,
            };
            l.p_value(s(tp), s(a), target)
        };
        // Doubling, then bisection on the factor.
        let mut hi = 1.0;
        while scaled(hi) > level {
            hi *= 2.0;
            if hi > 1e7 {
                break;
            }
        }
        if hi > 1e7 {
            continue;
        }
        let mut lo = hi / 2.0;
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if scaled(mid) <= level {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        best = Some(best.map_or(hi, |b: f64| b.min(hi)));
    }
    // A factor of 1 would mean the units already suffice at the level: the procedure, not the
    // sample size, stood in the way.
    best.filter(|&f| f > 1.0).map(|f| ((f - 1.0) * units as f64).ceil() as u64)
}

/// Why fixed-sequence testing of precision certified nothing: where its sequences started.
#[expect(clippy::indexing_slicing, reason = "grid and curve positions come from searches within the curve they index")]
fn sequence_stopped(c: &[Candidate], p: &[f64], target: f64, delta: f64, losses: Losses) -> String {
    let seqs = crate::stats::ltt::sequences(c, target, delta, losses);
    if seqs.is_empty() {
        return format!(
            "nothing is certified: even the lowest threshold has too few units to start a fixed sequence at δ = {}",
            readable(delta)
        );
    }
    let level = delta / seqs.len() as f64;
    let starts: Vec<String> = seqs
        .iter()
        .filter_map(|s| s.first())
        .map(|&i| format!("score {:.4} ({} of {} relevant, p-value {})", c[i].lambda, c[i].tp, c[i].n, readable(p[i])))
        .collect();
    format!(
        "nothing is certified: {} fixed sequence{} at δ = {} each stopped at {} start: {}",
        seqs.len(),
        if seqs.len() == 1 { "" } else { "s" },
        readable(level),
        if seqs.len() == 1 { "its" } else { "their" },
        starts.join("; ")
    )
}

/// Records the chosen candidate `k` (out of `n_pos` relevant units) and its p-value.
fn chosen(c: &mut CertifiedThreshold, k: Candidate, n_pos: u64, p_value: f64) {
    c.score = Some(k.lambda);
    c.n = Some(k.n);
    c.tp = Some(k.tp);
    c.precision = (k.n > 0).then(|| k.tp as f64 / k.n as f64);
    c.recall = (n_pos > 0).then(|| k.tp as f64 / n_pos as f64);
    c.p_value = Some(p_value);
}

/// Why nothing was certified: the smallest p-value and where.
#[expect(clippy::indexing_slicing, reason = "grid and curve positions come from searches within the curve they index")]
fn nothing_certified(c: &[Candidate], p: &[f64], delta: f64) -> String {
    let best = (0..c.len()).min_by(|&a, &b| p[a].total_cmp(&p[b]));
    match best {
        Some(i) => format!(
            "nothing is certified: the smallest p-value is {} (δ = {}) at score {:.4}, {} of {} relevant",
            readable(p[i]),
            readable(delta),
            c[i].lambda,
            c[i].tp,
            c[i].n
        ),
        None => "nothing is certified: no candidate threshold".to_owned(),
    }
}

/// A probability for people: 4 significant digits, scientific below 0.001.
fn readable(p: f64) -> String {
    if p != 0.0 && p.abs() < 1e-3 {
        format!("{p:.2e}")
    } else {
        format!("{:.4}", (p * 1e4).round() / 1e4).trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}
