//! One test per op and dtype class, on hand-computed values.

use super::*;
use crate::ir::{BinaryOp, CmpOp, Literal, Op, ReduceOp, UnaryOp};

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;
const I32_MIN: f64 = i32::MIN as f64;
const I32_MAX: f64 = i32::MAX as f64;

fn binary(op: BinaryOp, dtype: DType, a: &[f64], b: &[f64]) -> String {
    render_result(eval_tiles(&[tensor(dtype, a), tensor(dtype, b)], |k, v| k.binary(op, v[0], v[1])))
}

fn unary(op: UnaryOp, dtype: DType, a: &[f64]) -> String {
    render_result(eval_tiles(&[tensor(dtype, a)], |k, v| k.unary(op, v[0])))
}

/// Compares `[1, 2, 3, NaN]` with `[2, 2, 2, NaN]`.
fn cmp(op: CmpOp) -> String {
    let (a, b) = (tensor(DType::F32, &[1.0, 2.0, 3.0, NAN]), tensor(DType::F32, &[2.0, 2.0, 2.0, NAN]));
    render_result(eval_tiles(&[a, b], |k, v| k.cmp(op, v[0], v[1])))
}

fn cast(from: DType, to: DType, a: &[f64]) -> String {
    render_result(eval_tiles(&[tensor(from, a)], |k, v| k.cast(v[0], to)))
}

/// Reduces `[[1, 2, 3, 4], [10, NaN, -inf, 40]]` along `axis`.
fn reduce_2x4(op: ReduceOp, axis: u32) -> String {
    let t = HostTensor::from_f64(DType::F32, &[2, 4], vec![1.0, 2.0, 3.0, 4.0, 10.0, NAN, -INF, 40.0]);
    render_result(eval_tiles(&[t], |k, v| k.reduce(op, v[0], axis)))
}

fn reduce_1d(op: ReduceOp, dtype: DType, a: &[f64]) -> String {
    render_result(eval_tiles(&[tensor(dtype, a)], |k, v| k.reduce(op, v[0], 0)))
}

/// A program without inputs: `f` builds the stored value.
fn build(f: impl FnOnce(&mut KernelBuilder) -> ValueId) -> String {
    render_result(eval_tiles(&[], |k, _| f(k)))
}

// ---- binary, floats ----

#[test]
fn f32_add_rounds_once_to_nearest_even() {
    let eps = f64::powi(2.0, -24);
    check(
        binary(BinaryOp::Add, DType::F32, &[1.5, 1.0, 1.0, 3e38], &[2.25, eps, 3.0 * eps, 3e38]),
        "[3.75, 1.0, 1.000000238418579, inf]",
    );
}

#[test]
fn bf16_add_rounds_to_8_significant_bits() {
    let e = f64::powi(2.0, -8);
    check(
        binary(BinaryOp::Add, DType::BF16, &[1.0, 1.0, 1.0, 256.0], &[e, 3.0 * e, 2.0 * e, 1.0]),
        "[1.0, 1.015625, 1.0078125, 256.0]",
    );
}

#[test]
fn f16_add_rounds_and_overflows_to_inf() {
    let a = [1.0, 2048.0, 65504.0, 0.5];
    check(
        binary(BinaryOp::Add, DType::F16, &a, &[f64::powi(2.0, -11), 1.0, 65504.0, f64::powi(2.0, -25)]),
        "[1.0, 2048.0, inf, 0.5]",
    );
}

#[test]
fn f32_sub() {
    check(binary(BinaryOp::Sub, DType::F32, &[5.0, 0.5, -1.0, INF], &[3.0, 0.25, -1.0, INF]), "[2.0, 0.25, 0.0, NaN]");
}

#[test]
fn f32_mul() {
    check(
        binary(BinaryOp::Mul, DType::F32, &[1.5, -2.0, 1e30, 0.0], &[4.0, 3.0, 1e30, -1.0]),
        "[6.0, -6.0, inf, -0.0]",
    );
}

#[test]
fn f32_div_follows_ieee_at_zero() {
    check(
        binary(BinaryOp::Div, DType::F32, &[1.0, 1.0, -1.0, 0.0], &[3.0, 0.0, 0.0, 0.0]),
        "[0.3333333432674408, inf, -inf, NaN]",
    );
}

#[test]
fn f32_max_ignores_nan() {
    check(binary(BinaryOp::Max, DType::F32, &[NAN, 1.0, -INF, 2.0], &[3.0, NAN, 5.0, -1.0]), "[3.0, 1.0, 5.0, 2.0]");
}

