//! The CPU kernel is chosen by measurement: the rule on injected rates (whatever the host), the
//! forced path, what the table and the summary record, and which kernels this host ran.

use simcal::score::cpu::choose::{choose, measure, rates_text, AVX2_MARGIN, SCREEN_GAIN};
use simcal::score::cpu::Isa;
use simcal::table::read_table;
use simcal::Choice;

use crate::cli::{stderr, Fixture};

#[test]
fn the_rule_chooses_from_measured_rates_whatever_the_host() {
    // An Intel Xeon (Sapphire Rapids) where vdpbf16ps runs at half the f32 FMA rate
    // (cargo bench --bench peak there: 163.7 vs 345.9 GFLOP/s on 2 cores).
    let xeon = [(Isa::Avx512Bf16, 81.9), (Isa::Avx512, 173.0), (Isa::Avx2, 90.0)];
    let c = choose(&xeon).unwrap();
    assert_eq!(c.isa, Isa::Avx512);
    assert!(c.reason.contains("only 0.47× the f32 FMA rate") && c.reason.contains("avx512 at 1.92× the avx2"), "{}", c.reason);
    // An AMD Zen 4: the screen at twice the rate wins.
    let zen4 = [(Isa::Avx512Bf16, 479.0), (Isa::Avx512, 237.0), (Isa::Avx2, 236.0)];
    let c = choose(&zen4).unwrap();
    assert_eq!(c.isa, Isa::Avx512Bf16);
    assert!(c.reason.starts_with("bf16 pair dot products at 2.02× the f32 FMA rate (479 vs 237 GFLOP/s a core)"), "{}", c.reason);
    // The thresholds: the screen at exactly SCREEN_GAIN× wins, just below loses; AVX2 only
    // beyond AVX2_MARGIN× AVX-512.
    let f = 100.0;
    assert_eq!(choose(&[(Isa::Avx512Bf16, SCREEN_GAIN * f), (Isa::Avx512, f)]).unwrap().isa, Isa::Avx512Bf16);
    assert_eq!(choose(&[(Isa::Avx512Bf16, SCREEN_GAIN * f - 1.0), (Isa::Avx512, f)]).unwrap().isa, Isa::Avx512);
    assert_eq!(choose(&[(Isa::Avx512, f), (Isa::Avx2, AVX2_MARGIN * f)]).unwrap().isa, Isa::Avx512);
    assert_eq!(choose(&[(Isa::Avx512, f), (Isa::Avx2, AVX2_MARGIN * f + 1.0)]).unwrap().isa, Isa::Avx2);
    // The screen is judged against the faster f32 kernel.
    assert_eq!(choose(&[(Isa::Avx512Bf16, 160.0), (Isa::Avx512, 80.0), (Isa::Avx2, 120.0)]).unwrap().isa, Isa::Avx2);
    // An AVX2-only host; failed or absurd rates are ignored.
    assert_eq!(choose(&[(Isa::Avx2, 60.0)]).unwrap().isa, Isa::Avx2);
    assert_eq!(choose(&[(Isa::Avx512Bf16, f64::NAN), (Isa::Avx512, 0.0), (Isa::Avx2, 60.0)]).unwrap().isa, Isa::Avx2);
    assert!(choose(&[]).is_none() && choose(&[(Isa::Avx2, f64::INFINITY)]).is_none());
    // An Intel Xeon (Emerald Rapids, model 207) with AMX, one core's rates as the choice measured
    // them there: the AMX screen at 16× the f32 rate wins over both.
    let amx = [(Isa::AmxBf16, 2921.0), (Isa::Avx512Bf16, 88.0), (Isa::Avx512, 179.0), (Isa::Avx2, 95.0)];
    let c = choose(&amx).unwrap();
    assert_eq!(c.isa, Isa::AmxBf16);
    assert!(c.reason.starts_with("AMX bf16 tile products at 16.32× the f32 FMA rate (2921 vs 179 GFLOP/s a core)"), "{}", c.reason);
    // The faster screen is the one judged; a slow one loses to f32 with its own name.
    assert_eq!(choose(&[(Isa::AmxBf16, 200.0), (Isa::Avx512Bf16, 479.0), (Isa::Avx512, 237.0)]).unwrap().isa, Isa::Avx512Bf16);
    let c = choose(&[(Isa::AmxBf16, 200.0), (Isa::Avx512, 237.0)]).unwrap();
    assert_eq!(c.isa, Isa::Avx512);
    assert!(c.reason.starts_with("AMX bf16 tile products at only 0.84×"), "{}", c.reason);
}

