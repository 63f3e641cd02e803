//! The microkernels alone, on one thread, with their panels in L1/L2: the ceiling the blocked
//! engine (`cargo bench --bench score`) is measured against. Compare with one thread's share of
//! `cargo bench --bench peak` (the bfloat16 screen's peak is twice the f32 FMA peak).
//! `cargo bench --bench kernel`.

use std::time::Instant;

use simcal::score::cpu::{kernel, AlignedBuf, Isa};

fn main() {
    for isa in Isa::available() {
        let (mr, nr) = isa.tile();
        // Steps of d per tile call: f32 steps, or pairs of bf16 steps when the isa screens.
        let kc = if isa.screens() { 128 } else { 256 };
        let panels = 16;
        let mut a = AlignedBuf::<f32>::zeros(kc * mr * panels);
        a.as_mut_slice().iter_mut().enumerate().for_each(|(i, x)| *x = (i % 7) as f32 * 0.01);
        let mut b = AlignedBuf::<f32>::zeros(kc * nr);
        b.as_mut_slice().iter_mut().enumerate().for_each(|(i, x)| *x = (i % 5) as f32 * 0.01);
        let (wa, wb): (Vec<u32>, Vec<u32>) = (
            a.as_slice().iter().map(|x| x.to_bits() >> 16 | (x.to_bits() & 0xFFFF_0000)).collect(),
            b.as_slice().iter().map(|x| x.to_bits() >> 16 | (x.to_bits() & 0xFFFF_0000)).collect(),
        );
        let ldc = nr * 8;
        let mut c = AlignedBuf::<f32>::zeros(mr * panels * ldc);
        let iters = if isa == Isa::Portable { 2_000 } else { 100_000 };
        #[cfg(target_arch = "x86_64")]
        let tiles = simcal::score::cpu::amx::Tiles::configure();
        let t = Instant::now();
        for it in 0..iters {
            for ip in 0..panels {
                // In bounds: panel ip of a holds kc * mr words, b holds kc * nr, and rows
                // ip * mr .. (ip + 1) * mr of c have ldc ≥ nr columns; isa is available.
                unsafe {
                    let cp = c.as_mut_slice().as_mut_ptr().add(ip * mr * ldc);
                    if isa == Isa::AmxBf16 {
                        // The queries a row each (kc words apart), as the engine packs them.
                        #[cfg(target_arch = "x86_64")]
                        if let Some(t) = &tiles {
                            simcal::score::cpu::amx::tile(t, kc, wa.as_ptr().add(ip * kc * mr), kc, wb.as_ptr(), cp, ldc, it % 3 != 0);
                        }
                    } else if isa.screens() {
                        #[cfg(target_arch = "x86_64")]
                        kernel::screen_tile(kc, wa.as_ptr().add(ip * kc * mr), wb.as_ptr(), cp, ldc, it % 3 != 0);
                    } else {
                        let ap = a.as_slice().as_ptr().add(ip * kc * mr);
                        kernel::tile(isa, kc, ap, b.as_slice().as_ptr(), cp, ldc, it % 3 != 0);
                    }
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let steps = if isa.screens() { 2 * kc } else { kc };
        let gflops = (iters * panels * mr * nr * steps * 2) as f64 / secs / 1e9;
        println!("kernel {isa:?} {mr}×{nr}, {steps} steps of d, one thread: {gflops:.1} GFLOP/s (checksum {})", c.as_slice()[5]);
    }
}
