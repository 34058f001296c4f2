//! Ping-pong between warpgroups ([`crate::codegen::pingpong`]): which loops take turns,
//! where a turn starts and ends, and that a loop that does not take turns is unchanged.

use super::pipeline::GEMM;
use super::{check_assembles_with, check_no_spills, emit_ok_with, plain};
use crate::codegen::{CodegenOptions, MmaLowering, PingPong};
use crate::ir::{ConstValue, Kernel};
use crate::lower_source;
use crate::target::Arch;

const TMA: CodegenOptions = CodegenOptions { tma: true, ..plain(MmaLowering::Wgmma) };
const PINGPONG: CodegenOptions = CodegenOptions { pingpong: PingPong::All, ..TMA };

/// Attention's pipelined loop in small: each iteration issues tile n0's scores and the
/// product of the previous tile's probabilities with its values, then works on the scores
/// (`USE_FIRST` reads the scores between the two products instead; `TRANSPOSED`, with
/// BM = BN, feeds the second product the transpose of the carried tile, which goes through
/// shared memory; `ARM` puts an `if` after the products: 1 reads the scores in it, as a
/// masked tile does, 2 reads no product, 3 issues a product of its own).
const ISSUE_THEN_USE: &str = "
kernel issue_then_use<BM: i32 = 128, BN: i32 = 64, D: i32 = 64, USE_FIRST: bool = false, TRANSPOSED: bool = false, ARM: i32 = 0>(
    q: tensor<bf16>[T, D],
    k: tensor<bf16>[T, D],
    v: tensor<bf16>[T, D],
    o: tensor<f32>[T, D],
    n: i32,
) grid(cdiv(T, BM)) warps(BM / 16) stages(2) {
    let m0 = program_id(0) * BM;
    let qt = q[m0 .. m0 + BM, ..];
    let mut acc = zeros([BM, D]);
    let mut p = zeros([BM, BN]);
    for n0 in (BN .. n).step_by(BN) {
        let s = dot(qt, trans(k[n0 .. n0 + BN, ..]));
        let fresh = if USE_FIRST { exp2(s) } else { p };
        let carried = if TRANSPOSED { trans(fresh) } else { fresh };
        let prev = n0 - BN;
        acc = acc * 0.5 + dot(cast<bf16>(carried), v[prev .. prev + BN, ..]);
        if ARM == 2 && n0 == m0 {
            o[m0 .. m0 + BM, ..] = zeros([BM, D]);
        }
        p = if ARM == 1 {
            if n0 < m0 { exp2(s) } else { exp2(s) * 0.5 }
        } else if ARM == 3 {
            if n0 < m0 { exp2(s) } else { dot(cast<bf16>(exp2(s)), v[prev .. prev + BN, ..]) }
        } else {
            exp2(s)
        };
    }
    o[m0 .. m0 + BM, ..] = acc;
}
";

fn kernel(source: &str, consts: &[(&str, ConstValue)]) -> Kernel {
    let consts: Vec<(String, ConstValue)> = consts.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
    let mut k = lower_source(source, None, &consts).unwrap_or_else(|e| panic!("test kernel does not compile: {e}"));
    for name in ["q", "k", "v", "a", "b"] {
        k.set_aligned(name, true);
    }
    k
}

fn issue_then_use(bm: i64, use_first: bool) -> Kernel {
    kernel(ISSUE_THEN_USE, &[("BM", ConstValue::Int(bm)), ("USE_FIRST", ConstValue::Bool(use_first))])
}

