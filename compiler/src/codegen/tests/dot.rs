//! `dot` and `trans`: the tensor-core instructions they must lower to (mma.sync on
//! sm_80 and for warp grids wgmma cannot take; wgmma on sm_90a), that they assemble
//! without spills, and the shared-memory limit.

use super::{
    check_assembles, check_assembles_with, check_no_spills, emit_ok, emit_ok_with, one_program_grid, plain, whole,
};
use crate::codegen::{CodegenOptions, MmaLowering};
use crate::ir::builder::KernelBuilder;
use crate::ir::{DType, Kernel};
use crate::target::Arch;

/// `c = a[M, K] @ b[K, N]` with four warps, or `a @ trans(bt)` with `bt[N, K]` when `trans_rhs`.
fn matmul(dtype: DType, [m, k, n]: [u32; 3], trans_rhs: bool) -> Kernel {
    let mut kb = KernelBuilder::new("matmul", 4);
    let a = kb.tensor_param("a", dtype, &["M", "K"]);
    let b = kb.tensor_param("b", dtype, &["R", "S"]);
    let c = kb.tensor_param("c", DType::F32, &["M", "N"]);
    one_program_grid(&mut kb, a);
    let ai = whole(&mut kb, &[m, k]);
    let lhs = kb.load(a, ai);
    let rhs = if trans_rhs {
        let bi = whole(&mut kb, &[n, k]);
        let bt = kb.load(b, bi);
        kb.trans(bt)
    } else {
        let bi = whole(&mut kb, &[k, n]);
        kb.load(b, bi)
    };
    let product = kb.dot(lhs, rhs);
    let ci = whole(&mut kb, &[m, n]);
    kb.store(c, ci, product);
    kb.finish()
}

/// sm_80's PTX: mma.sync, operands read by ldmatrix from padded rows.
fn ptx(dtype: DType, mkn: [u32; 3]) -> String {
    emit_ok(&matmul(dtype, mkn, false), Arch::Sm80).ptx
}

const WGMMA: CodegenOptions = plain(MmaLowering::Wgmma);

/// sm_90a's PTX with the wgmma lowering.
fn hopper_ptx(mkn: [u32; 3], trans_rhs: bool) -> String {
    emit_ok_with(&matmul(DType::BF16, mkn, trans_rhs), Arch::Sm90a, &WGMMA).ptx
}

#[test]
fn hopper_dot_uses_wgmma_by_default() {
    let ptx = emit_ok(&matmul(DType::BF16, [64, 32, 64], false), Arch::Sm90a).ptx;
    assert!(ptx.contains("wgmma.mma_async") && !ptx.contains("mma.sync.aligned"));
}

#[test]
fn hopper_dot_lowers_to_mma_sync_on_request() {
    let options = plain(MmaLowering::MmaSync);
    let ptx = emit_ok_with(&matmul(DType::BF16, [64, 32, 64], false), Arch::Sm90a, &options).ptx;
    assert!(ptx.contains("mma.sync.aligned.m16n8k16") && !ptx.contains("wgmma"));
}

#[test]
fn wgmma_lowering_keeps_mma_sync_on_sm_80() {
    let ptx = emit_ok_with(&matmul(DType::BF16, [64, 32, 64], false), Arch::Sm80, &WGMMA).ptx;
    assert!(!ptx.contains("wgmma"));
}

#[test]
fn wgmma_dot_assembles_without_spills() {
    check_no_spills(&check_assembles_with(&matmul(DType::BF16, [64, 32, 64], false), &WGMMA));
}

#[test]
fn wgmma_dot_with_transposed_rhs_assembles_without_spills() {
    check_no_spills(&check_assembles_with(&matmul(DType::BF16, [64, 64, 64], true), &WGMMA));
}

