//! The precision/recall sweep over every distinct score, and thresholds for target precision
//! or recall. A pair is predicted relevant when its score is at or above the threshold, as in
//! scikit-learn's `precision_recall_curve`.

use super::distinct::Distinct;

/// The curve, from the highest threshold down: at `threshold[i]`, `tp[i]` relevant and `fp[i]`
/// irrelevant pairs score at or above it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curve {
    /// Distinct scores, descending.
    pub threshold: Vec<f64>,
    /// Relevant pairs at or above each threshold.
    pub tp: Vec<u64>,
    /// Irrelevant pairs at or above each threshold.
    pub fp: Vec<u64>,
    /// Relevant pairs in all.
    pub n_pos: u64,
}

impl Curve {
    /// The sweep over every distinct score of `d`.
    pub fn new(d: &Distinct) -> Curve {
        Curve::from_cells(d.x.iter().rev().copied(), d.pos.iter().rev().copied(), d.neg.iter().rev().copied())
    }

    /// The sweep over cells given from the highest score down.
    pub fn from_cells(x: impl Iterator<Item = f64>, pos: impl Iterator<Item = u64>, neg: impl Iterator<Item = u64>) -> Curve {
        let mut c = Curve::default();
        let (mut tp, mut fp) = (0, 0);
        for ((x, p), n) in x.zip(pos).zip(neg) {
            tp += p;
            fp += n;
            c.threshold.push(x);
            c.tp.push(tp);
            c.fp.push(fp);
        }
        c.n_pos = tp;
        c
    }

    /// Precision at point `i` (0 where nothing is predicted, as scikit-learn).
    pub fn precision(&self, i: usize) -> f64 {
        let all = self.tp[i] + self.fp[i];
        if all == 0 {
            0.0
        } else {
            self.tp[i] as f64 / all as f64
        }
    }

    /// Recall at point `i` (1 when there are no relevant pairs, as scikit-learn).
    pub fn recall(&self, i: usize) -> f64 {
        if self.n_pos == 0 {
            1.0
        } else {
            self.tp[i] as f64 / self.n_pos as f64
        }
    }

    /// The point with the best recall among those whose precision is at least `p` (the
    /// highest threshold among equals), or `None` when no threshold reaches `p`.
    pub fn for_precision(&self, p: f64) -> Option<usize> {
        let mut best: Option<usize> = None;
        for i in 0..self.threshold.len() {
            if self.precision(i) >= p && best.is_none_or(|b| self.tp[i] > self.tp[b]) {
                best = Some(i);
            }
        }
        best
    }

    /// The point with the best precision among those whose recall is at least `r` (the best
    /// recall among equals), or `None` when no threshold reaches `r`.
    pub fn for_recall(&self, r: f64) -> Option<usize> {
        let mut best: Option<usize> = None;
        for i in 0..self.threshold.len() {
            if self.recall(i) >= r {
                let better = match best {
                    None => true,
                    Some(b) => {
                        let (pi, pb) = (self.precision(i), self.precision(b));
                        pi > pb || (pi == pb && self.tp[i] > self.tp[b])
                    }
                };
                if better {
                    best = Some(i);
                }
            }
        }
        best
    }

    /// The best precision any threshold gives.
    pub fn best_precision(&self) -> f64 {
        (0..self.threshold.len()).map(|i| self.precision(i)).fold(0.0, f64::max)
    }

    /// The best recall any threshold gives (1 unless there are no pairs).
    pub fn best_recall(&self) -> f64 {
        (0..self.threshold.len()).map(|i| self.recall(i)).fold(0.0, f64::max)
    }

    /// Precision and recall of predicting relevant at or above `threshold` (not necessarily
    /// one of the curve's own).
    pub fn at(&self, threshold: f64) -> (f64, f64) {
        // The last point whose threshold is >= the one asked for.
        let i = self.threshold.partition_point(|&t| t >= threshold);
        if i == 0 {
            // Nothing predicted: scikit-learn's end point (precision 1, recall 0).
            return (1.0, if self.n_pos == 0 { 1.0 } else { 0.0 });
        }
        (self.precision(i - 1), self.recall(i - 1))
    }
}
