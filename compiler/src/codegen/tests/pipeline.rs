//! The layout plan and the operand pipeline, on kernels written in `.tile`: what the
//! PTX must (and must not) contain once dot results stay in registers and loop
//! operands are prefetched with `cp.async`.

use super::{check_assembles, check_assembles_with, check_no_spills, emit_ok, emit_ok_with, plain};
use crate::codegen::{CodegenOptions, MmaLowering};
use crate::ir::{ConstValue, Kernel};
use crate::lower_source;
use crate::target::Arch;

/// A GEMM whose k loop feeds both operands to `dot` only, accumulating into `acc`.
pub(super) const GEMM: &str = r#"
kernel mm<BM: i32 = 64, BN: i32 = 64, BK: i32 = 32>(
    a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N],
) grid(cdiv(M, BM), cdiv(N, BN)) warps(4) {
    let m0 = program_id(0) * BM;
    let n0 = program_id(1) * BN;
    let mut acc = zeros([BM, BN]);
    for k0 in (0 .. K).step_by(BK) {
        acc = acc + dot(a[m0 .. m0 + BM, k0 .. k0 + BK], b[k0 .. k0 + BK, n0 .. n0 + BN]);
    }
    c[m0 .. m0 + BM, n0 .. n0 + BN] = acc;
}
"#;

/// A dot whose rows are reduced: the row max needs lane shuffles only.
const ROW_MAX: &str = r#"
kernel rowmax(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], out: tensor<f32>[M]) grid(1) warps(4) {
    let s = dot(a[0 .. 64, 0 .. 32], b[0 .. 32, 0 .. 64]);
    out[0 .. 64] = max(s, axis: 1);
}
"#;

/// The same loop, but the loaded tile is also stored: it must stay in registers.
const LOAD_ALSO_STORED: &str = r#"
kernel mm2(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N], d: tensor<bf16>[K, N]) grid(1) warps(4) {
    let mut acc = zeros([64, 64]);
    for k0 in (0 .. K).step_by(32) {
        let bt = b[k0 .. k0 + 32, 0 .. 64];
        d[k0 .. k0 + 32, 0 .. 64] = bt;
        acc = acc + dot(a[0 .. 64, k0 .. k0 + 32], bt);
    }
    c[0 .. 64, 0 .. 64] = acc;
}
"#;

fn kernel(src: &str) -> Kernel {
    match lower_source(src, None, &[]) {
        Ok(k) => k,
        Err(e) => panic!("test kernel does not compile: {e}"),
    }
}

/// [`GEMM`] with `stages(stages)`.
fn gemm_with_stages(stages: i64) -> Kernel {
    let src = GEMM.replace("BK: i32 = 32>", "BK: i32 = 32, S: i32 = 2>").replace("warps(4)", "warps(4) stages(S)");
    match lower_source(&src, None, &[("S".to_string(), ConstValue::Int(stages))]) {
        Ok(k) => k,
        Err(e) => panic!("GEMM with stages({stages}) does not compile: {e}"),
    }
}

/// The `N` of every `cp.async.wait_group N;` line, in order.
fn waits(ptx: &str) -> Vec<u32> {
    ptx.lines()
        .filter_map(|l| l.trim().strip_prefix("cp.async.wait_group")?.trim().strip_suffix(';')?.trim().parse().ok())
        .collect()
}

/// The mma.sync schedule these tests pin (the wgmma one is tested below), on sm_90a.
const MMA_SYNC: CodegenOptions = plain(MmaLowering::MmaSync);

fn ptx(src: &str) -> String {
    emit_ok_with(&kernel(src), Arch::Sm90a, &MMA_SYNC).ptx
}

#[test]
fn loop_operands_are_copied_with_cp_async() {
    assert!(ptx(GEMM).contains("cp.async.cg.shared.global"));
}

#[test]
fn copies_wait_for_all_but_the_newest_group() {
    let waits_for_one = |line: &str| line.split_whitespace().eq(["cp.async.wait_group", "1;"]);
    assert!(ptx(GEMM).lines().any(waits_for_one));
}

#[test]
fn accumulating_dot_adds_in_the_tensor_cores() {
    // `acc + dot(..)` starts the mma from acc: no float add is left.
    let ptx = ptx(GEMM);
    assert!(!ptx.contains("add.f32") && !ptx.contains("add.rn.f32"));
}

#[test]
fn pipelined_gemm_assembles_without_spills() {
    check_no_spills(&check_assembles(&kernel(GEMM)));
}

