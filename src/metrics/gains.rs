//! trec_eval's gain-based measures (`ndcg`, `ndcg_rel`, `G`, `rbp`, `rbp_resid`) and the gain
//! table they share: each relevance value's gain (the value itself unless a map such as
//! `ndcg.1=3,2=9` says otherwise), sorted as trec_eval sorts it, and the ideal sequence of
//! gains walked down from the top. The relevance level does not enter any of them, as in
//! trec_eval.

use super::ranking::QueryRun;

/// One row of the gain table: a relevance value, its gain, and how many judged documents of
/// the query have that value.
#[derive(Clone, Copy, Debug)]
struct Entry {
    level: i64,
    gain: f64,
    count: u64,
}

/// A query's gain table, in trec_eval's order.
pub(crate) struct Gains {
    table: Vec<Entry>,
}

impl Gains {
    /// The table of `q` under `pairs` (`level=gain`; names that are not integers, such as
    /// rbp's `p`, are not gains): the pairs' levels first, in the order given, then every
    /// relevance value from 0 to the query's largest with its own value as gain unless a pair
    /// gave one; sorted by gain as trec_eval's C library sorts it.
    pub(crate) fn new(q: &QueryRun, pairs: &[(String, f64)]) -> Gains {
        let mut table: Vec<Entry> =
            pairs.iter().filter_map(|(name, gain)| integer(name).map(|level| Entry { level, gain: *gain, count: 0 })).collect();
        for (v, count) in levels(q) {
            match table.iter_mut().find(|e| e.level == v) {
                Some(e) => e.count = count,
                None => table.push(Entry { level: v, gain: v as f64, count }),
            }
        }
        merge_sort(&mut table);
        Gains { table }
    }

    /// The gain of a retrieved document's relevance ([`level_of`]); 0 for a level the table
    /// lacks.
    pub(crate) fn gain(&self, rel: Option<i32>) -> f64 {
        self.listed(rel).unwrap_or(0.0)
    }

    /// The gain of a retrieved document's relevance, where the table lists its level.
    fn listed(&self, rel: Option<i32>) -> Option<f64> {
        let level = level_of(rel);
        self.table.iter().find(|e| e.level == level).map(|e| e.gain)
    }

    /// The ideal sequence: from the highest gain down, each value's documents at its gain,
    /// stopping at the first gain that is not positive.
    pub(crate) fn ideal(&self) -> Vec<f64> {
        let mut out = Vec::new();
        if self.table.last().is_none_or(|e| e.gain <= 0.0) {
            return out;
        }
        for e in self.table.iter().rev().filter(|e| e.count > 0) {
            if e.gain <= 0.0 {
                break;
            }
            out.extend(std::iter::repeat_n(e.gain, e.count as usize));
        }
        out
    }

    /// Every gain, for rbp's normalisation.
    fn all(&self) -> impl Iterator<Item = f64> + '_ {
        self.table.iter().map(|e| e.gain)
    }
}

/// `name` as an integer (an optional sign, then digits), as trec_eval reads a gain's level.
fn integer(name: &str) -> Option<i64> {
    let digits = name.strip_prefix(['+', '-']).unwrap_or(name);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// How many judged documents have each relevance value 0, 1, … up to the largest, as
/// (value, count), ascending. Past [`DENSE_LEVELS`] values only those judged are listed
/// (trec_eval lists every value up to the largest, a table that relevance values in the
/// billions would not fit in memory; the values no document has change no measure unless a
/// fractional gain map reorders them).
fn levels(q: &QueryRun) -> Vec<(i64, u64)> {
    let top = q.ideal.first().copied().unwrap_or(0).max(0) as usize;
    if top == 0 && q.num_zero == 0 {
        return Vec::new();
    }
    if top < DENSE_LEVELS {
        let mut out = vec![0u64; top + 1];
        if let Some(z) = out.first_mut() {
            *z = q.num_zero;
        }
        for &v in &q.ideal {
            if let Some(c) = out.get_mut(v as usize) {
                *c += 1;
            }
        }
        return out.into_iter().enumerate().map(|(v, c)| (v as i64, c)).collect();
    }
    let mut out: Vec<(i64, u64)> = Vec::new();
    if q.num_zero > 0 {
        out.push((0, q.num_zero));
    }
    // The ideal is descending: its runs of equal values, reversed.
    let mut runs: Vec<(i64, u64)> =
        q.ideal.chunk_by(|a, b| a == b).filter_map(|r| r.first().map(|&v| (i64::from(v), r.len() as u64))).collect();
    runs.reverse();
    out.extend(runs);
    out
}

/// Relevance values up to which the gain table lists every value, as trec_eval does.
const DENSE_LEVELS: usize = 1 << 16;

/// glibc's qsort for this table: a stable top-down merge sort (left half ⌊n/2⌋) whose
/// comparison is the difference of gains truncated to an integer, so that gains less than 1
/// apart compare equal. Integer gains come out in stable ascending order; trec_eval's
/// fractional gain maps come out exactly as trec_eval orders them.
fn merge_sort(v: &mut Vec<Entry>) {
    if v.len() < 2 {
        return;
    }
    let mut right = v.split_off(v.len() / 2);
    merge_sort(v);
    merge_sort(&mut right);
    let left = std::mem::take(v);
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(a), Some(b)) = (l.peek(), r.peek()) {
        let take_left = (a.gain - b.gain) as i64 <= 0;
        v.extend(if take_left { l.next() } else { r.next() });
    }
    v.extend(l);
    v.extend(r);
}

