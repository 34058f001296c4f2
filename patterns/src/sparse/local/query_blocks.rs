//! What every sparse kernel with one program per (query block, head, sequence) shares
//! on the host: checking [`AttentionInputs`], the kernel's leading arguments (the dense
//! kernel's: q, k, v, cu_seqlens, o, lse, scale, max_seqlen; a pattern's own follow),
//! the source prefix of shared fns ([`PRELUDE`]), a run on the interpreter or a GPU
//! ([`Backend`]), the check of a pattern's output against dense attention with the same
//! mask, and the ptxas check of its kernels.

use super::super::{key_step, AttentionInputs, SparseOutput};
// The leading arguments sit where the dense kernel has them.
use crate::attention::{self, AttentionCase, AttentionShape, KeyMask, ShapeError, LSE, O};
use crate::gpu::{launch, upload, DeviceArg};
use rand::seq::IndexedRandom;
use rand::Rng;
use sparsefill_compiler::codegen::ptxas::{self, PtxasReport};
use sparsefill_compiler::codegen::{CodegenOptions, MmaLowering, PtxModule, Specialize, REGISTERS_PER_SM};
use sparsefill_compiler::interp::{self, ArgValue, InterpError};
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_compiler::{compile_ir_with, lower_source, CompileError};
use sparsefill_runtime::{Gpu, KernelCache, RuntimeError};
use thiserror::Error;

/// The fns every sparse kernel calls (attention.tile's `softmax_step` and `fold_tile`, then
/// query_block.tile); a kernel's source is this text followed by its own.
pub const PRELUDE: &str =
    concat!(include_str!("../../../kernels/attention.tile"), include_str!("../../../kernels/query_block.tile"));

