//! Score histograms that merge: relevant and irrelevant pair counts over one fixed grid of
//! score bins, per group, so that tables scored apart (query batches, nights, machines) sum
//! into the histogram of all their pairs, and a calibration is fitted from the sums when the
//! pairs are too many for one machine.
//!
//! The grid: a bin is the top [`BITS`] bits of a score's order-preserving float32 key, so bins
//! have a relative width of 2⁻¹⁵ (1.5e-5 for scores in [0.5, 1), 7.6e-6 in [0.25, 0.5), …) and
//! cover every float32 alike, cosine or dot. Only non-empty bins are stored. A bin stands for
//! its smallest score: "score ≥ that value" admits exactly the bin and those above it, so
//! precision and recall at a bin edge are exact, and a threshold fitted from histograms is
//! within one bin of the one fitted from the pairs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::distinct::{key, unkey, Distinct};
use super::pairs;
use crate::error::{Error, Result};
use crate::table::{ScoreTable, TableView};

/// Bits of the float32 key that name a bin.
pub const BITS: u32 = 24;
/// Histogram file schema version.
pub const HISTOGRAM_VERSION: u32 = 1;

/// Relevant and irrelevant counts per bin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Non-empty bins ascending: (bin, relevant, irrelevant).
    pub bins: Vec<(u32, u64, u64)>,
}

impl Histogram {
    fn from_keys(pos: impl Iterator<Item = u32>, neg: impl Iterator<Item = u32>) -> Histogram {
        let mut m: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for k in pos {
            m.entry(k >> (32 - BITS)).or_default().0 += 1;
        }
        for k in neg {
            m.entry(k >> (32 - BITS)).or_default().1 += 1;
        }
        Histogram { bins: m.into_iter().map(|(b, (p, n))| (b, p, n)).collect() }
    }

    /// Adds `other`'s counts (None: a count would pass 2⁶⁴ − 1).
    pub fn add(&mut self, other: &Histogram) -> Option<()> {
        let mut m: BTreeMap<u32, (u64, u64)> = self.bins.iter().map(|&(b, p, n)| (b, (p, n))).collect();
        for &(b, p, n) in &other.bins {
            let e = m.entry(b).or_default();
            e.0 = e.0.checked_add(p)?;
            e.1 = e.1.checked_add(n)?;
        }
        self.bins = m.into_iter().map(|(b, (p, n))| (b, p, n)).collect();
        Some(())
    }

    /// Why these bins are not ones simcal writes, if they are not: each bin on the grid, at a
    /// finite score, above the one before, not empty, and all counts summing without overflow.
    fn invalid(&self) -> Option<String> {
        let mut total: u64 = 0;
        for (i, &(b, p, n)) in self.bins.iter().enumerate() {
            let at = |m: &str| Some(format!("bin {i} ({b}): {m}"));
            if b >> BITS != 0 {
                return at(&format!("not a bin of the {BITS}-bit grid"));
            }
            if !edge(b).is_finite() {
                return at("not a finite score");
            }
            if i > 0 && self.bins.get(i - 1).is_some_and(|prev| prev.0 >= b) {
                return at("bins are not in ascending order");
            }
            if p == 0 && n == 0 {
                return at("an empty bin (empty bins are not stored)");
            }
            match p.checked_add(n).and_then(|c| total.checked_add(c)) {
                Some(t) => total = t,
                None => return at("the counts overflow (more than 2⁶⁴ − 1 pairs)"),
            }
        }
        None
    }

    /// The distinct-score table of the binned pairs: each bin at its smallest score.
    pub fn distinct(&self) -> Distinct {
        Distinct {
            x: self.bins.iter().map(|&(b, _, _)| f64::from(edge(b))).collect(),
            pos: self.bins.iter().map(|b| b.1).collect(),
            neg: self.bins.iter().map(|b| b.2).collect(),
        }
    }
}

/// The smallest score of bin `b`.
pub fn edge(b: u32) -> f32 {
    unkey(b << (32 - BITS))
}

/// One group's histogram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupHistogram {
    /// `section=admin`.
    pub key: String,
    /// The group's column values.
    pub values: BTreeMap<String, String>,
    /// Its counts.
    pub histogram: Histogram,
}

/// Where a histogram's pairs came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The score table.
    pub path: PathBuf,
    /// Its sha256.
    pub sha256: String,
    /// Its rows.
    pub rows: u64,
}

