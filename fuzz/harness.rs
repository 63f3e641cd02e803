//! What each fuzz target does with its input, shared by the targets (`fuzz_targets/`) and the
//! corpus replay in the test suite (`tests/fuzz_corpus.rs`): write the bytes to a file the way
//! a user would hand it over, and read it with simcal's reader. Any error is fine; a panic, an
//! abort or a runaway allocation is a finding.

use std::path::PathBuf;

use simcal::embed::{open_corpus, read_queries, ReadOptions};

/// Every target, by name.
pub const TARGETS: [&str; 9] =
    ["embeddings_parquet", "embeddings_npy", "qrels", "trec_run", "score_table", "artifact", "histograms", "nightly_config", "merge_part"];

/// A file of this process named `name` holding `data`.
fn file(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simcal-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(name);
    std::fs::write(&path, data).expect("writing the fuzz input");
    path
}

/// Reads an embeddings file whole (as queries) and chunk by chunk (as a corpus).
fn embeddings(path: &std::path::Path) {
    let opts = ReadOptions { chunk_rows: 7, ..ReadOptions::default() };
    let _ = read_queries(path, &opts);
    if let Ok(mut c) = open_corpus(path, &opts) {
        while let Ok(Some(_)) = c.next_chunk() {}
    }
}

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "embeddings_parquet" => embeddings(&file("e.parquet", data)),
        "embeddings_npy" => embeddings(&file("e.npy", data)),
        "qrels" => {
            let _ = simcal::labels::read_qrels(&file("qrels.txt", data));
        }
        "trec_run" => {
            let _ = simcal::table::read_trec(&file("run.txt", data));
        }
        "score_table" => {
            let path = file("t.parquet", data);
            if let Ok(t) = simcal::table::read_table(&path) {
                if let Ok(v) = simcal::table::TableView::new(&t, &path) {
                    let _ = v.groups(&[]);
                }
            }
            let _ = simcal::table::read_table_wide(&path);
        }
        "artifact" => {
            let _ = simcal::calibrate::artifact::Artifact::read(&file("cal.json", data));
        }
        "histograms" => {
            let _ = simcal::calibrate::histogram::Histograms::read(&file("h.json", data));
        }
        "merge_part" => {
            // The input through merge's checks alone (its shard, its rows, its queries), then
            // beside each of the two seed parts (the checks across parts: shards, queries, labels).
            let part = file("part.parquet", data);
            let _ = simcal::table::merge_parts(std::slice::from_ref(&part));
            let seeds: [&[u8]; 2] = [include_bytes!("corpus/merge_part/part0.parquet"), include_bytes!("corpus/merge_part/part1.parquet")];
            for (i, seed) in seeds.iter().enumerate() {
                let other = file(&format!("seed{i}.parquet"), seed);
                let _ = simcal::table::merge_parts(&[other, part.clone()]);
            }
        }
        "nightly_config" => {
            let _ = simcal::nightly::Config::load(&file("simcal.toml", data));
        }
        other => panic!("no fuzz target {other}"),
    }
}
