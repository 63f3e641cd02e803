//! The GPU backend: queries resident on the device, corpus chunks uploaded on the reader
//! thread, the tiled kernel with its fused threshold filter, and the exact merge on the host.
//!
//! Per chunk and per group of queries, dispatches walk the chunk as [`plan::dispatch_rows`]
//! says. Each dispatch gets, per query, the k-th best score seen so far as its bound; the kernel
//! returns the scores at or above it (at most `cap` per query) and the host offers them to the
//! query's [`TopK`]. A query whose candidates overflowed its slots is re-run over the two halves
//! of the range with a tighter bound (the k-th best of the candidates it did return: the k-th
//! best of any real scores is a valid bound), down to ranges of at most `cap` rows, which cannot
//! overflow. Nothing of an overflowed range is offered before its re-run, so every row is offered
//! exactly once and the result is exact.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use half::f16;
use half::slice::HalfFloatSliceExt;
use ndarray::ArrayView2;

use super::context::{context, Context};
use super::kernels::Precision;
use super::plan::{self, TILE};
use super::GpuRequest;
use crate::choice::Choice;
use crate::error::{Error, GpuFailure, Result};
use crate::score::{Backend, Hit, TopK};

/// A corpus chunk uploaded to the GPU.
#[derive(Debug)]
pub struct GpuChunk {
    buffer: wgpu::Buffer,
    rows: usize,
}

#[derive(Debug)]
struct QueryBatch {
    buffer: wgpu::Buffer,
    /// Index of the batch's first query.
    first: usize,
    rows: usize,
}

/// Buffers reused by every dispatch, sized for `positions` queries of `cap` slots.
#[derive(Debug)]
struct Scratch {
    positions: usize,
    cap: usize,
    params: wgpu::Buffer,
    qidx: wgpu::Buffer,
    thresholds: wgpu::Buffer,
    counts: wgpu::Buffer,
    candidates: wgpu::Buffer,
    readback: wgpu::Buffer,
}

/// One group of queries (positions `rows` of `batch`) scored against `chunk`, whose first row is
/// `first_row` in the corpus.
struct Group<'a> {
    s: &'a Scratch,
    batch: &'a QueryBatch,
    chunk: &'a GpuChunk,
    first_row: u64,
    rows: &'a [u32],
}

/// One re-run or first run: members (indices into the group) over rows `base..end` of the
/// chunk, each with a bound known to be valid (at least its selection's own).
struct Work {
    members: Vec<usize>,
    hints: Vec<f32>,
    base: usize,
    end: usize,
}

/// Exact scoring on a GPU through wgpu.
#[derive(Debug)]
pub struct GpuBackend {
    ctx: Arc<Context>,
    dim: usize,
    pdim: usize,
    batches: Vec<QueryBatch>,
    scratch: Mutex<Option<Scratch>>,
    dispatches: AtomicU64,
    reruns: AtomicU64,
}

/// Per query of a dispatch: how many candidates passed, and the first `min(count, cap)` of them
/// as (score, row within the chunk).
type Returned = Vec<(usize, Vec<(f32, u32)>)>;

fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry { binding, resource: buffer.as_entire_binding() }
}

/// The bound the kernel compares with: the lowest finite float while no bound is known.
fn kernel_bound(b: f32) -> f32 {
    if b.is_finite() {
        b
    } else {
        f32::MIN
    }
}

impl GpuBackend {
    /// Opens (or reuses) the context for `req` and makes a backend on it.
    pub fn open(req: &GpuRequest) -> Result<GpuBackend> {
        let ctx = context(req)?;
        Ok(GpuBackend {
            ctx,
            dim: 0,
            pdim: 0,
            batches: Vec::new(),
            scratch: Mutex::new(None),
            dispatches: AtomicU64::new(0),
            reruns: AtomicU64::new(0),
        })
    }

    /// The storage precision in use (f16 only where it was asked for and the adapter has it).
    pub fn precision(&self) -> Precision {
        self.ctx.precision
    }

    /// Kernel dispatches so far, and how many of them overflowed some query's candidate slots
    /// (each overflow re-runs those queries over the two halves of its range): a measure of
    /// how well the bounds filter.
    pub fn dispatch_counts(&self) -> (u64, u64) {
        (self.dispatches.load(Ordering::Relaxed), self.reruns.load(Ordering::Relaxed))
    }

