//! Which CPU kernel to use, chosen by measurement rather than by the processor's feature flags:
//! a processor may have an instruction and run it slowly (AVX-512 BF16 runs at half the f32 FMA
//! rate on Intel's Sapphire and Emerald Rapids, where the bfloat16 screen loses to plain
//! AVX-512; AMD's Zen 4 runs it at twice the rate, where the screen wins).
//!
//! At first use in a process, each kernel family's arithmetic rate is timed on one thread with
//! a register-only loop ([`super::peak`]: no memory, so the timing is the processor's and not
//! the cache's or a neighbour's), best of a few interleaved rounds, a few milliseconds in all.
//! Small end-to-end probes were tried first and mislead: the screen pays off only on a corpus
//! large enough for the top k's threshold to settle, which no millisecond probe reaches. The
//! rule ([`choose`]):
//! - the faster bfloat16 screen (AMX tile products, or AVX-512 pair dot products) when it runs
//!   at ≥ [`SCREEN_GAIN`] × the best f32 FMA rate (the screen's rescoring and its bfloat16
//!   packing cost the rest);
//! - otherwise AVX-512 f32, unless AVX2 runs more than [`AVX2_MARGIN`] faster (a processor
//!   that slows down under 512-bit load);
//! - the portable kernel only where no other runs.
//!
//! `SIMCAL_CPU_KERNEL` ([`super::KERNEL_VAR`]) forces a kernel.

use std::sync::OnceLock;
use std::time::Instant;

use super::peak::{loops, Loop};
use super::Isa;
use crate::choice::Choice;

/// How much faster than f32 FMAs the bfloat16 pair dot products must run for the screen to be
/// chosen.
pub const SCREEN_GAIN: f64 = 1.5;
/// How much faster AVX2 must run than AVX-512 f32 to be chosen over it.
pub const AVX2_MARGIN: f64 = 1.1;
/// Interleaved rounds after a warm-up; each loop's best counts.
const ROUNDS: usize = 3;

/// The kernel a process uses and why.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelChoice {
    /// The kernel.
    pub isa: Isa,
    /// Why, in words: "bf16 pair dot products at 2.02× the f32 FMA rate (…)".
    pub reason: String,
    /// Each kernel family's measured rate on one core, GFLOP/s (empty when nothing was measured).
    pub rates: Vec<(Isa, f64)>,
}

/// The kernel [`SCREEN_GAIN`] and [`AVX2_MARGIN`] choose from measured `rates` (GFLOP/s on one
/// core; the screens' in bfloat16 products). Rates that are not finite and positive are
/// ignored; None when none is usable.
pub fn choose(rates: &[(Isa, f64)]) -> Option<KernelChoice> {
    let rates: Vec<(Isa, f64)> = rates.iter().copied().filter(|&(_, r)| r.is_finite() && r > 0.0).collect();
    let rate = |isa: Isa| rates.iter().find(|r| r.0 == isa).map(|r| r.1);
    let (avx512, avx2) = (rate(Isa::Avx512), rate(Isa::Avx2));
    let f32_kernel = match (avx512, avx2) {
        (Some(a), Some(b)) if b > AVX2_MARGIN * a => Some((Isa::Avx2, b, format!("avx2 at {:.2}× the avx512 FMA rate", b / a))),
        (Some(a), Some(b)) => Some((Isa::Avx512, a, format!("avx512 at {:.2}× the avx2 FMA rate", a / b))),
        (Some(a), None) => Some((Isa::Avx512, a, "avx512".to_owned())),
        (None, Some(b)) => Some((Isa::Avx2, b, "avx2".to_owned())),
        (None, None) => None,
    };
    // The faster of the two screens (AMX tile products or AVX-512 bf16 pair dot products).
    let screen = [Isa::AmxBf16, Isa::Avx512Bf16].into_iter().filter_map(|i| rate(i).map(|r| (i, r))).max_by(|a, b| a.1.total_cmp(&b.1));
    let what = |isa: Isa| if isa == Isa::AmxBf16 { "AMX bf16 tile products" } else { "bf16 pair dot products" };
    let choice = match (screen, f32_kernel) {
        (Some((s, bf)), Some((_, f, _))) if bf >= SCREEN_GAIN * f => {
            (s, format!("{} at {:.2}× the f32 FMA rate ({bf:.0} vs {f:.0} GFLOP/s a core)", what(s), bf / f))
        }
        (Some((s, bf)), Some((isa, f, why))) => (
            isa,
            format!("{} at only {:.2}× the f32 FMA rate ({bf:.0} vs {f:.0} GFLOP/s a core), below {SCREEN_GAIN}×; {why}", what(s), bf / f),
        ),
        (Some((s, _)), None) => (s, "the only kernel measured".to_owned()),
        (None, Some((isa, f, why))) => (isa, format!("{why} ({f:.0} GFLOP/s a core)")),
        (None, None) => return None,
    };
    Some(KernelChoice { isa: choice.0, reason: choice.1, rates })
}

/// Seconds of processor time this thread has run (not wall time: a thread preempted by a busy
/// neighbour is not charged for the wait). Wall time where the platform has no thread clock.
fn thread_seconds(wall: Instant) -> f64 {
    #[cfg(unix)]
    {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `t` is a valid timespec for the call to fill.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9;
        }
    }
    wall.elapsed().as_secs_f64()
}

/// Each kernel family's rate on one core, GFLOP/s: the best of three interleaved timings of its
/// loop after a warm-up, each on the thread's processor time, so that a busy machine (other
/// processes on every core) slows the measurement but does not skew it.
pub fn measure() -> Vec<(Isa, f64)> {
    let runs = loops();
    let mut best = vec![0.0f64; runs.len()];
    let origin = Instant::now();
    for round in 0..=ROUNDS {
        for (b, &Loop { flops_per_iter, iters, run, .. }) in best.iter_mut().zip(&runs) {
            let t = thread_seconds(origin);
            std::hint::black_box(run(iters));
            let rate = (iters * flops_per_iter) as f64 / (thread_seconds(origin) - t).max(1e-9) / 1e9;
            // Round 0 warms the core up (its clock under vector load).
            if round > 0 {
                *b = b.max(rate);
            }
        }
    }
    runs.iter().map(|l| l.isa).zip(best).collect()
}

/// The kernel this process uses unless told otherwise: measured once, at first use.
pub fn measured() -> &'static KernelChoice {
    static CHOICE: OnceLock<KernelChoice> = OnceLock::new();
    CHOICE.get_or_init(|| {
        let runs = Isa::available();
        if let [only] = runs[..] {
            return KernelChoice { isa: only, reason: "the only kernel this processor runs".to_owned(), rates: Vec::new() };
        }
        let rates = measure();
        choose(&rates).unwrap_or(KernelChoice { isa: Isa::Portable, reason: "no kernel could be measured".to_owned(), rates })
    })
}

/// The names of `rates`, for messages: "avx512-bf16 941, avx512 474, avx2 472 GFLOP/s".
pub fn rates_text(rates: &[(Isa, f64)]) -> String {
    let v: Vec<String> = rates.iter().map(|(i, r)| format!("{} {r:.0}", i.name())).collect();
    format!("{} GFLOP/s", v.join(", "))
}
