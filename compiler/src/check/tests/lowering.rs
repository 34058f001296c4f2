//! Each construct lowers to the IR it should, and the result verifies.

use super::*;
use crate::ir::{DType, Index, Param};
use crate::syntax::examples;

fn int(v: i64) -> ConstValue {
    ConstValue::Int(v)
}

/// The literal of every `const` in the body, in order.
fn literals(k: &Kernel) -> Vec<ir::Literal> {
    insts(k).iter().filter_map(|i| if let Op::Const(l) = i.op { Some(l) } else { None }).collect()
}

/// The op that defines `v`.
fn def(k: &Kernel, v: ir::ValueId) -> Option<&Op> {
    insts(k).into_iter().find(|i| i.results.contains(&v)).map(|i| &i.op)
}

// ---- The shipped examples ---------------------------------------------------------

#[test]
fn vector_add_loads_twice_and_stores_once() {
    let k = lower(examples::VECTOR_ADD);
    assert_eq!((count(&k, "load"), count(&k, "add"), count(&k, "store")), (2, 1, 1));
}

#[test]
fn vector_add_tiles_are_block_wide() {
    assert_eq!(types_of(&lower(examples::VECTOR_ADD), "load"), ["bf16[1024]", "bf16[1024]"]);
}

#[test]
fn vector_add_computes_in_f32() {
    assert_eq!(types_of(&lower(examples::VECTOR_ADD), "add"), ["f32[1024]"]);
}

#[test]
fn vector_add_grid_is_cdiv_of_dim() {
    assert_eq!(
        grid_ops(&lower(examples::VECTOR_ADD)),
        ["dim", "const", "add", "const", "sub", "const", "div", "const", "const", "yield"]
    );
}

#[test]
fn vector_add_specializes_block() {
    let k = lower_with(examples::VECTOR_ADD, &[("BLOCK", int(256))]);
    assert_eq!(types_of(&k, "load"), ["bf16[256]", "bf16[256]"]);
}

#[test]
fn softmax_branches_on_row_length_at_run_time() {
    assert_eq!(count(&lower(examples::SOFTMAX), "if"), 1);
}

#[test]
fn softmax_online_loop_carries_max_and_sum() {
    assert_eq!(types_of(&lower(examples::SOFTMAX), "for"), ["f32", "f32"]);
}

#[test]
fn softmax_masks_every_load() {
    // The single-tile path masks BLOCK-wide tiles; the long-row path LOOP_BLOCK-wide ones.
    assert_eq!(types_of(&lower(examples::SOFTMAX), "select"), ["f32[4096]", "f32[1024]", "f32[1024]"]);
}

#[test]
fn softmax_reduces_in_both_paths() {
    let k = lower(examples::SOFTMAX);
    assert_eq!((count(&k, "reduce_max"), count(&k, "reduce_sum")), (2, 2));
}

#[test]
fn rmsnorm_loads_in_both_paths() {
    assert_eq!(count(&lower(examples::RMSNORM), "load"), 5);
}

#[test]
fn rmsnorm_loop_carries_the_sum_of_squares() {
    assert_eq!(types_of(&lower(examples::RMSNORM), "for"), ["f32[1024]"]);
}

#[test]
fn rmsnorm_warps() {
    assert_eq!(lower(examples::RMSNORM).num_warps, 8);
}

#[test]
fn rmsnorm_params() {
    let k = lower(examples::RMSNORM);
    let names: Vec<&str> = k.params.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["x", "w", "o", "eps"]);
}

#[test]
fn has_w_true_loads_the_weight() {
    assert_eq!(count(&lower(examples::RMSNORM_HAS_W), "load"), 3);
}

#[test]
fn has_w_false_skips_the_weight_load() {
    let k = lower_with(examples::RMSNORM_HAS_W, &[("HAS_W", ConstValue::Bool(false))]);
    assert_eq!(count(&k, "load"), 2);
}

#[test]
fn has_w_const_if_leaves_no_if_op() {
    assert_eq!(count(&lower(examples::RMSNORM_HAS_W), "if"), 0);
}

#[test]
fn has_w_loop_carries_the_accumulator() {
    assert_eq!(types_of(&lower(examples::RMSNORM_HAS_W), "for"), ["f32[1024]"]);
}

