//! The measurements: per length, synthetic inputs, then our dense kernel and each
//! pattern built as a staged [`Pipeline`], run once and checked (index valid, o and
//! lse finite, sampled rows against the masked f64 reference), then timed stage by
//! stage. Inputs of at least a few hundred MiB (the default shapes) do not fit in L2,
//! so repeated runs read them from memory; smaller ones are flagged as they run.

use super::pipeline::{LaunchSpec, Pipeline, Slot, Spec, Stage};
use super::results::{self, causal_tiles, Cover, LaunchTime, LengthRun, PatternRun, Timing, DENSE};
use super::spec::{Pattern, Workload, GQA_GROUP};
use super::work::Work;
use super::BenchError;
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::attention::{self, AttentionCase, AttentionShape};
use sparsefill_patterns::config::PatternKind;
use sparsefill_patterns::recall::dense_case;
use sparsefill_patterns::sparse::block_sparse::{self, BlockIndex};
use sparsefill_patterns::sparse::dispatch::vertical_slash_params;
use sparsefill_patterns::sparse::index::SparseIndex;
use sparsefill_patterns::sparse::local::{self, query_blocks, strided};
use sparsefill_patterns::sparse::vertical_slash::check as vs_check;
use sparsefill_patterns::sparse::vertical_slash::plan::{self, Arg, Buffer};
use sparsefill_patterns::sparse::vertical_slash::{overlap, pairs};
use sparsefill_patterns::sparse::AttentionInputs;
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic};
use sparsefill_runtime::{median, Gpu, KernelCache, Lane};
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

pub const HEAD_DIM: usize = 128;
/// Below this much q, k and v, inputs may stay in a large L2 between timed runs.
const L2_SAFE_BYTES: usize = 256 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Knobs {
    /// Every head a vertical-slash head (MInference's common case).
    VerticalSlash,
    /// Heads cycling through vertical-slash, A-shape, local and short-repeat heads.
    Mixed,
}

/// `--vs-walk`: [`plan::Walk`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VsWalk {
    /// One 64-row query block a program (the shipped kernel).
    Blocks,
    /// Two adjacent blocks a program, one warp group each, sharing the copies of their
    /// tiles' union (sm_90a; `vs_pair_union` joins the index build).
    Pairs,
}

impl VsWalk {
    pub fn walk(self) -> plan::Walk {
        match self {
            VsWalk::Blocks => plan::Walk::Blocks,
            VsWalk::Pairs => plan::Walk::Pairs,
        }
    }
}

impl Knobs {
    pub fn name(self) -> &'static str {
        match self {
            Knobs::VerticalSlash => "vertical_slash",
            Knobs::Mixed => "mixed",
        }
    }
}

pub struct Settings {
    /// How vertical-slash's attention walks its index (`--vs-walk`).
    pub walk: VsWalk,
    /// Chunks of heads vertical-slash runs in (`--vs-chunks`; `None`: the runners' rule,
    /// `overlap::default_chunks`).
    pub chunks: Option<usize>,
    pub warmup: usize,
    /// Milliseconds of untimed runs before a measurement's timings (`--settle-ms`).
    pub settle_ms: u64,
    pub iters: usize,
    pub check_rows: usize,
    pub knobs: Knobs,
    pub seed: u64,
    pub candidate: Option<Candidate>,
}

/// `--candidate KERNEL=FILE`: a kernel to time against the shipped attention kernel of the
/// same name, wherever a measurement launches that one.
pub struct Candidate {
    pub kernel: String,
    pub file: String,
    pub source: String,
}

/// Turns of the shipped kernel and the candidate, each a median of a few runs, so that the
/// card's drift over a run falls on both alike.
pub const CANDIDATE_TURNS: usize = 7;
pub const RUNS_PER_TURN: usize = 3;

