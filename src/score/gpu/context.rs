//! The wgpu context: adapter choice, device with the adapter's own limits, the kernels, and
//! errors turned into [`Error::Gpu`] instead of wgpu's default panic.
//!
//! A context is built once per (adapter, precision) in a process and shared by every backend
//! that asks for it, so tests and repeated jobs do not pay device creation and shader
//! compilation again.

use std::sync::{Arc, Mutex, OnceLock};

use super::kernels::{self, Precision};
use super::{AdapterSummary, GpuRequest};
use crate::choice::Choice;
use crate::error::{Error, GpuFailure, Result};

/// A device ready to score: queue, kernels, limits and a record of asynchronous failures.
pub(crate) struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub precision: Precision,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    /// A device loss or an error no scope captured, as reported by wgpu's callbacks.
    fault: Arc<Mutex<Option<(GpuFailure, String)>>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("adapter", &self.info.name).field("precision", &self.precision).finish()
    }
}

/// Whether the drivers may write to stderr while simcal probes them (`--verbose`).
static DRIVER_MESSAGES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets the GPU drivers' own messages through to stderr (they are silenced by default).
pub fn show_driver_messages(show: bool) {
    DRIVER_MESSAGES.store(show, std::sync::atomic::Ordering::Relaxed);
}

/// Runs `f` with stderr pointed at /dev/null, unless driver messages are shown: Vulkan drivers
/// print from their window-system probes (e.g. "XDG_RUNTIME_DIR is invalid or not set" under
/// cron or in containers), which would read like simcal's own errors. simcal asks for compute
/// only; its own errors come back as values and are printed after.
fn quiet<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    if !DRIVER_MESSAGES.load(std::sync::atomic::Ordering::Relaxed) {
        use std::os::fd::AsRawFd;
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            // SAFETY: dup/dup2 on the process's own stderr and a file it holds open.
            let saved = unsafe { libc::dup(2) };
            if saved >= 0 && unsafe { libc::dup2(null.as_raw_fd(), 2) } >= 0 {
                let out = f();
                unsafe {
                    libc::dup2(saved, 2);
                    libc::close(saved);
                }
                return out;
            }
            if saved >= 0 {
                unsafe { libc::close(saved) };
            }
        }
    }
    f()
}

fn instance() -> &'static wgpu::Instance {
    static INSTANCE: OnceLock<wgpu::Instance> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::PRIMARY.with_env();
        quiet(|| wgpu::Instance::new(desc))
    })
}

fn kind(t: wgpu::DeviceType) -> (&'static str, u8) {
    match t {
        wgpu::DeviceType::DiscreteGpu => ("discrete", 4),
        wgpu::DeviceType::IntegratedGpu => ("integrated", 3),
        wgpu::DeviceType::VirtualGpu => ("virtual", 2),
        wgpu::DeviceType::Other => ("other", 1),
        wgpu::DeviceType::Cpu => ("cpu", 0),
    }
}

fn summary(a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    let (k, rank) = kind(info.device_type);
    AdapterSummary {
        name: info.name.clone(),
        api: info.backend.to_str().to_owned(),
        kind: k.to_owned(),
        hardware: rank >= 2,
        f16: a.features().contains(wgpu::Features::SHADER_F16),
    }
}

fn enumerate() -> Vec<wgpu::Adapter> {
    let instance = instance();
    let mut all = quiet(|| pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all())));
    // Best first: hardware before software, discrete before integrated; Vulkan first among equals.
    all.sort_by_key(|a| {
        let info = a.get_info();
        (std::cmp::Reverse(kind(info.device_type).1), info.backend != wgpu::Backend::Vulkan)
    });
    all
}

/// Every adapter wgpu finds on this machine, best first.
pub fn adapters() -> Vec<AdapterSummary> {
    enumerate().iter().map(summary).collect()
}

/// The shared context for `req`, built on first use.
pub(crate) fn context(req: &GpuRequest) -> Result<Arc<Context>> {
    type Cache = Mutex<Vec<(wgpu::AdapterInfo, Precision, Arc<Context>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let adapter = choose(req)?;
    let info = adapter.get_info();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(_, _, c)| c.fault().is_none());
    if let Some((_, _, c)) = cache.iter().find(|(i, p, _)| *i == info && *p == req.precision) {
        return Ok(c.clone());
    }
    let ctx = Arc::new(Context::new(&adapter, req.precision)?);
    cache.push((info, req.precision, ctx.clone()));
    Ok(ctx)
}

