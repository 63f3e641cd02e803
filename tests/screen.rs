//! The bfloat16 screen of the CPU engine (`score::cpu::screen`): its top k is exactly the top
//! k of `exact_dot` over every pair, on data made so that bfloat16 cannot tell the best
//! documents apart. The engine suite (`engine.rs`) checks it against the f64 reference too.
//!
//! The engine tests run every screening kernel the processor has (AMX-BF16, AVX-512 BF16); for
//! each it lacks they say so on stderr (the rounding, margin and dot tests run everywhere).

use simcal::embed::{Embeddings, InMemorySource, Metric};
use simcal::score::cpu::screen::{exact_dot, from_bf16, margin, to_bf16, Norms};
use simcal::score::cpu::{CpuBackend, Isa, Screened};
use simcal::score::{rank_order, score_corpus, Hit, ScoreOptions};

use crate::common::{ids, random_values};

/// The screening kernels this processor runs; says which it lacks.
fn screening() -> Vec<Isa> {
    let runs = Isa::available();
    let (have, lack): (Vec<Isa>, Vec<Isa>) = [Isa::AmxBf16, Isa::Avx512Bf16].into_iter().partition(|i| runs.contains(i));
    for isa in lack {
        eprintln!("screen tests skip {isa}: this processor lacks it");
    }
    have
}

/// Every pair scored with exact_dot, the top k in rank order.
fn brute_force(q: &Embeddings, c: &Embeddings, k: usize) -> Vec<Vec<Hit>> {
    let (qs, cs, d) = (q.vectors.as_slice().unwrap(), c.vectors.as_slice().unwrap(), q.dim());
    (0..q.len())
        .map(|i| {
            let qv = &qs[i * d..(i + 1) * d];
            let mut all: Vec<Hit> = (0..c.len()).map(|j| Hit { row: j as u64, score: exact_dot(qv, &cs[j * d..(j + 1) * d]) }).collect();
            all.sort_by(rank_order);
            all.truncate(k);
            all
        })
        .collect()
}

fn screened(isa: Isa, q: &Embeddings, c: &Embeddings, k: usize, chunk: usize) -> Vec<Vec<Hit>> {
    let mut backend = CpuBackend::with_isa(isa);
    assert_eq!(backend.isa(), isa);
    let mut src = InMemorySource::new(c.clone(), chunk);
    score_corpus(&mut backend, q, &mut src, ScoreOptions::new(k, Metric::Dot), &|_| Ok(())).unwrap().hits
}

fn same(got: &[Vec<Hit>], want: &[Vec<Hit>], what: &str) {
    assert_eq!(got.len(), want.len());
    for (qi, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: query {qi}: hit count");
        for (r, (a, b)) in g.iter().zip(w).enumerate() {
            assert!(a.row == b.row && a.score.to_bits() == b.score.to_bits(), "{what}: query {qi} rank {r}: {a:?}, want {b:?}");
        }
    }
}

/// Rows near one direction, apart by less than bfloat16's resolution (2⁻⁸ relative), with
/// exact duplicates among them: the screen sees near-ties everywhere.
fn near_ties(prefix: &str, n: usize, dim: usize, seed: u64) -> Embeddings {
    let base = random_values(dim, 99);
    let noise = random_values(n * dim, seed);
    let mut values = Vec::with_capacity(n * dim);
    for r in 0..n {
        // Every 7th row repeats the one before it: exact ties, broken by row.
        let src = if r % 7 == 6 { r - 1 } else { r };
        let spread = [1e-3f32, 1e-5, 1e-7][src % 3];
        values.extend((0..dim).map(|j| base[j] + spread * noise[src * dim + j]));
    }
    Embeddings::from_rows(prefix, ids(prefix, n), dim, values).unwrap()
}

#[test]
fn near_ties_give_exactly_the_top_k_of_exact_dot() {
    // d = 47: pairs padded, a tail after the 64-wide steps; 40 queries span four 12-query panels
    // (two 32-query blocks for AMX).
    let q = near_ties("q", 40, 47, 1);
    let c = near_ties("c", 2000, 47, 2);
    for k in [1, 7, 100, 2000] {
        let want = brute_force(&q, &c, k);
        for isa in screening() {
            for chunk in [2000, 333] {
                same(&screened(isa, &q, &c, k, chunk), &want, &format!("{isa}: k {k}, chunks of {chunk}"));
            }
        }
    }
}

