//! Every rule the checker enforces, each with its message and position.

use super::*;
use crate::diag::DiagKind;
use crate::syntax::examples;

fn kind_of(src: &str) -> Option<DiagKind> {
    try_lower(src, &[]).err().and_then(|d| d.0.first().map(|d| d.kind))
}

// ---- The error kinds the brief names ----------------------------------------------

#[test]
fn syntax_error_through_the_pipeline() {
    assert_eq!(errors("kernel k() grid(1) {\n    let x = (1 + 2;\n}"), "2:19: expected `)`, found `;`");
}

#[test]
fn int_plus_float_says_to_cast() {
    assert_eq!(
        errors(&kernel("n: i32, s: f32", "    let r = n + s;")),
        "2:13: cannot apply `+` to i32 and f32; there is no implicit conversion, use cast<f32>(...)"
    );
}

#[test]
fn unknown_name_suggests_close_match() {
    assert_eq!(
        errors(&kernel("", "    let row = 1;\n    let y = rwo + 1;")),
        "3:13: unknown name `rwo`; did you mean `row`?"
    );
}

#[test]
fn unknown_name_kind() {
    assert_eq!(kind_of(&kernel("", "let y = nope;")), Some(DiagKind::UnknownName));
}

#[test]
fn unknown_const_lists_the_kernels_consts() {
    assert_eq!(
        errors_with(examples::RMSNORM_HAS_W, &[("BLOK", ConstValue::Int(64))]),
        "1:8: kernel `rmsnorm` has no const parameter `BLOK`; its consts are BLOCK, HAS_W; did you mean `BLOCK`?"
    );
}

#[test]
fn unknown_const_on_kernel_without_consts() {
    assert_eq!(
        errors_with("kernel k() grid(1) { }", &[("A", ConstValue::Int(1))]),
        "1:8: kernel `k` has no const parameters; got `A`"
    );
}

#[test]
fn non_power_of_two_shape() {
    assert_eq!(errors(&kernel("", "    let r = arange(0, 96);")), "2:23: tile shape must be a power of two; got 96");
}

#[test]
fn non_power_of_two_from_const() {
    assert_eq!(
        errors_with("kernel k<B: i32 = 64>() grid(1) {\n    let z = zeros([B]);\n}", &[("B", ConstValue::Int(48))]),
        "2:20: tile shape must be a power of two; got 48"
    );
}

#[test]
fn tile_too_large_in_total() {
    assert_eq!(
        errors(&kernel("", "    let z = zeros([2048, 1024]);")),
        "2:13: a tile of shape [2048, 1024] has 2097152 elements; at most 1048576 (2^20) are supported"
    );
}

#[test]
fn load_too_large_in_total() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N, M]", "    let t = x[0 .. 2048, 0 .. 1024];")),
        "2:13: a tile of shape [2048, 1024] has 2097152 elements; at most 1048576 (2^20) are supported"
    );
}

#[test]
fn assignment_to_non_mut() {
    assert_eq!(
        errors(&kernel("", "    let x = 1;\n    x = 2;")),
        "3:5: cannot assign to `x`: it is not declared `mut`"
    );
}

#[test]
fn assignment_to_non_mut_notes_the_fix() {
    let notes = try_lower(&kernel("", "let x = 1;\nx = 2;"), &[]).err().map(|d| d.0[0].notes.clone());
    assert_eq!(notes, Some(vec!["declare it with `let mut x = ...` to assign to it".to_string()]));
}

#[test]
fn wrong_number_of_indices() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N, D]", "    let t = x[0 .. 16];")),
        "2:13: `x` has 2 dimensions [N, D]; got 1 index, one per dimension is needed"
    );
}

#[test]
fn full_range_on_runtime_dim() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N, D]", "    let t = x[0, ..];")),
        "2:18: `..` needs the size of `x`'s dimension `D` at compile time, but `D` is a runtime size; \
         declare `D` as a const parameter or index with `lo .. lo + LEN`"
    );
}

#[test]
fn bf16_arithmetic() {
    assert_eq!(
        errors(&kernel("x: tensor<bf16>[N]", "    let t = x[0 .. 8] * 2.0;")),
        "2:13: arithmetic on bf16 is not supported; cast<f32>(x) first"
    );
}

