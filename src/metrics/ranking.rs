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

/// A ranking measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    /// nDCG over the top k.
    NdcgCut(usize),
    /// Relevant documents in the top k over all relevant documents.
    Recall(usize),
    /// Relevant documents in the top k over k.
    P(usize),
    /// 1 when a relevant document is in the top k.
    Success(usize),
    /// 1 / the rank of the first relevant document.
    RecipRank,
    /// Mean average precision (non-interpolated).
    Map,
}

/// The measures `simcal eval` reports by default.
pub const DEFAULT_MEASURES: &str = "ndcg_cut_10,recall_10,recall_100,P_10,success_1,recip_rank,map";

/// pytrec_eval's cutoffs for a measure family named without one (`P`, `recall`, `ndcg_cut`,
/// `success`).
pub const PYTREC_EVAL_CUTOFFS: [(&str, &[usize]); 4] = [
    ("P", &[5, 10, 15, 20, 30, 100, 200, 500, 1000]),
    ("recall", &[5, 10, 15, 20, 30, 100, 200, 500, 1000]),
    ("ndcg_cut", &[5, 10, 15, 20, 30, 100, 200, 500, 1000]),
    ("success", &[1, 5, 10]),
];

/// trec_eval names from pytrec_eval's: `ndcg_cut.10`, `ndcg_cut.5,10`, `ndcg_cut` (its
/// default cutoffs, [`PYTREC_EVAL_CUTOFFS`]), `P_5`, `recip_rank`, `map`; each name once, in the
/// order first asked. The names are not checked here ([`Measure::parse`] checks them).
pub fn from_pytrec_eval<S: AsRef<str>>(measures: &[S]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for m in measures {
        let m = m.as_ref();
        let names: Vec<String> = match m.split_once('.') {
            Some((name, cuts)) => cuts.split(',').map(str::trim).filter(|c| !c.is_empty()).map(|c| format!("{name}_{c}")).collect(),
            None => match PYTREC_EVAL_CUTOFFS.iter().find(|(family, _)| *family == m) {
                Some((family, cuts)) => cuts.iter().map(|c| format!("{family}_{c}")).collect(),
                None => vec![m.to_owned()],
            },
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Invalid("`measures`: none asked for".into()));
    }
    Ok(out)
}

impl Measure {
    /// Parses a trec_eval name: `ndcg_cut_10` (or `ndcg_cut.10`), `recall_k`, `P_k`,
    /// `success_k`, `recip_rank`, `map`.
    pub fn parse(s: &str) -> Result<Measure> {
        let s = s.trim();
        match s {
            "recip_rank" => return Ok(Measure::RecipRank),
            "map" => return Ok(Measure::Map),
            _ => {}
        }
        let bad = || {
            Error::Invalid(format!(
                "unknown measure {s:?} (expected ndcg_cut_K, recall_K, P_K, success_K, recip_rank or map, with K a positive integer)"
            ))
        };
        let (name, k) = s.rsplit_once(['_', '.']).ok_or_else(bad)?;
        let k: usize = k.parse().ok().filter(|&k| k > 0).ok_or_else(bad)?;
        match name {
            "ndcg_cut" => Ok(Measure::NdcgCut(k)),
            "recall" => Ok(Measure::Recall(k)),
            "P" => Ok(Measure::P(k)),
            "success" => Ok(Measure::Success(k)),
            _ => Err(bad()),
        }
    }