#[test]
fn consts_are_recorded_in_declaration_order() {
    let k = lower_with(examples::RMSNORM_HAS_W, &[("HAS_W", ConstValue::Bool(false)), ("BLOCK", int(128))]);
    assert_eq!(k.consts, [("BLOCK".to_string(), int(128)), ("HAS_W".to_string(), ConstValue::Bool(false))]);
}

// ---- Kernel header ----------------------------------------------------------------

#[test]
fn kernel_keeps_its_name() {
    assert_eq!(lower("kernel my_kernel() grid(1) { }").name, "my_kernel");
}

#[test]
fn warps_default_to_four() {
    assert_eq!(lower("kernel k() grid(1) { }").num_warps, 4);
}

#[test]
fn stages_default_to_two() {
    assert_eq!(lower("kernel k() grid(1) warps(8) { }").num_stages, ir::DEFAULT_STAGES);
    assert_eq!(ir::DEFAULT_STAGES, 2);
}

#[test]
fn stages_fold_from_consts_in_either_order_with_warps() {
    let src = "kernel k<S: i32 = 2>() grid(1) stages(S + 1) warps(2) { }";
    let k = lower(src);
    assert_eq!((k.num_stages, k.num_warps), (3, 2));
    assert_eq!(lower_with(src, &[("S", int(7))]).num_stages, 8);
}

#[test]
fn stages_is_still_an_ordinary_name() {
    // Only the header gives `stages` a meaning; a body may bind it.
    let k = lower("kernel k(o: tensor<i32>[N]) grid(1) stages(3) { let stages = 3; o[0] = stages; }");
    assert_eq!(k.num_stages, 3);
}

#[test]
fn occupancy_is_absent_unless_asked() {
    assert_eq!(lower("kernel k() grid(1) warps(8) stages(3) { }").occupancy, None);
}

#[test]
fn occupancy_folds_from_consts_in_any_order() {
    let src = "kernel k<P: i32 = 6>() grid(1) occupancy(P * 2) warps(1) stages(3) { }";
    assert_eq!(lower(src).occupancy, Some(12));
    assert_eq!(lower_with(src, &[("P", int(16))]).occupancy, Some(32));
}

#[test]
fn occupancy_is_still_an_ordinary_name() {
    let k = lower("kernel k(o: tensor<i32>[N]) grid(1) warps(1) occupancy(3) { let occupancy = 3; o[0] = occupancy; }");
    assert_eq!(k.occupancy, Some(3));
}

#[test]
fn warps_fold_from_consts() {
    assert_eq!(lower("kernel k<W: i32 = 4>() grid(1) warps(W * 2) { }").num_warps, 8);
}

#[test]
fn const_default_may_use_earlier_const() {
    let k = lower_with("kernel k<A: i32 = 8, B: i32 = A / 2>() grid(1) { }", &[("A", int(32))]);
    assert_eq!(k.consts[1], ("B".to_string(), int(16)));
}

#[test]
fn dim_named_after_const_is_fixed() {
    let k = lower("kernel k<D: i32 = 64>(x: tensor<f32>[N, D]) grid(1) { }");
    assert!(matches!(&k.params[0], Param::Tensor { const_dims, .. } if *const_dims == [None, Some(64)]));
}

#[test]
fn grid_pads_missing_axes_with_one() {
    let k = lower("kernel k(x: tensor<f32>[N, M]) grid(N, M) { }");
    assert_eq!(grid_ops(&k), ["dim", "dim", "const", "yield"]);
}

#[test]
fn grid_reads_scalar_params() {
    assert_eq!(
        grid_ops(&lower("kernel k(n: i32) grid(n + 1) { }")),
        ["arg", "const", "add", "const", "const", "yield"]
    );
}

#[test]
fn grid_may_select_with_where() {
    assert_eq!(
        grid_ops(&lower("kernel k(n: i32) grid(where(n > 0, n, 1)) { }"))[..4],
        ["arg", "const", "cmp_gt", "arg"]
    );
}

// ---- Names ------------------------------------------------------------------------

#[test]
fn scalar_param_reads_arg() {
    let k = lower(&kernel("o: tensor<f32>[N], s: f32", "o[0] = s;"));
    assert_eq!(types_of(&k, "arg"), ["f32"]);
}