/// A histogram file: the whole table's and each group's counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// [`HISTOGRAM_VERSION`].
    pub schema_version: u32,
    /// Key bits per bin ([`BITS`]).
    pub bits: u32,
    /// The tables' model, metric and k.
    pub model: String,
    /// Metric.
    pub metric: String,
    /// Hits per query.
    pub k: usize,
    /// Labels at or above this counted as relevant.
    pub rel_level: i32,
    /// Group columns.
    pub group_by: Vec<String>,
    /// The tables summed in.
    pub sources: Vec<Source>,
    /// All labeled pairs.
    pub global: Histogram,
    /// Per group.
    pub groups: Vec<GroupHistogram>,
}

impl Histograms {
    /// Counts the labeled pairs of `table` (read from `path`).
    pub fn from_table(table: &ScoreTable, path: &Path, rel_level: i32, group_by: &[String]) -> Result<Histograms> {
        let view = TableView::new(table, path)?;
        crate::table::check_documents_once(table, path)?;
        let (pos, neg) = pairs::class_keys(&view, rel_level)?;
        let global = Histogram::from_keys(pos.into_iter(), neg.into_iter());
        let mut groups = Vec::new();
        if !group_by.is_empty() {
            let labeled = pairs::labeled_pairs(&view, rel_level, group_by, None, None)?;
            for (k, values, idx) in labeled.groups() {
                let pair = |&i: &usize| Some((*labeled.relevant.get(i)?, key(*labeled.scores.get(i)?)));
                let p = idx.iter().filter_map(pair).filter(|&(r, _)| r).map(|(_, k)| k);
                let n = idx.iter().filter_map(pair).filter(|&(r, _)| !r).map(|(_, k)| k);
                groups.push(GroupHistogram { key: k, values, histogram: Histogram::from_keys(p, n) });
            }
        }
        Ok(Histograms {
            schema_version: HISTOGRAM_VERSION,
            bits: BITS,
            model: table.meta.model.clone(),
            metric: table.meta.metric.clone(),
            k: table.meta.k,
            rel_level,
            group_by: group_by.to_vec(),
            sources: vec![Source { path: path.to_path_buf(), sha256: crate::table::sha256_file(path)?, rows: table.len() as u64 }],
            global,
            groups,
        })
    }

    /// Adds `other` (read from `path`), refusing one of another model, metric, k, grid, relevance
    /// level or grouping, or a table already summed in.
    pub fn add(&mut self, other: &Histograms, path: &Path) -> Result<()> {
        let same = [
            ("model", self.model.clone(), other.model.clone()),
            ("metric", self.metric.clone(), other.metric.clone()),
            ("k", self.k.to_string(), other.k.to_string()),
            ("bits", self.bits.to_string(), other.bits.to_string()),
            ("rel_level", self.rel_level.to_string(), other.rel_level.to_string()),
            ("group_by", self.group_by.join(","), other.group_by.join(",")),
        ];
        for (what, a, b) in same {
            if a != b {
                return Err(Error::format(path, format!("{what} {b:?} differs from the other histograms' {a:?}")));
            }
        }
        if let Some(s) = other.sources.iter().find(|s| self.sources.iter().any(|t| t.sha256 == s.sha256)) {
            return Err(Error::format(path, format!("table {} (sha256 {}) is already summed in", s.path.display(), s.sha256)));
        }
        self.sources.extend(other.sources.iter().cloned());
        let overflow = || Error::format(path, "the summed counts overflow (more than 2⁶⁴ − 1 pairs in a bin)");
        self.global.add(&other.global).ok_or_else(overflow)?;
        for g in &other.groups {
            match self.groups.iter_mut().find(|h| h.key == g.key) {
                Some(h) => h.histogram.add(&g.histogram).ok_or_else(overflow)?,
                None => self.groups.push(g.clone()),
            }
        }
        self.groups.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(())
    }

    /// Labeled pairs counted.
    pub fn pairs(&self) -> (u64, u64) {
        self.global.bins.iter().fold((0, 0), |(p, n), b| (p + b.1, n + b.2))
    }

    /// What these histograms hold, in counts: the `--json` document of `simcal hist` (the front
    /// ends add where they wrote it).
    pub fn summary(&self) -> HistSummary {
        let (relevant, irrelevant) = self.pairs();
        HistSummary {
            bins: self.global.bins.len(),
            bits: BITS,
            relevant,
            irrelevant,
            groups: self.groups.len(),
            sources: self.sources.len(),
        }
    }