#[test]
fn pipelined_gemm_has_both_stages_of_both_operands() {
    // a: 2 x 64 x (32 + 8) halves; b: 2 x 32 x 64 swizzled halves; the f32 result is
    // stored through 16 KiB of scratch after the loop, inside the stages it released.
    assert_eq!(emit_ok(&kernel(GEMM), Arch::Sm80).shared_bytes, 10240 + 8192);
}

#[test]
fn explicit_two_stages_are_the_default_schedule() {
    let default = emit_ok(&kernel(GEMM), Arch::Sm80);
    let two = emit_ok(&gemm_with_stages(2), Arch::Sm80);
    assert_eq!(waits(&default.ptx), [1, 0]);
    assert_eq!((waits(&two.ptx), two.shared_bytes), (waits(&default.ptx), default.shared_bytes));
}

#[test]
fn n_stages_wait_for_all_but_the_n_minus_1_newest_groups() {
    // In the loop: N - 1 groups may stay in flight; after it: none.
    for stages in 3..=8 {
        assert_eq!(waits(&ptx_of(&gemm_with_stages(stages))), [stages as u32 - 1, 0], "stages({stages})");
    }
}

fn ptx_of(k: &Kernel) -> String {
    emit_ok_with(k, Arch::Sm90a, &MMA_SYNC).ptx
}

#[test]
fn n_stages_copy_n_minus_1_iterations_before_the_loop_and_one_in_it() {
    // A thread's share of a (64 x 32) and of b (32 x 64) is two 16-byte copies each, so
    // every iteration copied is 4 `cp.async`: N - 1 in the prologue and 1 in the body.
    for stages in 2..=5 {
        let ptx = ptx_of(&gemm_with_stages(stages));
        assert_eq!(ptx.matches("cp.async.cg.shared.global").count(), 4 * stages as usize, "stages({stages})");
        assert_eq!(ptx.matches("cp.async.commit_group").count(), stages as usize, "stages({stages})");
    }
}

#[test]
fn three_stages_of_both_operands_in_shared_memory() {
    // Per stage a is 64 x (32 + 8) halves and b 32 x 64 swizzled halves; the 16 KiB of
    // scratch for the f32 result store reuses them once the loop is done.
    assert_eq!(emit_ok(&gemm_with_stages(3), Arch::Sm80).shared_bytes, 3 * (5120 + 4096));
}

#[test]
fn three_and_four_stage_gemms_assemble_without_spills() {
    // 3 wraps its stage counter with a compare and select, 4 with a mask.
    check_no_spills(&check_assembles(&gemm_with_stages(3)));
    check_no_spills(&check_assembles(&gemm_with_stages(4)));
}

#[test]
fn row_reduction_of_a_dot_uses_lane_shuffles() {
    assert!(ptx(ROW_MAX).contains("shfl.sync.bfly"));
}

#[test]
fn tile_with_another_use_is_not_prefetched() {
    // b is stored too, so only a is copied ahead: a thread's 16 elements of a are two
    // 16-byte copies, issued before the loop and at the top of its body.
    let ptx = ptx(LOAD_ALSO_STORED);
    assert_eq!(ptx.matches("cp.async.cg.shared.global").count(), 4);
}

/// [`GEMM`] walking b's k rows in a rotated order, picked with a scalar `where`:
/// `rotate` rows ahead, wrapping at `K`. `cond` is the condition's left-hand side.
fn rotated_gemm(cond: &str) -> String {
    GEMM.replace("k0 .. k0 + BK, n0", "kb .. kb + BK, n0")
        .replace("c: tensor<f32>[M, N],\n", "c: tensor<f32>[M, N], rotate: i32, x: f32,\n")
        .replace("    for k0", "    let (wrap, ahead, back) = (K - rotate, rotate, rotate - K);\n    for k0")
        .replace(
            "        acc = acc +",
            &format!("        let kb = where({cond} < wrap, k0 + ahead, k0 + back);\n        acc = acc +"),
        )
}

#[test]
fn tile_indexed_through_a_scalar_where_is_prefetched() {
    // Both operands copied ahead, as in the plain GEMM: 4 `cp.async` per iteration copied.
    assert_eq!(ptx(&rotated_gemm("k0")).matches("cp.async.cg.shared.global").count(), 8);
}

#[test]
fn tile_indexed_through_a_float_comparison_is_not_prefetched() {
    // Only a is copied ahead; b's index depends on a comparison of floats.
    let src = rotated_gemm("x").replace("x < wrap", "x < 0.5");
    assert_eq!(ptx(&src).matches("cp.async.cg.shared.global").count(), 4);
}

