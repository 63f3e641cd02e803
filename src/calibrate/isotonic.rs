//! Isotonic regression of relevance on score by pool-adjacent-violators, as scikit-learn's
//! `IsotonicRegression(out_of_bounds="clip")` does it: pairs with equal scores are first pooled
//! into their weighted mean (one point per distinct score), PAV makes the means non-decreasing
//! in O(n), interior points equal to both neighbours are dropped, and predictions interpolate
//! linearly between the remaining breakpoints and are clipped outside them.
//!
//! The pooling works on the pair counts, so that each block's mean is one rounding of
//! relevant / all and the comparisons between blocks are exact.

use super::distinct::{Distinct, Rest};

/// A fitted isotonic map: breakpoints `x` (ascending) and values `y` (non-decreasing, in [0, 1]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Isotonic {
    /// Scores, ascending.
    #[schemars(length(min = 1))]
    pub x: Vec<f64>,
    /// P(relevant) at each score (as many as `x`).
    #[schemars(length(min = 1), inner(range(min = 0.0, max = 1.0)))]
    pub y: Vec<f64>,
}

/// A run of consecutive distinct scores pooled into one value.
#[derive(Clone, Copy, Debug)]
struct Block {
    /// Its lowest and highest score.
    lo: f64,
    hi: f64,
    /// Relevant pairs and all pairs in it.
    pos: u64,
    all: u64,
    /// Distinct scores in it.
    rows: usize,
}

impl Block {
    /// The block's value: its share of relevant pairs.
    fn value(&self) -> f64 {
        self.pos as f64 / self.all as f64
    }
}

/// PAV fed rows (score, relevant, irrelevant) from the highest score down, each with at least one
/// pair: every row starts a block, and pools with the block above it while its mean is at
/// least that one's, so the blocks left have strictly increasing means (from the bottom up).
/// The stack holds the blocks, not the rows: its length is the number of blocks pending, far
/// below the rows on real scores. Fed from the top, it walks beside the threshold sweep.
#[derive(Debug, Default)]
pub struct Pav {
    /// Blocks, from the highest scores down.
    stack: Vec<Block>,
}

impl Pav {
    /// PAV of all `rows`, from the highest score down.
    fn of(rows: impl Iterator<Item = (f64, u64, u64)>) -> Pav {
        let mut pav = Pav::default();
        rows.for_each(|r| pav.push(r));
        pav
    }

    /// Takes the next row down.
    pub fn push(&mut self, (x, p, n): (f64, u64, u64)) {
        // Whether a block of (pos, all) below one of (pos2, all2) violates the order: its mean
        // is at least the other's (in integers: counts are below 2⁶⁴).
        let violates = |pos: u64, all: u64, pos2: u64, all2: u64| u128::from(pos) * u128::from(all2) >= u128::from(pos2) * u128::from(all);
        let all = p + n;
        match self.stack.last_mut() {
            Some(top) if violates(p, all, top.pos, top.all) => {
                // Pooled into the block above, which may then pool with the ones above it.
                (top.lo, top.pos, top.all, top.rows) = (x, top.pos + p, top.all + all, top.rows + 1);
                while let [.., above, top] = self.stack.as_mut_slice() {
                    if !violates(top.pos, top.all, above.pos, above.all) {
                        break;
                    }
                    (above.lo, above.pos, above.all, above.rows) =
                        (top.lo, above.pos + top.pos, above.all + top.all, above.rows + top.rows);
                    self.stack.pop();
                }
            }
            _ => self.stack.push(Block { lo: x, hi: x, pos: p, all, rows: 1 }),
        }
    }

    /// The blocks, from the lowest scores up.
    fn blocks(mut self) -> Vec<Block> {
        self.stack.reverse();
        self.stack
    }

    /// The fitted map.
    pub fn finish(self) -> Isotonic {
        Isotonic::from_blocks(&self.blocks())
    }
}

impl Isotonic {
    /// Fits the map on the distinct-score table (at least one pair).
    pub fn fit(d: &Distinct) -> Isotonic {
        Pav::of(d.rows_rev()).finish()
    }

    /// Fits the map on the pairs of a table less a part of them (a fold's training part).
    pub fn fit_rest(rest: Rest) -> Isotonic {
        Pav::of(rest.rows_rev()).finish()
    }

    /// Fits the map, and returns with it its value at each distinct score of `d` (what
    /// [`Isotonic::predict`] gives there: a dropped point lies inside a flat run).
    pub fn fit_values(d: &Distinct) -> (Isotonic, Vec<f64>) {
        let blocks = Pav::of(d.rows_rev()).blocks();
        let mut values = Vec::with_capacity(d.len());
        for b in &blocks {
            values.extend(std::iter::repeat_n(b.value(), b.rows));
        }
        (Isotonic::from_blocks(&blocks), values)
    }

    /// The breakpoints of PAV's blocks: each block's lowest and highest score at its value (the
    /// means strictly increase from block to block, so every other score is an interior point
    /// equal to both neighbours).
    fn from_blocks(blocks: &[Block]) -> Isotonic {
        let mut iso = Isotonic { x: Vec::with_capacity(2 * blocks.len()), y: Vec::with_capacity(2 * blocks.len()) };
        for b in blocks {
            let v = b.value();
            iso.x.push(b.lo);
            iso.y.push(v);
            if b.hi != b.lo {
                iso.x.push(b.hi);
                iso.y.push(v);
            }
        }
        iso
    }

    /// P(relevant | s): linear between breakpoints, clipped outside.
    #[expect(clippy::indexing_slicing, reason = "block and breakpoint positions stay within the vectors this module builds")]
    pub fn predict(&self, s: f64) -> f64 {
        let (x, y) = (&self.x, &self.y);
        let Some(&last) = x.last() else { return f64::NAN };
        if s.is_nan() {
            return f64::NAN;
        }
        if s <= x[0] {
            return y[0];
        }
        if s >= last {
            return y[y.len() - 1];
        }
        let j = x.partition_point(|&v| v <= s) - 1;
        let slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j]);
        slope * (s - x[j]) + y[j]
    }

    /// [`Isotonic::predict`] of each of the ascending scores `xs`, in one walk over the
    /// breakpoints instead of a search per score.
    #[expect(clippy::indexing_slicing, reason = "block and breakpoint positions stay within the vectors this module builds")]
    pub fn predict_sorted(&self, xs: &[f64]) -> Vec<f64> {
        let (x, y) = (&self.x, &self.y);
        let (Some(&first), Some(&last)) = (x.first(), x.last()) else { return vec![f64::NAN; xs.len()] };
        let mut j = 0; // the last breakpoint at or below the score, once inside
        xs.iter()
            .map(|&s| {
                if s.is_nan() {
                    f64::NAN
                } else if s <= first {
                    y[0]
                } else if s >= last {
                    y[y.len() - 1]
                } else {
                    while x[j + 1] <= s {
                        j += 1;
                    }
                    let slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j]);
                    slope * (s - x[j]) + y[j]
                }
            })
            .collect()
    }

    /// The lowest score whose probability is at least `p`, if any.
    #[expect(clippy::indexing_slicing, reason = "block and breakpoint positions stay within the vectors this module builds")]
    pub fn score_for(&self, p: f64) -> Option<f64> {
        let j = self.y.iter().position(|&v| v >= p)?;
        if j == 0 {
            return Some(self.x[0]);
        }
        let (x0, x1, y0, y1) = (self.x[j - 1], self.x[j], self.y[j - 1], self.y[j]);
        Some(if y1 > y0 { x0 + (p - y0) * (x1 - x0) / (y1 - y0) } else { x1 })
    }
}