#[test]
fn norms_spread_over_many_orders_of_magnitude_stay_exact() {
    // Dot scores of rows scaled by 2^-30 .. 2^30: a chunk's margin follows its largest norm,
    // so most of its documents pass the screen and are rescored.
    let dim = 64;
    let scale = |n: usize, seed: u64| {
        let mut v = random_values(n * dim, seed);
        let exps = random_values(n, seed + 7);
        for (row, e) in v.chunks_exact_mut(dim).zip(exps) {
            let s = 2f32.powi((e * 60.0) as i32);
            row.iter_mut().for_each(|x| *x *= s);
        }
        v
    };
    let q = Embeddings::from_rows("q", ids("q", 13), dim, scale(13, 3)).unwrap();
    let c = Embeddings::from_rows("c", ids("c", 1500), dim, scale(1500, 4)).unwrap();
    for k in [5, 300] {
        for isa in screening() {
            same(&screened(isa, &q, &c, k, 400), &brute_force(&q, &c, k), &format!("{isa}: k {k}"));
        }
    }
}

#[test]
fn random_data_gives_exactly_the_top_k_of_exact_dot() {
    let q = Embeddings::from_rows("q", ids("q", 25), 96, random_values(25 * 96, 5)).unwrap();
    let c = Embeddings::from_rows("c", ids("c", 3000), 96, random_values(3000 * 96, 6)).unwrap();
    for isa in screening() {
        same(&screened(isa, &q, &c, 50, 1000), &brute_force(&q, &c, 50), &format!("{isa}: random"));
    }
}

#[test]
fn bf16_rounding_is_nearest_even_flushes_and_saturates() {
    // Exactly representable values are kept.
    for x in [0.0f32, -0.0, 1.0, -2.5, 0.15625, f32::from_bits(0x7F7F_0000)] {
        assert_eq!(from_bf16(to_bf16(x)).to_bits(), x.to_bits(), "{x}");
    }
    // Halfway cases go to the even neighbour; others to the nearest.
    assert_eq!(to_bf16(f32::from_bits(0x3F80_8000)), 0x3F80);
    assert_eq!(to_bf16(f32::from_bits(0x3F81_8000)), 0x3F82);
    assert_eq!(to_bf16(f32::from_bits(0x3F80_8001)), 0x3F81);
    assert_eq!(to_bf16(f32::from_bits(0xBF80_7FFF)), 0xBF80);
    // Results below the normal range flush to signed zero; beyond the range saturate.
    assert_eq!(to_bf16(f32::MIN_POSITIVE / 4.0), 0x0000);
    assert_eq!(to_bf16(-f32::MIN_POSITIVE / 4.0), 0x8000);
    assert_eq!(to_bf16(f32::MIN_POSITIVE), 0x0080);
    assert_eq!(to_bf16(f32::MAX), 0x7F7F);
    assert_eq!(to_bf16(-f32::MAX), 0xFF7F);
    // Relative error at most 2^-8 (8 significant bits) in the normal range.
    for x in random_values(10_000, 8) {
        let r = from_bf16(to_bf16(x));
        assert!(((r - x) / x).abs() <= 2f32.powi(-8), "{x} -> {r}");
    }
}

#[test]
fn staging_rounds_as_to_bf16_and_measures_the_norms_of_what_it_stored() {
    // 37 values per row (a 16-wide tail and an odd pair), 5 rows in panels of 4, with the
    // special cases among them: ties, subnormal results, values beyond bfloat16's range.
    let dim = 37;
    let mut values = random_values(5 * dim, 30);
    let special = [f32::from_bits(0x3F80_8000), f32::from_bits(0x3F81_8000), 1e-39, -1e-39, f32::MAX, -f32::MAX, 0.0, -0.0];
    values[..special.len()].copy_from_slice(&special);
    let scales = [1.0f32, 0.5, 3.0, 1.0, 2.0];
    let st = Screened::pack(&values, Some(&scales), 5, dim, 4);
    let pairs = dim.div_ceil(2);
    let mut max = Norms::default();
    for r in 0..5 {
        let x: Vec<f32> = values[r * dim..(r + 1) * dim].iter().map(|v| v * scales[r]).collect();
        assert_eq!(st.row(r), &x[..], "row {r}: the f32 values rescoring reads");
        let (p, j) = (r / 4, r % 4);
        for (k, &v) in x.iter().enumerate() {
            let word = st.words()[(p * pairs + k / 2) * 4 + j];
            let half = (word >> (16 * (k % 2))) as u16;
            assert_eq!(half, to_bf16(v), "row {r} step {k}: {v}");
        }
        let sq = |f: &dyn Fn(f32) -> f64| x.iter().map(|&v| f(v) * f(v)).sum::<f64>().sqrt();
        let want = Norms {
            exact: sq(&|v| f64::from(v)),
            rounded: sq(&|v| f64::from(from_bf16(to_bf16(v)))),
            error: sq(&|v| f64::from(v) - f64::from(from_bf16(to_bf16(v)))),
        };
        let n = st.norms()[r];
        for (got, want) in [(n.exact, want.exact), (n.rounded, want.rounded), (n.error, want.error)] {
            assert!((got - want).abs() <= 1e-12 * want, "row {r}: {n:?} vs {want:?}");
        }
        max = Norms { exact: max.exact.max(n.exact), rounded: max.rounded.max(n.rounded), error: max.error.max(n.error) };
    }
    assert_eq!(st.max(), max);
    // The odd step's partner in the last pair is zero padding.
    assert_eq!(st.words()[(pairs - 1) * 4] >> 16, 0);
}