/// [`GEMM`] reading b's rows at `kb`, an i32 `max` or `min` of the induction variable (as
/// the attention walks read the previous tile's values at `max(n0 - BN, 0)`); `last` is
/// the last step's first row, computed before the loop.
fn clamped_gemm(kb: &str) -> String {
    GEMM.replace("k0 .. k0 + BK, n0", "kb .. kb + BK, n0")
        .replace("    for k0", "    let last = K - BK;\n    for k0")
        .replace("        acc = acc +", &format!("        let kb = {kb};\n        acc = acc +"))
}

#[test]
fn tile_indexed_through_an_integer_max_is_prefetched() {
    assert_eq!(ptx(&clamped_gemm("max(k0 - BK, 0)")).matches("cp.async.cg.shared.global").count(), 8);
}

#[test]
fn tile_indexed_through_an_integer_min_is_prefetched() {
    assert_eq!(ptx(&clamped_gemm("min(k0 + BK, last)")).matches("cp.async.cg.shared.global").count(), 8);
}

const WGMMA: CodegenOptions = plain(MmaLowering::Wgmma);

/// [`GEMM`]'s sm_90a PTX on wgmma with `stages(stages)`.
fn wgmma_gemm_ptx(stages: i64) -> String {
    emit_ok_with(&gemm_with_stages(stages), Arch::Sm90a, &WGMMA).ptx
}

/// The `N` of every `wgmma.wait_group.sync.aligned N;` line, in order.
fn product_waits(ptx: &str) -> Vec<u32> {
    ptx.lines()
        .filter_map(|l| {
            l.trim().strip_prefix("wgmma.wait_group.sync.aligned")?.trim().strip_suffix(';')?.trim().parse().ok()
        })
        .collect()
}

#[test]
fn loop_accumulator_on_wgmma_waits_a_loop_later() {
    // The body waits for all but the last iteration's products; only after the loop for all.
    assert_eq!(product_waits(&wgmma_gemm_ptx(3)), [1, 0]);
}

#[test]
fn deferred_products_are_committed_before_the_wait_that_lets_them_run() {
    let ptx = wgmma_gemm_ptx(3);
    let at = |s: &str| ptx.find(s).unwrap_or_else(|| panic!("no `{s}` in the PTX"));
    assert!(at("wgmma.commit_group") < at("wgmma.wait_group.sync.aligned 1;"));
}

#[test]
fn deferred_products_copy_one_iteration_less_ahead() {
    // Stage s - 1 is still read by the last iteration's products: N - 2 iterations are
    // copied before the loop (4 cp.async each, as above) and one in it, and the copies
    // may leave N - 2 groups in flight.
    for stages in 2..=5 {
        let ptx = wgmma_gemm_ptx(stages);
        assert_eq!(ptx.matches("cp.async.cg.shared.global").count(), 4 * (stages as usize - 1), "stages({stages})");
        assert_eq!(waits(&ptx), [stages as u32 - 2, 0], "stages({stages})");
    }
}

#[test]
fn accumulator_read_in_the_loop_is_waited_for_at_once() {
    // acc feeds a store each iteration, so its products must be complete there.
    let src = GEMM.replace(
        "acc = acc + dot(a[m0 .. m0 + BM, k0 .. k0 + BK], b[k0 .. k0 + BK, n0 .. n0 + BN]);",
        "acc = acc + dot(a[m0 .. m0 + BM, k0 .. k0 + BK], b[k0 .. k0 + BK, n0 .. n0 + BN]);\n        c[m0 .. m0 + BM, n0 .. n0 + BN] = acc;",
    );
    assert_ne!(src, GEMM, "the replacement must hit the loop body");
    let ptx = emit_ok_with(&kernel(&src), Arch::Sm90a, &WGMMA).ptx;
    assert_eq!(product_waits(&ptx), [0]);
}

#[test]
fn deferred_wgmma_gemm_assembles_without_spills_or_serialization() {
    for stages in [2, 3, 4] {
        let reports = check_assembles_with(&gemm_with_stages(stages), &WGMMA);
        check_no_spills(&reports);
        // ptxas says so when it has to serialize wgmma (accumulators touched in flight).
        for (arch, report) in &reports {
            assert_eq!(report.wgmma_stall(), None, "stages({stages}) on {arch}");
        }
    }
}

/// Two products, each result stored: x's store comes while y's product runs.
const TWO_PRODUCTS: &str = r#"
kernel two(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N], d: tensor<f32>[M, N]) grid(1) warps(4) {
    let x = dot(a[0 .. 64, 0 .. 64], b[0 .. 64, 0 .. 64]);
    let y = dot(a[0 .. 64, 0 .. 64], b[0 .. 64, 64 .. 128]);
    c[0 .. 64, 0 .. 64] = x;
    d[0 .. 64, 0 .. 64] = y;
}
"#;

