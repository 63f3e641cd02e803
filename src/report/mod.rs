//! The HTML report: one self-contained page (inline CSS and SVG, no script, no network) that
//! compares encoders' score tables side by side — score distributions, separation, ranking
//! measures, reliability of the calibration, precision/recall with the chosen thresholds, the
//! per-group thresholds — and says what the data was. `render` is a pure function of the
//! numbers gathered by [`encoder`].

pub(crate) mod svg;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::calibrate::artifact::Artifact;
use crate::calibrate::artifact::TargetKind;
use crate::calibrate::certify::Unit;
use crate::calibrate::sweep::Curve;
use crate::calibrate::{fit_table, FitOptions};
use crate::choice::Choice;
use crate::compare::{CompareOptions, Comparison};
use crate::error::{Error, Result};
use crate::labels::{read_qrels, Qrels};
use crate::metrics::ranking::Measure;
use crate::metrics::reliability::Reliability;
use crate::metrics::{evaluate, labeled_distinct, EvalOptions, Evaluation};
use crate::table::{read_table, sha256_file, ScoreTable, TableMeta};
use svg::{esc, Chart, PALETTE};

/// Most points drawn of a precision/recall curve.
const CURVE_POINTS: usize = 400;

/// One encoder's numbers.
#[derive(Clone, Debug)]
pub struct Encoder {
    /// The score table's path.
    pub path: PathBuf,
    /// Its sha256.
    pub sha256: String,
    /// Its metadata.
    pub meta: TableMeta,
    /// Its evaluation (with the calibration).
    pub eval: Evaluation,
    /// Precision/recall points (recall, precision), thinned to at most `CURVE_POINTS`.
    pub curve: Vec<(f64, f64)>,
    /// The calibration shown.
    pub artifact: Artifact,
    /// Whether the calibration was fitted on this same table (by the report, when none was
    /// given, or before): its reliability is then in-sample.
    pub in_sample: bool,
    /// Reliability of the out-of-fold probabilities (cross-fitted by query, the artifact's
    /// folds and seed), when the calibration was fitted on this table with folds.
    pub held_out_reliability: Option<(usize, Reliability)>,
    /// Reliability of the decision map on each query's top hit, and what it rests on
    /// (cross-fitted, in-sample, or nothing: a table the map was not fitted on).
    pub decision_reliability: Option<(String, Reliability)>,
    /// The certified thresholds of the global fit at a pair unit, on the pairs' curve: (label,
    /// recall, precision).
    pub certified_marks: Vec<(String, f64, f64)>,
    /// The precision/recall curve of each judged query's top hit (the unit decisions use),
    /// thinned; empty without query ranks.
    pub top_curve: Vec<(f64, f64)>,
    /// The global fit's thresholds on the top hits (estimates, and certificates at the query
    /// unit) on that curve: (label, recall, precision).
    pub top_marks: Vec<(String, f64, f64)>,
}

/// Thins a curve (from its first point to its last) to at most `max` points: a point is kept
/// when it is far enough from the last kept one, and the ends and the points at `keep` (indices)
/// always are, so that the line passes through every marked threshold.
pub fn thin(points: &[(f64, f64)], keep: &[usize], max: usize) -> Vec<(f64, f64)> {
    let n = points.len();
    if n <= max {
        return points.to_vec();
    }
    let mut eps = 1e-3;
    loop {
        let mut out: Vec<(f64, f64)> = Vec::new();
        let mut last: Option<(f64, f64)> = None;
        for (i, &p) in points.iter().enumerate() {
            let far = last.is_none_or(|l: (f64, f64)| ((p.0 - l.0).powi(2) + (p.1 - l.1).powi(2)).sqrt() >= eps);
            if i == 0 || i + 1 == n || far || keep.contains(&i) {
                out.push(p);
                last = Some(p);
            }
        }
        if out.len() <= max || eps > 1.0 {
            return out;
        }
        eps *= 1.5;
    }
}

/// A precision/recall curve: (recall, precision) points.
type Points = Vec<(f64, f64)>;
/// Labeled marks on a curve: (label, recall, precision).
type Marks = Vec<(String, f64, f64)>;

