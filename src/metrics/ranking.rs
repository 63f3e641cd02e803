//! Ranking measures as trec_eval computes them: `ndcg_cut_k`, `recall_k`, `P_k`, `success_k`,
//! `recip_rank` and `map`.
//!
//! Each query's retrieved documents are ordered as trec_eval orders them (score descending, ties
//! by document id descending, compared as bytes). A document is relevant when its judged
//! relevance is at least the relevance level; unjudged and negative (judged-but-excluded)
//! documents count as not relevant. nDCG gains are the relevance values themselves (positive
//! ones), discounted by log2(rank + 1), against the ideal ordering of every judged document of
//! the query. The mean is over the queries that are both judged and retrieved, or, `complete`
//! (trec_eval `-c`), over every judged query, a missing one counting zero.

use rayon::prelude::*;

use crate::error::{Error, Result};

pub use super::measure::{Aggregate, Family, Measure};

/// The measures `simcal eval` reports by default.
pub const DEFAULT_MEASURES: &str = "ndcg_cut_10,recall_10,recall_100,P_10,success_1,recip_rank,map";

/// trec_eval names from pytrec_eval's (which are trec_eval's own): `ndcg_cut.10`,
/// `ndcg_cut.5,10`, `ndcg_cut` (its default cutoffs), `P_5`, `utility.2,-1,0,0`, `all_trec`;
/// each measure once, in the order first asked. Unknown names are refused.
pub fn from_pytrec_eval<S: AsRef<str>>(measures: &[S]) -> Result<Vec<String>> {
    let items: Vec<String> = measures.iter().map(|m| m.as_ref().to_owned()).collect();
    let out: Vec<String> = Measure::parse_list(&items)?.iter().map(Measure::name).collect();
    if out.is_empty() {
        return Err(Error::Invalid("`measures`: none asked for".into()));
    }
    Ok(out)
}

/// One query's retrieved documents and judgements, ready to measure.
#[derive(Clone, Debug, Default)]
pub struct QueryRun {
    /// The relevance of each retrieved document in trec_eval's order (None: unjudged).
    pub rels: Vec<Option<i32>>,
    /// Relevant documents the query has in all (retrieved or not).
    pub num_rel: u64,
    /// Positive relevance values of every judged document, descending (the ideal ordering).
    pub ideal: Vec<i32>,
    /// Judged documents (relevance 0 or more) below the relevance level, retrieved or not.
    pub num_nonrel: u64,
    /// Judged documents of relevance 0, retrieved or not.
    pub num_zero: u64,
}

impl QueryRun {
    /// A query's run from the relevance of its retrieved documents in trec_eval's order (`rels`)
    /// and that of every judged document (`judged`), relevant at `rel_level` and above.
    pub(crate) fn new(rels: Vec<Option<i32>>, judged: impl Iterator<Item = i32> + Clone, rel_level: i32) -> QueryRun {
        let num_rel = judged.clone().filter(|&v| v >= 0 && v >= rel_level).count() as u64;
        let num_nonrel = judged.clone().filter(|&v| (0..rel_level).contains(&v)).count() as u64;
        let num_zero = judged.clone().filter(|&v| v == 0).count() as u64;
        QueryRun { rels, num_rel, ideal: ideal_from(judged), num_nonrel, num_zero }
    }

    /// A query's run from its retrieved documents in any order, each (id, score, relevance when
    /// judged), ranked as trec_eval ranks them: score descending, ties by document id descending
    /// (as bytes).
    pub fn from_hits(mut hits: Vec<(String, f64, Option<i32>)>, judged: impl Iterator<Item = i32> + Clone, rel_level: i32) -> QueryRun {
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.as_bytes().cmp(a.0.as_bytes())));
        QueryRun::new(hits.into_iter().map(|h| h.2).collect(), judged, rel_level)
    }
}

