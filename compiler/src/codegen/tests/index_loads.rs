//! Index loads an iteration ahead ([`crate::codegen::prefetch::IndexLoads`]): a prefetched
//! tile whose corner is a block list's entry takes it from a loop-carried value loaded the
//! iteration before, so no copy waits for a load of its own corner.

use super::pipeline::GEMM;
use super::{check_assembles_with, check_no_spills, emit_ok_with};
use crate::codegen::{CodegenOptions, MmaLowering, PingPong};
use crate::ir::Kernel;
use crate::lower_source;
use crate::target::Arch;

const TMA: CodegenOptions =
    CodegenOptions { mma: MmaLowering::Wgmma, tma: true, decoupled: false, pingpong: PingPong::Off };
const CP_ASYNC: CodegenOptions = CodegenOptions { tma: false, ..TMA };

/// Scores of a query tile against the key tiles a block list names (`CHAINED`: the list
/// names positions in a second list, which names the tiles).
const LISTED: &str = r#"
kernel listed<BM: i32 = 64, BN: i32 = 64, D: i32 = 64, CHAINED: bool = false>(
    q: tensor<bf16>[T, D], k: tensor<bf16>[T, D], list: tensor<i32>[L], tiles: tensor<i32>[L], o: tensor<f32>[T, BN],
    n: i32,
) grid(cdiv(T, BM)) warps(4) {
    let m0 = program_id(0) * BM;
    let qt = q[m0 .. m0 + BM, ..];
    let mut acc = zeros([BM, BN]);
    for j in 0 .. n {
        let c0 = if CHAINED { tiles[list[j]] } else { list[j] * BN };
        acc = acc + dot(qt, trans(k[c0 .. c0 + BN, ..]));
    }
    o[m0 .. m0 + BM, ..] = acc;
}
"#;

fn listed(chained: bool) -> Kernel {
    let consts = [("CHAINED".to_string(), crate::ir::ConstValue::Bool(chained))];
    let mut k = lower_source(LISTED, None, &consts).unwrap_or_else(|e| panic!("test kernel does not compile: {e}"));
    for name in ["q", "k"] {
        assert!(k.set_aligned(name, true), "no tensor `{name}`");
    }
    k
}

/// The loop-carried index values in the LLVM IR.
fn index_phis(k: &Kernel, options: &CodegenOptions) -> usize {
    emit_ok_with(k, Arch::Sm90a, options)
        .llvm_ir
        .lines()
        .filter(|l| l.contains("%index.ahead") && l.contains("phi"))
        .count()
}

#[test]
fn a_tma_copy_of_a_listed_tile_takes_its_corner_from_the_iteration_before() {
    assert_eq!(index_phis(&listed(false), &TMA), 1);
}

#[test]
fn a_cp_async_copy_of_a_listed_tile_takes_its_corner_from_the_iteration_before() {
    assert_eq!(index_phis(&listed(false), &CP_ASYNC), 1);
}

#[test]
fn a_list_read_through_another_list_is_loaded_with_its_copy() {
    assert_eq!(index_phis(&listed(true), &TMA), 0);
}

#[test]
fn a_loop_whose_corners_are_arithmetic_carries_no_index() {
    let k = lower_source(GEMM, None, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(index_phis(&k, &TMA), 0);
}

#[test]
fn index_loads_ahead_assemble_without_spills() {
    check_no_spills(&check_assembles_with(&listed(false), &TMA));
}