/// Gathers one encoder's numbers: `artifact` is its calibration, or None to fit one on the
/// table itself (no bootstrap, grouped as `opts.group_by`).
pub fn encoder(
    table: &ScoreTable,
    path: &Path,
    qrels: Option<&Qrels>,
    artifact: Option<(Artifact, PathBuf)>,
    opts: &EvalOptions,
) -> Result<Encoder> {
    let sha256 = sha256_file(path)?;
    // With --qrels the judgements are the qrels', also for a table scored without labels.
    let relabeled = qrels.map(|q| crate::table::relabel(table, path, q, opts.rel_level)).transpose()?;
    let table = relabeled.as_ref().unwrap_or(table);
    let (artifact, art_path) = match artifact {
        Some(a) => a,
        None => {
            let fo = FitOptions {
                group_by: opts.group_by.clone(),
                bootstrap: 0,
                rel_level: opts.rel_level,
                target_precision: opts.target_precision.clone(),
                ..FitOptions::default()
            };
            (fit_table(table, path, &fo)?, path.to_path_buf())
        }
    };
    let eval = evaluate(table, path, qrels, Some((&artifact, &art_path)), opts)?;
    let (curve, certified_marks) = pair_curve(table, path, qrels, opts.rel_level, &artifact)?;
    let (top_curve, top_marks) = top_hit_curve(table, path, &artifact, opts.rel_level, &certified_at(&artifact, true))?;
    // Fitted here, or on this very file: the reliability shown is in-sample. A calibration
    // fitted in memory records no file hash: it may be this table's, so it is treated as one
    // (cross-fitted where it has folds), never shown as held out.
    let in_sample = artifact.scores_sha256.is_empty() || artifact.scores_sha256 == sha256;
    let (held_out_reliability, decision_reliability) = match (&eval.global.calibration, qrels) {
        (Some(cal), None) => {
            let method: crate::calibrate::Method = cal.method.parse()?;
            let held_out = match &artifact.held_out {
                Some(h) if in_sample => Some((h.folds, held_out_reliability(table, path, &artifact, h, method, opts)?)),
                _ => None,
            };
            (held_out, decision_reliability(table, path, &artifact, in_sample, method, opts)?)
        }
        _ => (None, None),
    };
    Ok(Encoder {
        path: path.to_path_buf(),
        sha256,
        meta: table.meta.clone(),
        eval,
        curve,
        artifact,
        in_sample,
        held_out_reliability,
        decision_reliability,
        certified_marks,
        top_curve,
        top_marks,
    })
}

/// The global certified thresholds of `artifact` as marks (label, score): with `query` those at
/// the query unit about precision (they go on the top hits' curve), else the rest.
fn certified_at(artifact: &Artifact, query: bool) -> Vec<(String, f64)> {
    artifact
        .global
        .thresholds
        .iter()
        .filter_map(|t| {
            let c = t.certified.as_ref().filter(|c| {
                if query {
                    c.unit == Unit::Query && c.target == TargetKind::Precision
                } else {
                    c.unit != Unit::Query || c.target == TargetKind::Recall
                }
            })?;
            c.score.map(|s| (format!("certified {} {} ≥ {s:.3}", t.target, t.value), s))
        })
        .collect()
}

/// The pairs' precision/recall curve of `table` (thinned, through every mark) and the marks of
/// `artifact`'s certified thresholds on it.
fn pair_curve(table: &ScoreTable, path: &Path, qrels: Option<&Qrels>, rel_level: i32, artifact: &Artifact) -> Result<(Points, Marks)> {
    let d = labeled_distinct(table, path, qrels, rel_level)?;
    let c = Curve::new(&d);
    let n = c.threshold.len();
    // The curve's point at a threshold: the last one whose threshold is at or above it.
    let at = |score: f64| c.threshold.partition_point(|&t| t >= score).checked_sub(1);
    let certified = certified_at(artifact, false);
    let marked: Vec<usize> =
        artifact.global.thresholds.iter().filter_map(|t| t.score).chain(certified.iter().map(|c| c.1)).filter_map(at).collect();
    let all: Vec<(f64, f64)> = (0..n).map(|i| (c.recall(i), c.precision(i))).collect();
    let curve = thin(&all, &marked, CURVE_POINTS);
    let marks = certified.into_iter().map(|(label, s)| (label, c.at(s).1, c.at(s).0)).collect();
    Ok((curve, marks))
}

/// The reliability of `method`'s out-of-fold probabilities on the table `artifact` was
/// cross-fitted on (its folds `h`).
fn held_out_reliability(
    table: &ScoreTable,
    path: &Path,
    artifact: &Artifact,
    h: &crate::calibrate::artifact::HeldOutSpec,
    method: crate::calibrate::Method,
    opts: &EvalOptions,
) -> Result<Reliability> {
    let oof = crate::calibrate::folds::oof_probabilities(table, path, artifact.rel_level, h.folds, h.seed, &[method])?;
    let probabilities = oof.probabilities.first().map(|(_, p)| p.as_slice()).unwrap_or_default();
    let (p, y): (Vec<f64>, Vec<bool>) =
        probabilities.iter().zip(&oof.relevant).filter(|(p, _)| p.is_finite()).map(|(&p, &y)| (p, y)).unzip();
    crate::metrics::reliability::reliability(&p, &y, opts.bins, opts.strategy)
}

/// The reliability of the decisions' top-hit map (`method`) on the table's top hits, with how
/// it was measured (cross-fitted, in-sample, or on another table); None without such a map.
fn decision_reliability(
    table: &ScoreTable,
    path: &Path,
    artifact: &Artifact,
    in_sample: bool,
    method: crate::calibrate::Method,
    opts: &EvalOptions,
) -> Result<Option<(String, Reliability)>> {
    let Some(d) = &artifact.global.decision else { return Ok(None) };
    if !crate::calibrate::maps::FittedMaps::has(d, method) {
        return Ok(None);
    }
    let map = crate::calibrate::folds::FoldFit { isotonic: d.isotonic.clone(), platt: d.platt, thresholds: Vec::new() };
    let (folds, scope) = match &artifact.held_out {
        Some(h) if in_sample => (Some((h.folds, h.seed)), format!("cross-fitted, {}", crate::words::count(h.folds, "fold", "folds"))),
        _ if in_sample => (None, "in-sample".to_owned()),
        _ => (None, String::new()),
    };
    let (p, y) = crate::calibrate::folds::top_hit_probabilities(table, path, artifact.rel_level, method, folds, Some(&map))?;
    let (p, y): (Vec<f64>, Vec<bool>) = p.iter().zip(&y).filter(|(p, _)| p.is_finite()).map(|(&p, &y)| (p, y)).unzip();
    if p.is_empty() {
        return Ok(None);
    }
    Ok(Some((scope, crate::metrics::reliability::reliability(&p, &y, opts.bins, opts.strategy)?)))
}