#[test]
fn store_dtype_mismatch() {
    assert_eq!(
        errors(&kernel("o: tensor<bf16>[N]", "    o[0 .. 8] = zeros([8]);")),
        "2:17: cannot store f32 into `o` (tensor<bf16>); convert with cast<bf16>(...)"
    );
}

#[test]
fn warps_not_power_of_two() {
    assert_eq!(errors("kernel k() grid(1) warps(3) { }"), "1:26: `warps` must be a power of two from 1 to 32; got 3");
}

#[test]
fn warps_too_large() {
    assert_eq!(errors("kernel k() grid(1) warps(64) { }"), "1:26: `warps` must be a power of two from 1 to 32; got 64");
}

#[test]
fn stages_below_two() {
    let why = "(a loop reads one stage while the next is copied)";
    assert_eq!(errors("kernel k() grid(1) stages(1) { }"), format!("1:27: `stages` must be from 2 to 8; got 1 {why}"));
    assert_eq!(errors("kernel k() grid(1) stages(0) { }"), format!("1:27: `stages` must be from 2 to 8; got 0 {why}"));
    assert_eq!(
        errors("kernel k() grid(1) stages(-3) { }"),
        format!("1:27: `stages` must be from 2 to 8; got -3 {why}")
    );
}

#[test]
fn stages_too_many() {
    assert_eq!(errors("kernel k() grid(1) warps(4) stages(9) { }"), "1:36: `stages` must be from 2 to 8; got 9");
}

#[test]
fn stages_from_a_const_override_are_checked() {
    let src = "kernel k<S: i32 = 2>() grid(1) stages(S) { }";
    assert_eq!(
        errors_with(src, &[("S", ConstValue::Int(1))]),
        "1:39: `stages` must be from 2 to 8; got 1 (a loop reads one stage while the next is copied)"
    );
}

#[test]
fn stages_from_a_parameter() {
    assert_eq!(
        errors("kernel k(n: i32) grid(1) stages(n) { }"),
        "1:33: `stages` must be a compile-time constant; parameter `n` is not"
    );
}

#[test]
fn header_option_given_twice() {
    assert_eq!(
        errors("kernel k() grid(1) stages(3) warps(4) stages(4) { }"),
        "1:39: `stages` is given twice; a kernel takes each option once"
    );
}

#[test]
fn unknown_header_option() {
    assert_eq!(
        errors("kernel k() grid(1) stage(3) { }"),
        "1:20: unknown kernel option `stage`; the options are warps(E), groups(E), stages(E) and occupancy(E)"
    );
}

/// The error for `occupancy(n)` on a kernel of `warps` warps, at its argument.
fn occupancy_error(warps: u32, n: u32) -> String {
    errors(&format!("kernel k() grid(1) warps({warps}) occupancy({n}) {{ }}"))
}

/// The message `occupancy_error` should give: the range for `threads` threads a program.
fn occupancy_range(most: u32, threads: u32, got: u32) -> String {
    format!(
        "1:39: `occupancy` must be from 1 to {most} programs an SM for {threads} threads a program (an SM holds \
         at most 32 programs and 2048 threads); got {got}"
    )
}

#[test]
fn occupancy_zero() {
    assert_eq!(occupancy_error(1, 0), occupancy_range(32, 32, 0));
}

#[test]
fn occupancy_past_the_threads_an_sm_holds() {
    assert_eq!(occupancy_error(8, 9), occupancy_range(8, 256, 9));
}

#[test]
fn occupancy_past_the_programs_an_sm_holds() {
    assert_eq!(occupancy_error(1, 33), occupancy_range(32, 32, 33));
}

#[test]
fn occupancy_given_twice() {
    assert_eq!(
        errors("kernel k() grid(1) occupancy(2) occupancy(4) { }"),
        "1:33: `occupancy` is given twice; a kernel takes each option once"
    );
}

// ---- Kernel selection and consts --------------------------------------------------

const TWO: &str = "kernel a() grid(1) { }\nkernel b() grid(1) { }";

#[test]
fn several_kernels_need_a_name() {
    assert_eq!(errors(TWO), "1:8: this file has 2 kernels (a, b); name the one to compile");
}

#[test]
fn kernel_chosen_by_name() {
    let k = parse(TWO).ok().and_then(|f| crate::check::specialize(&f, Some("b"), &[]).ok());
    assert_eq!(k.map(|k| k.name), Some("b".to_string()));
}