#[test]
fn f32_min_ignores_nan() {
    check(binary(BinaryOp::Min, DType::F32, &[NAN, 1.0, -INF, 2.0], &[3.0, NAN, 5.0, -1.0]), "[3.0, 1.0, -inf, -1.0]");
}

#[test]
fn f32_max_of_two_nans_is_nan() {
    check(binary(BinaryOp::Max, DType::F32, &[NAN, 1.0], &[NAN, 1.0]), "[NaN, 1.0]");
}

#[test]
fn f32_rem_is_unsupported() {
    check(
        binary(BinaryOp::Rem, DType::F32, &[1.0], &[1.0]),
        "error: `rem` is not defined on f32 (supported: add, sub, mul, div, max, min)",
    );
}

// ---- binary, i32 ----

#[test]
fn i32_add_wraps() {
    check(
        binary(BinaryOp::Add, DType::I32, &[I32_MAX, -5.0, 0.0, 1.0], &[1.0, 3.0, 0.0, -1.0]),
        "[-2147483648, -2, 0, 0]",
    );
}

#[test]
fn i32_sub_wraps() {
    check(
        binary(BinaryOp::Sub, DType::I32, &[I32_MIN, 5.0, 0.0, 7.0], &[1.0, 8.0, -3.0, 7.0]),
        "[2147483647, -3, 3, 0]",
    );
}

#[test]
fn i32_mul_wraps_exactly() {
    // (2^31 - 1)^2 = 2^62 - 2^32 + 1: f64 would lose the low bits that survive the wrap.
    check(
        binary(BinaryOp::Mul, DType::I32, &[65536.0, -3.0, I32_MAX, 7.0], &[65536.0, 4.0, I32_MAX, 0.0]),
        "[0, -12, 1, 0]",
    );
}

#[test]
fn i32_div_truncates_toward_zero() {
    check(binary(BinaryOp::Div, DType::I32, &[7.0, -7.0, 7.0, -7.0], &[2.0, 2.0, -2.0, -2.0]), "[3, -3, -3, 3]");
}

#[test]
fn i32_rem_takes_the_dividends_sign() {
    check(binary(BinaryOp::Rem, DType::I32, &[7.0, -7.0, 7.0, -7.0], &[2.0, 2.0, -2.0, -2.0]), "[1, -1, 1, -1]");
}

#[test]
fn i32_div_of_min_by_minus_one_wraps() {
    check(binary(BinaryOp::Div, DType::I32, &[I32_MIN, 0.0], &[-1.0, 5.0]), "[-2147483648, 0]");
}

#[test]
fn i32_div_by_zero_is_an_error() {
    check(
        binary(BinaryOp::Div, DType::I32, &[1.0, 2.0], &[1.0, 0.0]),
        "error: integer `div` by zero in program (0, 0, 0); the divisor must be nonzero in every element, masked ones included",
    );
}

#[test]
fn i32_rem_by_zero_is_an_error() {
    check(
        binary(BinaryOp::Rem, DType::I32, &[1.0, 2.0], &[0.0, 1.0]),
        "error: integer `rem` by zero in program (0, 0, 0); the divisor must be nonzero in every element, masked ones included",
    );
}

#[test]
fn i32_max() {
    check(
        binary(BinaryOp::Max, DType::I32, &[-1.0, 5.0, 0.0, I32_MIN], &[1.0, 3.0, 0.0, I32_MAX]),
        "[1, 5, 0, 2147483647]",
    );
}

#[test]
fn i32_min() {
    check(
        binary(BinaryOp::Min, DType::I32, &[-1.0, 5.0, 0.0, I32_MIN], &[1.0, 3.0, 0.0, I32_MAX]),
        "[-1, 3, 0, -2147483648]",
    );
}

// ---- binary, bool ----

#[test]
fn bool_and() {
    check(
        binary(BinaryOp::And, DType::Bool, &[1.0, 1.0, 0.0, 0.0], &[1.0, 0.0, 1.0, 0.0]),
        "[true, false, false, false]",
    );
}

#[test]
fn bool_or() {
    check(binary(BinaryOp::Or, DType::Bool, &[1.0, 1.0, 0.0, 0.0], &[1.0, 0.0, 1.0, 0.0]), "[true, true, true, false]");
}

