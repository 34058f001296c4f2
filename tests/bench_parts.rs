//! `bench-kernels --only`: which parts run, and the error for an unknown one; `--ab`: the two
//! lowerings it times against each other. The bench
//! binary needs a GPU and has no test harness, so its parser is included here.

#[path = "../benches/common/parts.rs"]
mod parts;

use parts::Parts;

fn check(only: Option<&str>, expected: Result<Parts, String>) {
    assert_eq!(Parts::parse(only), expected, "--only {only:?}");
}

#[test]
fn without_only_every_part_runs() {
    check(None, Ok(Parts { memory: true, gemm: true, attention: true }));
}

#[test]
fn only_attention_runs_attention_alone() {
    check(Some("attention"), Ok(Parts { memory: false, gemm: false, attention: true }));
}

#[test]
fn a_list_with_spaces_runs_each_named_part() {
    check(Some("memory, gemm"), Ok(Parts { memory: true, gemm: true, attention: false }));
}

#[test]
fn an_unknown_part_is_named_with_the_parts() {
    check(Some("gemm,softmax"), Err("--only: unknown part `softmax`; the parts are memory, gemm, attention".into()));
}

#[path = "../benches/common/ab.rs"]
mod ab;

#[test]
fn ab_takes_two_option_lists() {
    use sparsefill_compiler::codegen::{CodegenOptions, Specialize};
    let parsed = ab::parse_ab("specialize=early/specialize=producer");
    let side = |name: &str, specialize| (name.to_string(), CodegenOptions { specialize, ..CodegenOptions::default() });
    assert_eq!(
        parsed,
        Ok([side("specialize=early", Specialize::Early), side("specialize=producer", Specialize::Producer)])
    );
}

#[test]
fn ab_without_a_slash_says_what_it_expects() {
    assert_eq!(
        ab::parse_ab("specialize=early").err().as_deref(),
        Some("--ab `specialize=early`: expected two options as A/B")
    );
}

#[test]
fn ab_with_an_unknown_option_names_the_side() {
    assert_eq!(
        ab::parse_ab("specialize=early/stages=3").err().as_deref(),
        Some("--ab `stages=3`: unknown code generation option `stages`; the options are mma, tma, decoupled, pingpong, specialize")
    );
}
