//! Certified thresholds: for each target, the threshold that Learn-Then-Test certifies (precision,
//! or recall over pairs) or that conformal risk control bounds (per-query recall), over a grid
//! of candidates, at the unit asked for.
//!
//! Units: `pair` treats the labeled pairs as exchangeable (pairs of one query are not
//! independent, so the guarantee is only as good as that assumption); `query` takes one unit per
//! query that has a relevant document: its rank-1 hit for precision (relevant or not; an unjudged
//! top hit counts as irrelevant), its relevant documents for recall (those not retrieved are
//! missed at every threshold).

// Indexing here cannot fail: grid and curve positions come from searches within the curve they index.
// (The crate denies indexing elsewhere: its readers of user files index nothing.)
#![allow(clippy::indexing_slicing)]

use rayon::prelude::*;
use std::path::Path;

use arrow::array::Array;

use super::distinct::Distinct;
use crate::calibrate::artifact::CertifiedThreshold;
use crate::error::{Error, Result};
use crate::stats::binomial;
use crate::stats::crc::{control_fnr, QueryRecall};
use crate::stats::ltt::{certify_precision, certify_recall, Candidate, Fwer};
use crate::table::TableView;

/// The exchangeable unit a guarantee is about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Unit {
    /// Every labeled pair.
    #[default]
    Pair,
    /// One per query with a relevant document: its top hit (precision), its relevant documents
    /// (recall).
    Query,
}

impl Unit {
    /// `pair` or `query`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Pair => "pair",
            Unit::Query => "query",
        }
    }

    /// Parses a unit name.
    pub fn parse(s: &str) -> Result<Unit> {
        match s {
            "pair" => Ok(Unit::Pair),
            "query" => Ok(Unit::Query),
            _ => Err(Error::Invalid(format!("unknown unit {s:?} (expected pair or query)"))),
        }
    }
}

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
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
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
    /// Whether the query has a relevant document (only those are units of certification).
    pub answerable: bool,
    /// Group of the query (of its first row).
    pub group: u32,
    /// Fold of the query.
    pub fold: u8,
}

/// The query units of a table: one per query (a run of equal `query_id`s) with a labeled row;
/// `answerable` when it has a relevant document, either in `query_relevant` or among its labeled
/// rows. `group` and `fold` give each row's group and fold.
pub fn query_units(view: &TableView, rel_level: i32, group: &[u32], fold: Option<&[u8]>) -> Result<Vec<QueryUnit>> {
    let why = "a query's top hit";
    let runs = view.query_runs(why)?;
    let rank = view.ranks(why)?;
    let label = view.labels()?;
    let score = view.score;
    let listed = view.query_relevant;
    // Queries in parallel, in table order.
    Ok(runs
        .into_par_iter()
        .filter(|&(lo, hi)| (lo..hi).any(|r| label.is_valid(r)))
        .map(|(lo, hi)| {
            let relevant_rows: Vec<usize> = (lo..hi).filter(|&r| label.is_valid(r) && label.value(r) >= rel_level).collect();
            let listed_n = listed.filter(|c| c.is_valid(lo)).map_or(0, |c| u64::from(c.value(lo)));
            let n_rel = listed_n.max(relevant_rows.len() as u64);
            let top = (lo..hi).min_by_key(|&r| (rank.value(r), r)).unwrap_or(lo);
            QueryUnit {
                top_score: f64::from(score[top]),
                top_relevant: label.is_valid(top) && label.value(top) >= rel_level,
                recall: QueryRecall { scores: relevant_rows.iter().map(|&r| f64::from(score[r])).collect(), relevant: n_rel },
                answerable: n_rel > 0,
                group: group[lo],
                fold: fold.map_or(0, |f| f[lo]),
            }
        })
        .collect())
}

/// Each labeled rank-1 row as a query's top hit, for a table read without its queries (no
/// group, fold 0; recall and answerability unknown, so not units of certification).
pub fn top_hits(view: &TableView, rel_level: i32) -> Result<Vec<QueryUnit>> {
    let rank = view.ranks("a query's top hit")?;
    let label = view.labels()?;
    let score = view.score;
    Ok((0..view.len())
        .filter(|&r| rank.value(r) == 1 && label.is_valid(r))
        .map(|r| QueryUnit {
            top_score: f64::from(score[r]),
            top_relevant: label.value(r) >= rel_level,
            recall: QueryRecall { scores: Vec::new(), relevant: 0 },
            answerable: false,
            group: 0,
            fold: 0,
        })
        .collect())
}