    /// Parses a comma- or space-separated list.
    pub fn parse_list(items: &[String]) -> Result<Vec<Measure>> {
        let mut out = Vec::new();
        for item in items {
            for s in item.split([',', ' ']).filter(|s| !s.is_empty()) {
                let m = Measure::parse(s)?;
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// The trec_eval name.
    pub fn name(&self) -> String {
        match self {
            Measure::NdcgCut(k) => format!("ndcg_cut_{k}"),
            Measure::Recall(k) => format!("recall_{k}"),
            Measure::P(k) => format!("P_{k}"),
            Measure::Success(k) => format!("success_{k}"),
            Measure::RecipRank => "recip_rank".into(),
            Measure::Map => "map".into(),
        }
    }
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
}

impl QueryRun {
    /// A query's run from the relevance of its retrieved documents in trec_eval's order (`rels`)
    /// and that of every judged document (`judged`), relevant at `rel_level` and above.
    pub(crate) fn new(rels: Vec<Option<i32>>, judged: impl Iterator<Item = i32> + Clone, rel_level: i32) -> QueryRun {
        let num_rel = judged.clone().filter(|&v| v >= rel_level).count() as u64;
        QueryRun { rels, num_rel, ideal: ideal_from(judged) }
    }

    /// A query's run from its retrieved documents in any order, each (id, score, relevance when
    /// judged), ranked as trec_eval ranks them: score descending, ties by document id descending
    /// (as bytes).
    pub fn from_hits(mut hits: Vec<(String, f64, Option<i32>)>, judged: impl Iterator<Item = i32> + Clone, rel_level: i32) -> QueryRun {
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.as_bytes().cmp(a.0.as_bytes())));
        QueryRun::new(hits.into_iter().map(|h| h.2).collect(), judged, rel_level)
    }
}

/// Every measure of one query.
pub(crate) fn measure_query(q: &QueryRun, measures: &[Measure], rel_level: i32) -> Vec<f64> {
    let is_rel = |r: &Option<i32>| r.is_some_and(|r| r >= rel_level);
    let rel_in_top = |k: usize| q.rels.iter().take(k).filter(|r| is_rel(r)).count() as f64;
    measures
        .iter()
        .map(|m| match *m {
            Measure::P(k) => rel_in_top(k) / k as f64,
            Measure::Recall(k) => {
                if q.num_rel == 0 {
                    0.0
                } else {
                    rel_in_top(k) / q.num_rel as f64
                }
            }
            Measure::Success(k) => (rel_in_top(k) > 0.0) as u8 as f64,
            Measure::RecipRank => q.rels.iter().position(is_rel).map_or(0.0, |i| 1.0 / (i + 1) as f64),
            Measure::Map => {
                if q.num_rel == 0 {
                    return 0.0;
                }
                let (mut found, mut sum) = (0u64, 0.0);
                for (i, r) in q.rels.iter().enumerate() {
                    if is_rel(r) {
                        found += 1;
                        sum += found as f64 / (i + 1) as f64;
                    }
                }
                sum / q.num_rel as f64
            }
            Measure::NdcgCut(k) => {
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
        })
        .collect()
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
}

impl RankingResult {
    /// The mean of each measure by name.
    pub fn means(&self) -> serde_json::Map<String, serde_json::Value> {
        self.measures.iter().cloned().zip(self.mean.iter().map(|&v| serde_json::json!(v))).collect()
    }
}

/// Measures `runs` (query id, run; judged queries only) and averages. With `complete`, the
/// judged queries in `missing` count as zero in the mean (trec_eval `-c`).
#[expect(clippy::indexing_slicing, reason = "measure positions run over the measures each query's values were computed for")]
pub fn evaluate(runs: &[&(String, QueryRun)], missing: &[String], measures: &[Measure], rel_level: i32, complete: bool) -> RankingResult {
    let mut per_query: Vec<(String, Vec<f64>)> =
        runs.par_iter().with_min_len(64).map(|(id, q)| (id.clone(), measure_query(q, measures, rel_level))).collect();
    if complete {
        per_query.extend(missing.iter().map(|id| (id.clone(), vec![0.0; measures.len()])));
    }
    let n = per_query.len();
    let mean =
        (0..measures.len()).map(|j| if n == 0 { 0.0 } else { per_query.iter().map(|(_, v)| v[j]).sum::<f64>() / n as f64 }).collect();
    RankingResult { measures: measures.iter().map(Measure::name).collect(), mean, queries: n, per_query }
}

/// Ideal gains from a query's judged relevance values: the positive ones, descending.
pub(crate) fn ideal_from(judged: impl Iterator<Item = i32>) -> Vec<i32> {
    let mut v: Vec<i32> = judged.filter(|&r| r > 0).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}