#[test]
fn unknown_kernel_name_lists_kernels() {
    let e = parse(TWO).ok().and_then(|f| crate::check::specialize(&f, Some("c"), &[]).err());
    assert_eq!(e.map(|e| e.to_string()), Some("no kernel named `c`; this file has: a, b".to_string()));
}

#[test]
fn const_without_default_must_be_given() {
    assert_eq!(
        errors("kernel k<B: i32>() grid(1) { }"),
        "1:10: const parameter `B` has no default and no value was given"
    );
}

#[test]
fn const_override_of_wrong_type() {
    assert_eq!(
        errors_with("kernel k<B: i32 = 4>() grid(1) { }", &[("B", ConstValue::Bool(true))]),
        "1:10: const `B` is i32; got the value `true`"
    );
}

#[test]
fn const_override_out_of_range() {
    assert_eq!(
        errors_with("kernel k<B: i32 = 4>() grid(1) { }", &[("B", ConstValue::Int(1 << 40))]),
        "1:10: value 1099511627776 for const `B` does not fit in i32"
    );
}

#[test]
fn const_given_twice() {
    let twice = [("B", ConstValue::Int(1)), ("B", ConstValue::Int(2))];
    assert_eq!(errors_with("kernel k<B: i32 = 4>() grid(1) { }", &twice), "1:8: const `B` is given twice");
}

#[test]
fn const_default_of_wrong_type() {
    assert_eq!(
        errors("kernel k<B: i32 = 1.5>() grid(1) { }"),
        "1:19: the default of `B: i32` must be an i32; got f32 `1.5`"
    );
}

#[test]
fn const_default_must_be_constant() {
    assert_eq!(
        errors("kernel k<B: i32 = program_id(0)>() grid(1) { }"),
        "1:19: a const default must be a compile-time constant; `program_id` is not"
    );
}

#[test]
fn warps_from_a_parameter() {
    assert_eq!(
        errors("kernel k(n: i32) grid(1) warps(n) { }"),
        "1:32: `warps` must be a compile-time constant; parameter `n` is not"
    );
}

#[test]
fn const_overflow() {
    assert_eq!(
        errors(&kernel("", "    let z = zeros([65536 * 65536]);")),
        "2:20: constant expression `65536 * 65536` overflows i32"
    );
}

#[test]
fn const_division_by_zero() {
    assert_eq!(
        errors("kernel k<A: i32 = 0>() grid(1) { let z = 4 / A; }"),
        "1:42: division by zero in constant expression `4 / 0`"
    );
}

// ---- Declarations -----------------------------------------------------------------

#[test]
fn duplicate_param() {
    assert_eq!(errors("kernel k(x: f32, x: i32) grid(1) { }"), "1:18: `x` is declared twice in this kernel");
}

#[test]
fn param_named_like_const() {
    assert_eq!(errors("kernel k<x: i32 = 1>(x: f32) grid(1) { }"), "1:22: `x` is declared twice in this kernel");
}

#[test]
fn dim_named_like_param() {
    assert_eq!(
        errors("kernel k(n: i32, x: tensor<f32>[n]) grid(1) { }"),
        "1:33: dimension `n` has the name of a parameter; use a different name"
    );
}

#[test]
fn dim_fixed_by_bool_const() {
    assert_eq!(
        errors("kernel k<D: bool = true>(x: tensor<f32>[D]) grid(1) { }"),
        "1:41: dimension `D` of `x` names the bool const `D`; a size must be i32"
    );
}

#[test]
fn dim_fixed_to_zero() {
    assert_eq!(
        errors("kernel k<D: i32 = 0>(x: tensor<f32>[D]) grid(1) { }"),
        "1:37: dimension `D` of `x` is fixed to 0 by const `D`; sizes must be at least 1"
    );
}

// ---- Grid -------------------------------------------------------------------------

#[test]
fn grid_cannot_use_program_id() {
    assert_eq!(
        errors("kernel k() grid(program_id(0)) { }"),
        "1:17: `program_id` cannot be used in a grid size; grid sizes are i32 scalars computed on the host"
    );
}

#[test]
fn grid_size_must_be_i32() {
    assert_eq!(errors("kernel k(s: f32) grid(s) { }"), "1:23: a grid size must be an i32 scalar; got f32");
}

