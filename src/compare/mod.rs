//! Comparing runs (encoders, versions of one) query by query, as a paper reports it: for every
//! measure and every pair of runs, the mean per-query difference with its paired bootstrap
//! interval, a paired test's p-value (Student's t, Fisher's randomization test, Tukey's HSD or the
//! bootstrap), whether it is significant after a family-wise correction over every comparison
//! made, and the per-query wins, ties and losses. [`calibration`] compares the runs' calibrations
//! the same way.
//!
//! Queries are paired by id. With qrels every judged query is compared, and one a run lacks is
//! measured on an empty ranking (ranx's `make_comparable`, trec_eval's `-c`): it counts as a
//! query the run found nothing for. Without qrels each table judges its own queries: the
//! queries compared are those any run judged, and a run that did not judge one is measured on
//! an empty ranking against the judgements of the first run that did.

pub mod calibration;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::labels::Qrels;
use crate::metrics::measure::{Aggregate, GEOMETRIC_FLOOR};
use crate::metrics::ranking::{self, Measure, QueryRun};
use crate::metrics::runs;
use crate::stats::paired::{self, TestResult};

/// The version of `simcal compare --json`'s document.
pub const COMPARE_VERSION: u32 = 1;

/// The paired test that decides significance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// The two-sided paired Student's t-test (scipy's `ttest_rel`; ranx's `student`).
    #[default]
    Student,
    /// Fisher's randomization test: random per-query swaps (ranx's `fisher`).
    Fisher,
    /// Tukey's HSD over all runs at once (scipy's `tukey_hsd`; ranx's `tukey`): unpaired, its
    /// p-values already family-wise over the pairs.
    Tukey,
    /// The paired bootstrap test: the share of resampled mean differences as far from the
    /// observed one as it is from zero.
    Bootstrap,
}

crate::choice::choice!(Test => "test");

/// The family-wise correction over the comparisons made (pairs × measures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Holm's step-down procedure.
    #[default]
    Holm,
    /// Bonferroni's: each p times the number of comparisons.
    Bonferroni,
    /// None: each comparison at `max_p` on its own (what ranx marks).
    None,
}

crate::choice::choice!(Correction => "correction");

/// What to compare and how.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Ranking measures (trec_eval's names).
    pub measures: Vec<Measure>,
    /// The test deciding significance.
    pub test: Test,
    /// Significant when the corrected p-value is at most this.
    pub max_p: f64,
    /// Rounds of Fisher's randomization test.
    pub permutations: usize,
    /// Bootstrap resamples of the queries (the intervals, and the bootstrap test).
    pub resamples: usize,
    /// The intervals' level.
    pub level: f64,
    /// Seed of the randomization test and the bootstrap.
    pub seed: u64,
    /// The correction over every comparison made.
    pub correction: Correction,
    /// Labels at or above this are relevant.
    pub rel_level: i32,
    /// Compare the runs' calibrations too (judgements in the tables only).
    pub calibration: bool,
    /// The precision whose certificates (at the query unit) the calibrations' acting queries
    /// are compared at.
    pub target_precision: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            measures: Measure::parse_list(&[ranking::DEFAULT_MEASURES.to_owned()]).unwrap_or_default(),
            test: Test::Student,
            max_p: 0.01,
            permutations: 10_000,
            resamples: 2_000,
            level: 0.95,
            seed: 42,
            correction: Correction::Holm,
            rel_level: crate::labels::DEFAULT_REL_LEVEL,
            calibration: true,
            target_precision: crate::calibrate::FitOptions::default().target_precision.first().copied().unwrap_or(0.9),
        }
    }
}

impl CompareOptions {
    /// Refuses options no comparison can take, before any work.
    pub fn check(&self) -> Result<()> {
        if self.measures.is_empty() {
            return Err(Error::Invalid("no ranking measure asked for".into()));
        }
        self.check_tests()
    }

    /// [`CompareOptions::check`] but for the measures (per-query values name their own).
    pub fn check_tests(&self) -> Result<()> {
        if !(self.max_p > 0.0 && self.max_p < 1.0) {
            return Err(Error::Invalid(format!("`max_p` {}: expected a value inside (0, 1)", self.max_p)));
        }
        if self.permutations == 0 {
            return Err(Error::Invalid("`permutations`: at least 1 is needed".into()));
        }
        if self.resamples == 0 {
            return Err(Error::Invalid("`resamples`: at least 1 is needed".into()));
        }
        if self.resamples > MAX_ROUNDS || self.permutations > MAX_ROUNDS {
            return Err(Error::Invalid(format!("`permutations` and `resamples` take at most {MAX_ROUNDS}")));
        }
        if !(self.target_precision > 0.0 && self.target_precision <= 1.0) {
            return Err(Error::Invalid(format!("target precision {} is outside (0, 1]", self.target_precision)));
        }
        paired::check_level(self.level)
    }
}

