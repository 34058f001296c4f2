//! The vertical-slash launch plan ([`crate::sparse::vertical_slash::plan`]) on a GPU: its
//! buffers uploaded once, its kernels loaded through the kernel cache, launches queued
//! on the stream with nothing read back in between. One runner for the GPU tests and the
//! CLI (`attn --device cuda`); `sparsefill bench` launches the same plan stage by stage
//! to time each.

use crate::sparse::index::SparseIndex;
use crate::sparse::vertical_slash::plan::{self, Arg, Buffer, Launch, Plan};
use crate::sparse::vertical_slash::{VerticalSlashError, VerticalSlashParams};
use crate::sparse::{AttentionInputs, SparseOutput};
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_runtime::{DeviceTensor, Gpu, KernelCache, LaunchArg, LoadedKernel, RuntimeError};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PlanGpuError {
    // Runtime errors are boxed: they are large and every variant would carry their size.
    #[error("{step} `{kernel}` on the GPU: {source}")]
    Kernel { step: &'static str, kernel: &'static str, source: Box<RuntimeError> },
    #[error("{step} the buffer {buffer:?} on the GPU: {source}")]
    Buffer { step: &'static str, buffer: Buffer, source: Box<RuntimeError> },
    #[error("waiting for the GPU: {0}")]
    Synchronize(Box<RuntimeError>),
    #[error("launch {at} does not exist: the plan has {count} (its estimation launches, then the attention)")]
    NoLaunch { at: usize, count: usize },
    #[error("`{kernel}` takes the buffer {buffer:?}, which the launch plan does not hold")]
    MissingBuffer { kernel: &'static str, buffer: Buffer },
    #[error(transparent)]
    Pattern(#[from] VerticalSlashError),
}

/// A plan's buffers on the device and its kernels loaded, launch `i` of
/// [`PlanOnGpu::launches`] being estimation launch `i`, the last one the attention.
pub struct PlanOnGpu<'g> {
    gpu: &'g Gpu,
    launches: Vec<Launch>,
    kernels: Vec<Arc<LoadedKernel>>,
    buffers: HashMap<Buffer, DeviceTensor>,
}

impl<'g> PlanOnGpu<'g> {
    /// Compiles and loads every kernel of `plan` (through `cache`) and uploads every
    /// buffer as the plan holds it: inputs, and outputs already poisoned on the host.
    pub fn new(gpu: &'g Gpu, cache: &KernelCache, plan: &Plan) -> Result<PlanOnGpu<'g>, PlanGpuError> {
        let launches = checked_launches(plan)?;
        let kernels = launches
            .iter()
            .map(|l| {
                let failed = |step| move |e| PlanGpuError::Kernel { step, kernel: l.kernel, source: Box::new(e) };
                let compiled = cache.get(l.source, Some(l.kernel), &l.consts).map_err(failed("compiling"))?;
                gpu.load(&compiled, cache).map_err(failed("loading"))
            })
            .collect::<Result<_, _>>()?;
        let buffers = plan
            .buffers
            .iter()
            .map(|(b, t)| {
                let tensor = DeviceTensor::upload(gpu, t).map_err(|e| PlanGpuError::Buffer {
                    step: "uploading",
                    buffer: *b,
                    source: Box::new(e),
                })?;
                Ok((*b, tensor))
            })
            .collect::<Result<_, PlanGpuError>>()?;
        Ok(PlanOnGpu { gpu, launches, kernels, buffers })
    }

    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    /// Every launch in order: estimation, then attention.
    pub fn launches(&self) -> &[Launch] {
        &self.launches
    }

    /// The positions of the estimation launches (scores, selection, index conversion).
    pub fn estimation(&self) -> Range<usize> {
        0..self.launches.len() - 1
    }

    /// The position of the attention launch.
    pub fn attention(&self) -> usize {
        self.launches.len() - 1
    }

    /// Queues launch `at`; returns once it is queued.
    pub fn launch(&self, at: usize) -> Result<(), PlanGpuError> {
        let count = self.launches.len();
        let (launch, kernel) =
            self.launches.get(at).zip(self.kernels.get(at)).ok_or(PlanGpuError::NoLaunch { at, count })?;
        let args = launch
            .args
            .iter()
            .map(|a| match a {
                Arg::Buffer(b) => self
                    .buffers
                    .get(b)
                    .map(LaunchArg::Tensor)
                    .ok_or(PlanGpuError::MissingBuffer { kernel: launch.kernel, buffer: *b }),
                Arg::F32(x) => Ok(LaunchArg::F32(*x)),
                Arg::I32(x) => Ok(LaunchArg::I32(*x)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.gpu.launch(kernel, &args).map_err(|e| PlanGpuError::Kernel {
            step: "launching",
            kernel: launch.kernel,
            source: Box::new(e),
        })
    }

    /// Queues the launches at `range`, in order.
    pub fn launch_all(&self, range: Range<usize>) -> Result<(), PlanGpuError> {
        range.into_iter().try_for_each(|at| self.launch(at))
    }

    /// Device times in milliseconds (CUDA events) of `iters` runs of the launches at
    /// `range`, after `warmup` untimed runs.
    pub fn time_ms(&self, range: Range<usize>, warmup: usize, iters: usize) -> Result<Vec<f32>, PlanGpuError> {
        // Gpu::time_ms takes runtime errors only: keep the first of ours and stop queueing.
        let mut failed = None;
        let samples = self
            .gpu
            .time_ms(warmup, iters, || {
                if failed.is_none() {
                    failed = self.launch_all(range.clone()).err();
                }
                Ok(())
            })
            .map_err(|e| PlanGpuError::Synchronize(Box::new(e)))?;
        match failed {
            Some(e) => Err(e),
            None => Ok(samples),
        }
    }

    /// Waits for everything queued.
    pub fn synchronize(&self) -> Result<(), PlanGpuError> {
        self.gpu.synchronize().map_err(|e| PlanGpuError::Synchronize(Box::new(e)))
    }

    /// One buffer's device contents (waits for the queued launches first).
    pub fn download(&self, which: Buffer) -> Result<HostTensor, PlanGpuError> {
        let missing = PlanGpuError::MissingBuffer { kernel: "download", buffer: which };
        let tensor = self.buffers.get(&which).ok_or(missing)?;
        tensor.download().map_err(|e| PlanGpuError::Buffer { step: "downloading", buffer: which, source: Box::new(e) })
    }

    /// The four index tensors as the estimation left them on the device.
    pub fn index(&self) -> Result<SparseIndex, PlanGpuError> {
        Ok(SparseIndex {
            block_count: self.download(Buffer::BlockCount)?,
            block_offset: self.download(Buffer::BlockOffset)?,
            column_count: self.download(Buffer::ColumnCount)?,
            column_index: self.download(Buffer::ColumnIndex)?,
        })
    }

    /// `plan` with every buffer replaced by its device contents, for the step-by-step
    /// checks of [`crate::sparse::vertical_slash::check`].
    pub fn downloaded(&self, plan: &Plan) -> Result<Plan, PlanGpuError> {
        let mut out = plan.clone();
        for (b, t) in &mut out.buffers {
            *t = self.download(*b)?;
        }
        Ok(out)
    }
}

/// The plan's launches in order, after checking that every buffer they take is in it.
fn checked_launches(plan: &Plan) -> Result<Vec<Launch>, PlanGpuError> {
    let launches: Vec<Launch> = plan.estimate.iter().chain([&plan.attend]).cloned().collect();
    for launch in &launches {
        for arg in &launch.args {
            if let Arg::Buffer(buffer) = arg {
                if plan.buffer(*buffer).is_none() {
                    return Err(PlanGpuError::MissingBuffer { kernel: launch.kernel, buffer: *buffer });
                }
            }
        }
    }
    Ok(launches)
}

/// The whole pattern on a GPU, as [`crate::sparse::vertical_slash::run_interp`] runs it
/// on the interpreter: estimation, then the index is downloaded and validated (a
/// malformed index is an error, never an out-of-bounds read), then attention.
pub fn run(
    gpu: &Gpu,
    cache: &KernelCache,
    inputs: &AttentionInputs,
    params: &VerticalSlashParams,
) -> Result<SparseOutput, PlanGpuError> {
    let plan = plan::plan(inputs, params)?;
    let on = PlanOnGpu::new(gpu, cache, &plan)?;
    drop(plan);
    on.launch_all(on.estimation())?;
    let index = on.index()?;
    index.validate(&inputs.seqlens, inputs.q.shape[1]).map_err(VerticalSlashError::from)?;
    on.launch(on.attention())?;
    Ok(SparseOutput { o: on.download(Buffer::O)?, lse: on.download(Buffer::Lse)?, index: index.named() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_compiler::ir::DType;

    fn small_plan() -> Plan {
        let t = |heads: usize| HostTensor::zeros(DType::BF16, &[100, heads, 64]);
        let inputs = AttentionInputs { q: t(2), k: t(1), v: t(1), seqlens: vec![100] };
        let params = VerticalSlashParams { vertical_size: 8, slash_size: 8, last_q: 64 };
        plan::plan(&inputs, &params).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_plan_lists_its_estimation_then_the_attention() {
        let plan = small_plan();
        let launches = checked_launches(&plan).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(launches.len(), plan.estimate.len() + 1);
        assert_eq!(launches.last().map(|l| l.kernel), Some(plan.attend.kernel));
    }

    #[test]
    fn a_plan_missing_a_buffer_is_refused_before_any_upload() {
        let mut plan = small_plan();
        plan.buffers.retain(|(b, _)| *b != Buffer::ColumnIndex);
        let err = checked_launches(&plan).map(|_| ()).unwrap_err();
        assert!(matches!(err, PlanGpuError::MissingBuffer { buffer: Buffer::ColumnIndex, .. }), "{err}");
    }
}
