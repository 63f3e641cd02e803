//! Bootstrap intervals for thresholds, by resampling counts rather than rows.
//!
//! A resample of n labeled pairs drawn with replacement is a multinomial draw of counts over
//! (score, label) cells. Cells are the distinct scores, pooled from the highest score down into
//! bins that grow with the pairs above them: a bin closes once it holds 1/[`RESOLUTION`] of the
//! pairs above it (at least one pair; it overshoots by at most its last distinct score's pairs),
//! so the top 2 × [`RESOLUTION`] pairs keep a bin each. Precision targets are
//! reached in the sparse top of the ranking, so the bins are finest where the thresholds are;
//! bins of equal pair counts would pool the whole top into one bin and leave a resample nothing
//! to pick but the fitted threshold. Each bin keeps its lowest score as its threshold, and every
//! fitted threshold starts a bin of its own, so the precision a fitted threshold gives in a
//! resample is exact. There are about RESOLUTION × (2 + ln(n / (2 × RESOLUTION))) bins (about 850
//! for 10 million pairs), so a resample costs a few thousand binomial draws however many pairs
//! there are. Resample `r` uses its own ChaCha8 stream derived from the seed, so results do not
//! depend on thread scheduling.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};
use rayon::prelude::*;

use super::distinct::Distinct;
use super::sweep::Curve;

/// A bin closes once it holds this fraction (1/RESOLUTION) of the pairs above it.
pub const RESOLUTION: u64 = 64;

/// What to bootstrap: the fitted thresholds and the targets they were chosen for.
#[derive(Clone, Debug)]
pub struct Targets {
    /// Target precisions.
    pub precision: Vec<f64>,
    /// Target recalls.
    pub recall: Vec<f64>,
    /// The fitted threshold of each target (precision targets first), where reachable.
    pub fitted: Vec<Option<f64>>,
}

/// A 95% interval per target: of the threshold a resample picks, and of the precision the
/// fitted threshold gives in a resample; with the fraction of resamples where the target was
/// reachable.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// 2.5% and 97.5% percentiles of the resampled thresholds.
    pub threshold: Option<[f64; 2]>,
    /// 2.5% and 97.5% percentiles of the fitted threshold's precision in the resamples.
    pub precision: Option<[f64; 2]>,
    /// Fraction of resamples in which some threshold reached the target.
    pub reachable: f64,
}

struct Bins {
    x: Vec<f64>,
    pos: Vec<u64>,
    neg: Vec<u64>,
}

#[expect(clippy::indexing_slicing, reason = "bin positions run within the cuts this function walks and the counts it builds")]
fn bins(d: &Distinct, cuts: &[f64]) -> Bins {
    let mut b = Bins { x: vec![], pos: vec![], neg: vec![] };
    // Walk from the top so that each bin's threshold is its lowest score.
    let (mut p, mut m, mut above) = (0u64, 0u64, 0u64);
    for i in (0..d.len()).rev() {
        p += d.pos[i];
        m += d.neg[i];
        // A fitted threshold must be the lowest score of its bin.
        if i == 0 || p + m >= (above / RESOLUTION).max(1) || cuts.contains(&d.x[i]) {
            b.x.push(d.x[i]);
            b.pos.push(p);
            b.neg.push(m);
            above += p + m;
            (p, m) = (0, 0);
        }
    }
    b
}

#[expect(clippy::indexing_slicing, reason = "percentile positions are computed below the length of the sorted values")]
fn percentiles(mut v: Vec<f64>) -> Option<[f64; 2]> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let h = (v.len() - 1) as f64 * q;
        let lo = h.floor() as usize;
        let hi = (lo + 1).min(v.len() - 1);
        v[lo] + (v[hi] - v[lo]) * (h - lo as f64)
    };
    Some([at(0.025), at(0.975)])
}

/// Draws a multinomial resample of the cell counts `cells` (total `n`).
fn resample(cells: &[u64], n: u64, rng: &mut ChaCha8Rng) -> Vec<u64> {
    let mut out = vec![0; cells.len()];
    let (mut left, mut mass) = (n, n);
    for (o, &c) in out.iter_mut().zip(cells) {
        if left == 0 || mass == 0 {
            break;
        }
        if c == 0 {
            continue;
        }
        let k = if c >= mass { left } else { Binomial::new(left, c as f64 / mass as f64).map(|b| b.sample(rng)).unwrap_or(0) };
        *o = k;
        left -= k;
        mass -= c;
    }
    out
}