#[test]
fn bf16_dot_uses_mma_sync() {
    assert!(ptx(DType::BF16, [16, 16, 8]).contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
}

#[test]
fn f16_dot_uses_mma_sync() {
    assert!(ptx(DType::F16, [32, 32, 16]).contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"));
}

#[test]
fn lhs_loaded_only_for_dot_is_read_with_ldmatrix_x4() {
    // Staged to shared memory as soon as it is loaded, then read as A fragments.
    assert!(ptx(DType::BF16, [64, 32, 64]).contains("ldmatrix.sync.aligned.m8n8.x4.shared.b16"));
}

#[test]
fn lhs_shared_by_warps_comes_from_ldmatrix_x4() {
    // [16, 32]: one m-tile for four warps, so the warps split n and share the lhs.
    assert!(ptx(DType::BF16, [16, 32, 64]).contains("ldmatrix.sync.aligned.m8n8.x4.shared.b16"));
}

#[test]
fn warps_split_along_n_keep_mma_sync_on_hopper() {
    // No warpgroup owns 64 whole rows, so wgmma does not apply.
    assert!(hopper_ptx([16, 32, 64], false).contains("mma.sync.aligned.m16n8k16"));
}

#[test]
fn hopper_dot_is_one_wgmma_per_k_step() {
    // Four warps along M: one warpgroup, 64 rows, K / 16 = 2 steps.
    assert_eq!(
        hopper_ptx([64, 32, 64], false).matches("wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16").count(),
        2
    );
}

#[test]
fn hopper_dot_is_fenced_committed_and_waited_for() {
    let ptx = hopper_ptx([64, 32, 64], false);
    let at = |s: &str| ptx.find(s).unwrap_or_else(|| panic!("no `{s}` in the PTX"));
    let order =
        [at("wgmma.fence.sync.aligned"), at("wgmma.mma_async"), at("wgmma.commit_group"), at("wgmma.wait_group")];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[test]
fn hopper_operand_writes_are_fenced_for_the_async_proxy() {
    assert!(hopper_ptx([64, 32, 64], false).contains("fence.proxy.async.shared::cta"));
}

#[test]
fn hopper_plain_rhs_is_read_transposed() {
    // [K, N] rows are MN-major: the last immediate (trans-b) is 1.
    assert!(hopper_ptx([64, 32, 64], false).contains("p, 1, 1, 0, 1;"));
}

#[test]
fn hopper_transposed_rhs_is_read_k_major() {
    assert!(hopper_ptx([64, 64, 64], true).contains("p, 1, 1, 0, 0;"));
}

#[test]
fn hopper_operands_sit_in_core_matrices_without_padding() {
    // lhs 64 x 32 and rhs 32 x 64 halves, unpadded, and the f32 [64, 64] store's scratch.
    let module = emit_ok_with(&matmul(DType::BF16, [64, 32, 64], false), Arch::Sm90a, &WGMMA);
    assert_eq!(module.shared_bytes, 4096 + 4096 + 16384);
}

#[test]
fn rhs_fragments_of_two_n_tiles_come_from_one_transposing_ldmatrix_x4() {
    assert!(ptx(DType::BF16, [64, 32, 64]).contains("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"));
}

#[test]
fn rhs_of_one_n_tile_comes_from_transposing_ldmatrix_x2() {
    assert!(ptx(DType::BF16, [16, 16, 8]).contains("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16"));
}

#[test]
fn transposed_rhs_is_read_without_trans() {
    let ptx = emit_ok(&matmul(DType::BF16, [64, 64, 64], true), Arch::Sm90a).ptx;
    assert!(!ptx.contains(".trans"));
}

#[test]
fn one_mma_per_tile_and_k_step() {
    // 64x64 is 32 tiles of 16x8 over 4 warps: 8 per warp, each over K/16 = 2 steps.
    assert_eq!(ptx(DType::BF16, [64, 32, 64]).matches("mma.sync.aligned").count(), 16);
}

#[test]
fn fewer_tiles_than_warps_still_emits_one_tile_per_warp() {
    assert_eq!(ptx(DType::BF16, [16, 16, 8]).matches("mma.sync.aligned").count(), 1);
}

#[test]
fn staged_operands_have_buffers_of_their_own_next_to_the_scratch() {
    // lhs 64 rows of (32 + 8) halves (5120 bytes), rhs 32 swizzled rows of 64 (4096), and
    // the scratch the f32 result crosses to the blocked layout for its store (16384).
    assert_eq!(emit_ok(&matmul(DType::BF16, [64, 32, 64], false), Arch::Sm80).shared_bytes, 5120 + 4096 + 16384);
}

#[test]
fn smallest_dot_assembles_without_spills() {
    check_no_spills(&check_assembles(&matmul(DType::BF16, [16, 16, 8], false)));
}

#[test]
fn gemm_tile_assembles_without_spills() {
    check_no_spills(&check_assembles(&matmul(DType::BF16, [64, 32, 64], false)));
}

#[test]
fn f16_dot_assembles_without_spills() {
    check_no_spills(&check_assembles(&matmul(DType::F16, [32, 64, 16], false)));
}

#[test]
fn dot_with_transposed_rhs_assembles_without_spills() {
    check_no_spills(&check_assembles(&matmul(DType::BF16, [64, 64, 64], true)));
}

#[test]
fn dot_past_48_kib_of_shared_memory_is_sized_for_the_launch() {
    // lhs 16 x 128 and rhs 128 x 256 halves, both swizzled, + the f32 [16, 256] store.
    assert_eq!(emit_ok(&matmul(DType::BF16, [16, 128, 256], false), Arch::Sm80).shared_bytes, 4096 + 65536 + 16384);
}

#[test]
fn shared_memory_is_one_dynamic_array() {
    assert!(ptx(DType::BF16, [64, 32, 64]).contains(".extern .shared .align 1024 .b8 smem[]"));
}
