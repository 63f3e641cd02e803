//! The WGSL kernels, included from this one place.
//!
//! Each kernel is one file under `shaders/`. Storage precision is a variant of the same source:
//! a kernel declares its element type as `alias elem4 = vec4<f32>;`, and [`source`] derives the
//! f16-storage variant (f32 accumulation) by enabling `f16` and swapping that alias, so both
//! precisions run the same code.

/// Storage precision of the vectors on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats.
    #[default]
    F32,
    /// 16-bit floats in storage, 32-bit accumulation (needs the adapter's `shader-f16`).
    F16,
}

crate::choice::choice!(Precision => "precision");

impl Precision {
    /// Bytes per stored element.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
        }
    }
}

/// Every kernel: (file name under `shaders/`, its WGSL source).
pub const KERNELS: &[(&str, &str)] = &[(SCORE_TOPK, include_str!("../../../shaders/score_topk.wgsl"))];

/// The tiled scoring kernel with the fused top-k filter.
pub const SCORE_TOPK: &str = "score_topk.wgsl";

const F32_ALIAS: &str = "alias elem4 = vec4<f32>;";

/// The source of kernel `name` for `precision`, or `None` for an unknown kernel or a kernel
/// without the element-type alias asked for f16.
pub fn source(name: &str, precision: Precision) -> Option<String> {
    let (_, src) = KERNELS.iter().find(|(n, _)| *n == name)?;
    match precision {
        Precision::F32 => Some((*src).to_owned()),
        Precision::F16 => src.contains(F32_ALIAS).then(|| format!("enable f16;\n{}", src.replace(F32_ALIAS, "alias elem4 = vec4<f16>;"))),
    }
}