#[test]
fn grid_cannot_load() {
    assert_eq!(
        errors("kernel k(x: tensor<i32>[N]) grid(x[0]) { }"),
        "1:34: a tensor load cannot be used in a grid size; grid sizes are i32 scalars computed on the host"
    );
}

#[test]
fn grid_cannot_branch_at_run_time() {
    assert_eq!(
        errors("kernel k(p: bool) grid(if p { 1 } else { 2 }) { }"),
        "1:24: an `if` on a run-time condition cannot be used in a grid size; use where(c, a, b)"
    );
}

#[test]
fn grid_cannot_use_locals() {
    assert_eq!(errors("kernel k() grid(row) { let row = 1; }"), "1:17: unknown name `row`");
}

// ---- Expressions ------------------------------------------------------------------

#[test]
fn tensor_used_as_value() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N]", "    let y = x;")),
        "2:13: tensor `x` cannot be used as a value; index it to load a tile: `x[...]`"
    );
}

#[test]
fn unknown_function_suggests() {
    assert_eq!(
        errors(&kernel("", "    let y = summ(zeros([4]), axis: 0);")),
        "2:13: unknown function `summ`; did you mean `sum`?"
    );
}

#[test]
fn wrong_arity() {
    assert_eq!(
        errors(&kernel("", "    let y = arange(0);")),
        "2:13: `arange` is called as `arange(start, LEN)`; got 1 argument"
    );
}

#[test]
fn min_arity_shows_both_forms() {
    assert_eq!(
        errors(&kernel("", "    let y = min(1);")),
        "2:13: `min` is called as `min(a, b)` or `min(t, axis: k)`; got 1 argument"
    );
}

#[test]
fn sum_needs_axis() {
    assert_eq!(
        errors(&kernel("", "    let y = sum(zeros([4]));")),
        "2:13: `sum` is called as `sum(t, axis: k)`; got 1 argument"
    );
}

#[test]
fn unexpected_keyword_argument() {
    assert_eq!(
        errors(&kernel("", "    let y = arange(0, 4, step: 2);")),
        "2:26: `arange` has no argument `step`; only reductions take one keyword, `axis:`"
    );
}

#[test]
fn axis_on_elementwise_function() {
    assert_eq!(
        errors(&kernel("", "    let y = exp2(zeros([4]), axis: 0);")),
        "2:13: `exp2` takes no `axis:` argument; it is called as `exp2(x)`"
    );
}

#[test]
fn rank_mismatch_does_not_broadcast() {
    assert_eq!(
        errors(&kernel("", "    let y = zeros([4]) + zeros([4, 8]);")),
        "2:13: cannot broadcast f32[4] with f32[4, 8]: ranks differ (1 vs 2); add size-1 dimensions with t[:, None] or t[None, :]"
    );
}

#[test]
fn float_literal_does_not_adapt_to_int() {
    assert_eq!(
        errors(&kernel("n: i32", "    let y = n * 0.5;")),
        "2:13: cannot apply `*` to i32 and f32; there is no implicit conversion, use cast<f32>(...)"
    );
}

#[test]
fn rem_on_float() {
    assert_eq!(
        errors(&kernel("s: f32", "    let y = s % 2;")),
        "2:13: `%` needs i32 operands; got f32; use cast<i32>(...)"
    );
}

#[test]
fn logic_on_int() {
    assert_eq!(errors(&kernel("n: i32", "    let y = n && n;")), "2:13: `&&` needs bool operands; got i32");
}

#[test]
fn math_on_int_value() {
    assert_eq!(
        errors(&kernel("n: i32", "    let y = exp2(n);")),
        "2:13: `exp2` needs f32 operands; got i32; use cast<f32>(...)"
    );
}

#[test]
fn reduce_bf16() {
    assert_eq!(
        errors(&kernel("x: tensor<bf16>[N]", "    let y = sum(x[0 .. 8], axis: 0);")),
        "2:13: arithmetic on bf16 is not supported; cast<f32>(x) first"
    );
}

#[test]
fn reduce_axis_out_of_range() {
    assert_eq!(
        errors(&kernel("", "    let y = sum(zeros([4, 8]), axis: 2);")),
        "2:38: axis 2 is out of range for f32[4, 8]; axes are 0..2"
    );
}