#[test]
fn dim_name_reads_first_declaring_tensor() {
    let k = lower(&kernel("a: tensor<f32>[M], b: tensor<f32>[K, M], o: tensor<i32>[M]", "o[0] = K + M;"));
    let dims: Vec<(u32, u32)> = insts(&k)
        .iter()
        .filter_map(|i| match i.op {
            Op::Dim { tensor, axis } => Some((tensor.0, axis)),
            _ => None,
        })
        .collect();
    assert_eq!(dims, [(1, 0), (0, 0)]);
}

#[test]
fn let_of_constant_stays_constant() {
    let k = lower(&kernel("", "let n = 4 * 8;\nlet t = zeros([n]);"));
    assert_eq!((count(&k, "mul"), types_of(&k, "splat")), (0, vec!["f32[32]".to_string()]));
}

#[test]
fn shadowing_rebinds_a_name() {
    let k = lower(&kernel("o: tensor<f32>[N]", "let x = 1;\nlet x = 2.5;\no[0] = x;"));
    assert_eq!(types_of(&k, "const").last().map(String::as_str), Some("f32"));
}

// ---- Operators and literals -------------------------------------------------------

#[test]
fn int_literal_adapts_to_f32() {
    let k = lower(&kernel("o: tensor<f32>[N], s: f32", "o[0] = s * 2;"));
    let lits = literals(&k);
    assert!(lits.contains(&ir::Literal::Float(2.0)), "{lits:?}");
}

#[test]
fn scalar_with_tile_splats() {
    let k = lower(&kernel("o: tensor<f32>[N], s: f32", "o[0 .. 64] = zeros([64]) + s;"));
    assert_eq!(types_of(&k, "splat"), ["f32[64]", "f32[64]"]);
}

#[test]
fn size_one_dims_broadcast() {
    let k = lower(&kernel("", "let t = zeros([64, 1]) + zeros([1, 32]);"));
    assert_eq!(types_of(&k, "broadcast"), ["f32[64, 32]", "f32[64, 32]"]);
}

#[test]
fn comparison_gives_bool() {
    assert_eq!(types_of(&lower(&kernel("", "let c = arange(0, 16) < 5;")), "cmp_lt"), ["bool[16]"]);
}

#[test]
fn every_comparison_lowers() {
    let body =
        "let a = arange(0, 4);\nlet c = (a < 1) == (a <= 2) != (a > 3) == (a >= 0);\nlet d = a == a;\nlet e = a != a;";
    let k = lower(&kernel("", body));
    let ops = ["cmp_lt", "cmp_le", "cmp_gt", "cmp_ge", "cmp_eq", "cmp_ne"].map(|op| count(&k, op));
    assert_eq!(ops, [1, 1, 1, 1, 3, 2]);
}

#[test]
fn logic_ops_lower() {
    let k = lower(&kernel("p: bool, q: bool", "let r = !p && q || p;"));
    assert_eq!([count(&k, "not"), count(&k, "and"), count(&k, "or")], [1, 1, 1]);
}

#[test]
fn integer_ops_lower() {
    let k = lower(&kernel("n: i32", "let r = n % 3 / 2 - n;"));
    assert_eq!(types_of(&k, "rem").into_iter().chain(types_of(&k, "div")).collect::<Vec<_>>(), ["i32", "i32"]);
}

#[test]
fn negation_lowers() {
    assert_eq!(count(&lower(&kernel("s: f32", "let r = -s;")), "neg"), 1);
}

#[test]
fn constant_arithmetic_folds() {
    let k = lower(&kernel("o: tensor<i32>[N]", "o[0] = (3 + 4) * 2 - 10 / 3 % 2;"));
    let lits = literals(&k);
    assert_eq!(lits, [ir::Literal::Int(0), ir::Literal::Int(13)]);
}

#[test]
fn negative_infinity_is_a_literal() {
    let k = lower(&kernel("o: tensor<f32>[N]", "o[0] = -inf;"));
    let lits = literals(&k);
    assert!(lits.contains(&ir::Literal::Float(f64::NEG_INFINITY)), "{lits:?}");
}

// ---- Builtins ---------------------------------------------------------------------

#[test]
fn program_id_axis() {
    let k = lower(&kernel("", "let p = program_id(2);"));
    assert!(insts(&k).iter().any(|i| i.op == Op::ProgramId { axis: 2 }));
}

