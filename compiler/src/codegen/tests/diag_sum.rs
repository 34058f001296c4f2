//! `diag_sum`: the tile through shared memory in passes of rows and read back along each
//! diagonal, with no atomics; that it assembles without spills from a blocked tile, from
//! a `dot`'s accumulator (vertical-slash's diagonal sums) and from a replicated tile.

use super::{check_assembles, check_no_spills, emit_ok, one_program_grid, whole};
use crate::ir::builder::KernelBuilder;
use crate::ir::{DType, Kernel, ValueId};
use crate::target::Arch;

/// `out[0 .. rows + cols] = diag_sum(x)` for the f32 `[rows, cols]` tile `tile` makes,
/// four warps.
fn diagonal_kernel([rows, cols]: [u32; 2], tile: impl FnOnce(&mut KernelBuilder) -> ValueId) -> Kernel {
    let mut b = KernelBuilder::new("diag_sum", 4);
    let out = b.tensor_param("out", DType::F32, &["K"]);
    one_program_grid(&mut b, out);
    let x = tile(&mut b);
    let sums = b.diag_sum(x, rows + cols);
    let at = whole(&mut b, &[rows + cols]);
    b.store(out, at, sums);
    b.finish()
}

/// A loaded f32 tile: blocked layout.
fn loaded(shape: [u32; 2]) -> Kernel {
    diagonal_kernel(shape, |b| {
        let x = b.tensor_param("x", DType::F32, &["M", "N"]);
        let at = whole(b, &shape);
        b.load(x, at)
    })
}

/// `dot(a, trans(k))` of bf16 `[64, 64]` tiles: the mma accumulator layout.
fn product() -> Kernel {
    diagonal_kernel([64, 64], |b| {
        let a = b.tensor_param("a", DType::BF16, &["M", "D"]);
        let k = b.tensor_param("k", DType::BF16, &["N", "D"]);
        let (ai, ki) = (whole(b, &[64, 64]), whole(b, &[64, 64]));
        let (lhs, rhs) = (b.load(a, ai), b.load(k, ki));
        let rhs = b.trans(rhs);
        b.dot(lhs, rhs)
    })
}

#[test]
fn diag_sum_adds_without_atomics() {
    let ptx = emit_ok(&loaded([64, 64]), Arch::Sm90a).ptx;
    assert!(!ptx.contains("atom.shared") && !ptx.contains("red.shared"));
}

#[test]
fn diag_sum_stores_each_register_once_a_pass() {
    // 64 x 64 elements over 128 threads: 32 registers, in two passes of 32 rows.
    assert_eq!(emit_ok(&loaded([64, 64]), Arch::Sm80).ptx.matches("st.shared.f32").count(), 64);
}

#[test]
fn diag_sum_holds_32_padded_rows_of_a_64_by_64_tile_at_once() {
    assert_eq!(emit_ok(&loaded([64, 64]), Arch::Sm80).shared_bytes, 32 * 65 * 4);
}

#[test]
fn diag_sum_separates_each_pass_by_barriers() {
    assert!(emit_ok(&loaded([64, 64]), Arch::Sm80).ptx.matches("bar.sync").count() >= 4);
}

#[test]
fn diag_sum_of_a_loaded_tile_assembles_without_spills() {
    check_no_spills(&check_assembles(&loaded([64, 64])));
}

#[test]
fn diag_sum_of_a_dot_product_assembles_without_spills() {
    check_no_spills(&check_assembles(&product()));
}

#[test]
fn diag_sum_of_a_small_replicated_tile_assembles_without_spills() {
    // 8 x 8 elements over 128 threads: most threads replicate them, 16 sums.
    check_no_spills(&check_assembles(&loaded([8, 8])));
}