/// Query and key block size of every sparse kernel and index: MInference's 64.
pub const BLOCK: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InputError {
    #[error("`{name}` must be bf16; got {got:?}")]
    DType { name: &'static str, got: DType },
    #[error("`{name}` must have 3 dimensions [T, heads, head_dim]; got shape {got:?}")]
    Rank { name: &'static str, got: Vec<usize> },
    #[error("`{name}` holds {len} elements, but its shape {shape:?} needs {expected}")]
    Length { name: &'static str, shape: Vec<usize>, len: usize, expected: usize },
    #[error("`{name}` must have shape [{tokens}, kv_heads, {head_dim}] to match q {q:?}; got {got:?}")]
    KvShape { name: &'static str, q: Vec<usize>, got: Vec<usize>, tokens: usize, head_dim: usize },
    #[error("`v` must have the shape of `k` {k:?}; got {v:?}")]
    VShape { k: Vec<usize>, v: Vec<usize> },
    #[error("the sequence lengths sum to {sum}, but q holds {tokens} tokens")]
    Tokens { sum: usize, tokens: usize },
    #[error(transparent)]
    Shape(#[from] ShapeError),
}

/// How running a sparse kernel on the interpreter fails.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Inputs(#[from] InputError),
    // The sources are boxed: they are large, and every pattern's error carries them.
    #[error("compiling {kernel}: {source}")]
    Compile { kernel: &'static str, source: Box<CompileError> },
    #[error("running {kernel} on the interpreter: {source}")]
    Interp { kernel: &'static str, source: Box<InterpError> },
    #[error("running {kernel} on the GPU: {source}")]
    Runtime { kernel: &'static str, source: Box<RuntimeError> },
    #[error("argument {index} of {kernel} is not a tensor, so it cannot be an output")]
    MissingOutput { kernel: &'static str, index: usize },
    #[cfg(feature = "gpu")]
    #[error(transparent)]
    Buffer(#[from] crate::gpu::device::BufferError),
    #[cfg(not(feature = "gpu"))]
    #[error(
        "the sparse patterns run on a GPU only in a build with the `gpu` feature (cargo build --release \
         --features gpu); this build runs them on the CPU interpreter only"
    )]
    NoGpuBuild,
}

/// Checks the inputs' dtypes, shapes and lengths and returns the attention shape they
/// describe (causal, as every sparse pattern is).
pub fn validate(inputs: &AttentionInputs) -> Result<AttentionShape, InputError> {
    let tensors = [("q", &inputs.q), ("k", &inputs.k), ("v", &inputs.v)];
    let shape = check_shapes(tensors.map(|(_, t)| (t.dtype, t.shape.as_slice())), &inputs.seqlens)?;
    for (name, t) in tensors {
        let expected = t.shape.iter().product();
        if t.data.len() != expected {
            return Err(InputError::Length { name, shape: t.shape.clone(), len: t.data.len(), expected });
        }
    }
    Ok(shape)
}

/// The checks of [`validate`] that need only the dtypes and shapes of q, k and v (in that
/// order), so that tensors on the device get them too.
pub fn check_shapes(tensors: [(DType, &[usize]); 3], seqlens: &[usize]) -> Result<AttentionShape, InputError> {
    for (name, (dtype, shape)) in ["q", "k", "v"].into_iter().zip(tensors) {
        if dtype != DType::BF16 {
            return Err(InputError::DType { name, got: dtype });
        }
        if shape.len() != 3 {
            return Err(InputError::Rank { name, got: shape.to_vec() });
        }
    }
    let [(_, q), (_, k), (_, v)] = tensors;
    let (tokens, head_dim) = (q[0], q[2]);
    if k[0] != tokens || k[2] != head_dim {
        return Err(InputError::KvShape { name: "k", q: q.to_vec(), got: k.to_vec(), tokens, head_dim });
    }
    if v != k {
        return Err(InputError::VShape { k: k.to_vec(), v: v.to_vec() });
    }
    let shape = AttentionShape { seqlens: seqlens.to_vec(), heads: q[1], kv_heads: k[1], head_dim, causal: true };
    shape.validate()?;
    let sum = shape.tokens();
    if sum != tokens {
        return Err(InputError::Tokens { sum, tokens });
    }
    Ok(shape)
}

/// The check of an output `o` the caller gives (the device runners write into a caller's
/// view): bf16, of q's shape.
pub fn check_output(q: &[usize], (dtype, o): (DType, &[usize])) -> Result<(), InputError> {
    if dtype != DType::BF16 {
        return Err(InputError::DType { name: "o", got: dtype });
    }
    if o != q {
        return Err(ShapeError::OutputShape { name: "o", expected: q.to_vec(), got: o.to_vec() }.into());
    }
    Ok(())
}

/// The specialization of a sparse kernel for head dim `d`: 64-row query and key blocks.
pub fn consts(head_dim: usize) -> Vec<(String, ConstValue)> {
    let int = |v: usize| ConstValue::Int(v as i64);
    vec![("BM".to_string(), int(BLOCK)), ("BN".to_string(), int(BLOCK)), ("D".to_string(), int(head_dim))]
}

/// [`consts`] of query-block kernel `kernel` with what the target adds: its key step when
/// it has one ([`key_step::target_consts`], `aligned` saying whether q, k, v and o meet
/// the contract).
pub fn target_consts(
    kernel: &str,
    head_dim: usize,
    arch: Arch,
    mma: MmaLowering,
    aligned: bool,
) -> Vec<(String, ConstValue)> {
    key_step::target_consts(kernel, &consts(head_dim), arch, mma, aligned)
}

/// Number of `BLOCK`-row blocks of the longest sequence: the size of an index tensor's
/// block dimension, and the grid's first axis.
pub fn max_blocks(shape: &AttentionShape) -> usize {
    shape.seqlens.iter().copied().max().unwrap_or(0).div_ceil(BLOCK)
}

/// `cu_seqlens` as the kernels read it: `[0, n0, n0 + n1, ...]`, i32.
pub fn cu_seqlens(shape: &AttentionShape) -> HostTensor {
    let cu = shape.cu_seqlens();
    HostTensor::from_f64(DType::I32, &[cu.len()], cu.iter().map(|&c| c as f64).collect())
}

/// The kernels' `max_seqlen` scalar: the longest sequence.
pub fn max_seqlen(shape: &AttentionShape) -> i32 {
    // validate() bounds every length by i32::MAX.
    shape.seqlens.iter().copied().max().unwrap_or(0) as i32
}

/// The leading arguments (o and lse poisoned with NaN, so a row left unwritten shows),
/// followed by the pattern's own. The device runner (`crate::gpu::device::attend`) passes
/// the same arguments in the same order, as views.
pub fn kernel_args(inputs: &AttentionInputs, shape: &AttentionShape, own: Vec<ArgValue>) -> Vec<ArgValue> {
    let (t, h, d) = (shape.tokens(), shape.heads, shape.head_dim);
    let max_seqlen = max_seqlen(shape);
    let mut args = vec![
        ArgValue::Tensor(inputs.q.clone()),
        ArgValue::Tensor(inputs.k.clone()),
        ArgValue::Tensor(inputs.v.clone()),
        ArgValue::Tensor(cu_seqlens(shape)),
        ArgValue::Tensor(HostTensor::filled(DType::BF16, &[t, h, d], f64::NAN)),
        ArgValue::Tensor(HostTensor::filled(DType::F32, &[h, t], f64::NAN)),
        ArgValue::F32(shape.scale()),
        ArgValue::I32(max_seqlen),
    ];
    args.extend(own);
    args
}

/// Where a kernel runs: the CPU interpreter (CI's oracle) or a GPU through the kernel
/// cache. Patterns are written once over it, so the GPU tests run exactly what the
/// interpreter tests check.
#[derive(Clone, Copy)]
pub enum Backend<'a> {
    Interp,
    Gpu { gpu: &'a Gpu, cache: &'a KernelCache },
}

impl Backend<'_> {
    /// Runs kernel `kernel` of `source` specialized with `consts` over `args` and returns
    /// the tensor arguments at `outputs`, in that order. On a GPU the outputs are
    /// poisoned on the device too and the call waits for the kernel (a test and
    /// reference path: intermediate results come back to the host).
    pub fn run(
        &self,
        kernel: &'static str,
        source: &str,
        consts: &[(String, ConstValue)],
        mut args: Vec<ArgValue>,
        outputs: &[usize],
    ) -> Result<Vec<HostTensor>, RunError> {
        match self {
            Backend::Interp => {
                let ir = lower_source(source, Some(kernel), consts)
                    .map_err(|source| RunError::Compile { kernel, source: Box::new(source) })?;
                interp::run(&ir, &mut args).map_err(|source| RunError::Interp { kernel, source: Box::new(source) })?;
                outputs.iter().map(|&index| take_tensor(kernel, &mut args, index)).collect()
            }
            Backend::Gpu { gpu, cache } => run_on_gpu(gpu, cache, kernel, source, consts, &args, outputs),
        }
    }
}

fn take_tensor(kernel: &'static str, args: &mut [ArgValue], index: usize) -> Result<HostTensor, RunError> {
    match args.get_mut(index) {
        Some(ArgValue::Tensor(t)) => Ok(std::mem::replace(t, HostTensor::zeros(DType::F32, &[0]))),
        _ => Err(RunError::MissingOutput { kernel, index }),
    }
}

fn run_on_gpu(
    gpu: &Gpu,
    cache: &KernelCache,
    kernel: &'static str,
    source: &str,
    consts: &[(String, ConstValue)],
    args: &[ArgValue],
    outputs: &[usize],
) -> Result<Vec<HostTensor>, RunError> {
    let runtime = |source: RuntimeError| RunError::Runtime { kernel, source: Box::new(source) };
    let compiled = cache.get(source, Some(kernel), consts).map_err(runtime)?;
    let loaded = gpu.load(&compiled, cache).map_err(runtime)?;
    let device = upload(gpu, args).map_err(runtime)?;
    let output = |index: usize| match device.get(index) {
        Some(DeviceArg::Tensor(t)) => Ok(t),
        _ => Err(RunError::MissingOutput { kernel, index }),
    };
    for &index in outputs {
        output(index)?.poison().map_err(runtime)?;
    }
    launch(gpu, &loaded, &device).map_err(runtime)?;
    gpu.synchronize().map_err(runtime)?;
    outputs.iter().map(|&index| output(index)?.download().map_err(runtime)).collect()
}

/// Runs attention kernel `kernel` (prelude + `source`) with the leading arguments and
/// the pattern's `own`, and returns o and lse with the index tensors `index`. On a GPU the
/// inputs are uploaded and the device runner launches the kernel
/// (`crate::gpu::device::run_uploaded`), as it does for tensors already there.
pub fn run_attention(
    backend: &Backend,
    kernel: &'static str,
    source: &str,
    inputs: &AttentionInputs,
    shape: &AttentionShape,
    own: Vec<ArgValue>,
    index: Vec<(String, HostTensor)>,
) -> Result<SparseOutput, RunError> {
    match backend {
        Backend::Interp => run_interp_as(kernel, source, inputs, shape, own, index, &consts(shape.head_dim)),
        #[cfg(feature = "gpu")]
        Backend::Gpu { gpu, cache } => {
            crate::gpu::device::run_uploaded(gpu, cache, kernel, source, inputs, &own, index)
        }
        // A build without the feature opens no GPU, so no caller reaches this; it stays an error.
        #[cfg(not(feature = "gpu"))]
        Backend::Gpu { .. } => Err(RunError::NoGpuBuild),
    }
}

/// [`run_attention`] on the interpreter with the kernel specialized by `consts` (e.g. a
/// target's, [`crate::sparse::key_step::target_consts`]).
pub fn run_interp_as(
    kernel: &'static str,
    source: &str,
    inputs: &AttentionInputs,
    shape: &AttentionShape,
    own: Vec<ArgValue>,
    index: Vec<(String, HostTensor)>,
    consts: &[(String, ConstValue)],
) -> Result<SparseOutput, RunError> {
    let args = kernel_args(inputs, shape, own);
    let mut outputs = Backend::Interp.run(kernel, source, consts, args, &[O, LSE])?.into_iter();
    match (outputs.next(), outputs.next()) {
        (Some(o), Some(lse)) => Ok(SparseOutput { o, lse, index }),
        _ => Err(RunError::MissingOutput { kernel, index: LSE }),
    }
}

/// Random inputs for `shape` (bf16, uniform in [-2, 2]) as a pattern takes them, with
/// the dense case they came from, whose `reference_masked` is the oracle.
pub fn random_inputs(
    shape: &AttentionShape,
    rng: &mut impl Rng,
) -> Result<(AttentionCase, AttentionInputs), ShapeError> {
    let case = attention::case(shape, BLOCK, rng)?;
    let tensor = |index: usize| match case.args.get(index) {
        Some(ArgValue::Tensor(t)) => Ok(t.clone()),
        _ => Err(ShapeError::NotATensor { index }),
    };
    let inputs = AttentionInputs {
        q: tensor(attention::Q)?,
        k: tensor(attention::K)?,
        v: tensor(attention::V)?,
        seqlens: shape.seqlens.clone(),
    };
    Ok((case, inputs))
}

/// Token rows worth checking when the f64 reference is too slow for all of them (it
/// costs O(len) per row): every row of a sequence of at most `2 · 64 + sample` tokens;
/// of a longer one its first and last 64 rows (the first and the ragged last query
/// block) and `sample` random rows between.
pub fn sample_rows(seqlens: &[usize], sample: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut rows = Vec::new();
    let mut start = 0;
    for &len in seqlens {
        let end = start + len;
        if len <= 2 * BLOCK + sample {
            rows.extend(start..end);
        } else {
            let middle: Vec<usize> = (start + BLOCK..end - BLOCK).collect();
            rows.extend(start..start + BLOCK);
            rows.extend(middle.choose_multiple(rng, sample));
            rows.extend(end - BLOCK..end);
        }
        start = end;
    }
    rows
}

/// Compares every row of a pattern's output with dense attention restricted to `mask`
/// (tolerances of [`attention::check_outputs`]); a NaN left in o or lse fails.
pub fn check_rows(case: &AttentionCase, out: &SparseOutput, mask: impl Fn(KeyMask) -> bool) -> Result<(), String> {
    let rows: Vec<usize> = (0..case.shape.tokens()).collect();
    let expected = case.reference_masked(&rows, mask).map_err(|e| e.to_string())?;
    let got = attention::gather(&case.shape, &out.o, &out.lse, &rows).map_err(|e| e.to_string())?;
    attention::check_outputs(&got, &expected)
}

/// Compiles kernel `kernel` of `source` for `consts` to PTX for `arch`, the variant with the
/// `aligned` contract on the tensors named in `aligned` (as the runtime specializes a launch
/// on them); an error is a sentence naming the kernel, its consts, the aligned tensors and
/// the arch.
fn compile_variant(
    kernel: &str,
    source: &str,
    consts: &[(String, ConstValue)],
    (arch, options): (Arch, &CodegenOptions),
    aligned: &[&str],
) -> Result<PtxModule, String> {
    let what = || variant_name(kernel, consts, arch, aligned);
    let mut ir = lower_source(source, Some(kernel), consts).map_err(|e| format!("{}: {e}", what()))?;
    for name in aligned {
        if !ir.set_aligned(name, true) {
            return Err(format!("{}: no tensor `{name}`", what()));
        }
    }
    compile_ir_with(&ir, arch, options).map_err(|e| format!("{}: {e}", what()))
}

/// How the errors of [`compile_variant`] and [`assemble`] name the variant.
fn variant_name(kernel: &str, consts: &[(String, ConstValue)], arch: Arch, aligned: &[&str]) -> String {
    format!("{kernel} {consts:?} aligned {aligned:?} for {arch}")
}

/// `compile_variant`, assembled with ptxas. The report's `shared_bytes` is what a launch
/// takes: ptxas's static bytes plus the module's dynamic shared memory (the stack of
/// staged tiles, which ptxas does not see).
pub fn assemble(
    kernel: &str,
    source: &str,
    consts: &[(String, ConstValue)],
    arch: Arch,
    aligned: &[&str],
) -> Result<PtxasReport, String> {
    assemble_with(kernel, source, consts, (arch, &CodegenOptions::default()), aligned)
}

/// [`assemble`] with code generation `options`.
fn assemble_with(
    kernel: &str,
    source: &str,
    consts: &[(String, ConstValue)],
    (arch, options): (Arch, &CodegenOptions),
    aligned: &[&str],
) -> Result<PtxasReport, String> {
    let module = compile_variant(kernel, source, consts, (arch, options), aligned)?;
    let mut report = ptxas::assemble(&module.ptx, arch)
        .map_err(|e| format!("{}: {e}", variant_name(kernel, consts, arch, aligned)))?;
    report.shared_bytes += module.shared_bytes;
    Ok(report)
}

/// For tests: asserts that `kernel` assembles with no spills, no stack and no serialized
/// wgmma for each set of consts, printing its registers and shared memory. Skips (or
/// fails, per [`ptxas::available_for_tests`]) where ptxas is missing.
pub fn assert_assembles_without_spills(
    kernel: &str,
    source: &str,
    specializations: &[Vec<(String, ConstValue)>],
    arch: Arch,
) {
    assert_variants_assemble_without_spills(kernel, source, specializations, (arch, &CodegenOptions::default()), &[]);
}

/// [`assert_assembles_without_spills`] of the variants with the `aligned` contract on the
/// tensors named in `aligned` ([`assemble`]), compiled with `options`.
pub fn assert_variants_assemble_without_spills(
    kernel: &str,
    source: &str,
    specializations: &[Vec<(String, ConstValue)>],
    (arch, options): (Arch, &CodegenOptions),
    aligned: &[&str],
) {
    if !ptxas::available_for_tests(kernel) {
        return;
    }
    for consts in specializations {
        let report = assemble_with(kernel, source, consts, (arch, options), aligned).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "{kernel} {consts:?} aligned {aligned:?} on {arch}: {} registers, {} bytes shared",
            report.registers, report.shared_bytes
        );
        assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
        // ptxas says so when it must serialize the kernel's wgmma (C7513 and kin).
        assert_eq!(report.wgmma_stall(), None, "{kernel} {consts:?} on {arch}");
    }
}

/// Spill bytes (stores, loads, stack each) that a kernel asking for `occupancy(N)` may take
/// for its register cap: the price measured for it, which this bound keeps from growing
/// unnoticed (the shipped ones spill 24-44 bytes).
pub const OCCUPANCY_SPILL_BYTES: u32 = 64;

/// For tests: [`assert_assembles_without_spills`], except that a kernel asking for
/// `occupancy(N)` must instead fit N programs an SM by registers and spill at most
/// [`OCCUPANCY_SPILL_BYTES`].
pub fn assert_assembles_within_budget(
    kernel: &str,
    source: &str,
    specializations: &[Vec<(String, ConstValue)>],
    arch: Arch,
) {
    if !ptxas::available_for_tests(kernel) {
        return;
    }
    for consts in specializations {
        let ir = lower_source(source, Some(kernel), consts).unwrap_or_else(|e| panic!("{kernel}: {e}"));
        let Some(programs) = ir.occupancy else {
            assert_assembles_without_spills(kernel, source, std::slice::from_ref(consts), arch);
            continue;
        };
        let report = assemble(kernel, source, consts, arch, &[]).unwrap_or_else(|e| panic!("{e}"));
        let threads = ir.threads_per_program();
        eprintln!(
            "{kernel} {consts:?} on {arch}, occupancy({programs}): {} registers, {} bytes spilled",
            report.registers, report.spill_stores
        );
        assert!(report.registers * threads * programs <= REGISTERS_PER_SM, "{kernel}: {}", report.raw);
        let spills = [report.spill_stores, report.spill_loads, report.stack_bytes];
        assert!(spills.iter().all(|&b| b <= OCCUPANCY_SPILL_BYTES), "{kernel} {consts:?} on {arch}: {}", report.raw);
    }
}

/// For tests: the `variants` of a stepped kernel ([`key_step::STEPPED_KERNELS`]) that the
/// GPU runners launch on packed inputs on sm_90a (q, k, v and o aligned) each fit two
/// programs per SM ([`key_step::SM90_TWO_PROGRAM_SHARED_BYTES`], checked without ptxas)
/// and assemble without spills, with each [`Specialize`] choice (a producer warpgroup,
/// where asked for, is taken, at two programs per SM).
pub fn assert_aligned_sm90a_variants_fit(kernel: &str, source: &str, variants: &[Vec<(String, ConstValue)>]) {
    let aligned = ["q", "k", "v", "o"];
    let lowerings = Specialize::ALL.map(|specialize| CodegenOptions { specialize, ..CodegenOptions::default() });
    for consts in variants {
        for options in lowerings {
            let module = compile_variant(kernel, source, consts, (Arch::Sm90a, &options), &aligned)
                .unwrap_or_else(|e| panic!("{e}"));
            let limit = key_step::SM90_TWO_PROGRAM_SHARED_BYTES;
            assert!(
                module.shared_bytes <= limit,
                "{kernel} {consts:?}: {} bytes of shared memory; two programs per SM fit at most {limit}",
                module.shared_bytes
            );
            let producer = module.ptx.contains(".minnctapersm 2") && module.ptx.contains("setmaxnreg.dec");
            let asked = options.specialize != Specialize::Off;
            assert_eq!(producer, asked, "{kernel} {consts:?} {options:?}: a producer warpgroup");
        }
    }
    for options in lowerings {
        assert_variants_assemble_without_spills(kernel, source, variants, (Arch::Sm90a, &options), &aligned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A tensor named for the `aligned` contract that the kernel lacks is an error naming
    /// it, before ptxas runs.
    #[test]
    fn assembling_with_an_unknown_aligned_tensor_names_it() {
        let err = assemble(super::super::KERNEL, super::super::SOURCE, &consts(64), Arch::Sm90a, &["q", "qq"]).err();
        assert!(err.as_deref().is_some_and(|e| e.ends_with(": no tensor `qq`")), "{err:?}");
    }

    fn inputs() -> AttentionInputs {
        let shape = AttentionShape { seqlens: vec![3, 2], heads: 4, kv_heads: 2, head_dim: 16, causal: true };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        match random_inputs(&shape, &mut rng) {
            Ok((_, inputs)) => inputs,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn consistent_inputs_give_their_shape() {
        let shape = validate(&inputs()).map(|s| (s.seqlens, s.heads, s.kv_heads, s.head_dim));
        assert_eq!(shape, Ok((vec![3, 2], 4, 2, 16)));
    }

    #[test]
    fn shapes_alone_give_the_shape_of_tensors_that_hold_no_data() {
        let (q, kv) = ([5, 4, 16], [5, 2, 16]);
        let shape = check_shapes([(DType::BF16, &q), (DType::BF16, &kv), (DType::BF16, &kv)], &[3, 2]);
        assert_eq!(shape.map(|s| (s.heads, s.kv_heads, s.head_dim)), Ok((4, 2, 16)));
    }

    #[test]
    fn an_output_of_q_shape_passes() {
        assert_eq!(check_output(&[5, 4, 16], (DType::BF16, &[5, 4, 16])), Ok(()));
    }

    #[test]
    fn an_f32_output_is_rejected() {
        let err = check_output(&[5, 4, 16], (DType::F32, &[5, 4, 16])).err();
        assert_eq!(err, Some(InputError::DType { name: "o", got: DType::F32 }));
    }

    #[test]
    fn an_output_of_fewer_heads_than_q_is_rejected() {
        let err = check_output(&[5, 4, 16], (DType::BF16, &[5, 3, 16])).map_err(|e| e.to_string()).err();
        assert_eq!(err.as_deref(), Some("output `o` must have shape [5, 4, 16]; got [5, 3, 16]"));
    }

    #[test]
    fn f32_keys_are_rejected() {
        let mut x = inputs();
        x.k.dtype = DType::F32;
        assert_eq!(validate(&x).err(), Some(InputError::DType { name: "k", got: DType::F32 }));
    }

    #[test]
    fn a_rank_2_value_tensor_is_rejected() {
        let mut x = inputs();
        x.v = HostTensor::zeros(DType::BF16, &[5, 32]);
        assert_eq!(validate(&x).err(), Some(InputError::Rank { name: "v", got: vec![5, 32] }));
    }

    #[test]
    fn data_shorter_than_the_shape_is_rejected() {
        let mut x = inputs();
        x.q.data.pop();
        let err = validate(&x).err();
        assert_eq!(err, Some(InputError::Length { name: "q", shape: vec![5, 4, 16], len: 319, expected: 320 }));
    }

    #[test]
    fn keys_of_another_head_dim_are_rejected() {
        let mut x = inputs();
        x.k = HostTensor::zeros(DType::BF16, &[5, 2, 32]);
        let err = validate(&x).err();
        let (q, got) = (vec![5, 4, 16], vec![5, 2, 32]);
        assert_eq!(err, Some(InputError::KvShape { name: "k", q, got, tokens: 5, head_dim: 16 }));
    }

    #[test]
    fn values_unlike_keys_are_rejected() {
        let mut x = inputs();
        x.v = HostTensor::zeros(DType::BF16, &[5, 1, 16]);
        assert_eq!(validate(&x).err(), Some(InputError::VShape { k: vec![5, 2, 16], v: vec![5, 1, 16] }));
    }

    #[test]
    fn lengths_that_miss_tokens_are_rejected() {
        let mut x = inputs();
        x.seqlens = vec![3, 1];
        assert_eq!(validate(&x).err(), Some(InputError::Tokens { sum: 4, tokens: 5 }));
    }

    #[test]
    fn ungrouped_heads_are_rejected() {
        let mut x = inputs();
        x.k = HostTensor::zeros(DType::BF16, &[5, 3, 16]);
        x.v = x.k.clone();
        let err = validate(&x).err();
        assert_eq!(err, Some(InputError::Shape(ShapeError::HeadsNotGrouped { heads: 4, kv_heads: 3 })));
    }

    #[test]
    fn a_scalar_cannot_be_an_output() {
        let src = "kernel fill(o: tensor<f32>[N], x: f32) grid(1) { o[0] = x; }";
        let args = vec![ArgValue::Tensor(HostTensor::zeros(DType::F32, &[1])), ArgValue::F32(2.0)];
        let err = Backend::Interp.run("fill", src, &[], args, &[1]).err();
        assert!(matches!(err, Some(RunError::MissingOutput { kernel: "fill", index: 1 })), "{err:?}");
    }

    #[test]
    fn short_sequences_are_sampled_whole_and_long_ones_at_both_ends() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let rows = sample_rows(&[5, 300], 10, &mut rng);
        let middle: Vec<usize> = rows[5 + 64..5 + 74].to_vec();
        assert_eq!(
            (&rows[..5 + 64], &rows[5 + 74..]),
            (&(0..69).collect::<Vec<_>>()[..], &(241..305).collect::<Vec<_>>()[..])
        );
        assert!(middle.iter().all(|r| (69..241).contains(r)), "{middle:?}");
    }

    #[test]
    fn a_missing_kernel_is_a_compile_error_naming_it() {
        let err = Backend::Interp.run("absent", "kernel other() grid(1) { }", &[], Vec::new(), &[]).err();
        assert!(matches!(err, Some(RunError::Compile { kernel: "absent", .. })), "{err:?}");
    }

    #[test]
    fn arguments_the_kernel_does_not_take_are_an_interpreter_error() {
        let args = vec![ArgValue::F32(1.0)];
        let err = Backend::Interp.run("none", "kernel none() grid(1) { }", &[], args, &[]).err();
        assert!(matches!(err, Some(RunError::Interp { kernel: "none", .. })), "{err:?}");
    }

    #[test]
    fn outputs_come_back_in_the_order_asked() {
        let src = "kernel two(a: tensor<f32>[N], b: tensor<f32>[N]) grid(1) { a[0] = 1.0; b[0] = 2.0; }";
        let zeros = || ArgValue::Tensor(HostTensor::zeros(DType::F32, &[1]));
        let out = Backend::Interp.run("two", src, &[], vec![zeros(), zeros()], &[1, 0]);
        assert_eq!(out.map(|t| t.iter().map(|t| t.data[0]).collect::<Vec<_>>()).ok(), Some(vec![2.0, 1.0]));
    }
}
