// Scores a tile of queries against a tile of corpus rows and keeps, per query, only the scores
// at or above that query's threshold (the fused top-k filter): the Q × N score matrix is never
// written to memory. The host merges the surviving candidates into its exact top-k selections
// and raises the thresholds between dispatches.
//
// Layout, as the host uploads it: queries and corpus rows are contiguous along d, each row padded
// with zeros to a multiple of 16 elements (`d4` vec4 per row, a multiple of 4); both buffers are
// padded with zero rows to a multiple of 128 rows, so tile loads need no bounds checks.
//
// One workgroup scores 128 queries × 128 corpus rows with 256 invocations (16 × 16). Each step
// stages 16 elements of d of both tiles in workgroup memory (vec4 loads from global memory,
// stored transposed), then every invocation accumulates an 8 × 8 block of scores in registers:
// query rows 4·ty .. 4·ty+3 and 64+4·ty .. 64+4·ty+3, corpus rows 4·tx .. 4·tx+3 and
// 64+4·tx .. 64+4·tx+3, so that its workgroup-memory reads are whole vec4s.
//
// `elem4` is the storage type: vec4<f32> here; the host derives the f16-storage variant
// (f32 accumulation) by swapping this alias and enabling f16.

alias elem4 = vec4<f32>;

struct Params {
    // Queries in this dispatch (the real entries of `qidx`).
    nq: u32,
    // Row stride of both matrices in vec4 (padded d / 4, a multiple of 4).
    d4: u32,
    // First corpus row of this dispatch (a multiple of 128).
    base: u32,
    // One past the last corpus row this dispatch may keep.
    end: u32,
    // Candidate slots per query.
    cap: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> queries: array<elem4>;
@group(0) @binding(2) var<storage, read> corpus: array<elem4>;
// Query row of each dispatch position (padded to a multiple of 128 with valid rows).
@group(0) @binding(3) var<storage, read> qidx: array<u32>;
// Per dispatch position: scores below this can no longer enter the query's top k.
@group(0) @binding(4) var<storage, read> thresholds: array<f32>;
// Per dispatch position: candidates found (may exceed `cap`: the host then re-runs the query).
@group(0) @binding(5) var<storage, read_write> counts: array<atomic<u32>>;
// Per dispatch position, `cap` slots of (score bits, corpus row).
@group(0) @binding(6) var<storage, read_write> candidates: array<vec2<u32>>;

const TILE: u32 = 128u;
const HALF: u32 = 64u;
// Elements of d staged per step.
const STEP: u32 = 16u;

// [STEP][TILE / 4]: element k of row r is qs[k * 32 + r / 4][r % 4].
var<workgroup> qs: array<vec4<f32>, 512>;
var<workgroup> cs: array<vec4<f32>, 512>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * 16u + tx;
    let q0 = wid.y * TILE;
    let n0 = params.base + wid.x * TILE;
    let d4 = params.d4;

    // Loading: invocation t fetches vec4 number `lc` of tile rows `lr` and `lr + 64`.
    let lr = t / 4u;
    let lc = t % 4u;
    let qa = qidx[q0 + lr] * d4 + lc;
    let qb = qidx[q0 + lr + HALF] * d4 + lc;
    let ca = (n0 + lr) * d4 + lc;
    let cb = (n0 + lr + HALF) * d4 + lc;
    let slot_a = lr / 4u;
    let slot_b = (lr + HALF) / 4u;
    let lane = lr % 4u;

    // acc[2 * i + h]: query row i of this invocation's 8 (i < 4: 4·ty + i, else 64 + 4·ty + i - 4),
    // corpus rows h · 64 + 4·tx .. +3.
    // (A `var` without initializer starts at zero.)
    var acc: array<vec4<f32>, 16>;