/// One run's values on the paired queries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunValues {
    /// The run's name (its table's model; the file's stem where two runs share a model).
    pub name: String,
    /// Where it was read from (empty when given in memory).
    pub path: String,
    /// Its letter in the table's superscripts (a, b, …).
    pub letter: char,
    /// Each measure's value over the paired queries, formed as trec_eval forms it.
    pub values: Vec<f64>,
    /// Paired queries this run did not have (or judge), measured on an empty ranking.
    pub filled: usize,
    /// Per measure, per paired query, the value (queries in [`Comparison::queries`]' order).
    #[serde(skip)]
    pub per_query: Vec<Vec<f64>>,
}

/// One pair of runs on one measure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairTest {
    /// The first run (its index).
    pub a: usize,
    /// The second run.
    pub b: usize,
    /// The measure.
    pub measure: String,
    /// Mean of the per-query differences a − b.
    pub difference: f64,
    /// Its paired percentile bootstrap interval (queries resampled).
    pub interval: [f64; 2],
    /// The test's statistic (t; |mean difference| for the randomization and bootstrap tests;
    /// Tukey's q).
    pub statistic: f64,
    /// The test's p-value.
    pub p: f64,
    /// The p-value corrected over every comparison made.
    pub p_corrected: f64,
    /// Whether `p_corrected` is at most `max_p`.
    pub significant: bool,
    /// Queries where a is above b.
    pub wins: usize,
    /// Queries where they are equal.
    pub ties: usize,
    /// Queries where a is below b.
    pub losses: usize,
}

/// A comparison of runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Where the judgements came from: `qrels` or `tables`.
    pub judgements: String,
    /// How a query a run lacks was counted.
    pub pairing: String,
    /// The paired queries' ids, sorted.
    #[serde(skip)]
    pub queries: Vec<String>,
    /// How many queries are paired.
    pub paired_queries: usize,
    /// The measures, in the order asked for.
    pub measures: Vec<String>,
    /// The runs.
    pub runs: Vec<RunValues>,
    /// The test.
    pub test: Test,
    /// The correction.
    pub correction: Correction,
    /// The significance level.
    pub max_p: f64,
    /// Rounds of the randomization test.
    pub permutations: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// The intervals' level.
    pub level: f64,
    /// The seed.
    pub seed: u64,
    /// Every pair (a before b, in the runs' order) on every measure, by measure then pair.
    pub pairs: Vec<PairTest>,
    /// The runs' calibrations compared.
    pub calibration: Option<calibration::CalibrationComparison>,
    /// Things worth knowing: tables that judge a shared query differently, rounds too few for
    /// any comparison to be significant after the correction.
    pub notes: Vec<String>,
}

impl Comparison {
    /// The runs `run` beats significantly on measure `m` (their indices): ranx's superscripts.
    pub fn beats(&self, run: usize, m: usize) -> Vec<usize> {
        let name = self.measures.get(m);
        let mut out: Vec<usize> = self
            .pairs
            .iter()
            .filter(|t| Some(&t.measure) == name && t.significant)
            .filter_map(|t| match (t.a == run, t.b == run) {
                (true, _) if t.difference > 0.0 => Some(t.b),
                (_, true) if t.difference < 0.0 => Some(t.a),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// The superscript letters of the runs `run` beats significantly on measure `m`.
    pub fn marks(&self, run: usize, m: usize) -> String {
        self.beats(run, m).iter().filter_map(|&j| self.runs.get(j)).map(|o| superscript(o.letter)).collect()
    }

    /// The JSON document `simcal compare --json` prints: the comparison, with each run's values
    /// by measure name.
    pub fn document(&self) -> serde_json::Value {
        let mut doc = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = doc.as_object_mut() {
            o.insert("schema_version".into(), COMPARE_VERSION.into());
            o.insert("command".into(), "compare".into());
            let runs: Vec<serde_json::Value> = self
                .runs
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    let by_name: serde_json::Map<String, serde_json::Value> =
                        self.measures.iter().cloned().zip(r.values.iter().map(|&x| serde_json::json!(x))).collect();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("values".into(), by_name.into());
                        o.insert("letter".into(), r.letter.to_string().into());
                    }
                    v
                })
                .collect();
            o.insert("runs".into(), runs.into());
        }
        doc
    }
}

