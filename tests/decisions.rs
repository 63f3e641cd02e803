//! One unit from estimate to decision, and decisions a user can audit: the cutoffs the artifact
//! exports are the ones `apply` decides by, `not_found` rests on the chance that a relevant
//! document is anywhere in the top k, every target has its estimate on the top hits, and `fit`
//! and `eval` say how good each decision was, counted as a user would recount it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float32Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simcal::calibrate::artifact::{Artifact, BandScores, DecisionQuality};
use simcal::calibrate::{fit_table_in_memory, FitOptions, Method};
use simcal::metrics::{evaluate, EvalOptions};
use simcal::policy::{apply_artifact, ApplyOptions, QueryDecision};
use simcal::table::{ScoreTable, TableMeta, TableView};
use simcal::Choice;

use super::common::{score_sample, simcal};

/// Each query's top hit (best score; ties: the lower rank) in a table: score, relevant, and
/// whether a relevant document is anywhere in its rows.
fn top_hits(t: &ScoreTable) -> HashMap<String, (f64, bool, bool)> {
    let v = TableView::new(t, Path::new("t")).unwrap();
    let (qid, rank, label) = (v.query_id.unwrap(), v.rank.unwrap(), v.label.unwrap());
    let mut top: HashMap<String, (f64, u32, bool, bool)> = HashMap::new();
    for r in 0..v.len() {
        let (s, rel) = (f64::from(v.score[r]), label.is_valid(r) && label.value(r) >= 1);
        let e = top.entry(qid.value(r).to_owned()).or_insert((s, rank.value(r), rel, false));
        if s > e.0 || (s == e.0 && rank.value(r) < e.1) {
            (e.0, e.1, e.2) = (s, rank.value(r), rel);
        }
        e.3 |= rel;
    }
    top.into_iter().map(|(q, (s, _, rel, found))| (q, (s, rel, found))).collect()
}

/// The sample's minilm score table, scored into a temporary folder (kept alive by the first).
fn sample() -> (tempfile::TempDir, std::path::PathBuf, ScoreTable) {
    let dir = tempfile::tempdir().unwrap();
    let scores = dir.path().join("minilm.parquet");
    score_sample("minilm", &scores);
    let table = simcal::table::read_table(&scores).unwrap();
    (dir, scores, table)
}

/// The decision the cutoffs `c` give a top score, as an agent reading the artifact would make it.
fn by_cutoffs(c: &BandScores, s: f64) -> &'static str {
    if c.act.is_some_and(|a| s >= a) {
        "act"
    } else if c.not_found_below.is_none_or(|b| s < b) {
        "not_found"
    } else {
        "escalate"
    }
}

/// Each decision's count, relevant top hits and queries with a relevant document, recounted.
fn recount(decisions: &[QueryDecision], top: &HashMap<String, (f64, bool, bool)>) -> Vec<(String, u64, u64, u64)> {
    ["act", "escalate", "not_found"]
        .iter()
        .map(|&d| {
            let mine: Vec<&(f64, bool, bool)> =
                decisions.iter().filter(|q| q.decision.name() == d).filter_map(|q| top.get(&q.query_id)).collect();
            let count = |f: fn(&(f64, bool, bool)) -> bool| mine.iter().filter(|x| f(x)).count() as u64;
            (d.to_owned(), mine.len() as u64, count(|x| x.1), count(|x| x.2))
        })
        .collect()
}

fn reported(q: &[DecisionQuality]) -> Vec<(String, u64, u64, u64)> {
    q.iter().map(|d| (d.decision.name().to_owned(), d.queries, d.top_hit_relevant, d.found.unwrap())).collect()
}