#[test]
fn bool_add_is_unsupported() {
    check(
        binary(BinaryOp::Add, DType::Bool, &[1.0], &[1.0]),
        "error: `add` is not defined on bool (supported: and, or)",
    );
}

// ---- unary ----

#[test]
fn f32_neg() {
    check(unary(UnaryOp::Neg, DType::F32, &[1.5, -0.0, INF, NAN]), "[-1.5, 0.0, -inf, NaN]");
}

#[test]
fn i32_neg_wraps() {
    check(unary(UnaryOp::Neg, DType::I32, &[5.0, I32_MIN, 0.0, -7.0]), "[-5, -2147483648, 0, 7]");
}

#[test]
fn f32_abs() {
    check(unary(UnaryOp::Abs, DType::F32, &[-1.5, -0.0, -INF, 2.0]), "[1.5, 0.0, inf, 2.0]");
}

#[test]
fn i32_abs_wraps() {
    check(unary(UnaryOp::Abs, DType::I32, &[-5.0, I32_MIN, 3.0, 0.0]), "[5, -2147483648, 3, 0]");
}

#[test]
fn f32_exp() {
    check(unary(UnaryOp::Exp, DType::F32, &[0.0, 1.0, -INF, 100.0]), "[1.0, 2.7182817459106445, 0.0, inf]");
}

#[test]
fn f32_exp2() {
    check(unary(UnaryOp::Exp2, DType::F32, &[3.0, -1.0, 0.5, 128.0]), "[8.0, 0.5, 1.4142135381698608, inf]");
}

#[test]
fn f32_exp2_flushes_results_below_the_smallest_normal() {
    check(unary(UnaryOp::Exp2, DType::F32, &[-126.0, -127.0, -200.0]), "[1.1754943508222875e-38, 0.0, 0.0]");
}

#[test]
fn f32_exp_flushes_results_below_the_smallest_normal() {
    check(unary(UnaryOp::Exp, DType::F32, &[-87.0, -88.0]), "[1.6458114537543937e-38, 0.0]");
}

#[test]
fn f32_log2() {
    check(unary(UnaryOp::Log2, DType::F32, &[8.0, 0.25, 0.0, -1.0]), "[3.0, -2.0, -inf, NaN]");
}

#[test]
fn f32_sqrt() {
    check(unary(UnaryOp::Sqrt, DType::F32, &[4.0, 2.0, 0.0, -1.0]), "[2.0, 1.4142135381698608, 0.0, NaN]");
}

#[test]
fn f32_rsqrt() {
    check(unary(UnaryOp::Rsqrt, DType::F32, &[4.0, 0.25, 0.0, INF]), "[0.5, 2.0, inf, 0.0]");
}

#[test]
fn bf16_rsqrt_rounds_to_bf16() {
    // 1/sqrt(3) = 0.57735... = 1.1547 * 2^-1, and 1.1547 * 128 = 147.8 rounds to 148.
    check(unary(UnaryOp::Rsqrt, DType::BF16, &[3.0]), "[0.578125]");
}

#[test]
fn bool_not() {
    check(unary(UnaryOp::Not, DType::Bool, &[1.0, 0.0]), "[false, true]");
}

#[test]
fn i32_exp_is_unsupported() {
    check(unary(UnaryOp::Exp, DType::I32, &[1.0]), "error: `exp` is not defined on i32 (supported: neg, abs)");
}

// ---- comparisons ----

#[test]
fn cmp_lt() {
    check(cmp(CmpOp::Lt), "[true, false, false, false]");
}

#[test]
fn cmp_le() {
    check(cmp(CmpOp::Le), "[true, true, false, false]");
}

#[test]
fn cmp_gt() {
    check(cmp(CmpOp::Gt), "[false, false, true, false]");
}

#[test]
fn cmp_ge() {
    check(cmp(CmpOp::Ge), "[false, true, true, false]");
}

#[test]
fn cmp_eq() {
    check(cmp(CmpOp::Eq), "[false, true, false, false]");
}

#[test]
fn cmp_ne_is_true_for_nan() {
    check(cmp(CmpOp::Ne), "[true, false, true, true]");
}

#[test]
fn cmp_i32_is_signed() {
    let (a, b) = (tensor(DType::I32, &[-1.0, I32_MIN]), tensor(DType::I32, &[0.0, I32_MAX]));
    check(render_result(eval_tiles(&[a, b], |k, v| k.cmp(CmpOp::Lt, v[0], v[1]))), "[true, true]");
}

// ---- select ----

