//! The vertical-slash launch plan ([`crate::sparse::vertical_slash::plan`]) on a GPU: its
//! buffers on the device once (the caller's q, k, v and o views and scratch allocated
//! there, [`run_on_device`]; or a host plan's buffers uploaded, [`PlanOnGpu::new`]), its
//! kernels loaded through the kernel cache, launches queued on the stream with nothing
//! read back in between. One runner for the model, the GPU tests and the CLI
//! (`attn --device cuda`, [`run`]: upload, then [`run_on_device`]); `sparsefill bench`
//! launches the same plan stage by stage to time each.

use super::device::{scratch, BufferError, DeviceAttention, DeviceOutput, IndexCheck, Problem, Uploaded};
use crate::attention::AttentionShape;
use crate::gpu::load_launch;
use crate::sparse::index::SparseIndex;
use crate::sparse::local::query_blocks::RunError;
use crate::sparse::vertical_slash::overlap::{self, HeadChunk};
use crate::sparse::vertical_slash::plan::{self, Arg, Buffer, Launch, Launches, Plan};
use crate::sparse::vertical_slash::{VerticalSlashError, VerticalSlashParams};
use crate::sparse::{AttentionInputs, SparseOutput};
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_runtime::lanes;
use sparsefill_runtime::{DeviceTensor, Gpu, KernelCache, Lane, LaunchArg, LoadedKernel, RuntimeError};
use std::borrow::Cow;
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
    #[error("`{kernel}` takes a chunk of heads of the buffer {buffer:?}, whose shape has no such part")]
    HeadChunk { kernel: &'static str, buffer: Buffer },
    #[error(
        "{chunks} chunks of heads run without reading the index back; an index checked on the host needs the launches in one piece"
    )]
    CheckedChunks { chunks: usize },
    #[error(transparent)]
    Pattern(#[from] VerticalSlashError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Device(#[from] BufferError),
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
    /// Uploads every buffer of `plan` as it holds it (inputs, and outputs already poisoned
    /// on the host), then [`PlanOnGpu::with_buffers`].
    pub fn new(gpu: &'g Gpu, cache: &KernelCache, plan: &Plan) -> Result<PlanOnGpu<'g>, PlanGpuError> {
        // Refused before any upload.
        let launches = checked_launches(in_order(plan), plan)?;
        PlanOnGpu::with_buffers(gpu, cache, launches, uploaded(gpu, plan)?)
    }

    /// [`PlanOnGpu::new`] with the plan's launches in `chunks` chunks of heads, each chunk's
    /// estimation beside the attention of the chunk before ([`overlap::overlapped`]; the
    /// count checked by [`overlap::check_chunks`] against q and k). Run them all with
    /// [`PlanOnGpu::launch_all`]: the last launch is the last chunk's attention.
    pub fn chunked(
        gpu: &'g Gpu,
        cache: &KernelCache,
        plan: &Plan,
        chunks: usize,
    ) -> Result<PlanOnGpu<'g>, PlanGpuError> {
        let heads = |b: Buffer| plan.buffer(b).and_then(|t| t.shape.get(1).copied()).unwrap_or(0);
        overlap::check_chunks(chunks, heads(Buffer::Q), heads(Buffer::K))?;
        let launches = checked_launches(overlap::overlapped(&plan.estimate, &plan.attend, chunks), plan)?;
        PlanOnGpu::with_buffers(gpu, cache, launches, uploaded(gpu, plan)?)
    }

    /// Compiles and loads every kernel of `launches` (through `cache`) over buffers already
    /// on the device, after checking that every buffer a launch takes is among them. The
    /// attention kernel's key step follows the buffers' `aligned` contract
    /// ([`key_step::key_step`](crate::sparse::key_step::key_step)).
    pub fn with_buffers(
        gpu: &'g Gpu,
        cache: &KernelCache,
        launches: Vec<Launch>,
        buffers: HashMap<Buffer, DeviceTensor>,
    ) -> Result<PlanOnGpu<'g>, PlanGpuError> {
        check_buffers(&launches, |b| buffers.contains_key(&b))?;
        plan::check_walk_target(launches.iter().map(|l| l.kernel), cache.arch())?;
        let aligned = plan::STEP_TENSORS.iter().all(|b| buffers.get(b).is_some_and(DeviceTensor::is_aligned));
        let kernels =
            launches
                .iter()
                .map(|l| {
                    load_launch(gpu, cache, (l.source, l.kernel), &l.consts, aligned)
                        .map_err(|f| PlanGpuError::Kernel { step: f.step, kernel: l.kernel, source: f.error })
                })
                .collect::<Result<_, _>>()?;
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

    /// Queues launch `at` alone (on its lane, joined back into the main stream); returns
    /// once it is queued.
    pub fn launch(&self, at: usize) -> Result<(), PlanGpuError> {
        self.launch_all(at..at.saturating_add(1))
    }

    /// Queues the launches at `range`, in order, each on its lane, with the waits between
    /// the lanes that `sparsefill_runtime::lanes::schedule` gives; the range ends joined.
    pub fn launch_all(&self, range: Range<usize>) -> Result<(), PlanGpuError> {
        let count = self.launches.len();
        // The first launch missing: past the end, or the start of a reversed range.
        let missing = PlanGpuError::NoLaunch { at: range.start.max(count), count };
        let picked = self.launches.get(range.clone()).ok_or(missing)?;
        let lanes: Vec<(Lane, Vec<(Buffer, HeadChunk)>)> = picked.iter().map(|l| (l.lane, l.keys())).collect();
        let launch = |at, lane| self.queue_one(range.start + at, lane);
        lanes::queue(self.gpu, &lanes, launch, |e| PlanGpuError::Synchronize(Box::new(e)))
    }

    /// Queues launch `at` on `lane`.
    fn queue_one(&self, at: usize, lane: Lane) -> Result<(), PlanGpuError> {
        let count = self.launches.len();
        let (launch, kernel) =
            self.launches.get(at).zip(self.kernels.get(at)).ok_or(PlanGpuError::NoLaunch { at, count })?;
        // A chunk of heads takes views of its part of each buffer.
        let tensors = launch
            .buffers()
            .into_iter()
            .map(|b| {
                let whole =
                    self.buffers.get(&b).ok_or(PlanGpuError::MissingBuffer { kernel: launch.kernel, buffer: b })?;
                match overlap::head_range(b, whole.shape(), launch.heads) {
                    Some((axis, range)) => whole
                        .narrow(axis, range)
                        .map(Cow::Owned)
                        .ok_or(PlanGpuError::HeadChunk { kernel: launch.kernel, buffer: b }),
                    None => Ok(Cow::Borrowed(whole)),
                }
            })
            .collect::<Result<Vec<Cow<DeviceTensor>>, PlanGpuError>>()?;
        let mut tensors = tensors.iter();
        let args = launch
            .args
            .iter()
            .map(|a| match a {
                Arg::Buffer(b) => tensors
                    .next()
                    .map(|t| LaunchArg::Tensor(t))
                    .ok_or(PlanGpuError::MissingBuffer { kernel: launch.kernel, buffer: *b }),
                Arg::F32(x) => Ok(LaunchArg::F32(*x)),
                Arg::I32(x) => Ok(LaunchArg::I32(*x)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.gpu.launch_on(lane, kernel, &args).map_err(|e| PlanGpuError::Kernel {
            step: "launching",
            kernel: launch.kernel,
            source: Box::new(e),
        })
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

/// The plan's launches in order: its estimation, then its attention.
fn in_order(plan: &Plan) -> Vec<Launch> {
    plan.estimate.iter().chain([&plan.attend]).cloned().collect()
}

/// Whether the launches for `shape` may run in `chunks` chunks of heads under `check`:
/// chunks that fit the heads ([`overlap::check_chunks`]), and one piece where the index
/// is read back and checked on the host between the estimation and the attention.
fn check_run_chunks(chunks: usize, shape: &AttentionShape, check: IndexCheck) -> Result<(), PlanGpuError> {
    overlap::check_chunks(chunks, shape.heads, shape.kv_heads)?;
    match chunks > 1 && check == IndexCheck::OnHost {
        true => Err(PlanGpuError::CheckedChunks { chunks }),
        false => Ok(()),
    }
}

/// `launches`, after checking that every buffer they take is in `plan`.
fn checked_launches(launches: Vec<Launch>, plan: &Plan) -> Result<Vec<Launch>, PlanGpuError> {
    check_buffers(&launches, |b| plan.buffer(b).is_some())?;
    Ok(launches)
}

/// Every buffer of `plan` uploaded as it holds it (inputs, and outputs already poisoned
/// on the host).
fn uploaded(gpu: &Gpu, plan: &Plan) -> Result<HashMap<Buffer, DeviceTensor>, PlanGpuError> {
    plan.buffers
        .iter()
        .map(|(b, t)| {
            let tensor = DeviceTensor::upload(gpu, t).map_err(|e| PlanGpuError::Buffer {
                step: "uploading",
                buffer: *b,
                source: Box::new(e),
            })?;
            Ok((*b, tensor))
        })
        .collect()
}

/// Refuses a launch that takes a buffer `holds` does not.
fn check_buffers(launches: &[Launch], holds: impl Fn(Buffer) -> bool) -> Result<(), PlanGpuError> {
    for launch in launches {
        if let Some(buffer) = launch.buffers().into_iter().find(|&b| !holds(b)) {
            return Err(PlanGpuError::MissingBuffer { kernel: launch.kernel, buffer });
        }
    }
    Ok(())
}

/// The whole pattern on device tensors, as [`crate::sparse::vertical_slash::run_interp`]
/// runs it on the interpreter: estimation into scratch allocated here (poisoned), the index
/// checked as `check` says (under [`IndexCheck::OnHost`] a malformed index is an error
/// before the attention reads it), then attention into `io.o`. A trusted index lets the
/// launches run in [`overlap::default_chunks`] chunks of heads.
pub fn run_on_device(
    gpu: &Gpu,
    cache: &KernelCache,
    io: DeviceAttention,
    params: &VerticalSlashParams,
    check: IndexCheck,
) -> Result<DeviceOutput, PlanGpuError> {
    let chunks = match check {
        IndexCheck::Trusted => overlap::default_chunks(&io.validate().map_err(RunError::from)?),
        IndexCheck::OnHost => 1,
    };
    run_on_device_in(gpu, cache, io, params, check, chunks)
}

/// [`run_on_device`] in `chunks` chunks of heads (checked by [`overlap::check_chunks`]),
/// each chunk's estimation beside the chunk before's attention ([`overlap`]); with more
/// than one the index cannot be read back between them, so `check` must be
/// [`IndexCheck::Trusted`].
pub fn run_on_device_in(
    gpu: &Gpu,
    cache: &KernelCache,
    io: DeviceAttention,
    params: &VerticalSlashParams,
    check: IndexCheck,
    chunks: usize,
) -> Result<DeviceOutput, PlanGpuError> {
    // Refused before anything reaches the GPU.
    let shape = io.validate().map_err(RunError::from)?;
    check_run_chunks(chunks, &shape, check)?;
    let p = Problem::new(gpu, io)?;
    let Launches { scratch: wanted, estimate, attend } = plan::launches(&p.shape, params)?;
    let mut buffers = HashMap::from([
        (Buffer::Q, io.q.clone()),
        (Buffer::K, io.k.clone()),
        (Buffer::V, io.v.clone()),
        (Buffer::O, io.o.clone()),
        (Buffer::CuSeqlens, p.cu_seqlens.clone()),
    ]);
    for (buffer, dtype, dims) in wanted {
        buffers.insert(buffer, scratch(gpu, &format!("the vertical-slash buffer {buffer:?}"), dtype, &dims)?);
    }
    let (index, buffers) = match chunks {
        1 => {
            let on = PlanOnGpu::with_buffers(gpu, cache, estimate.into_iter().chain([attend]).collect(), buffers)?;
            on.launch_all(on.estimation())?;
            let index = match check {
                IndexCheck::OnHost => {
                    let index = on.index()?;
                    index.validate(&p.shape.seqlens, p.shape.heads).map_err(VerticalSlashError::from)?;
                    index.named()
                }
                IndexCheck::Trusted => Vec::new(),
            };
            on.launch(on.attention())?;
            (index, on.buffers)
        }
        _ => {
            let on = PlanOnGpu::with_buffers(gpu, cache, overlap::overlapped(&estimate, &attend, chunks), buffers)?;
            on.launch_all(0..on.launches.len())?;
            (Vec::new(), on.buffers)
        }
    };
    // The attention launch takes lse, so with_buffers checked that it is there.
    let missing = PlanGpuError::MissingBuffer { kernel: plan::ATTEND_KERNEL, buffer: Buffer::Lse };
    let lse = buffers.get(&Buffer::Lse).cloned().ok_or(missing)?;
    Ok(DeviceOutput { lse, index })
}

/// The whole pattern on host tensors: uploaded, [`run_on_device`] with the index checked
/// on the host, o and lse downloaded.
pub fn run(
    gpu: &Gpu,
    cache: &KernelCache,
    inputs: &AttentionInputs,
    params: &VerticalSlashParams,
) -> Result<SparseOutput, PlanGpuError> {
    let uploaded = Uploaded::new(gpu, inputs)?;
    let out = run_on_device(gpu, cache, uploaded.io(), params, IndexCheck::OnHost)?;
    Ok(uploaded.output(out)?)
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
        let launches = checked_launches(in_order(&plan), &plan).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(launches.len(), plan.estimate.len() + 1);
        assert_eq!(launches.last().map(|l| l.kernel), Some(plan.attend.kernel));
    }

    fn shape(heads: usize, kv_heads: usize) -> AttentionShape {
        AttentionShape { seqlens: vec![128], heads, kv_heads, head_dim: 64, causal: true }
    }

    #[test]
    fn chunks_with_an_index_checked_on_the_host_are_refused() {
        let err = check_run_chunks(2, &shape(4, 1), IndexCheck::OnHost).unwrap_err();
        assert!(matches!(err, PlanGpuError::CheckedChunks { chunks: 2 }), "{err}");
    }

    #[test]
    fn one_piece_with_an_index_checked_on_the_host_runs() {
        assert!(check_run_chunks(1, &shape(4, 1), IndexCheck::OnHost).is_ok());
    }

    #[test]
    fn chunks_that_cut_across_groups_are_refused_on_a_trusted_index() {
        let err = check_run_chunks(2, &shape(6, 3), IndexCheck::Trusted).unwrap_err();
        assert!(matches!(err, PlanGpuError::Pattern(VerticalSlashError::HeadChunks { chunks: 2, .. })), "{err}");
    }

    #[test]
    fn a_head_a_chunk_runs_on_a_trusted_index() {
        assert!(check_run_chunks(4, &shape(4, 1), IndexCheck::Trusted).is_ok());
    }

    #[test]
    fn a_plan_missing_a_buffer_is_refused_before_any_upload() {
        let mut plan = small_plan();
        plan.buffers.retain(|(b, _)| *b != Buffer::ColumnIndex);
        let err = checked_launches(in_order(&plan), &plan).map(|_| ()).unwrap_err();
        assert!(matches!(err, PlanGpuError::MissingBuffer { buffer: Buffer::ColumnIndex, .. }), "{err}");
    }
}