#[test]
fn arange_takes_const_length() {
    assert_eq!(types_of(&lower(&kernel("n: i32", "let r = arange(n, 32);")), "arange"), ["i32[32]"]);
}

#[test]
fn full_splats_value_dtype() {
    assert_eq!(
        types_of(&lower(&kernel("", "let a = full([4, 8], 3);\nlet b = full([2], 1.5);")), "splat"),
        ["i32[4, 8]", "f32[2]"]
    );
}

#[test]
fn zeros_is_f32() {
    assert_eq!(types_of(&lower(&kernel("", "let z = zeros([8, 2]);")), "splat"), ["f32[8, 2]"]);
}

#[test]
fn cdiv_lowers_to_add_sub_div() {
    let k = lower(&kernel("n: i32", "let c = cdiv(n, 64);"));
    assert_eq!([count(&k, "add"), count(&k, "sub"), count(&k, "div")], [1, 1, 1]);
}

#[test]
fn cdiv_of_constants_folds() {
    let k = lower("kernel k<N: i32 = 100>() grid(1) { let t = zeros([cdiv(N, 64) * 32]); }");
    assert_eq!(types_of(&k, "splat"), ["f32[64]"]);
}

#[test]
fn elementwise_min_max() {
    let k = lower(&kernel("", "let a = max(zeros([4]), 1.0);\nlet b = min(a, a);"));
    assert_eq!([count(&k, "max"), count(&k, "min")], [1, 1]);
}

#[test]
fn reductions_remove_the_axis() {
    let body = "let t = zeros([4, 8]);\nlet a = sum(t, axis: 1);\nlet b = max(t, axis: 0);\nlet c = min(a, axis: 0);";
    let k = lower(&kernel("", body));
    let got = ["reduce_sum", "reduce_max", "reduce_min"].map(|op| types_of(&k, op).join(","));
    assert_eq!(got, ["f32[4]", "f32[8]", "f32"]);
}

#[test]
fn math_functions_lower() {
    let k = lower(&kernel("s: f32", "let r = abs(rsqrt(sqrt(log2(exp(exp2(s))))));"));
    let got = ["exp2", "exp", "log2", "sqrt", "rsqrt", "abs"].map(|op| count(&k, op));
    assert_eq!(got, [1; 6]);
}

#[test]
fn math_on_int_literal_uses_f32() {
    assert_eq!(types_of(&lower(&kernel("", "let r = exp2(1);")), "exp2"), ["f32"]);
}

#[test]
fn where_broadcasts_condition_and_values() {
    let k = lower(&kernel(
        "",
        "let c = arange(0, 8)[:, None] < arange(0, 4)[None, :];\nlet r = where(c, zeros([8, 4]), -inf);",
    ));
    assert_eq!(types_of(&k, "select"), ["f32[8, 4]"]);
}

#[test]
fn cast_lowers_to_cast_op() {
    assert_eq!(types_of(&lower(&kernel("n: i32", "let f = cast<f32>(n);")), "cast"), ["f32"]);
}

#[test]
fn cast_to_same_dtype_is_dropped() {
    assert_eq!(count(&lower(&kernel("s: f32", "let f = cast<f32>(s);")), "cast"), 0);
}

#[test]
fn cast_of_constant_folds() {
    let k = lower("kernel k<N: i32 = 3>(o: tensor<f32>[M]) grid(1) { o[0] = cast<f32>(N) / 2; }");
    let lits = literals(&k);
    assert_eq!((count(&k, "cast"), lits.contains(&ir::Literal::Float(1.5))), (0, true));
}

// ---- Indexing ---------------------------------------------------------------------

