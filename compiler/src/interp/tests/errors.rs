//! Argument errors, and malformed IR reported as errors rather than panics.

use super::*;
use crate::ir::{BinaryOp, Op};

fn error_of(kernel: Kernel, mut args: Vec<ArgValue>) -> String {
    match run(&kernel, &mut args) {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    }
}

fn one_tensor_kernel() -> Kernel {
    let mut b = KernelBuilder::new("k", 1);
    b.tensor_param("x", DType::F32, &["N"]);
    single_program(&mut b);
    b.finish()
}

#[test]
fn wrong_argument_count_is_reported() {
    check(error_of(one_tensor_kernel(), vec![]), "kernel `k` takes 1 arguments (x); got 0");
}

#[test]
fn scalar_for_a_tensor_is_reported() {
    check(
        error_of(one_tensor_kernel(), vec![ArgValue::F32(1.0)]),
        "argument `x` must be a tensor<f32> of rank 1; got a scalar",
    );
}

#[test]
fn tensor_data_shorter_than_its_shape_is_reported() {
    let short = HostTensor { dtype: DType::F32, shape: vec![4], data: vec![1.0] };
    check(
        error_of(one_tensor_kernel(), vec![ArgValue::Tensor(short)]),
        "argument `x` has shape [4] but holds 1 elements; a host tensor holds exactly the product of its shape",
    );
}

#[test]
fn argument_errors_convert_to_the_args_variant() {
    let mut args = vec![];
    assert!(matches!(run(&one_tensor_kernel(), &mut args), Err(InterpError::Args(_))));
}

#[test]
fn use_of_an_undefined_value_is_an_error() {
    let mut b = KernelBuilder::new("undefined", 1);
    single_program(&mut b);
    let ghost = b.new_value(Type::scalar(DType::I32));
    b.binary(BinaryOp::Add, ghost, ghost);
    check(
        error_of(b.finish(), vec![]),
        format!("malformed Tile IR at `add`: {ghost} is used before it is defined").as_str(),
    );
}

#[test]
fn result_type_unlike_the_declared_one_is_an_error() {
    let mut b = KernelBuilder::new("mistyped", 1);
    single_program(&mut b);
    let one = b.const_i32(1);
    let sum = b.push(Op::Binary { op: BinaryOp::Add, lhs: one, rhs: one }, Type::scalar(DType::F32));
    check(
        error_of(b.finish(), vec![]),
        format!("malformed Tile IR at `add`: {sum} is declared f32 but evaluates to i32").as_str(),
    );
}

#[test]
fn operands_of_different_shapes_are_an_error() {
    let mut b = KernelBuilder::new("shapes", 1);
    single_program(&mut b);
    let zero = b.const_i32(0);
    let (a, c) = (b.arange(zero, 4), b.arange(zero, 8));
    b.binary(BinaryOp::Add, a, c);
    check(
        error_of(b.finish(), vec![]),
        format!("malformed Tile IR at `add`: operands {a}: i32[4] and {c}: i32[8] differ in type").as_str(),
    );
}

#[test]
fn oversized_tile_is_an_error() {
    let mut b = KernelBuilder::new("huge", 1);
    single_program(&mut b);
    let x = b.const_f32(0.0);
    b.splat(x, vec![1 << 13, 1 << 13]);
    check(
        error_of(b.finish(), vec![]),
        "a tile of 67108864 elements is larger than the interpreter's limit of 16777216",
    );
}

#[test]
fn grid_block_yielding_two_sizes_is_an_error() {
    let mut b = KernelBuilder::new("short_grid", 1);
    let one = b.const_i32(1);
    b.yield_(vec![one, one]);
    let mut kernel = b.finish();
    kernel.grid = std::mem::take(&mut kernel.body);
    check(error_of(kernel, vec![]), "malformed Tile IR at `yield`: the grid block yields 2 values; it must yield 3");
}
