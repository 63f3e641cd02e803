//! Labeled pairs reduced to their distinct scores: every later step (the sweep, PAV, Newton,
//! the bootstrap) works on this table, whose size is the number of distinct scores, not pairs.
//!
//! Scores are sorted once with an LSD radix sort on their f32 bit patterns (three passes of
//! 11 bits), relevant and irrelevant separately, and merged into counts per distinct score.

/// Distinct scores in ascending order with how many relevant and irrelevant pairs have each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Distinct {
    /// The scores, ascending, distinct (−0 and +0 are one score).
    pub x: Vec<f64>,
    /// Relevant pairs at each score.
    pub pos: Vec<u64>,
    /// Irrelevant pairs at each score.
    pub neg: Vec<u64>,
}

/// f32 bits mapped so that unsigned order is numeric order (NaN excluded by the caller).
fn key(s: f32) -> u32 {
    let s = if s == 0.0 { 0.0 } else { s };
    let b = s.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

fn unkey(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7FFF_FFFF } else { !k })
}

/// Sorts `keys` ascending in place (LSD radix, 11-bit digits).
pub fn radix_sort(keys: &mut Vec<u32>) {
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    if keys.len() < 256 {
        keys.sort_unstable();
        return;
    }
    let mut tmp = vec![0u32; keys.len()];
    for pass in 0..3 {
        let shift = pass * BITS;
        let mut count = [0usize; BUCKETS];
        for &k in keys.iter() {
            count[((k >> shift) as usize) & (BUCKETS - 1)] += 1;
        }
        // A digit every key shares needs no pass.
        if count.contains(&keys.len()) {
            continue;
        }
        let mut sum = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        for &k in keys.iter() {
            let d = ((k >> shift) as usize) & (BUCKETS - 1);
            tmp[count[d]] = k;
            count[d] += 1;
        }
        std::mem::swap(keys, &mut tmp);
    }
}

impl Distinct {
    /// Builds the table from scores (no NaN) and relevance flags.
    pub fn from_pairs(scores: &[f32], relevant: &[bool]) -> Distinct {
        let mut pos: Vec<u32> = Vec::new();
        let mut neg: Vec<u32> = Vec::with_capacity(scores.len());
        for (&s, &r) in scores.iter().zip(relevant) {
            if r {
                pos.push(key(s));
            } else {
                neg.push(key(s));
            }
        }
        let (mut pos, mut neg) = rayon::join(
            move || {
                radix_sort(&mut pos);
                pos
            },
            move || {
                radix_sort(&mut neg);
                neg
            },
        );
        let (mut i, mut j) = (0, 0);
        let mut out = Distinct::default();
        while i < pos.len() || j < neg.len() {
            let k = match (pos.get(i), neg.get(j)) {
                (Some(&a), Some(&b)) => a.min(b),
                (Some(&a), None) => a,
                (None, Some(&b)) => b,
                (None, None) => break,
            };
            let i0 = i;
            while i < pos.len() && pos[i] == k {
                i += 1;
            }
            let j0 = j;
            while j < neg.len() && neg[j] == k {
                j += 1;
            }
            out.x.push(f64::from(unkey(k)));
            out.pos.push((i - i0) as u64);
            out.neg.push((j - j0) as u64);
        }
        pos.clear();
        neg.clear();
        out
    }

    /// Distinct scores.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Relevant pairs in all.
    pub fn n_pos(&self) -> u64 {
        self.pos.iter().sum()
    }

    /// Irrelevant pairs in all.
    pub fn n_neg(&self) -> u64 {
        self.neg.iter().sum()
    }
}
