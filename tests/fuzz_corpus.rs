//! The fuzz corpora (fuzz/corpus/TARGET/: the seeds and every input the fuzzers kept, crashes
//! they found included once fixed) replayed through the same harness on stable Rust: a reader
//! that panics on any of them fails here.

#[path = "../fuzz/harness.rs"]
mod harness;

#[test]
fn every_fuzz_corpus_input_is_read_without_a_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for target in harness::TARGETS {
        let dir = root.join(target);
        let mut inputs: Vec<std::path::PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        inputs.sort();
        assert!(inputs.len() >= 2, "{target}: the corpus has {} inputs", inputs.len());
        for p in inputs {
            let data = std::fs::read(&p).unwrap();
            let outcome = std::panic::catch_unwind(|| harness::run(target, &data));
            assert!(outcome.is_ok(), "{target}: {} panicked", p.display());
        }
    }
}
