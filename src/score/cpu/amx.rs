//! AMX on x86-64 (Intel's Sapphire Rapids and later): eight tile registers of up to 16 rows × 64
//! bytes, and `tdpbf16ps`, which accumulates a 16 × 16 f32 tile from a 16 × 32 bfloat16 tile
//! and a 32 × 16 one whose rows are pairs of steps, in one instruction: about ten times the
//! AVX-512 f32 FMA rate of the same core. The screen's fastest kernel ([`super::Isa::AmxBf16`]):
//! the same bfloat16 roundings, margin and exact rescoring as the AVX-512 BF16 screen
//! ([`super::screen`]), a block of 32 queries × 32 documents per step of 32 dimensions.
//!
//! Written in inline assembly: Rust's AMX intrinsics are not stable. Linux hands the tile state
//! to a process only when it asks (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), so
//! the kernel is offered only where the processor reports AMX-BF16 and AMX-TILE and that
//! request succeeds; tiles are configured per thread ([`Tiles`]) and released when done.

use std::arch::asm;
use std::marker::PhantomData;
use std::sync::OnceLock;

/// Whether this process can use AMX-BF16: the processor reports it, and the operating system
/// granted the tile state (asked once per process).
pub fn usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| reported() && permitted())
}

/// CPUID leaf 7, sub-leaf 0: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE.
fn reported() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    if __cpuid(0).eax < 7 {
        return false;
    }
    let edx = __cpuid_count(7, 0).edx;
    edx & (1 << 22) != 0 && edx & (1 << 24) != 0
}

/// Asks Linux for the tile data state (`ARCH_REQ_XCOMP_PERM` = 0x1023, `XFEATURE_XTILEDATA` =
/// 18); other systems are not asked, and do not get the kernel.
fn permitted() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: arch_prctl with this request reads no memory; it only changes which extended
        // states this process may use.
        unsafe { libc::syscall(libc::SYS_arch_prctl, 0x1023, 18) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The tile configuration: palette 1, all eight tiles 16 rows × 64 bytes (tmm0–3 the f32
/// accumulators, tmm4–5 query tiles, tmm6–7 document tiles).
#[repr(C, align(64))]
struct Config([u8; 64]);

#[rustfmt::skip]
const CONFIG: Config = Config([
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // palette 1, start row 0, reserved
    64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, // bytes per row of tiles 0–7 (u16)
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // tiles 8–15: none
    16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0, // rows of tiles 0–7, then none
]);

/// The tiles configured on this thread, released when dropped; neither `Send` nor `Sync`, since
/// the configuration belongs to the thread that loaded it. The kernels take it as proof.
#[derive(Debug)]
pub struct Tiles(PhantomData<*const ()>);

impl Tiles {
    /// Configures the tiles on this thread; None where AMX is not [`usable`].
    pub fn configure() -> Option<Tiles> {
        if !usable() {
            return None;
        }
        // SAFETY: the processor has AMX-TILE and the process holds the tile state (usable);
        // CONFIG is a valid 64-byte configuration.
        unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
        Some(Tiles(PhantomData))
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: the tiles were configured on this thread (Tiles is neither Send nor Sync).
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

/// A 32 × 32 block of screening scores over `kp` pairs of steps (a multiple of 16): query rows
/// `a`, `a + a_stride`, … (32 rows, each `kp` words of bfloat16 pairs from `a`), document panel
/// `b` (`kp` steps of 32 words, each step the 32 documents' pairs, as the screen packs it).
/// Writes (or adds to, with `accumulate`) 32 rows of 32 f32 at `c`, rows `ldc` floats apart.
///
/// # Safety
/// The extents above must be readable (and `c`'s writable), `kp` a multiple of 16, `ldc ≥ 32`.
#[inline]
#[expect(clippy::too_many_arguments, reason = "the tile kernels' arguments, and the query rows' stride")]
pub unsafe fn tile(_: &Tiles, kp: usize, a: *const u32, a_stride: usize, b: *const u32, c: *mut f32, ldc: usize, accumulate: bool) {
    let (sa, sb, sc) = (4 * a_stride, 128usize, 4 * ldc);
    let (c1, c2, c3) = (c.add(16), c.add(16 * ldc), c.add(16 * ldc + 16));
    if accumulate {
        asm!(
            "tileloadd tmm0, [{c0} + {s}*1]",
            "tileloadd tmm1, [{c1} + {s}*1]",
            "tileloadd tmm2, [{c2} + {s}*1]",
            "tileloadd tmm3, [{c3} + {s}*1]",
            c0 = in(reg) c, c1 = in(reg) c1, c2 = in(reg) c2, c3 = in(reg) c3, s = in(reg) sc,
            options(nostack, readonly),
        );
    } else {
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
    }
    let mut k = 0;
    while k < kp {
        asm!(
            "tileloadd tmm4, [{a0} + {sa}*1]",
            "tileloadd tmm6, [{b0} + {sb}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm7, [{b1} + {sb}*1]",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a1} + {sa}*1]",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            a0 = in(reg) a.add(k), a1 = in(reg) a.add(16 * a_stride + k),
            b0 = in(reg) b.add(32 * k), b1 = in(reg) b.add(32 * k + 16),
            sa = in(reg) sa, sb = in(reg) sb,
            options(nostack, readonly),
        );
        k += 16;
    }
    asm!(
        "tilestored [{c0} + {s}*1], tmm0",
        "tilestored [{c1} + {s}*1], tmm1",
        "tilestored [{c2} + {s}*1], tmm2",
        "tilestored [{c3} + {s}*1], tmm3",
        c0 = in(reg) c, c1 = in(reg) c1, c2 = in(reg) c2, c3 = in(reg) c3, s = in(reg) sc,
        options(nostack),
    );
}

/// `iters` rounds of four independent `tdpbf16ps` on zeroed tiles, reading no memory: the
/// processor's AMX-BF16 ceiling ([`super::peak`]). 0 where AMX is not usable.
pub fn peak_loop(iters: u64) -> f32 {
    let Some(_tiles) = Tiles::configure() else { return 0.0 };
    let mut out = [0f32; 256];
    // SAFETY: the tiles are configured on this thread; `out` has room for one 16 × 64-byte tile.
    unsafe {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "tilezero tmm4",
            "tilezero tmm5",
            "tilezero tmm6",
            "tilezero tmm7",
            options(nostack, nomem),
        );
        for _ in 0..iters {
            asm!(
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                options(nostack, nomem),
            );
        }
        asm!("tilestored [{p} + {s}*1], tmm0", p = in(reg) out.as_mut_ptr(), s = in(reg) 64usize, options(nostack));
    }
    out.iter().sum()
}

/// Floating-point operations of one round of [`peak_loop`]: four tiles of 16 × 16 lanes × 32
/// products × (multiply + add).
pub const PEAK_FLOPS_PER_ITER: u64 = 4 * 16 * 16 * 32 * 2;