#[test]
fn select_picks_per_element() {
    let cond = tensor(DType::Bool, &[1.0, 0.0, 1.0, 0.0]);
    let (a, b) = (tensor(DType::F32, &[1.0, 2.0, 3.0, 4.0]), tensor(DType::F32, &[10.0, 20.0, 30.0, 40.0]));
    check(render_result(eval_tiles(&[cond, a, b], |k, v| k.select(v[0], v[1], v[2]))), "[1.0, 20.0, 3.0, 40.0]");
}

// ---- casts ----

#[test]
fn cast_f32_to_bf16_rounds_to_nearest_even() {
    check(
        cast(DType::F32, DType::BF16, &[1.00390625, 1.01171875, 65664.0, -0.1]),
        "[1.0, 1.015625, 65536.0, -0.10009765625]",
    );
}

#[test]
fn cast_f32_to_f16_overflows_and_underflows() {
    check(cast(DType::F32, DType::F16, &[65520.0, 65519.0, 1e-8, 0.1]), "[inf, 65504.0, 0.0, 0.0999755859375]");
}

#[test]
fn cast_f32_to_i32_truncates_and_saturates() {
    check(cast(DType::F32, DType::I32, &[2.7, -2.7, 3e9, NAN]), "[2, -2, 2147483647, 0]");
}

#[test]
fn cast_f32_to_i32_saturates_below_and_at_infinities() {
    check(cast(DType::F32, DType::I32, &[-3e9, -0.5, INF, -INF]), "[-2147483648, 0, 2147483647, -2147483648]");
}

#[test]
fn cast_i32_to_f32_rounds_to_nearest_even() {
    check(
        cast(DType::I32, DType::F32, &[16777217.0, -16777219.0, I32_MAX, 3.0]),
        "[16777216.0, -16777220.0, 2147483648.0, 3.0]",
    );
}

#[test]
fn cast_i32_to_bf16_rounds() {
    check(cast(DType::I32, DType::BF16, &[257.0, 259.0]), "[256.0, 260.0]");
}

#[test]
fn cast_bf16_to_f32_is_exact() {
    check(cast(DType::BF16, DType::F32, &[1.0078125, -3.0]), "[1.0078125, -3.0]");
}

#[test]
fn cast_bool_to_f32() {
    check(cast(DType::Bool, DType::F32, &[1.0, 0.0]), "[1.0, 0.0]");
}

#[test]
fn cast_bool_to_i32() {
    check(cast(DType::Bool, DType::I32, &[1.0, 0.0]), "[1, 0]");
}

#[test]
fn cast_f32_to_bool_is_nonzero_nan_included() {
    check(cast(DType::F32, DType::Bool, &[0.0, -0.0, NAN, 0.5]), "[false, false, true, true]");
}

#[test]
fn cast_i32_to_bool() {
    check(cast(DType::I32, DType::Bool, &[0.0, -3.0, 7.0, 1.0]), "[false, true, true, true]");
}

// ---- reductions ----

#[test]
fn reduce_sum_axis_0() {
    check(reduce_2x4(ReduceOp::Sum, 0), "[11.0, NaN, -inf, 44.0]");
}

#[test]
fn reduce_sum_axis_1() {
    check(reduce_2x4(ReduceOp::Sum, 1), "[10.0, NaN]");
}

#[test]
fn reduce_max_axis_0_ignores_nan() {
    check(reduce_2x4(ReduceOp::Max, 0), "[10.0, 2.0, 3.0, 40.0]");
}

#[test]
fn reduce_max_axis_1_ignores_nan() {
    check(reduce_2x4(ReduceOp::Max, 1), "[4.0, 40.0]");
}

#[test]
fn reduce_min_axis_0() {
    check(reduce_2x4(ReduceOp::Min, 0), "[1.0, 2.0, -inf, 4.0]");
}

#[test]
fn reduce_min_axis_1() {
    check(reduce_2x4(ReduceOp::Min, 1), "[1.0, -inf]");
}

#[test]
fn reduce_rank_1_gives_a_scalar() {
    check(reduce_1d(ReduceOp::Sum, DType::F32, &[1.0, 2.0, 3.0, 4.0]), "[10.0]");
}

#[test]
fn bf16_sum_rounds_once_at_the_end() {
    // Adding one at a time in bf16 would stay at 256 (256 + 1 ties to even).
    check(reduce_1d(ReduceOp::Sum, DType::BF16, &[256.0, 1.0, 1.0, 0.0]), "[258.0]");
}