/// The certified threshold of every target (precision targets first) at family-wise level
/// `delta`, from the group's labeled pairs `d` (pair unit) or its query units.
pub fn certify(
    d: &Distinct,
    units: &[&QueryUnit],
    precision: &[f64],
    recall: &[f64],
    opts: &CertifyOptions,
    delta: f64,
) -> Vec<CertifiedThreshold> {
    // Only queries with a relevant document are units of a guarantee.
    let units: Vec<&QueryUnit> = units.iter().copied().filter(|u| u.answerable).collect();
    let blank = |target: &str, value: f64| CertifiedThreshold {
        target: target.to_owned(),
        value,
        score: None,
        n: None,
        tp: None,
        precision: None,
        recall: None,
        p_value: None,
        lower_bound: None,
        risk_bound: None,
        confidence: 1.0 - delta,
        delta,
        unit: opts.unit.name().to_owned(),
        method: String::new(),
        grid: 0,
        units: 0,
        reason: None,
        fallback: false,
    };
    // The units of precision: pairs, or each query's top hit.
    let top: Distinct;
    let pd = match opts.unit {
        Unit::Pair => d,
        Unit::Query => {
            let s: Vec<f32> = units.iter().map(|u| u.top_score as f32).collect();
            let r: Vec<bool> = units.iter().map(|u| u.top_relevant).collect();
            top = Distinct::from_pairs(&s, &r);
            &top
        }
    };
    let n_pos = pd.n_pos();
    let weights: Vec<u64> = pd.pos.iter().zip(&pd.neg).map(|(a, b)| a + b).collect();
    let grid = opts.grid.thresholds(&pd.x, &weights);
    let suffix = pd.suffix_counts();
    let candidates: Vec<Candidate> = grid
        .iter()
        .map(|&l| {
            let (tp, n) = pd.at_or_above(&suffix, l);
            Candidate { lambda: l, n, tp }
        })
        .collect();
    let units_n = pd.n_pos() + pd.n_neg();
    let mut out = Vec::new();
    for &p in precision {
        let mut c = blank("precision", p);
        c.method = opts.fwer.name().to_owned();
        c.grid = grid.len();
        c.units = units_n;
        let cert = certify_precision(&candidates, p, delta, opts.fwer);
        match cert.best {
            Some(i) => {
                let k = candidates[i];
                chosen(&mut c, k, n_pos, cert.p_values[i]);
                c.lower_bound = Some(binomial::lower_bound(k.tp, k.n, delta));
            }
            None => c.reason = Some(nothing_certified(&candidates, &cert.p_values, delta)),
        }
        out.push(c);
    }
    for &r in recall {
        let mut c = blank("recall", r);
        match opts.unit {
            Unit::Pair => {
                c.method = opts.fwer.name().to_owned();
                c.grid = grid.len();
                c.units = n_pos;
                let cert = certify_recall(&candidates, n_pos, r, delta, opts.fwer);
                match cert.best {
                    Some(i) => {
                        let k = candidates[i];
                        chosen(&mut c, k, n_pos, cert.p_values[i]);
                        c.lower_bound = Some(binomial::lower_bound(k.tp, n_pos, delta));
                    }
                    None => c.reason = Some(nothing_certified(&candidates, &cert.p_values, delta)),
                }
            }
            Unit::Query => {
                c.method = "crc".to_owned();
                let q: Vec<QueryRecall> = units.iter().map(|u| u.recall.clone()).collect();
                let mut x: Vec<f64> = q.iter().flat_map(|q| q.scores.iter().copied()).collect();
                x.sort_by(f64::total_cmp);
                let grid = opts.grid.thresholds(&x, &vec![1; x.len()]);
                c.grid = grid.len();
                c.units = q.len() as u64;
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
                c.delta = 0.0;
                c.confidence = 1.0;
            }
        }
        out.push(c);
    }
    out
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
