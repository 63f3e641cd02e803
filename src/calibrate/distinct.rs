//! Labeled pairs reduced to their distinct scores: every later step (the sweep, PAV, Newton,
//! the bootstrap) works on this table, whose size is the number of distinct scores, not pairs.
//!
//! Scores are sorted once by their f32 bit patterns, relevant and irrelevant separately: split
//! into buckets by the leading 12 bits, then each bucket sorted by an LSD radix sort on the
//! other 20 and merged into counts per distinct score, buckets in parallel.

/// Distinct scores in ascending order with how many relevant and irrelevant pairs have each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Distinct {
    /// The scores, ascending, distinct (−0 and +0 are one score).
    pub x: Vec<f64>,
    /// Relevant pairs at each score.
    pub pos: Vec<u64>,
    /// Irrelevant pairs at each score.
    pub neg: Vec<u64>,
}

/// f32 bits mapped so that unsigned order is numeric order (NaN excluded by the caller).
pub fn key(s: f32) -> u32 {
    let s = if s == 0.0 { 0.0 } else { s };
    let b = s.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// The score whose key is `k` (the inverse of [`key`]).
pub(crate) fn unkey(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7FFF_FFFF } else { !k })
}

/// Bits of the leading digit, by which keys are first partitioned into buckets.
const TOP_BITS: u32 = 12;
/// Bits below the leading digit, sorted within each bucket in two passes.
const LOW_BITS: u32 = 32 - TOP_BITS;

/// Sorts `keys` ascending in place, by the bits under `bits` (the rest shared by all keys):
/// LSD radix in digits of at most 10 bits, skipping a digit every key shares.
#[expect(clippy::indexing_slicing, reason = "a digit is masked to the 1,024 counters' range")]
fn radix_sort_low(keys: &mut [u32], tmp: &mut Vec<u32>, bits: u32) {
    if keys.len() < 256 {
        keys.sort_unstable();
        return;
    }
    tmp.resize(keys.len(), 0);
    let (mut src, mut dst): (&mut [u32], &mut [u32]) = (keys, &mut tmp[..]);
    let mut in_tmp = false;
    let mut shift = 0;
    while shift < bits {
        let width = (bits - shift).min(10);
        let mask = (1usize << width) - 1;
        let mut count = [0usize; 1 << 10];
        for &k in src.iter() {
            count[(k >> shift) as usize & mask] += 1;
        }
        if !count.contains(&src.len()) {
            let mut sum = 0;
            for c in count.iter_mut() {
                let n = *c;
                *c = sum;
                sum += n;
            }
            for &k in src.iter() {
                let d = (k >> shift) as usize & mask;
                dst[count[d]] = k;
                count[d] += 1;
            }
            std::mem::swap(&mut src, &mut dst);
            in_tmp = !in_tmp;
        }
        shift += width;
    }
    if in_tmp {
        dst.copy_from_slice(src);
    }
}

