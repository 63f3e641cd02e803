//! The ranking measures by trec_eval's names and parameter syntax: `P_5`, `P.5,10,3` (the
//! family `P` at cutoffs 3, 5 and 10), `iprec_at_recall..10,.50`, `utility.2,-1,0,0`; a family
//! named alone takes trec_eval's default parameters (`P` is `P_5` … `P_1000`), and `official`,
//! `set` and `all_trec` are trec_eval's lists of families.

use crate::error::{Error, Result};

/// A family of measures, as trec_eval names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Queries measured (summed).
    NumQ,
    /// Retrieved documents (summed).
    NumRet,
    /// Relevant documents (summed).
    NumRel,
    /// Relevant documents retrieved (summed).
    NumRelRet,
    /// Retrieved documents judged not relevant (summed).
    NumNonrelJudgedRet,
    /// Mean average precision.
    Map,
    /// Geometric mean of average precision (each floored at 0.00001).
    GmMap,
    /// Precision at R (the query's relevant documents).
    Rprec,
    /// Binary preference.
    Bpref,
    /// Geometric mean of bpref.
    GmBpref,
    /// 1 / rank of the first relevant document.
    RecipRank,
    /// Interpolated precision at recall levels.
    IprecAtRecall,
    /// Precision at cutoffs.
    P,
    /// Recall at cutoffs.
    Recall,
    /// Precision at cutoffs over the best precision possible there.
    RelativeP,
    /// Average precision of the top k.
    MapCut,
    /// nDCG of the top k.
    NdcgCut,
    /// A relevant document in the top k.
    Success,
    /// Share of unjudged documents in the top k.
    Unj,
    /// Precision at multiples of R.
    RprecMult,
    /// Set utility: a·rel_ret + b·nonrel_ret + c·rel_nonret + d·nonrel_nonret.
    Utility,
    /// Interpolated precision averaged over recall levels.
    ElevenPtAvg,
    /// Binary G.
    BinG,
    /// Inferred average precision (judgements sampled from the pool; relevance −1 in the qrels
    /// marks a pooled document left unjudged).
    InfAp,
    /// nDCG over the whole ranking, with an optional gain map.
    Ndcg,
    /// nDCG averaged over the relevant documents.
    NdcgRel,
    /// nDCG averaged at the ranks where the ideal gain changes.
    Rndcg,
    /// trec_eval's normalised gain G.
    G,
    /// Rank-biased precision (persistence `p`, default 0.9).
    Rbp,
    /// rbp's residual from unjudged documents.
    RbpResid,
    /// Precision of the retrieved set.
    SetP,
    /// Precision of the retrieved set over the best possible.
    SetRelativeP,
    /// Recall of the retrieved set.
    SetRecall,
    /// set_P × set_recall.
    SetMap,
    /// F-measure of the retrieved set.
    SetF,
}

