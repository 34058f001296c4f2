//! A pattern's launches on the GPU, in stages (estimation, index build, attention):
//! its tensors uploaded once, its kernels loaded through the kernel cache, and each
//! stage (or launch) queued and timed alone with CUDA events.

use super::BenchError;
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::ConstValue;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::gpu::load_launch;
use sparsefill_patterns::sparse::vertical_slash::plan::check_walk_target;
use sparsefill_runtime::lanes;
use sparsefill_runtime::{median, DeviceTensor, Gpu, KernelCache, Lane, LaunchArg, LoadedKernel};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Estimation,
    Index,
    Attention,
    /// `--candidate`: the attention launch again, its kernel compiled from the user's file.
    Candidate,
    /// `--vs-chunks`: vertical-slash's launches again, in chunks of heads on views of the
    /// same tensors, each chunk's estimation beside the chunk before's attention.
    Overlapped,
}

/// A launch argument: a tensor of the pipeline or a view of one ([`Spec::view`]), by
/// position, or a scalar.
#[derive(Clone, Copy, Debug)]
pub enum Slot {
    Tensor(usize),
    View(usize),
    F32(f32),
    I32(i32),
    Bool(bool),
}

/// One launch as the host describes it.
#[derive(Clone)]
pub struct LaunchSpec {
    pub stage: Stage,
    /// The `.tile` source: a shipped kernel's, or a `--candidate` file's.
    pub source: Cow<'static, str>,
    pub kernel: &'static str,
    pub consts: Vec<(String, ConstValue)>,
    pub args: Vec<Slot>,
    /// The tensors whose `aligned` contract picks the launch's target consts
    /// ([`target_consts`](sparsefill_patterns::sparse::key_step::target_consts)): q, k, v and o of the kernels with a key step
    /// (vertical-slash's [`STEP_TENSORS`](sparsefill_patterns::sparse::vertical_slash::plan::STEP_TENSORS)),
    /// empty elsewhere.
    pub step_tensors: Vec<Slot>,
    /// The stream it goes on ([`Lane`]; vertical-slash's plan puts a selection on the side).
    pub lane: Lane,
}

/// Part of a tensor: an axis and the index range along it.
pub type Part = (usize, Range<usize>);

/// The host side: tensors, views of them and launches in stage order.
#[derive(Default)]
pub struct Spec {
    pub tensors: Vec<HostTensor>,
    /// Per view: the tensor it views and the index range it takes along an axis (`None`:
    /// all of it, a view only so that the lanes tell its launches apart).
    pub views: Vec<(usize, Option<Part>)>,
    pub launches: Vec<LaunchSpec>,
}

impl Spec {
    /// Adds a tensor and returns its slot.
    pub fn tensor(&mut self, t: HostTensor) -> usize {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    /// Adds a view of tensor `slot` (`part`: an axis and the range along it) and returns its slot.
    pub fn view(&mut self, slot: usize, part: Option<Part>) -> Slot {
        self.views.push((slot, part));
        Slot::View(self.views.len() - 1)
    }

    /// A kernel's argument list as slots, its tensors added.
    pub fn args(&mut self, args: Vec<ArgValue>) -> Vec<Slot> {
        args.into_iter()
            .map(|a| match a {
                ArgValue::Tensor(t) => Slot::Tensor(self.tensor(t)),
                ArgValue::F32(v) => Slot::F32(v),
                ArgValue::I32(v) => Slot::I32(v),
                ArgValue::Bool(v) => Slot::Bool(v),
            })
            .collect()
    }
}

struct Step {
    stage: Stage,
    kernel: &'static str,
    loaded: Arc<LoadedKernel>,
    args: Vec<Slot>,
    /// Whether the launch's step tensors met the `aligned` contract.
    aligned: bool,
    lane: Lane,
}

pub struct Pipeline<'g> {
    gpu: &'g Gpu,
    tensors: Vec<DeviceTensor>,
    views: Vec<DeviceTensor>,
    steps: Vec<Step>,
}

impl<'g> Pipeline<'g> {
    /// Uploads every tensor, then compiles and loads every kernel (outputs arrive poisoned
    /// from the host, so a row no kernel writes shows). A walk the target cannot run is
    /// refused before any upload.
    pub fn new(gpu: &'g Gpu, cache: &KernelCache, spec: Spec) -> Result<Pipeline<'g>, BenchError> {
        check_walk_target(spec.launches.iter().map(|l| l.kernel), cache.arch())?;
        let tensors: Vec<DeviceTensor> = spec
            .tensors
            .iter()
            .map(|t| {
                DeviceTensor::upload(gpu, t)
                    .map_err(|e| BenchError::Device { step: "uploading inputs", source: Box::new(e) })
            })
            .collect::<Result<_, _>>()?;
        let views = spec
            .views
            .iter()
            .map(|(slot, part)| {
                let base = tensors.get(*slot).ok_or_else(|| BenchError::Inputs(format!("no tensor {slot} to view")))?;
                match part {
                    None => Ok(base.clone()),
                    Some((axis, range)) => base.narrow(*axis, range.clone()).ok_or_else(|| {
                        BenchError::Inputs(format!(
                            "tensor {slot} {:?} has no range {range:?} on axis {axis}",
                            base.shape()
                        ))
                    }),
                }
            })
            .collect::<Result<Vec<_>, BenchError>>()?;
        let steps = spec
            .launches
            .into_iter()
            .map(|l| {
                let aligned = l
                    .step_tensors
                    .iter()
                    .all(|s| tensor_at(&tensors, &views, *s).is_some_and(DeviceTensor::is_aligned));
                let loaded = load_launch(gpu, cache, (&l.source, l.kernel), &l.consts, aligned)
                    .map_err(|f| BenchError::Kernel { kernel: l.kernel, source: f.error })?;
                Ok(Step { stage: l.stage, kernel: l.kernel, loaded, args: l.args, aligned, lane: l.lane })
            })
            .collect::<Result<_, BenchError>>()?;
        Ok(Pipeline { gpu, tensors, views, steps })
    }

    /// Whether every launch of `stage` had its step tensors `aligned` (which picked its
    /// target consts, [`LaunchSpec::step_tensors`]).
    pub fn aligned(&self, stage: Stage) -> bool {
        self.steps.iter().filter(|s| s.stage == stage).all(|s| s.aligned)
    }

    /// The launches of `stage`, in order (stages are contiguous).
    pub fn stage(&self, stage: Stage) -> Range<usize> {
        let first = self.steps.iter().position(|s| s.stage == stage).unwrap_or(self.steps.len());
        let count = self.steps.iter().filter(|s| s.stage == stage).count();
        first..first + count
    }

    /// Where the first shipped launch of `kernel` is (not a `--candidate` one).
    pub fn position(&self, kernel: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.stage != Stage::Candidate && s.kernel == kernel)
    }