/// Keys scattered by their leading digit, and where each of the `1 << TOP_BITS` buckets starts
/// (one more entry: the end).
/// The keys are those of all the slices of `keys` together.
#[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
fn partition(keys: &[&[u32]]) -> (Vec<u32>, Vec<usize>) {
    let mut starts = vec![0usize; (1 << TOP_BITS) + 1];
    for &k in keys.iter().copied().flatten() {
        starts[(k >> LOW_BITS) as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut out = vec![0u32; starts[1 << TOP_BITS]];
    for &k in keys.iter().copied().flatten() {
        let d = (k >> LOW_BITS) as usize;
        out[next[d]] = k;
        next[d] += 1;
    }
    (out, starts)
}

/// Splits `v` into the consecutive pieces whose lengths are `lens`.
fn pieces<T>(mut v: &mut [T], lens: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    let mut out = Vec::new();
    for n in lens {
        let (a, b) = v.split_at_mut(n);
        out.push(a);
        v = b;
    }
    out
}

/// Distinct keys of two sorted runs together.
#[expect(clippy::indexing_slicing, reason = "the merge cursors stop at their runs' ends")]
fn count_distinct(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() || j < b.len() {
        let k = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < a.len() && a[i] == k {
            i += 1;
        }
        while j < b.len() && b[j] == k {
            j += 1;
        }
        n += 1;
    }
    n
}

/// Merges two sorted runs into distinct scores with their counts in each run.
#[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
fn merge(a: &[u32], b: &[u32], x: &mut [f64], pos: &mut [u64], neg: &mut [u64]) {
    let (mut i, mut j) = (0, 0);
    for o in 0..x.len() {
        let k = match (a.get(i), b.get(j)) {
            (Some(&p), Some(&q)) => p.min(q),
            (Some(&p), None) => p,
            (None, Some(&q)) => q,
            (None, None) => break,
        };
        let i0 = i;
        while i < a.len() && a[i] == k {
            i += 1;
        }
        let j0 = j;
        while j < b.len() && b[j] == k {
            j += 1;
        }
        x[o] = f64::from(unkey(k));
        pos[o] = (i - i0) as u64;
        neg[o] = (j - j0) as u64;
    }
}

/// The k-way merge of rows `ranges[i]` (start, end) of each of `parts`.
#[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
fn merge_ranges(parts: &[Distinct], mut at: Vec<(usize, usize)>) -> Distinct {
    let cap: usize = at.iter().map(|(a, b)| b - a).sum();
    let mut out = Distinct { x: Vec::with_capacity(cap), pos: Vec::with_capacity(cap), neg: Vec::with_capacity(cap) };
    loop {
        // The smallest head score among the parts.
        let mut x = f64::INFINITY;
        for (p, &(i, end)) in parts.iter().zip(&at) {
            if i < end && p.x[i] < x {
                x = p.x[i];
            }
        }
        if x == f64::INFINITY {
            break;
        }
        let (mut pos, mut neg) = (0, 0);
        for (p, (i, end)) in parts.iter().zip(at.iter_mut()) {
            if *i < *end && p.x[*i] == x {
                pos += p.pos[*i];
                neg += p.neg[*i];
                *i += 1;
            }
        }
        out.x.push(x);
        out.pos.push(pos);
        out.neg.push(neg);
    }
    out
}

impl Distinct {
    /// Builds the table from scores (no NaN) and relevance flags.
    pub fn from_pairs(scores: &[f32], relevant: &[bool]) -> Distinct {
        let mut pos: Vec<u32> = Vec::new();
        let mut neg: Vec<u32> = Vec::with_capacity(scores.len());
        for (&s, &r) in scores.iter().zip(relevant) {
            if r {
                pos.push(key(s));
            } else {
                neg.push(key(s));
            }
        }
        Distinct::from_keys(&pos, &neg)
    }

    /// Builds the table from the [`key`]s of relevant and irrelevant scores. Both are split by
    /// their leading digit; the buckets are then sorted and merged in parallel, each into its
    /// own slice of the output.
    pub(crate) fn from_keys(pos: &[u32], neg: &[u32]) -> Distinct {
        Distinct::from_key_sets(&[pos], &[neg])
    }

    /// `Distinct::from_keys` of the keys of several sets of pairs together (the table of all
    /// their pairs), without joining them first.
    #[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
    pub fn from_key_sets(pos: &[&[u32]], neg: &[&[u32]]) -> Distinct {
        use rayon::prelude::*;
        let ((mut p, ps), (mut n, ns)) = rayon::join(|| partition(pos), || partition(neg));
        let buckets = 1usize << TOP_BITS;
        let lens = |s: &[usize]| (0..buckets).map(|b| s[b + 1] - s[b]).collect::<Vec<_>>();
        let (pl, nl) = (lens(&ps), lens(&ns));
        let mut work: Vec<(&mut [u32], &mut [u32])> =
            pieces(&mut p, pl.iter().copied()).into_iter().zip(pieces(&mut n, nl.iter().copied())).collect();
        // One task per bucket: the skewed buckets of real scores are shared out by stealing.
        let counts: Vec<usize> = work
            .par_iter_mut()
            .with_max_len(1)
            .map_init(Vec::new, |tmp, (a, b)| {
                radix_sort_low(a, tmp, LOW_BITS);
                radix_sort_low(b, tmp, LOW_BITS);
                count_distinct(a, b)
            })
            .collect();
        let total: usize = counts.iter().sum();
        let mut out = Distinct { x: vec![0.0; total], pos: vec![0; total], neg: vec![0; total] };
        let xs = pieces(&mut out.x, counts.iter().copied());
        let poss = pieces(&mut out.pos, counts.iter().copied());
        let negs = pieces(&mut out.neg, counts.iter().copied());
        work.into_par_iter().zip(xs).zip(poss).zip(negs).with_max_len(1).for_each(|((((a, b), x), pc), nc)| merge(a, b, x, pc, nc));
        out
    }

    /// Distinct scores.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Relevant pairs in all.
    pub fn n_pos(&self) -> u64 {
        self.pos.iter().sum()
    }

    /// Irrelevant pairs in all.
    pub fn n_neg(&self) -> u64 {
        self.neg.iter().sum()
    }
}

impl Distinct {
    /// The tables of disjoint sets of pairs added into one (the table of all their pairs): the
    /// score range is cut at quantiles of the largest part, and each piece is a k-way merge of
    /// the parts' rows in it, pieces in parallel, concatenated in order.
    #[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
    pub fn sum(parts: &[Distinct]) -> Distinct {
        use rayon::prelude::*;
        const PIECES: usize = 64;
        let Some(largest) = parts.iter().max_by_key(|p| p.len()).filter(|p| !p.is_empty()) else { return Distinct::default() };
        // Cuts: scores where a piece starts (each part's rows below a cut go to earlier pieces).
        let mut cuts: Vec<f64> = (1..PIECES).map(|i| largest.x[i * largest.len() / PIECES]).collect::<Vec<_>>();
        cuts.dedup();
        let bounds = |i: usize| -> (f64, f64) {
            let lo = if i == 0 { f64::NEG_INFINITY } else { cuts[i - 1] };
            let hi = cuts.get(i).copied().unwrap_or(f64::INFINITY);
            (lo, hi)
        };
        let pieces: Vec<Distinct> = (0..=cuts.len())
            .into_par_iter()
            .map(|i| {
                let (lo, hi) = bounds(i);
                let ranges: Vec<(usize, usize)> =
                    parts.iter().map(|p| (p.x.partition_point(|&x| x < lo), p.x.partition_point(|&x| x < hi))).collect();
                merge_ranges(parts, ranges)
            })
            .collect();
        let total: usize = pieces.iter().map(Distinct::len).sum();
        let mut out = Distinct { x: Vec::with_capacity(total), pos: Vec::with_capacity(total), neg: Vec::with_capacity(total) };
        for p in &pieces {
            out.x.extend_from_slice(&p.x);
            out.pos.extend_from_slice(&p.pos);
            out.neg.extend_from_slice(&p.neg);
        }
        out
    }

    /// This table's pairs less those of `part`, a table of some of them (a fold's training
    /// part), read in place.
    pub fn rest<'a>(&'a self, part: &'a Distinct) -> Rest<'a> {
        Rest { all: self, part, n_pos: self.n_pos().saturating_sub(part.n_pos()), n_neg: self.n_neg().saturating_sub(part.n_neg()) }
    }

    /// (score, relevant, irrelevant) of each distinct score, from the highest down.
    #[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
    pub fn rows_rev(&self) -> impl Iterator<Item = (f64, u64, u64)> + '_ {
        (0..self.len()).rev().map(|i| (self.x[i], self.pos[i], self.neg[i]))
    }

    /// All of this table's pairs, as a [`Rest`] with nothing taken away.
    pub fn whole(&self) -> Rest<'_> {
        static NOTHING: Distinct = Distinct { x: Vec::new(), pos: Vec::new(), neg: Vec::new() };
        Rest { all: self, part: &NOTHING, n_pos: self.n_pos(), n_neg: self.n_neg() }
    }

    /// Pairs at or above each score (`above[i]` for `x[i]`, `above[len]` = 0): relevant and all.
    #[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
    pub fn suffix_counts(&self) -> (Vec<u64>, Vec<u64>) {
        let mut tp = vec![0; self.len() + 1];
        let mut all = vec![0; self.len() + 1];
        for i in (0..self.len()).rev() {
            tp[i] = tp[i + 1] + self.pos[i];
            all[i] = all[i + 1] + self.pos[i] + self.neg[i];
        }
        (tp, all)
    }

    /// Relevant pairs and all pairs scoring at or above `t`, from [`Distinct::suffix_counts`].
    #[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
    pub fn at_or_above(&self, suffix: &(Vec<u64>, Vec<u64>), t: f64) -> (u64, u64) {
        let i = self.x.partition_point(|&x| x < t);
        (suffix.0[i], suffix.1[i])
    }
}