/// The PTX with every run of whitespace one space, so that `bar.sync %r` finds LLVM's
/// `bar.sync \t%r1`.
fn ptx(k: &Kernel, options: &CodegenOptions) -> String {
    emit_ok_with(k, Arch::Sm90a, options).ptx.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The loop body's own turn barriers: the wait takes and the hand-over names a warpgroup's
/// barrier computed from its thread index, unlike the loop's opening and closing ones.
fn turn_span(ptx: &str) -> &str {
    let start = ptx.find("bar.sync %r").unwrap_or_else(|| panic!("no turn is taken:\n{ptx}"));
    let end = ptx[start..].find("bar.arrive %r").unwrap_or_else(|| panic!("the turn is not passed on:\n{ptx}"));
    &ptx[start..start + end]
}

#[test]
fn a_turn_holds_both_products_and_no_wait() {
    let ptx = ptx(&issue_then_use(128, false), &PINGPONG);
    let span = turn_span(&ptx);
    assert_eq!(
        (span.matches("wgmma.commit_group").count(), span.matches("wgmma.wait_group").count()),
        (2, 0),
        "{span}"
    );
}

#[test]
fn a_loop_that_reads_its_scores_inside_an_if_takes_turns() {
    let ptx = ptx(&with_arm(1), &PINGPONG);
    let span = turn_span(&ptx);
    assert_eq!(span.matches("wgmma.commit_group").count(), 2, "{span}");
}

fn with_arm(arm: i64) -> Kernel {
    kernel(ISSUE_THEN_USE, &[("BM", ConstValue::Int(128)), ("ARM", ConstValue::Int(arm))])
}

/// The waits from the loop's second product to the branch of the `if` after it.
fn waits_before_the_if(arm: i64) -> Vec<String> {
    let ptx = ptx(&with_arm(arm), &TMA);
    let commits: Vec<usize> = ptx.match_indices("wgmma.commit_group").map(|(at, _)| at).collect();
    let second = *commits.get(1).unwrap_or_else(|| panic!("fewer than two products:\n{ptx}"));
    let branch = ptx[second..].find(" bra").map(|at| second + at).unwrap_or_else(|| panic!("no branch:\n{ptx}"));
    let span = &ptx[second..branch];
    let wait = "wgmma.wait_group.sync.aligned ";
    span.match_indices(wait).map(|(at, _)| span[at + wait.len()..at + wait.len() + 1].to_string()).collect()
}

/// The `if` reads the scores alone, so the previous tile's product with the values runs on
/// across it (`codegen::wgmma`): the scores' wait leaves one group running.
#[test]
fn an_if_that_reads_the_scores_waits_for_them_alone() {
    assert_eq!(waits_before_the_if(1), ["1"]);
}

#[test]
fn an_if_that_reads_no_product_waits_for_none() {
    assert_eq!(waits_before_the_if(2), Vec::<String>::new());
}

#[test]
fn an_if_that_issues_a_product_waits_for_every_running_one() {
    assert_eq!(waits_before_the_if(3), ["0"]);
}

#[test]
fn the_last_warpgroup_opens_the_turns_and_warpgroup_0_closes_them() {
    let ptx = ptx(&issue_then_use(128, false), &PINGPONG);
    let (open, take, close) = (ptx.find("bar.arrive 1, 256"), ptx.find("bar.sync %r"), ptx.rfind("bar.sync 1, 256"));
    assert!(
        matches!((open, take, close), (Some(o), Some(t), Some(c)) if o < t && t < c),
        "{open:?} {take:?} {close:?}"
    );
}

#[test]
fn turns_release_stages_per_warp() {
    let ptx = ptx(&issue_then_use(128, false), &PINGPONG);
    assert!(ptx.contains("mbarrier.arrive.shared::cta.b64"), "{ptx}");
}

#[test]
fn one_warpgroup_takes_no_turns() {
    let k = issue_then_use(64, false);
    assert_eq!(ptx(&k, &PINGPONG), ptx(&k, &TMA));
}

#[test]
fn a_loop_that_reads_a_product_between_its_products_takes_no_turns() {
    let k = issue_then_use(128, true);
    assert_eq!(ptx(&k, &PINGPONG), ptx(&k, &TMA));
}

#[test]
fn a_loop_with_a_transpose_through_shared_memory_between_its_products_takes_no_turns() {
    let k = kernel(
        ISSUE_THEN_USE,
        &[("BM", ConstValue::Int(128)), ("BN", ConstValue::Int(128)), ("TRANSPOSED", ConstValue::Bool(true))],
    );
    assert_eq!(ptx(&k, &PINGPONG), ptx(&k, &TMA));
}

#[test]
fn a_gemm_loop_with_nothing_after_its_product_takes_no_turns() {
    let k = kernel(GEMM, &[("BK", ConstValue::Int(64))]);
    assert_eq!(ptx(&k, &PINGPONG), ptx(&k, &TMA));
}

#[test]
fn turns_assemble_without_spills() {
    check_no_spills(&check_assembles_with(&issue_then_use(128, false), &PINGPONG));
}

const WIDE: CodegenOptions = CodegenOptions { pingpong: PingPong::Wide, ..TMA };

fn issue_then_use_wide(bn: i64) -> Kernel {
    kernel(ISSUE_THEN_USE, &[("BM", ConstValue::Int(128)), ("BN", ConstValue::Int(bn)), ("D", ConstValue::Int(128))])
}

#[test]
fn wide_takes_no_turns_where_a_product_is_narrower_than_128() {
    let k = issue_then_use_wide(64);
    assert_eq!(ptx(&k, &WIDE), ptx(&k, &TMA));
}

#[test]
fn wide_takes_turns_where_every_product_is_128_wide() {
    let k = issue_then_use_wide(128);
    let wide = ptx(&k, &WIDE);
    turn_span(&wide);
    assert_eq!(wide, ptx(&k, &PINGPONG));
}

#[test]
fn off_is_the_default() {
    assert_eq!(CodegenOptions::default().pingpong, PingPong::Off);
}