#[test]
fn the_margin_bounds_the_distance_between_bf16_and_exact_scores() {
    // The screening score here is q̂·ĉ in f64 (the instruction's f32 accumulation is covered
    // by the margin's rounding term); the bound must hold for every pair, and not be loose by
    // more than the Cauchy–Schwarz step allows.
    let dim = 200;
    let rows = |n: usize, seed: u64| -> Vec<Vec<f32>> { random_values(n * dim, seed).chunks(dim).map(<[f32]>::to_vec).collect() };
    let norms = |v: &[f32]| {
        let sq = |f: &dyn Fn(f32) -> f64| v.iter().map(|&x| f(x) * f(x)).sum::<f64>().sqrt();
        Norms {
            exact: sq(&|x| f64::from(x)),
            rounded: sq(&|x| f64::from(from_bf16(to_bf16(x)))),
            error: sq(&|x| f64::from(x) - f64::from(from_bf16(to_bf16(x)))),
        }
    };
    let (qs, cs) = (rows(20, 10), rows(200, 11));
    let cmax = cs.iter().map(|c| norms(c)).fold(Norms::default(), |a, b| Norms {
        exact: a.exact.max(b.exact),
        rounded: a.rounded.max(b.rounded),
        error: a.error.max(b.error),
    });
    let mut worst = 0f64;
    for q in &qs {
        let m = margin(&norms(q), &cmax, dim);
        for c in &cs {
            let screen: f64 = q.iter().zip(c).map(|(&a, &b)| f64::from(from_bf16(to_bf16(a))) * f64::from(from_bf16(to_bf16(b)))).sum();
            let gap = (f64::from(exact_dot(q, c)) - screen).abs();
            assert!(gap <= m, "gap {gap} beyond margin {m}");
            worst = worst.max(gap / m);
        }
    }
    assert!(worst > 1e-3, "the margin is far looser than expected: worst gap / margin {worst}");
}

#[test]
fn exact_dot_sums_in_its_documented_order() {
    // Sixteen lanes times four chains over 64-wide steps, the tail's 16-wide steps on the
    // first chain, then (c0 + c1) + (c2 + c3) per lane and a pairwise fold of the lanes.
    for n in [1, 15, 16, 63, 64, 65, 200, 768, 1000] {
        let (a, b) = (random_values(n, 20 + n as u64), random_values(n, 40 + n as u64));
        let mut acc = [[0f32; 16]; 4];
        let whole = n / 64 * 64;
        for i in (0..whole).step_by(64) {
            for (j, lanes) in acc.iter_mut().enumerate() {
                for (l, x) in lanes.iter_mut().enumerate() {
                    *x = a[i + 16 * j + l].mul_add(b[i + 16 * j + l], *x);
                }
            }
        }
        for i in (whole..n).step_by(16) {
            for (l, x) in acc[0].iter_mut().enumerate() {
                let (p, q) = if i + l < n { (a[i + l], b[i + l]) } else { (0.0, 0.0) };
                *x = p.mul_add(q, *x);
            }
        }
        let mut s: Vec<f32> = (0..16).map(|l| (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l])).collect();
        while s.len() > 1 {
            let h = s.len() / 2;
            s = (0..h).map(|l| s[l] + s[l + h]).collect();
        }
        assert_eq!(exact_dot(&a, &b).to_bits(), s[0].to_bits(), "n {n}");
        let f64_dot: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
        assert!((f64::from(s[0]) - f64_dot).abs() < 1e-5, "n {n}");
    }
}