fn load_indices(k: &Kernel) -> Vec<String> {
    insts(k)
        .iter()
        .filter_map(|i| match &i.op {
            Op::Load { indices, .. } => Some(
                indices
                    .iter()
                    .map(|x| match x {
                        Index::Point(_) => "point".to_string(),
                        Index::Range { len, .. } => format!("range {len}"),
                        Index::Gather(_) => "gather".to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            _ => None,
        })
        .collect()
}

#[test]
fn point_and_range_indices() {
    let k = lower(&kernel("x: tensor<f32>[N, D]", "let r = program_id(0);\nlet t = x[r, r * 2 .. r * 2 + 16];"));
    assert_eq!(load_indices(&k), ["point, range 16"]);
}

#[test]
fn range_length_may_come_first() {
    assert_eq!(
        load_indices(&lower(&kernel("x: tensor<f32>[N]", "let c = program_id(0);\nlet t = x[c .. 8 + c];"))),
        ["range 8"]
    );
}

#[test]
fn range_between_constants() {
    assert_eq!(load_indices(&lower(&kernel("x: tensor<f32>[N]", "let t = x[32 .. 64];"))), ["range 32"]);
}

#[test]
fn full_range_over_const_dim() {
    let k = lower("kernel k<D: i32 = 64>(x: tensor<f32>[N, D]) grid(1) { let t = x[0, ..]; }");
    assert_eq!(load_indices(&k), ["point, range 64"]);
}

#[test]
fn scalar_load_has_scalar_type() {
    assert_eq!(types_of(&lower(&kernel("x: tensor<bf16>[N]", "let t = x[3];")), "load"), ["bf16"]);
}

#[test]
fn expand_dims_inserts_axes() {
    let k = lower(&kernel("", "let t = arange(0, 8);\nlet a = t[:, None];\nlet b = t[None, :];"));
    assert_eq!(types_of(&k, "expand_dims"), ["i32[8, 1]", "i32[1, 8]"]);
}

#[test]
fn store_splats_a_scalar() {
    let k = lower(&kernel("o: tensor<f32>[N]", "o[0 .. 16] = 1.0;"));
    assert_eq!(types_of(&k, "splat"), ["f32[16]"]);
}

#[test]
fn store_of_bool_tensor() {
    assert_eq!(count(&lower(&kernel("o: tensor<bool>[N]", "o[0 .. 4] = arange(0, 4) > 1;")), "store"), 1);
}

// ---- Control flow -----------------------------------------------------------------

fn for_inits(k: &Kernel) -> Vec<usize> {
    insts(k).iter().filter_map(|i| if let Op::For { init, .. } = &i.op { Some(init.len()) } else { None }).collect()
}

#[test]
fn for_without_step_uses_one() {
    let k = lower(&kernel("n: i32", "for i in 0 .. n { }"));
    let step = insts(&k).iter().find_map(|i| if let Op::For { step, .. } = i.op { Some(step) } else { None });
    assert_eq!(step.and_then(|s| def(&k, s)), Some(&Op::Const(ir::Literal::Int(1))));
}

#[test]
fn loop_variable_is_i32() {
    let k = lower(&kernel("o: tensor<i32>[N]", "for i in (0 .. 8).step_by(2) { o[i] = i; }"));
    let iv =
        insts(&k).iter().find_map(|i| if let Op::For { body, .. } = &i.op { body.args.first().copied() } else { None });
    assert_eq!(iv.map(|v| k.value_type(v).to_string()), Some("i32".to_string()));
}

#[test]
fn loop_carries_only_assigned_outer_vars() {
    let body = "let mut a = 0;\nlet mut b = 0.0;\nlet mut c = 1;\nfor i in 0 .. 4 { a = a + i; b = b + 1.0; }";
    assert_eq!(for_inits(&lower(&kernel("", body))), [2]);
}

#[test]
fn loop_local_shadow_is_not_carried() {
    let body = "let mut a = 0;\nfor i in 0 .. 4 { let mut a = 1; a = a + i; }";
    assert_eq!(for_inits(&lower(&kernel("", body))), [0]);
}

#[test]
fn nested_loops_carry_through_both() {
    let body = "let mut a = 0;\nfor i in 0 .. 4 { for j in 0 .. i { a = a + j; } }";
    assert_eq!(for_inits(&lower(&kernel("", body))), [1, 1]);
}

#[test]
fn value_after_loop_is_the_loop_result() {
    let k = lower(&kernel("o: tensor<i32>[N]", "let mut a = 0;\nfor i in 0 .. 4 { a = a + i; }\no[0] = a;"));
    let for_result = insts(&k).iter().find(|i| matches!(i.op, Op::For { .. })).map(|i| i.results[0]);
    let stored = insts(&k).iter().find_map(|i| if let Op::Store { value, .. } = i.op { Some(value) } else { None });
    assert_eq!(stored, for_result);
}

#[test]
fn runtime_if_statement_yields_assigned_vars() {
    let k = lower(&kernel("p: bool", "let mut a = 0;\nlet mut b = 1.0;\nif p { a = 1; } else { b = 2.0; }"));
    assert_eq!(types_of(&k, "if"), ["i32", "f32"]);
}

#[test]
fn runtime_if_without_else() {
    assert_eq!(types_of(&lower(&kernel("p: bool", "let mut a = 0;\nif p { a = 5; }")), "if"), ["i32"]);
}

#[test]
fn else_if_chain_nests_ifs() {
    let k = lower(&kernel("n: i32", "let mut a = 0;\nif n < 0 { a = 1; } else if n > 0 { a = 2; } else { a = 3; }"));
    assert_eq!(types_of(&k, "if"), ["i32", "i32"]);
}

#[test]
fn if_inside_loop_carries_through_both() {
    let k = lower(&kernel("p: bool", "let mut a = 0;\nfor i in 0 .. 4 { if p { a = a + i; } }"));
    assert_eq!((for_inits(&k), types_of(&k, "if")), (vec![1], vec!["i32".to_string()]));
}

#[test]
fn const_if_lowers_only_the_taken_branch() {
    let k = lower(
        "kernel k<C: bool = false>(o: tensor<f32>[N]) grid(1) { if C { o[0] = undefined_name; } else { o[1] = 2.0; } }",
    );
    assert_eq!((count(&k, "if"), count(&k, "store")), (0, 1));
}

#[test]
fn runtime_if_expression_has_one_result() {
    assert_eq!(
        types_of(&lower(&kernel("p: bool", "let r = if p { zeros([4]) } else { full([4], 1.0) };")), "if"),
        ["f32[4]"]
    );
}

#[test]
fn if_expression_else_if_chain() {
    let k = lower(&kernel("n: i32", "let r = if n < 0 { -1 } else if n > 0 { 1 } else { 0 };"));
    assert_eq!(types_of(&k, "if"), ["i32", "i32"]);
}

#[test]
fn where_of_constants_folds() {
    let k = lower(&kernel("o: tensor<f32>[N]", "o[0] = where(true && !false, 1, 2.5);"));
    let lits = literals(&k);
    assert_eq!((count(&k, "select"), lits.contains(&ir::Literal::Float(1.0))), (0, true));
}

#[test]
fn if_expression_literal_branch_adapts() {
    assert_eq!(types_of(&lower(&kernel("p: bool, s: f32", "let r = if p { s } else { 0 };")), "if"), ["f32"]);
}

#[test]
fn dtype_of_loaded_tensor_matches_param() {
    let k = lower(&kernel("x: tensor<f16>[N]", "let t = cast<f32>(x[0 .. 8]);"));
    assert_eq!(types_of(&k, "load"), ["f16[8]"]);
}

#[test]
fn deepest_accepted_nesting_lowers() {
    // Just under the parser's depth limit; the checker recurses as deep.
    let nested = format!("{}1{}", "(".repeat(40), ")".repeat(40));
    let chain = vec!["1"; 40].join(" + ");
    let k = lower(&kernel("o: tensor<i32>[N]", &format!("o[0] = {nested} + {chain};")));
    assert_eq!(count(&k, "store"), 1);
}

#[test]
fn params_keep_dtypes() {
    let k = lower(&kernel("x: tensor<i32>[N], f: bool", ""));
    let dtypes: Vec<DType> = k.params.iter().map(|p| p.dtype()).collect();
    assert_eq!(dtypes, [DType::I32, DType::Bool]);
}

#[test]
fn tile_index_lowers_to_a_gather_load() {
    let k = lower(&kernel("k: tensor<bf16>[N, D], cols: tensor<i32>[M]", "let t = k[cols[0 .. 16], 0 .. 64];"));
    assert_eq!(types_of(&k, "load"), ["i32[16]", "bf16[16, 64]"]);
}

#[test]
fn tile_index_is_a_gather_index() {
    let k = lower(&kernel("k: tensor<bf16>[N, D], cols: tensor<i32>[M]", "let t = k[cols[0 .. 16], 0 .. 64];"));
    assert_eq!(load_indices(&k), ["range 16", "gather, range 64"]);
}
