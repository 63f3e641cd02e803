//! Conformal risk control (Angelopoulos, Bates, Fisch, Lei, Schuster, 2022) of each query's
//! false-negative rate: the share of its relevant documents that score below λ (documents that
//! were not retrieved at all are missed at every λ). With n exchangeable queries and a loss in
//! [0, 1] that rises with λ, the largest λ on the grid with n/(n+1)·R̂(λ) + 1/(n+1) ≤ α has
//! E\[FNR\] ≤ α on a new query: a recall guarantee in expectation, one query at a time.
//!
//! MAPIE 1.6.0's `MultiLabelClassificationController(risk="recall", method="crc")` computes the
//! same bound; it counts a bound equal to α as a violation, which the paper does not.

/// One query: the scores of its relevant retrieved documents and how many relevant documents
/// it has in all (retrieved or not; at least the retrieved ones).
#[derive(Clone, Debug, PartialEq)]
pub struct QueryRecall {
    /// Scores of the relevant documents that were retrieved.
    pub scores: Vec<f64>,
    /// Relevant documents in all.
    pub relevant: u64,
}

/// What conformal risk control found.
#[derive(Clone, Debug, PartialEq)]
pub struct Controlled {
    /// Mean false-negative rate at each grid point.
    pub risk: Vec<f64>,
    /// n/(n+1)·risk + 1/(n+1) at each grid point.
    pub bound: Vec<f64>,
    /// The largest grid index whose bound, and every lower one's, is at most α.
    pub best: Option<usize>,
}

/// Controls E\[FNR\] ≤ `alpha` over `queries` (those with no relevant document are skipped) on an
/// ascending `grid`.
#[expect(clippy::indexing_slicing, reason = "positions run within the sorted losses this module builds")]
pub fn control_fnr(queries: &[QueryRecall], grid: &[f64], alpha: f64) -> Controlled {
    // Each relevant retrieved document carries 1/relevant of its query's recall.
    let mut found: Vec<(f64, f64)> = Vec::new();
    let mut n = 0u64;
    for q in queries.iter().filter(|q| q.relevant > 0) {
        n += 1;
        let w = 1.0 / q.relevant.max(q.scores.len() as u64) as f64;
        found.extend(q.scores.iter().map(|&s| (s, w)));
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Recall found at or above each score, summed from the top.
    let mut above = vec![0.0; found.len() + 1];
    for i in (0..found.len()).rev() {
        above[i] = above[i + 1] + found[i].1;
    }
    let nf = n as f64;
    let risk: Vec<f64> = grid
        .iter()
        .map(|&l| {
            if n == 0 {
                return 1.0;
            }
            let i = found.partition_point(|&(s, _)| s < l);
            (1.0 - above[i] / nf).max(0.0)
        })
        .collect();
    let bound: Vec<f64> = risk.iter().map(|&r| nf / (nf + 1.0) * r + 1.0 / (nf + 1.0)).collect();
    let best = bound.iter().take_while(|&&b| b <= alpha).count().checked_sub(1);
    Controlled { risk, bound, best }
}