    fn storage(&self, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> Result<wgpu::Buffer> {
        if bytes > self.ctx.max_binding() {
            return Err(self.ctx.error(
                GpuFailure::Refused,
                format!("{label}: {bytes} bytes exceed the adapter's largest storage binding ({} bytes)", self.ctx.max_binding()),
            ));
        }
        self.ctx.guarded(label, || {
            self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.max(16).next_multiple_of(16),
                usage,
                mapped_at_creation: false,
            })
        })
    }

    /// Uploads `rows` rows of `values` (row-major, `dim` wide), each scaled by `scales[row]`,
    /// padded to the kernel's layout, in the context's precision.
    #[expect(clippy::indexing_slicing, reason = "block and buffer positions stay within the buffers this module sizes")]
    fn upload(&self, label: &str, values: &[f32], rows: usize, scales: Option<&[f32]>) -> Result<wgpu::Buffer> {
        let (dim, pdim) = (self.dim, self.pdim);
        let prow = plan::padded_rows(rows);
        let mut padded = vec![0f32; prow * pdim];
        for (r, (dst, src)) in padded.chunks_exact_mut(pdim).zip(values.chunks_exact(dim.max(1))).take(rows).enumerate() {
            let s = scales.map_or(1.0, |s| s[r]);
            for (d, v) in dst.iter_mut().zip(src) {
                *d = v * s;
            }
        }
        let bytes = (padded.len() * self.ctx.precision.bytes()) as u64;
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let buffer = self.storage(label, bytes, usage)?;
        self.ctx.guarded(label, || match self.ctx.precision {
            Precision::F32 => self.ctx.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&padded)),
            Precision::F16 => {
                let mut halves = vec![f16::ZERO; padded.len()];
                halves.convert_from_f32_slice(&padded);
                self.ctx.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&halves))
            }
        })?;
        Ok(buffer)
    }

    fn scratch(&self, positions: usize, cap: usize) -> Result<Scratch> {
        use wgpu::BufferUsages as U;
        let p = positions as u64;
        let cand = p * cap as u64 * 8;
        let params = self.ctx.guarded("params", || {
            self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: 32,
                usage: U::UNIFORM | U::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(Scratch {
            positions,
            cap,
            params,
            qidx: self.storage("query rows", p * 4, U::STORAGE | U::COPY_DST)?,
            thresholds: self.storage("thresholds", p * 4, U::STORAGE | U::COPY_DST)?,
            counts: self.storage("candidate counts", p * 4, U::STORAGE | U::COPY_SRC | U::COPY_DST)?,
            candidates: self.storage("candidates", cand, U::STORAGE | U::COPY_SRC)?,
            readback: self.ctx.guarded("readback", || {
                self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback"),
                    size: p * 4 + cand,
                    usage: U::MAP_READ | U::COPY_DST,
                    mapped_at_creation: false,
                })
            })?,
        })
    }

    /// Runs the kernel once: query rows `rows` of `batch` (bounds `bounds`) against rows
    /// `base..end` of `chunk`. Returns, per query, how many candidates passed and the first
    /// `min(count, cap)` of them as (score, row within the chunk).
    // Long: one GPU dispatch: its bind group, pass, copy and read-back are one submission.
    #[expect(clippy::too_many_arguments, reason = "one dispatch's buffers and ranges, each bound to the kernel")]
    #[expect(clippy::indexing_slicing, reason = "block and buffer positions stay within the buffers this module sizes")]
    fn dispatch(
        &self,
        s: &Scratch,
        batch: &QueryBatch,
        chunk: &GpuChunk,
        rows: &[u32],
        bounds: &[f32],
        base: usize,
        end: usize,
    ) -> Result<Returned> {
        self.dispatches.fetch_add(1, Ordering::Relaxed);
        let ctx = &self.ctx;
        let n = rows.len();
        let np = plan::padded_rows(n);
        let mut qidx = rows.to_vec();
        qidx.resize(np, rows[0]);
        let params: [u32; 8] = [n as u32, (self.pdim / 4) as u32, base as u32, end as u32, s.cap as u32, 0, 0, 0];
        let counts_bytes = (n * 4) as u64;
        let cand_offset = (s.positions * 4) as u64;
        let cand_bytes = (n * s.cap * 8) as u64;
        let submission = ctx.guarded("scoring", || {
            ctx.queue.write_buffer(&s.params, 0, bytemuck::cast_slice(&params));
            ctx.queue.write_buffer(&s.qidx, 0, bytemuck::cast_slice(&qidx));
            ctx.queue.write_buffer(&s.thresholds, 0, bytemuck::cast_slice(bounds));
            let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("score_topk bindings"),
                layout: &ctx.layout,
                entries: &[
                    entry(0, &s.params),
                    entry(1, &batch.buffer),
                    entry(2, &chunk.buffer),
                    entry(3, &s.qidx),
                    entry(4, &s.thresholds),
                    entry(5, &s.counts),
                    entry(6, &s.candidates),
                ],
            });
            let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("score_topk") });
            enc.clear_buffer(&s.counts, 0, Some(counts_bytes.next_multiple_of(4)));
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("score_topk"), timestamp_writes: None });
                pass.set_pipeline(&ctx.pipeline);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups((end - base).div_ceil(TILE) as u32, (np / TILE) as u32, 1);
            }
            enc.copy_buffer_to_buffer(&s.counts, 0, &s.readback, 0, counts_bytes);
            enc.copy_buffer_to_buffer(&s.candidates, 0, &s.readback, cand_offset, cand_bytes);
            ctx.queue.submit([enc.finish()])
        })?;

        let slice = s.readback.slice(0..cand_offset + cand_bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        ctx.device
            .poll(wgpu::PollType::Wait { submission_index: Some(submission), timeout: None })
            .map_err(|e| ctx.error(GpuFailure::DeviceLost, format!("waiting for the scoring kernel: {e}")))?;
        if let Some((kind, message)) = ctx.fault() {
            return Err(ctx.error(kind, message));
        }
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(ctx.error(GpuFailure::DeviceLost, format!("reading the candidates back: {e}"))),
            Err(_) => return Err(ctx.error(GpuFailure::DeviceLost, "reading the candidates back: no answer")),
        }
        let out = {
            let view = slice.get_mapped_range().map_err(|e| ctx.error(GpuFailure::Refused, format!("reading the candidates back: {e}")))?;
            let counts: &[u32] = bytemuck::cast_slice(&view[..n * 4]);
            let cands: &[[u32; 2]] = bytemuck::cast_slice(&view[cand_offset as usize..]);
            counts
                .iter()
                .enumerate()
                .map(|(j, &c)| {
                    let c = c as usize;
                    let got = &cands[j * s.cap..j * s.cap + c.min(s.cap)];
                    (c, got.iter().map(|&[bits, row]| (f32::from_bits(bits), row)).collect())
                })
                .collect()
        };
        s.readback.unmap();
        Ok(out)
    }

    /// Scores one group of queries against a chunk.
    fn score_group(&self, g: &Group, topk: &mut [TopK]) -> Result<()> {
        let n = g.rows.len();
        let max_rows = plan::max_dispatch_rows(n, self.pdim, self.ctx.limits.max_compute_workgroups_per_dimension);
        let mut pos = 0;
        while pos < g.chunk.rows {
            let bounded = topk.iter_mut().all(|t| t.bound().is_finite());
            let len = plan::dispatch_rows(g.first_row, pos, g.chunk.rows, g.s.cap, bounded, max_rows);
            let mut stack = vec![Work { members: (0..n).collect(), hints: vec![f32::MIN; n], base: pos, end: pos + len }];
            while let Some(w) = stack.pop() {
                self.run_work(g, topk, w, &mut stack)?;
            }
            pos += len;
        }
        Ok(())
    }

    #[expect(clippy::indexing_slicing, reason = "block and buffer positions stay within the buffers this module sizes")]
    fn run_work(&self, g: &Group, topk: &mut [TopK], w: Work, stack: &mut Vec<Work>) -> Result<()> {
        let (s, rows) = (g.s, g.rows);
        let qrows: Vec<u32> = w.members.iter().map(|&m| rows[m]).collect();
        let bounds: Vec<f32> = w.members.iter().zip(&w.hints).map(|(&m, &h)| kernel_bound(topk[m].bound()).max(h)).collect();
        let out = self.dispatch(s, g.batch, g.chunk, &qrows, &bounds, w.base, w.end)?;
        let mut over = Work { members: vec![], hints: vec![], base: w.base, end: w.end };
        for ((&m, &used), (count, got)) in w.members.iter().zip(&bounds).zip(out) {
            if count <= s.cap {
                for (score, row) in got {
                    topk[m].push(Hit { row: g.first_row + u64::from(row), score });
                }
                continue;
            }
            // Overflowed: nothing of this range was offered. The k-th best of what came back
            // (with what the selection holds) bounds the final k-th best.
            over.members.push(m);
            over.hints.push(kernel_bound(topk[m].bound_with(got.iter().map(|c| c.0))).max(used));
        }
        if over.members.is_empty() {
            return Ok(());
        }
        // Re-run the overflowed queries over the two halves of the range with the tighter
        // bound; the second half also gains from what the first half finds. A range of at most
        // `cap` rows cannot overflow, so this ends even when massive ties keep the bound still.
        let mid = w.base + ((w.end - w.base) / 2).next_multiple_of(TILE);
        if w.end - w.base <= s.cap || mid >= w.end {
            return Err(self.ctx.error(GpuFailure::Refused, "candidate overflow on a range that cannot overflow"));
        }
        self.reruns.fetch_add(1, Ordering::Relaxed);
        stack.push(Work { members: over.members.clone(), hints: over.hints.clone(), base: mid, end: w.end });
        stack.push(Work { end: mid, ..over });
        Ok(())
    }
}

