//! `dot` and `trans`: the tensor-core instructions they must lower to, that they assemble
//! without spills, and the shared-memory limit.

use super::{check_assembles, check_no_spills, emit_ok, one_program_grid};
use crate::ir::builder::KernelBuilder;
use crate::ir::{DType, Index, Kernel};
use crate::target::Arch;

fn whole(b: &mut KernelBuilder, shape: [u32; 2]) -> Vec<Index> {
    let zero = b.const_i32(0);
    shape.iter().map(|&len| Index::Range { start: zero, len }).collect()
}

/// `c = a[M, K] @ b[K, N]` with four warps, or `a @ trans(bt)` with `bt[N, K]` when `trans_rhs`.
fn matmul(dtype: DType, [m, k, n]: [u32; 3], trans_rhs: bool) -> Kernel {
    let mut kb = KernelBuilder::new("matmul", 4);
    let a = kb.tensor_param("a", dtype, &["M", "K"]);
    let b = kb.tensor_param("b", dtype, &["R", "S"]);
    let c = kb.tensor_param("c", DType::F32, &["M", "N"]);
    one_program_grid(&mut kb, a);
    let ai = whole(&mut kb, [m, k]);
    let lhs = kb.load(a, ai);
    let rhs = if trans_rhs {
        let bi = whole(&mut kb, [n, k]);
        let bt = kb.load(b, bi);
        kb.trans(bt)
    } else {
        let bi = whole(&mut kb, [k, n]);
        kb.load(b, bi)
    };
    let product = kb.dot(lhs, rhs);
    let ci = whole(&mut kb, [m, n]);
    kb.store(c, ci, product);
    kb.finish()
}

fn ptx(dtype: DType, mkn: [u32; 3]) -> String {
    emit_ok(&matmul(dtype, mkn, false), Arch::Sm90a).ptx
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
    // lhs 64 rows of (32 + 8) halves (5120 bytes), rhs 32 rows of (64 + 8) (4608), and
    // the scratch the f32 result crosses to the blocked layout for its store (16384).
    assert_eq!(emit_ok(&matmul(DType::BF16, [64, 32, 64], false), Arch::Sm80).shared_bytes, 5120 + 4608 + 16384);
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
    // lhs 16 x (128 + 8) halves + rhs 128 x (256 + 8) halves + the f32 [16, 256] store.
    assert_eq!(emit_ok(&matmul(DType::BF16, [16, 128, 256], false), Arch::Sm90a).shared_bytes, 4352 + 67584 + 16384);
}

#[test]
fn shared_memory_is_one_dynamic_array() {
    assert!(ptx(DType::BF16, [64, 32, 64]).contains(".extern .shared .align 16 .b8 smem[]"));
}
