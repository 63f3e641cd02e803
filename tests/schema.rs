//! The artifact's JSON Schema, docs/artifact.schema.json, is the one the artifact's types derive:
//! a change to the artifact that the committed schema does not describe fails here. (The Python
//! suite validates every artifact it writes against the committed file.) Run with
//! `SIMCAL_BLESS=1` to rewrite the file after a deliberate change.

use simcal::calibrate::artifact::Artifact;

#[test]
fn the_committed_schema_is_the_artifacts() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/artifact.schema.json"));
    let want = serde_json::to_string_pretty(&Artifact::json_schema()).unwrap() + "\n";
    if std::env::var_os("SIMCAL_BLESS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let got = std::fs::read_to_string(path).unwrap();
    assert!(
        got == want,
        "docs/artifact.schema.json is not the schema the artifact's types derive: rerun with SIMCAL_BLESS=1 and review the diff"
    );
    // Its shape: every top-level field of an artifact is a property, and the required ones are
    // those an artifact without its optional parts still has.
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    let props = v["properties"].as_object().unwrap();
    for field in ["schema_version", "model", "metric", "abstain", "global", "groups", "targets", "certification"] {
        assert!(props.contains_key(field), "{field}");
    }
    let required: Vec<&str> = v["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(required.contains(&"global") && !required.contains(&"certification"), "{required:?}");
}