    pub fn kernel(&self, at: usize) -> &'static str {
        self.steps.get(at).map_or("?", |s| s.kernel)
    }

    /// Queues the launches at `range`, each on its lane, with the waits between the lanes
    /// that `sparsefill_runtime::lanes::schedule` gives; the range ends joined, so a
    /// stage's (or a launch's) timing events on the main stream cover all of it.
    pub fn launch(&self, range: Range<usize>) -> Result<(), BenchError> {
        let steps = &self.steps[range];
        let lanes: Vec<(Lane, Vec<usize>)> =
            steps.iter().map(|s| (s.lane, lane_keys(&s.args, self.tensors.len()))).collect();
        let launch = |at: usize, lane| {
            let step = &steps[at];
            let args = step
                .args
                .iter()
                .map(|a| match *a {
                    Slot::Tensor(i) => LaunchArg::Tensor(&self.tensors[i]),
                    Slot::View(i) => LaunchArg::Tensor(&self.views[i]),
                    Slot::F32(v) => LaunchArg::F32(v),
                    Slot::I32(v) => LaunchArg::I32(v),
                    Slot::Bool(v) => LaunchArg::Bool(v),
                })
                .collect::<Vec<_>>();
            self.gpu
                .launch_on(lane, &step.loaded, &args)
                .map_err(|e| BenchError::Kernel { kernel: step.kernel, source: Box::new(e) })
        };
        lanes::queue(self.gpu, &lanes, launch, |e| BenchError::Device {
            step: "ordering the streams",
            source: Box::new(e),
        })
    }

    /// Runs the launches at `range` and waits for them.
    pub fn run(&self, range: Range<usize>) -> Result<(), BenchError> {
        self.launch(range)?;
        self.gpu.synchronize().map_err(|e| BenchError::Device { step: "running the kernels", source: Box::new(e) })
    }

    /// Runs the launches at `range` over and over for `ms` milliseconds (at least once
    /// unless `ms` is 0), so that timings after it see the GPU at its sustained clocks.
    pub fn settle(&self, range: Range<usize>, ms: u64) -> Result<(), BenchError> {
        // Gpu::settle takes runtime errors only: keep the first of ours and stop queueing.
        let mut failed = None;
        self.gpu
            .settle(ms, || {
                if failed.is_none() {
                    failed = self.launch(range.clone()).err();
                }
                Ok(())
            })
            .map_err(|e| BenchError::Device { step: "settling", source: Box::new(e) })?;
        failed.map_or(Ok(()), Err)
    }

    /// Median and samples (ms) of `iters` runs of the launches at `range`, after
    /// `warmup` untimed runs.
    pub fn time(&self, range: Range<usize>, warmup: usize, iters: usize) -> Result<(f64, Vec<f64>), BenchError> {
        // Gpu::time_ms takes runtime errors only: keep the first of ours and stop queueing.
        let mut failed = None;
        let samples = self
            .gpu
            .time_ms(warmup, iters, || {
                if failed.is_none() {
                    failed = self.launch(range.clone()).err();
                }
                Ok(())
            })
            .map_err(|e| BenchError::Device { step: "timing", source: Box::new(e) })?;
        if let Some(e) = failed {
            return Err(e);
        }
        let ms = median(&samples).map_or(f64::NAN, f64::from);
        Ok((ms, samples.into_iter().map(f64::from).collect()))
    }

    /// Fills tensor `slot` with NaN, so that an element no launch writes shows.
    pub fn poison(&self, slot: usize) -> Result<(), BenchError> {
        self.tensors[slot].poison().map_err(|e| BenchError::Device { step: "poisoning outputs", source: Box::new(e) })
    }

    pub fn download(&self, slot: usize) -> Result<HostTensor, BenchError> {
        self.tensors[slot]
            .download()
            .map_err(|e| BenchError::Device { step: "downloading outputs", source: Box::new(e) })
    }
}

/// What `lanes` tells launches apart by: the tensors `args` take, views numbered after
/// the pipeline's `tensors` (a view is its own key, so chunks of one tensor are apart).
pub fn lane_keys(args: &[Slot], tensors: usize) -> Vec<usize> {
    let slots = args.iter().filter_map(|a| match *a {
        Slot::Tensor(i) => Some(i),
        Slot::View(i) => Some(tensors + i),
        _ => None,
    });
    slots.collect()
}

/// The device tensor a tensor or view slot names.
fn tensor_at<'t>(tensors: &'t [DeviceTensor], views: &'t [DeviceTensor], slot: Slot) -> Option<&'t DeviceTensor> {
    match slot {
        Slot::Tensor(i) => tensors.get(i),
        Slot::View(i) => views.get(i),
        _ => None,
    }
}