fn choose(req: &GpuRequest) -> Result<wgpu::Adapter> {
    let all = enumerate();
    let seen: Vec<String> = all.iter().map(|a| summary(a).to_string()).collect();
    let wanted = req.adapter.as_deref().map(str::to_lowercase);
    let found = all.into_iter().find(|a| {
        let s = summary(a);
        (!req.hardware_only || s.hardware) && wanted.as_ref().is_none_or(|w| s.name.to_lowercase().contains(w.as_str()))
    });
    found.ok_or_else(|| {
        let what = match (&req.adapter, req.hardware_only) {
            (Some(name), _) => format!("no GPU adapter named like {name:?}"),
            (None, true) => "no hardware GPU adapter".to_owned(),
            (None, false) => "no GPU adapter".to_owned(),
        };
        let seen = if seen.is_empty() { "none".to_owned() } else { seen.join("; ") };
        Error::Unavailable(format!(
            "{what} (adapters found: {seen}); install a Vulkan driver (Debian's mesa-vulkan-drivers gives a software one) or use `backend` cpu"
        ))
    })
}

impl Context {
    fn new(adapter: &wgpu::Adapter, precision: Precision) -> Result<Context> {
        let info = adapter.get_info();
        let precision = if adapter.features().contains(wgpu::Features::SHADER_F16) { precision } else { Precision::F32 };
        let limits = adapter.limits();
        let required_features = if precision == Precision::F16 { wgpu::Features::SHADER_F16 } else { wgpu::Features::empty() };
        let failed = |kind, e: &dyn std::fmt::Display| Error::Gpu { adapter: info.name.clone(), kind, message: e.to_string() };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("simcal"),
            required_features,
            // The adapter's own limits: the largest buffers and bindings it allows.
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| failed(GpuFailure::NoDevice, &e))?;

        let fault: Arc<Mutex<Option<(GpuFailure, String)>>> = Arc::default();
        let record = {
            let fault = fault.clone();
            move |kind: GpuFailure, message: String| {
                let mut f = fault.lock().unwrap_or_else(|e| e.into_inner());
                f.get_or_insert((kind, message));
            }
        };
        let on_error = record.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let kind = match e {
                wgpu::Error::OutOfMemory { .. } => GpuFailure::OutOfMemory,
                _ => GpuFailure::Refused,
            };
            on_error(kind, e.to_string());
        }));
        device.set_device_lost_callback(move |reason, message| record(GpuFailure::DeviceLost, format!("{reason:?}: {message}")));

        let src = kernels::source(kernels::SCORE_TOPK, precision).ok_or_else(|| failed(GpuFailure::Refused, &"kernel source missing"))?;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernels::SCORE_TOPK),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("score_topk"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(failed(GpuFailure::Refused, &e));
        }
        let layout = pipeline.get_bind_group_layout(0);
        Ok(Context { device, queue, info, limits, precision, pipeline, layout, fault })
    }

    /// A failure reported asynchronously (device lost, uncaptured error), if any.
    pub fn fault(&self) -> Option<(GpuFailure, String)> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The error for a failure of this context.
    pub fn error(&self, kind: GpuFailure, message: impl Into<String>) -> Error {
        Error::Gpu { adapter: self.info.name.clone(), kind, message: message.into() }
    }

    /// Runs `f` with out-of-memory and validation errors captured, returning them as errors.
    pub(crate) fn guarded<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        if let Some((kind, message)) = self.fault() {
            return Err(self.error(kind, message));
        }
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let out = f();
        let oom = pollster::block_on(oom.pop());
        let validation = pollster::block_on(validation.pop());
        if let Some(e) = oom {
            return Err(self.error(GpuFailure::OutOfMemory, format!("{what}: {e}")));
        }
        if let Some(e) = validation {
            return Err(self.error(GpuFailure::Refused, format!("{what}: {e}")));
        }
        Ok(out)
    }

    /// The largest storage binding (and buffer) the device allows, in bytes.
    pub(crate) fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// The adapter's one-line description.
    pub(crate) fn describe(&self) -> String {
        format!("{} ({}, {})", self.info.name, self.info.backend.to_str(), self.precision.name())
    }
}
