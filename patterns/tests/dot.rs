//! `dot` end to end on the CPU: gemm.tile through the front end and the interpreter against
//! an f64 reference on fresh random bf16 inputs (outputs poisoned), and through code
//! generation to PTX that uses tensor cores and assembles without spills.

use rand::SeedableRng;
use sparsefill_compiler::codegen::ptxas;
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::{ConstValue, DType, Kernel};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_compiler::{compile_ir, lower_source};
use sparsefill_patterns::compare;
use sparsefill_patterns::gemm::{random, reference, SOURCE as GEMM, TOLERANCE};

fn kernel(name: &str) -> Kernel {
    lower_source(GEMM, Some(name), &[]).unwrap_or_else(|e| panic!("gemm.tile `{name}`: {e}"))
}

/// gemm.tile's `gemm` with `stages(STAGES)`, the other consts at their defaults.
fn gemm_with_stages(stages: i64) -> Kernel {
    let consts = [("STAGES".to_string(), ConstValue::Int(stages))];
    lower_source(GEMM, Some("gemm"), &consts).unwrap_or_else(|e| panic!("gemm.tile `gemm` STAGES={stages}: {e}"))
}

/// Runs gemm.tile on the interpreter for `[m, n, k]` into a NaN-poisoned output and
/// compares with the f64 reference (a poisoned element that stays fails).
fn check_on_interpreter([m, n, k]: [usize; 3], seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (a, b) = (random(&mut rng, [m, k]), random(&mut rng, [k, n]));
    let expected = reference(&a, &b, false);
    let c = HostTensor::filled(DType::BF16, &[m, n], f64::NAN);
    let out = run("gemm", vec![a, b, c]);
    let acc = compare(&out, &expected);
    assert!(acc.passes(TOLERANCE), "gemm {m}x{n}x{k}: {acc}");
}

/// Runs gemm.tile's `name` on the interpreter; `tensors` end with the output, which is returned.
fn run(name: &str, tensors: Vec<HostTensor>) -> HostTensor {
    let mut args: Vec<ArgValue> = tensors.into_iter().map(ArgValue::Tensor).collect();
    interp::run(&kernel(name), &mut args).unwrap_or_else(|e| panic!("{name}: {e}"));
    match args.pop() {
        Some(ArgValue::Tensor(out)) => out,
        other => panic!("{name}: the output argument is {other:?}"),
    }
}

#[test]
fn gemm_one_exact_tile() {
    check_on_interpreter([64, 64, 32], 1);
}

#[test]
fn gemm_ragged_in_every_dimension() {
    check_on_interpreter([70, 50, 40], 2);
}

#[test]
fn gemm_several_k_steps_and_programs() {
    check_on_interpreter([128, 96, 160], 3);
}

#[test]
fn gemm_smaller_than_one_tile() {
    check_on_interpreter([5, 3, 7], 4);
}

#[test]
fn gemm_nt_multiplies_by_the_transpose() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let (q, k) = (random(&mut rng, [70, 96]), random(&mut rng, [40, 96]));
    let expected = reference(&q, &k, true);
    let out = run("gemm_nt", vec![q, k, HostTensor::filled(DType::F32, &[70, 40], f64::NAN)]);
    let acc = compare(&out, &expected);
    // f32 out: only the accumulation order differs from the reference.
    assert!(acc.passes(1e-6), "gemm_nt: {acc}");
}

fn ptx(name: &str, arch: Arch) -> String {
    compile_ir(&kernel(name), arch).unwrap_or_else(|e| panic!("{name} for {arch}: {e}")).ptx
}