/// On the sample, for a fit by group certified for the global population and a fit without
/// certificates, under each map: the decision of every query is the one the exported
/// `band_scores` of its group give its top score, and the fit's in-sample decision quality is
/// the recount of those decisions. (Before, the exported
/// cutoffs were the pair map's, which `apply` does not decide with.)
#[test]
fn the_exported_cutoffs_are_the_decisions_apply_makes() {
    let (dir, scores, table) = sample();
    let top = top_hits(&table);
    for (name, extra) in
        [("certified", vec!["--confidence", "0.8", "--group-by", "section", "--certified-by", "global"]), ("estimate", vec![])]
    {
        let cal = dir.path().join(format!("{name}.json"));
        let o =
            simcal().args(["fit", "--scores"]).arg(&scores).arg("--out").arg(&cal).args(["--folds", "1"]).args(&extra).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let art = Artifact::read(&cal).unwrap();
        for method in [Method::Isotonic, Method::Platt] {
            let opts = ApplyOptions { method: Some(method), ..ApplyOptions::default() };
            let applied = apply_artifact(&table, &scores, &art, &cal, "sha", &opts).unwrap();
            let mut seen = HashMap::new();
            for q in &applied.decisions {
                let fit = art.groups.iter().find(|g| g.key == q.group).unwrap_or(&art.global);
                let c = &fit.band_scores[method.name()];
                assert_eq!(c.not_found_map.as_deref(), Some("found"));
                let want = by_cutoffs(c, top[&q.query_id].0);
                assert_eq!(q.decision.name(), want, "{name}, {}: query {} of group {}", method.name(), q.query_id, q.group);
                *seen.entry(want).or_insert(0) += 1;
            }
            // The check saw more than one decision.
            assert!(seen.len() >= 2, "{name}: {seen:?}");
            if method == Method::Isotonic {
                let d = art.global.decision.as_ref().unwrap();
                assert_eq!(reported(&d.quality), recount(&applied.decisions, &top), "{name}");
            }
        }
    }
}

/// The Decider, built once from an artifact, decides each query from its hits' scores alone as
/// `apply` decides the query's rows: every query of the sample, under a grouped certified fit
/// (each group's own certificates, and the global one) and an uncertified one, with a floor, a
/// minimum gap and the estimate.
#[test]
fn the_decider_decides_each_query_as_apply_does() {
    let (dir, scores, table) = sample();
    let view = TableView::new(&table, &scores).unwrap();
    let qid = view.query_id.unwrap();
    let section = table.batch.column_by_name("section").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    for (name, extra) in [("grouped", vec!["--confidence", "0.9", "--group-by", "section", "--min-pairs", "200"]), ("estimate", vec![])] {
        let cal = dir.path().join(format!("{name}.json"));
        let o =
            simcal().args(["fit", "--scores"]).arg(&scores).arg("--out").arg(&cal).args(["--folds", "1"]).args(&extra).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let art = Artifact::read(&cal).unwrap();
        let options = [
            ApplyOptions::default(),
            ApplyOptions { certified_by: Some(simcal::policy::CertifiedBy::Global), ..ApplyOptions::default() },
            ApplyOptions { floor: Some(0.3), ..ApplyOptions::default() },
            ApplyOptions { min_gap: 0.2, decide_on: simcal::policy::DecideOn::Estimate, ..ApplyOptions::default() },
            ApplyOptions { method: Some(Method::Platt), ..ApplyOptions::default() },
        ];
        // Decisions seen, by option: the groups alone certify nothing on the sample (a few dozen
        // queries each), the global certificate acts.
        let mut seen = HashMap::new();
        for opts in options {
            let applied = apply_artifact(&table, &scores, &art, &cal, "sha", &opts).unwrap();
            let decider = simcal::decider::Decider::new(art.clone(), &cal, &opts).unwrap();
            let mut r = 0;
            for q in &applied.decisions {
                let end = (r..view.len()).find(|&i| qid.value(i) != q.query_id).unwrap_or(view.len());
                let key = (!art.group_by.is_empty()).then(|| format!("section={}", section.value(r)));
                let v = decider.decide(&view.score[r..end], key.as_deref()).unwrap();
                let got = (v.decision, v.top_probability, v.gap, v.target, v.threshold, v.certificate.clone(), v.group.clone());
                let want = (q.decision, q.top_probability, q.gap, q.target, q.threshold, q.certificate.clone(), q.group.clone());
                assert_eq!(got, want, "{name} {opts:?}: query {}", q.query_id);
                let doc = view.doc_id.unwrap();
                assert_eq!(v.top.map(|i| doc.value(r + i).to_owned()), q.top_doc_id);
                *seen.entry(q.decision.name()).or_insert(0) += 1;
                r = end;
            }
            assert_eq!(r, view.len());
        }
        assert!(seen.len() >= 3, "{name}: {seen:?}");
    }
}