/// DCG of the first `k` gains (rank r discounted by log2(r + 1)).
fn dcg(gains: &[f64], k: usize) -> f64 {
    gains.iter().take(k).enumerate().filter(|(_, g)| **g != 0.0).fold(0.0, |a, (i, g)| a + g / ((i + 2) as f64).log2())
}

/// nDCG over every retrieved document against the whole ideal sequence.
pub(crate) fn ndcg(q: &QueryRun, pairs: &[(String, f64)]) -> f64 {
    let g = Gains::new(q, pairs);
    let run: Vec<f64> = q.rels.iter().map(|&r| g.gain(r)).collect();
    let ideal = g.ideal();
    let best = dcg(&ideal, ideal.len());
    if best > 0.0 {
        dcg(&run, run.len()) / best
    } else {
        0.0
    }
}

/// nDCG averaged over the relevant documents: at each retrieved document of positive gain,
/// nDCG at its rank; every relevant document not retrieved counts nDCG of the whole run.
pub(crate) fn ndcg_rel(q: &QueryRun, pairs: &[(String, f64)]) -> f64 {
    let g = Gains::new(q, pairs);
    let run: Vec<f64> = q.rels.iter().map(|&r| g.gain(r)).collect();
    let ideal = g.ideal();
    let best = dcg(&ideal, ideal.len());
    if best <= 0.0 {
        return 0.0;
    }
    let (mut sum, mut found) = (0.0, 0usize);
    for (i, gain) in run.iter().enumerate() {
        if *gain > 0.0 {
            found += 1;
            sum += dcg(&run, i + 1) / dcg(&ideal, i + 1);
        }
    }
    sum += (ideal.len() as f64 - found as f64) * dcg(&run, run.len()) / best;
    if sum > 0.0 {
        sum / ideal.len() as f64
    } else {
        0.0
    }
}

/// trec_eval's G: each retrieved document's gain over log2(2 + the ideal's cost so far less
/// the run's gain so far), over the ideal's total gain.
pub(crate) fn g(q: &QueryRun, pairs: &[(String, f64)]) -> f64 {
    let gains = Gains::new(q, pairs);
    let ideal = gains.ideal();
    let total: f64 = ideal.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let (mut results, mut cost, mut sum) = (0.0, 0.0, 0.0);
    for (i, &r) in q.rels.iter().enumerate() {
        let gain = gains.gain(r);
        results += gain;
        cost += ideal.get(i).copied().unwrap_or(0.0).max(1.0);
        if gain != 0.0 {
            sum += gain / (2.0 + cost - results).log2();
        }
    }
    sum / total
}

/// The persistence `p=` among `pairs`, else 0.9.
fn persistence(pairs: &[(String, f64)]) -> f64 {
    pairs.iter().rev().find(|(n, _)| n == "p").map_or(0.9, |p| p.1)
}

