//! Deciding one query at a time, as an agent does after each search: a [`Decider`], built once
//! from a calibration artifact, takes one query's hit scores and returns what `apply` would
//! decide for that query's rows of a table — the same map, cutoffs and certificate, by the
//! one rule (`decide_hits`) that `apply` also runs — in microseconds.
//!
//! The rule, for a porter (docs/decide.md says it in full): the hits' probabilities are the
//! group's pair map's (the global map where the group has none); hits below the floor are
//! dropped; the top hit is the best-scoring hit left (ties: the earlier one); the gap is the
//! highest probability left minus the second highest (0 without a second); the decision is
//! the policy's, on the top hit's score by the group's cutoffs.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::calibrate::artifact::{Artifact, BandScores};
use crate::calibrate::maps::{Calibrator, FittedMaps};
use crate::calibrate::Method;
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::policy::{
    certified_score, cutoffs, default_rule, designated_target, ApplyOptions, Certificate, CertifiedBy, DecideOn, Decision, Policy,
};

/// One query's decision, as `apply`'s decisions table has it, the hit by its position.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// The group whose map and certificate decided (`all` without groups).
    pub group: String,
    /// The top hit: its position among the scores given (None: no hit left).
    pub top: Option<usize>,
    /// The top hit's probability: the map of top hits' where the calibration has one, else
    /// the pair map's.
    pub top_probability: Option<f64>,
    /// The highest probability left minus the second highest (the highest alone with one hit).
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

/// What one group's queries are decided by.
#[derive(Clone, Debug)]
struct GroupRule {
    /// The group's position in the artifact's groups when its pair map is its own (None: the
    /// global fit's).
    fit: Option<usize>,
    /// The scores where the decision changes.
    cuts: BandScores,
    /// The certificate `act` rests on (None: none, or deciding on the estimate).
    cert: Option<Certificate>,
}

/// A calibration made ready to decide queries one at a time (see the module's docs).
#[derive(Debug)]
pub struct Decider {
    art: Artifact,
    method: Method,
    decided_on: DecideOn,
    /// The designated precision target (the fit's first unless one was named).
    designated: Option<f64>,
    certified_by: CertifiedBy,
    policy: Policy,
    floor: Option<f64>,
    /// Each group of the fit by key (`all` without groups).
    rules: HashMap<String, GroupRule>,
    warnings: Vec<String>,
}

impl Decider {
    /// Reads the artifact at `path` and builds its decider.
    pub fn open(path: &Path, opts: &ApplyOptions) -> Result<Decider> {
        Decider::new(Artifact::read(path)?, path, opts)
    }

    /// The decider of `art` (read from `art_path`, which names it in messages) under `opts`, as
    /// `apply` would decide with them (`force` plays no part: there is no table to mismatch).
    pub fn new(art: Artifact, art_path: &Path, opts: &ApplyOptions) -> Result<Decider> {
        if let Some((name, v)) = opts.out_of_range() {
            return Err(Error::Invalid(format!("`{name}` {v} is outside [0, 1]")));
        }
        let method = opts.method.unwrap_or_else(|| art.global.default_method());
        if !art.global.has(method) {
            return Err(Error::format(art_path, format!("the calibration has no global {} map", method.name())));
        }
        let band = opts.abstain.unwrap_or(art.abstain);
        if !(0.0 <= band.low && band.low <= band.high && band.high <= 1.0) {
            return Err(Error::Invalid(format!("abstain band {}:{} must satisfy 0 ≤ low ≤ high ≤ 1", band.low, band.high)));
        }
        let mut warnings = Vec::new();
        let decided_on = crate::policy::decided_on(opts.decide_on, &art, art_path, &mut warnings);
        let target = designated_target(&art, opts.target)?;
        let by = opts.certified_by.unwrap_or(default_rule(&art).2);
        let keys: Vec<String> =
            if art.group_by.is_empty() { vec!["all".to_owned()] } else { art.groups.iter().map(|g| g.key.clone()).collect() };
        let rules: HashMap<String, GroupRule> = keys
            .iter()
            .map(|k| {
                let fit = art.groups.iter().position(|g| &g.key == k && g.fitted && g.has(method));
                let cert = match (decided_on, target) {
                    (DecideOn::Certified, Some(t)) => certified_score(&art, k, t, by),
                    _ => None,
                };
                (k.clone(), GroupRule { fit, cuts: cutoffs(&art, k, method, decided_on, target, by, band), cert })
            })
            .collect();
        if decided_on == DecideOn::Certified {
            let certified: Vec<Option<Certificate>> = keys.iter().map(|k| rules.get(k).and_then(|r| r.cert.clone())).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            warnings.extend(crate::policy::certificate_warnings(&art, art_path, target, by, &keys, &certified));
        }
        let policy = Policy { band, min_gap: opts.min_gap };
        Ok(Decider { art, method, decided_on, designated: target, certified_by: by, policy, floor: opts.floor, rules, warnings })
    }

