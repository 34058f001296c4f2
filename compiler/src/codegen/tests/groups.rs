//! Warp groups (`groups(G)`): each group lowers the body on its own, with its own
//! barriers and shared-memory slots, and the loops the producer feeds share one set of
//! stages.

use super::{check_assembles_with, check_no_spills, emit_ok_with, plain};
use crate::codegen::specialize::producer_slice;
use crate::codegen::{CodegenOptions, MmaLowering, PingPong, PtxModule, Specialize};
use crate::ir::{ConstValue, Kernel};
use crate::lower_source;
use crate::target::Arch;

const SPECIALIZED: CodegenOptions = CodegenOptions {
    mma: MmaLowering::Wgmma,
    tma: true,
    decoupled: false,
    pingpong: PingPong::Wide,
    specialize: Specialize::Producer,
};

/// Each group multiplies its own 64 rows of `a` by every column tile of `b`, the tiles
/// of `b` shared: their corners do not depend on `group_id()`.
const SHARED_STREAM: &str = r#"
kernel rows<G: i32 = 2>(
    a: tensor<bf16>[M, K], b: tensor<bf16>[N, K], c: tensor<f32>[M, N],
) grid(cdiv(M, 64 * G)) warps(4) groups(G) {
    let m0 = (program_id(0) * G + group_id()) * 64;
    let at = a[m0 .. m0 + 64, 0 .. 64];
    for n0 in (0 .. N).step_by(64) {
        c[m0 .. m0 + 64, n0 .. n0 + 64] = dot(at, trans(b[n0 .. n0 + 64, 0 .. 64]));
    }
}
"#;

/// The same, each group walking only its own block of `b`'s rows: the loop's corners
/// depend on `group_id()`.
const OWN_STREAM: &str = r#"
kernel rows(
    a: tensor<bf16>[M, K], b: tensor<bf16>[N, K], c: tensor<f32>[M, N],
) grid(cdiv(M, 128)) warps(4) groups(2) {
    let m0 = (program_id(0) * 2 + group_id()) * 64;
    let at = a[m0 .. m0 + 64, 0 .. 64];
    for n0 in (group_id() * 64 .. N).step_by(128) {
        c[m0 .. m0 + 64, n0 .. n0 + 64] = dot(at, trans(b[n0 .. n0 + 64, 0 .. 64]));
    }
}
"#;

/// A transpose through shared memory: a barrier on each side of the exchange.
const TRANSPOSE: &str = r#"
kernel flip(x: tensor<f32>[N, N], y: tensor<f32>[N, N]) grid(1) warps(4) groups(2) {
    let r0 = group_id() * 32;
    y[0 .. 32, r0 .. r0 + 32] = trans(x[r0 .. r0 + 32, 0 .. 32]);
}
"#;

fn kernel(source: &str, consts: &[(&str, i64)], aligned: &[&str]) -> Kernel {
    let consts: Vec<(String, ConstValue)> = consts.iter().map(|(n, v)| (n.to_string(), ConstValue::Int(*v))).collect();
    let mut k = lower_source(source, None, &consts).unwrap_or_else(|e| panic!("test kernel does not compile: {e}"));
    for name in aligned {
        assert!(k.set_aligned(name, true), "no tensor `{name}`");
    }
    k
}

fn count(ptx: &str, needle: &str) -> usize {
    ptx.matches(needle).count()
}

fn specialized(source: &str, groups: i64) -> PtxModule {
    emit_ok_with(&kernel(source, &[("G", groups)], &["a", "b"]), Arch::Sm90a, &SPECIALIZED)
}

#[test]
fn each_group_takes_a_named_barrier_of_its_own_threads() {
    let ptx = emit_ok_with(&kernel(TRANSPOSE, &[], &[]), Arch::Sm80, &plain(MmaLowering::MmaSync)).ptx;
    let own = (count(&ptx, "bar.sync \t1, 128;"), count(&ptx, "bar.sync \t2, 128;"));
    assert!(own.0 > 0 && own.0 == own.1 && !ptx.contains("bar.sync \t0;"), "{own:?}\n{ptx}");
}

#[test]
fn a_grouped_program_launches_every_groups_threads() {
    let module = emit_ok_with(&kernel(TRANSPOSE, &[], &[]), Arch::Sm80, &plain(MmaLowering::MmaSync));
    assert_eq!(module.threads, 256);
}

#[test]
fn each_group_has_its_own_slot_of_a_buffer() {
    let bytes = |g| emit_ok_with(&kernel(SHARED_STREAM, &[("G", g)], &[]), Arch::Sm80, &plain(MmaLowering::MmaSync));
    assert_eq!(bytes(2).shared_bytes, 2 * bytes(1).shared_bytes);
}

#[test]
fn the_producer_feeds_a_loop_whose_corners_are_the_same_for_every_group() {
    let k = kernel(SHARED_STREAM, &[("G", 2)], &["a", "b"]);
    let plan = crate::codegen::plan::assign(&k).unwrap_or_else(|e| panic!("{e}"));
    let format = crate::codegen::operand_tile::OperandFormat::for_target(Arch::Sm90a, MmaLowering::Wgmma);
    let fed = producer_slice(&k, &plan.placements, format).map(|s| s.fed.len());
    assert_eq!(fed, Ok(1));
}