/// How a family's parameters are given and named.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// No parameter.
    Plain,
    /// Document cutoffs (named `family_K`), each its own measure.
    Cutoffs(&'static [f64]),
    /// Fractions (named `family_0.20`), each its own measure.
    Levels(&'static [f64]),
    /// One measure over a list of numbers, named `family_PARAMS` unless they are the defaults.
    Numbers(&'static [f64]),
    /// One measure over `name=value` pairs (gain maps, rbp's `p`), named `family_PARAMS` when given.
    Pairs,
}

/// How a family's value over queries is formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// The mean.
    Mean,
    /// The sum.
    Sum,
    /// exp of the mean of ln(max(value, 0.00001)).
    Geometric,
}

/// trec_eval's floor of a query's value in a geometric mean: a query at 0 counts as this.
pub const GEOMETRIC_FLOOR: f64 = 1e-5;

impl Aggregate {
    /// The value over queries of the per-query `values` (0 without queries), as trec_eval forms it.
    pub fn of(self, values: impl ExactSizeIterator<Item = f64>) -> f64 {
        let n = values.len();
        match (n, self) {
            (0, _) => 0.0,
            (_, Aggregate::Sum) => values.sum::<f64>(),
            (_, Aggregate::Mean) => values.sum::<f64>() / n as f64,
            (_, Aggregate::Geometric) => (values.map(|v| v.max(GEOMETRIC_FLOOR).ln()).sum::<f64>() / n as f64).exp(),
        }
    }
}

const CUTS: &[f64] = &[5.0, 10.0, 15.0, 20.0, 30.0, 100.0, 200.0, 500.0, 1000.0];
const RECALLS: &[f64] = &[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Every family: its trec_eval name and parameters.
const FAMILIES: &[(Family, &str, Kind)] = &[
    (Family::NumQ, "num_q", Kind::Plain),
    (Family::NumRet, "num_ret", Kind::Plain),
    (Family::NumRel, "num_rel", Kind::Plain),
    (Family::NumRelRet, "num_rel_ret", Kind::Plain),
    (Family::NumNonrelJudgedRet, "num_nonrel_judged_ret", Kind::Plain),
    (Family::Map, "map", Kind::Plain),
    (Family::GmMap, "gm_map", Kind::Plain),
    (Family::Rprec, "Rprec", Kind::Plain),
    (Family::Bpref, "bpref", Kind::Plain),
    (Family::GmBpref, "gm_bpref", Kind::Plain),
    (Family::RecipRank, "recip_rank", Kind::Plain),
    (Family::IprecAtRecall, "iprec_at_recall", Kind::Levels(RECALLS)),
    (Family::P, "P", Kind::Cutoffs(CUTS)),
    (Family::Recall, "recall", Kind::Cutoffs(CUTS)),
    (Family::RelativeP, "relative_P", Kind::Cutoffs(CUTS)),
    (Family::MapCut, "map_cut", Kind::Cutoffs(CUTS)),
    (Family::NdcgCut, "ndcg_cut", Kind::Cutoffs(CUTS)),
    (Family::Success, "success", Kind::Cutoffs(&[1.0, 5.0, 10.0])),
    (Family::Unj, "unj", Kind::Cutoffs(&[5.0, 10.0, 20.0])),
    (Family::RprecMult, "Rprec_mult", Kind::Levels(&[0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0])),
    (Family::Utility, "utility", Kind::Numbers(&[1.0, -1.0, 0.0, 0.0])),
    (Family::ElevenPtAvg, "11pt_avg", Kind::Numbers(RECALLS)),
    (Family::BinG, "binG", Kind::Plain),
    (Family::InfAp, "infAP", Kind::Plain),
    (Family::Ndcg, "ndcg", Kind::Pairs),
    (Family::NdcgRel, "ndcg_rel", Kind::Pairs),
    (Family::Rndcg, "Rndcg", Kind::Pairs),
    (Family::G, "G", Kind::Pairs),
    (Family::Rbp, "rbp", Kind::Pairs),
    (Family::RbpResid, "rbp_resid", Kind::Pairs),
    (Family::SetP, "set_P", Kind::Plain),
    (Family::SetRelativeP, "set_relative_P", Kind::Plain),
    (Family::SetRecall, "set_recall", Kind::Plain),
    (Family::SetMap, "set_map", Kind::Plain),
    (Family::SetF, "set_F", Kind::Numbers(&[1.0])),
];

/// trec_eval's lists of families (its nicknames), each as trec_eval defines it; families
/// simcal does not compute are left out.
const NICKNAMES: &[(&str, &[&str])] = &[
    ("official", &["num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref", "recip_rank", "iprec_at_recall", "P"]),
    ("set", &["num_q", "num_ret", "num_rel", "num_rel_ret", "utility", "set_P", "set_recall", "set_relative_P", "set_map", "set_F"]),
    (
        "all_trec",
        &[
            "num_q",
            "num_ret",
            "num_rel",
            "num_rel_ret",
            "map",
            "gm_map",
            "Rprec",
            "bpref",
            "recip_rank",
            "iprec_at_recall",
            "P",
            "recall",
            "unj",
            "rbp",
            "rbp_resid",
            "infAP",
            "gm_bpref",
            "utility",
            "11pt_avg",
            "ndcg",
            "relative_P",
            "Rprec_mult",
            "success",
            "map_cut",
            "ndcg_cut",
            "ndcg_rel",
            "Rndcg",
            "binG",
            "G",
            "set_P",
            "set_recall",
            "set_relative_P",
            "set_map",
            "set_F",
            "num_nonrel_judged_ret",
        ],
    ),
];

/// One ranking measure: a family and its parameter.
#[derive(Clone, Debug)]
pub struct Measure {
    family: Family,
    /// The cutoff or level (cutoff and level families), or the numbers (number families).
    params: Vec<f64>,
    /// The `name=value` pairs (pair families).
    pairs: Vec<(String, f64)>,
    name: String,
}

impl PartialEq for Measure {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Measure {
    /// Parses one trec_eval name, with or without parameters: `ndcg_cut_10`, `ndcg_cut.10`,
    /// `map`, `iprec_at_recall_0.20`, `utility_2,-1,0,0`. A name that stands for several
    /// measures (`P.5,10`, `P`, `all_trec`) is refused: [`Measure::parse_list`] takes those.
    pub fn parse(s: &str) -> Result<Measure> {
        let mut v = Self::expand(s.trim())?;
        match (v.pop(), v.is_empty()) {
            (Some(m), true) => Ok(m),
            _ => Err(Error::Invalid(format!("{s:?} names several measures: give them as a list"))),
        }
    }

    /// Parses lists of measures, each list's items separated by commas or spaces. An item that
    /// does not start with a family's name continues the previous item's parameters, so that
    /// trec_eval's `P.5,10,3` and `utility.2,-1,0,0` read as they do in trec_eval. Each measure
    /// once, in the order first asked.
    pub fn parse_list(items: &[String]) -> Result<Vec<Measure>> {
        let mut specs: Vec<String> = Vec::new();
        for item in items {
            for s in item.split([',', ' ']).filter(|s| !s.is_empty()) {
                match specs.last_mut() {
                    Some(last) if !starts_a_measure(s) => {
                        last.push(',');
                        last.push_str(s);
                    }
                    _ => specs.push(s.to_owned()),
                }
            }
        }
        let mut out: Vec<Measure> = Vec::new();
        for s in &specs {
            for m in Self::expand(s)? {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// The measures one item names: a nickname's families, a family's defaults, or a family's
    /// measures at the parameters given.
    // Long: one arm per kind of parameter (none, cutoffs, levels, pairs, numbers), each with
    // trec_eval's defaults, checks and naming.
    fn expand(s: &str) -> Result<Vec<Measure>> {
        if let Some((_, families)) = NICKNAMES.iter().find(|(n, _)| *n == s) {
            return families.iter().map(|f| Self::expand(f)).collect::<Result<Vec<_>>>().map(|v| v.concat());
        }
        let bad = |why: &str| Error::Invalid(format!("unknown measure {s:?}: {why} (trec_eval's names: {})", family_names()));
        let (family, name, kind, rest) = FAMILIES
            .iter()
            .filter_map(|&(f, name, kind)| match s.strip_prefix(name) {
                Some("") => Some((f, name, kind, None)),
                Some(r) if r.starts_with(['.', '_']) => Some((f, name, kind, r.get(1..))),
                _ => None,
            })
            .max_by_key(|t| t.1.len())
            .ok_or_else(|| bad("no such family"))?;
        let numbers = |text: &str| -> Result<Vec<f64>> {
            text.split(',')
                .map(|p| {
                    p.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad(&format!("parameter {p:?} is not a number")))
                })
                .collect()
        };
        let make = |params: Vec<f64>, name: String| Measure { family, params, pairs: Vec::new(), name };
        Ok(match kind {
            Kind::Plain => match rest {
                None => vec![make(vec![], name.to_owned())],
                Some(_) => return Err(bad(&format!("{name} takes no parameter"))),
            },
            Kind::Cutoffs(default) => {
                let mut cuts: Vec<u64> = match rest {
                    None => default.iter().map(|&c| c as u64).collect(),
                    Some(text) => numbers(text)?.into_iter().map(|c| c as u64).collect(),
                };
                if cuts.contains(&0) {
                    return Err(bad("cutoffs are positive integers"));
                }
                cuts.sort_unstable();
                cuts.dedup();
                cuts.into_iter().map(|c| make(vec![c as f64], format!("{name}_{c}"))).collect()
            }
            Kind::Levels(default) => {
                let mut levels = match rest {
                    None => default.to_vec(),
                    Some(text) => numbers(text)?,
                };
                if levels.iter().any(|&l| l < 0.0) {
                    return Err(bad("levels are not negative"));
                }
                levels.sort_by(f64::total_cmp);
                levels.dedup();
                levels.into_iter().map(|l| make(vec![l], format!("{name}_{l:.2}"))).collect()
            }
            Kind::Pairs => match rest {
                None => vec![make(vec![], name.to_owned())],
                Some(text) => {
                    let pairs = text
                        .split(',')
                        .map(|p| {
                            let (n, v) = p.split_once('=').ok_or_else(|| bad(&format!("parameter {p:?} is not name=value")))?;
                            let v = v
                                .trim()
                                .parse::<f64>()
                                .ok()
                                .filter(|v| v.is_finite())
                                .ok_or_else(|| bad(&format!("{v:?} is not a number")))?;
                            Ok((n.trim().to_owned(), v))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    vec![Measure { family, params: vec![], pairs, name: format!("{name}_{text}") }]
                }
            },
            Kind::Numbers(default) => match rest {
                None => vec![make(default.to_vec(), name.to_owned())],
                Some(text) => {
                    let v = numbers(text)?;
                    if family == Family::Utility && v.len() != 4 {
                        return Err(bad("utility takes 4 numbers: a, b, c, d"));
                    }
                    if v.is_empty() {
                        return Err(bad("no parameter"));
                    }
                    vec![make(v, format!("{name}_{text}"))]
                }
            },
        })
    }

    /// The trec_eval name.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The cutoff, level or numbers.
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// The `name=value` pairs of a pair family (`ndcg.1=3,2=9`).
    pub fn pairs(&self) -> &[(String, f64)] {
        &self.pairs
    }

    /// The cutoff of a cutoff family (`P_10`: 10).
    pub(crate) fn cutoff(&self) -> usize {
        self.params.first().map_or(0, |&c| c as usize)
    }

    /// How the family's value over queries is formed.
    pub fn aggregate(&self) -> Aggregate {
        match self.family {
            Family::NumQ | Family::NumRet | Family::NumRel | Family::NumRelRet | Family::NumNonrelJudgedRet => Aggregate::Sum,
            Family::GmMap | Family::GmBpref => Aggregate::Geometric,
            _ => Aggregate::Mean,
        }
    }
}

/// Whether a list item starts a measure (a nickname or a family's name) rather than continuing
/// the previous item's parameters.
fn starts_a_measure(s: &str) -> bool {
    NICKNAMES.iter().any(|(n, _)| *n == s)
        || FAMILIES.iter().any(|&(_, name, _)| s.strip_prefix(name).is_some_and(|r| r.is_empty() || r.starts_with(['.', '_'])))
}

/// The families' names, for messages.
fn family_names() -> String {
    FAMILIES.iter().map(|f| f.1).collect::<Vec<_>>().join(", ")
}