/// A synthetic population where the top hit is rarely relevant (0.3·s) but a relevant document
/// is often further down (with probability 0.1 + 0.9·s, which passes the band's low end 0.5 at
/// s = 0.44): a query is not found only where that chance is low. Measured on a fresh draw of
/// 4,000 queries: of the queries decided `not_found`, the share with a relevant document in the
/// top k is the population's mean over s < 0.44, 0.30 (claimed: below the band's low end 0.5,
/// 3σ slack 0.02); on the map of top hits (P ≤ 0.3 < 0.5 everywhere) every query would be not
/// found and the share would be 0.55.
#[test]
fn not_found_rests_on_a_relevant_document_anywhere_in_the_top_k() {
    let draw = |seed: u64, n: usize| -> ScoreTable {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rows: Vec<(String, u32, f32, i32)> = Vec::new();
        for q in 0..n {
            let s: f64 = rng.random();
            let top = rng.random::<f64>() < 0.3 * s;
            let below = !top && rng.random::<f64>() < ((0.1 + 0.9 * s) - 0.3 * s) / (1.0 - 0.3 * s);
            let hits = [(s, top), (s * 0.9, below), (s * 0.8, false)];
            for (r, (score, rel)) in hits.iter().enumerate() {
                rows.push((format!("q{q}"), r as u32 + 1, *score as f32, i32::from(*rel)));
            }
        }
        table(&rows)
    };
    let fit_t = draw(1, 4000);
    let opts = FitOptions { folds: 1, bootstrap: 0, ..FitOptions::default() };
    let art = fit_table_in_memory(&fit_t, Path::new("fit"), &opts).unwrap();
    let fresh = draw(2, 4000);
    let applied = apply_artifact(&fresh, Path::new("fresh"), &art, Path::new("cal"), "sha", &ApplyOptions::default()).unwrap();
    let top = top_hits(&fresh);
    let counts = recount(&applied.decisions, &top);
    let (_, n, _, found) = &counts[2];
    let share = *found as f64 / *n as f64;
    eprintln!("not found: {n} of 4,000 queries, {share:.3} of them with a relevant document in the top k ({counts:?})");
    assert!(*n > 1000, "not found {n} of 4,000: {counts:?}");
    assert!(share < 0.5 - 0.02, "share of not-found queries with a relevant document: {share:.3} ({counts:?})");
    // Escalated queries mostly have one.
    let (_, ne, _, fe) = &counts[1];
    assert!(*fe as f64 / *ne as f64 > 0.5, "{counts:?}");
}

/// Each precision target's estimate on the top hits is the top score whose queries at or above
/// it reach the target with the best recall (ties: the best precision), recomputed by brute
/// force on the sample; `n` and `tp` count queries.
#[test]
fn every_target_has_its_estimate_on_the_top_hits() {
    let (_dir, scores, table) = sample();
    let opts = FitOptions { target_precision: vec![0.9, 0.8], folds: 1, bootstrap: 0, ..FitOptions::default() };
    let art = fit_table_in_memory(&table, &scores, &opts).unwrap();
    let mut top: Vec<(f64, bool)> = top_hits(&table).into_values().map(|(s, r, _)| (s, r)).collect();
    top.sort_by(|a, b| b.0.total_cmp(&a.0));
    let d = art.global.decision.as_ref().unwrap();
    for (t, &target) in d.thresholds.iter().zip(&opts.target_precision) {
        let mut best = None;
        for &(s, _) in &top {
            let at: Vec<&(f64, bool)> = top.iter().filter(|x| x.0 >= s).collect();
            let tp = at.iter().filter(|x| x.1).count();
            // Best recall; among equal recall, the best precision (fewest queries).
            let better = best.is_none_or(|(_, n, t): (f64, u64, u64)| tp as u64 > t || (tp as u64 == t && (at.len() as u64) < n));
            if tp as f64 >= target * at.len() as f64 && better {
                best = Some((s as f32 as f64, at.len() as u64, tp as u64));
            }
        }
        let (s, n, tp) = best.unwrap();
        assert_eq!((t.score.map(|x| x as f32 as f64), t.n, t.tp), (Some(s), Some(n), Some(tp)), "target {target}");
    }
    // The pairs' threshold for 0.9 is another number: the two units differ.
    assert_ne!(art.global.thresholds[0].score, d.thresholds[0].score);
}

