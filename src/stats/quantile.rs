//! Quantiles of weighted sorted values, as numpy computes them.

/// Quantiles of the multiset holding `weights[i]` copies of `x[i]` (x ascending), with numpy's
/// default linear interpolation; empty when there is nothing. One walk over the weights finds
/// every position the levels need.
#[expect(clippy::indexing_slicing, reason = "positions run within the sorted values and the quantiles asked for")]
pub fn quantiles(x: &[f64], weights: &[u64], levels: &[f64]) -> Vec<f64> {
    let c: u64 = weights.iter().sum();
    if c == 0 {
        return Vec::new();
    }
    // Each level's 0-based position h in the sorted multiset, between elements lo and lo + 1.
    let hs: Vec<f64> = levels.iter().map(|&q| (c - 1) as f64 * q.clamp(0.0, 1.0)).collect();
    let mut wanted: Vec<u64> = hs.iter().flat_map(|h| [h.floor() as u64, (h.floor() as u64 + 1).min(c - 1)]).collect();
    wanted.sort_unstable();
    wanted.dedup();
    // The value at each wanted position: the first x whose cumulative weight exceeds it.
    let mut found = Vec::with_capacity(wanted.len());
    let (mut cum, mut i) = (0u64, 0usize);
    for &p in &wanted {
        while i < x.len() && cum + weights[i] <= p {
            cum += weights[i];
            i += 1;
        }
        found.push(x[i.min(x.len() - 1)]);
    }
    let at = |p: u64| found[wanted.binary_search(&p).unwrap_or(0)];
    hs.iter()
        .map(|&h| {
            let lo = h.floor() as u64;
            let a = at(lo);
            let frac = h - lo as f64;
            if frac == 0.0 {
                a
            } else {
                a + (at((lo + 1).min(c - 1)) - a) * frac
            }
        })
        .collect()
}
