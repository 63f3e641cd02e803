//! Passes over a distinct-score table in fixed chunks, in parallel, whose results are combined
//! in chunk order: the same sums whatever the thread count.

use rayon::prelude::*;

/// Rows per chunk of a pass.
pub const CHUNK: usize = 1 << 16;

/// `f(lo, hi)` of each chunk of rows `0..len`, in chunk order.
pub fn map<T: Send>(len: usize, f: impl Fn(usize, usize) -> T + Sync + Send) -> Vec<T> {
    (0..len).step_by(CHUNK).collect::<Vec<_>>().into_par_iter().map(|lo| f(lo, (lo + CHUNK).min(len))).collect()
}