/// `eval` with a calibration reports, on a table it was not fitted on, the quality of the
/// decisions `apply` makes there (the threshold it acts on, checked): the recount of `apply`'s
/// decisions on that table.
#[test]
fn eval_reports_the_quality_of_applys_decisions() {
    let (dir, scores, table) = sample();
    // Fit on the even queries, evaluate on the whole table (another table than the fit's).
    let v = TableView::new(&table, &scores).unwrap();
    let keep: Vec<bool> = (0..v.len()).map(|r| v.query_id.unwrap().value(r).bytes().last().unwrap().is_multiple_of(2)).collect();
    let half = ScoreTable::new(
        arrow::compute::filter_record_batch(&table.batch, &arrow::array::BooleanArray::from(keep)).unwrap(),
        table.meta.clone(),
    );
    let opts = FitOptions { target_precision: vec![0.8], folds: 1, bootstrap: 0, ..FitOptions::default() };
    let mut opts = opts;
    opts.certify = simcal::nightly::config::default_fit().certify;
    let art = fit_table_in_memory(&half, Path::new("half"), &opts).unwrap();
    let cal = dir.path().join("cal.json");
    art.write(&cal).unwrap();
    let ev = evaluate(&table, &scores, None, Some((&art, &cal)), &EvalOptions::default()).unwrap();
    let d = ev.global.calibration.as_ref().unwrap().decisions.as_ref().unwrap();
    assert!(!ev.global.calibration.as_ref().unwrap().in_sample);
    let applied = apply_artifact(&table, &scores, &art, &cal, "sha", &ApplyOptions::default()).unwrap();
    assert_eq!(reported(&d.quality), recount(&applied.decisions, &top_hits(&table)));
    assert!(d.quality[0].queries > 0, "{:?}", d.quality);
    assert_eq!(d.reliability.n, 300);
}

/// A score table of rows (query, rank, score, label), every query judged with its relevant
/// count in `query_relevant`.
fn table(rows: &[(String, u32, f32, i32)]) -> ScoreTable {
    let mut relevant: HashMap<&str, u32> = HashMap::new();
    for (q, _, _, l) in rows {
        *relevant.entry(q.as_str()).or_insert(0) += u32::from(*l >= 1);
    }
    let schema = Schema::new(vec![
        Field::new("query_id", DataType::Utf8, false),
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("score", DataType::Float32, false),
        Field::new("label", DataType::Int32, true),
        Field::new("query_relevant", DataType::UInt32, true),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| format!("{}-{}", r.0, r.1)))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| relevant[r.0.as_str()]))),
    ];
    let meta = TableMeta {
        schema_version: simcal::table::SCHEMA_VERSION,
        version: "test".into(),
        model: "m".into(),
        metric: "cosine".into(),
        k: 3,
        backend: "cpu".into(),
        ..TableMeta::default()
    };
    ScoreTable::new(RecordBatch::try_new(Arc::new(schema), cols).unwrap(), meta)
}