/// Every workload, dense first then each pattern; a measurement that fails is
/// recorded with its error and the sweep goes on.
pub fn run(
    gpu: &Gpu,
    cache: &KernelCache,
    workloads: &[Workload],
    patterns: &[Pattern],
    settings: &Settings,
    out: &Path,
) -> Vec<LengthRun> {
    let weight = |w: &Workload| (w.len as f64).powi(2) * w.heads as f64;
    let total: f64 = workloads.iter().map(|w| weight(w) * (patterns.len() + 1) as f64).sum();
    let (started, mut done) = (Instant::now(), 0.0);
    let steps = workloads.len() * (patterns.len() + 1);
    let mut step = 0;
    let mut lengths = Vec::new();
    for w in workloads {
        let shape = AttentionShape {
            seqlens: vec![w.len],
            heads: w.heads,
            kv_heads: w.heads / GQA_GROUP,
            head_dim: HEAD_DIM,
            causal: true,
        };
        progress(&format!(
            "S={} H={} kv_heads={}: generating {} inputs ...",
            w.len,
            w.heads,
            shape.kv_heads,
            settings.knobs.name()
        ));
        let length = match generate(&shape, settings) {
            Ok(length) => length,
            Err(e) => {
                progress(&format!("S={} H={}: FAILED to generate inputs: {e}", w.len, w.heads));
                let runs = std::iter::once(DENSE.to_string())
                    .chain(patterns.iter().map(|p| p.spec.clone()))
                    .map(|pattern| PatternRun { pattern, result: Err(e.to_string()) })
                    .collect();
                lengths.push(LengthRun { len: w.len, heads: w.heads, kv_heads: shape.kv_heads, runs });
                step += patterns.len() + 1;
                done += weight(w) * (patterns.len() + 1) as f64;
                continue;
            }
        };
        let inputs = &length.inputs;
        let bytes = (inputs.q.data.len() + inputs.k.data.len() + inputs.v.data.len()) * 2;
        if bytes < L2_SAFE_BYTES {
            progress(&format!(
                "S={} H={}: note: q, k, v hold {} MiB, under {} MiB: part may stay in L2 between timed runs",
                w.len,
                w.heads,
                bytes >> 20,
                L2_SAFE_BYTES >> 20
            ));
        }
        let mut runs = Vec::new();
        let todo = std::iter::once((DENSE.to_string(), PatternKind::Dense))
            .chain(patterns.iter().map(|p| (p.spec.clone(), p.kind)));
        for (i, (pattern, kind)) in todo.enumerate() {
            step += 1;
            let began = Instant::now();
            let result = measure(gpu, cache, kind, &length, settings, &out.join(cover_file(w.len, i, &kind)))
                .map_err(|e| e.to_string());
            done += weight(w);
            let elapsed = started.elapsed().as_secs_f64();
            let left = elapsed * (total - done) / done.max(1.0);
            let dense_total = runs.first().and_then(|r: &PatternRun| r.result.as_ref().ok()).map(Timing::total_ms);
            progress(&format!(
                "[{step}/{steps}] S={} H={} {pattern}: {} ({:.1} s; elapsed {elapsed:.0} s, about {left:.0} s left)",
                w.len,
                w.heads,
                summary(&result, dense_total),
                began.elapsed().as_secs_f64()
            ));
            runs.push(PatternRun { pattern, result });
        }
        lengths.push(LengthRun { len: w.len, heads: w.heads, kv_heads: shape.kv_heads, runs });
    }
    lengths
}

/// A progress line on stdout. bench.json records every result, so a line that cannot be
/// written (a full disk under a redirect) is dropped rather than ending the sweep.
fn progress(text: &str) {
    let _ = crate::cli::stdout::line(text);
}

/// The cover's file name: the length, the pattern's position and its name.
fn cover_file(len: usize, position: usize, kind: &PatternKind) -> String {
    format!("cover-{len}-{position}-{}.bin", kind.name())
}

fn summary(result: &Result<Timing, String>, dense_total: Option<f64>) -> String {
    let t = match result {
        Ok(t) => t,
        Err(e) => return format!("FAILED: {e}"),
    };
    let stage = |s: &Option<results::Stage>| s.as_ref().map_or("-".to_string(), |s| format!("{:.3}", s.ms));
    format!(
        "density {:.4} | est {} ms | index {} ms | attn {:.3} ms | total {:.3} ms | {:.0} TFLOP/s on computed tiles | {} vs our dense | check {}",
        t.density(),
        stage(&t.estimation),
        stage(&t.index),
        t.attention.ms,
        t.total_ms(),
        t.attention_tflops(HEAD_DIM),
        dense_total.map_or("-".into(), |d| format!("{:.2}x", d / t.total_ms())),
        match &t.check {
            Ok(rows) => format!("ok ({rows} rows)"),
            Err(e) => format!("FAILED: {e}"),
        }
    )
}

fn generate(shape: &AttentionShape, settings: &Settings) -> Result<Length, BenchError> {
    let len = shape.seqlens[0];
    let knobs = match settings.knobs {
        Knobs::VerticalSlash => vec![HeadKnobs::VERTICAL_SLASH; shape.heads],
        Knobs::Mixed => HeadKnobs::mixed(shape.heads),
    };
    let knobs = knobs.into_iter().map(|k| k.for_length(len)).collect();
    let synthetic = Synthetic::new(shape, knobs, settings.seed).map_err(|e| BenchError::Inputs(e.to_string()))?;
    let inputs = synthetic.inputs();
    let case = dense_case(&inputs).map_err(|e| BenchError::Inputs(e.to_string()))?;
    Ok(Length { inputs, case })
}

/// The index a pattern's estimation leaves on the device, by slot.
#[derive(Clone, Copy)]
enum IndexSlots {
    None,
    VerticalSlash([usize; 4]),
    BlockSparse([usize; 2]),
}

impl IndexSlots {
    /// `f` on every slot of the index.
    fn each(self, mut f: impl FnMut(usize) -> Result<(), BenchError>) -> Result<(), BenchError> {
        let slots: &[usize] = match &self {
            IndexSlots::None => &[],
            IndexSlots::VerticalSlash(s) => s,
            IndexSlots::BlockSparse(s) => s,
        };
        slots.iter().try_for_each(|&slot| f(slot))
    }
}

/// Downloaded after the estimation, validated before the attention reads it.
enum Index {
    None,
    VerticalSlash(SparseIndex),
    BlockSparse(BlockIndex),
}

