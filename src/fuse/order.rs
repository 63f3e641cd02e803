//! The order of a query's items by an integer key, ties by position, sorted as packed 64-bit
//! words: the key's high 48 bits above the item's 16-bit position. A word sorts through the
//! standard library's sorting networks, twice as fast as a (key, position) pair; items whose
//! keys share their high bits are then put in full-key order, so the result is exact.

/// Bits of a word that hold the position.
const LOW: u32 = 16;
const MASK: u64 = (1 << LOW) - 1;

/// Reused buffers.
#[derive(Default)]
pub(super) struct Order {
    words: Vec<u64>,
    wide: Vec<(u64, u32)>,
}

impl Order {
    /// The positions of the `keep` smallest of `keys` by (key, position), ascending, into `out`.
    #[expect(clippy::indexing_slicing, reason = "positions come from `keys` itself")]
    pub(super) fn smallest(&mut self, keys: &[u64], keep: usize, out: &mut Vec<u32>) {
        out.clear();
        let n = keys.len();
        let keep = keep.min(n);
        if keep == 0 {
            return;
        }
        if n > 1 << LOW {
            return self.smallest_wide(keys, keep, out);
        }
        let words = &mut self.words;
        words.clear();
        words.extend(keys.iter().enumerate().map(|(i, &k)| (k & !MASK) | i as u64));
        if keep < n {
            words.select_nth_unstable(keep - 1);
            // Below the edge everything stays; past it, only words sharing the edge's high
            // bits can belong (their full keys decide).
            let edge = words[keep - 1] >> LOW;
            let mut end = keep;
            for j in keep..n {
                if words[j] >> LOW == edge {
                    words.swap(end, j);
                    end += 1;
                }
            }
            words.truncate(end);
        }
        words.sort_unstable();
        out.extend(words.iter().map(|&w| (w & MASK) as u32));
        // Runs of equal high bits are in position order: a stable sort on the full key orders them.
        let mut start = 0;
        for run in words.chunk_by(|a, b| a >> LOW == b >> LOW) {
            if run.len() > 1 {
                out[start..start + run.len()].sort_by_key(|&i| keys[i as usize]);
            }
            start += run.len();
        }
        out.truncate(keep);
    }

    /// [`Order::smallest`] for more items than a word's position holds.
    fn smallest_wide(&mut self, keys: &[u64], keep: usize, out: &mut Vec<u32>) {
        let wide = &mut self.wide;
        wide.clear();
        wide.extend(keys.iter().enumerate().map(|(i, &k)| (k, i as u32)));
        if keep < wide.len() {
            wide.select_nth_unstable(keep - 1);
            wide.truncate(keep);
        }
        wide.sort_unstable();
        out.extend(wide.iter().map(|&(_, i)| i));
    }
}
