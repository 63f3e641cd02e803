//! The microkernel alone, on one thread, with its panels in L1/L2: the ceiling the blocked
//! engine (`cargo bench --bench score`) is measured against. Compare with one thread's share of
//! `cargo bench --bench peak`. `cargo bench --bench kernel`.

use std::time::Instant;

use simcal::score::cpu::{kernel, AlignedBuf, Isa};

fn main() {
    for isa in Isa::available() {
        let (mr, nr) = isa.tile();
        let kc = 256;
        let panels = 16;
        let mut a = AlignedBuf::zeros(kc * mr * panels);
        a.as_mut_slice().iter_mut().enumerate().for_each(|(i, x)| *x = (i % 7) as f32 * 0.01);
        let mut b = AlignedBuf::zeros(kc * nr);
        b.as_mut_slice().iter_mut().enumerate().for_each(|(i, x)| *x = (i % 5) as f32 * 0.01);
        let ldc = nr * 8;
        let mut c = AlignedBuf::zeros(mr * panels * ldc);
        let iters = if isa == Isa::Portable { 2_000 } else { 100_000 };
        let t = Instant::now();
        for it in 0..iters {
            for ip in 0..panels {
                // In bounds: panel ip of a holds kc * mr floats, b holds kc * nr, and rows
                // ip * mr .. (ip + 1) * mr of c have ldc ≥ nr columns; isa is available.
                unsafe {
                    let ap = a.as_slice().as_ptr().add(ip * kc * mr);
                    let cp = c.as_mut_slice().as_mut_ptr().add(ip * mr * ldc);
                    kernel::tile(isa, kc, ap, b.as_slice().as_ptr(), cp, ldc, it % 3 != 0);
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let gflops = (iters * panels * mr * nr * kc * 2) as f64 / secs / 1e9;
        println!("kernel {isa:?} {mr}×{nr}, kc {kc}, one thread: {gflops:.1} GFLOP/s (checksum {})", c.as_slice()[5]);
    }
}