/// The top hits' precision/recall curve of `table` (thinned, through every mark) and the marks
/// of `artifact`'s top-hit estimates and of the `certified` scores on it.
fn top_hit_curve(
    table: &ScoreTable,
    path: &Path,
    artifact: &Artifact,
    rel_level: i32,
    certified: &[(String, f64)],
) -> Result<(Points, Marks)> {
    let view = crate::table::TableView::new(table, path)?;
    if view.rank.is_none() || view.label.is_none() {
        return Ok((Vec::new(), Vec::new()));
    }
    let units = if view.query_id.is_some() {
        crate::calibrate::certify::query_units(&view, rel_level, None, None, 0)?
    } else {
        crate::calibrate::certify::top_hits(&view, rel_level)?
    };
    let s: Vec<f32> = units.iter().map(|u| u.top_score as f32).collect();
    let r: Vec<bool> = units.iter().map(|u| u.top_relevant).collect();
    let d = crate::calibrate::distinct::Distinct::from_pairs(&s, &r);
    if d.n_pos() == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let c = Curve::new(&d);
    let at = |score: f64| c.threshold.partition_point(|&t| t >= score).checked_sub(1);
    let estimates: Vec<(String, f64)> = artifact
        .global
        .decision
        .iter()
        .flat_map(|x| &x.thresholds)
        .filter_map(|t| t.score.map(|s| (format!("top hits: {} {} ≥ {s:.3}", t.target, t.value), s)))
        .collect();
    let marks: Vec<(String, f64)> = estimates.into_iter().chain(certified.iter().cloned()).collect();
    let keep: Vec<usize> = marks.iter().filter_map(|m| at(m.1)).collect();
    let all: Vec<(f64, f64)> = (0..c.threshold.len()).map(|i| (c.recall(i), c.precision(i))).collect();
    Ok((thin(&all, &keep, CURVE_POINTS), marks.into_iter().map(|(label, s)| (label, c.at(s).1, c.at(s).0)).collect()))
}