impl Index {
    /// The index at `slots`, validated for `shape` (a bad one would make the attention read
    /// out of bounds): the error says why.
    fn download(
        pipe: &Pipeline,
        slots: IndexSlots,
        shape: &AttentionShape,
    ) -> Result<Result<Index, String>, BenchError> {
        Ok(match slots {
            IndexSlots::None => Ok(Index::None),
            IndexSlots::VerticalSlash([bc, bo, cc, ci]) => {
                let index = SparseIndex {
                    block_count: pipe.download(bc)?,
                    block_offset: pipe.download(bo)?,
                    column_count: pipe.download(cc)?,
                    column_index: pipe.download(ci)?,
                };
                index
                    .validate(&shape.seqlens, shape.heads)
                    .map(|()| Index::VerticalSlash(index))
                    .map_err(|e| e.to_string())
            }
            IndexSlots::BlockSparse([count, entries]) => {
                let index = BlockIndex { count: pipe.download(count)?, index: pipe.download(entries)? };
                index.validate(shape).map(|()| Index::BlockSparse(index)).map_err(|e| e.to_string())
            }
        })
    }

    /// Whether `self` lists what `expected` lists, block by block (entries past a count
    /// are not compared: vertical-slash leaves them unspecified).
    fn same_lists(&self, expected: &Index, shape: &AttentionShape) -> Result<(), String> {
        match (self, expected) {
            (Index::None, Index::None) => Ok(()),
            (Index::VerticalSlash(got), Index::VerticalSlash(want)) => {
                vs_check::same_lists(got, want, &shape.seqlens, shape.heads)
            }
            (Index::BlockSparse(got), Index::BlockSparse(want)) => got.same_lists(want, shape),
            _ => Err("the index is of another pattern".into()),
        }
    }
}