#[test]
fn reduce_a_scalar() {
    assert_eq!(
        errors(&kernel("s: f32", "    let y = max(s, axis: 0);")),
        "2:17: `max` reduces a tile; got the scalar type f32"
    );
}

#[test]
fn program_id_axis_out_of_range() {
    assert_eq!(errors(&kernel("", "    let p = program_id(3);")), "2:24: `program_id` axis must be 0, 1 or 2; got 3");
}

#[test]
fn shape_must_be_constant() {
    assert_eq!(
        errors(&kernel("n: i32", "    let z = zeros([n]);")),
        "2:20: a tile shape must be a compile-time constant"
    );
}

#[test]
fn shape_must_be_a_list() {
    assert_eq!(
        errors(&kernel("", "    let z = zeros(4);")),
        "2:19: a tile shape is written as a list: `[64]`, `[BM, BN]`"
    );
}

#[test]
fn list_outside_shape() {
    assert_eq!(
        errors(&kernel("", "    let z = [1, 2];")),
        "2:13: a list `[...]` is only allowed as the shape argument of `full` and `zeros`"
    );
}

#[test]
fn full_needs_scalar_value() {
    assert_eq!(
        errors(&kernel("", "    let z = full([4], zeros([4]));")),
        "2:23: `full` fills a tile with a scalar; got f32[4]"
    );
}

#[test]
fn where_condition_must_be_bool() {
    assert_eq!(errors(&kernel("", "    let z = where(1, 2, 3);")), "2:19: the `where` condition must be bool; got i32");
}

#[test]
fn cast_out_of_range_constant() {
    assert_eq!(
        errors(&kernel("", "    let z = cast<i32>(1e10);")),
        "2:13: cast<i32>(10000000000.0) does not fit in i32"
    );
}

// ---- Indexing ---------------------------------------------------------------------

#[test]
fn range_length_must_be_constant() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N], n: i32", "    let t = x[0 .. n];")),
        "2:15: the length of a range must be a compile-time constant; write it as `lo .. lo + LEN`"
    );
}

#[test]
fn range_length_power_of_two() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N]", "    let c = 4;\n    let t = x[c .. c + 12];")),
        "3:24: tile shape must be a power of two; got 12"
    );
}

#[test]
fn gather_indices_must_be_i32() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N]", "    let t = x[cast<f32>(arange(0, 4))];")),
        "2:15: gather indices must be i32; got f32"
    );
}

#[test]
fn gather_indices_must_be_rank_1() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N]", "    let i = arange(0, 4);\n    let t = x[i[:, None] + i[None, :]];")),
        "3:15: gather indices must be a rank-1 tile; got i32[4, 4]"
    );
}

#[test]
fn scatter_indices_must_be_i32() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N]", "    x[cast<f32>(arange(0, 4))] = x[0 .. 4];")),
        "2:7: gather indices must be i32; got f32"
    );
}

#[test]
fn a_scattered_value_must_have_the_scattered_shape() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N]", "    x[arange(0, 4)] = x[0 .. 8];")),
        "2:23: the stored value has type f32[8], but `x[...]` selects a tile of shape f32[4]"
    );
}

#[test]
fn float_index() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N]", "    let t = x[1.5];")),
        "2:15: a tensor index must be an i32 scalar; got f32"
    );
}

#[test]
fn none_on_a_tensor() {
    assert_eq!(
        errors(&kernel("x: tensor<f32>[N]", "    let t = x[None];")),
        "2:15: `:` and `None` reshape tile values; index tensor `x` with a position, `lo .. lo + LEN` or `..`"
    );
}

#[test]
fn range_on_a_tile_value() {
    assert_eq!(
        errors(&kernel("", "    let t = zeros([8]);\n    let u = t[0 .. 4];")),
        "3:15: a tile value is indexed only with `:` and `None`; load from a tensor parameter to select elements"
    );
}

#[test]
fn expand_dims_keeps_wrong_count() {
    assert_eq!(
        errors(&kernel("", "    let t = zeros([8]);\n    let u = t[:, :, None];")),
        "3:13: `[...]` keeps 2 dimensions with `:`, but the value f32[8] has rank 1"
    );
}

#[test]
fn full_range_over_non_power_of_two_const_dim() {
    assert_eq!(
        errors("kernel k<D: i32 = 96>(x: tensor<f32>[D]) grid(1) {\n    let t = x[..];\n}"),
        "2:15: `..` over `D` of `x`: tile shape must be a power of two; got 96"
    );
}