    for (var k4 = 0u; k4 < d4; k4 += 4u) {
        let va = vec4<f32>(queries[qa + k4]);
        let vb = vec4<f32>(queries[qb + k4]);
        let wa = vec4<f32>(corpus[ca + k4]);
        let wb = vec4<f32>(corpus[cb + k4]);
        workgroupBarrier();
        for (var e = 0u; e < 4u; e++) {
            let k = (lc * 4u + e) * 32u;
            qs[k + slot_a][lane] = va[e];
            qs[k + slot_b][lane] = vb[e];
            cs[k + slot_a][lane] = wa[e];
            cs[k + slot_b][lane] = wb[e];
        }
        workgroupBarrier();
        for (var k = 0u; k < STEP; k++) {
            let a0 = qs[k * 32u + ty];
            let a1 = qs[k * 32u + 16u + ty];
            let b0 = cs[k * 32u + tx];
            let b1 = cs[k * 32u + 16u + tx];
            acc[0] = fma(vec4<f32>(a0.x), b0, acc[0]);
            acc[1] = fma(vec4<f32>(a0.x), b1, acc[1]);
            acc[2] = fma(vec4<f32>(a0.y), b0, acc[2]);
            acc[3] = fma(vec4<f32>(a0.y), b1, acc[3]);
            acc[4] = fma(vec4<f32>(a0.z), b0, acc[4]);
            acc[5] = fma(vec4<f32>(a0.z), b1, acc[5]);
            acc[6] = fma(vec4<f32>(a0.w), b0, acc[6]);
            acc[7] = fma(vec4<f32>(a0.w), b1, acc[7]);
            acc[8] = fma(vec4<f32>(a1.x), b0, acc[8]);
            acc[9] = fma(vec4<f32>(a1.x), b1, acc[9]);
            acc[10] = fma(vec4<f32>(a1.y), b0, acc[10]);
            acc[11] = fma(vec4<f32>(a1.y), b1, acc[11]);
            acc[12] = fma(vec4<f32>(a1.z), b0, acc[12]);
            acc[13] = fma(vec4<f32>(a1.z), b1, acc[13]);
            acc[14] = fma(vec4<f32>(a1.w), b0, acc[14]);
            acc[15] = fma(vec4<f32>(a1.w), b1, acc[15]);
        }
    }

    // Epilogue: the threshold filter. Only scores that can still enter a top k leave the
    // registers. Constant indices throughout, so the accumulators stay in registers.
    let qa0 = q0 + 4u * ty;
    let qb0 = q0 + HALF + 4u * ty;
    let r0 = n0 + 4u * tx;
    let r1 = n0 + HALF + 4u * tx;
    emit(acc[0], qa0, r0);
    emit(acc[1], qa0, r1);
    emit(acc[2], qa0 + 1u, r0);
    emit(acc[3], qa0 + 1u, r1);
    emit(acc[4], qa0 + 2u, r0);
    emit(acc[5], qa0 + 2u, r1);
    emit(acc[6], qa0 + 3u, r0);
    emit(acc[7], qa0 + 3u, r1);
    emit(acc[8], qb0, r0);
    emit(acc[9], qb0, r1);
    emit(acc[10], qb0 + 1u, r0);
    emit(acc[11], qb0 + 1u, r1);
    emit(acc[12], qb0 + 2u, r0);
    emit(acc[13], qb0 + 2u, r1);
    emit(acc[14], qb0 + 3u, r0);
    emit(acc[15], qb0 + 3u, r1);
}

// Keeps the scores `s` of dispatch position `q` against corpus rows `row` .. `row + 3` that
// reach the position's threshold, in its candidate slots.
fn emit(s: vec4<f32>, q: u32, row: u32) {
    if (q >= params.nq) {
        return;
    }
    let bound = thresholds[q];
    if (!any(s >= vec4<f32>(bound))) {
        return;
    }
    for (var e = 0u; e < 4u; e++) {
        if (s[e] >= bound && row + e < params.end) {
            let slot = atomicAdd(&counts[q], 1u);
            if (slot < params.cap) {
                candidates[q * params.cap + slot] = vec2<u32>(bitcast<u32>(s[e]), row + e);
            }
        }
    }
}