/// The pipeline of `kind` with the slots of o, lse and the index.
fn build(
    kind: PatternKind,
    inputs: &AttentionInputs,
    case: &AttentionCase,
    shape: &AttentionShape,
    (arch, walk, chunks): (Arch, plan::Walk, Option<usize>),
) -> Result<(Spec, [usize; 2], IndexSlots), BenchError> {
    let mut spec = Spec::default();
    let d = shape.head_dim;
    let attention_args = |spec: &mut Spec, own: Vec<ArgValue>| spec.args(query_blocks::kernel_args(inputs, shape, own));
    let tensor_of = |slots: &[Slot], at: usize| match slots.get(at) {
        Some(&Slot::Tensor(i)) => Ok(i),
        _ => Err(BenchError::Inputs(format!("argument {at} of the attention kernel is not a tensor"))),
    };
    let launch = |stage, source: &'static str, kernel, consts, args| LaunchSpec {
        stage,
        source: source.into(),
        kernel,
        consts,
        args,
        step_tensors: vec![],
        lane: Lane::Main,
    };
    let int = |v: u32| ArgValue::I32(v as i32);
    let outputs =
        |args: &[Slot]| Ok::<_, BenchError>([tensor_of(args, attention::O)?, tensor_of(args, attention::LSE)?]);
    // q, k, v and o of a kernel with a key step (sparse::key_step).
    let step_tensors = |args: &[Slot]| -> Result<Vec<Slot>, BenchError> {
        [attention::Q, attention::K, attention::V, attention::O]
            .into_iter()
            .map(|at| tensor_of(args, at).map(Slot::Tensor))
            .collect()
    };
    Ok(match kind {
        PatternKind::Dense => {
            let args = spec.args(case.args.clone());
            // The dense kernel's fastest tiles at D = 128 (docs/perf): 128 query rows, and the
            // key tile the model's pre-fill uses on this target (the inputs are contiguous
            // uploads, so they meet the aligned contract).
            let mut consts = case.consts.clone();
            consts.retain(|(name, _)| name != "BM" && name != "BN");
            consts.push(("BM".into(), ConstValue::Int(128)));
            consts.push(("BN".into(), ConstValue::Int(attention::block_n(arch, true) as i64)));
            let out = outputs(&args)?;
            spec.launches.push(launch(Stage::Attention, attention::SOURCE, "attention", consts, args));
            (spec, out, IndexSlots::None)
        }
        PatternKind::AShape { .. } | PatternKind::TriShape { .. } => {
            let p = local::LocalParams::from_pattern(&kind).ok_or(BenchError::Inputs("not a local pattern".into()))?;
            let args = attention_args(&mut spec, vec![int(p.n_init), int(p.n_local), int(p.n_last)]);
            let out = outputs(&args)?;
            let step_tensors = step_tensors(&args)?;
            spec.launches.push(LaunchSpec {
                step_tensors,
                ..launch(Stage::Attention, local::SOURCE, local::KERNEL, query_blocks::consts(d), args)
            });
            (spec, out, IndexSlots::None)
        }
        PatternKind::Strided { stride, n_local } => {
            let args = attention_args(&mut spec, vec![int(stride), int(n_local)]);
            let out = outputs(&args)?;
            spec.launches.push(launch(
                Stage::Attention,
                strided::SOURCE,
                strided::KERNEL,
                query_blocks::consts(d),
                args,
            ));
            (spec, out, IndexSlots::None)
        }
        PatternKind::BlockSparse { top_k } => {
            let (h, hkv, nb, k) = (shape.heads, shape.kv_heads, query_blocks::max_blocks(shape), top_k as usize);
            // Poisoned: the estimator writes every count and entry, the pool every mean.
            let count = spec.tensor(HostTensor::filled(DType::I32, &[1, h, nb], -7.0));
            let index = spec.tensor(HostTensor::filled(DType::I32, &[1, h, nb, k], -7.0));
            let pooled_q = spec.tensor(HostTensor::filled(DType::F32, &[1, h, nb, d], f64::NAN));
            let pooled_k = spec.tensor(HostTensor::filled(DType::F32, &[1, hkv, nb, d], f64::NAN));
            let mut args = attention_args(&mut spec, Vec::new());
            args.extend([Slot::Tensor(count), Slot::Tensor(index)]);
            let (q, k_in, cu) = (
                tensor_of(&args, attention::Q)?,
                tensor_of(&args, attention::K)?,
                tensor_of(&args, attention::CU_SEQLENS)?,
            );
            let pool = |x, pooled| {
                let args = vec![Slot::Tensor(x), Slot::Tensor(cu), Slot::Tensor(pooled)];
                launch(
                    Stage::Estimation,
                    block_sparse::ESTIMATOR_SOURCE,
                    block_sparse::POOL_KERNEL,
                    block_sparse::pool_consts(d),
                    args,
                )
            };
            spec.launches.push(pool(q, pooled_q));
            spec.launches.push(pool(k_in, pooled_k));
            let select = [pooled_q, pooled_k, cu, count, index].map(Slot::Tensor).to_vec();
            let consts = block_sparse::select_consts(d, k, block_sparse::CHUNK);
            spec.launches.push(launch(
                Stage::Index,
                block_sparse::ESTIMATOR_SOURCE,
                block_sparse::SELECT_KERNEL,
                consts,
                select,
            ));
            let out = outputs(&args)?;
            let step_tensors = step_tensors(&args)?;
            spec.launches.push(LaunchSpec {
                step_tensors,
                ..launch(Stage::Attention, block_sparse::SOURCE, block_sparse::KERNEL, query_blocks::consts(d), args)
            });
            (spec, out, IndexSlots::BlockSparse([count, index]))
        }
        PatternKind::VerticalSlash { vertical, slash } => {
            let params = vertical_slash_params(vertical, slash);
            let plan = plan::plan_walking(inputs, &params, plan::TopkChunks::Auto, walk)
                .map_err(|e| BenchError::Inputs(e.to_string()))?;
            let mut buffers: Vec<(Buffer, usize)> = Vec::new();
            for (buffer, tensor) in plan.buffers {
                buffers.push((buffer, spec.tensor(tensor)));
            }
            let slot = |b: Buffer| {
                buffers
                    .iter()
                    .find(|(x, _)| *x == b)
                    .map(|&(_, s)| s)
                    .ok_or(BenchError::Inputs(format!("the plan has no buffer {b:?}")))
            };
            let attend_kernel = plan.attend.kernel;
            let chunks = chunks.unwrap_or_else(|| overlap::default_chunks(shape));
            let overlapped = match chunks {
                1 => Vec::new(),
                _ => {
                    overlap::check_chunks(chunks, shape.heads, shape.kv_heads)
                        .map_err(|e| BenchError::Inputs(format!("--vs-chunks {chunks}: {e}")))?;
                    overlap::overlapped(&plan.estimate, &plan.attend, chunks)
                }
            };
            for (l, is_attention) in plan.estimate.into_iter().map(|l| (l, false)).chain([(plan.attend, true)]) {
                // The conversion turns the chosen columns and diagonals into the block index.
                let stage = match is_attention {
                    true => Stage::Attention,
                    false if plan::CONVERSION_KERNELS.contains(&l.kernel) || l.kernel == pairs::PAIR_KERNEL => {
                        Stage::Index
                    }
                    false => Stage::Estimation,
                };
                spec.launches.push(plan_launch(l, stage, is_attention, |b| slot(b).map(Slot::Tensor))?);
            }
            // Each chunk's launches take views of its part of each tensor (cu_seqlens whole,
            // a view of its own so that the lanes order chunks by their own tensors): one
            // view a buffer and chunk, which the lanes know the chunk's launches by.
            let mut views: Vec<((Buffer, overlap::HeadChunk), Slot)> = Vec::new();
            for l in overlapped {
                let (heads, is_attention) = (l.heads, l.kernel == attend_kernel);
                let view_of = |b: Buffer| -> Result<Slot, BenchError> {
                    if let Some(&(_, v)) = views.iter().find(|(key, _)| *key == (b, heads)) {
                        return Ok(v);
                    }
                    let at = slot(b)?;
                    let part = overlap::head_range(b, &spec.tensors[at].shape, heads);
                    let v = spec.view(at, part);
                    views.push(((b, heads), v));
                    Ok(v)
                };
                let launch = plan_launch(l, Stage::Overlapped, is_attention, view_of)?;
                spec.launches.push(launch);
            }
            let index = [
                slot(Buffer::BlockCount)?,
                slot(Buffer::BlockOffset)?,
                slot(Buffer::ColumnCount)?,
                slot(Buffer::ColumnIndex)?,
            ];
            let out = [slot(Buffer::O)?, slot(Buffer::Lse)?];
            (spec, out, IndexSlots::VerticalSlash(index))
        }
    })
}

