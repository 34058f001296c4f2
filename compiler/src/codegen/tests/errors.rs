//! What `emit` refuses, and that it says why instead of panicking.

use super::ops::{produce, produce_with};
use crate::codegen::emit;
use crate::ir::builder::KernelBuilder;
use crate::ir::{BinaryOp, DType, Kernel, Op, ReduceOp, Type, ValueId};
use crate::target::Arch;

fn error_of(kernel: &Kernel) -> String {
    match emit(kernel, Arch::Sm90a) {
        Ok(_) => panic!("`{}` compiled, but it should have been rejected", kernel.name),
        Err(e) => e.to_string(),
    }
}

/// A body that computes `f` into a value and stores nothing.
fn body(warps: u32, f: impl FnOnce(&mut KernelBuilder)) -> Kernel {
    let mut b = KernelBuilder::new("bad", warps);
    b.grid(|b| {
        let one = b.const_i32(1);
        [one, one, one]
    });
    f(&mut b);
    b.finish()
}

#[test]
fn unknown_arch_name_lists_the_supported_ones() {
    let err = "sm_75".parse::<Arch>().map_err(|e| e.to_string());
    assert_eq!(err, Err("unknown GPU architecture `sm_75`; supported: sm_80, sm_90a".to_string()));
}

#[test]
fn tile_past_the_register_budget_is_rejected() {
    let kernel = produce(|b| {
        let zero = b.const_f32(0.0);
        b.splat(zero, vec![256, 256])
    });
    assert_eq!(
        error_of(&kernel),
        "tile f32[256, 256] needs 512 elements per thread over 128 threads; at most 256 are supported"
    );
}

#[test]
fn shared_memory_past_the_block_limit_is_rejected_naming_the_op() {
    // A transpose moves its whole tile through shared memory: [512, 256] f32 is 512 KiB.
    // 32 warps keep the tile itself within the register budget.
    let kernel = produce_with(32, |b| {
        let zero = b.const_f32(0.0);
        let tile = b.splat(zero, vec![512, 256]);
        b.trans(tile)
    });
    assert_eq!(
        error_of(&kernel),
        "`trans` needs 524288 bytes of shared memory (with the buffers before it); at most 232448 bytes per block are supported"
    );
}

#[test]
fn bf16_arithmetic_is_unsupported() {
    let kernel = produce(|b| {
        let one = b.push(Op::Const(crate::ir::Literal::Float(1.0)), Type::tile(DType::BF16, vec![64]));
        b.binary(BinaryOp::Add, one, one)
    });
    assert!(error_of(&kernel).starts_with("code generation does not support binary Add on bf16"));
}

#[test]
fn reduction_of_bf16_is_unsupported() {
    let kernel = produce(|b| {
        let one = b.push(Op::Const(crate::ir::Literal::Float(1.0)), Type::scalar(DType::BF16));
        let tile = b.splat(one, vec![64]);
        b.reduce(ReduceOp::Max, tile, 0)
    });
    assert!(error_of(&kernel).starts_with("code generation does not support reduce_max on bf16"));
}

#[test]
fn scan_of_bf16_is_unsupported() {
    let kernel = produce(|b| {
        let one = b.push(Op::Const(crate::ir::Literal::Float(1.0)), Type::scalar(DType::BF16));
        let tile = b.splat(one, vec![64]);
        b.scan(ReduceOp::Sum, tile, 0)
    });
    assert!(error_of(&kernel).starts_with("code generation does not support scan_sum on bf16"));
}

#[test]
fn warp_count_must_be_a_power_of_two() {
    assert_eq!(
        error_of(&body(3, |_| {})),
        "code generation does not support 3 warps per program; supported: a power of two from 1 to 32"
    );
}

#[test]
fn stage_count_outside_the_range_is_unsupported() {
    // The verifier rejects these too; code generation does not rely on it.
    for stages in [0, 1, 9] {
        let mut kernel = body(1, |_| {});
        kernel.num_stages = stages;
        assert_eq!(
            error_of(&kernel),
            format!("code generation does not support stages({stages}); supported: 2 to 8 prefetch stages")
        );
    }
}

#[test]
fn stages_past_shared_memory_are_rejected_naming_the_stages() {
    // On sm_90a's default (wgmma) lowering a stage of a is 128 x 64 and of b 64 x 256
    // unpadded halves in the 128-byte swizzle: 16384 + 32768 bytes, so 5 stages of both
    // (245760 bytes) exceed the 232448 of sm_90a; the error comes from b's buffers,
    // allocated after a's.
    let src = "kernel mm<S: i32 = 2>(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N]) \
               grid(1) warps(8) stages(S) {
        let mut acc = zeros([128, 256]);
        for k0 in (0 .. K).step_by(64) {
            acc = acc + dot(a[0 .. 128, k0 .. k0 + 64], b[k0 .. k0 + 64, 0 .. 256]);
        }
        c[0 .. 128, 0 .. 256] = acc;
    }";
    let kernel = crate::lower_source(src, None, &[("S".into(), crate::ir::ConstValue::Int(5))]);
    let kernel = kernel.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        error_of(&kernel),
        "`stages(5) prefetch of bf16[64, 256]` needs 245760 bytes of shared memory (with the buffers before it: \
         stages(5) prefetch of bf16[128, 64]: 81920 bytes); at most 232448 bytes per block are supported"
    );
}

#[test]
fn kernel_name_must_be_a_ptx_identifier() {
    let mut kernel = body(1, |_| {});
    kernel.name = "my-kernel".into();
    assert!(error_of(&kernel).starts_with("code generation does not support kernel name `my-kernel`"));
}

#[test]
fn use_before_definition_is_invalid_ir() {
    let kernel = produce(|b| b.push(Op::Splat { value: ValueId(99) }, Type::tile(DType::F32, vec![64])));
    assert!(error_of(&kernel).contains("%99"));
}

#[test]
fn mismatched_operand_types_are_invalid_ir() {
    let kernel = produce(|b| {
        let x = b.const_f32(1.0);
        let n = b.const_i32(1);
        b.binary(BinaryOp::Add, x, n)
    });
    assert_eq!(
        error_of(&kernel),
        "invalid Tile IR reached code generation (run ir::verify first): %2 has type f32 but %3 has type i32; they must be equal"
    );
}

#[test]
fn half_precision_scalar_parameter_is_unsupported() {
    let mut kernel = body(1, |_| {});
    kernel.params.push(crate::ir::Param::Scalar { name: "h".into(), dtype: DType::F16 });
    assert!(error_of(&kernel).starts_with("code generation does not support scalar parameter `h` of type f16"));
}

#[test]
fn integer_literal_outside_i32_is_unsupported() {
    let kernel = produce(|b| b.const_i32(1 << 40));
    assert!(error_of(&kernel).starts_with("code generation does not support integer literal 1099511627776"));
}

#[test]
fn arange_result_type_is_checked() {
    let kernel = produce(|b| {
        let s = b.const_i32(0);
        b.push(Op::Arange { start: s, len: 64 }, Type::tile(DType::I32, vec![32]))
    });
    assert_eq!(
        error_of(&kernel),
        "invalid Tile IR reached code generation (run ir::verify first): arange of 64 must give i32[64], not i32[32]"
    );
}
