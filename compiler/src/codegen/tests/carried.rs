//! A loop's last product running on into the next iteration
//! ([`crate::codegen::wgmma`], "Carried products"): where its wait lands in the PTX, and
//! where ptxas then keeps it in the SASS.

use super::{check_assembles_with, emit_ok_with, plain};
use crate::codegen::cuobjdump;
use crate::codegen::ptxas::{assemble_with, available_for_tests, find_ptxas};
use crate::codegen::{CodegenOptions, MmaLowering};
use crate::ir::Kernel;
use crate::lower_source;
use crate::target::Arch;

/// The vertical-slash walk in small: tile `n0`'s scores start, then the previous tile's
/// probabilities times its values (the loop's last product, read next in the next
/// iteration's rescale), then the softmax of tile `n0`.
const WALK: &str = "
kernel walk<BM: i32 = 64, D: i32 = 128>(
    q: tensor<bf16>[T, D],
    k: tensor<bf16>[T, D],
    v: tensor<bf16>[T, D],
    o: tensor<f32>[T, D],
    n: i32,
) grid(cdiv(T, BM)) warps(4) {
    let m0 = program_id(0) * BM;
    let qt = q[m0 .. m0 + BM, ..];
    let mut acc = zeros([BM, D]);
    let mut m = full([BM], -inf);
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

/// The walk with its accumulator stored every iteration, so that its last product is
/// read in the iteration that issues it.
fn walk_reading_acc() -> String {
    let src = WALK.replace("        m = m_new;\n", "        m = m_new;\n        o[m0 .. m0 + BM, ..] = acc;\n");
    assert_ne!(src, WALK, "the replacement must hit the loop body");
    src
}

fn kernel(src: &str) -> Kernel {
    let mut k = lower_source(src, None, &[]).unwrap_or_else(|e| panic!("test kernel does not compile: {e}"));
    for name in ["q", "k", "v"] {
        k.set_aligned(name, true);
    }
    k
}

/// Without TMA, a producer or turns, and with the defaults (all three).
fn options() -> [CodegenOptions; 2] {
    [plain(MmaLowering::Wgmma), CodegenOptions::default()]
}

#[test]
fn carried_products_assemble_without_holding_back_the_wgmma_pipeline() {
    for options in &options() {
        for (arch, report) in &check_assembles_with(&kernel(WALK), options) {
            assert_eq!(report.wgmma_stall(), None, "{options:?} on {arch}");
        }
    }
}

/// The SASS of `src` on sm_90a with `options`; `None` without ptxas and cuobjdump.
fn sass(src: &str, options: &CodegenOptions) -> Option<String> {
    let what = "the SASS of a carried product";
    if !available_for_tests(what) || !cuobjdump::available_for_tests(what) {
        return None;
    }
    let ptx = emit_ok_with(&kernel(src), Arch::Sm90a, options).ptx;
    let ptxas = find_ptxas().expect("ptxas is available");
    let cubin = assemble_with(&ptxas, &ptx, Arch::Sm90a.name()).expect("ptxas assembles it").cubin;
    Some(cuobjdump::sass(&cubin).expect("cuobjdump disassembles it"))
}

/// Whether the softmax waits for every product: a `wgmma` wait for all groups between
/// the scores' wait (which leaves one group, the values' product, running) and the
/// softmax's last exponential.
fn softmax_waits_for_the_values(sass: &str) -> bool {
    let scores_wait = sass.find("WARPGROUP.DEPBAR.LE gsb0, 0x1").expect("the loop waits for its scores");
    let softmax = &sass[scores_wait..];
    let last_exp = softmax.rfind("MUFU.EX2").expect("the softmax's exponentials");
    softmax[..last_exp].contains("WARPGROUP.DEPBAR.LE gsb0, 0x0")
}

/// The point: ptxas keeps the wait where the PTX has it, at the next iteration's top, so
/// the softmax runs while the values' product does. Completed at the end of the
/// iteration, ptxas moved that wait a few instructions into the softmax, where its
/// latency model has the product done.
#[test]
fn the_softmax_runs_while_the_values_product_does() {
    for options in &options() {
        if let Some(sass) = sass(WALK, options) {
            assert!(!softmax_waits_for_the_values(&sass), "{options:?}:\n{sass}");
        }
    }
}

#[test]
fn a_product_read_in_its_own_iteration_is_waited_for_in_it() {
    // The store of acc each iteration needs the values' product complete in the iteration.
    for options in &options() {
        if let Some(sass) = sass(&walk_reading_acc(), options) {
            assert!(softmax_waits_for_the_values(&sass), "{options:?}:\n{sass}");
        }
    }
}
