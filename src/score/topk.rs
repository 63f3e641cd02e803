//! Exact top-k selection: a per-query candidate buffer behind a running threshold.
//!
//! Scores arrive a block at a time from a kernel's epilogue. A block whose best score is below
//! the query's current k-th best is skipped after one vectorised compare; otherwise its passing
//! scores are appended to a buffer of capacity about 2k, which is cut back to the best k with a
//! linear-time selection when it fills. This costs far less per score than a heap and keeps the
//! result exact. Order: score descending, then corpus row ascending, so ties are deterministic
//! and independent of how the corpus was split into chunks or tasks.

use std::cmp::Ordering;

/// One retrieved document: its corpus row and score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Row of the document in the corpus file (0-based).
    pub row: u64,
    /// Cosine or dot score.
    pub score: f32,
}

/// The ranking order: score descending, ties by corpus row ascending.
#[inline]
pub fn rank_order(a: &Hit, b: &Hit) -> Ordering {
    b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
}

/// The best `k` hits seen so far for one query.
///
/// ```
/// use simcal::score::{Hit, TopK};
///
/// let mut top = TopK::new(2);
/// top.offer(&[0.1, 0.9, 0.5, 0.9], 100); // scores of corpus rows 100..104
/// let best = top.into_sorted();
/// // Score descending, ties by row ascending.
/// assert_eq!(best, [Hit { row: 101, score: 0.9 }, Hit { row: 103, score: 0.9 }]);
/// ```
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    cap: usize,
    threshold: f32,
    buf: Vec<Hit>,
}

impl TopK {
    /// An empty selection keeping the best `k` (k ≥ 1).
    pub fn new(k: usize) -> Self {
        let k = k.max(1);
        let cap = k.saturating_mul(2).max(k + 32);
        TopK { k, cap, threshold: f32::NEG_INFINITY, buf: Vec::new() }
    }

    /// How many hits are kept.
    pub fn k(&self) -> usize {
        self.k
    }

    /// A score below this can never enter the top k.
    #[inline]
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The scores of the hits kept so far (at least the best k seen, in no order).
    pub fn scores(&self) -> impl Iterator<Item = f32> + '_ {
        self.buf.iter().map(|h| h.score)
    }

    /// Offers one hit.
    #[inline]
    pub fn push(&mut self, hit: Hit) {
        if hit.score >= self.threshold {
            self.buf.push(hit);
            if self.buf.len() >= self.cap {
                self.compact();
            }
        }
    }

    /// Offers a run of consecutive corpus rows starting at `first_row`.
    #[inline]
    pub fn offer(&mut self, scores: &[f32], first_row: u64) {
        const W: usize = 16;
        let mut chunks = scores.chunks_exact(W);
        let mut base = first_row;
        for c in &mut chunks {
            // A branch-free OR of comparisons: compiles to a few vector compares per 16 scores.
            let t = self.threshold;
            if c.iter().fold(false, |any, &s| any | (s >= t)) {
                for (i, &s) in c.iter().enumerate() {
                    self.push(Hit { row: base + i as u64, score: s });
                }
            }
            base += W as u64;
        }
        for (i, &s) in chunks.remainder().iter().enumerate() {
            self.push(Hit { row: base + i as u64, score: s });
        }
    }

    /// Offers every hit of another selection (merging partial results).
    pub fn merge(&mut self, other: TopK) {
        for h in other.buf {
            self.push(h);
        }
    }

    #[expect(clippy::indexing_slicing, reason = "the buffer holds at least k entries when its threshold is read")]
    fn compact(&mut self) {
        if self.buf.len() > self.k {
            self.buf.select_nth_unstable_by(self.k - 1, rank_order);
            self.buf.truncate(self.k);
            self.threshold = self.buf[self.k - 1].score;
        }
    }

    /// The k-th best score seen so far (every later hit below it is useless), or negative
    /// infinity while fewer than k hits have been seen. Backends that filter scores before
    /// offering them (the GPU's threshold filter) use it as their bound.
    pub fn bound(&mut self) -> f32 {
        if self.buf.len() < self.k {
            return f32::NEG_INFINITY;
        }
        self.compact();
        self.threshold = self.buf.iter().map(|h| h.score).fold(f32::INFINITY, f32::min);
        self.threshold
    }

    /// The k-th best score among the hits seen so far and `extra` scores (hits of the same
    /// query that are real but not offered), or negative infinity with fewer than k in all.
    /// The k-th best of any set of real scores is a valid bound for the final k-th best.
    pub fn bound_with(&self, extra: impl IntoIterator<Item = f32>) -> f32 {
        let mut all: Vec<f32> = self.buf.iter().map(|h| h.score).chain(extra).collect();
        if all.len() < self.k {
            return f32::NEG_INFINITY;
        }
        let (_, kth, _) = all.select_nth_unstable_by(self.k - 1, |a, b| b.total_cmp(a));
        *kth
    }

    /// The best k hits, in rank order.
    pub fn into_sorted(mut self) -> Vec<Hit> {
        self.compact();
        self.buf.sort_unstable_by(rank_order);
        self.buf
    }
}
