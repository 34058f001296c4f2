//! Every shipped kernel, end to end on the CPU: source → Tile IR → interpreter against
//! the f64 reference on fresh random inputs with the output poisoned, and source →
//! PTX → ptxas for every target with no spills.

use rand::SeedableRng;
use sparsefill_compiler::codegen::ptxas;
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::{compile_ir, lower_source};
use sparsefill_patterns::{compare, Shipped};

fn check_on_interpreter(kernel: Shipped, shape: &[usize], block: Option<usize>, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut case = kernel.case(shape, block, &mut rng);
    let ir = lower_source(kernel.source(), None, &case.consts).unwrap_or_else(|e| panic!("{}: {e}", kernel.name()));
    interp::run(&ir, &mut case.args).unwrap_or_else(|e| panic!("{} {shape:?}: {e}", kernel.name()));
    let reference = kernel.reference(&case);
    let ArgValue::Tensor(out) = &case.args[case.output] else { panic!("output is a tensor") };
    let acc = compare(out, &reference);
    assert!(acc.passes(kernel.tolerance()), "{} {shape:?} block {block:?}: {acc}", kernel.name());
}

#[test]
fn vector_add_matches_reference() {
    for (i, (shape, block)) in Shipped::VectorAdd.small_cases().into_iter().enumerate() {
        check_on_interpreter(Shipped::VectorAdd, &shape, block, 10 + i as u64);
    }
}

#[test]
fn softmax_matches_reference() {
    for (i, (shape, block)) in Shipped::Softmax.small_cases().into_iter().enumerate() {
        check_on_interpreter(Shipped::Softmax, &shape, block, 20 + i as u64);
    }
}

#[test]
fn rmsnorm_matches_reference() {
    for (i, (shape, block)) in Shipped::RmsNorm.small_cases().into_iter().enumerate() {
        check_on_interpreter(Shipped::RmsNorm, &shape, block, 30 + i as u64);
    }
}

#[test]
fn wrong_dtype_is_rejected_before_running() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut case = Shipped::Softmax.case(&[2, 8], None, &mut rng);
    let ir = lower_source(Shipped::Softmax.source(), None, &case.consts).unwrap();
    let ArgValue::Tensor(x) = &mut case.args[0] else { panic!() };
    x.dtype = sparsefill_compiler::ir::DType::F32;
    let err = interp::run(&ir, &mut case.args).unwrap_err();
    assert_eq!(err.to_string(), "argument `x` must have dtype bf16; got f32");
}

#[test]
fn every_shipped_kernel_assembles_without_spills() {
    if !ptxas::available_for_tests("the shipped kernels") {
        return;
    }
    for kernel in Shipped::ALL {
        let shape = kernel.bench_shape();
        let ir = lower_source(kernel.source(), None, &kernel.consts_for(&shape)).unwrap();
        for arch in Arch::ALL {
            let module = compile_ir(&ir, arch).unwrap_or_else(|e| panic!("{} {arch}: {e}", kernel.name()));
            let report = ptxas::assemble(&module.ptx, arch).unwrap_or_else(|e| panic!("{} {arch}: {e}", kernel.name()));
            assert_eq!(
                (report.spill_stores, report.spill_loads, report.stack_bytes),
                (0, 0, 0),
                "{} {arch} spills:\n{}",
                kernel.name(),
                report.raw
            );
            assert_eq!(report.wgmma_stall(), None, "{} on {arch}", kernel.name());
        }
    }
}