/// Every measure of one query, as trec_eval computes it (`docs/eval.md` gives each formula).
// Long: one arm per measure family, each a line or two of trec_eval's definition.
pub(crate) fn measure_query(q: &QueryRun, measures: &[Measure], rel_level: i32) -> Vec<f64> {
    // Judged documents only: a pooled-but-unjudged one (negative) is never relevant, whatever
    // the level.
    let is_rel = |r: &Option<i32>| r.is_some_and(|r| r >= 0 && r >= rel_level);
    let rel_in_top = |k: usize| q.rels.iter().take(k).filter(|r| is_rel(r)).count() as f64;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let num_ret = q.rels.len() as f64;
    let num_rel = q.num_rel as f64;
    let num_rel_ret = rel_in_top(q.rels.len());
    // Precision at each relevant document's rank, in rank order (for the interpolated measures).
    let interpolated = measures.iter().any(|m| matches!(m.family(), Family::IprecAtRecall | Family::ElevenPtAvg));
    let precisions: Vec<f64> = if !interpolated {
        Vec::new()
    } else {
        q.rels.iter().enumerate().filter(|(_, r)| is_rel(r)).enumerate().map(|(n, (i, _))| (n + 1) as f64 / (i + 1) as f64).collect()
    };
    // Interpolated precision at recall level `level`: the best precision at or after the rank
    // where round(level × R) relevant documents have been retrieved (trec_eval 10's lround).
    let iprec = |level: f64| {
        let c = (level * num_rel).round() as usize;
        precisions.iter().skip(c.saturating_sub(1)).copied().fold(0.0, f64::max)
    };
    let ap = |k: usize| {
        // (a fold, not .sum(): an empty f64 sum is −0.0)
        let sum: f64 = q
            .rels
            .iter()
            .take(k)
            .enumerate()
            .filter(|(_, r)| is_rel(r))
            .enumerate()
            .fold(0.0, |a, (n, (i, _))| a + (n + 1) as f64 / (i + 1) as f64);
        ratio(sum, num_rel)
    };
    let set_p = ratio(num_rel_ret, num_ret);
    let set_recall = ratio(num_rel_ret, num_rel);
    measures
        .iter()
        .map(|m| match m.family() {
            Family::NumQ => 1.0,
            Family::NumRet => num_ret,
            Family::NumRel => num_rel,
            Family::NumRelRet => num_rel_ret,
            Family::NumNonrelJudgedRet => q.rels.iter().filter(|r| r.is_some_and(|v| (0..rel_level).contains(&v))).count() as f64,
            Family::Map | Family::GmMap => ap(q.rels.len()),
            Family::MapCut => ap(m.cutoff()),
            Family::Rprec => ratio(rel_in_top(q.num_rel as usize), num_rel),
            Family::Bpref | Family::GmBpref => bpref(q, rel_level),
            Family::RecipRank => q.rels.iter().position(is_rel).map_or(0.0, |i| 1.0 / (i + 1) as f64),
            Family::IprecAtRecall => iprec(m.params().first().copied().unwrap_or(0.0)),
            Family::ElevenPtAvg => ratio(m.params().iter().map(|&l| iprec(l)).sum(), m.params().len() as f64),
            Family::P => rel_in_top(m.cutoff()) / m.cutoff() as f64,
            Family::RelativeP => ratio(rel_in_top(m.cutoff()), m.cutoff().min(q.num_rel as usize) as f64),
            Family::Recall => ratio(rel_in_top(m.cutoff()), num_rel),
            Family::Success => (rel_in_top(m.cutoff()) > 0.0) as u8 as f64,
            Family::Unj => {
                let k = m.cutoff();
                q.rels.iter().take(k).filter(|r| r.is_none_or(|v| v < 0)).count() as f64 / k as f64
            }
            Family::RprecMult => {
                // trec_eval rounds this cutoff up from 0.1 (not to nearest).
                let cut = (m.params().first().copied().unwrap_or(0.0) * num_rel + 0.9) as usize;
                ratio(rel_in_top(cut), cut as f64)
            }
            Family::Utility => match m.params() {
                // d weighs the non-relevant documents not retrieved: trec_eval's
                // N + num_rel_ret − num_ret − num_rel with its default collection size N = 0.
                &[a, b, c, d] => {
                    a * num_rel_ret + b * (num_ret - num_rel_ret) + c * (num_rel - num_rel_ret) + d * (num_rel_ret - num_ret - num_rel)
                }
                _ => 0.0,
            },
            Family::BinG => {
                let (mut found, mut sum) = (0usize, 0.0);
                for (i, r) in q.rels.iter().enumerate() {
                    if is_rel(r) {
                        found += 1;
                        sum += 1.0 / ((3 + i - found) as f64).log2();
                    }
                }
                ratio(sum, num_rel)
            }
            Family::SetP => set_p,
            Family::SetRecall => set_recall,
            Family::SetRelativeP => ratio(num_rel_ret, num_ret.min(num_rel)),
            Family::SetMap => set_p * set_recall,
            Family::SetF => {
                let beta = m.params().first().copied().unwrap_or(1.0);
                ratio((beta + 1.0) * set_p * set_recall, beta * set_p + set_recall)
            }
            Family::NdcgCut => ndcg(q, m.cutoff()),
            Family::InfAp => inf_ap(q, rel_level),
            Family::Ndcg => super::gains::ndcg(q, m.pairs()),
            Family::NdcgRel => super::gains::ndcg_rel(q, m.pairs()),
            Family::Rndcg => super::gains::rndcg(q, m.pairs()),
            Family::G => super::gains::g(q, m.pairs()),
            Family::Rbp => super::gains::rbp(q, m.pairs()),
            Family::RbpResid => super::gains::rbp_resid(q, m.pairs()),
        })
        .collect()
}

