//! The processor's FMA peak: a register-only loop of independent FMAs on every core, for each
//! kernel family the processor runs (and of bfloat16 pair dot products where it has them). It
//! reads no memory, so it is the ceiling that the scoring kernel's GFLOP/s is a fraction of.
//! The loops are the library's (`score::cpu::peak`), which the kernel choice times on one core.
//! Prints the best of 3 runs. `cargo bench --bench peak`.

use std::time::Instant;

use simcal::score::cpu::peak::loops;
use simcal::Choice;

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for l in loops() {
        // About half a second a run at the peak.
        let iters = 500 * l.iters;
        let mut best = 0f64;
        for _ in 0..3 {
            let t = Instant::now();
            let sink: f32 = std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads).map(|_| s.spawn(move || (l.run)(iters))).collect();
                hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
            });
            let gflops = (iters * l.flops_per_iter * threads as u64) as f64 / t.elapsed().as_secs_f64() / 1e9;
            best = best.max(gflops);
            std::hint::black_box(sink);
        }
        let what = match l.isa {
            simcal::score::cpu::Isa::Avx512Bf16 => " (vdpbf16ps)",
            simcal::score::cpu::Isa::AmxBf16 => " (tdpbf16ps)",
            _ => "",
        };
        println!("fma peak {}{what}: {best:.1} GFLOP/s on {threads} threads", l.isa.name());
    }
}