    /// What a user must know about the decisions this decider makes (no certificate for the
    /// target, deciding on the estimate), in `apply`'s words.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The map applied.
    pub fn method(&self) -> Method {
        self.method
    }

    /// What `act` rests on.
    pub fn decided_on(&self) -> DecideOn {
        self.decided_on
    }

    /// The precision target whose certificates `act` rests on (None: decided on the estimate).
    pub fn target(&self) -> Option<f64> {
        self.designated.filter(|_| self.decided_on == DecideOn::Certified)
    }

    /// Whose certificates the queries act on.
    pub fn certified_by(&self) -> CertifiedBy {
        self.certified_by
    }

    /// The group columns of the fit (empty: one global fit).
    pub fn group_by(&self) -> &[String] {
        &self.art.group_by
    }

    /// The key of the group whose group columns have `values` (every group column named once;
    /// None for a null), as `fit` and `apply` write it (`class=nav,lang=en`, `class=null`).
    pub fn group_key(&self, values: &BTreeMap<String, Option<String>>) -> Result<String> {
        if let Some(extra) = values.keys().find(|k| !self.art.group_by.contains(k)) {
            return Err(Error::Invalid(format!(
                "group: {extra:?} is not a group column of the calibration (its group columns: {})",
                self.group_columns()
            )));
        }
        let parts: Result<Vec<String>> = self
            .art
            .group_by
            .iter()
            .map(|c| match values.get(c) {
                Some(v) => Ok(format!("{c}={}", crate::table::key_value(v.as_deref()))),
                None => {
                    Err(Error::Invalid(format!("group: no value for the group column {c:?} (its group columns: {})", self.group_columns())))
                }
            })
            .collect();
        Ok(parts?.join(","))
    }

    /// Whether the fit has a group of this key (a query of another is decided by the global
    /// map, with no certificate of its own).
    pub fn knows_group(&self, key: &str) -> bool {
        self.rules.contains_key(key)
    }

    fn group_columns(&self) -> String {
        if self.art.group_by.is_empty() {
            "none".to_owned()
        } else {
            self.art.group_by.join(", ")
        }
    }

    /// The rule of the group keyed `group` (None: the calibration has no groups); a key the fit
    /// did not see is decided as `apply` decides its rows: the global map, and no certificate
    /// of its own.
    fn rule(&self, group: Option<&str>) -> Result<(String, std::borrow::Cow<'_, GroupRule>)> {
        let key = match (group, self.art.group_by.is_empty()) {
            (None, true) => "all",
            (Some(k), false) => k,
            (None, false) => {
                return Err(Error::Invalid(format!(
                    "group: the calibration was fitted per group of {}: name the query's group",
                    self.group_columns()
                )))
            }
            (Some(k), true) => return Err(Error::Invalid(format!("group {k:?}: the calibration was fitted without groups (pass none)"))),
        };
        if let Some(r) = self.rules.get(key) {
            return Ok((key.to_owned(), std::borrow::Cow::Borrowed(r)));
        }
        let (band, target, by) = (self.policy.band, self.designated, self.certified_by);
        let cert = target.filter(|_| self.decided_on == DecideOn::Certified).and_then(|t| certified_score(&self.art, key, t, by));
        let cuts = cutoffs(&self.art, key, self.method, self.decided_on, target, by, band);
        Ok((key.to_owned(), std::borrow::Cow::Owned(GroupRule { fit: None, cuts, cert })))
    }

    /// The pair map of a rule.
    fn map(&self, r: &GroupRule) -> Option<&dyn Calibrator> {
        r.fit.and_then(|i| self.art.groups.get(i)).unwrap_or(&self.art.global).map(self.method)
    }

