//! Golden values computed once by faiss `IndexFlatIP` on L2-normalised float32 vectors
//! (tests/golden/make_faiss.py), checked against `simcal score`: same ids, scores within 1e-5.

use arrow::array::AsArray;
use arrow::datatypes::Float32Type;
use simcal::table::read_table;

use crate::common::simcal;

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
    let mut id_mismatch = 0;
    for (qi, wq) in queries.iter().enumerate() {
        assert_eq!(q.value(qi * k), wq["id"].as_str().unwrap());
        for (r, (wid, wscore)) in wq["ids"].as_array().unwrap().iter().zip(wq["scores"].as_array().unwrap()).enumerate() {
            let row = qi * k + r;
            let ws = wscore.as_f64().unwrap();
            assert!((s.value(row) as f64 - ws).abs() <= 1e-5, "query {qi} rank {r}: {} vs faiss {ws}", s.value(row));
            if d.value(row) != wid.as_str().unwrap() {
                // Only allowed where faiss itself has a tie (within float error) at this rank.
                let next = wq["scores"].as_array().unwrap();
                let tied = next.iter().any(|x| x != wscore && (x.as_f64().unwrap() - ws).abs() <= 1e-6);
                assert!(tied, "query {qi} rank {r}: {} vs faiss {}", d.value(row), wid);
                id_mismatch += 1;
            }
        }
    }
    assert!(id_mismatch <= 2, "{id_mismatch} rank positions differ from faiss");
}
