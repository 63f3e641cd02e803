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
pub use context::{adapters, AdapterSummary, GpuRequest};
pub use kernels::Precision;

#[cfg(not(feature = "gpu"))]
mod disabled {
    use super::Precision;
    use crate::error::{Error, Result};

    /// What the caller asks of the GPU.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct GpuRequest {
        /// Refuse software adapters.
        pub hardware_only: bool,
        /// Only adapters whose name contains this.
        pub adapter: Option<String>,
        /// Storage precision asked for.
        pub precision: Precision,
    }

    /// One adapter as simcal sees it (none without GPU support).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct AdapterSummary {
        /// The adapter's name.
        pub name: String,
    }

    /// No adapters without GPU support.
    pub fn adapters() -> Vec<AdapterSummary> {
        Vec::new()
    }

    /// Placeholder: a build without GPU support has no GPU backend.
    #[derive(Debug)]
    pub enum GpuBackend {}

    /// Placeholder: a build without GPU support stages no GPU chunk.
    #[derive(Debug)]
    pub enum GpuChunk {}

    impl crate::score::Backend for GpuBackend {
        fn name(&self) -> String {
            match *self {}
        }
        fn load_queries(&mut self, _: ndarray::ArrayView2<f32>) -> Result<()> {
            match *self {}
        }
        fn stage(&self, _: ndarray::ArrayView2<f32>, _: &[f32]) -> Result<crate::score::Staged> {
            match *self {}
        }
        fn score(&self, _: &crate::score::Staged, _: u64, _: &mut [crate::score::TopK]) -> Result<()> {
            match *self {}
        }
    }

    impl GpuBackend {
        /// Always "built without GPU support".
        pub fn open(_req: &GpuRequest) -> Result<GpuBackend> {
            Err(Error::Unavailable("simcal was built without GPU support (feature `gpu`); use --backend cpu".into()))
        }
    }
}
#[cfg(not(feature = "gpu"))]
pub use disabled::{adapters, AdapterSummary, GpuBackend, GpuChunk, GpuRequest};