#[test]
fn an_earlier_product_is_waited_for_while_a_later_one_runs() {
    // x's store waits for x alone (one group may stay in flight), y's for the rest.
    assert_eq!(product_waits(&emit_ok_with(&kernel(TWO_PRODUCTS), Arch::Sm90a, &WGMMA).ptx), [1, 0]);
}

#[test]
fn waiting_for_a_later_product_completes_the_earlier_ones() {
    // y is scaled before x is stored: its wait covers x too, so x needs none of its own.
    let src = TWO_PRODUCTS
        .replace("b[0 .. 64, 64 .. 128]);", "b[0 .. 64, 64 .. 128]);\n    let z = y * 2.0;")
        .replace("= y;", "= z;");
    assert_ne!(src, TWO_PRODUCTS, "the replacement must hit the kernel");
    assert_eq!(product_waits(&emit_ok_with(&kernel(&src), Arch::Sm90a, &WGMMA).ptx), [0]);
}

#[test]
fn a_product_on_staged_operands_completes_at_once_with_those_running() {
    // y's lhs is computed, so it is staged in the scratch region the next staging reuses:
    // y completes where it is issued, and the one wait covers x, still running, too.
    let src = TWO_PRODUCTS.replace(
        "dot(a[0 .. 64, 0 .. 64], b[0 .. 64, 64 .. 128])",
        "dot(cast<bf16>(cast<f32>(a[0 .. 64, 0 .. 64]) * 2.0), b[0 .. 64, 64 .. 128])",
    );
    assert_ne!(src, TWO_PRODUCTS, "the replacement must hit y");
    assert_eq!(product_waits(&emit_ok_with(&kernel(&src), Arch::Sm90a, &WGMMA).ptx), [0]);
}

/// Two fresh products an iteration, both read after both are issued.
const TWO_FRESH_PRODUCTS_IN_A_LOOP: &str = r#"
kernel two_in_a_loop(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N]) grid(1) warps(4) {
    let mut acc = zeros([64, 64]);
    for k0 in (0 .. K).step_by(64) {
        let x = dot(a[0 .. 64, k0 .. k0 + 64], b[k0 .. k0 + 64, 0 .. 64]);
        let y = dot(a[0 .. 64, k0 .. k0 + 64], b[k0 .. k0 + 64, 64 .. 128]);
        acc = acc + x * y;
    }
    c[0 .. 64, 0 .. 64] = acc;
}
"#;

#[test]
fn a_fresh_product_zeroed_while_another_runs_needs_no_injected_wait() {
    // y's accumulators are zeroed while x runs; as copies of one zero register, ptxas
    // 13.0 waited for x there (C7517).
    for (arch, report) in &check_assembles_with(&kernel(TWO_FRESH_PRODUCTS_IN_A_LOOP), &WGMMA) {
        assert_eq!(report.wgmma_stall(), None, "on {arch}");
    }
}

#[test]
fn a_product_builds_each_operand_descriptor_once_and_advances_it_per_k_step() {
    // Four k-steps, both operands in shared memory: a descriptor's start field is
    // extracted (`bfe.u32 .., 4, 14`) once per operand, then advanced by constants.
    let src = r#"
kernel one(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N]) grid(1) warps(4) {
    c[0 .. 64, 0 .. 64] = dot(a[0 .. 64, 0 .. 64], b[0 .. 64, 0 .. 64]);
}
"#;
    let ptx = emit_ok_with(&kernel(src), Arch::Sm90a, &WGMMA).ptx;
    assert_eq!(ptx.matches("wgmma.mma_async").count(), 4, "{ptx}");
    assert_eq!(ptx.matches(", 4, 14;").count(), 2, "{ptx}");
}

#[test]
fn a_product_does_not_run_into_a_loop() {
    // x is issued before the loop and used in it: it is complete before the loop starts.
    let src = r#"
kernel across(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N]) grid(1) warps(4) {
    let x = dot(a[0 .. 64, 0 .. 64], b[0 .. 64, 0 .. 64]);
    for i in 0 .. 4 {
        c[i * 64 .. i * 64 + 64, 0 .. 64] = x;
    }
}
"#;
    let ptx = emit_ok_with(&kernel(src), Arch::Sm90a, &WGMMA).ptx;
    let at = |s: &str| ptx.find(s).unwrap_or_else(|| panic!("no `{s}` in the PTX"));
    let commit = at("wgmma.commit_group");
    // The first label after the product is the loop's header.
    let header = commit + ptx[commit..].find("$L__").unwrap_or_else(|| panic!("no loop after the product:\n{ptx}"));
    assert!(at("wgmma.wait_group.sync.aligned 0;") < header, "{ptx}");
}