/// ranx's superscript of a run's letter.
pub fn superscript(letter: char) -> char {
    const SUP: [char; 26] =
        ['ᵃ', 'ᵇ', 'ᶜ', 'ᵈ', 'ᵉ', 'ᶠ', 'ᵍ', 'ʰ', 'ⁱ', 'ʲ', 'ᵏ', 'ˡ', 'ᵐ', 'ⁿ', 'ᵒ', 'ᵖ', 'ᑫ', 'ʳ', 'ˢ', 'ᵗ', 'ᵘ', 'ᵛ', 'ʷ', 'ˣ', 'ʸ', 'ᶻ'];
    let i = (letter as u32).wrapping_sub('a' as u32) as usize;
    SUP.get(i).copied().unwrap_or(letter)
}

/// The most rounds of the randomization test, and resamples of the bootstrap.
pub const MAX_ROUNDS: usize = 10_000_000;

/// The most runs one comparison takes (each gets a letter).
pub const MAX_RUNS: usize = 26;

/// A run given in memory: its name and each query's values of the measures compared.
#[derive(Clone, Debug)]
pub struct QueryValues {
    /// The run's name.
    pub name: String,
    /// Where it came from (empty: memory).
    pub path: String,
    /// Per query id, one value per measure.
    pub values: BTreeMap<String, Vec<f64>>,
}

/// Compares runs given as per-query values (`evaluate`'s per-query output, say): the queries
/// compared are those every run has (a query missing from one is an error here, since no
/// empty ranking can be measured from values alone). `aggregates` forms each measure's value
/// over the queries (None: means).
pub fn compare_values(
    runs: &[QueryValues],
    measures: &[String],
    aggregates: Option<&[Aggregate]>,
    opts: &CompareOptions,
) -> Result<Comparison> {
    check_runs(runs.len())?;
    let Some(first) = runs.first() else { return Err(Error::Invalid("no runs to compare".into())) };
    let queries: Vec<String> = first.values.keys().cloned().collect();
    for r in runs {
        // A query one of the two lacks (their symmetric difference).
        if let Some(q) = r.values.keys().chain(&queries).find(|q| !(first.values.contains_key(*q) && r.values.contains_key(*q))) {
            return Err(Error::Invalid(format!(
                "run {:?} and run {:?} differ on query {q:?}: per-query values are compared on the same queries (give tables and qrels to fill missing queries)",
                first.name, r.name
            )));
        }
        if let Some((q, v)) = r.values.iter().find(|(_, v)| v.len() != measures.len()) {
            return Err(Error::Invalid(format!("run {:?}, query {q:?}: {} values for {} measures", r.name, v.len(), measures.len())));
        }
    }
    let per_run: Vec<RunValues> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| RunValues {
            name: r.name.clone(),
            path: r.path.clone(),
            letter: letter(i),
            values: Vec::new(),
            filled: 0,
            per_query: (0..measures.len())
                .map(|m| queries.iter().map(|q| r.values.get(q).and_then(|v| v.get(m)).copied().unwrap_or(f64::NAN)).collect())
                .collect(),
        })
        .collect();
    let aggregates: Vec<Aggregate> = aggregates.map_or_else(|| vec![Aggregate::Mean; measures.len()], <[Aggregate]>::to_vec);
    finish(per_run, queries, measures.to_vec(), &aggregates, "values".into(), "the queries every run has".into(), opts)
}

fn letter(i: usize) -> char {
    char::from(b'a' + (i % MAX_RUNS) as u8)
}

fn check_runs(n: usize) -> Result<()> {
    if n < 2 {
        return Err(Error::Invalid(format!("comparing needs 2 runs at least, not {n}")));
    }
    if n > MAX_RUNS {
        return Err(Error::Invalid(format!("{n} runs: one comparison takes {MAX_RUNS} at most")));
    }
    Ok(())
}

