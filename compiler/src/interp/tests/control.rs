//! `for` and `if`.

use super::*;
use crate::ir::{BinaryOp, CmpOp};

/// Runs a kernel whose last parameter is an i32 `out[1]` and returns `out`.
fn run_to_out(kernel: &Kernel, mut args: Vec<ArgValue>) -> String {
    args.push(ArgValue::Tensor(HostTensor::zeros(DType::I32, &[1])));
    let result = run(kernel, &mut args).map(|()| match args.pop() {
        Some(ArgValue::Tensor(t)) => t,
        other => panic!("the output argument changed kind: {other:?}"),
    });
    render_result(result)
}

fn store_out(b: &mut KernelBuilder, value: ValueId) {
    let out = b.tensor_param("out", DType::I32, &["ONE"]);
    let zero = b.const_i32(0);
    b.store(out, vec![Index::Point(zero)], value);
}

/// `sum(range(lower, upper, step))` computed by a `for` with one carried value.
fn loop_sum(lower: i32, upper: i32, step: i32) -> String {
    let mut b = KernelBuilder::new("loop_sum", 1);
    let params = [b.scalar_param("lo", DType::I32), b.scalar_param("hi", DType::I32), b.scalar_param("st", DType::I32)];
    single_program(&mut b);
    let [lo, hi, st] = params.map(|p| b.arg(p));
    let zero = b.const_i32(0);
    let sum = b.for_loop(lo, hi, st, vec![zero], |b, iv, carried| vec![b.binary(BinaryOp::Add, carried[0], iv)]);
    store_out(&mut b, sum[0]);
    run_to_out(&b.finish(), vec![ArgValue::I32(lower), ArgValue::I32(upper), ArgValue::I32(step)])
}

#[test]
fn for_sums_0_to_n() {
    check(loop_sum(0, 10, 1), "[45]");
}

#[test]
fn for_with_step_3() {
    check(loop_sum(0, 10, 3), "[18]");
}

#[test]
fn for_with_negative_bounds() {
    check(loop_sum(-4, 0, 1), "[-10]");
}

#[test]
fn for_with_lower_at_upper_runs_zero_times() {
    check(loop_sum(5, 5, 1), "[0]");
}

#[test]
fn for_with_lower_above_upper_runs_zero_times() {
    check(loop_sum(5, -5, 1), "[0]");
}

#[test]
fn for_step_zero_is_an_error() {
    check(
        loop_sum(0, 10, 0),
        "error: `for` step is 0 (lower 0, upper 10) in program (0, 0, 0); the step must be positive",
    );
}

#[test]
fn for_negative_step_is_an_error_even_for_an_empty_range() {
    check(
        loop_sum(10, 0, -1),
        "error: `for` step is -1 (lower 10, upper 0) in program (0, 0, 0); the step must be positive",
    );
}

#[test]
fn for_induction_variable_does_not_wrap_past_upper() {
    // 0 and 2^30 are below upper; i32 arithmetic would wrap 2^31 to a negative and loop forever.
    check(loop_sum(0, i32::MAX, 1 << 30), "[1073741824]");
}

#[test]
fn for_carries_a_tile_and_a_scalar() {
    let mut b = KernelBuilder::new("carry", 1);
    let n = b.scalar_param("n", DType::I32);
    single_program(&mut b);
    let (zero, one, hi) = (b.const_i32(0), b.const_i32(1), b.arg(n));
    let ones = b.splat(one, vec![4]);
    let zeros = b.splat(zero, vec![4]);
    let out = b.for_loop(zero, hi, one, vec![zeros, zero], |b, iv, c| {
        let bumped = b.binary(BinaryOp::Add, c[0], ones);
        vec![bumped, b.binary(BinaryOp::Max, c[1], iv)]
    });
    let total = b.reduce(crate::ir::ReduceOp::Sum, out[0], 0);
    let value = b.binary(BinaryOp::Add, total, out[1]);
    store_out(&mut b, value);
    // 5 iterations: each of the 4 elements reaches 5 (sum 20), and the last iv is 4.
    check(run_to_out(&b.finish(), vec![ArgValue::I32(5)]), "[24]");
}

/// `if flag { 1 } else { 2 }`.
fn choose(flag: bool) -> String {
    let mut b = KernelBuilder::new("choose", 1);
    let p = b.scalar_param("flag", DType::Bool);
    single_program(&mut b);
    let cond = b.arg(p);
    let picked = b.if_(cond, vec![Type::scalar(DType::I32)], |b| vec![b.const_i32(1)], |b| vec![b.const_i32(2)]);
    store_out(&mut b, picked[0]);
    run_to_out(&b.finish(), vec![ArgValue::Bool(flag)])
}

#[test]
fn if_true_takes_the_then_block() {
    check(choose(true), "[1]");
}

#[test]
fn if_false_takes_the_else_block() {
    check(choose(false), "[2]");
}

#[test]
fn if_inside_for_sums_even_numbers() {
    let mut b = KernelBuilder::new("evens", 1);
    single_program(&mut b);
    let (zero, one, two, ten) = (b.const_i32(0), b.const_i32(1), b.const_i32(2), b.const_i32(10));
    let sum = b.for_loop(zero, ten, one, vec![zero], |b, iv, c| {
        let rem = b.binary(BinaryOp::Rem, iv, two);
        let even = b.cmp(CmpOp::Eq, rem, zero);
        let acc = c[0];
        b.if_(even, vec![Type::scalar(DType::I32)], |b| vec![b.binary(BinaryOp::Add, acc, iv)], |_| vec![acc])
    });
    store_out(&mut b, sum[0]);
    check(run_to_out(&b.finish(), vec![]), "[20]");
}
