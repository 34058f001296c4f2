//! Running the shipped kernels on a GPU: one path shared by the demo, the GPU tests
//! and the benchmark, so that what is timed is exactly what is checked. The sparse
//! patterns run on tensors already on the device (`device`, `pattern`); their host
//! runners (`Backend::Gpu`) upload and call the same code.

#[cfg(feature = "gpu")]
pub mod block_sparse;
#[cfg(feature = "gpu")]
pub mod device;
#[cfg(feature = "gpu")]
pub mod pattern;
#[cfg(feature = "gpu")]
pub mod vertical_slash;

use crate::shipped::{Case, Shipped};
use crate::sparse::key_step;
use rand::Rng;
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::ConstValue;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_runtime::{median, DeviceTensor, Gpu, KernelCache, LaunchArg, LoadedKernel, RuntimeError};
use std::sync::Arc;

/// A case's arguments on the device.
pub enum DeviceArg {
    Tensor(DeviceTensor),
    F32(f32),
    I32(i32),
    Bool(bool),
}

impl DeviceArg {
    pub(crate) fn launch_arg(&self) -> LaunchArg<'_> {
        match self {
            DeviceArg::Tensor(t) => LaunchArg::Tensor(t),
            DeviceArg::F32(v) => LaunchArg::F32(*v),
            DeviceArg::I32(v) => LaunchArg::I32(*v),
            DeviceArg::Bool(v) => LaunchArg::Bool(*v),
        }
    }
}

pub fn upload(gpu: &Gpu, args: &[ArgValue]) -> Result<Vec<DeviceArg>, RuntimeError> {
    args.iter()
        .map(|a| {
            Ok(match a {
                ArgValue::Tensor(t) => DeviceArg::Tensor(DeviceTensor::upload(gpu, t)?),
                ArgValue::F32(v) => DeviceArg::F32(*v),
                ArgValue::I32(v) => DeviceArg::I32(*v),
                ArgValue::Bool(v) => DeviceArg::Bool(*v),
            })
        })
        .collect()
}

pub fn launch(gpu: &Gpu, kernel: &LoadedKernel, args: &[DeviceArg]) -> Result<(), RuntimeError> {
    let launch_args: Vec<LaunchArg> = args.iter().map(DeviceArg::launch_arg).collect();
    gpu.launch(kernel, &launch_args)
}

/// Compiles (through the cache) and loads the specialization `case` needs.
pub fn load(gpu: &Gpu, cache: &KernelCache, kernel: Shipped, case: &Case) -> Result<Arc<LoadedKernel>, RuntimeError> {
    let compiled = cache.get(kernel.source(), None, &case.consts)?;
    gpu.load(&compiled, cache)
}

/// A launch that could not be made ready: the step that failed (`compiling`, `loading`)
/// and why.
#[derive(Debug)]
pub struct LoadFailure {
    pub step: &'static str,
    pub error: Box<RuntimeError>,
}

/// Compiles (through the cache) and loads `kernel` of `source` for a launch with `consts`,
/// the consts the target decides added ([`key_step::target_consts`]; `aligned`: whether
/// the launch's q, k, v and o meet the contract). The one loader of the launches of a
/// pattern's plan: the plan runner's and the benchmark's pipeline.
pub fn load_launch(
    gpu: &Gpu,
    cache: &KernelCache,
    (source, kernel): (&str, &str),
    consts: &[(String, ConstValue)],
    aligned: bool,
) -> Result<Arc<LoadedKernel>, LoadFailure> {
    let consts = key_step::target_consts(kernel, consts, cache.arch(), cache.codegen().mma, aligned);
    let failed = |step| move |error| LoadFailure { step, error: Box::new(error) };
    let compiled = cache.get(source, Some(kernel), &consts).map_err(failed("compiling"))?;
    gpu.load(&compiled, cache).map_err(failed("loading"))
}

/// Runs `case` once on the GPU (its output was poisoned on the host, and is poisoned
/// again on the device) and returns the output tensor.
pub fn run_case(gpu: &Gpu, cache: &KernelCache, kernel: Shipped, case: &Case) -> Result<HostTensor, RuntimeError> {
    let loaded = load(gpu, cache, kernel, case)?;
    let args = upload(gpu, &case.args)?;
    if let DeviceArg::Tensor(out) = &args[case.output] {
        out.poison()?;
    }
    launch(gpu, &loaded, &args)?;
    gpu.synchronize()?;
    match &args[case.output] {
        DeviceArg::Tensor(out) => out.download(),
        _ => unreachable!("Case::output always names a tensor argument"),
    }
}

/// Median device time of one launch on `shape`, rotating over `sets` input sets so
/// that repeated launches do not read from L2.
pub struct Timing {
    pub median_ms: f32,
    pub iters: usize,
    pub bytes: u64,
}

impl Timing {
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 / (self.median_ms as f64 * 1e6)
    }
}

/// How [`time_kernel`] runs a kernel: over `sets` fresh input sets in turn (so that
/// repeated runs do not hit in L2), `iters` timed runs, after `settle_ms` of untimed runs
/// ([`Gpu::settle`]) and 5 more.
#[derive(Clone, Copy, Debug)]
pub struct TimingRuns {
    pub sets: usize,
    pub iters: usize,
    pub settle_ms: u64,
}

/// The median device time of `kernel` at `shape`, run as `runs` says.
pub fn time_kernel(
    gpu: &Gpu,
    cache: &KernelCache,
    kernel: Shipped,
    shape: &[usize],
    TimingRuns { sets, iters, settle_ms }: TimingRuns,
    rng: &mut impl Rng,
) -> Result<Timing, RuntimeError> {
    let cases: Vec<Case> = (0..sets.max(1)).map(|_| kernel.case(shape, None, rng)).collect();
    let loaded = load(gpu, cache, kernel, &cases[0])?;
    let device: Vec<Vec<DeviceArg>> = cases.iter().map(|c| upload(gpu, &c.args)).collect::<Result<_, _>>()?;
    let mut next = 0;
    gpu.settle(settle_ms, || launch(gpu, &loaded, &device[0]))?;
    let samples = gpu.time_ms(5, iters, || {
        next = (next + 1) % device.len();
        launch(gpu, &loaded, &device[next])
    })?;
    let median_ms = median(&samples).unwrap_or(f32::NAN);
    Ok(Timing { median_ms, iters, bytes: kernel.bytes_moved(shape) })
}