    /// Reads a histogram file, refusing an unknown version or grid.
    pub fn read(path: &Path) -> Result<Histograms> {
        let text = crate::text::read_text(path)?;
        let h: Histograms = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not a simcal histogram file: {}", crate::error::foreign_text(e))))?;
        if h.schema_version != HISTOGRAM_VERSION || h.bits != BITS {
            return Err(Error::format(
                path,
                format!("histogram version {} with {} bits is not one this simcal reads", h.schema_version, h.bits),
            ));
        }
        let mut keys = std::collections::HashSet::new();
        for (name, hist) in
            std::iter::once(("the global histogram", &h.global)).chain(h.groups.iter().map(|g| (g.key.as_str(), &g.histogram)))
        {
            if let Some(why) = hist.invalid() {
                return Err(Error::format(path, format!("{name}: {why}")));
            }
        }
        if let Some(g) = h.groups.iter().find(|g| !keys.insert(g.key.as_str())) {
            return Err(Error::format(path, format!("group {:?} is listed twice", g.key)));
        }
        if let Some(why) = h.groups_disagree() {
            return Err(Error::format(path, why));
        }
        Ok(h)
    }

    /// Why the groups' histograms are not a split of the global one, if they are not: every
    /// labeled pair is in one group, so the groups' counts in each bin sum to the global count.
    fn groups_disagree(&self) -> Option<String> {
        if self.groups.is_empty() {
            return None;
        }
        let mut sum: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for g in &self.groups {
            for &(b, p, n) in &g.histogram.bins {
                let c = sum.entry(b).or_default();
                match (c.0.checked_add(p), c.1.checked_add(n)) {
                    (Some(p), Some(n)) => *c = (p, n),
                    _ => return Some(format!("the groups' counts in bin {b} overflow (more than 2⁶⁴ − 1 pairs)")),
                }
            }
        }
        let global: BTreeMap<u32, (u64, u64)> = self.global.bins.iter().map(|&(b, p, n)| (b, (p, n))).collect();
        let bins: std::collections::BTreeSet<u32> = sum.keys().chain(global.keys()).copied().collect();
        bins.into_iter().find_map(|b| {
            let (g, s) = (global.get(&b).copied().unwrap_or_default(), sum.get(&b).copied().unwrap_or_default());
            (g != s).then(|| {
                format!(
                    "bin {b} ({}): the groups count {} relevant and {} other pairs, the global histogram {} and {} (each labeled pair is in one group)",
                    edge(b),
                    s.0,
                    s.1,
                    g.0,
                    g.1
                )
            })
        })
    }

    /// Reads and sums several histogram files.
    pub fn read_all(paths: &[PathBuf]) -> Result<Histograms> {
        let mut it = paths.iter();
        let first = it.next().ok_or_else(|| Error::Invalid("no histogram files".into()))?;
        let mut h = Histograms::read(first)?;
        for p in it {
            h.add(&Histograms::read(p)?, p)?;
        }
        Ok(h)
    }
}

/// What a histogram file holds, in counts.
#[derive(Clone, Debug, Serialize)]
pub struct HistSummary {
    /// Non-empty bins of the global histogram.
    pub bins: usize,
    /// The grid's bits ([`BITS`]).
    pub bits: u32,
    /// Relevant pairs counted.
    pub relevant: u64,
    /// Irrelevant pairs counted.
    pub irrelevant: u64,
    /// Groups counted apart.
    pub groups: usize,
    /// Tables summed in.
    pub sources: usize,
}

/// `simcal hist` as one stage: the histograms of the labeled table at `scores` (its score,
/// label and `group_by` columns read, nothing else), with the counts of the histogram files
/// `add` summed in (a table already in one of them is refused).
pub fn hist_files(scores: &Path, rel_level: i32, group_by: &[String], add: &[PathBuf]) -> Result<Histograms> {
    use crate::table::columns;
    let mut cols = vec![columns::SCORE, columns::LABEL];
    cols.extend(group_by.iter().map(String::as_str));
    let table = crate::table::read_table_columns(scores, Some(&cols))?;
    let mut h = Histograms::from_table(&table, scores, rel_level, group_by)?;
    for p in add {
        let mut sum = Histograms::read(p)?;
        sum.add(&h, scores)?;
        h = sum;
    }
    Ok(h)
}