/// A table's pairs less those of a part of them: the training part of a fold, which the fits
/// read row by row instead of building it (a copy the size of the table per fold, and the
/// memory it faults in, cost more than the reads). Scores left with no pair are skipped.
#[derive(Clone, Copy, Debug)]
pub struct Rest<'a> {
    /// The table.
    pub all: &'a Distinct,
    /// Pairs taken away: every score of it is a score of `all`, with at most as many pairs.
    pub part: &'a Distinct,
    n_pos: u64,
    n_neg: u64,
}

impl<'a> Rest<'a> {
    /// Relevant pairs left.
    pub fn n_pos(&self) -> u64 {
        self.n_pos
    }

    /// Irrelevant pairs left.
    pub fn n_neg(&self) -> u64 {
        self.n_neg
    }

    /// The lowest score (the highest, with `highest`) with relevant pairs left (irrelevant
    /// ones, without `relevant`), if any: a scan of the table's counts, and a search in the
    /// part's at each score that has some.
    #[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
    pub fn extreme(&self, relevant: bool, highest: bool) -> Option<f64> {
        let (all, part) = (self.all, self.part);
        let count = |d: &Distinct, i: usize| if relevant { d.pos[i] } else { d.neg[i] };
        let left = |i: usize| {
            let x = all.x[i];
            let taken = part.x.binary_search_by(|p| p.total_cmp(&x)).map_or(0, |j| count(part, j));
            count(all, i) > taken
        };
        let mut candidates = (0..all.len()).filter(|&i| count(all, i) > 0);
        let i = if highest { candidates.rev().find(|&i| left(i)) } else { candidates.find(|&i| left(i)) };
        i.map(|i| all.x[i])
    }