/// `simcal compare`: reads the score tables (or TREC runs) at `scores` and the judgements at
/// `qrels` (None: each table's labels), pairs the queries and compares every pair of runs, and
/// (with `calibration`) their calibrations.
pub fn compare_files(scores: &[PathBuf], qrels: Option<&Path>, opts: &CompareOptions) -> Result<Comparison> {
    opts.check()?;
    check_runs(scores.len())?;
    let qrels = qrels.map(crate::labels::read_qrels).transpose()?;
    let cols = ["query_id", "doc_id", "score", "label", "query_relevant", "rank"];
    let tables: Vec<crate::table::ScoreTable> = scores.iter().map(|p| crate::metrics::read_scores(p, &cols)).collect::<Result<_>>()?;
    let mut cmp = compare_tables(&tables.iter().zip(scores).map(|(t, p)| (t, p.as_path())).collect::<Vec<_>>(), qrels.as_ref(), opts)?;
    if opts.calibration {
        // With qrels, each table is labeled from them, as `simcal fit --qrels` labels it.
        let relabeled: Vec<crate::table::ScoreTable> = match &qrels {
            Some(q) => tables.iter().zip(scores).map(|(t, p)| crate::table::relabel(t, p, q, opts.rel_level)).collect::<Result<_>>()?,
            None => Vec::new(),
        };
        let given = if qrels.is_some() { &relabeled } else { &tables };
        cmp.calibration = calibration::compare(&given.iter().zip(scores).map(|(t, p)| (t, p.as_path())).collect::<Vec<_>>(), opts)?;
    }
    Ok(cmp)
}

/// The runs' names: each table's model, or where two share one, the file's stem (and its
/// position where those are alike too).
fn run_names(tables: &[(&crate::table::ScoreTable, &Path)]) -> Vec<String> {
    let models: Vec<String> = tables.iter().map(|(t, _)| t.meta.model.clone()).collect();
    let unique = |v: &[String]| v.iter().enumerate().all(|(i, x)| !v.iter().take(i).any(|y| y == x));
    if unique(&models) && models.iter().all(|m| !m.is_empty()) {
        return models;
    }
    let stems: Vec<String> =
        tables.iter().map(|(_, p)| p.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned())).collect();
    if unique(&stems) {
        return stems;
    }
    stems.iter().enumerate().map(|(i, s)| format!("{s}#{}", i + 1)).collect()
}

