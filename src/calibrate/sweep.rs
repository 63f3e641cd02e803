//! The precision/recall sweep over every distinct score, and thresholds for target precision
//! or recall. A pair is predicted relevant when its score is at or above the threshold, as in
//! scikit-learn's `precision_recall_curve`.

use super::distinct::Distinct;

/// One point of the sweep: predicting relevant at or above `threshold` finds `tp` relevant and
/// `fp` irrelevant pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// The threshold (a distinct score).
    pub threshold: f64,
    /// Relevant pairs at or above it.
    pub tp: u64,
    /// Irrelevant pairs at or above it.
    pub fp: u64,
}

impl Point {
    /// Precision (0 where nothing is predicted, as scikit-learn).
    pub fn precision(&self) -> f64 {
        let all = self.tp + self.fp;
        if all == 0 {
            0.0
        } else {
            self.tp as f64 / all as f64
        }
    }

    /// Recall out of `n_pos` relevant pairs (1 when there are none, as scikit-learn).
    pub fn recall(&self, n_pos: u64) -> f64 {
        if n_pos == 0 {
            1.0
        } else {
            self.tp as f64 / n_pos as f64
        }
    }
}

/// Whether `c` is a better point than `best` for target precision `p`: it reaches `p`, with
/// more recall (the highest threshold among equals, as points come from the top).
fn better_for_precision(p: f64, c: &Point, best: Option<&Point>) -> bool {
    c.precision() >= p && best.is_none_or(|b| c.tp > b.tp)
}

/// Whether `c` is a better point than `best` for target recall `r`: it reaches `r`, with more
/// precision (the best recall among equals).
fn better_for_recall(r: f64, n_pos: u64, c: &Point, best: Option<&Point>) -> bool {
    c.recall(n_pos) >= r
        && best.is_none_or(|b| {
            let (pc, pb) = (c.precision(), b.precision());
            pc > pb || (pc == pb && c.tp > b.tp)
        })
}

/// The sweep's points over the distinct scores of `d`, from the highest threshold down.
pub fn points(d: &Distinct) -> impl Iterator<Item = Point> + '_ {
    points_of(d.rows_rev())
}

/// The sweep's points over rows (score, relevant, irrelevant) given from the highest score
/// down.
pub fn points_of(rows: impl Iterator<Item = (f64, u64, u64)>) -> impl Iterator<Item = Point> {
    let (mut tp, mut fp) = (0, 0);
    rows.map(move |(x, p, n)| {
        tp += p;
        fp += n;
        Point { threshold: x, tp, fp }
    })
}

/// What a fit takes from the sweep, found in one walk without keeping the curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Picks {
    /// The point for each target precision, where one reaches it.
    pub precision: Vec<Option<Point>>,
    /// The point for each target recall, where one reaches it.
    pub recall: Vec<Option<Point>>,
    /// The best precision any point gives.
    pub best_precision: f64,
    /// The best recall any point gives.
    pub best_recall: f64,
}

/// The points for target precisions and recalls (out of `n_pos` relevant pairs), as
/// [`Curve::for_precision`] and [`Curve::for_recall`] choose them.
pub fn picks(points: impl Iterator<Item = Point>, n_pos: u64, precision: &[f64], recall: &[f64]) -> Picks {
    let mut out = Picks { precision: vec![None; precision.len()], recall: vec![None; recall.len()], best_precision: 0.0, best_recall: 0.0 };
    let mut last = None;
    for c in points {
        // One division per point: the precision serves the best and every precision target.
        let prec = c.precision();
        out.best_precision = out.best_precision.max(prec);
        for (&p, best) in precision.iter().zip(&mut out.precision) {
            if prec >= p && best.is_none_or(|b| c.tp > b.tp) {
                *best = Some(c);
            }
        }
        for (&r, best) in recall.iter().zip(&mut out.recall) {
            if better_for_recall(r, n_pos, &c, best.as_ref()) {
                *best = Some(c);
            }
        }
        last = Some(c);
    }
    // Recall only grows down the sweep: the last point's is the best.
    out.best_recall = last.map_or(0.0, |c| c.recall(n_pos));
    out
}

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
    pub(crate) fn from_cells(x: impl Iterator<Item = f64>, pos: impl Iterator<Item = u64>, neg: impl Iterator<Item = u64>) -> Curve {
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

    /// Point `i`.
    #[expect(clippy::indexing_slicing, reason = "curve positions come from searches within the curve")]
    pub fn point(&self, i: usize) -> Point {
        Point { threshold: self.threshold[i], tp: self.tp[i], fp: self.fp[i] }
    }

    /// Precision at point `i` (0 where nothing is predicted, as scikit-learn).
    pub fn precision(&self, i: usize) -> f64 {
        self.point(i).precision()
    }

    /// Recall at point `i` (1 when there are no relevant pairs, as scikit-learn).
    pub fn recall(&self, i: usize) -> f64 {
        self.point(i).recall(self.n_pos)
    }

    /// The point with the best recall among those whose precision is at least `p` (the
    /// highest threshold among equals), or `None` when no threshold reaches `p`.
    pub fn for_precision(&self, p: f64) -> Option<usize> {
        let mut best: Option<usize> = None;
        for i in 0..self.threshold.len() {
            if better_for_precision(p, &self.point(i), best.map(|b| self.point(b)).as_ref()) {
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
            if better_for_recall(r, self.n_pos, &self.point(i), best.map(|b| self.point(b)).as_ref()) {
                best = Some(i);
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