/// Rank-biased precision: (1 − p) Σ gain · p^i, gains scaled into [0, 1] when any lies outside.
pub(crate) fn rbp(q: &QueryRun, pairs: &[(String, f64)]) -> f64 {
    let p = persistence(pairs);
    let gains = Gains::new(q, pairs);
    let (lo, hi) = gains.all().fold((0.0f64, 0.0f64), |(lo, hi), g| (lo.min(g), hi.max(g)));
    let scale = |g: f64| if (lo < 0.0 || hi > 1.0) && hi > lo { (g - lo) / (hi - lo) } else { g };
    let (mut sum, mut weight) = (0.0, 1.0);
    for &r in &q.rels {
        // A level absent from the table (not judged, by default) keeps gain 0.
        let gain = gains.listed(r).map_or(0.0, scale);
        sum += gain * weight;
        weight *= p;
    }
    (1.0 - p) * sum
}

/// trec_eval's level of a retrieved document's relevance (-1 not judged, -2 in the pool but
/// unjudged).
fn level_of(rel: Option<i32>) -> i64 {
    match rel {
        None => -1,
        Some(v) if v < 0 => -2,
        Some(v) => i64::from(v),
    }
}

/// rbp's residual: how much rbp could rise if every unjudged document retrieved had the
/// highest gain (0 when none is unjudged).
pub(crate) fn rbp_resid(q: &QueryRun, pairs: &[(String, f64)]) -> f64 {
    let p = persistence(pairs);
    let (mut sum, mut weight, mut unjudged) = (0.0, 1.0, 0usize);
    for r in &q.rels {
        if r.is_none_or(|v| v < 0) {
            unjudged += 1;
            sum += weight;
        }
        weight *= p;
    }
    if unjudged == 0 {
        0.0
    } else {
        weight + (1.0 - p) * sum
    }
}

/// nDCG averaged at the ranks where the ideal gain changes (trec_eval's Rndcg, as its code
/// computes it): walking the ideal down level by level, nDCG is taken at each change of gain,
/// once more at the end of the run when the ideal ran out first, and at the ideal's remaining
/// changes past the run. 0 without relevant documents (at the relevance level).
pub(crate) fn rndcg(q: &QueryRun, pairs: &[(String, f64)]) -> f64 {
    if q.num_rel == 0 {
        return 0.0;
    }
    let gains = Gains::new(q, pairs);
    let table = &gains.table;
    let gain_at = |level: Option<usize>| level.and_then(|l| table.get(l)).map_or(0.0, |e| e.gain);
    let mut level = table.len().checked_sub(1);
    let mut ideal_gain = gain_at(level);
    let mut old_ideal = ideal_gain;
    let (mut at_level, mut run_dcg, mut ideal_dcg, mut sum, mut changes) = (0u64, 0.0, 0.0, 0.0, 0u64);
    // One step of the ideal walk: the next ideal document's gain.
    let step = |level: &mut Option<usize>, at_level: &mut u64| {
        *at_level += 1;
        while let Some(l) = *level {
            if *at_level <= table.get(l).map_or(0, |e| e.count) {
                break;
            }
            *at_level = 1;
            *level = l.checked_sub(1);
        }
        gain_at(*level)
    };
    // The walk runs until the ideal's gain is no longer positive, past the run's end if need
    // be (a rank beyond the run adds no gain to it).
    let mut i = 0;
    while ideal_gain > 0.0 {
        let run_gain = q.rels.get(i).map_or(0.0, |&r| gains.gain(r));
        ideal_gain = step(&mut level, &mut at_level);
        if old_ideal != ideal_gain {
            if ideal_dcg > 0.0 {
                sum += run_dcg / ideal_dcg;
                changes += 1;
            }
            old_ideal = ideal_gain;
        }
        if run_gain != 0.0 {
            run_dcg += run_gain / ((i + 2) as f64).log2();
        }
        if ideal_gain > 0.0 {
            ideal_dcg += ideal_gain / ((i + 2) as f64).log2();
        }
        i += 1;
    }
    // The ideal ran out before the run: once more at the run's end.
    if i < q.rels.len() {
        for (j, &r) in q.rels.iter().enumerate().skip(i) {
            let g = gains.gain(r);
            if g != 0.0 {
                run_dcg += g / ((j + 2) as f64).log2();
            }
        }
        if ideal_dcg > 0.0 {
            sum += run_dcg / ideal_dcg;
            changes += 1;
        }
    }
    sum / changes as f64
}
