//! The fuzz corpora (fuzz/corpus/TARGET/: the seeds and every input the fuzzers kept, crashes
//! they found included once fixed) replayed through the same harness on stable Rust: a reader
//! that panics on any of them fails here, and so does a change in which inputs the readers
//! accept. `tests/golden/fuzz_accepted.txt` lists the accepted ones (`TARGET FILE`); a reader
//! that starts refusing a valid file, or accepting a broken one, changes the list. After a
//! deliberate change, `SIMCAL_BLESS=1 cargo test --release fuzz_corpus` rewrites it (then read
//! its diff).

#[path = "../fuzz/harness.rs"]
mod harness;

#[test]
fn every_fuzz_corpus_input_is_read_without_a_panic_and_the_valid_ones_are_accepted() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut accepted = String::new();
    for target in harness::TARGETS {
        let dir = root.join("fuzz/corpus").join(target);
        let mut inputs: Vec<std::path::PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        inputs.sort();
        assert!(inputs.len() >= 2, "{target}: the corpus has {} inputs", inputs.len());
        let mut n = 0;
        for p in inputs {
            let data = std::fs::read(&p).unwrap();
            let outcome = std::panic::catch_unwind(|| harness::accepts(target, &data));
            assert!(outcome.is_ok(), "{target}: {} panicked", p.display());
            if outcome.unwrap_or(false) {
                accepted.push_str(&format!("{target} {}\n", p.file_name().unwrap().to_string_lossy()));
                n += 1;
            }
        }
        // Each corpus starts from valid seeds: a target that accepts nothing tests no reader.
        assert!(n >= 1, "{target}: no input accepted");
    }
    let golden = root.join("tests/golden/fuzz_accepted.txt");
    if std::env::var_os("SIMCAL_BLESS").is_some() {
        std::fs::write(&golden, &accepted).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    let (have, want): (std::collections::BTreeSet<&str>, std::collections::BTreeSet<&str>) =
        (accepted.lines().collect(), want.lines().collect());
    let newly: Vec<&&str> = have.difference(&want).collect();
    let no_longer: Vec<&&str> = want.difference(&have).collect();
    assert!(newly.is_empty() && no_longer.is_empty(), "accepted now but not before: {newly:?}\naccepted before but not now: {no_longer:?}");
}
