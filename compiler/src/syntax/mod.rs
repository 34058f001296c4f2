//! The `.tile` surface syntax: lexer, parser, syntax tree and its printer.
//! docs/language.md is the reference for what is accepted here.

pub mod ast;
#[cfg(test)]
pub(crate) mod examples;
mod lexer;
mod parser;
mod print;
mod token;

use crate::diag::Diagnostics;

/// Parses a whole file. On error, returns every lexical and syntax error found
/// (at least one), in source order.
pub fn parse(src: &str) -> Result<ast::File, Diagnostics> {
    let (tokens, mut errors) = lexer::lex(src);
    let (file, parse_errors) = parser::parse_tokens(tokens);
    errors.extend(parse_errors);
    if errors.is_empty() {
        Ok(file)
    } else {
        errors.sort_by_key(|d| d.span.start);
        Err(Diagnostics(errors))
    }
}

/// The AST as canonical source text (for `sparsefill compile --emit ast`); it parses
/// back to the same tree.
pub fn print_ast(file: &ast::File) -> String {
    print::print_file(file)
}

/// One expression as source text, as `print_ast` would write it.
pub fn print_expr(e: &ast::Expr) -> String {
    print::expr(e, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn reprint(src: &str) -> String {
        match parse(src) {
            Ok(file) => print_ast(&file),
            Err(e) => format!("error: {e}"),
        }
    }

    /// Printed form of one expression, via a minimal kernel around it.
    fn reprint_expr(e: &str) -> String {
        let src = format!("kernel k() grid(1) {{ let x = {e}; }}");
        let printed = reprint(&src);
        let body = printed.lines().find_map(|l| l.trim().strip_prefix("let x = "));
        body.map_or(printed.clone(), |b| b.trim_end_matches(';').to_string())
    }

    /// "line:col: message" of the first error.
    fn first_error(src: &str) -> String {
        match parse(src) {
            Ok(_) => "parsed".to_string(),
            Err(ds) => {
                let d = &ds.0[0];
                let (line, col) = d.line_col(src);
                format!("{line}:{col}: {}", d.message)
            }
        }
    }

    fn error_count(src: &str) -> usize {
        parse(src).err().map_or(0, |ds| ds.0.len())
    }

    fn assert_round_trip(src: &str) {
        let once = reprint(src);
        assert_eq!(reprint(&once), once);
    }

    #[test]
    fn round_trip_vector_add() {
        assert_round_trip(examples::VECTOR_ADD);
    }

    #[test]
    fn round_trip_softmax() {
        assert_round_trip(examples::SOFTMAX);
    }

    #[test]
    fn round_trip_rmsnorm() {
        assert_round_trip(examples::RMSNORM);
    }

    #[test]
    fn round_trip_rmsnorm_has_w() {
        assert_round_trip(examples::RMSNORM_HAS_W);
    }

    #[test]
    fn print_rmsnorm_has_w() {
        expect![[r#"
            kernel rmsnorm<BLOCK: i32 = 1024, HAS_W: bool = true>(
                x: tensor<bf16>[N, D],
                w: tensor<bf16>[D],
                o: tensor<bf16>[N, D],
                eps: f32,
            ) grid(N) warps(4) {
                let row = program_id(0);
                let mut acc = zeros([BLOCK]);
                for c0 in (0 .. D).step_by(BLOCK) {
                    let xv = cast<f32>(x[row, c0 .. c0 + BLOCK]);
                    acc = acc + xv * xv;
                }
                let inv = rsqrt(sum(acc, axis: 0) / cast<f32>(D) + eps);
                for c0 in (0 .. D).step_by(BLOCK) {
                    let cols = arange(c0, BLOCK);
                    let xv = cast<f32>(x[row, c0 .. c0 + BLOCK]);
                    let y = if HAS_W { xv * inv * cast<f32>(w[c0 .. c0 + BLOCK]) } else { xv * inv };
                    o[row, c0 .. c0 + BLOCK] = cast<bf16>(y);
                }
            }
        "#]]
        .assert_eq(&reprint(examples::RMSNORM_HAS_W));
    }

    #[test]
    fn print_two_kernels_and_statement_forms() {
        let src = "kernel a<C: bool>(t: tensor<i32>[M], s: i32) grid(M, 2, 1) { \
                   for i in 0 .. s { if C { let mut y = 1; y = 2; } else if !C { t[i] = 3; } else { t[..] = 0; } } }\n\
                   kernel b() grid(1) { let z = 0; }";
        expect![[r#"
            kernel a<C: bool>(
                t: tensor<i32>[M],
                s: i32,
            ) grid(M, 2, 1) {
                for i in 0 .. s {
                    if C {
                        let mut y = 1;
                        y = 2;
                    } else if !C {
                        t[i] = 3;
                    } else {
                        t[..] = 0;
                    }
                }
            }

            kernel b() grid(1) {
                let z = 0;
            }
        "#]]
        .assert_eq(&reprint(src));
    }

    #[test]
    fn print_header_options_after_warps_in_a_fixed_order() {
        let src = "kernel k<G: i32 = 2>(o: tensor<i32>[N]) grid(1) occupancy(2) stages(3) groups(G) warps(4) { \
                   o[group_id()] = group_id(); }";
        expect![[r#"
            kernel k<G: i32 = 2>(
                o: tensor<i32>[N],
            ) grid(1) warps(4) groups(G) stages(3) occupancy(2) {
                o[group_id()] = group_id();
            }
        "#]]
        .assert_eq(&reprint(src));
    }

    #[test]
    fn groups_alone_prints_and_round_trips() {
        let src = "kernel k() grid(1) groups(2 * 2) { }";
        assert_eq!(reprint(src), "kernel k() grid(1) groups(2 * 2) {\n}\n");
        assert_round_trip(src);
    }

    #[test]
    fn error_groups_given_twice() {
        assert_eq!(
            first_error("kernel k() grid(1) groups(2) warps(4) groups(2) { }"),
            "1:39: `groups` is given twice; a kernel takes each option once"
        );
    }

    #[test]
    fn error_unknown_option_lists_groups() {
        assert_eq!(
            first_error("kernel k() grid(1) group(2) { }"),
            "1:20: unknown kernel option `group`; the options are warps(E), groups(E), stages(E) and occupancy(E)"
        );
    }

    #[test]
    fn groups_is_still_an_ordinary_name() {
        let src = "kernel k() grid(1) groups(2) { let groups = 3; let g = groups; }";
        assert_eq!(reprint(src), "kernel k() grid(1) groups(2) {\n    let groups = 3;\n    let g = groups;\n}\n");
    }

    const HELPERS: &str = "
        fn online_update<BN: i32>(m: f32, l: f32, s: f32[BN]) -> (f32, f32) {
            let m_new = max(m, max(s, axis: 0));
            (m_new, l * exp2(m - m_new) + sum(exp2(s - m_new), axis: 0))
        }
        kernel k(x: tensor<f32>[N]) grid(1) {
            let (mut m, l) = online_update(-inf, 0.0, x[0 .. 64]);
            let (a, b) = (1, (2));
        }
        fn scale<N: i32>(mut x: f32[N, 2 * N], k: f32) -> f32[N, 2 * N] { x = x * k; x }";

    #[test]
    fn print_fns_first_then_kernels() {
        expect![[r#"
            fn online_update<BN: i32>(m: f32, l: f32, s: f32[BN]) -> (f32, f32) {
                let m_new = max(m, max(s, axis: 0));
                (m_new, l * exp2(m - m_new) + sum(exp2(s - m_new), axis: 0))
            }

            fn scale<N: i32>(mut x: f32[N, 2 * N], k: f32) -> f32[N, 2 * N] {
                x = x * k;
                x
            }

            kernel k(
                x: tensor<f32>[N],
            ) grid(1) {
                let (mut m, l) = online_update(-inf, 0.0, x[0 .. 64]);
                let (a, b) = (1, 2);
            }
        "#]]
        .assert_eq(&reprint(HELPERS));
    }

    #[test]
    fn round_trip_fns() {
        assert_round_trip(HELPERS);
    }

    #[test]
    fn file_of_only_fns_parses() {
        assert_eq!(reprint("fn one() -> i32 { 1 }"), "fn one() -> i32 {\n    1\n}\n");
    }

    #[test]
    fn tuple_in_parentheses_is_kept() {
        assert_eq!(reprint_expr("f((a, b))"), "f((a, b))");
    }

    #[test]
    fn trailing_comma_in_tuple() {
        assert_eq!(reprint_expr("(a, b,)"), "(a, b)");
    }

    #[test]
    fn error_one_element_tuple() {
        assert_eq!(
            first_error("kernel k() grid(1) { let x = (a,); }"),
            "1:30: a tuple needs at least two values; drop the `,`"
        );
    }

    #[test]
    fn error_one_name_tuple_let() {
        assert_eq!(first_error("kernel k() grid(1) { let (a) = b; }"), "1:26: `let (...)` needs at least two names");
    }

    #[test]
    fn error_fn_without_result_type() {
        assert_eq!(
            first_error("fn f(x: f32) { x }"),
            "1:14: expected `->` and the result type (a fn's only effect is its result), found `{`"
        );
    }

    #[test]
    fn error_fn_without_result_expression() {
        assert_eq!(
            first_error("fn f(x: f32) -> f32 { let y = x; }"),
            "1:34: expected the result expression of `f` before `}`, found `}`"
        );
    }

    #[test]
    fn error_statement_after_result_expression() {
        assert_eq!(first_error("fn f(x: f32) -> f32 { x let y = 1; }"), "1:25: expected `=`, found `let`");
    }

    #[test]
    fn error_bool_fn_const() {
        assert_eq!(
            first_error("fn f<B: bool>(x: f32[B]) -> f32 { 1.0 }"),
            "1:9: fn const parameters must be i32 (sizes) or dtype (element types); got `bool`"
        );
    }

    #[test]
    fn error_one_type_tuple_result() {
        assert_eq!(first_error("fn f(x: f32) -> (f32) { x }"), "1:17: a tuple result type needs at least two types");
    }

    #[test]
    fn error_empty_tile_type() {
        assert_eq!(
            first_error("fn f(x: f32[]) -> f32 { 1.0 }"),
            "1:12: a tile type needs at least one dimension, e.g. `f32[N]`"
        );
    }

    #[test]
    fn error_in_fn_does_not_hide_the_next_kernel() {
        assert_eq!(error_count("fn f( -> f32 { 1 }\nkernel b() grid(1) { let = 1; }"), 2);
    }

    #[test]
    fn every_strict_prefix_of_a_fn_is_an_error() {
        let src = "fn f<N: i32>(mut x: f32[N], k: f32) -> (f32[N], f32) { x = x * k; (x, k) }";
        let accepted: Vec<usize> =
            (0..src.len()).filter(|&n| src.is_char_boundary(n) && parse(&src[..n]).is_ok()).collect();
        assert_eq!(accepted, Vec::<usize>::new());
    }

    #[test]
    fn multiplication_binds_tighter_than_addition() {
        assert_eq!(reprint_expr("a + b * c"), "a + b * c");
    }

    #[test]
    fn parentheses_that_change_grouping_are_kept() {
        assert_eq!(reprint_expr("(a + b) * c"), "(a + b) * c");
    }

    #[test]
    fn subtraction_is_left_associative() {
        assert_eq!(reprint_expr("(a - b) - c"), "a - b - c");
    }

    #[test]
    fn right_nested_subtraction_keeps_parentheses() {
        assert_eq!(reprint_expr("a - (b - c)"), "a - (b - c)");
    }

    #[test]
    fn comparison_below_arithmetic() {
        assert_eq!(reprint_expr("(a + 1) < (b * 2)"), "a + 1 < b * 2");
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(reprint_expr("a || (b && c)"), "a || b && c");
    }

    #[test]
    fn or_inside_and_keeps_parentheses() {
        assert_eq!(reprint_expr("(a || b) && c"), "(a || b) && c");
    }

    #[test]
    fn unary_minus_binds_tighter_than_multiplication() {
        assert_eq!(reprint_expr("(-a) * b"), "-a * b");
    }

    #[test]
    fn negated_sum_keeps_parentheses() {
        assert_eq!(reprint_expr("-(a + b)"), "-(a + b)");
    }

    #[test]
    fn index_binds_tighter_than_unary() {
        assert_eq!(reprint_expr("-(t[:, None])"), "-t[:, None]");
    }

    #[test]
    fn float_literals_print_back() {
        assert_eq!(reprint_expr("1e-5 + 0.5 + -inf"), "1e-5 + 0.5 + -inf");
    }

    #[test]
    fn calls_casts_lists_and_keywords() {
        assert_eq!(
            reprint_expr("max(full([4, 8], 1.0), axis: 1) + cast<i32>(true)"),
            "max(full([4, 8], 1.0), axis: 1) + cast<i32>(true)"
        );
    }

    #[test]
    fn nested_if_expression() {
        assert_eq!(reprint_expr("if a { 1 } else if b { 2 } else { 3 }"), "if a { 1 } else if b { 2 } else { 3 }");
    }

    #[test]
    fn const_default_with_comparison_is_parenthesized() {
        let printed = reprint("kernel k<A: bool = (1 < 2)>() grid(1) { }");
        assert!(printed.starts_with("kernel k<A: bool = (1 < 2)>("), "{printed}");
    }

    #[test]
    fn for_with_parenthesized_lower_bound() {
        let printed = reprint("kernel k(n: i32) grid(1) { for i in (n + 1) * 2 .. n { } }");
        assert!(printed.contains("for i in (n + 1) * 2 .. n {"), "{printed}");
    }

    #[test]
    fn for_with_parenthesized_range_without_step() {
        let printed = reprint("kernel k(n: i32) grid(1) { for i in (0 .. n) { } }");
        assert!(printed.contains("for i in 0 .. n {"), "{printed}");
    }

    #[test]
    fn trailing_commas_are_accepted() {
        assert_eq!(reprint_expr("min(a, b,)"), "min(a, b)");
    }

    #[test]
    fn error_missing_close_paren() {
        assert_eq!(first_error("kernel k() grid(1) { let x = (1 + 2; }"), "1:36: expected `)`, found `;`");
    }

    #[test]
    fn error_missing_semicolon() {
        assert_eq!(
            first_error("kernel k() grid(1) {\n    let x = 1\n    let y = 2;\n}"),
            "3:5: expected `;`, found `let`"
        );
    }

    #[test]
    fn error_expression_statement() {
        assert_eq!(
            first_error("kernel k() grid(1) { sum(x, axis: 0); }"),
            "1:22: an expression alone is not a statement; bind it with `let`"
        );
    }

    #[test]
    fn error_bad_assignment_target() {
        assert_eq!(
            first_error("kernel k() grid(1) { 1 + x = 2; }"),
            "1:22: expected a variable or `tensor[indices]` before `=`"
        );
    }

    #[test]
    fn a_dtype_that_is_not_builtin_is_left_to_the_checker() {
        // It may name a `dtype` const; `check` reports it when it names none.
        assert_eq!(first_error("kernel k(x: tensor<f64>[N]) grid(1) { }"), "parsed");
    }

    #[test]
    fn error_bf16_scalar_param() {
        assert_eq!(
            first_error("kernel k(s: bf16) grid(1) { }"),
            "1:13: scalar parameters must be f32, i32 or bool; got bf16"
        );
    }

    #[test]
    fn error_f32_const_param() {
        assert_eq!(
            first_error("kernel k<A: f32>() grid(1) { }"),
            "1:13: const parameters must be i32, bool or dtype; got `f32`"
        );
    }

    #[test]
    fn error_too_many_grid_sizes() {
        assert_eq!(first_error("kernel k() grid(1, 1, 1, 1) { }"), "1:12: grid takes 1 to 3 sizes; got 4");
    }

    #[test]
    fn error_tensor_without_dims() {
        assert_eq!(
            first_error("kernel k(x: tensor<f32>[]) grid(1) { }"),
            "1:24: a tensor needs at least one named dimension, e.g. `[N]`"
        );
    }

    #[test]
    fn error_numeric_tensor_dim() {
        assert_eq!(
            first_error("kernel k(x: tensor<f32>[4]) grid(1) { }"),
            "1:25: expected a dimension name, found integer `4`"
        );
    }

    #[test]
    fn error_open_range_start() {
        assert_eq!(
            first_error("kernel k() grid(1) { let y = x[..4]; }"),
            "1:34: expected `,` or `]` after `..` (a range needs a start: `lo .. hi`), found integer `4`"
        );
    }

    #[test]
    fn error_bad_method() {
        assert_eq!(
            first_error("kernel k() grid(1) { for i in (0 .. 4).step(2) { } }"),
            "1:40: expected `step_by`, found `step`"
        );
    }

    #[test]
    fn error_empty_file() {
        assert_eq!(first_error("// nothing\n"), "2:1: expected `kernel` or `fn`, found end of file");
    }

    #[test]
    fn error_from_lexer_is_reported() {
        assert_eq!(first_error("kernel k() grid(1) { let x = 1 $ 2; }"), "1:32: unexpected character `$`");
    }

    #[test]
    fn errors_in_separate_statements_are_all_reported() {
        assert_eq!(error_count("kernel k() grid(1) { let = 1; let y = ; let z = 2; }"), 2);
    }

    #[test]
    fn error_in_one_kernel_does_not_hide_the_next() {
        assert_eq!(error_count("kernel a( grid(1) { }\nkernel b() grid(1) { let = 1; }"), 2);
    }

    #[test]
    fn error_deep_nesting_is_rejected_not_overflowed() {
        let src = format!("kernel k() grid(1) {{ let x = {}1{}; }}", "(".repeat(5000), ")".repeat(5000));
        assert!(first_error(&src).contains("nesting deeper than"));
    }

    #[test]
    fn error_long_operator_chain_is_rejected_not_overflowed() {
        let src = format!("kernel k() grid(1) {{ let x = 1{}; }}", " + 1".repeat(5000));
        assert!(first_error(&src).contains("nesting deeper than"));
    }

    #[test]
    fn error_deep_blocks_are_rejected_not_overflowed() {
        let src = format!("kernel k() grid(1) {{ {} }}", "if c { ".repeat(3000));
        assert!(first_error(&src).contains("nesting deeper than"));
    }

    #[test]
    fn every_strict_prefix_of_a_kernel_is_an_error() {
        let src = examples::RMSNORM.trim_end();
        let accepted: Vec<usize> =
            (0..src.len()).filter(|&n| src.is_char_boundary(n) && parse(&src[..n]).is_ok()).collect();
        assert_eq!(accepted, Vec::<usize>::new());
    }

    #[test]
    fn random_bytes_give_errors_not_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet: Vec<char> = "kernel grid let mut for if else ()[]{}<>=!&|+-*/%.,;: 0 1.5 x N tensor<f32> None \n"
            .chars()
            .chain(['\u{0}', 'é', '$', '\u{7f}'])
            .collect();
        let mut accepted = Vec::new();
        for _ in 0..2000 {
            let len = rng.random_range(0..80);
            let s: String = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
            if parse(&s).is_ok() {
                accepted.push(s);
            }
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let s = String::from_utf8_lossy(&bytes).into_owned();
            if parse(&s).is_ok() {
                accepted.push(s);
            }
        }
        assert_eq!(accepted, Vec::<String>::new());
    }

    #[test]
    fn random_token_soup_from_a_real_kernel_gives_errors_not_panics() {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut words: Vec<&str> = examples::RMSNORM.split_whitespace().collect();
        let mut accepted = 0;
        for _ in 0..300 {
            words.shuffle(&mut rng);
            accepted += usize::from(parse(&words.join(" ")).is_ok());
        }
        assert_eq!(accepted, 0);
    }
}