// ---- Statements -------------------------------------------------------------------

#[test]
fn assignment_changes_type() {
    assert_eq!(
        errors(&kernel("", "    let mut acc = zeros([8]);\n    acc = zeros([4]);")),
        "3:11: a value assigned to `acc` must have type f32[8]; got f32[4]"
    );
}

#[test]
fn assignment_to_parameter() {
    assert_eq!(
        errors(&kernel("s: f32", "    s = 1.0;")),
        "2:5: cannot assign to `s`: it is a parameter; copy it with `let mut` first"
    );
}

#[test]
fn assignment_to_loop_variable() {
    assert_eq!(
        errors(&kernel("", "    for i in 0 .. 4 { i = 1; }")),
        "2:23: cannot assign to `i`: it is not declared `mut`"
    );
}

#[test]
fn assignment_to_unknown() {
    assert_eq!(errors(&kernel("", "    zz = 1;")), "2:5: unknown name `zz`");
}

#[test]
fn store_shape_mismatch() {
    assert_eq!(
        errors(&kernel("o: tensor<f32>[N]", "    o[0 .. 8] = zeros([16]);")),
        "2:17: the stored value has type f32[16], but `o[...]` selects a tile of shape f32[8]"
    );
}

#[test]
fn store_to_scalar_param() {
    assert_eq!(
        errors(&kernel("s: f32", "    s[0] = 1.0;")),
        "2:5: only tensor parameters can be stored to; `s` is a scalar parameter"
    );
}

#[test]
fn store_to_local() {
    assert_eq!(
        errors(&kernel("", "    let t = zeros([4]);\n    t[0] = 1.0;")),
        "3:5: only tensor parameters can be stored to; `t` is a local variable"
    );
}

#[test]
fn loop_step_must_be_positive() {
    assert_eq!(
        errors(&kernel("", "    for i in (0 .. 8).step_by(0) { }")),
        "2:31: a loop step must be positive; got 0"
    );
}

#[test]
fn loop_bound_must_be_i32() {
    assert_eq!(
        errors(&kernel("s: f32", "    for i in 0 .. s { }")),
        "2:19: a loop bound must be an i32 scalar; got f32"
    );
}

#[test]
fn if_condition_must_be_bool() {
    assert_eq!(errors(&kernel("n: i32", "    if n { }")), "2:8: `if` condition must be a bool scalar; got i32");
}

#[test]
fn if_condition_tile_suggests_where() {
    assert_eq!(
        errors(&kernel("", "    if arange(0, 4) < 2 { }")),
        "2:8: `if` condition must be a bool scalar; got bool[4]; use where(c, a, b) to select elementwise"
    );
}

#[test]
fn if_expression_branches_differ() {
    assert_eq!(
        errors(&kernel("p: bool", "    let r = if p { zeros([4]) } else { 1.0 };")),
        "2:40: the `else` branch must have type f32[4]; got f32"
    );
}

// ---- Error collection -------------------------------------------------------------

#[test]
fn independent_errors_are_all_reported() {
    assert_eq!(
        errors(&kernel("", "    let a = nope1;\n    let b = nope2;")),
        "2:13: unknown name `nope1`\n3:13: unknown name `nope2`"
    );
}

#[test]
fn both_operands_report() {
    assert_eq!(
        errors(&kernel("", "    let a = nope1 + nope2;")),
        "2:13: unknown name `nope1`\n2:21: unknown name `nope2`"
    );
}

#[test]
fn failed_let_does_not_cascade() {
    assert_eq!(errors(&kernel("", "    let a = nope;\n    let b = a + 1;")), "2:13: unknown name `nope`");
}

#[test]
fn errors_inside_loops_and_branches_are_reported() {
    assert_eq!(
        errors(&kernel(
            "p: bool",
            "    for i in 0 .. 4 {\n        if p { let x = bad1; } else { let y = bad2; }\n    }"
        )),
        "3:24: unknown name `bad1`\n3:47: unknown name `bad2`"
    );
}

#[test]
fn untaken_const_branch_is_not_checked() {
    assert_eq!(errors("kernel k<C: bool = false>() grid(1) { let y = if C { nope } else { 1 }; }"), "no error");
}