/// Compares score tables in memory (each with its path), judged by `qrels` or their own labels.
// Long: the pairing of the runs' judged queries (filling the ones a run lacks) in one pass, then
// the measures of each run on them.
pub fn compare_tables(tables: &[(&crate::table::ScoreTable, &Path)], qrels: Option<&Qrels>, opts: &CompareOptions) -> Result<Comparison> {
    opts.check()?;
    check_runs(tables.len())?;
    let names = run_names(tables);
    // Each run's judged queries (with qrels, the judged queries it lacks as empty rankings).
    let mut all: Vec<Vec<(String, QueryRun)>> = Vec::new();
    let mut lacked: Vec<usize> = Vec::new();
    for (table, path) in tables {
        let view = crate::table::TableView::new(table, path)?;
        if qrels.is_none() {
            view.check_relevant_level(opts.rel_level)?;
        }
        let cols = runs::Columns::of(&view)?;
        let queries = runs::query_rows(&cols);
        let (judged, missing) = runs::runs(&cols, path, &queries, qrels, opts.rel_level, runs::Cut::default())?;
        lacked.push(missing.len());
        all.push(judged.into_iter().chain(missing).collect());
    }
    let mut by_id: Vec<BTreeMap<&str, &QueryRun>> = all.iter().map(|r| r.iter().map(|(id, q)| (id.as_str(), q)).collect()).collect();
    let ids: std::collections::BTreeSet<&str> = by_id.iter().flat_map(|m| m.keys().copied()).collect();
    if ids.is_empty() {
        return Err(Error::Invalid("no query is judged in any run: nothing to compare".into()));
    }
    // A query a run did not judge: an empty ranking, judged as the first run that did.
    let mut empties: Vec<(usize, &str, QueryRun)> = Vec::new();
    // Queries two tables judge differently (their own labels: without qrels): another count of
    // relevant documents or another ideal ordering. (The judged non-relevant documents a table
    // counts are those it retrieved, which differ between runs by nature.)
    let disagree = ids
        .iter()
        .filter(|id| {
            let judged: Vec<&QueryRun> = by_id.iter().filter_map(|m| m.get(**id).copied()).collect();
            judged.windows(2).any(|w| w.first().zip(w.get(1)).is_some_and(|(x, y)| (x.num_rel, &x.ideal) != (y.num_rel, &y.ideal)))
        })
        .count();
    for (r, m) in by_id.iter().enumerate() {
        for &id in ids.iter().filter(|id| !m.contains_key(**id)) {
            if let Some(q) = by_id.iter().find_map(|o| o.get(id)) {
                empties.push((r, id, QueryRun { rels: Vec::new(), ..(*q).clone() }));
            }
        }
    }
    for (r, id, q) in &empties {
        if let Some(m) = by_id.get_mut(*r) {
            m.insert(id, q);
        }
    }
    let queries: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    let mut per_run = Vec::new();
    for (i, m) in by_id.iter().enumerate() {
        let ordered: Vec<(String, QueryRun)> = m.iter().map(|(id, q)| ((*id).to_owned(), (*q).clone())).collect();
        let refs: Vec<&(String, QueryRun)> = ordered.iter().collect();
        let res = ranking::evaluate(&refs, &[], &opts.measures, opts.rel_level, false);
        let per_query =
            (0..opts.measures.len()).map(|j| res.per_query.iter().map(|(_, v)| v.get(j).copied().unwrap_or(f64::NAN)).collect()).collect();
        per_run.push(RunValues {
            name: names.get(i).cloned().unwrap_or_default(),
            path: tables.get(i).map(|(_, p)| p.display().to_string()).unwrap_or_default(),
            letter: letter(i),
            values: Vec::new(),
            filled: empties.iter().filter(|(r, _, _)| *r == i).count() + lacked.get(i).copied().unwrap_or(0),
            per_query,
        });
    }
    let measures: Vec<String> = opts.measures.iter().map(Measure::name).collect();
    let aggregates: Vec<Aggregate> = opts.measures.iter().map(Measure::aggregate).collect();
    let (judgements, pairing) = match qrels {
        Some(q) => (
            "qrels".to_owned(),
            format!("every query judged in {} (a query a run lacks is an empty ranking, as ranx's make_comparable)", q.path.display()),
        ),
        None => (
            "tables".to_owned(),
            "every query some table judged (a run lacking one is an empty ranking, judged as the first table that has it)".to_owned(),
        ),
    };
    let mut c = finish(per_run, queries, measures, &aggregates, judgements, pairing, opts)?;
    if disagree > 0 {
        c.notes.push(format!(
            "{} judged differently by the tables (another number of relevant documents, or other relevance grades): their differences mix judgements with rankings; give `qrels` to judge every run alike",
            crate::words::count(disagree, "query is", "queries are")
        ));
    }
    Ok(c)
}