    /// P(relevant) of each hit under its group's pair map: `apply`'s `probability` column.
    pub fn probabilities(&self, scores: &[f32], group: Option<&str>) -> Result<Vec<f64>> {
        finite(scores)?;
        let (_, r) = self.rule(group)?;
        let map = self.map(&r).ok_or_else(|| Error::Invalid(format!("the calibration has no {} map", self.method.name())))?;
        Ok(scores.iter().map(|&s| map.predict(f64::from(s))).collect())
    }

    /// The decision for one query whose hits score `scores` (any order; a score table's f32
    /// scores), of group `group` (a key, None without groups).
    pub fn decide(&self, scores: &[f32], group: Option<&str>) -> Result<Verdict> {
        finite(scores)?;
        let (key, r) = self.rule(group)?;
        let map = self.map(&r).ok_or_else(|| Error::Invalid(format!("the calibration has no {} map", self.method.name())))?;
        let prob: Vec<f64> = scores.iter().map(|&s| map.predict(f64::from(s))).collect();
        let keep: Vec<bool> = prob.iter().map(|&p| self.floor.is_none_or(|f| p >= f)).collect();
        let hits = decide_hits(&self.policy, &r.cuts, self.top_map(), self.decided_on == DecideOn::Certified, scores, &prob, &keep);
        Ok(Verdict {
            group: key,
            top: hits.top,
            top_probability: hits.top_probability,
            gap: hits.gap,
            decision: hits.decision,
            target: self.target(),
            threshold: r.cert.as_ref().map(|c| c.score),
            certificate: r.cert.as_ref().map(|c| c.fit.clone()),
        })
    }

    /// The map of top hits, where the calibration has one for the method applied.
    fn top_map(&self) -> Option<&dyn Calibrator> {
        self.art.global.decision.as_ref().and_then(|d| d.map(self.method))
    }
}

/// Refuses a score that is not finite, naming its position (a table's scores are checked when
/// it is read; hits given one query at a time are checked here).
fn finite(scores: &[f32]) -> Result<()> {
    match scores.iter().position(|s| !s.is_finite()) {
        Some(i) => Err(Error::Invalid(format!("scores[{i}] is {}: scores must be finite", scores.get(i).copied().unwrap_or(f32::NAN)))),
        None => Ok(()),
    }
}

/// What [`decide_hits`] finds among one query's hits.
pub(crate) struct Hits {
    /// The top hit's position.
    pub top: Option<usize>,
    /// Its probability.
    pub top_probability: Option<f64>,
    /// Top-1 minus top-2 probability.
    pub gap: Option<f64>,
    /// The decision.
    pub decision: Decision,
}

/// The one rule by which a query is decided from its hits' `scores`, their pair-map
/// probabilities `prob` and which of them the floor `keep`s: the top hit is the best-scoring
/// hit kept (ties: the earlier), its probability the map of top hits' (`top_map`) where there
/// is one, else its pair probability; the gap compares the two most probable hits kept (ties:
/// the earlier); the decision is `policy`'s at the top hit's score by the group's `cuts`.
#[expect(clippy::indexing_slicing, reason = "positions range over the hits given, and the three slices have one length")]
pub(crate) fn decide_hits(
    policy: &Policy,
    cuts: &BandScores,
    top_map: Option<&dyn Calibrator>,
    on_certificate: bool,
    scores: &[f32],
    prob: &[f64],
    keep: &[bool],
) -> Hits {
    let n = scores.len().min(prob.len()).min(keep.len());
    let (mut first, mut second): (Option<usize>, Option<usize>) = (None, None);
    let mut best: Option<usize> = None;
    for i in (0..n).filter(|&i| keep[i]) {
        if first.is_none_or(|f| prob[i] > prob[f]) {
            second = first;
            first = Some(i);
        } else if second.is_none_or(|s| prob[i] > prob[s]) {
            second = Some(i);
        }
        if best.is_none_or(|b| scores[i] > scores[b]) {
            best = Some(i);
        }
    }
    let gap = first.map(|f| prob[f] - second.map_or(0.0, |s| prob[s]));
    let top_probability = best.map(|i| top_map.map_or(prob[i], |m| m.predict(f64::from(scores[i]))));
    let decision = policy.decide_at(cuts, best.map(|i| f64::from(scores[i])), gap, on_certificate);
    Hits { top: best, top_probability, gap, decision }
}