/// Intervals for every target from `resamples` resamples seeded by `seed`, each a multinomial
/// draw of pairs.
pub fn intervals(d: &Distinct, t: &Targets, resamples: usize, seed: u64) -> Vec<Interval> {
    let cuts: Vec<f64> = t.fitted.iter().flatten().copied().collect();
    let b = bins(d, &cuts);
    let n = d.n_pos() + d.n_neg();
    // Cells: relevant counts of every bin, then irrelevant ones.
    let cells: Vec<u64> = b.pos.iter().chain(&b.neg).copied().collect();
    summarise(&b, t, resamples, |rng| resample(&cells, n, rng), seed)
}

/// The labeled pairs of a group with the resampling block of each: a random group of whole
/// queries (blocks are dealt queries, so a block's pairs move together).
#[derive(Clone, Copy, Debug)]
pub struct Blocks<'a> {
    /// Scores.
    pub scores: &'a [f32],
    /// Relevance.
    pub relevant: &'a [bool],
    /// Block of each pair.
    pub block: &'a [u8],
    /// Blocks in all.
    pub blocks: usize,
}

/// Intervals for every target from resamples of whole queries: a resample draws each block's
/// multiplicity (a multinomial of as many draws as blocks) and adds up the blocks' bin counts,
/// so its cost is blocks × bins whatever the number of pairs. Resampling blocks of queries dealt
/// at random keeps the variance of resampling the queries themselves.
#[expect(clippy::indexing_slicing, reason = "resampled positions are drawn below the lengths of the counts they index")]
pub fn intervals_by_block(d: &Distinct, t: &Targets, resamples: usize, seed: u64, p: Blocks) -> Vec<Interval> {
    let cuts: Vec<f64> = t.fitted.iter().flatten().copied().collect();
    let b = bins(d, &cuts);
    let nb = b.x.len();
    let k = p.blocks.max(1);
    // Per block: relevant counts of every bin, then irrelevant ones.
    // In parallel chunks of pairs, summed.
    const CHUNK: usize = 1 << 20;
    let counts = (0..p.scores.len())
        .step_by(CHUNK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|lo| {
            let mut c = vec![0u64; k * 2 * nb];
            let hi = (lo + CHUNK).min(p.scores.len());
            for i in lo..hi {
                // Bins run from the top; a pair belongs to the first whose lowest score is at or
                // below it.
                let j = b.x.partition_point(|&x| x > f64::from(p.scores[i])).min(nb - 1);
                c[usize::from(p.block[i]).min(k - 1) * 2 * nb + if p.relevant[i] { j } else { nb + j }] += 1;
            }
            c
        })
        .reduce(
            || vec![0u64; k * 2 * nb],
            |mut a, c| {
                for (x, y) in a.iter_mut().zip(c) {
                    *x += y;
                }
                a
            },
        );
    let ones = vec![1u64; k];
    summarise(
        &b,
        t,
        resamples,
        |rng| {
            let w = resample(&ones, k as u64, rng);
            let mut cells = vec![0u64; 2 * nb];
            for (blk, &m) in w.iter().enumerate().filter(|(_, &m)| m > 0) {
                for (c, &v) in cells.iter_mut().zip(&counts[blk * 2 * nb..(blk + 1) * 2 * nb]) {
                    *c += m * v;
                }
            }
            cells
        },
        seed,
    )
}

/// Draws `resamples` cell vectors with `draw` (resample r on its own ChaCha8 stream of `seed`)
/// and summarises each target's picks.
#[expect(clippy::indexing_slicing, reason = "resampled positions are drawn below the lengths of the counts they index")]
fn summarise(b: &Bins, t: &Targets, resamples: usize, draw: impl Fn(&mut ChaCha8Rng) -> Vec<u64> + Sync, seed: u64) -> Vec<Interval> {
    let nb = b.x.len();
    let targets = t.precision.len() + t.recall.len();
    let draws: Vec<Vec<(Option<f64>, Option<f64>)>> = (0..resamples)
        .into_par_iter()
        .map(|r| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(r as u64 + 1);
            let c = draw(&mut rng);
            let curve = Curve::from_cells(b.x.iter().copied(), c[..nb].iter().copied(), c[nb..].iter().copied());
            let picked = t.precision.iter().map(|&p| curve.for_precision(p)).chain(t.recall.iter().map(|&r| curve.for_recall(r)));
            picked.zip(&t.fitted).map(|(i, f)| (i.map(|i| curve.threshold[i]), f.map(|f| curve.at(f).0))).collect()
        })
        .collect();
    (0..targets)
        .map(|j| {
            let th: Vec<f64> = draws.iter().filter_map(|d| d[j].0).collect();
            let pr: Vec<f64> = draws.iter().filter_map(|d| d[j].1).collect();
            Interval {
                reachable: if resamples == 0 { 0.0 } else { th.len() as f64 / resamples as f64 },
                threshold: percentiles(th),
                precision: percentiles(pr),
            }
        })
        .collect()
}
