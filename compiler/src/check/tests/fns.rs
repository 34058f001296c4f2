//! Helper fns: a call lowers to exactly the IR of its body written in place, and
//! every rule on definitions, calls and results has its message and position.

use super::*;
use crate::ir::print::print_kernel;

/// The printed IR of `fns` followed by a kernel with `body`, which gets a
/// 128-wide f32 tile `x` and stores `y` (both may be redefined by the body).
fn ir_of(fns: &str, body: &str) -> String {
    let src = format!(
        "{fns}\nkernel k(a: tensor<f32>[M], o: tensor<f32>[M]) grid(1) {{\n\
         let x = a[0 .. 128];\n{body}\no[0 .. 128] = y;\n}}"
    );
    print_kernel(&lower(&src))
}

/// Errors of `fns` followed by a kernel with `body` and the tile `x` (f32[128]),
/// each error with its notes.
fn fn_errors(fns: &str, body: &str) -> String {
    let src = format!("{fns}\nkernel k(a: tensor<f32>[M]) grid(1) {{\nlet x = a[0 .. 128];\n{body}\n}}");
    match try_lower(&src, &[]) {
        Ok(_) => "no error".to_string(),
        Err(ds) => {
            ds.0.iter()
                .map(|d| {
                    let (line, col) = d.line_col(&src);
                    let notes: String = d.notes.iter().map(|n| format!("\n  note: {n}")).collect();
                    format!("{line}:{col}: {}{notes}", d.message)
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

const SCALE: &str = "fn scale<N: i32>(x: f32[N], k: f32) -> f32[N] { x * k }";

const ONLINE_UPDATE: &str = "
fn online_update<N: i32>(m: f32, l: f32, s: f32[N]) -> (f32, f32) {
    let m_new = max(m, max(s, axis: 0));
    (m_new, l * exp2(m - m_new) + sum(exp2(s - m_new), axis: 0))
}";

// ---- Calls lower to the inlined body ------------------------------------------------

#[test]
fn helper_used_twice_matches_hand_inlined_code() {
    assert_eq!(
        ir_of(SCALE, "let t = scale(x, 2.0);\nlet y = scale(t, 3);"),
        ir_of("", "let t = x * 2.0;\nlet y = t * 3;")
    );
}

#[test]
fn tuple_result_matches_hand_inlined_code() {
    let hand = "let m_new = max(-inf, max(x, axis: 0));\n\
                let l = 0.0 * exp2(-inf - m_new) + sum(exp2(x - m_new), axis: 0);\n\
                let y = x * l;";
    assert_eq!(ir_of(ONLINE_UPDATE, "let (m, l) = online_update(-inf, 0.0, x);\nlet y = x * l;"), ir_of("", hand));
}

#[test]
fn nested_calls_match_hand_inlined_code() {
    let fns = format!("{SCALE}\nfn twice<N: i32>(x: f32[N]) -> f32[N] {{ scale(scale(x, 2.0), 2.0) }}");
    assert_eq!(ir_of(&fns, "let y = twice(x);"), ir_of("", "let y = x * 2.0 * 2.0;"));
}

#[test]
fn loop_carried_online_update_matches_hand_inlined_code() {
    let with_fn = "let mut m = -inf;\nlet mut l = 0.0;\n\
                   for i in 0 .. 4 { let (m_new, l_new) = online_update(m, l, x); l = l_new; m = m_new; }\n\
                   let y = x * l;";
    let hand = "let mut m = -inf;\nlet mut l = 0.0;\n\
                for i in 0 .. 4 { let m_new = max(m, max(x, axis: 0)); \
                l = l * exp2(m - m_new) + sum(exp2(x - m_new), axis: 0); m = m_new; }\n\
                let y = x * l;";
    assert_eq!(ir_of(ONLINE_UPDATE, with_fn), ir_of("", hand));
}

#[test]
fn const_generics_are_inferred_from_argument_shapes() {
    let fns = "fn row_sums<R: i32, C: i32>(t: f32[R, C]) -> f32[R] { sum(t, axis: 1) }";
    let k =
        lower(&format!("{fns}\nkernel k(a: tensor<f32>[M, K]) grid(1) {{ let s = row_sums(a[0 .. 16, 0 .. 64]); }}"));
    assert_eq!(types_of(&k, "reduce_sum"), ["f32[16]"]);
}

#[test]
fn a_const_generic_is_a_constant_in_the_body() {
    let fns = "fn halves<N: i32>(x: f32[N]) -> f32[N] { x * 0.5 + zeros([N]) }";
    assert_eq!(types_of(&lower(&format!("{fns}\n{}", kernel_using("halves(x)"))), "splat"), ["f32[128]", "f32[128]"]);
}

#[test]
fn dims_may_be_expressions_over_consts() {
    let fns = "fn widen<N: i32>(x: f32[N]) -> f32[2 * N] { zeros([2 * N]) }";
    assert_eq!(types_of(&lower(&format!("{fns}\n{}", kernel_using("widen(x)"))), "splat"), ["f32[256]"]);
}

#[test]
fn mut_parameter_can_be_assigned_in_the_body() {
    let fns = "fn bump(mut v: f32) -> f32 { v = v + 1.0; v }";
    assert_eq!(ir_of(fns, "let y = x * bump(2.0);"), ir_of("", "let mut v = 2.0;\nv = v + 1.0;\nlet y = x * v;"));
}

#[test]
fn body_may_loop_over_its_own_mutable_locals() {
    let fns = "fn pow4(x: f32) -> f32 { let mut p = 1.0; for i in 0 .. 4 { p = p * x; } p }";
    let k = lower(&format!("{fns}\nkernel k(s: f32) grid(1) {{ let y = pow4(s); }}"));
    assert_eq!(types_of(&k, "for"), ["f32"]);
}

#[test]
fn tuple_let_of_a_tuple_binds_each_value() {
    assert_eq!(ir_of("", "let (t, u) = (x, 2.0);\nlet y = t * u;"), ir_of("", "let y = x * 2.0;"));
}

#[test]
fn unused_fn_is_not_checked() {
    let fns = "fn broken(x: f32) -> f32 { x + true }";
    assert_eq!(fn_errors(fns, "let y = x;"), "no error");
}

/// A kernel binding `x: f32[128]` and then `let y = {call};`.
fn kernel_using(call: &str) -> String {
    format!("kernel k(a: tensor<f32>[M]) grid(1) {{ let x = a[0 .. 128]; let y = {call}; }}")
}

// ---- Errors at the call ---------------------------------------------------------------

#[test]
fn unknown_fn_suggests_a_close_fn() {
    assert_eq!(fn_errors(SCALE, "let y = scael(x, 2.0);"), "4:9: unknown function `scael`; did you mean `scale`?");
}

#[test]
fn wrong_argument_count() {
    assert_eq!(
        fn_errors(SCALE, "let y = scale(x);"),
        "4:9: fn `scale` takes 2 arguments (x: f32[N], k: f32); got 1 argument"
    );
}

#[test]
fn argument_dtype_mismatch() {
    assert_eq!(
        fn_errors(SCALE, "let y = scale(x, program_id(0));"),
        "4:18: argument 2 of `scale` must be f32; got i32"
    );
}

#[test]
fn argument_shape_mismatch() {
    let fns = "fn first(x: f32[64]) -> f32 { max(x, axis: 0) }";
    assert_eq!(fn_errors(fns, "let y = first(x);"), "4:15: argument 1 of `first` must be f32[64]; got f32[128]");
}

#[test]
fn argument_rank_mismatch_names_the_declared_type() {
    assert_eq!(fn_errors(SCALE, "let y = scale(1.0, 2.0);"), "4:15: argument 1 of `scale` must be f32[N]; got f32");
}

#[test]
fn first_argument_fixes_a_shared_const() {
    let fns = "fn add2<N: i32>(a: f32[N], b: f32[N]) -> f32[N] { a + b }";
    assert_eq!(
        fn_errors(fns, "let y = add2(x, a[0 .. 64]);"),
        "4:17: argument 2 of `add2` must be f32[128]; got f32[64]"
    );
}

#[test]
fn keyword_arguments_are_rejected() {
    assert_eq!(
        fn_errors(SCALE, "let y = scale(x, k: 2.0);"),
        "4:18: fn `scale` takes positional arguments only; got `k:`"
    );
}

#[test]
fn tuple_arity_mismatch_in_let() {
    assert_eq!(
        fn_errors(ONLINE_UPDATE, "let (m, l, z) = online_update(0.0, 0.0, x);"),
        "8:17: `let` binds 3 names, but `online_update` returns 2 values"
    );
}

#[test]
fn tuple_let_of_a_tuple_of_another_size() {
    assert_eq!(fn_errors("", "let (m, l) = (x, x, x);"), "4:14: `let` binds 2 names, but the tuple has 3 values");
}

#[test]
fn tuple_let_of_a_single_value() {
    assert_eq!(
        fn_errors("", "let (m, l) = x;"),
        "4:14: `let` binds 2 names, but the value is not a tuple; it is one f32[128]"
    );
}

#[test]
fn tuple_fn_used_as_one_value() {
    assert_eq!(
        fn_errors(ONLINE_UPDATE, "let y = online_update(0.0, 0.0, x);"),
        "8:9: fn `online_update` returns 2 values; bind them with `let (v0, v1) = online_update(...);`"
    );
}

#[test]
fn tuple_outside_let_or_result() {
    assert_eq!(
        fn_errors("", "let y = (x, x) ;"),
        "4:9: a tuple `(a, b)` is only allowed as a fn's result or as the value of `let (x, y) = ...`"
    );
}

#[test]
fn fn_call_in_grid_is_rejected() {
    let src = "fn one() -> i32 { 1 }\nkernel k() grid(one()) { }";
    assert_eq!(
        errors(src),
        "2:17: a call of fn `one` cannot be used in a grid size; grid sizes are i32 scalars computed on the host"
    );
}

#[test]
fn failed_argument_poisons_the_call_quietly() {
    assert_eq!(fn_errors(SCALE, "let y = scale(nope, 2.0);\nlet z = y;"), "4:15: unknown name `nope`");
}

// ---- Errors in the body, reported with the call ---------------------------------------

#[test]
fn error_in_body_points_at_body_with_call_note() {
    let fns = "fn bad<N: i32>(x: f32[N]) -> f32[N] { x + true }";
    assert_eq!(
        fn_errors(fns, "let y = bad(x * 2.0);"),
        "1:39: cannot apply `+` to f32 and bool; there is no implicit conversion, use cast<f32>(...)\n  \
         note: in fn `bad`, inlined at the call `bad(x * 2.0)`"
    );
}

#[test]
fn error_in_body_of_a_fn_called_twice_is_reported_once() {
    let fns = "fn bad<N: i32>(x: f32[N]) -> f32[N] { x + true }";
    assert_eq!(errors_count(fns, "let y = bad(x);\nlet z = bad(x);"), 1);
}

#[test]
fn error_in_nested_fn_lists_both_calls() {
    let fns = "fn inner(v: f32) -> f32 { v + true }\nfn outer(v: f32) -> f32 { inner(v) }";
    assert_eq!(
        fn_errors(fns, "let y = outer(1.0);"),
        "1:27: cannot apply `+` to f32 and bool; there is no implicit conversion, use cast<f32>(...)\n  \
         note: in fn `inner`, inlined at the call `inner(v)`\n  \
         note: in fn `outer`, inlined at the call `outer(1.0)`"
    );
}

#[test]
fn body_cannot_see_caller_locals() {
    let fns = "fn peek() -> f32 { x }";
    assert_eq!(
        fn_errors(fns, "let y = peek();"),
        "1:20: unknown name `x`\n  note: in fn `peek`, inlined at the call `peek()`"
    );
}

#[test]
fn body_cannot_see_kernel_parameters() {
    let fns = "fn peek() -> f32 { a[0] }";
    assert!(fn_errors(fns, "let y = peek();").starts_with("1:20: unknown name `a`"));
}

#[test]
fn parameters_are_immutable_without_mut() {
    let fns = "fn set(v: f32) -> f32 { v = 1.0; v }";
    assert!(fn_errors(fns, "let y = set(1.0);").starts_with("1:25: cannot assign to `v`: it is not declared `mut`"));
}

#[test]
fn result_type_mismatch() {
    let fns = "fn total<N: i32>(x: f32[N]) -> f32[N] { sum(x, axis: 0) }";
    assert_eq!(
        fn_errors(fns, "let y = total(x);"),
        "1:41: the result of `total` must have type f32[128]; got f32\n  \
         note: in fn `total`, inlined at the call `total(x)`"
    );
}

#[test]
fn tuple_result_element_mismatch_points_at_the_element() {
    let fns = "fn pair(v: f32) -> (f32, i32) { (v, v) }";
    assert!(
        fn_errors(fns, "let (p, q) = pair(1.0);").starts_with("1:37: result 2 of `pair` must have type i32; got f32")
    );
}

#[test]
fn result_count_mismatch() {
    let fns = "fn pair(v: f32) -> (f32, f32) { v }";
    assert!(fn_errors(fns, "let (p, q) = pair(1.0);")
        .starts_with("1:33: fn `pair` is declared to return 2 values; its result expression has 1"));
}

#[test]
fn bad_dimension_expression_is_reported_in_the_signature() {
    let fns = "fn odd<N: i32>(x: f32[N]) -> f32[N + 1] { x }";
    assert!(fn_errors(fns, "let y = odd(x);").starts_with("1:34: "));
}

#[test]
fn direct_recursion() {
    let fns = "fn f(v: f32) -> f32 { f(v) }";
    assert!(fn_errors(fns, "let y = f(1.0);").starts_with("1:23: recursive fn `f` (f → f) cannot be inlined"));
}

#[test]
fn mutual_recursion_names_the_cycle() {
    let fns = "fn f(v: f32) -> f32 { g(v) }\nfn g(v: f32) -> f32 { f(v) }";
    assert!(fn_errors(fns, "let y = f(1.0);").starts_with("2:23: recursive fn `f` (f → g → f) cannot be inlined"));
}

#[test]
fn long_chain_of_fns_is_cut_off() {
    let fns: String = (0..40).map(|i| format!("fn f{i}(v: f32) -> f32 {{ f{}(v) }}\n", i + 1)).collect();
    let fns = format!("{fns}fn f40(v: f32) -> f32 {{ v }}");
    assert!(fn_errors(&fns, "let y = f0(1.0);").contains("fn calls nested more than 32 deep are not supported"));
}

#[test]
fn exponential_inlining_is_cut_off() {
    let fns: String =
        (0..20).map(|i| format!("fn f{i}(v: f32) -> f32 {{ f{}(v) + f{}(v) }}\n", i + 1, i + 1)).collect();
    let fns = format!("{fns}fn f20(v: f32) -> f32 {{ v }}");
    assert!(fn_errors(&fns, "let y = f0(1.0);").contains("more than 10000 fn calls inlined into one kernel"));
}

// ---- Errors in definitions ------------------------------------------------------------

#[test]
fn duplicate_fn_name() {
    assert_eq!(
        fn_errors(&format!("{SCALE}\n{SCALE}"), "let y = x;"),
        "2:4: this file defines fn `scale` more than once"
    );
}

#[test]
fn fn_named_like_a_builtin() {
    assert_eq!(
        fn_errors("fn exp2(v: f32) -> f32 { v }", "let y = x;"),
        "1:4: fn `exp2` has the name of a builtin function; builtins cannot be redefined"
    );
}

#[test]
fn const_generic_must_be_inferable() {
    assert_eq!(
        fn_errors("fn make<N: i32>(v: f32) -> f32[N] { zeros([N]) }", "let y = x;"),
        "1:9: const `N` of fn `make` is not a dimension of any parameter, so calls cannot infer it; \
         use it as a whole dimension, e.g. `x: f32[N]`"
    );
}

#[test]
fn duplicate_parameter_name() {
    assert_eq!(
        fn_errors("fn two(v: f32, v: f32) -> f32 { v }", "let y = x;"),
        "1:16: `v` is declared twice in the signature of fn `two`"
    );
}

#[test]
fn definition_errors_come_with_kernel_errors() {
    assert_eq!(errors_count("fn exp2(v: f32) -> f32 { v }", "let y = nope;"), 2);
}

fn errors_count(fns: &str, body: &str) -> usize {
    fn_errors(fns, body).lines().filter(|l| !l.starts_with("  note:")).count()
}

#[test]
fn dropping_any_word_gives_errors_not_panics() {
    let src = format!(
        "{SCALE}\n{ONLINE_UPDATE}\nkernel k<B: i32 = 64>(a: tensor<f32>[M]) grid(1) {{\n\
         let mut m = -inf; let mut l = 0.0;\n\
         for i in 0 .. 4 {{ let (m_new, l_new) = online_update(m, l, scale(a[0 .. B], 2.0)); l = l_new; m = m_new; }}\n\
         a[0 .. B] = scale(zeros([B]), l);\n}}"
    );
    let words: Vec<&str> = src.split(' ').collect();
    let outcomes: Vec<bool> = (0..words.len())
        .map(|i| {
            let mutated = [&words[..i], &words[i + 1..]].concat().join(" ");
            try_lower(&mutated, &[]).is_ok()
        })
        .collect();
    assert!(outcomes.iter().any(|ok| !ok), "no deletion was rejected");
}
