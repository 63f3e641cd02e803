//! The unit decisions are about — each judged query's top hit — and what a fit measures on it:
//! the maps of top hits (the probability the top hit is relevant) and of "found" (the
//! probability a relevant document is anywhere in the top k, which `not_found` rests on), each
//! precision target's threshold on the top hits (in sample and held out), and how good each
//! decision was (in sample and held out).

use std::collections::BTreeMap;

use super::artifact::{BandScores, DecisionFit, DecisionQuality, FoundFit};
use super::certify::{self, CertifyOptions, QueryUnit, Unit};
use super::distinct::Distinct;
use super::isotonic::Isotonic;
use super::{folds, platt, summary, sweep, FitOptions, Method};
use crate::calibrate::artifact::TargetKind;
use crate::calibrate::maps::Calibrator;
use crate::choice::Choice;
use crate::policy::{below_act, Decision, Policy};

/// Whether a query has a relevant document anywhere in its top k.
fn found(u: &QueryUnit) -> bool {
    !u.recall.scores.is_empty()
}

/// The table of top scores with a label per query.
fn table(units: &[&QueryUnit], label: impl Fn(&QueryUnit) -> bool) -> Distinct {
    let s: Vec<f32> = units.iter().map(|u| u.top_score as f32).collect();
    let r: Vec<bool> = units.iter().map(|u| label(u)).collect();
    Distinct::from_pairs(&s, &r)
}

/// The decision maps of judged queries `units`: the pair maps' methods fitted on their top hits
/// and on "found"; each precision target's threshold on the top hits; and with folds,
/// everything out of fold. `delta` is the level of the fit's certificates (held-out decisions
/// recertify at it).
#[expect(clippy::indexing_slicing, reason = "folds are numbered by the fit's own assignment")]
pub fn fit(units: &[QueryUnit], opts: &FitOptions, delta: Option<f64>) -> DecisionFit {
    let all: Vec<&QueryUnit> = units.iter().collect();
    let d = table(&all, |u| u.top_relevant);
    let mut f = DecisionFit {
        unit: "top-hit".to_owned(),
        queries: units.len() as u64,
        relevant: d.n_pos(),
        reason: None,
        platt: None,
        platt_error: None,
        isotonic: None,
        metrics: BTreeMap::new(),
        held_out_metrics: BTreeMap::new(),
        thresholds: Vec::new(),
        found: None,
        quality: Vec::new(),
        held_out_quality: Vec::new(),
    };
    if d.n_pos() == 0 || d.n_neg() == 0 {
        f.reason = Some(format!("one class only: every top hit is {}", if d.n_pos() == 0 { "irrelevant" } else { "relevant" }));
        return f;
    }
    for &m in &opts.methods {
        match m {
            Method::Isotonic => {
                let (iso, values) = Isotonic::fit_values(&d);
                f.metrics.insert(m.name().into(), summary::metrics(&d, |i| values[i]));
                f.isotonic = Some(iso);
            }
            Method::Platt => match platt::fit(&d, "top hits") {
                Ok(p) => {
                    f.metrics.insert(m.name().into(), summary::metrics(&d, |i| p.predict(d.x[i])));
                    f.platt = Some(p);
                }
                Err(e) => f.platt_error = Some(e.to_string()),
            },
        }
    }
    let np = d.n_pos();
    let picks = sweep::picks(sweep::points(&d), np, &opts.target_precision, &[]);
    f.thresholds = opts
        .target_precision
        .iter()
        .zip(&picks.precision)
        .map(|(&value, &point)| super::estimate(TargetKind::Precision, value, point, np, &picks, None))
        .collect();
    f.found = fit_found(&all, &opts.methods);
    if opts.folds > 1 {
        let parts = folds::top_hit_folds(units, opts.folds);
        let h = folds::held_out(&d, &parts, None, &opts.methods, &opts.target_precision, &[]);
        for (m, metrics) in h.metrics {
            f.held_out_metrics.insert(m.name().into(), metrics);
        }
        for (t, ho) in f.thresholds.iter_mut().zip(h.targets) {
            t.held_out = Some(ho);
        }
        f.held_out_quality = held_out_quality(units, opts, delta);
    }
    f
}

