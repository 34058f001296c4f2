//! `bin_sum(x, bins, N)`: what it lowers to, and each rule's error at the offending argument.

use super::*;

const XO: &str = "x: tensor<f32>[M, N], i: tensor<i32>[M, N], o: tensor<f32>[K]";

/// A kernel with the const `BN = 8` storing `bin_sum(ARGS)` into `o[0 .. 16]`, after `x`, an
/// f32[4, 8] tile, and `t`, an i32[4, 8] one.
fn with_args(args: &str) -> String {
    format!(
        "kernel k<BN: i32 = 8>({XO}) grid(1) {{\n    let x = x[0 .. 4, 0 .. 8];\n    let t = i[0 .. 4, 0 .. 8];\n    \
         o[0 .. 16] = bin_sum({args});\n}}"
    )
}

#[test]
fn bin_sum_lowers_to_one_bin_sum_op() {
    assert_eq!(count(&lower(&with_args("x, t, 16")), "bin_sum"), 1);
}

#[test]
fn bin_sum_result_is_f32_of_n_bins() {
    assert_eq!(types_of(&lower(&with_args("x, t, 16")), "bin_sum"), ["f32[16]"]);
}

#[test]
fn bin_sum_count_may_be_a_const_expression() {
    assert_eq!(types_of(&lower(&with_args("x, t, BN * 2")), "bin_sum"), ["f32[16]"]);
}

#[test]
fn bin_sum_broadcasts_its_bins() {
    assert_eq!(count(&lower(&with_args("x, arange(0, 8)[None, :], 16")), "broadcast"), 1);
}

#[test]
fn bin_sum_counts_with_a_literal() {
    assert_eq!(count(&lower(&with_args("1, t, 16")), "splat"), 1);
}

#[test]
fn bin_sum_takes_three_arguments() {
    assert_eq!(errors(&with_args("x, t")), "4:18: `bin_sum` is called as `bin_sum(x, bins, N)`; got 2 arguments");
}

#[test]
fn bin_sum_count_must_be_a_power_of_two() {
    assert_eq!(
        errors(&with_args("x, t, 12")),
        "4:32: the `bin_sum` bin count N must be a power of two from 1 to 1048576 (2^20), the length of its result; \
         got 12"
    );
}

#[test]
fn bin_sum_count_must_be_positive() {
    assert!(errors(&with_args("x, t, 0")).ends_with("got 0"));
}

#[test]
fn bin_sum_count_must_be_constant() {
    let src = kernel("x: tensor<f32>[M], i: tensor<i32>[M], n: i32", "    let s = bin_sum(x[0 .. 8], i[0 .. 8], n);");
    assert_eq!(errors(&src), "2:43: the `bin_sum` bin count N must be a compile-time constant");
}

#[test]
fn bin_sum_of_i32_values_is_i32() {
    let src = with_args("t, t, 16").replace("o: tensor<f32>[K]", "o: tensor<i32>[K]");
    assert_eq!(types_of(&lower(&src), "bin_sum"), ["i32[16]"]);
}

#[test]
fn bin_sum_values_must_be_f32_or_i32() {
    assert_eq!(
        errors(&with_args("x < 0.5, t, 16")),
        "4:26: `bin_sum` sums f32 or i32 values; got x: bool[4, 8] (cast<f32>(...) first)"
    );
}

#[test]
fn bin_sum_bins_must_be_i32() {
    assert_eq!(errors(&with_args("x, x, 16")), "4:29: `bin_sum` bins must be i32; got bins: f32[4, 8]");
}

#[test]
fn bin_sum_shapes_must_broadcast() {
    assert_eq!(
        errors(&with_args("x, i[0, 0 .. 4], 16")),
        "4:18: `bin_sum` x and bins must broadcast to one shape: cannot broadcast f32[4, 8] with i32[4]: ranks differ \
         (2 vs 1); add size-1 dimensions with t[:, None] or t[None, :]"
    );
}

#[test]
fn bin_sum_of_scalars_is_rejected() {
    assert_eq!(errors(&with_args("1.0, 3, 16")), "4:18: `bin_sum` sums a tile; got the scalars x: f32 and bins: i32");
}