    /// (score, relevant, irrelevant) of each score with pairs left, ascending.
    pub fn rows(self) -> impl Iterator<Item = (f64, u64, u64)> + 'a {
        self.rows_in(0, self.all.len())
    }

    /// [`Rest::rows`] among the table's rows `lo..hi` (a chunk of a parallel pass).
    pub fn rows_in(self, lo: usize, hi: usize) -> impl Iterator<Item = (f64, u64, u64)> + 'a {
        let mut j = self.all.x.get(lo).map_or(self.part.len(), |&x0| self.part.x.partition_point(|&x| x < x0));
        (lo..hi.min(self.all.len())).filter_map(move |i| {
            let (row, hit) = self.row(i, j);
            j += usize::from(hit);
            row
        })
    }

    /// [`Rest::rows`], descending.
    pub fn rows_rev(self) -> impl Iterator<Item = (f64, u64, u64)> + 'a {
        // `j` is one past the part's next row down.
        let mut j = self.part.len();
        (0..self.all.len()).rev().filter_map(move |i| {
            let (row, hit) = if j > 0 { self.row(i, j - 1) } else { self.row(i, usize::MAX) };
            j -= usize::from(hit);
            row
        })
    }

    /// The table's row `i` less the part's row `j` when that has the same score (then `true`),
    /// or None when no pair is left. Without a branch on whether the part has the score (it
    /// has a score at random): a `j` past the part subtracts nothing.
    #[expect(clippy::indexing_slicing, reason = "row positions come from this table's own distinct scores and their counts")]
    fn row(&self, i: usize, j: usize) -> (Option<(f64, u64, u64)>, bool) {
        let (all, part) = (self.all, self.part);
        let x = all.x[i];
        let hit = part.x.get(j) == Some(&x);
        let k = j.min(part.len().saturating_sub(1));
        let m = u64::from(hit);
        let p = all.pos[i].saturating_sub(m * part.pos.get(k).copied().unwrap_or(0));
        let n = all.neg[i].saturating_sub(m * part.neg.get(k).copied().unwrap_or(0));
        ((p + n > 0).then_some((x, p, n)), hit)
    }
}
