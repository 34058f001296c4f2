//! The accumulator rescale behind a warp vote ([`crate::codegen::rescale`]): which
//! multiplies are guarded, on both tensor-core lowerings.

use super::{emit_ok_with, plain};
use crate::codegen::MmaLowering;
use crate::ir::Kernel;
use crate::lower_source;
use crate::target::Arch;

/// What both test kernels start with: 64 x 64 f32 accumulators over four warps, 32
/// registers a thread.
const PROLOGUE: &str = "
kernel walk<BM: i32 = 64, BN: i32 = 64, D: i32 = 64>(
    q: tensor<bf16>[T, BN],
    k: tensor<bf16>[T, BN],
    v: tensor<bf16>[T, D],
    o: tensor<f32>[T, D],
    n: i32,
) grid(cdiv(T, BM)) warps(4) {
    let m0 = program_id(0) * BM;
    let qt = q[m0 .. m0 + BM, ..];
    let mut acc = zeros([BM, D]);
    let mut m = full([BM], -inf);
";

/// An online softmax in small: `acc * alpha[:, None] + dot(p, v)` rescales the
/// accumulator by a row vector selected from 1 where the max stays.
const WALK: &str = "
    for n0 in (0 .. n).step_by(64) {
        let s = dot(qt, trans(k[n0 .. n0 + 64, ..]));
        let m_new = max(m, max(s, axis: 1));
        let alpha = where(m_new == m, 1.0, exp2(m - m_new));
        let p = exp2(s - m_new[:, None]);
        acc = acc * alpha[:, None] + dot(cast<bf16>(p), v[n0 .. n0 + 64, ..]);
        m = m_new;
    }
    o[m0 .. m0 + BM, ..] = acc;
}
";

/// The walk software-pipelined as the vertical-slash kernel's: the rescale reads the
/// factor the previous step computed, carried in the loop from `full([BM], 1.0)`.
const CARRIED: &str = "
    let mut alpha = full([BM], 1.0);
    let mut p = zeros([BM, 64]);
    for n0 in (64 .. n).step_by(64) {
        let s = dot(qt, trans(k[n0 .. n0 + 64, ..]));
        let prev = n0 - 64;
        acc = acc * alpha[:, None] + dot(cast<bf16>(p), v[prev .. prev + 64, ..]);
        let m_new = max(m, max(s, axis: 1));
        alpha = where(m_new == m, 1.0, exp2(m - m_new));
        p = exp2(s - m_new[:, None]);
        m = m_new;
    }
    o[m0 .. m0 + BM, ..] = acc * alpha[:, None] + dot(cast<bf16>(p), v[0 .. 64, ..]);
}
";

fn source(body: &str) -> String {
    format!("{PROLOGUE}{body}")
}

const PRODUCT: &str = "acc = acc * alpha[:, None] + dot(cast<bf16>(p), v[n0 .. n0 + 64, ..]);";

fn kernel(src: &str) -> Kernel {
    let mut k = lower_source(src, None, &[]).unwrap_or_else(|e| panic!("test kernel does not compile: {e}"));
    for name in ["q", "k", "v"] {
        k.set_aligned(name, true);
    }
    k
}

fn votes(src: &str, arch: Arch, mma: MmaLowering) -> usize {
    emit_ok_with(&kernel(src), arch, &plain(mma)).ptx.matches("vote.sync.all").count()
}

fn check(src: &str, expected_votes: usize) {
    let got = [
        votes(src, Arch::Sm90a, MmaLowering::Wgmma),
        votes(src, Arch::Sm90a, MmaLowering::MmaSync),
        votes(src, Arch::Sm80, MmaLowering::MmaSync),
    ];
    assert_eq!(got, [expected_votes; 3], "votes on sm_90a wgmma, sm_90a mma.sync, sm_80");
}

#[test]
fn a_row_rescale_of_an_accumulator_is_multiplied_behind_a_warp_vote() {
    check(&source(WALK), 1);
}

#[test]
fn the_vote_skips_exactly_the_rescale_multiplies() {
    let ptx = emit_ok_with(&kernel(&source(WALK)), Arch::Sm80, &plain(MmaLowering::MmaSync)).ptx;
    let ptx = ptx.split_whitespace().collect::<Vec<_>>().join(" ");
    let vote = ptx.find("vote.sync.all").unwrap_or_else(|| panic!("no vote:\n{ptx}"));
    let after = &ptx[vote..];
    let branch = after.find(" bra ").unwrap_or_else(|| panic!("no branch after the vote"));
    // The block the branch falls through to when some factor is not 1: up to the next label.
    let arm = &after[branch..];
    let arm = &arm[..arm.find(":").unwrap_or(arm.len())];
    // 64 x 64 f32 over 128 threads: 32 registers a thread.
    assert_eq!(arm.matches("mul.rn.f32").count(), 32, "{arm}");
}

#[test]
fn a_factor_selected_from_one_on_either_arm_is_guarded() {
    check(
        &source(WALK).replace("where(m_new == m, 1.0, exp2(m - m_new))", "where(m_new != m, exp2(m - m_new), 1.0)"),
        1,
    );
}

#[test]
fn a_factor_not_selected_from_one_is_not_guarded() {
    check(&source(WALK).replace("where(m_new == m, 1.0, exp2(m - m_new))", "exp2(m - m_new)"), 0);
}

#[test]
fn a_constant_factor_is_not_guarded() {
    check(&source(WALK).replace(PRODUCT, "acc = acc * 0.5 + dot(cast<bf16>(p), v[n0 .. n0 + 64, ..]);"), 0);
}

#[test]
fn a_rescale_that_no_product_accumulates_onto_is_not_guarded() {
    check(&source(WALK).replace(PRODUCT, "acc = acc * alpha[:, None] + p;"), 0);
}

#[test]
fn an_accumulator_of_few_registers_a_thread_is_not_guarded() {
    // 64 x 8 f32 over 128 threads: 4 registers a thread.
    check(&source(WALK).replace("D: i32 = 64", "D: i32 = 8"), 0);
}

#[test]
fn a_factor_carried_from_one_through_a_loop_is_guarded_in_it_and_after_it() {
    check(&source(CARRIED), 2);
}

#[test]
fn a_factor_carried_from_zeros_is_not_guarded() {
    check(&source(CARRIED).replace("let mut alpha = full([BM], 1.0);", "let mut alpha = zeros([BM]);"), 0);
}
