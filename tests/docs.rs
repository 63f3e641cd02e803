//! The README, docs/, benches/RESULTS.md and data/README.md link to what exists: every relative link names a file of the
//! repository (and, with `#anchor`, one of its headings), and every repository path quoted in
//! backquotes (`tests/golden.rs`, `benches/fit.sh`) is there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The pages checked: the README, every page of docs/, and the benches' results.
fn pages() -> Vec<PathBuf> {
    let root = root();
    let mut pages = vec![root.join("README.md"), root.join("benches/RESULTS.md"), root.join("data/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The page's text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text).lines().filter_map(|l| l.strip_prefix('#')).map(|h| slug(h.trim_start_matches('#').replace('`', "").as_str())).collect()
}

/// The targets of the page's markdown links `[text](target)` and images.
fn links(text: &str) -> Vec<String> {
    let text = prose(text);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].trim().to_owned());
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').map_or((target.as_str(), None), |(f, a)| (f, Some(a)));
            let path = if file.is_empty() { page.clone() } else { dir.join(file) };
            checked += 1;
            if !path.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            }
            if let Some(a) = anchor {
                let heads = anchors(&std::fs::read_to_string(&path).unwrap_or_default());
                if !heads.contains(a) {
                    broken.push(format!("{}: {target} (no heading #{a} in {})", page.display(), path.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 20, "only {checked} links found");
}

#[test]
fn every_repository_path_in_backquotes_exists() {
    const TOP: [&str; 12] =
        ["src/", "tests/", "benches/", "docs/", "data/", "python/", "cli/", "scripts/", "shaders/", "fuzz/", ".ci/", "examples/"];
    let root = root();
    let mut checked = 0;
    let mut missing = Vec::new();
    for page in pages() {
        let text = prose(&std::fs::read_to_string(&page).unwrap());
        for (i, quoted) in text.split('`').enumerate() {
            // Odd pieces are inside backquotes; a path is one word.
            if i % 2 == 0 || quoted.contains(char::is_whitespace) || !TOP.iter().any(|t| quoted.starts_with(t)) {
                continue;
            }
            // `src/job.rs:120`, `tests/cli.rs::a_test`, `cli/src/{apply,merge}.rs` name places in
            // files; `data/ENC.*` names files of a folder.
            let path = quoted.split([':', '{']).next().unwrap_or(quoted);
            let path = if path.contains('*') { Path::new(path).parent().unwrap_or(Path::new(path)) } else { Path::new(path) };
            checked += 1;
            if !root.join(path).exists() {
                missing.push(format!("{}: `{quoted}`", page.display()));
            }
        }
    }
    assert!(missing.is_empty(), "paths named but not in the repository:\n{}", missing.join("\n"));
    assert!(checked > 20, "only {checked} paths found");
}