#[test]
fn gemm_ptx_uses_mma_sync_on_sm_80() {
    assert!(ptx("gemm", Arch::Sm80).contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
}

#[test]
fn gemm_ptx_uses_wgmma_on_sm_90a() {
    assert!(ptx("gemm", Arch::Sm90a).contains("wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16"));
}

#[test]
fn gemm_ptx_uses_ldmatrix() {
    assert!(ptx("gemm", Arch::Sm80).contains("ldmatrix.sync.aligned.m8n8.x4.shared.b16"));
}

fn check_assembles_without_spills(name: &str, arch: Arch) {
    check_variant_assembles_without_spills(kernel(name), name, arch);
}

/// `gemm` with the `aligned` contract on a, b and c: the variant every launch on
/// contiguous, 16-byte-aligned matrices runs. (At BK 64 the unaligned variant, which only
/// strided or offset views run, spills: docs/perf/2026-11-28-h200-aligned.md.)
fn aligned(mut k: Kernel) -> Kernel {
    for name in ["a", "b", "c"] {
        assert!(k.set_aligned(name, true), "gemm.tile has no tensor `{name}`");
    }
    k
}

fn check_variant_assembles_without_spills(k: Kernel, name: &str, arch: Arch) {
    if !ptxas::available_for_tests("gemm.tile") {
        return;
    }
    let ptx = compile_ir(&k, arch).unwrap_or_else(|e| panic!("{name} for {arch}: {e}")).ptx;
    let report = ptxas::assemble(&ptx, arch).unwrap_or_else(|e| panic!("{name} {arch}: {e}"));
    eprintln!("{name} on {arch}: {} registers, {} bytes shared", report.registers, report.shared_bytes);
    assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
}

#[test]
fn gemm_aligned_variant_assembles_without_spills_on_sm80() {
    check_variant_assembles_without_spills(aligned(kernel("gemm")), "gemm (aligned)", Arch::Sm80);
}

#[test]
fn gemm_aligned_variant_assembles_without_spills_on_sm90a() {
    check_variant_assembles_without_spills(aligned(kernel("gemm")), "gemm (aligned)", Arch::Sm90a);
}

#[test]
fn gemm_interpreter_ignores_stages() {
    // `stages` only shapes the GPU's copy pipeline: the interpreter's result is bit for bit
    // the same, and still matches the reference.
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let (a, b) = (random(&mut rng, [96, 160]), random(&mut rng, [160, 80]));
    let outputs: Vec<HostTensor> = [2, 3]
        .map(|stages| {
            let c = HostTensor::filled(DType::BF16, &[96, 80], f64::NAN);
            let mut args = vec![ArgValue::Tensor(a.clone()), ArgValue::Tensor(b.clone()), ArgValue::Tensor(c)];
            interp::run(&gemm_with_stages(stages), &mut args).unwrap_or_else(|e| panic!("STAGES={stages}: {e}"));
            match args.pop() {
                Some(ArgValue::Tensor(out)) => out,
                other => panic!("STAGES={stages}: the output argument is {other:?}"),
            }
        })
        .into();
    assert_eq!(outputs[0], outputs[1]);
    let acc = compare(&outputs[1], &reference(&a, &b, false));
    assert!(acc.passes(TOLERANCE), "gemm STAGES=3: {acc}");
}

/// Shared bytes of one stage of gemm.tile's default tiles, a [128, 64] and b [64, 256]:
/// rows of whole 64-element swizzle rows, unpadded on every target.
const GEMM_STAGE_BYTES: u32 = 128 * 64 * 2 + 64 * 256 * 2;
/// The bf16 [128, 256] result goes to its store layout through scratch, after the loop
/// and inside the stages it released: the kernel needs the larger of the two.
const GEMM_SCRATCH_BYTES: u32 = 128 * 256 * 2;

/// `cp.async.wait_group N` lines of `ptx`, whitespace normalized.
fn copy_waits(ptx: &str) -> Vec<String> {
    ptx.lines()
        .filter(|l| l.contains("cp.async.wait_group"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn gemm_three_stages_wait_for_two_groups_and_hold_three_stages_on_sm_80() {
    let module = compile_ir(&gemm_with_stages(3), Arch::Sm80).unwrap_or_else(|e| panic!("STAGES=3: {e}"));
    assert_eq!(copy_waits(&module.ptx), ["cp.async.wait_group 2;", "cp.async.wait_group 0;"]);
    assert_eq!(module.shared_bytes, (3 * GEMM_STAGE_BYTES).max(GEMM_SCRATCH_BYTES));
}

#[test]
fn gemm_on_sm_90a_copies_a_stage_less_ahead_while_its_products_run() {
    // The wgmma products of the last iteration still read a stage, so copies run one
    // iteration less far ahead; the tiles are unpadded (a in core matrices, b swizzled).
    let module = compile_ir(&gemm_with_stages(3), Arch::Sm90a).unwrap_or_else(|e| panic!("STAGES=3: {e}"));
    assert_eq!(copy_waits(&module.ptx), ["cp.async.wait_group 1;", "cp.async.wait_group 0;"]);
    assert!(module.ptx.contains("wgmma.wait_group.sync.aligned 1;"));
    assert_eq!(module.shared_bytes, (3 * GEMM_STAGE_BYTES).max(GEMM_SCRATCH_BYTES));
}

#[test]
fn gemm_default_is_three_stages() {
    let default = compile_ir(&kernel("gemm"), Arch::Sm80).map(|m| m.shared_bytes).map_err(|e| e.to_string());
    assert_eq!(default, Ok((3 * GEMM_STAGE_BYTES).max(GEMM_SCRATCH_BYTES)));
}

#[test]
fn gemm_with_too_many_stages_for_sm80_names_them() {
    // 4 stages (196608 bytes) exceed sm_80's 163 KiB; b's ring is the allocation that does.
    let err = compile_ir(&gemm_with_stages(4), Arch::Sm80).map(|_| ()).map_err(|e| e.to_string());
    let expected = format!(
        "`stages(4) prefetch of bf16[64, 256]` needs {} bytes of shared memory (with the buffers before it: \
         stages(4) prefetch of bf16[128, 64]: 65536 bytes); at most 166912 bytes per block are supported",
        4 * GEMM_STAGE_BYTES
    );
    assert_eq!(err, Err(expected));
}

fn check_stages_assemble_without_spills(stages: i64, arch: Arch) {
    if !ptxas::available_for_tests("gemm.tile") {
        return;
    }
    let module =
        compile_ir(&aligned(gemm_with_stages(stages)), arch).unwrap_or_else(|e| panic!("STAGES={stages} {arch}: {e}"));
    let report = ptxas::assemble(&module.ptx, arch).unwrap_or_else(|e| panic!("STAGES={stages} {arch}: {e}"));
    eprintln!("gemm STAGES={stages} on {arch}: {} registers, {} bytes shared", report.registers, module.shared_bytes);
    assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
}

#[test]
fn gemm_three_stages_aligned_assemble_without_spills_on_sm80() {
    check_stages_assemble_without_spills(3, Arch::Sm80);
}

#[test]
fn gemm_three_stages_aligned_assemble_without_spills_on_sm90a() {
    check_stages_assemble_without_spills(3, Arch::Sm90a);
}

#[test]
fn gemm_nt_assembles_without_spills_on_sm80() {
    check_assembles_without_spills("gemm_nt", Arch::Sm80);
}

#[test]
fn gemm_nt_assembles_without_spills_on_sm90a() {
    check_assembles_without_spills("gemm_nt", Arch::Sm90a);
}