#[test]
fn i32_sum_wraps() {
    check(reduce_1d(ReduceOp::Sum, DType::I32, &[I32_MAX, 1.0, 2.0, 0.0]), "[-2147483646]");
}

#[test]
fn i32_max_reduce() {
    check(reduce_1d(ReduceOp::Max, DType::I32, &[-7.0, I32_MIN, -3.0, -9.0]), "[-3]");
}

#[test]
fn bool_reduce_is_unsupported() {
    check(
        reduce_1d(ReduceOp::Max, DType::Bool, &[0.0, 1.0]),
        "error: `reduce_max` is not defined on bool (supported: reductions of i32, f16, bf16 and f32)",
    );
}

// ---- tile construction ----

#[test]
fn arange_counts_from_start() {
    check(
        build(|k| {
            let start = k.const_i32(5);
            k.arange(start, 4)
        }),
        "[5, 6, 7, 8]",
    );
}

#[test]
fn arange_wraps_past_i32_max() {
    check(
        build(|k| {
            let start = k.const_i32(2147483646);
            k.arange(start, 4)
        }),
        "[2147483646, 2147483647, -2147483648, -2147483647]",
    );
}

#[test]
fn splat_fills_the_shape() {
    check(
        build(|k| {
            let x = k.const_f32(2.5);
            k.splat(x, vec![2, 2])
        }),
        "[2.5, 2.5, 2.5, 2.5]",
    );
}

#[test]
fn const_rounds_to_its_dtype() {
    check(build(|k| k.push(Op::Const(Literal::Float(0.1)), Type::scalar(DType::BF16))), "[0.10009765625]");
}

#[test]
fn expand_dims_0_then_broadcast_repeats_rows() {
    let t = tensor(DType::F32, &[1.0, 2.0, 3.0, 4.0]);
    let got = eval_tiles(&[t], |k, v| {
        let row = k.expand_dims(v[0], 0);
        k.broadcast(row, vec![2, 4])
    });
    check(render_result(got), "[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]");
}

#[test]
fn expand_dims_1_then_broadcast_repeats_columns() {
    let t = tensor(DType::F32, &[1.0, 2.0, 3.0, 4.0]);
    let got = eval_tiles(&[t], |k, v| {
        let column = k.expand_dims(v[0], 1);
        k.broadcast(column, vec![4, 2])
    });
    check(render_result(got), "[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]");
}

#[test]
fn trans_swaps_rows_and_columns() {
    let t = HostTensor::from_f64(DType::BF16, &[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    check(render_result(eval_tiles(&[t], |k, v| k.trans(v[0]))), "[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]");
}

/// `a [m, k] @ b [k, n]` for bf16 inputs given as row-major data.
fn dot(m: usize, k: usize, n: usize, a: Vec<f64>, b: Vec<f64>) -> Result<HostTensor, InterpError> {
    let a = HostTensor::from_f64(DType::BF16, &[m, k], a);
    let b = HostTensor::from_f64(DType::BF16, &[k, n], b);
    eval_tiles(&[a, b], |kb, v| kb.dot(v[0], v[1]))
}

#[test]
fn dot_sums_products_over_k() {
    // a[i][p] = i + p, b[p][j] = p == j: the product is a's first 8 columns.
    let a: Vec<f64> = (0..16 * 16).map(|x| f64::from(x / 16 + x % 16)).collect();
    let b: Vec<f64> = (0..16 * 8).map(|x| f64::from(u8::from(x / 8 == x % 8))).collect();
    let out = dot(16, 16, 8, a, b).map(|t| t.data[5 * 8 + 3]);
    check(format!("{out:?}"), "Ok(8.0)");
}

#[test]
fn dot_rounds_once_to_f32() {
    // 1 + 2^-24 + 2^-24: a step-by-step f32 sum stays at 1, one rounding of the exact sum does not.
    let tiny = 2f64.powi(-24);
    let mut a = vec![0.0; 16 * 16];
    a[..3].copy_from_slice(&[1.0, tiny, tiny]);
    let out = dot(16, 16, 8, a, vec![1.0; 16 * 8]).map(|t| t.data[0]);
    check(format!("{out:?}"), "Ok(1.0000001192092896)");
}

#[test]
fn dot_result_is_f32() {
    check(format!("{:?}", dot(16, 16, 8, vec![0.5; 256], vec![0.25; 128]).map(|t| t.dtype)), "Ok(F32)");
}