impl Backend for GpuBackend {
    type Staged = GpuChunk;

    fn name(&self) -> String {
        format!("gpu: {}", self.ctx.describe())
    }

    fn detail(&self) -> String {
        let i = &self.ctx.info;
        format!(
            "gpu: {} ({}, {} {}, {} storage, max binding {} MiB)",
            i.name,
            i.backend.to_str(),
            i.driver,
            i.driver_info,
            self.ctx.precision.name(),
            self.ctx.max_binding() >> 20
        )
    }

    fn chunk_bytes(&self) -> usize {
        // Half the largest binding (row padding may nearly double tiny dimensions), at most
        // 256 MiB so that the two chunks in flight stay modest in host memory.
        usize::try_from(self.ctx.max_binding() / 2).unwrap_or(usize::MAX).min(256 << 20)
    }

    #[expect(clippy::indexing_slicing, reason = "block and buffer positions stay within the buffers this module sizes")]
    fn load_queries(&mut self, queries: ArrayView2<f32>) -> Result<()> {
        self.dim = queries.ncols();
        self.pdim = plan::padded_dim(self.dim);
        let values = queries.as_standard_layout();
        let values = values.as_slice().ok_or_else(|| Error::Invalid("queries are not contiguous".into()))?;
        let row_bytes = (self.pdim * self.ctx.precision.bytes()) as u64;
        let per_batch = usize::try_from(self.ctx.max_binding() / row_bytes).unwrap_or(usize::MAX) / TILE * TILE;
        if per_batch == 0 {
            return Err(Error::Invalid(format!("{}-dimensional rows do not fit in one GPU storage binding", self.dim)));
        }
        self.batches.clear();
        let n = queries.nrows();
        for first in (0..n).step_by(per_batch) {
            let rows = per_batch.min(n - first);
            let buffer = self.upload("queries", &values[first * self.dim..(first + rows) * self.dim], rows, None)?;
            self.batches.push(QueryBatch { buffer, first, rows });
        }
        Ok(())
    }