/// nDCG of the top `k`: gains are the relevance values (positive ones), discounted by
/// log2(rank + 1), over the ideal ordering of every judged document.
fn ndcg(q: &QueryRun, k: usize) -> f64 {
    let dcg = |gains: &mut dyn Iterator<Item = i32>| -> f64 {
        gains.take(k).enumerate().filter(|(_, g)| *g > 0).fold(0.0, |a, (i, g)| a + f64::from(g) / ((i + 2) as f64).log2())
        // (not .sum(): an empty f64 sum is −0.0, printed as -0.0000)
    };
    let ideal = dcg(&mut q.ideal.iter().copied());
    if ideal <= 0.0 {
        0.0
    } else {
        dcg(&mut q.rels.iter().map(|r| r.unwrap_or(0))) / ideal
    }
}

/// Inferred average precision (trec_eval's estimator, ε = 0.00001): documents not in the qrels
/// hold their rank and are skipped; a pooled document judged −1 counts as sampled out.
fn inf_ap(q: &QueryRun, rel_level: i32) -> f64 {
    const EPS: f64 = 0.00001;
    let (mut rel, mut nonrel, mut unjudged, mut sum) = (0u64, 0u64, 0u64, 0.0);
    for (j, r) in q.rels.iter().enumerate() {
        match *r {
            None => {}
            Some(v) if v < 0 => unjudged += 1,
            Some(v) if v < rel_level => nonrel += 1,
            Some(_) => {
                rel += 1;
                if j == 0 {
                    sum += 1.0;
                } else {
                    let (j, above) = (j as f64, (rel - 1) as f64);
                    let seen = above + (nonrel + unjudged) as f64;
                    sum += 1.0 / (j + 1.0) + (j / (j + 1.0)) * (seen / j) * ((above + EPS) / (above + nonrel as f64 + 2.0 * EPS));
                }
            }
        }
    }
    if q.num_rel > 0 {
        sum / q.num_rel as f64
    } else {
        sum
    }
}

/// Binary preference (trec_eval's): each relevant document retrieved scores 1 less the share
/// of judged non-relevant documents ranked above it (both counts capped at R), over R.
/// Unjudged documents are skipped.
fn bpref(q: &QueryRun, rel_level: i32) -> f64 {
    let r = q.num_rel;
    if r == 0 {
        return 0.0;
    }
    let (mut nonrel, mut sum) = (0u64, 0.0);
    for v in q.rels.iter().flatten() {
        if *v < 0 {
            continue;
        }
        if *v < rel_level {
            nonrel += 1;
        } else if nonrel > 0 {
            sum += 1.0 - nonrel.min(r) as f64 / q.num_nonrel.min(r) as f64;
        } else {
            sum += 1.0;
        }
    }
    sum / r as f64
}

/// The measures over a set of queries.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RankingResult {
    /// Measure names, in the order asked for.
    pub measures: Vec<String>,
    /// Mean of each measure.
    pub mean: Vec<f64>,
    /// Queries the mean is over.
    pub queries: usize,
    /// Per query (id, values), in table order, judged queries missing from the table last.
    #[serde(skip)]
    pub per_query: Vec<(String, Vec<f64>)>,
    /// How each measure's value over the queries is formed (`mean` holds it: a mean, a sum or
    /// a geometric mean).
    #[serde(skip)]
    pub aggregates: Vec<super::measure::Aggregate>,
}

impl RankingResult {
    /// The mean of each measure by name.
    pub fn means(&self) -> serde_json::Map<String, serde_json::Value> {
        self.measures.iter().cloned().zip(self.mean.iter().map(|&v| serde_json::json!(v))).collect()
    }
}

/// Measures `runs` (query id, run; judged queries only) and forms each measure's value over
/// them as trec_eval does (the mean; the sum of the counts; the geometric mean of `gm_*`). With
/// `complete`, the judged queries in `missing` (empty runs) are measured too (trec_eval `-c`).
#[expect(clippy::indexing_slicing, reason = "measure positions run over the measures each query's values were computed for")]
pub fn evaluate(
    runs: &[&(String, QueryRun)],
    missing: &[(String, QueryRun)],
    measures: &[Measure],
    rel_level: i32,
    complete: bool,
) -> RankingResult {
    let mut per_query: Vec<(String, Vec<f64>)> =
        runs.par_iter().with_min_len(64).map(|(id, q)| (id.clone(), measure_query(q, measures, rel_level))).collect();
    if complete {
        // As trec_eval -c: each judged query the run lacks is measured on an empty ranking.
        per_query.extend(missing.iter().map(|(id, q)| (id.clone(), measure_query(q, measures, rel_level))));
    }
    let n = per_query.len();
    let mean = measures.iter().enumerate().map(|(j, m)| m.aggregate().of(per_query.iter().map(|(_, v)| v[j]))).collect();
    RankingResult {
        measures: measures.iter().map(Measure::name).collect(),
        mean,
        queries: n,
        per_query,
        aggregates: measures.iter().map(Measure::aggregate).collect(),
    }
}

/// Ideal gains from a query's judged relevance values: the positive ones, descending.
pub(crate) fn ideal_from(judged: impl Iterator<Item = i32>) -> Vec<i32> {
    let mut v: Vec<i32> = judged.filter(|&r| r > 0).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}
