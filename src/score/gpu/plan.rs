//! Sizes and schedules of the GPU backend: pure arithmetic, no GPU needed.
//!
//! The kernel keeps, per query, the scores at or above a bound (the k-th best score seen so
//! far) in `cap` candidate slots. With a corpus in random order, the bound after `seen` rows lets
//! through about `k · len / seen` of the next `len` rows, so dispatches grow with the rows seen
//! (the first one covers `cap` rows, where everything passes; then each covers as many rows as
//! were seen before it) and each emits about k candidates per query, well inside `cap = 3k`.
//! A query that overflows anyway (a corpus sorted by similarity, massive ties) is re-run with a
//! tighter bound or over halves of the range, so the result stays exact (see the backend).

/// Rows (queries or corpus) per workgroup tile; buffers are padded to a multiple of it.
pub const TILE: usize = 128;
/// Elements of d staged per kernel step; rows are padded to a multiple of it.
pub const STEP: usize = 16;

/// Candidate slots per query for a top `k`: 3k rounded up to the tile, at least 256.
pub fn cap(k: usize) -> usize {
    k.saturating_mul(3).max(256).next_multiple_of(TILE)
}

/// Row length on the GPU: d padded to a multiple of [`STEP`].
pub fn padded_dim(dim: usize) -> usize {
    dim.max(1).next_multiple_of(STEP)
}

/// Rows padded to a multiple of [`TILE`].
pub fn padded_rows(rows: usize) -> usize {
    rows.max(1).next_multiple_of(TILE)
}

/// How many corpus rows the next dispatch covers, starting `pos` rows into a chunk of `rows`
/// rows whose first row is `first_row` in the corpus. `bounded` says whether every query of the
/// dispatch already has a bound (k hits seen); `max_rows` caps one dispatch's work. The result
/// is a multiple of [`TILE`] unless it reaches the chunk's end, so dispatches start on a tile.
pub fn dispatch_rows(first_row: u64, pos: usize, rows: usize, cap: usize, bounded: bool, max_rows: usize) -> usize {
    let seen = usize::try_from(first_row).unwrap_or(usize::MAX).saturating_add(pos);
    let want = if bounded { seen.max(cap) } else { cap };
    let want = want.min(max_rows.max(TILE)) / TILE * TILE;
    want.max(TILE).min(rows - pos)
}

/// The most corpus rows one dispatch may cover with `queries` query positions of `dim`
/// padded elements: about 2^38 multiply-adds (tens of milliseconds on a large GPU), and no more
/// workgroups along x than the adapter allows.
pub fn max_dispatch_rows(queries: usize, padded_dim: usize, max_workgroups: u32) -> usize {
    const WORK: usize = 1 << 38;
    let by_work = WORK / (padded_rows(queries) * padded_dim).max(1);
    by_work.clamp(TILE, max_workgroups as usize * TILE) / TILE * TILE
}

/// The most query positions one dispatch may hold when `cap` candidate slots of 8 bytes each
/// must fit in `max_binding` bytes (a multiple of [`TILE`], at least one tile).
pub fn max_dispatch_queries(cap: usize, max_binding: u64, max_workgroups: u32) -> usize {
    let by_binding = usize::try_from(max_binding / (cap as u64 * 8)).unwrap_or(usize::MAX);
    by_binding.min(max_workgroups as usize * TILE).max(TILE) / TILE * TILE
}
