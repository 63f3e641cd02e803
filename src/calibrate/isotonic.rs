//! Isotonic regression of relevance on score by pool-adjacent-violators, as scikit-learn's
//! `IsotonicRegression(out_of_bounds="clip")` does it: pairs with equal scores are first pooled
//! into their weighted mean (one point per distinct score), PAV makes the means non-decreasing
//! in O(n), interior points equal to both neighbours are dropped, and predictions interpolate
//! linearly between the remaining breakpoints and are clipped outside them.

use super::distinct::Distinct;

/// A fitted isotonic map: breakpoints `x` (ascending) and values `y` (non-decreasing, in [0, 1]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Isotonic {
    /// Scores, ascending.
    pub x: Vec<f64>,
    /// P(relevant) at each score.
    pub y: Vec<f64>,
}

/// Buffers of a fit, kept between fits of tables of similar size (the folds of cross-fitting)
/// so that each fit does not allocate and fault in its own.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// The means, then the fitted value at each distinct score.
    y: Vec<f64>,
    /// The weights, then the pooled ones.
    w: Vec<f64>,
    /// Block ends (see [`pav`]).
    target: Vec<u32>,
}

/// In-place PAV on `y` with weights `w` (both consumed as scratch), non-decreasing result.
/// Blocks are kept as `target[first] = last`, `target[last] = first`, and each violating run is
/// pooled and then merged backwards with earlier blocks, so the pass is single and O(n).
/// Indices are u32: a distinct-score table has fewer than 2³² rows (f32 scores).
fn pav(y: &mut [f64], w: &mut [f64], target: &mut Vec<u32>) {
    let n = y.len();
    target.clear();
    target.extend(0..n as u32);
    let mut i = 0;
    while i < n {
        let mut k = target[i] as usize + 1;
        if k == n {
            break;
        }
        if y[i] < y[k] {
            i = k;
            continue;
        }
        let mut sum_wy = w[i] * y[i];
        let mut sum_w = w[i];
        loop {
            let prev = y[k];
            sum_wy += w[k] * y[k];
            sum_w += w[k];
            k = target[k] as usize + 1;
            if k == n || prev < y[k] {
                y[i] = sum_wy / sum_w;
                w[i] = sum_w;
                target[i] = (k - 1) as u32;
                target[k - 1] = i as u32;
                if i > 0 {
                    i = target[i - 1] as usize;
                }
                break;
            }
        }
    }
    let mut i = 0;
    while i < n {
        let k = target[i] as usize + 1;
        let v = y[i];
        y[i + 1..k].fill(v);
        i = k;
    }
}

impl Isotonic {
    /// Fits the map on the distinct-score table (at least one pair).
    pub fn fit(d: &Distinct) -> Isotonic {
        Isotonic::fit_values(d).0
    }

    /// Fits the map, and returns with it its value at each distinct score of `d` (what
    /// [`Isotonic::predict`] gives there: a dropped point lies inside a flat run).
    pub fn fit_values(d: &Distinct) -> (Isotonic, Vec<f64>) {
        let mut scratch = Scratch::default();
        let iso = Isotonic::fit_in(d, &mut scratch);
        (iso, scratch.y)
    }

    /// Fits the map in `scratch`'s buffers (which then hold the fitted value at each distinct
    /// score, as [`Isotonic::fit_values`] returns them).
    pub fn fit_in(d: &Distinct, scratch: &mut Scratch) -> Isotonic {
        let Scratch { y, w, target } = scratch;
        w.clear();
        w.extend(d.pos.iter().zip(&d.neg).map(|(&p, &n)| (p + n) as f64));
        y.clear();
        y.extend(d.pos.iter().zip(w.iter()).map(|(&p, &w)| p as f64 / w));
        pav(y, w, target);
        let n = y.len();
        let keep = |i: usize| i == 0 || i + 1 == n || y[i] != y[i - 1] || y[i] != y[i + 1];
        let (bx, by): (Vec<f64>, Vec<f64>) = (0..n).filter(|&i| keep(i)).map(|i| (d.x[i], y[i])).unzip();
        Isotonic { x: bx, y: by }
    }

    /// P(relevant | s): linear between breakpoints, clipped outside.
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
    pub fn score_for(&self, p: f64) -> Option<f64> {
        let j = self.y.iter().position(|&v| v >= p)?;
        if j == 0 {
            return Some(self.x[0]);
        }
        let (x0, x1, y0, y1) = (self.x[j - 1], self.x[j], self.y[j - 1], self.y[j]);
        Some(if y1 > y0 { x0 + (p - y0) * (x1 - x0) / (y1 - y0) } else { x1 })
    }
}