fn f4(v: Option<f64>) -> String {
    v.map_or("—".into(), |x| format!("{x:.4}"))
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}\
h1{font-size:22px;margin-bottom:2px}h2{font-size:17px;margin-top:30px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.sub{color:#666;font-size:13px}.row{display:flex;flex-wrap:wrap;gap:14px}.card{border:1px solid #e4e4e4;border-radius:6px;padding:6px}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border-bottom:1px solid #eee;padding:4px 10px;text-align:right}\
th:first-child,td:first-child{text-align:left}thead th{background:#f6f6f6}.note{color:#8a5a00;font-size:13px}code{font-size:12px}";

/// The page for `encoders` (at least one), created at `created`.
pub(crate) fn render(encoders: &[Encoder], comparison: Option<&std::result::Result<Comparison, String>>, created: &str) -> String {
    let mut h = String::new();
    let models: Vec<String> = encoders.iter().map(|e| e.meta.model.clone()).collect();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>simcal report: {}</title><style>{STYLE}</style></head><body>",
        esc(&models.join(" vs "))
    );
    let _ = write!(
        h,
        "<h1>simcal report: {}</h1><div class=\"sub\">simcal {} · created {} · relevance level {}</div>",
        esc(&models.join(" vs ")),
        env!("CARGO_PKG_VERSION"),
        esc(created),
        encoders.first().map_or(1, |e| e.eval.rel_level)
    );
    data_section(&mut h, encoders);
    distributions_section(&mut h, encoders);
    ranking_section(&mut h, encoders);
    match comparison {
        Some(Ok(c)) => comparison_section(&mut h, c),
        Some(Err(e)) => {
            let _ = write!(h, "<h2>Paired comparison</h2><div class=\"note\">Not made: {}</div>", esc(e));
        }
        None => {}
    }
    reliability_section(&mut h, encoders);
    trust_section(&mut h, encoders);
    pr_section(&mut h, encoders);
    decisions_section(&mut h, encoders);
    groups_section(&mut h, encoders);
    h.push_str("</body></html>\n");
    h
}

fn data_section(h: &mut String, encoders: &[Encoder]) {
    h.push_str("<h2>The data</h2><table><thead><tr><th>encoder</th><th>metric</th><th>k</th><th>rows</th><th>labeled</th><th>relevant</th><th>queries judged</th><th>backend</th><th>score table</th><th>sha256</th><th>calibration</th></tr></thead><tbody>");
    for e in encoders {
        let g = &e.eval.global;
        let rel = g.separation.as_ref().map_or(0, |s| s.n_relevant);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td title=\"{}\"><code>{}…</code></td><td>{}</td></tr>",
            esc(&e.meta.model),
            esc(&e.meta.metric),
            e.meta.k,
            g.rows,
            g.labeled,
            rel,
            g.ranking.queries,
            esc(&e.meta.backend),
            esc(&e.path.display().to_string()),
            esc(&e.sha256),
            esc(e.sha256.get(..12).unwrap_or(&e.sha256)),
            if e.artifact.scores_sha256.is_empty() {
                "fitted in memory, on no file this page can name: treated as fitted on this table (in-sample)".to_owned()
            } else if e.in_sample { "fitted on this table (in-sample)".to_owned() } else { format!("held out (fitted {} on {}…)", esc(&e.artifact.created), esc(e.artifact.scores_sha256.get(..12).unwrap_or(""))) }
        );
    }
    h.push_str("</tbody></table>");
    for e in encoders {
        for n in &e.eval.notes {
            let _ = write!(h, "<div class=\"note\">{}</div>", esc(n));
        }
    }
}

fn distributions_section(h: &mut String, encoders: &[Encoder]) {
    h.push_str("<h2>Score distributions</h2><div class=\"sub\">Share of each class's pairs per score bin: the less the two overlap, the more a threshold can separate them.</div><div class=\"row\">");
    for e in encoders {
        let Some(sep) = &e.eval.global.separation else { continue };
        let d = &sep.distributions;
        let share = |c: &[u64], n: u64| c.iter().map(|&v| if n > 0 { v as f64 / n as f64 } else { 0.0 }).collect::<Vec<f64>>();
        let (r, i) = (share(&d.relevant.counts, d.relevant.n), share(&d.irrelevant.counts, d.irrelevant.n));
        let ymax = r.iter().chain(&i).copied().fold(0.0, f64::max) * 1.08;
        let (lo, hi) = (d.edges.first().copied().unwrap_or(0.0), d.edges.last().copied().unwrap_or(1.0));
        let mut c = Chart::new("histogram", &e.meta.model, 370.0, 250.0, (lo, hi), (0.0, ymax.max(1e-9)));
        c.histogram("irrelevant", &d.edges, &i, PALETTE[0]);
        c.histogram("relevant", &d.edges, &r, PALETTE[1]);
        c.legend(&format!("irrelevant ({})", d.irrelevant.n), PALETTE[0]);
        c.legend(&format!("relevant ({})", d.relevant.n), PALETTE[1]);
        let _ = write!(h, "<div class=\"card\">{}</div>", c.finish(&format!("{} score", e.meta.metric), "share of pairs"));
    }
    h.push_str("</div><table><thead><tr><th>separation</th>");
    for e in encoders {
        let _ = write!(h, "<th>{}</th>", esc(&e.meta.model));
    }
    h.push_str("</tr></thead><tbody>");
    type Get = fn(&crate::metrics::separation::Separation) -> Option<f64>;
    let rows: [(&str, Get); 4] = [
        ("ROC AUC", |s| s.roc_auc),
        ("average precision", |s| s.average_precision),
        ("KS statistic", |s| s.ks),
        ("overlap", |s| s.overlap),
    ];
    for (name, get) in rows {
        let _ = write!(h, "<tr><td>{name}</td>");
        for e in encoders {
            let _ = write!(h, "<td>{}</td>", f4(e.eval.global.separation.as_ref().and_then(get)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
}

fn ranking_section(h: &mut String, encoders: &[Encoder]) {
    let Some(first) = encoders.first() else { return };
    // Every measure a mean (the defaults) reads as one; sums (num_*) and geometric means (gm_*)
    // are named for what they are.
    let means = first.eval.global.ranking.aggregates.iter().all(|a| *a == crate::metrics::measure::Aggregate::Mean);
    let over = if means { "mean over" } else { "each formed as trec_eval forms it (a mean; num_* a sum, gm_* a geometric mean) over" };
    let _ = write!(
        h,
        "<h2>Ranking</h2><div class=\"sub\">trec_eval measures, {over} {} judged queries (judgements from the {}).</div><table><thead><tr><th>measure</th>",
        first.eval.global.ranking.queries,
        first.eval.judgements
    );
    for e in encoders {
        let _ = write!(h, "<th>{}</th>", esc(&e.meta.model));
    }
    h.push_str("</tr></thead><tbody>");
    for (j, m) in first.eval.global.ranking.measures.iter().enumerate() {
        let _ = write!(h, "<tr><td>{}</td>", esc(m));
        let best = encoders.iter().map(|e| e.eval.global.ranking.mean.get(j).copied().unwrap_or(0.0)).fold(f64::MIN, f64::max);
        for e in encoders {
            let v = e.eval.global.ranking.mean.get(j).copied().unwrap_or(0.0);
            let bold = if encoders.len() > 1 && v == best { " style=\"font-weight:700\"" } else { "" };
            let _ = write!(h, "<td{bold}>{v:.4}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
}

/// Most bars of a per-query difference chart: beyond, each bar is the mean of a run of sorted
/// queries.
const DIFFERENCE_BARS: usize = 400;

/// The encoders compared query by query: ranx's table with the marks of the encoders each one
/// beats significantly, every pair's mean difference with its interval and test, and per pair
/// the sorted per-query differences of the first measure.
// Long: the section's two tables and its charts, in the order they are shown.
#[expect(clippy::indexing_slicing, reason = "colours are taken modulo the palette's length")]
fn comparison_section(h: &mut String, c: &Comparison) {
    let _ = write!(
        h,
        "<h2>Paired comparison</h2><div class=\"sub\">{}; {}% paired bootstrap intervals ({} resamples of the queries, seed {}). {} queries paired: {}. A superscript names each encoder a value beats significantly.</div>",
        esc(&c.method_text()),
        (c.level * 100.0).round(),
        crate::words::num(c.resamples as u64),
        c.seed,
        crate::words::num(c.paired_queries as u64),
        esc(&c.pairing)
    );
    for n in &c.notes {
        let _ = write!(h, "<div class=\"note\">{}</div>", esc(n));
    }
    h.push_str("<table><thead><tr><th>#</th><th>encoder</th>");
    for m in &c.measures {
        let _ = write!(h, "<th>{}</th>", esc(m));
    }
    h.push_str("</tr></thead><tbody>");
    for (i, r) in c.runs.iter().enumerate() {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td>", r.letter, esc(&r.name));
        for (m, v) in r.values.iter().enumerate() {
            let _ = write!(h, "<td>{v:.4}{}</td>", c.marks(i, m));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h.push_str("<table><thead><tr><th>pair</th><th>measure</th><th>difference</th><th>interval</th><th>p</th><th>p corrected</th><th>significant</th><th>wins / ties / losses</th></tr></thead><tbody>");
    let name = |i: usize| c.runs.get(i).map_or("", |r| r.name.as_str());
    for t in &c.pairs {
        let _ = write!(
            h,
            "<tr><td>{} − {}</td><td>{}</td><td>{:+.4}</td><td>{:+.4} – {:+.4}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {} / {}</td></tr>",
            esc(name(t.a)),
            esc(name(t.b)),
            esc(&t.measure),
            t.difference,
            t.interval[0],
            t.interval[1],
            crate::compare::p_text(t.p),
            crate::compare::p_text(t.p_corrected),
            if t.significant { "yes" } else { "no" },
            t.wins,
            t.ties,
            t.losses
        );
    }
    h.push_str("</tbody></table>");
    let Some(first) = c.measures.first() else { return };
    let _ = write!(
        h,
        "<h3>Per-query differences: {}</h3><div class=\"sub\">Each query's {} of the first encoder of the pair minus the second's, sorted: bars above zero are queries it wins, below zero queries it loses.</div><div class=\"row\">",
        esc(first),
        esc(first)
    );
    for (k, t) in c.pairs.iter().filter(|t| &t.measure == first).enumerate() {
        let (Some(a), Some(b)) = (c.runs.get(t.a), c.runs.get(t.b)) else { continue };
        let (Some(x), Some(y)) = (a.per_query.first(), b.per_query.first()) else { continue };
        let mut d: Vec<f64> = x.iter().zip(y).map(|(p, q)| p - q).collect();
        d.sort_by(|p, q| q.total_cmp(p));
        let per_bar = d.len().div_ceil(DIFFERENCE_BARS).max(1);
        let heights: Vec<f64> = d.chunks(per_bar).map(|g| g.iter().sum::<f64>() / g.len() as f64).collect();
        let edges: Vec<f64> = (0..=heights.len()).map(|i| (i * per_bar).min(d.len()) as f64).collect();
        let lo = heights.iter().copied().fold(0.0f64, f64::min);
        let hi = heights.iter().copied().fold(0.0f64, f64::max);
        let title = format!("{} − {}: {} wins, {} ties, {} losses", a.name, b.name, t.wins, t.ties, t.losses);
        let mut chart = Chart::new("differences", &title, 360.0, 260.0, (0.0, d.len() as f64), (lo, hi));
        chart.histogram(&format!("{} − {}", a.name, b.name), &edges, &heights, PALETTE[k % PALETTE.len()]);
        let _ = write!(h, "<div class=\"card\">{}</div>", chart.finish("queries, sorted", &format!("difference in {first}")));
    }
    h.push_str("</div>");
}

#[expect(clippy::indexing_slicing, reason = "colours are taken modulo the palette's length; curves are indexed within themselves")]
fn reliability_section(h: &mut String, encoders: &[Encoder]) {
    h.push_str("<h2>Reliability</h2><div class=\"sub\">Mean predicted probability against the observed rate of relevant pairs per bin, with Wilson 95% intervals; on the diagonal is perfect calibration.</div><div class=\"row\">");
    for (k, e) in encoders.iter().enumerate() {
        let Some(cal) = &e.eval.global.calibration else { continue };
        // Held out when the calibration was fitted on this table: never an in-sample headline.
        let (r, scope) = match &e.held_out_reliability {
            Some((k, r)) => (r, format!(", cross-fitted, {}", crate::words::count(*k, "fold", "folds"))),
            None => (&cal.reliability, if e.in_sample { ", in-sample".to_owned() } else { String::new() }),
        };
        reliability_card(h, &format!("{} ({}{scope})", e.meta.model, cal.method), r, PALETTE[k % PALETTE.len()], "pairs");
    }
    h.push_str("</div>");
    // The decision map, on the unit it decides on.
    if encoders.iter().all(|e| e.decision_reliability.is_none()) {
        return;
    }
    h.push_str("<h3>Decisions: each query's top hit</h3><div class=\"sub\">apply decides on a query's top hit with the map fitted on top hits; here is its reliability on them.</div><div class=\"row\">");
    for (k, e) in encoders.iter().enumerate() {
        let (Some((scope, r)), Some(cal)) = (&e.decision_reliability, &e.eval.global.calibration) else { continue };
        let scope = if scope.is_empty() { String::new() } else { format!(", {scope}") };
        reliability_card(h, &format!("{} top hits ({}{scope})", e.meta.model, cal.method), r, PALETTE[k % PALETTE.len()], "queries");
    }
    h.push_str("</div>");
}

/// One reliability diagram with its summary line; `unit` names what its `n` counts.
fn reliability_card(h: &mut String, title: &str, r: &Reliability, color: &str, unit: &str) {
    let mut c = Chart::new("reliability", title, 370.0, 300.0, (0.0, 1.0), (0.0, 1.0));
    c.line("perfect", &[(0.0, 0.0), (1.0, 1.0)], "#999", true);
    let pts: Vec<(f64, f64, f64, f64)> = r.bins.iter().map(|b| (b.mean_predicted, b.observed, b.wilson[0], b.wilson[1])).collect();
    c.line("observed", &pts.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(), color, false);
    c.points("bins", &pts, color);
    let _ = write!(
        h,
        "<div class=\"card\">{}<div class=\"sub\">ECE {:.4} · MCE {:.4} · Brier {:.4} · log loss {:.4} · {} {unit}</div></div>",
        c.finish("predicted probability", "observed rate"),
        r.ece,
        r.mce,
        r.brier,
        r.log_loss,
        r.n
    );
}

/// Estimate, held out and certified, side by side for each target of each encoder's global fit:
/// on the top hits (the unit decisions use, with the certificate at the query unit) and on the
/// pairs (with a certificate at a pair unit).
fn trust_section(h: &mut String, encoders: &[Encoder]) {
    h.push_str("<h2>How far to trust each threshold</h2><div class=\"sub\">The estimate is measured on the units it was chosen on (exact 95% interval); held out, each fold's threshold is chosen on the other folds of queries and measured on its own; a certified threshold reaches the target with the stated confidence over the draw of the calibration data. Top hits (one per judged query) are the unit decisions use; pairs are every labeled row of the top k, another population with its own threshold.</div>");
    h.push_str("<table><thead><tr><th>encoder</th><th>target</th><th>unit</th><th>estimate</th><th>precision in sample (exact 95%)</th><th>count</th><th>held-out precision (folds)</th><th>held-out recall</th><th>certified</th><th>guarantee</th></tr></thead><tbody>");
    for e in encoders {
        let tops = e.artifact.global.decision.as_ref().map(|d| d.thresholds.as_slice()).unwrap_or_default();
        for t in &e.artifact.global.thresholds {
            let top = tops.iter().find(|x| x.target == t.target && (x.value - t.value).abs() < 1e-12);
            let at_query = t.certified.as_ref().is_some_and(|c| c.unit == Unit::Query && c.target == TargetKind::Precision);
            if let Some(top) = top {
                trust_row(h, e, top, "top hits", "queries", if at_query { t.certified.as_ref() } else { None }, at_query);
            }
            trust_row(h, e, t, "pairs", "pairs", if at_query { None } else { t.certified.as_ref() }, !at_query);
        }
    }
    h.push_str("</tbody></table>");
}

/// One row of the trust table: threshold `t` at `unit` (counting `many`), with certificate `c`
/// (`asked`: a certificate belongs on this row, so none means "not asked for" only when none was).
fn trust_row(
    h: &mut String,
    e: &Encoder,
    t: &crate::calibrate::artifact::Threshold,
    unit: &str,
    many: &str,
    c: Option<&crate::calibrate::artifact::CertifiedThreshold>,
    asked: bool,
) {
    let estimate = t.score.map_or_else(|| esc(t.message.as_deref().unwrap_or("not reachable")), |s| format!("{s:.4}"));
    let exact = match (t.precision, t.precision_exact) {
        (Some(p), Some([a, b])) => format!("{p:.4} ({a:.3}–{b:.3})"),
        (p, _) => f4(p),
    };
    let count = match (t.tp, t.n) {
        (Some(tp), Some(n)) => format!("{tp} of {n} {many}{}", if t.small_sample { " (small sample)" } else { "" }),
        _ => "—".to_owned(),
    };
    let (ho_p, ho_r) = match &t.held_out {
        Some(ho) => (
            format!("{}{}", f4(ho.precision), ho.precision_range.map_or(String::new(), |[a, b]| format!(" ({a:.3}–{b:.3})"))),
            f4(ho.recall),
        ),
        None => ("not cross-fitted".to_owned(), "—".to_owned()),
    };
    let (cert, guarantee) = match c {
        None if asked && e.artifact.certification.is_none() => ("not asked for".to_owned(), "—".to_owned()),
        None => ("—".to_owned(), "—".to_owned()),
        Some(c) => match c.score {
            Some(s) => (
                format!("{s:.4}"),
                match (c.confidence, c.risk_bound) {
                    (Some(conf), _) => format!(
                        "≥ {} at confidence {conf:.4} alone ({}, unit {}, {} units){}",
                        c.value,
                        c.method,
                        c.unit,
                        c.units,
                        c.simultaneous_lower_bound.map(|lb| format!("; simultaneous lower bound {lb:.4}")).unwrap_or_default()
                    ),
                    (None, Some(b)) => format!("expected miss rate ≤ {b:.4} (crc, unit {}, {} units)", c.unit, c.units),
                    _ => "—".to_owned(),
                },
            ),
            None => ("none".to_owned(), esc(c.reason.as_deref().unwrap_or(""))),
        },
    };
    let _ = write!(
        h,
        "<tr><td>{}</td><td>{} {}</td><td>{unit}</td><td>{estimate}</td><td>{exact}</td><td>{count}</td><td>{ho_p}</td><td>{ho_r}</td><td>{cert}</td><td style=\"text-align:left\">{guarantee}</td></tr>",
        esc(&e.meta.model),
        t.target,
        t.value
    );
}

#[expect(clippy::indexing_slicing, reason = "colours are taken modulo the palette's length; curves are indexed within themselves")]
fn pr_section(h: &mut String, encoders: &[Encoder]) {
    h.push_str("<h2>Precision and recall</h2><div class=\"sub\">Every threshold's precision and recall; circles mark the calibration's thresholds for its targets (estimates and certified ones).</div>");
    let mut c = Chart::new("precision-recall", "precision / recall", 760.0, 360.0, (0.0, 1.0), (0.0, 1.0));
    for (k, e) in encoders.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        c.line(&e.meta.model, &e.curve, colour, false);
        c.legend(&e.meta.model, colour);
        if let Some(cal) = &e.eval.global.calibration {
            for t in &cal.thresholds {
                c.marker(
                    &format!("{} threshold", e.meta.model),
                    t.recall,
                    t.precision,
                    &format!("{} {} ≥ {:.3}", t.target, t.value, t.score),
                    colour,
                );
            }
        }
        for (label, recall, precision) in &e.certified_marks {
            c.marker(&format!("{} certified threshold", e.meta.model), *recall, *precision, label, colour);
        }
    }
    let _ = write!(h, "<div class=\"card\">{}</div>", c.finish("recall", "precision"));
    if encoders.iter().all(|e| e.top_curve.is_empty()) {
        return;
    }
    h.push_str("<h3>Top hits: the unit decisions use</h3><div class=\"sub\">Each judged query's top hit: precision is the share of relevant top hits at or above a threshold, recall the share of all relevant top hits kept. Circles mark the calibration's thresholds on top hits and its certified thresholds at the query unit.</div>");
    let mut c = Chart::new("top-hits", "top hits: precision / recall", 760.0, 360.0, (0.0, 1.0), (0.0, 1.0));
    for (k, e) in encoders.iter().enumerate().filter(|(_, e)| !e.top_curve.is_empty()) {
        let colour = PALETTE[k % PALETTE.len()];
        c.line(&e.meta.model, &e.top_curve, colour, false);
        c.legend(&e.meta.model, colour);
        for (label, recall, precision) in &e.top_marks {
            c.marker(&format!("{} top-hit threshold", e.meta.model), *recall, *precision, label, colour);
        }
    }
    let _ = write!(h, "<div class=\"card\">{}</div>", c.finish("recall of relevant top hits", "precision of top hits"));
}

/// How good each decision `apply` makes by default was, per encoder: its queries, the share
/// whose top hit is relevant, and the share with a relevant document in the top k.
fn decisions_section(h: &mut String, encoders: &[Encoder]) {
    let rows: Vec<(&Encoder, &crate::metrics::DecisionEval)> =
        encoders.iter().filter_map(|e| e.eval.global.calibration.as_ref().and_then(|c| c.decisions.as_ref()).map(|d| (e, d))).collect();
    if rows.is_empty() {
        return;
    }
    h.push_str("<h2>Decisions</h2><div class=\"sub\">The decisions apply makes by default, by each query's top score: act at or above the certified threshold (or the map's, on the estimate), not found where a relevant document anywhere in the top k is unlikely, escalate between. In sample when the calibration was fitted on this table; held out: each fold decided by maps and a certificate refitted on the other folds.</div>");
    h.push_str("<table><thead><tr><th>encoder</th><th>act from</th><th>act rests on</th><th>not found below</th><th>measured</th><th>decision</th><th>queries</th><th>top hit relevant</th><th>relevant in the top k</th></tr></thead><tbody>");
    for (e, d) in rows {
        let scope = if e.in_sample { "in sample" } else { "this table" };
        let sets =
            std::iter::once((scope, &d.quality)).chain((!d.held_out_quality.is_empty()).then_some(("held out", &d.held_out_quality)));
        for (scope, q) in sets {
            for x in q {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{scope}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&e.meta.model),
                    crate::policy::cutoff_text(d.cutoffs.act, "—"),
                    esc(d.cutoffs.act_rests_on.as_deref().unwrap_or("")),
                    crate::policy::cutoff_text(d.cutoffs.not_found_below, "—"),
                    x.decision.name().replace('_', " "),
                    x.queries,
                    f4(x.precision),
                    f4(x.found_share)
                );
            }
        }
    }
    h.push_str("</tbody></table>");
}

fn groups_section(h: &mut String, encoders: &[Encoder]) {
    h.push_str("<h2>Thresholds by group</h2>");
    for e in encoders {
        let a = &e.artifact;
        let by = if a.group_by.is_empty() { "no grouping".to_owned() } else { format!("grouped by {}", a.group_by.join(", ")) };
        let _ = write!(
            h,
            "<h3>{}</h3><div class=\"sub\">{by}; threshold, precision and recall on the fitting data; Δ is the distance from the global threshold.</div><table><thead><tr><th>group</th><th>pairs</th><th>relevant</th><th>target</th><th>threshold</th><th>precision</th><th>recall</th><th>95% interval</th><th>Δ global</th></tr></thead><tbody>",
            esc(&e.meta.model)
        );
        for g in std::iter::once(&a.global).chain(&a.groups) {
            if !g.fitted {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td colspan=\"6\" style=\"text-align:left\">not fitted: {}</td></tr>",
                    esc(&g.key),
                    g.n,
                    g.n_relevant,
                    esc(g.reason.as_deref().unwrap_or(""))
                );
                continue;
            }
            for t in &g.thresholds {
                let iv = t.interval.as_ref().and_then(|i| i.score).map_or("—".to_owned(), |[a, b]| format!("{a:.4} – {b:.4}"));
                let target = format!("{} {}", t.target, t.value);
                let score = t.score.map_or_else(|| esc(t.message.as_deref().unwrap_or("not reachable")), |s| format!("{s:.4}"));
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&g.key),
                    g.n,
                    g.n_relevant,
                    esc(&target),
                    score,
                    f4(t.precision),
                    f4(t.recall),
                    iv,
                    t.delta_from_global.map_or("—".to_owned(), |d| format!("{d:+.4}"))
                );
            }
        }
        h.push_str("</tbody></table>");
        for s in &e.eval.spread {
            let _ = write!(
                h,
                "<div class=\"sub\">On this table, the best threshold for precision {} spreads over {} groups from {} to {} (range {}, sd {}).</div>",
                s.target_precision,
                s.groups,
                f4(s.min),
                f4(s.max),
                f4(s.range),
                f4(s.sd)
            );
        }
    }
}

/// `simcal report`: builds the page for the score tables at `scores` (each with the one of
/// `calibrations` of its model; a table without one gets an in-sample fit, marked so) and
/// writes it to `out`, atomically. `out` may not be one of the inputs; a calibration whose
/// model no table has, or two for one model, are errors.
pub fn write_report(
    scores: &[PathBuf],
    calibrations: &[PathBuf],
    qrels: Option<&Path>,
    group_by: &[String],
    measures: Vec<Measure>,
    rel_level: i32,
    out: &Path,
) -> Result<()> {
    let inputs: Vec<&Path> = scores.iter().chain(calibrations).map(PathBuf::as_path).chain(qrels).collect();
    crate::output::check_destinations(&inputs, &[("`out`", out)])?;
    let qrels = qrels.map(read_qrels).transpose()?;
    let arts: Vec<(Artifact, PathBuf)> = calibrations.iter().map(|p| Ok((Artifact::read(p)?, p.clone()))).collect::<Result<_>>()?;
    for (i, (a, p)) in arts.iter().enumerate() {
        if let Some((_, q)) = arts.iter().take(i).find(|(b, _)| b.model == a.model) {
            return Err(Error::Invalid(format!(
                "`calibration` {}: {} is also for model {:?}; give one calibration per model",
                p.display(),
                q.display(),
                a.model
            )));
        }
    }
    let tables: Vec<_> = scores.iter().map(|p| read_table(p)).collect::<Result<_>>()?;
    // A calibration that matches no table would be ignored and an in-sample fit drawn instead.
    for (a, p) in &arts {
        if !tables.iter().any(|t| t.meta.model == a.model) {
            let models: Vec<String> = tables.iter().map(|t| format!("{:?}", t.meta.model)).collect();
            return Err(Error::Invalid(format!(
                "`calibration` {}: its model {:?} is none of the score tables' ({}): a calibration is matched to a table by model",
                p.display(),
                a.model,
                models.join(", ")
            )));
        }
    }
    // The encoders compared query by query, on the ranking measures shown.
    let comparison = if tables.len() >= 2 {
        let given: Vec<(&ScoreTable, &Path)> = tables.iter().zip(scores).map(|(t, p)| (t, p.as_path())).collect();
        let opts = CompareOptions { measures: measures.clone(), rel_level, calibration: false, ..CompareOptions::default() };
        // A comparison that cannot be made (more encoders than letters) leaves its section out.
        Some(crate::compare::compare_tables(&given, qrels.as_ref(), &opts).map_err(|e| e.to_string()))
    } else {
        None
    };
    let mut encoders = Vec::new();
    for (table, path) in tables.into_iter().zip(scores) {
        let art = arts.iter().find(|(a, _)| a.model == table.meta.model).cloned();
        let group_by =
            if !group_by.is_empty() { group_by.to_vec() } else { art.as_ref().map(|(a, _)| a.group_by.clone()).unwrap_or_default() };
        let opts = EvalOptions { measures: measures.clone(), group_by, rel_level, ..EvalOptions::default() };
        encoders.push(encoder(&table, path, qrels.as_ref(), art, &opts)?);
    }
    let page = render(&encoders, comparison.as_ref(), &crate::calibrate::created());
    crate::output::write_atomic(out, |w| {
        use std::io::Write;
        w.write_all(page.as_bytes()).map_err(|e| Error::Io { path: out.to_path_buf(), source: e })
    })
}
