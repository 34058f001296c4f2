//! `dot` end to end on the CPU: gemm.tile through the front end and the interpreter against
//! an f64 reference on fresh random bf16 inputs (outputs poisoned), and through code
//! generation to PTX that uses tensor cores and assembles without spills.

use rand::SeedableRng;
use sparsefill_compiler::codegen::ptxas;
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::{DType, Kernel};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_compiler::{compile_ir, lower_source};
use sparsefill_patterns::compare;
use sparsefill_patterns::gemm::{random, reference, SOURCE as GEMM, TOLERANCE};

fn kernel(name: &str) -> Kernel {
    lower_source(GEMM, Some(name), &[]).unwrap_or_else(|e| panic!("gemm.tile `{name}`: {e}"))
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
fn gemm_ptx_uses_mma_sync() {
    assert!(ptx("gemm", Arch::Sm90a).contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
}

#[test]
fn gemm_ptx_uses_ldmatrix() {
    assert!(ptx("gemm", Arch::Sm80).contains("ldmatrix.sync.aligned.m8n8.x4.shared.b16"));
}

fn check_assembles_without_spills(name: &str, arch: Arch) {
    if !ptxas::available_for_tests("gemm.tile") {
        return;
    }
    let report = ptxas::assemble(&ptx(name, arch), arch).unwrap_or_else(|e| panic!("{name} {arch}: {e}"));
    eprintln!("{name} on {arch}: {} registers, {} bytes shared", report.registers, report.shared_bytes);
    assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
}

#[test]
fn gemm_assembles_without_spills_on_sm80() {
    check_assembles_without_spills("gemm", Arch::Sm80);
}

#[test]
fn gemm_assembles_without_spills_on_sm90a() {
    check_assembles_without_spills("gemm", Arch::Sm90a);
}

#[test]
fn gemm_nt_assembles_without_spills_on_sm80() {
    check_assembles_without_spills("gemm_nt", Arch::Sm80);
}

#[test]
fn gemm_nt_assembles_without_spills_on_sm90a() {
    check_assembles_without_spills("gemm_nt", Arch::Sm90a);
}