/// The held-out decision quality, recomputed without the fit's fold code: each fold of the
/// sample's queries (the fit's own assignment) decided by isotonic maps of top hits and of found
/// refitted by hand on the other folds' queries, on the estimate (no certificate). A fold whose
/// own queries leaked into its maps would decide differently.
#[test]
fn held_out_decision_quality_equals_an_independent_refit() {
    use simcal::calibrate::certify::query_units;
    use simcal::calibrate::distinct::Distinct;
    use simcal::calibrate::folds::assign;
    use simcal::calibrate::isotonic::Isotonic;
    let (_dir, scores, table) = sample();
    // A band the sample's queries fall on both sides of.
    let band = simcal::calibrate::artifact::Band { low: 0.9, high: 0.95 };
    let opts = FitOptions { folds: 5, bootstrap: 0, methods: vec![Method::Isotonic], abstain: band, ..FitOptions::default() };
    let art = fit_table_in_memory(&table, &scores, &opts).unwrap();
    let view = TableView::new(&table, &scores).unwrap();
    let fold = assign(&view, 5, opts.seed).unwrap();
    let units = query_units(&view, 1, None, Some(&fold), 0).unwrap();
    // Lowest score at which a map reaches q (every score when its first value does).
    let cross = |m: &Isotonic, q: f64| if m.y[0] >= q { Some(f64::MIN) } else { m.score_for(q) };
    let mut tally: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    for f in 0..5u8 {
        let train: Vec<_> = units.iter().filter(|u| u.fold != f).collect();
        let s: Vec<f32> = train.iter().map(|u| u.top_score as f32).collect();
        let top = Isotonic::fit(&Distinct::from_pairs(&s, &train.iter().map(|u| u.top_relevant).collect::<Vec<_>>()));
        let found = Isotonic::fit(&Distinct::from_pairs(&s, &train.iter().map(|u| !u.recall.scores.is_empty()).collect::<Vec<_>>()));
        let act = cross(&top, band.high);
        let below = match (act, cross(&found, band.low)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => b.or(a),
        };
        let c = BandScores { act, not_found_below: below, act_rests_on: None, not_found_map: None };
        for u in units.iter().filter(|u| u.fold == f) {
            let e = tally.entry(by_cutoffs(&c, u.top_score)).or_default();
            e.0 += 1;
            e.1 += u64::from(u.top_relevant);
            e.2 += u64::from(!u.recall.scores.is_empty());
        }
    }
    let want: Vec<(String, u64, u64, u64)> = ["act", "escalate", "not_found"]
        .iter()
        .map(|&d| (d.to_owned(), tally.get(d).map_or(0, |t| t.0), tally.get(d).map_or(0, |t| t.1), tally.get(d).map_or(0, |t| t.2)))
        .collect();
    let got = reported(&art.global.decision.as_ref().unwrap().held_out_quality);
    eprintln!("held out: {got:?}");
    assert_eq!(got, want);
    // More than one decision was made: the check can tell them apart.
    assert!(want.iter().filter(|w| w.1 > 0).count() >= 2, "{want:?}");
}

/// `apply` takes another band without refitting: its decisions are the cutoffs of the
/// calibration's own maps at that band, and they differ from the fit's band's.
#[test]
fn apply_takes_a_band_without_refitting() {
    use simcal::calibrate::artifact::Band;
    use simcal::policy::{cutoffs, CertifiedBy, DecideOn};
    let (_dir, scores, table) = sample();
    let opts = FitOptions { folds: 1, bootstrap: 0, ..FitOptions::default() };
    let art = fit_table_in_memory(&table, &scores, &opts).unwrap();
    let top = top_hits(&table);
    let band = Band { low: 0.97, high: 0.99 };
    let fitted = apply_artifact(&table, &scores, &art, &scores, "sha", &ApplyOptions::default()).unwrap();
    let other =
        apply_artifact(&table, &scores, &art, &scores, "sha", &ApplyOptions { abstain: Some(band), ..ApplyOptions::default() }).unwrap();
    let c = cutoffs(&art, "all", Method::Isotonic, DecideOn::Estimate, Some(0.9), CertifiedBy::Group, band);
    for q in &other.decisions {
        assert_eq!(q.decision.name(), by_cutoffs(&c, top[&q.query_id].0), "query {}", q.query_id);
    }
    assert_ne!(fitted.counts(), other.counts());
    let bad = ApplyOptions { abstain: Some(Band { low: 0.9, high: 0.5 }), ..ApplyOptions::default() };
    let e = apply_artifact(&table, &scores, &art, &scores, "sha", &bad).unwrap_err().to_string();
    assert!(e.contains("abstain band 0.9:0.5"), "{e}");
}
