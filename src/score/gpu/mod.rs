//! The GPU backend: WGSL compute kernels through wgpu, with the top-k fused into the kernel.
//!
//! - [`kernels`]: the WGSL sources (one file each under `shaders/`) and their precisions;
//! - [`plan`]: tile sizes, candidate slots and the dispatch schedule (pure arithmetic);
//! - `context`: adapter choice, device with the adapter's limits, pipelines, error capture;
//! - `backend`: buffers, uploads, dispatches, read-back and the exact merge.
//!
//! Built without the `gpu` feature, the same API answers "built without GPU support".

pub mod kernels;
pub mod plan;

#[cfg(feature = "gpu")]
mod backend;
#[cfg(feature = "gpu")]
mod context;

#[cfg(feature = "gpu")]
pub use backend::{GpuBackend, GpuChunk};
#[cfg(feature = "gpu")]
pub use context::{adapters, show_driver_messages};
pub use kernels::Precision;

/// What the caller asks of the GPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuRequest {
    /// Refuse software adapters (llvmpipe and the like): what `--backend auto` wants.
    pub hardware_only: bool,
    /// Only adapters whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// Storage precision asked for; f16 falls back to f32 where the adapter lacks `shader-f16`.
    pub precision: Precision,
}

/// One adapter as simcal sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name.
    pub name: String,
    /// `vulkan`, `metal`, `dx12`, ...
    pub api: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` (software) or `other`.
    pub kind: String,
    /// Whether it is a hardware GPU.
    pub hardware: bool,
    /// Whether it offers `shader-f16`.
    pub f16: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.api, self.kind)
    }
}

#[cfg(not(feature = "gpu"))]
mod disabled {
    use super::{AdapterSummary, GpuRequest, Precision};
    use crate::error::{Error, Result};

    /// No adapters without GPU support.
    pub fn adapters() -> Vec<AdapterSummary> {
        Vec::new()
    }

    /// Placeholder: a build without GPU support loads no driver.
    pub fn show_driver_messages(_show: bool) {}

    /// Placeholder: a build without GPU support has no GPU backend.
    #[derive(Debug)]
    pub enum GpuBackend {}

    /// Placeholder: a build without GPU support stages no GPU chunk.
    #[derive(Debug)]
    pub enum GpuChunk {}

    impl crate::score::Backend for GpuBackend {
        type Staged = GpuChunk;
        fn name(&self) -> String {
            match *self {}
        }
        fn load_queries(&mut self, _: ndarray::ArrayView2<f32>) -> Result<()> {
            match *self {}
        }
        fn stage(&self, _: ndarray::ArrayView2<f32>, _: &[f32]) -> Result<GpuChunk> {
            match *self {}
        }
        fn score(&self, _: &GpuChunk, _: u64, _: &mut [crate::score::TopK]) -> Result<()> {
            match *self {}
        }
    }

    impl GpuBackend {
        /// Always "built without GPU support".
        pub fn open(_req: &GpuRequest) -> Result<GpuBackend> {
            Err(Error::Unavailable("simcal was built without GPU support (feature `gpu`); use `backend` cpu".into()))
        }

        /// Never called: there is no GPU backend to ask.
        pub fn precision(&self) -> Precision {
            match *self {}
        }

        /// Never called: there is no GPU backend to ask.
        pub fn dispatch_counts(&self) -> (u64, u64) {
            match *self {}
        }
    }
}
#[cfg(not(feature = "gpu"))]
pub use disabled::{adapters, show_driver_messages, GpuBackend, GpuChunk};