/// The map of "found" on `units`' top scores (None without units). With one class only the
/// isotonic map is constant and there is no Platt map.
fn fit_found(units: &[&QueryUnit], methods: &[Method]) -> Option<FoundFit> {
    let d = table(units, found);
    if d.is_empty() {
        return None;
    }
    Some(FoundFit {
        queries: units.len() as u64,
        found: d.n_pos(),
        isotonic: methods.contains(&Method::Isotonic).then(|| Isotonic::fit(&d)),
        platt: methods.contains(&Method::Platt).then(|| platt::fit(&d, "found").ok()).flatten(),
    })
}

/// The map `apply` picks by default among `methods`: isotonic when fitted, else Platt.
fn default_method(methods: &[Method]) -> Method {
    if methods.contains(&Method::Isotonic) {
        Method::Isotonic
    } else {
        Method::Platt
    }
}

/// How good each decision was for queries decided by their top score against their cutoffs
/// (`certified`: act rests on a certificate).
#[expect(clippy::indexing_slicing, reason = "folds are numbered by the fit's own assignment")]
pub fn quality<'a>(
    decided: impl Iterator<Item = (&'a QueryUnit, &'a BandScores)>,
    certified: bool,
    policy: &Policy,
) -> Vec<DecisionQuality> {
    let mut tally: [(u64, u64, u64); 3] = [(0, 0, 0); 3];
    for (u, cuts) in decided {
        let i = match policy.decide_at(cuts, Some(u.top_score), None, certified) {
            Decision::Act => 0,
            Decision::Escalate | Decision::Ambiguous => 1,
            Decision::NotFound => 2,
        };
        tally[i].0 += 1;
        tally[i].1 += u64::from(u.top_relevant);
        tally[i].2 += u64::from(found(u));
    }
    [Decision::Act, Decision::Escalate, Decision::NotFound]
        .iter()
        .zip(tally)
        .map(|(d, (n, tp, fd))| {
            let share = |x: u64| (n > 0).then(|| x as f64 / n as f64);
            DecisionQuality {
                decision: *d,
                queries: n,
                top_hit_relevant: tp,
                precision: share(tp),
                found: Some(fd),
                found_share: share(fd),
            }
        })
        .collect()
}

/// Decisions out of fold: each fold's queries decided by the cutoffs of maps (and, when the fit
/// certifies at the query unit, the global certificate of the first precision target) refitted
/// on the other folds, as [`crate::policy::cutoffs`] makes them in sample.
#[expect(clippy::indexing_slicing, reason = "folds are numbered by the fit's own assignment")]
fn held_out_quality(units: &[QueryUnit], opts: &FitOptions, delta: Option<f64>) -> Vec<DecisionQuality> {
    let method = default_method(&opts.methods);
    let band = opts.abstain;
    let target = opts.target_precision.first().copied();
    let certifying = opts.certify.as_ref();
    let cuts: Vec<BandScores> = (0..opts.folds as u8)
        .map(|f| {
            let train: Vec<&QueryUnit> = units.iter().filter(|u| u.fold != f).collect();
            let top = table(&train, |u| u.top_relevant);
            // A map's crossing of q (None: no map could be fitted, one class for Platt).
            let map = |d: &Distinct, q: f64| -> Option<Option<f64>> {
                if d.is_empty() {
                    return None;
                }
                match method {
                    Method::Isotonic => Some(Isotonic::fit(d).reaches(q)),
                    Method::Platt => platt::fit(d, "fold").ok().map(|p| p.reaches(q)),
                }
            };
            let top_map = |q: f64| map(&top, q).flatten();
            let not_found_below = map(&table(&train, found), band.low).unwrap_or_else(|| top_map(band.low));
            let act = match (certifying, target) {
                (Some(c), Some(t)) => certified_act(c, &train, t, delta),
                (Some(_), None) => None,
                (None, _) => top_map(band.high),
            };
            BandScores { act, not_found_below: below_act(act, not_found_below), act_rests_on: None, not_found_map: None }
        })
        .collect();
    let policy = Policy { band, min_gap: 0.0 };
    quality(units.iter().map(|u| (u, &cuts[usize::from(u.fold)])), certifying.is_some(), &policy)
}

/// The certified score of precision `t` on `units` at level `delta` (None: not certified, or a
/// unit other than the query's, which decisions do not act on).
fn certified_act(c: &CertifyOptions, units: &[&QueryUnit], t: f64, delta: Option<f64>) -> Option<f64> {
    if c.unit != Unit::Query {
        return None;
    }
    let delta = delta?;
    certify::certify(&Distinct::default(), units, &[t], &[], c, delta).into_iter().next()?.score
}
