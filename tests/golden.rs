//! Golden values computed once by faiss `IndexFlatIP` on L2-normalised float32 vectors
//! (tests/golden/make_faiss.py), checked against `simcal score`: the same ids (exact ties by
//! corpus row, near ties either way), scores within [`SCORE_TOLERANCE`].

use arrow::array::AsArray;
use arrow::datatypes::Float32Type;
use simcal::table::read_table;

use crate::common::simcal;

/// Every CPU kernel measured within 2.4e-7 of faiss on this fixture (67 dimensions).
const SCORE_TOLERANCE: f64 = 5e-7;

#[test]
fn top_k_matches_faiss_index_flat_ip() {
    let golden = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/golden");
    let out = tempfile::tempdir().unwrap();
    let table = out.path().join("t.parquet");
    let o = simcal()
        .args(["score", "-k", "10", "--backend", "cpu", "--queries"])
        .arg(golden.join("faiss_queries.parquet"))
        .arg("--corpus")
        .arg(golden.join("faiss_corpus.parquet"))
        .arg("--out")
        .arg(&table)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden.join("faiss_topk.json")).unwrap()).unwrap();
    let t = read_table(&table).unwrap();
    let q = t.batch.column(0).as_string::<i32>();
    let d = t.batch.column(1).as_string::<i32>();
    let s = t.batch.column(3).as_primitive::<Float32Type>();
    let k = want["k"].as_u64().unwrap() as usize;
    let queries = want["queries"].as_array().unwrap();
    assert_eq!(t.len(), queries.len() * k);
    let (mut exact_ties_cut, mut near_ties) = (0, 0);
    for (qi, wq) in queries.iter().enumerate() {
        assert_eq!(q.value(qi * k), wq["id"].as_str().unwrap());
        let ids: Vec<&str> = wq["ids"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        let scores: Vec<f64> = wq["scores"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let ours: Vec<&str> = (0..k).map(|r| d.value(qi * k + r)).collect();
        for (r, &ws) in scores.iter().enumerate() {
            let got = f64::from(s.value(qi * k + r));
            assert!((got - ws).abs() <= SCORE_TOLERANCE, "query {qi} rank {r}: {got} vs faiss {ws}");
        }
        let mut r = 0;
        while r < k {
            // A run of ranks at which faiss scores exactly the same (identical rows).
            let end = (r..k).find(|&j| scores[j] != scores[r]).unwrap_or(k);
            if end - r > 1 {
                // The tie rule: the same rows as faiss (the lowest, where k cuts the tie), ranked
                // by corpus row ascending (faiss lists them descending; the ids are zero-padded
                // so that their order is the rows').
                let (mut a, b) = (ids[r..end].to_vec(), &ours[r..end]);
                a.sort_unstable();
                assert_eq!(b, &a[..], "query {qi} ranks {r}..{end}: an exact tie");
                exact_ties_cut += usize::from(end == k);
            } else if ours[r] != ids[r] {
                // A near tie: faiss's score at this rank is within the rounding of another, and
                // our row at this rank is one faiss ranks there too.
                let near: Vec<usize> = (0..k).filter(|&j| j != r && (scores[j] - scores[r]).abs() <= 2.0 * SCORE_TOLERANCE).collect();
                assert!(near.iter().any(|&j| ids[j] == ours[r]), "query {qi} rank {r}: {} vs faiss {}", ours[r], ids[r]);
            }
            r = end;
        }
        near_ties += (1..k).filter(|&j| scores[j] != scores[j - 1] && scores[j - 1] - scores[j] <= 2.0 * SCORE_TOLERANCE).count();
    }
    // The fixture reaches both rules: an exact tie cut by k, and a near tie.
    assert!(exact_ties_cut >= 1 && near_ties >= 1, "exact ties cut by k {exact_ties_cut}, near ties {near_ties}");
}
