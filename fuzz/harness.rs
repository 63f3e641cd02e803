//! What each fuzz target does with its input, shared by the targets (`fuzz_targets/`) and the
//! corpus replay in the test suite (`tests/fuzz_corpus.rs`): write the bytes to a file the way
//! a user would hand it over, and read it with simcal's reader. Any error is fine; a panic, an
//! abort or a runaway allocation is a finding.

use std::path::PathBuf;

use simcal::embed::{open_corpus, read_queries, ReadOptions};

/// Every target, by name.
// The replay test reads the list; each fuzz target, which includes this file too, does not.
#[allow(dead_code)]
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

/// Reads an embeddings file whole (as queries) and chunk by chunk (as a corpus); whether both
/// read it to the end.
fn embeddings(path: &std::path::Path) -> bool {
    let opts = ReadOptions { chunk_rows: 7, ..ReadOptions::default() };
    let whole = read_queries(path, &opts).is_ok();
    let chunked = match open_corpus(path, &opts) {
        Ok(mut c) => loop {
            match c.next_chunk() {
                Ok(Some(_)) => {}
                Ok(None) => break true,
                Err(_) => break false,
            }
        },
        Err(_) => false,
    };
    whole && chunked
}

/// Runs target `name` on `data`; whether its reader accepted the input (a valid file).
pub fn accepts(name: &str, data: &[u8]) -> bool {
    match name {
        "embeddings_parquet" => embeddings(&file("e.parquet", data)),
        "embeddings_npy" => embeddings(&file("e.npy", data)),
        "qrels" => simcal::labels::read_qrels(&file("qrels.txt", data)).is_ok(),
        "trec_run" => simcal::table::read_trec(&file("run.txt", data)).is_ok(),
        "score_table" => {
            let path = file("t.parquet", data);
            let viewed = simcal::table::read_table(&path).is_ok_and(|t| {
                simcal::table::TableView::new(&t, &path).is_ok_and(|v| {
                    let _ = v.groups(&[]);
                    true
                })
            });
            let wide = simcal::table::read_table_wide(&path).is_ok();
            viewed && wide
        }
        "artifact" => simcal::calibrate::artifact::Artifact::read(&file("cal.json", data)).is_ok(),
        "histograms" => simcal::calibrate::histogram::Histograms::read(&file("h.json", data)).is_ok(),
        "merge_part" => {
            // The input through merge's checks alone (its shard, its rows, its queries), then
            // beside each of the two seed parts (the checks across parts: shards, queries, labels).
            let part = file("part.parquet", data);
            let alone = simcal::table::merge_parts(std::slice::from_ref(&part)).is_ok();
            let seeds: [&[u8]; 2] = [include_bytes!("corpus/merge_part/part0.parquet"), include_bytes!("corpus/merge_part/part1.parquet")];
            let beside = seeds.iter().enumerate().fold(false, |any, (i, seed)| {
                let other = file(&format!("seed{i}.parquet"), seed);
                simcal::table::merge_parts(&[other, part.clone()]).is_ok() || any
            });
            alone || beside
        }
        "nightly_config" => simcal::nightly::Config::load(&file("simcal.toml", data)).is_ok(),
        other => panic!("no fuzz target {other}"),
    }
}