/// A vertical-slash plan launch as the bench's, of `stage`, each buffer through `slot_of`;
/// the attention's also names its step tensors.
fn plan_launch(
    l: plan::Launch,
    stage: Stage,
    is_attention: bool,
    mut slot_of: impl FnMut(Buffer) -> Result<Slot, BenchError>,
) -> Result<LaunchSpec, BenchError> {
    let args = l
        .args
        .iter()
        .map(|a| match *a {
            Arg::Buffer(b) => slot_of(b),
            Arg::F32(v) => Ok(Slot::F32(v)),
            Arg::I32(v) => Ok(Slot::I32(v)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let step_tensors = match is_attention {
        true => plan::STEP_TENSORS.into_iter().map(&mut slot_of).collect::<Result<_, _>>()?,
        false => vec![],
    };
    Ok(LaunchSpec {
        stage,
        source: l.source.into(),
        kernel: l.kernel,
        consts: l.consts,
        args,
        step_tensors,
        lane: l.lane,
    })
}

/// The inputs of one length: the pattern's, and the dense case (the reference and
/// the dense kernel's arguments) built from them.
struct Length {
    inputs: AttentionInputs,
    case: AttentionCase,
}

fn measure(
    gpu: &Gpu,
    cache: &KernelCache,
    kind: PatternKind,
    length: &Length,
    settings: &Settings,
    cover_path: &Path,
) -> Result<Timing, BenchError> {
    let (inputs, case, shape) = (&length.inputs, &length.case, &length.case.shape);
    let (mut spec, outputs, slots) =
        build(kind, inputs, case, shape, (gpu.arch(), settings.walk.walk(), settings.chunks))?;
    let [o, lse] = outputs;
    if let Some(c) = &settings.candidate {
        let shipped = spec.launches.iter().find(|l| l.kernel == c.kernel).cloned();
        if let Some(shipped) = shipped {
            spec.launches.push(LaunchSpec { stage: Stage::Candidate, source: c.source.clone().into(), ..shipped });
        }
    }
    let pipe = Pipeline::new(gpu, cache, spec)?;
    let attention = pipe.stage(Stage::Attention);
    // One checked run: the estimation, its index validated (a bad one would make the
    // attention read out of bounds), then the attention.
    pipe.run(0..attention.start)?;
    let len = shape.seqlens[0];
    let index = Index::download(&pipe, slots, shape)?
        .map_err(|why| BenchError::Inputs(format!("the estimated index is invalid: {why}")))?;
    pipe.run(attention.clone())?;
    let (o, lse) = (pipe.download(o)?, pipe.download(lse)?);
    let work = match (&index, kind) {
        (Index::VerticalSlash(i), _) => Work::VerticalSlash(
            i,
            plan::column_step(shape.head_dim, cache.arch(), cache.codegen().mma, pipe.aligned(Stage::Attention)),
        ),
        (Index::BlockSparse(i), _) => Work::BlockSparse(i),
        (Index::None, PatternKind::Strided { stride, n_local }) => {
            Work::Strided(strided::StridedParams { stride, n_local })
        }
        (Index::None, PatternKind::Dense) => Work::Dense,
        (Index::None, PatternKind::AShape { n_init, n_local }) => {
            Work::Local(local::LocalParams::a_shape(n_init, n_local))
        }
        (Index::None, PatternKind::TriShape { n_init, n_local, n_last }) => {
            Work::Local(local::LocalParams::tri_shape(n_init, n_local, n_last))
        }
        // Named one by one, so that a new pattern is a compile error here, not a wrong check at run time.
        (Index::None, PatternKind::VerticalSlash { .. } | PatternKind::BlockSparse { .. }) => {
            return Err(BenchError::Inputs(format!("pattern `{}` ran without its index", kind.name())))
        }
    };
    let check = check_rows(case, &work, &o, &lse, settings.check_rows, settings.seed);
    // The overlapped launches must leave exactly these: their bits' digests, rather than
    // host copies (2 GiB of o at 512K, 4 heads) held through the timings.
    let one_piece = (!pipe.stage(Stage::Overlapped).is_empty()).then(|| (bits_digest(&o), bits_digest(&lse)));
    drop((o, lse));
    pipe.settle(0..attention.end, settings.settle_ms)?;

    let time = |stage: Stage| -> Result<Option<results::Stage>, BenchError> {
        let range = pipe.stage(stage);
        if range.is_empty() {
            return Ok(None);
        }
        let (ms, samples) = pipe.time(range, settings.warmup, settings.iters)?;
        Ok(Some(results::Stage { ms, samples }))
    };
    let estimation = time(Stage::Estimation)?;
    let index_stage = time(Stage::Index)?;
    let attention_stage =
        time(Stage::Attention)?.ok_or(BenchError::Inputs("the pattern has no attention launch".into()))?;
    // The total: every stage's launches back to back, timed as one range, as the issue's
    // benchmark words it (estimation + index build + attention together); in chunks of
    // heads where the measurement runs in them (checked below, with the launches in one
    // piece timed in turns against them).
    let chunked = pipe.stage(Stage::Overlapped);
    let together = match (attention.start, chunked.is_empty()) {
        (0, true) => None,
        (_, true) => Some(pipe.time(0..attention.end, settings.warmup, settings.iters)?),
        (_, false) => Some(pipe.time(chunked.clone(), settings.warmup, settings.iters)?),
    };
    let together = together.map(|(ms, samples)| results::Stage { ms, samples });
    let mut launches = Vec::new();
    for at in 0..attention.start {
        launches.push(LaunchTime {
            kernel: pipe.kernel(at).to_string(),
            ms: pipe.time(at..at + 1, settings.warmup, settings.iters)?.0,
        });
    }
    let candidate = match &settings.candidate {
        Some(c) if !pipe.stage(Stage::Candidate).is_empty() => {
            let checked = |o_host: &HostTensor, lse_host: &HostTensor| {
                check_rows(case, &work, o_host, lse_host, settings.check_rows, settings.seed)
            };
            let shipped = Shipped { outputs, slots, index: &index, shape };
            Some(time_candidate(&pipe, c, shipped, checked, settings.warmup)?)
        }
        _ => None,
    };
    // build() ran the launches in these chunks where it listed any.
    let chunks = match chunked.is_empty() {
        true => 1,
        false => settings.chunks.unwrap_or_else(|| overlap::default_chunks(shape)),
    };
    let overlap = match one_piece {
        Some(expected) => {
            let shipped = Shipped { outputs, slots, index: &index, shape };
            Some(time_overlapped(&pipe, chunks, shipped, expected, settings.warmup)?)
        }
        None => None,
    };
    let tally = work.tally(len, shape.heads);
    let cover = match kind {
        PatternKind::Dense => None,
        _ => {
            std::fs::write(cover_path, &tally.cover.bits)
                .map_err(|source| BenchError::Write { path: cover_path.to_path_buf(), source })?;
            let file = cover_path.file_name().map_or(String::new(), |f| f.to_string_lossy().into_owned());
            Some(Cover { file, blocks_set: tally.cover.set, causal_blocks: tally.cover.causal })
        }
    };
    Ok(Timing {
        estimation,
        index: index_stage,
        attention: attention_stage,
        together,
        chunks,
        launches,
        computed_tiles: tally.computed_tiles,
        causal_tiles: causal_tiles(len, shape.heads),
        check,
        cover,
        candidate,
        overlap,
    })
}

/// What the shipped launches left for a candidate to be checked against.
struct Shipped<'a> {
    outputs: [usize; 2],
    slots: IndexSlots,
    index: &'a Index,
    shape: &'a AttentionShape,
}

/// The candidate checked, then timed in turns with the launch it replaces. An attention
/// candidate runs into poisoned o and lse, checked like the shipped kernel. An estimation
/// candidate runs in its launch's place, into a poisoned index, which must list what the
/// shipped launches listed; the attention then runs on it, checked the same way.
fn time_candidate(
    pipe: &Pipeline,
    candidate: &Candidate,
    shipped: Shipped,
    check: impl Fn(&HostTensor, &HostTensor) -> Result<usize, String>,
    warmup: usize,
) -> Result<results::CandidateRun, BenchError> {
    let (attention, mine) = (pipe.stage(Stage::Attention), pipe.stage(Stage::Candidate));
    let at = pipe
        .position(&candidate.kernel)
        .ok_or_else(|| BenchError::Inputs(format!("no shipped launch of `{}` to replace", candidate.kernel)))?;
    let [o, lse] = shipped.outputs;
    // The attention launch at `range` into poisoned o and lse, checked.
    let attend_checked = |range: Range<usize>| -> Result<Result<usize, String>, BenchError> {
        pipe.poison(o)?;
        pipe.poison(lse)?;
        pipe.run(range)?;
        Ok(check(&pipe.download(o)?, &pipe.download(lse)?))
    };
    let check = if at >= attention.start {
        attend_checked(mine.clone())?
    } else {
        shipped.slots.each(|slot| pipe.poison(slot))?;
        pipe.launch(0..at)?;
        pipe.launch(mine.clone())?;
        pipe.run(at + 1..attention.start)?;
        match Index::download(pipe, shipped.slots, shipped.shape)?
            .and_then(|got| got.same_lists(shipped.index, shipped.shape))
        {
            Ok(()) => attend_checked(attention.clone())?,
            Err(why) => Err(format!("the candidate's index: {why}")),
        }
    };
    let (shipped_ms, candidate_ms) = in_turns(pipe, at..at + 1, mine, warmup)?;
    Ok(results::CandidateRun { file: candidate.file.clone(), shipped_ms, candidate_ms, check })
}

/// The launches in `chunks` chunks of heads, overlapped ([`overlap`]), checked and then
/// timed in turns with the launches in one piece (estimation, index and attention as one
/// range). They must leave the index the launches in one piece listed, and o and lse
/// equal to `expected` bit for bit: each head's work is the same, only its order changes.
fn time_overlapped(
    pipe: &Pipeline,
    chunks: usize,
    shipped: Shipped,
    expected: (u64, u64),
    warmup: usize,
) -> Result<results::CandidateRun, BenchError> {
    let (attention, mine) = (pipe.stage(Stage::Attention), pipe.stage(Stage::Overlapped));
    let [o, lse] = shipped.outputs;
    pipe.poison(o)?;
    pipe.poison(lse)?;
    shipped.slots.each(|slot| pipe.poison(slot))?;
    pipe.run(mine.clone())?;
    let check = match Index::download(pipe, shipped.slots, shipped.shape)?
        .and_then(|got| got.same_lists(shipped.index, shipped.shape))
    {
        Err(why) => Err(format!("the overlapped index: {why}")),
        Ok(()) => {
            let (o_got, lse_got) = (pipe.download(o)?, pipe.download(lse)?);
            match (bits_digest(&o_got) == expected.0, bits_digest(&lse_got) == expected.1) {
                (true, true) => Ok(o_got.shape.first().copied().unwrap_or(0)),
                (false, _) => Err("o differs from the launches in one piece".to_string()),
                (true, false) => Err("lse differs from the launches in one piece".to_string()),
            }
        }
    };
    let (shipped_ms, candidate_ms) = in_turns(pipe, 0..attention.end, mine, warmup)?;
    let file = format!("{chunks} chunks of heads, overlapped");
    Ok(results::CandidateRun { file, shipped_ms, candidate_ms, check })
}

/// The launches at `shipped` and at `candidate` timed in turns ([`CANDIDATE_TURNS`] of
/// [`RUNS_PER_TURN`] runs each), so that the card's drift falls on both alike: the median
/// of each side's turns, in ms.
fn in_turns(
    pipe: &Pipeline,
    shipped: Range<usize>,
    candidate: Range<usize>,
    warmup: usize,
) -> Result<(f64, f64), BenchError> {
    let mut turns = (Vec::new(), Vec::new());
    for _ in 0..CANDIDATE_TURNS {
        turns.0.push(pipe.time(shipped.clone(), warmup, RUNS_PER_TURN)?.0 as f32);
        turns.1.push(pipe.time(candidate.clone(), warmup, RUNS_PER_TURN)?.0 as f32);
    }
    let median_of = |v: Vec<f32>| median(&v).map_or(f64::NAN, f64::from);
    Ok((median_of(turns.0), median_of(turns.1)))
}

/// A digest of a tensor's shape and every element's bits: two tensors with equal digests
/// are, short of a 64-bit hash collision, equal bit for bit (NaN payloads included).
fn bits_digest(t: &HostTensor) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    t.shape.hash(&mut hasher);
    for x in &t.data {
        x.to_bits().hash(&mut hasher);
    }
    hasher.finish()
}

/// o and lse finite in every row, then `count` rows (the first, the last and random
/// ones, every head) against the f64 reference under the pattern's mask, one thread
/// a row. Returns how many rows matched.
fn check_rows(
    case: &AttentionCase,
    work: &Work,
    o: &HostTensor,
    lse: &HostTensor,
    count: usize,
    seed: u64,
) -> Result<usize, String> {
    if let Some(at) = o.data.iter().chain(&lse.data).position(|x| !x.is_finite()) {
        return Err(format!("o/lse element {at} is not finite: a row was not written"));
    }
    let shape = &case.shape;
    let len = shape.seqlens[0];
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ len as u64);
    let middle: Vec<usize> = (1..len.saturating_sub(1)).collect();
    let mut rows = vec![0, len - 1];
    rows.extend(middle.choose_multiple(&mut rng, count.saturating_sub(2)));
    rows.truncate(count);
    rows.sort_unstable();
    rows.dedup();
    let check_row = |row: usize| -> Result<(), String> {
        let masks: Vec<Vec<bool>> = (0..shape.heads).map(|h| work.row_mask(len, h, row)).collect();
        let expected = case.reference_masked(&[row], |at| masks[at.head][at.key]).map_err(|e| e.to_string())?;
        let got = attention::gather(shape, o, lse, &[row]).map_err(|e| e.to_string())?;
        attention::check_outputs(&got, &expected).map_err(|e| format!("row {row}: {e}"))
    };
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = rows.iter().map(|&row| scope.spawn(move || check_row(row))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a check thread panicked".into()))).collect()
    });
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The launches `build` stages for `kind` on a small synthetic case.
    fn staged(kind: PatternKind) -> Vec<(Stage, &'static str)> {
        staged_walking(kind, plan::Walk::Blocks)
    }

    /// [`staged`] with vertical-slash's attention walking the index as `walk` says.
    fn staged_walking(kind: PatternKind, walk: plan::Walk) -> Vec<(Stage, &'static str)> {
        let shape = AttentionShape { seqlens: vec![256], heads: 4, kv_heads: 1, head_dim: 64, causal: true };
        let knobs = vec![HeadKnobs::VERTICAL_SLASH.for_length(256); 4];
        let inputs = Synthetic::new(&shape, knobs, 1).expect("valid knobs").inputs();
        let case = dense_case(&inputs).expect("valid inputs");
        let (spec, _, _) =
            build(kind, &inputs, &case, &shape, (Arch::Sm90a, walk, Some(1))).expect("the launches build");
        spec.launches.iter().map(|l| (l.stage, l.kernel)).collect()
    }

    /// Pipeline::stage takes each stage's launches as one run: estimation, index, attention.
    fn check_stage_order(launches: &[(Stage, &str)]) {
        let mut order: Vec<Stage> = launches.iter().map(|&(s, _)| s).collect();
        order.dedup();
        assert_eq!(order, [Stage::Estimation, Stage::Index, Stage::Attention]);
    }

    /// The pair union joins the index build, and the pairs' kernel is the attention.
    #[test]
    fn vertical_slash_in_pairs_times_the_pair_union_as_part_of_the_index_build() {
        let launches = staged_walking(PatternKind::VerticalSlash { vertical: 30, slash: 40 }, plan::Walk::Pairs);
        check_stage_order(&launches);
        let index: Vec<&str> = launches.iter().filter(|(s, _)| *s == Stage::Index).map(|&(_, k)| k).collect();
        let attention: Vec<&str> = launches.iter().filter(|(s, _)| *s == Stage::Attention).map(|&(_, k)| k).collect();
        let expected: Vec<&str> = plan::CONVERSION_KERNELS.into_iter().chain([pairs::PAIR_KERNEL]).collect();
        assert_eq!((index, attention), (expected, vec![plan::PAIRS_KERNEL]));
    }

    #[test]
    fn vertical_slash_times_its_conversion_as_the_index_build() {
        let launches = staged(PatternKind::VerticalSlash { vertical: 30, slash: 40 });
        check_stage_order(&launches);
        let index: Vec<&str> = launches.iter().filter(|(s, _)| *s == Stage::Index).map(|&(_, k)| k).collect();
        assert_eq!(index, plan::CONVERSION_KERNELS);
    }

    /// A candidate stands in for the first launch of its kernel in a measurement: every
    /// kernel `--candidate` names is launched by some pattern, and only top-k twice (the
    /// vertical and the slash selection).
    #[test]
    fn every_candidate_kernel_is_launched_by_some_pattern_and_only_topk_twice() {
        let kinds = [
            PatternKind::Dense,
            PatternKind::AShape { n_init: 4, n_local: 64 },
            PatternKind::Strided { stride: 2, n_local: 64 },
            PatternKind::VerticalSlash { vertical: 30, slash: 40 },
            PatternKind::BlockSparse { top_k: 3 },
        ];
        let mut measurements: Vec<Vec<(Stage, &str)>> = kinds.into_iter().map(staged).collect();
        measurements.push(staged_walking(PatternKind::VerticalSlash { vertical: 30, slash: 40 }, plan::Walk::Pairs));
        for (kernel, _) in super::super::spec::CANDIDATE_KERNELS {
            let counts: Vec<usize> =
                measurements.iter().map(|m| m.iter().filter(|(_, k)| *k == kernel).count()).collect();
            let most = if kernel.starts_with("topk_") { 2 } else { 1 };
            assert!(counts.iter().all(|&c| c <= most) && counts.contains(&most), "{kernel}: {counts:?}");
        }
    }

    /// `--vs-chunks 2`: the chunked launches take one view a buffer and chunk, so the lanes
    /// put chunk 1's estimation on the side stream right after chunk 0's attention, and
    /// join it before chunk 1's attention.
    #[test]
    fn vertical_slash_in_two_chunks_joins_each_chunks_estimation_before_its_attention() {
        use sparsefill_runtime::lanes::{schedule, Step};
        let shape = AttentionShape { seqlens: vec![256], heads: 4, kv_heads: 1, head_dim: 64, causal: true };
        let knobs = vec![HeadKnobs::VERTICAL_SLASH.for_length(256); 4];
        let inputs = Synthetic::new(&shape, knobs, 1).expect("valid knobs").inputs();
        let case = dense_case(&inputs).expect("valid inputs");
        let kind = PatternKind::VerticalSlash { vertical: 30, slash: 40 };
        let (spec, _, _) =
            build(kind, &inputs, &case, &shape, (Arch::Sm90a, plan::Walk::Blocks, Some(2))).expect("built");
        let chunked: Vec<&LaunchSpec> = spec.launches.iter().filter(|l| l.stage == Stage::Overlapped).collect();
        let keys: Vec<(Lane, Vec<usize>)> =
            chunked.iter().map(|l| (l.lane, super::super::pipeline::lane_keys(&l.args, spec.tensors.len()))).collect();
        let steps: Vec<String> = schedule(&keys)
            .into_iter()
            .map(|s| match s {
                Step::Fork => "fork".into(),
                Step::Join => "join".into(),
                Step::Launch { at, lane } => {
                    format!("{}{}", if lane == Lane::Side { "side:" } else { "" }, chunked[at].kernel)
                }
            })
            .collect();
        let attends: Vec<usize> =
            steps.iter().enumerate().filter(|(_, s)| *s == plan::ATTEND_KERNEL).map(|(i, _)| i).collect();
        assert_eq!(attends.len(), 2, "{steps:?}");
        assert_eq!(steps[attends[1] - 1], "join", "{steps:?}");
        let between = &steps[attends[0] + 1..attends[1] - 1];
        assert!(!between.is_empty() && between.iter().all(|s| s.starts_with("side:")), "{between:?}");
    }

    /// The chunked launches' check compares digests: a tensor's digest changes with one
    /// element's sign bit (0 against -0, equal as numbers), and with its shape.
    #[test]
    fn bits_digests_tell_apart_one_bit_and_a_reshape() {
        let t = HostTensor::from_f64(DType::F32, &[2, 3], vec![1.0, 2.0, 0.0, 4.0, 5.0, f64::NAN]);
        let mut bit = t.clone();
        bit.data[2] = -0.0;
        let reshaped = HostTensor { shape: vec![3, 2], ..t.clone() };
        let digest = bits_digest(&t);
        assert!(digest == bits_digest(&t.clone()) && digest != bits_digest(&bit) && digest != bits_digest(&reshaped));
    }

    #[test]
    fn block_sparse_times_its_selection_as_the_index_build() {
        let launches = staged(PatternKind::BlockSparse { top_k: 3 });
        check_stage_order(&launches);
        let index: Vec<&str> = launches.iter().filter(|(s, _)| *s == Stage::Index).map(|&(_, k)| k).collect();
        assert_eq!(index, [block_sparse::SELECT_KERNEL]);
    }
}
