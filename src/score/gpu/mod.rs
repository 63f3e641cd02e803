//! The GPU backend (wgpu / WGSL). Not built yet: asking for it returns a clear error, so that
//! `--backend gpu` fails loudly instead of silently running on the CPU.

use super::Backend;
use crate::error::{Error, Result};

/// Opens the GPU backend.
pub fn open() -> Result<Box<dyn Backend>> {
    if cfg!(feature = "gpu") {
        Err(Error::Unavailable("the GPU backend is not implemented yet in this version; use --backend cpu".into()))
    } else {
        Err(Error::Unavailable("simcal was built without GPU support (feature `gpu`); use --backend cpu".into()))
    }
}
