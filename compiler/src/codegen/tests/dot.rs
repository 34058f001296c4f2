//! `dot` and `trans`: the tensor-core instructions they must lower to, that they assemble
//! without spills, and the shared-memory limit.

use super::{check_assembles, check_no_spills, emit_ok, one_program_grid};
use crate::codegen::emit;
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
fn lhs_fragments_come_from_ldmatrix_x4() {
    assert!(ptx(DType::BF16, [64, 32, 64]).contains("ldmatrix.sync.aligned.m8n8.x4.shared.b16"));
}

#[test]
fn rhs_fragments_come_from_transposing_ldmatrix_x2() {
    assert!(ptx(DType::BF16, [64, 32, 64]).contains("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16"));
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
fn gemm_tile_declares_its_shared_memory() {
    assert_eq!(emit_ok(&matmul(DType::BF16, [64, 32, 64], false), Arch::Sm80).shared_bytes, 16384);
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
fn dot_past_the_shared_memory_limit_is_rejected() {
    // The f32 result alone is 128 * 128 * 4 = 64 KiB.
    let err = emit(&matmul(DType::BF16, [128, 16, 128], false), Arch::Sm90a).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("`dot` needs 65536 bytes of shared memory; at most 49152 bytes of static shared memory are supported")
    );
}