#[test]
fn every_kernel_family_this_host_runs_is_measured() {
    let rates = measure();
    let simd: Vec<Isa> = Isa::available().into_iter().filter(|&i| i != Isa::Portable).collect();
    assert_eq!(rates.iter().map(|r| r.0).collect::<Vec<_>>(), simd);
    assert!(rates.iter().all(|r| r.1.is_finite() && r.1 > 0.0), "{rates:?}");
    eprintln!("kernel rates on one core of this host: {}", rates_text(&rates));
    if let Some(c) = choose(&rates) {
        eprintln!("chosen: {} ({})", c.isa, c.reason);
    }
}

#[test]
fn the_table_and_the_summary_record_the_kernel_and_how_it_was_chosen() {
    let f = Fixture::new();
    // Measured: a kernel this host runs, and the reason in the summary.
    let o = f.score(&["--backend", "cpu", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = read_table(&f.path("out.parquet")).unwrap();
    let kernel = t.meta.extra.get("simcal.cpu_kernel").expect("simcal.cpu_kernel");
    assert!(Isa::available().iter().any(|i| i.to_string() == *kernel), "{kernel}");
    let how = t.meta.extra.get("simcal.cpu_kernel_chosen_by").unwrap();
    let detail = summary["backend_detail"].as_str().unwrap();
    if how == "measurement" {
        assert!(detail.contains(&format!("cpu ({kernel}: ")) && detail.contains("GFLOP/s a core"), "{detail}");
    } else {
        assert_eq!(how, "the only kernel");
    }
    // Forced by the environment: recorded as such.
    let o = f.command(&["--backend", "cpu", "--json"]).env("SIMCAL_CPU_KERNEL", "portable").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(summary["backend_detail"].as_str().unwrap().starts_with("cpu (portable: forced by SIMCAL_CPU_KERNEL"), "{summary}");
    let t = read_table(&f.path("out.parquet")).unwrap();
    assert_eq!(t.meta.extra.get("simcal.cpu_kernel").map(String::as_str), Some("portable"));
    assert_eq!(t.meta.extra.get("simcal.cpu_kernel_chosen_by").map(String::as_str), Some("SIMCAL_CPU_KERNEL"));
}

#[test]
fn the_cpu_kernel_option_forces_a_kernel_before_the_variable() {
    let f = Fixture::new();
    let o = f.command(&["--backend", "cpu", "--cpu-kernel", "portable", "--json"]).env("SIMCAL_CPU_KERNEL", "avx2").output().unwrap();
    if Isa::available().contains(&Isa::Avx2) {
        assert!(o.status.success(), "{}", stderr(&o));
        let t = read_table(&f.path("out.parquet")).unwrap();
        assert_eq!(t.meta.extra.get("simcal.cpu_kernel").map(String::as_str), Some("portable"));
        assert_eq!(t.meta.extra.get("simcal.cpu_kernel_chosen_by").map(String::as_str), Some("cpu_kernel"));
    }
    // Not for the GPU; a name that is no kernel is refused with the names.
    crate::cli::expect_bad(&f, &["--backend", "gpu", "--cpu-kernel", "portable"], &["--cpu-kernel", "gpu"]);
    crate::cli::expect_bad(&f, &["--cpu-kernel", "avx9"], &["avx9", "avx512-bf16"]);
}

/// The parity suite runs every kernel the host has (tests/engine.rs); this says which ran, and
/// fails where `SIMCAL_EXPECT_KERNELS` (a comma-separated list) names one the host lacks, so a
/// CI host that should have AVX-512 and silently lost it is noticed.
#[test]
fn the_host_runs_the_kernels_it_is_expected_to() {
    let runs = Isa::available();
    let lacks: Vec<&str> = Isa::names().iter().copied().filter(|n| !runs.iter().any(|i| i.to_string() == *n)).collect();
    eprintln!(
        "CPU kernels in the parity suite: {}; this host lacks: {}",
        runs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        if lacks.is_empty() { "none".to_owned() } else { lacks.join(", ") }
    );
    if let Ok(expected) = std::env::var("SIMCAL_EXPECT_KERNELS") {
        let missing: Vec<&str> = expected.split(',').map(str::trim).filter(|n| !n.is_empty() && lacks.contains(n)).collect();
        assert!(missing.is_empty(), "SIMCAL_EXPECT_KERNELS names kernels this host does not run: {}", missing.join(", "));
    }
}