/// The tests of every pair on every measure, from the runs' per-query values.
// Long: the bootstrap, the tests and the correction over all comparisons, in that order.
#[expect(clippy::indexing_slicing, reason = "run, measure and query positions are those of the values built above")]
fn finish(
    mut runs: Vec<RunValues>,
    queries: Vec<String>,
    measures: Vec<String>,
    aggregates: &[Aggregate],
    judgements: String,
    pairing: String,
    opts: &CompareOptions,
) -> Result<Comparison> {
    opts.check_tests()?;
    if measures.is_empty() {
        return Err(Error::Invalid("no measure to compare".into()));
    }
    let n = queries.len();
    let m = measures.len();
    for r in &mut runs {
        if let Some(j) = r.per_query.iter().position(|v| v.iter().any(|x| !x.is_finite())) {
            return Err(Error::Invalid(format!("run {:?}: a value of {} is not finite", r.name, measures[j])));
        }
        r.values = r.per_query.iter().zip(aggregates).map(|(v, a)| a.of(v.iter().copied())).collect();
    }
    let k = runs.len();
    // What is tested per query: the values, or for a geometric mean (gm_*) their logarithms
    // (floored as trec_eval floors them), so that the test and the mark agree with the value.
    let tested: Vec<Vec<Vec<f64>>> = runs
        .iter()
        .map(|r| {
            r.per_query
                .iter()
                .zip(aggregates)
                .map(|(v, a)| if *a == Aggregate::Geometric { v.iter().map(|x| x.max(GEOMETRIC_FLOOR).ln()).collect() } else { v.clone() })
                .collect()
        })
        .collect();
    // The bootstrap: every run's every measure over shared resamples of the queries.
    let columns = k * m;
    let mut rows = vec![0.0; n * columns];
    for (r, run) in tested.iter().enumerate() {
        for (j, v) in run.iter().enumerate() {
            for (q, &x) in v.iter().enumerate() {
                rows[q * columns + r * m + j] = x;
            }
        }
    }
    let means = paired::bootstrap_means(&rows, columns, opts.resamples, opts.seed);
    let pairs_ij: Vec<(usize, usize)> = (0..k).flat_map(|a| (a + 1..k).map(move |b| (a, b))).collect();
    let mut tests = Vec::new();
    let tukey: Option<Vec<Vec<Vec<TestResult>>>> = (opts.test == Test::Tukey)
        .then(|| {
            (0..m)
                .map(|j| crate::stats::tukey::tukey_hsd(&tested.iter().map(|r| r[j].as_slice()).collect::<Vec<_>>()))
                .collect::<Result<_>>()
        })
        .transpose()?;
    let mut fisher: BTreeMap<(usize, usize), Vec<TestResult>> = BTreeMap::new();
    if opts.test == Test::Fisher {
        for &(a, b) in &pairs_ij {
            let d: Vec<Vec<f64>> = (0..m).map(|j| tested[a][j].iter().zip(&tested[b][j]).map(|(x, y)| x - y).collect()).collect();
            let refs: Vec<&[f64]> = d.iter().map(Vec::as_slice).collect();
            fisher.insert((a, b), paired::fisher_differences(&refs, opts.permutations, opts.seed)?);
        }
    }
    for j in 0..m {
        for &(a, b) in &pairs_ij {
            let (xa, xb) = (&tested[a][j], &tested[b][j]);
            let d: Vec<f64> = xa.iter().zip(xb).map(|(x, y)| x - y).collect();
            let difference = if n == 0 { f64::NAN } else { d.iter().sum::<f64>() / n as f64 };
            let mut boot: Vec<f64> = (0..opts.resamples).map(|s| means[s * columns + a * m + j] - means[s * columns + b * m + j]).collect();
            let test = match opts.test {
                Test::Student => paired::student(xa, xb)?,
                Test::Fisher => {
                    fisher.get(&(a, b)).and_then(|v| v.get(j)).copied().unwrap_or(TestResult { statistic: f64::NAN, p: f64::NAN })
                }
                Test::Tukey => tukey.as_ref().map_or(TestResult { statistic: f64::NAN, p: f64::NAN }, |t| t[j][a][b]),
                Test::Bootstrap => TestResult { statistic: difference.abs(), p: paired::bootstrap_p(&boot, difference) },
            };
            boot.sort_by(f64::total_cmp);
            let interval = if n == 0 { [f64::NAN, f64::NAN] } else { paired::percentile_interval(&boot, opts.level) };
            tests.push(PairTest {
                a,
                b,
                measure: measures[j].clone(),
                difference,
                interval,
                statistic: test.statistic,
                p: test.p,
                p_corrected: f64::NAN,
                significant: false,
                wins: d.iter().filter(|&&x| x > 0.0).count(),
                ties: d.iter().filter(|&&x| x == 0.0).count(),
                losses: d.iter().filter(|&&x| x < 0.0).count(),
            });
        }
    }
    let p: Vec<f64> = tests.iter().map(|t| t.p).collect();
    // Tukey's p-values are family-wise over the pairs of a measure already: the correction
    // then spans the measures only (Bonferroni over them, whichever is asked for).
    let corrected = match (opts.test, opts.correction) {
        (_, Correction::None) => p,
        (Test::Tukey, _) => p.iter().map(|v| if v.is_nan() { f64::NAN } else { (v * m as f64).min(1.0) }).collect(),
        (_, Correction::Holm) => paired::holm(&p),
        (_, Correction::Bonferroni) => paired::bonferroni(&p),
    };
    for (t, c) in tests.iter_mut().zip(corrected) {
        t.p_corrected = c;
        t.significant = c <= opts.max_p;
    }
    let mut notes = Vec::new();
    // A Monte Carlo p-value is at least one over its rounds (the bootstrap's), or zero (Fisher's):
    // too few rounds and no p but zero can pass the correction's first step.
    let family = tests.iter().filter(|t| !t.p.is_nan()).count().max(1) as f64;
    let first_step = match (opts.test, opts.correction) {
        (_, Correction::None) => opts.max_p,
        (Test::Tukey, _) => opts.max_p / m as f64,
        _ => opts.max_p / family,
    };
    let rounds = match opts.test {
        Test::Fisher => Some(opts.permutations),
        Test::Bootstrap => Some(opts.resamples),
        _ => None,
    };
    if let Some(r) = rounds.filter(|&r| 1.0 / (r as f64 + 1.0) > first_step) {
        notes.push(format!(
            "{r} rounds resolve p-values down to about 1/{r}, above the {first_step:.2e} the correction asks of the smallest: raise `permutations` or `resamples`"
        ));
    }
    Ok(Comparison {
        judgements,
        pairing,
        paired_queries: n,
        queries,
        measures,
        runs,
        test: opts.test,
        correction: opts.correction,
        max_p: opts.max_p,
        permutations: opts.permutations,
        resamples: opts.resamples,
        level: opts.level,
        seed: opts.seed,
        pairs: tests,
        calibration: None,
        notes,
    })
}