#[test]
fn a_loop_whose_corners_depend_on_group_id_is_left_to_each_group() {
    let k = kernel(OWN_STREAM, &[], &["a", "b"]);
    let plan = crate::codegen::plan::assign(&k).unwrap_or_else(|e| panic!("{e}"));
    let format = crate::codegen::operand_tile::OperandFormat::for_target(Arch::Sm90a, MmaLowering::Wgmma);
    let why = producer_slice(&k, &plan.placements, format).err();
    assert_eq!(why.as_deref(), Some("no loop copies all its prefetched tiles with TMA"));
}

/// Two consumer warpgroups and the producer; the producer's thread 256 issues the copies.
#[test]
fn a_grouped_producer_issues_after_every_groups_threads() {
    let module = specialized(SHARED_STREAM, 2);
    assert_eq!((module.threads, count(&module.ptx, "setmaxnreg.inc.sync.aligned.u32 240;")), (384, 1));
}

/// The stages of a fed loop are one set for both groups: the program needs less than
/// twice the shared memory of one group's.
#[test]
fn a_fed_loops_stages_are_shared_by_the_groups() {
    let (one, two) = (specialized(SHARED_STREAM, 1).shared_bytes, specialized(SHARED_STREAM, 2).shared_bytes);
    // Each group's own: the staged 64 x 64 `a` tile (8 KiB) and the scratch that stores
    // its f32 64 x 64 product (16 KiB); shared: the stages of `b` and their barriers.
    assert_eq!(two - one, 8192 + 16384, "one group {one} bytes, two {two}");
}

/// Every warp of both groups releases a fed stage: the free barriers count 8 arrivals.
#[test]
fn a_fed_loops_free_barriers_wait_for_every_groups_warps() {
    let ptx = specialized(SHARED_STREAM, 2).ptx;
    let frees = ptx.lines().filter(|l| l.contains("mbarrier.init") && l.trim_end().ends_with(", 8;")).count();
    assert_eq!(frees, 2, "{ptx}");
}

/// Only the first group's thread 0 initializes and invalidates the shared barriers: the
/// PTX initializes each once.
#[test]
fn a_fed_loops_barriers_are_initialized_once() {
    let ptx = specialized(SHARED_STREAM, 2).ptx;
    assert_eq!(count(&ptx, "mbarrier.init"), 4, "{ptx}");
}

/// The groups meet at one barrier of all 256 consumer threads before the shared stages
/// change hands.
#[test]
fn the_groups_meet_where_a_fed_loop_starts_and_ends() {
    let ptx = specialized(SHARED_STREAM, 2).ptx;
    assert!(count(&ptx, "bar.sync \t3, 256;") >= 4, "{ptx}");
}

#[test]
fn a_grouped_kernel_with_a_shared_stream_assembles_without_spills() {
    let k = kernel(SHARED_STREAM, &[("G", 2)], &["a", "b"]);
    check_no_spills(&check_assembles_with(&k, &SPECIALIZED));
}

#[test]
fn a_grouped_kernel_with_its_own_streams_assembles_without_spills() {
    let k = kernel(OWN_STREAM, &[], &["a", "b"]);
    check_no_spills(&check_assembles_with(&k, &SPECIALIZED));
}

/// A branch on a value loaded from memory, each group its own rows.
const BRANCH: &str = r#"
kernel branch<G: i32 = 2>(x: tensor<f32>[N], flag: tensor<i32>[P], y: tensor<f32>[N]) grid(P) warps(4) groups(G) {
    let r0 = (program_id(0) * G + group_id()) * 128;
    if flag[program_id(0)] > 0 {
        y[r0 .. r0 + 128] = x[r0 .. r0 + 128];
    }
}
"#;

/// With groups, an `if` branches on a warp vote of its condition, so that ptxas knows the
/// warp takes it together (`Lowerer::warp_uniform`); one group keeps the plain branch.
#[test]
fn a_grouped_kernel_branches_on_a_warp_vote() {
    let votes = |g: i64| {
        let module = emit_ok_with(&kernel(BRANCH, &[("G", g)], &[]), Arch::Sm90a, &plain(MmaLowering::Wgmma));
        count(&module.ptx, "vote.sync.all.pred")
    };
    assert_eq!((votes(1), votes(2)), (0, 2));
}

/// The induction variable of `k`'s first top-level loop, and whether it may differ
/// between groups.
fn loop_iv_varies(k: &Kernel) -> bool {
    let iv = k.body.insts.iter().find_map(|inst| match &inst.op {
        crate::ir::Op::For { body, .. } => body.args.first().copied(),
        _ => None,
    });
    let iv = iv.unwrap_or_else(|| panic!("`{}` has no top-level loop", k.name));
    crate::codegen::specialize::group_variant(k).contains(&iv)
}

#[test]
fn a_loop_over_the_same_tiles_is_the_same_for_every_group() {
    assert!(!loop_iv_varies(&kernel(SHARED_STREAM, &[("G", 2)], &[])));
}

#[test]
fn a_loop_from_group_id_differs_between_groups() {
    assert!(loop_iv_varies(&kernel(OWN_STREAM, &[], &[])));
}