    fn value_limit(&self) -> Option<(f32, &'static str)> {
        (self.ctx.precision == Precision::F16).then_some((f16::MAX.to_f32(), "f16"))
    }

    fn stored(&self, v: f32) -> f32 {
        match self.ctx.precision {
            Precision::F16 => f16::from_f32(v).to_f32(),
            Precision::F32 => v,
        }
    }

    fn stage(&self, chunk: ArrayView2<f32>, scales: &[f32]) -> Result<GpuChunk> {
        if chunk.ncols() != self.dim {
            return Err(Error::Mismatch { message: format!("corpus dimension {} differs from the queries' {}", chunk.ncols(), self.dim) });
        }
        let rows = chunk.nrows();
        let need = (plan::padded_rows(rows) * self.pdim * self.ctx.precision.bytes()) as u64;
        if need > self.ctx.max_binding() || rows > u32::MAX as usize / 2 {
            return Err(Error::Invalid(format!(
                "a corpus chunk of {rows} rows needs {need} bytes on the GPU, more than the adapter's largest binding ({} bytes); use a smaller `chunk_rows`",
                self.ctx.max_binding()
            )));
        }
        let values = chunk.as_standard_layout();
        let values = values.as_slice().ok_or_else(|| Error::Invalid("corpus chunk is not contiguous".into()))?;
        let buffer = self.upload("corpus chunk", values, rows, Some(scales))?;
        Ok(GpuChunk { buffer, rows })
    }

    #[expect(clippy::indexing_slicing, reason = "block and buffer positions stay within the buffers this module sizes")]
    fn score(&self, chunk: &GpuChunk, first_row: u64, topk: &mut [TopK]) -> Result<()> {
        let Some(k) = topk.first().map(TopK::k) else { return Ok(()) };
        let cap = plan::cap(k);
        let limits = &self.ctx.limits;
        let total: usize = self.batches.iter().map(|b| b.rows).sum();
        let per_dispatch = plan::max_dispatch_queries(cap, self.ctx.max_binding(), limits.max_compute_workgroups_per_dimension)
            .min(plan::padded_rows(total));
        let mut guard = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(|s| s.cap != cap || s.positions < per_dispatch) {
            *guard = None;
            *guard = Some(self.scratch(per_dispatch, cap)?);
        }
        let s = guard.as_ref().ok_or_else(|| Error::Invalid("GPU scratch buffers missing".into()))?;
        for batch in &self.batches {
            for start in (0..batch.rows).step_by(per_dispatch) {
                let end = (start + per_dispatch).min(batch.rows);
                let rows: Vec<u32> = (start as u32..end as u32).collect();
                let sel = &mut topk[batch.first + start..batch.first + end];
                self.score_group(&Group { s, batch, chunk, first_row, rows: &rows }, sel)?;
            }
        }
        Ok(())
    }
}
