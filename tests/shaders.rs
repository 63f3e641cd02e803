//! Every kernel under `shaders/` parses and validates with naga (the WGSL front end wgpu uses),
//! in both storage precisions, so a shader error fails the tests on any machine, GPU or not.

use simcal::score::gpu::kernels::{self, Precision, KERNELS};

fn validate(name: &str, src: &str) {
    let module = naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
    if let Err(e) = v.validate(&module) {
        panic!("{name}: {}", e.emit_to_string(src));
    }
}

#[test]
fn every_wgsl_file_is_a_kernel_and_validates() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("shaders");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let src = std::fs::read_to_string(&path).unwrap();
            validate(&name, &src);
            // The file on disk is the one the library embeds.
            let embedded = KERNELS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{name} is not in kernels::KERNELS"));
            assert_eq!(embedded.1, src, "{name}: embedded source differs from the file");
            seen += 1;
        }
    }
    assert_eq!(seen, KERNELS.len(), "every embedded kernel has its file");
}

#[test]
fn f16_variants_validate() {
    for (name, _) in KERNELS {
        let src = kernels::source(name, Precision::F16).unwrap_or_else(|| panic!("{name}: no f16 variant"));
        assert!(src.contains("vec4<f16>"), "{name}: the f16 variant stores f16");
        validate(&format!("{name} (f16)"), &src);
    }
}

#[test]
fn a_broken_kernel_fails_validation() {
    // The check can fail: a kernel that reads an undeclared binding is rejected.
    let src = kernels::source(kernels::SCORE_TOPK, Precision::F32).unwrap().replace("thresholds[q]", "nothing[q]");
    let parsed = naga::front::wgsl::parse_str(&src);
    assert!(parsed.is_err(), "an undeclared identifier must not parse");
}