/// Pads `s` to `w` characters (not bytes: superscripts are one character of several bytes).
fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(s.chars().count()));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// Rows of cells as aligned text: the first `left` columns to the left, the rest to the right.
fn aligned(rows: &[Vec<String>], left: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|r| {
            r.iter().zip(&widths).enumerate().map(|(c, (s, &w))| pad(s, w, c >= left)).collect::<Vec<_>>().join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Comparison {
    /// How significance was decided, in words: the test, the correction, the level.
    pub fn method_text(&self) -> String {
        use crate::words::{count, num};
        let test = match self.test {
            Test::Student => "paired Student's t-test (two-sided)".to_owned(),
            Test::Fisher => format!("Fisher's randomization test ({} rounds, seed {})", num(self.permutations as u64), self.seed),
            Test::Tukey => "Tukey's HSD (family-wise over the pairs)".to_owned(),
            Test::Bootstrap => format!("paired bootstrap test ({} resamples, seed {})", num(self.resamples as u64), self.seed),
        };
        let family = match (self.test, self.correction) {
            (_, Correction::None) => "no correction".to_owned(),
            (Test::Tukey, _) => format!("Bonferroni over {}", count(self.measures.len(), "measure", "measures")),
            (_, k) => format!("{} over {}", crate::choice::Choice::name(k), count(self.pairs.len(), "comparison", "comparisons")),
        };
        format!("{test}, {family}, significant at p ≤ {}", self.max_p)
    }

    /// ranx's table: each run's value of each measure, marked with the letters of the runs it
    /// beats significantly (after the correction).
    pub fn table(&self) -> String {
        let mut rows = vec![std::iter::once("#".to_owned())
            .chain(std::iter::once("run".to_owned()))
            .chain(self.measures.iter().cloned())
            .collect::<Vec<_>>()];
        for (i, r) in self.runs.iter().enumerate() {
            let mut row = vec![r.letter.to_string(), r.name.clone()];
            for (m, v) in r.values.iter().enumerate() {
                row.push(format!("{v:.4}{}", self.marks(i, m)));
            }
            rows.push(row);
        }
        aligned(&rows, 2)
    }

    /// Every pair on every measure: the mean difference with its interval, the p-values, whether
    /// significant, and the wins, ties and losses.
    pub fn pairs_table(&self) -> String {
        let pct = (self.level * 100.0).round();
        let mut rows = vec![vec![
            "pair".to_owned(),
            "measure".to_owned(),
            "difference".to_owned(),
            format!("{pct}% interval"),
            "p".to_owned(),
            format!("p ({})", crate::choice::Choice::name(self.correction)),
            "significant".to_owned(),
            "wins/ties/losses".to_owned(),
        ]];
        for t in &self.pairs {
            let name = |i: usize| self.runs.get(i).map_or_else(String::new, |r| r.name.clone());
            rows.push(vec![
                format!("{} − {}", name(t.a), name(t.b)),
                t.measure.clone(),
                format!("{:+.4}", t.difference),
                format!("[{:+.4}, {:+.4}]", t.interval[0], t.interval[1]),
                p_text(t.p),
                p_text(t.p_corrected),
                if t.significant { "yes" } else { "no" }.to_owned(),
                format!("{}/{}/{}", t.wins, t.ties, t.losses),
            ]);
        }
        aligned(&rows, 2)
    }
}

/// A p-value in the tables: 4 decimals, or scientific below 0.001.
pub fn p_text(p: f64) -> String {
    if p.is_nan() {
        "n/a".to_owned()
    } else if p != 0.0 && p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}
