//! `bench-kernels --only`: which parts run, and the error for an unknown one. The bench
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
