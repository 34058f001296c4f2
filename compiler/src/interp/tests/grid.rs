//! Grid evaluation and the order programs run in.

use super::*;
use crate::ir::BinaryOp;

/// Grid `(cdiv(N, 256), 1, 1)` over `x: tensor<f32>[N]`.
fn cdiv_kernel() -> Kernel {
    let mut b = KernelBuilder::new("cdiv", 1);
    let x = b.tensor_param("x", DType::F32, &["N"]);
    b.grid(|b| {
        let n = b.dim(x, 0);
        let (block, one) = (b.const_i32(256), b.const_i32(1));
        let block_minus_one = b.const_i32(255);
        let padded = b.binary(BinaryOp::Add, n, block_minus_one);
        [b.binary(BinaryOp::Div, padded, block), one, one]
    });
    b.finish()
}

fn render_grid(result: Result<[u32; 3], InterpError>) -> String {
    match result {
        Ok(sizes) => format!("{sizes:?}"),
        Err(e) => format!("error: {e}"),
    }
}

fn cdiv_grid(n: usize) -> String {
    render_grid(eval_grid(&cdiv_kernel(), &[GridArg::Tensor { dtype: DType::F32, shape: &[n] }]))
}

/// Grid `(n, y, 3)` over scalar arguments `n` and `y`.
fn scalar_grid(n: i32, y: i32) -> String {
    let mut b = KernelBuilder::new("scalars", 1);
    let (np, yp) = (b.scalar_param("n", DType::I32), b.scalar_param("y", DType::I32));
    b.grid(|b| [b.arg(np), b.arg(yp), b.const_i32(3)]);
    render_grid(eval_grid(&b.finish(), &[GridArg::I32(n), GridArg::I32(y)]))
}

#[test]
fn cdiv_rounds_a_partial_block_up() {
    check(cdiv_grid(1000), "[4, 1, 1]");
}

#[test]
fn cdiv_of_an_exact_multiple() {
    check(cdiv_grid(1024), "[4, 1, 1]");
}

#[test]
fn cdiv_one_past_a_multiple() {
    check(cdiv_grid(1025), "[5, 1, 1]");
}

#[test]
fn cdiv_of_zero_is_an_empty_grid() {
    check(cdiv_grid(0), "[0, 1, 1]");
}

#[test]
fn grid_reads_scalar_arguments() {
    check(scalar_grid(7, 2), "[7, 2, 3]");
}

#[test]
fn negative_grid_size_is_an_error() {
    check(scalar_grid(7, -1), "error: grid size along axis 1 is -1; supported sizes are 0 ..= 2147483647");
}

#[test]
fn grid_arguments_are_validated() {
    let got = eval_grid(&cdiv_kernel(), &[GridArg::Tensor { dtype: DType::BF16, shape: &[8] }]);
    check(render_grid(got), "error: argument `x` must have dtype f32; got bf16");
}

/// Each program bumps a counter in `out[0]` and records the count it saw at
/// `out[1 + x + 2y + 4z]`, so `out` shows the order programs ran in.
#[test]
fn programs_run_axis_0_fastest_and_see_earlier_stores() {
    let mut b = KernelBuilder::new("order", 1);
    let out = b.tensor_param("out", DType::I32, &["N"]);
    b.grid(|b| {
        let two = b.const_i32(2);
        [two, two, two]
    });
    let zero = b.const_i32(0);
    let one = b.const_i32(1);
    let count = b.load(out, vec![Index::Point(zero)]);
    let count = b.binary(BinaryOp::Add, count, one);
    b.store(out, vec![Index::Point(zero)], count);
    let (x, y, z) = (b.program_id(0), b.program_id(1), b.program_id(2));
    let (two, four) = (b.const_i32(2), b.const_i32(4));
    let y2 = b.binary(BinaryOp::Mul, y, two);
    let z4 = b.binary(BinaryOp::Mul, z, four);
    let slot = b.binary(BinaryOp::Add, x, y2);
    let slot = b.binary(BinaryOp::Add, slot, z4);
    let slot = b.binary(BinaryOp::Add, slot, one);
    b.store(out, vec![Index::Point(slot)], count);
    let mut args = vec![ArgValue::Tensor(HostTensor::zeros(DType::I32, &[9]))];
    let got = run(&b.finish(), &mut args).map(|()| match args.pop() {
        Some(ArgValue::Tensor(t)) => t,
        other => panic!("the output argument changed kind: {other:?}"),
    });
    check(render_result(got), "[8, 1, 2, 3, 4, 5, 6, 7, 8]");
}

#[test]
fn empty_grid_runs_no_program() {
    let mut b = KernelBuilder::new("empty", 1);
    let out = b.tensor_param("out", DType::F32, &["N"]);
    b.grid(|b| {
        let (zero, one) = (b.const_i32(0), b.const_i32(1));
        [one, zero, one]
    });
    let value = b.const_f32(1.0);
    let zero = b.const_i32(0);
    b.store(out, vec![Index::Point(zero)], value);
    let mut args = vec![ArgValue::Tensor(HostTensor::filled(DType::F32, &[1], f64::NAN))];
    let got = run(&b.finish(), &mut args).map(|()| match args.pop() {
        Some(ArgValue::Tensor(t)) => t,
        other => panic!("the output argument changed kind: {other:?}"),
    });
    check(render_result(got), "[NaN]");
}

#[test]
fn load_in_the_grid_block_is_an_error() {
    let mut b = KernelBuilder::new("grid_load", 1);
    let n = b.tensor_param("n", DType::I32, &["ONE"]);
    b.grid(|b| {
        let zero = b.const_i32(0);
        let first = b.load(n, vec![Index::Point(zero)]);
        [first, first, first]
    });
    let got = eval_grid(&b.finish(), &[GridArg::Tensor { dtype: DType::I32, shape: &[1] }]);
    check(
        render_grid(got),
        "error: `load` cannot run in the grid block: it is evaluated on the host from shapes and scalar arguments only",
    );
}

#[test]
fn program_id_in_the_grid_block_is_an_error() {
    let mut b = KernelBuilder::new("grid_pid", 1);
    b.grid(|b| {
        let id = b.program_id(0);
        [id, id, id]
    });
    check(
        render_grid(eval_grid(&b.finish(), &[])),
        "error: `program_id` cannot run in the grid block: it is evaluated on the host from shapes and scalar arguments only",
    );
}
