use simcal::embed::{Embeddings, InMemorySource, Metric};
use simcal::score::cpu::{CpuBackend, Isa};
use simcal::score::{score_corpus, Hit, ScoreOptions, Scored};

use crate::common::{embeddings, naive_topk};

fn run(isa: Isa, q: &Embeddings, c: &Embeddings, k: usize, metric: Metric, chunk: usize) -> Scored {
    let mut backend = CpuBackend::with_isa(isa);
    assert_eq!(backend.isa(), isa);
    let mut src = InMemorySource::new(c.clone(), chunk);
    score_corpus(&mut backend, q, &mut src, ScoreOptions { k, metric }, &|_| {}).unwrap()
}

/// Checks hits against the reference: same length, each hit's score equal to the reference
/// score of its row within `tol`, rank order, and a valid top k (no reference score above the
/// k-th returned one by more than `tol`). Returns how many positions name the same row.
fn check(hits: &[Vec<Hit>], reference: &[Vec<(u64, f64)>], q: &Embeddings, c: &Embeddings, cosine: bool, tol: f64) -> usize {
    let all = naive_topk(q, c, c.len(), cosine);
    let mut same = 0;
    for (qi, (h, r)) in hits.iter().zip(reference).enumerate() {
        assert_eq!(h.len(), r.len(), "query {qi}: hit count");
        let exact: std::collections::HashMap<u64, f64> = all[qi].iter().copied().collect();
        for w in h.windows(2) {
            assert!(w[0].score > w[1].score || (w[0].score == w[1].score && w[0].row < w[1].row), "query {qi}: rank order {w:?}");
        }
        for hit in h {
            let want = exact[&hit.row];
            assert!((hit.score as f64 - want).abs() <= tol, "query {qi} row {}: score {} vs {want}", hit.row, hit.score);
        }
        let kth = h.last().unwrap().score as f64;
        assert!(r.last().unwrap().1 <= kth + tol, "query {qi}: missed a better document");
        same += h.iter().zip(r).filter(|(a, b)| a.row == b.0).count();
    }
    same
}

fn every_isa(f: impl Fn(Isa)) {
    for isa in Isa::available() {
        f(isa);
    }
}

#[test]
fn random_data_matches_reference() {
    every_isa(|isa| {
        let q = embeddings("q", 37, 64, 1);
        let c = embeddings("c", 1000, 64, 2);
        for metric in [Metric::Cosine, Metric::Dot] {
            let cosine = metric == Metric::Cosine;
            let out = run(isa, &q, &c, 10, metric, 300);
            let r = naive_topk(&q, &c, 10, cosine);
            let same = check(&out.hits, &r, &q, &c, cosine, 1e-5);
            assert!(same >= 37 * 10 - 2, "{isa:?}: only {same} of 370 positions agree");
        }
    });
}

#[test]
fn many_queries_span_several_blocks_and_chunks() {
    every_isa(|isa| {
        let q = embeddings("q", 700, 48, 3);
        let c = embeddings("c", 2100, 48, 4);
        let out = run(isa, &q, &c, 7, Metric::Cosine, 512);
        let r = naive_topk(&q, &c, 7, true);
        check(&out.hits, &r, &q, &c, true, 1e-5);
    });
}

#[test]
fn dimension_not_a_multiple_of_16_and_d_1() {
    every_isa(|isa| {
        for d in [1usize, 3, 17, 31, 257, 300] {
            let q = embeddings("q", 13, d, 5 + d as u64);
            let c = embeddings("c", 333, d, 6 + d as u64);
            // d = 1 under cosine makes every score ±1: all ties, resolved by row.
            let out = run(isa, &q, &c, 5, Metric::Cosine, 100);
            let r = naive_topk(&q, &c, 5, true);
            check(&out.hits, &r, &q, &c, true, 1e-5);
        }
        // d = 1 with the dot metric and integer values: exact ties, resolved by row.
        let c = Embeddings::from_rows("c", crate::common::ids("c", 300), 1, (0..300).map(|i| (i % 3) as f32).collect()).unwrap();
        let q = Embeddings::from_rows("q", vec!["q".into()], 1, vec![1.0]).unwrap();
        let out = run(isa, &q, &c, 5, Metric::Dot, 64);
        let rows: Vec<u64> = out.hits[0].iter().map(|h| h.row).collect();
        assert_eq!(rows, [2, 5, 8, 11, 14], "{isa:?}");
    });
}

#[test]
fn ties_and_duplicate_vectors_rank_by_row() {
    every_isa(|isa| {
        let d = 24;
        let base = embeddings("c", 10, d, 7);
        // 400 rows: ten distinct vectors, each repeated 40 times, interleaved.
        let mut values = Vec::new();
        for i in 0..400 {
            values.extend(base.vectors.row(i % 10).iter());
        }
        let c = Embeddings::from_rows("c", crate::common::ids("c", 400), d, values).unwrap();
        let q = embeddings("q", 9, d, 8);
        for chunk in [7, 64, 400] {
            let out = run(isa, &q, &c, 50, Metric::Cosine, chunk);
            for (qi, h) in out.hits.iter().enumerate() {
                // The best vector's 40 copies come first, in row order, then the next one's.
                let first = h[0].row % 10;
                let rows: Vec<u64> = h[..40].iter().map(|x| x.row).collect();
                let want: Vec<u64> = (0..40).map(|i| first + 10 * i).collect();
                assert_eq!(rows, want, "{isa:?} chunk {chunk} query {qi}");
                assert!(h[..40].iter().all(|x| x.score == h[0].score), "duplicates must score identically");
            }
        }
    });
}

#[test]
fn k_at_least_corpus_size_returns_everything() {
    every_isa(|isa| {
        let q = embeddings("q", 5, 20, 9);
        let c = embeddings("c", 30, 20, 10);
        for k in [30, 31, 1000, usize::MAX / 4] {
            let out = run(isa, &q, &c, k, Metric::Dot, 8);
            let r = naive_topk(&q, &c, k.min(30), false);
            check(&out.hits, &r, &q, &c, false, 1e-5);
            assert!(out.hits.iter().all(|h| h.len() == 30));
        }
    });
}

#[test]
fn one_query_splits_the_corpus() {
    every_isa(|isa| {
        let q = embeddings("q", 1, 100, 11);
        let c = embeddings("c", 5000, 100, 12);
        let out = run(isa, &q, &c, 25, Metric::Cosine, 5000);
        let r = naive_topk(&q, &c, 25, true);
        let same = check(&out.hits, &r, &q, &c, true, 1e-5);
        assert!(same >= 24);
    });
}

#[test]
fn instruction_sets_agree() {
    let q = embeddings("q", 50, 96, 13);
    let c = embeddings("c", 900, 96, 14);
    let outs: Vec<Scored> = Isa::available().into_iter().map(|isa| run(isa, &q, &c, 20, Metric::Cosine, 256)).collect();
    for o in &outs[1..] {
        for (a, b) in o.hits.iter().zip(&outs[0].hits) {
            for (x, y) in a.iter().zip(b) {
                assert!((x.score - y.score).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn k_zero_is_refused() {
    let q = embeddings("q", 2, 4, 1);
    let c = embeddings("c", 3, 4, 2);
    let mut backend = CpuBackend::new();
    let mut src = InMemorySource::new(c, 2);
    let err = score_corpus(&mut backend, &q, &mut src, ScoreOptions { k: 0, metric: Metric::Cosine }, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("k must be at least 1"), "{err}");
}
