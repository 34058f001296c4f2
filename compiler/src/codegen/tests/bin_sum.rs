//! `bin_sum`: shared-memory bins filled by predicated `red.shared.add.f32` (`.s32` for
//! i32 tiles), and that it
//! assembles without spills for every target from a blocked tile, from a `dot`'s
//! accumulator (vertical-slash's diagonal sums), from a replicated tile and with more
//! bins than threads.

use super::{check_assembles, check_no_spills, emit_ok, one_program_grid, whole};
use crate::codegen::cuobjdump;
use crate::codegen::ptxas::{assemble_with, available_for_tests, find_ptxas};
use crate::ir::builder::KernelBuilder;
use crate::ir::{BinaryOp, DType, Kernel, ValueId};
use crate::target::Arch;

/// `out[0 .. bins] = bin_sum(x, row - col + offset, bins)` for the `[rows, cols]` tile of
/// `dtype` that `tile` makes, four warps.
fn diagonal_kernel(
    dtype: DType,
    [rows, cols]: [u32; 2],
    bins: u32,
    tile: impl FnOnce(&mut KernelBuilder) -> ValueId,
) -> Kernel {
    let mut b = KernelBuilder::new("bin_sum", 4);
    let out = b.tensor_param("out", dtype, &["K"]);
    one_program_grid(&mut b, out);
    let x = tile(&mut b);
    let zero = b.const_i32(0);
    let r = b.arange(zero, rows);
    let r = b.expand_dims(r, 1);
    let r = b.broadcast(r, vec![rows, cols]);
    let c = b.arange(zero, cols);
    let c = b.expand_dims(c, 0);
    let c = b.broadcast(c, vec![rows, cols]);
    let offset = b.const_i32(i64::from(cols) - 1);
    let offset = b.splat(offset, vec![rows, cols]);
    let diff = b.binary(BinaryOp::Sub, r, c);
    let t = b.binary(BinaryOp::Add, diff, offset);
    let sums = b.bin_sum(x, t, bins);
    let at = whole(&mut b, &[bins]);
    b.store(out, at, sums);
    b.finish()
}

/// A loaded f32 tile: blocked layout.
fn loaded(shape: [u32; 2], bins: u32) -> Kernel {
    loaded_of(DType::F32, shape, bins)
}

/// A loaded tile of `dtype`.
fn loaded_of(dtype: DType, shape: [u32; 2], bins: u32) -> Kernel {
    diagonal_kernel(dtype, shape, bins, |b| {
        let x = b.tensor_param("x", dtype, &["M", "N"]);
        let at = whole(b, &shape);
        b.load(x, at)
    })
}

/// `dot(a, trans(k))` of bf16 `[64, 64]` tiles: the mma accumulator layout.
fn product() -> Kernel {
    diagonal_kernel(DType::F32, [64, 64], 128, |b| {
        let a = b.tensor_param("a", DType::BF16, &["M", "D"]);
        let k = b.tensor_param("k", DType::BF16, &["N", "D"]);
        let (ai, ki) = (whole(b, &[64, 64]), whole(b, &[64, 64]));
        let (lhs, rhs) = (b.load(a, ai), b.load(k, ki));
        let rhs = b.trans(rhs);
        b.dot(lhs, rhs)
    })
}

/// A rank-1 f32 `[16]` tile over 128 threads, so most threads are replicas.
fn replicated() -> Kernel {
    let mut b = KernelBuilder::new("bin_sum", 4);
    let x = b.tensor_param("x", DType::F32, &["M"]);
    let out = b.tensor_param("out", DType::F32, &["K"]);
    one_program_grid(&mut b, out);
    let at = whole(&mut b, &[16]);
    let v = b.load(x, at);
    let zero = b.const_i32(0);
    let bins = b.arange(zero, 16);
    let sums = b.bin_sum(v, bins, 16);
    let at = whole(&mut b, &[16]);
    b.store(out, at, sums);
    b.finish()
}

#[test]
fn bin_sum_adds_with_shared_memory_reductions() {
    assert!(emit_ok(&loaded([64, 64], 128), Arch::Sm90a).ptx.contains("red.shared.add.f32"));
}

#[test]
fn bin_sum_adds_each_register_once() {
    // 64 x 64 elements over 128 threads: 32 registers, one add each.
    assert_eq!(emit_ok(&loaded([64, 64], 128), Arch::Sm80).ptx.matches("red.shared.add.f32").count(), 32);
}

#[test]
fn bin_sum_of_i32_adds_integers_once_a_register() {
    let ptx = emit_ok(&loaded_of(DType::I32, [64, 64], 128), Arch::Sm90a).ptx;
    assert_eq!((ptx.matches("red.shared.add.s32").count(), ptx.matches("red.shared.add.f32").count()), (32, 0));
}

#[test]
fn bin_sum_of_i32_assembles_without_spills() {
    check_no_spills(&check_assembles(&loaded_of(DType::I32, [64, 64], 128)));
}

/// The point of i32 bins: one `ATOMS.ADD` an element on sm_90a, where an f32 add is a
/// compare-and-swap loop.
#[test]
fn bin_sum_of_i32_is_one_atomic_add_an_element_without_a_swap_loop() {
    let what = "the SASS of an i32 `bin_sum`";
    if !available_for_tests(what) || !cuobjdump::available_for_tests(what) {
        return;
    }
    let ptx = emit_ok(&loaded_of(DType::I32, [64, 64], 128), Arch::Sm90a).ptx;
    let ptxas = find_ptxas().expect("ptxas is available");
    let cubin = assemble_with(&ptxas, &ptx, Arch::Sm90a.name()).expect("ptxas assembles it").cubin;
    let sass = cuobjdump::sass(&cubin).expect("cuobjdump disassembles it");
    let adds = sass.matches("ATOMS.ADD").count();
    let swaps = sass.matches("ATOMS.CAS").count();
    assert_eq!((adds, swaps), (32, 0), "{sass}");
}

#[test]
fn bin_sum_needs_its_bins_in_shared_memory() {
    assert_eq!(emit_ok(&loaded([64, 64], 128), Arch::Sm80).shared_bytes, 512);
}

#[test]
fn bin_sum_separates_zeroing_adding_and_reading_by_barriers() {
    assert!(emit_ok(&loaded([64, 64], 128), Arch::Sm80).ptx.matches("bar.sync").count() >= 3);
}

#[test]
fn bin_sum_of_a_loaded_tile_assembles_without_spills() {
    check_no_spills(&check_assembles(&loaded([64, 64], 128)));
}

#[test]
fn bin_sum_of_a_dot_product_assembles_without_spills() {
    check_no_spills(&check_assembles(&product()));
}

#[test]
fn bin_sum_of_a_replicated_tile_assembles_without_spills() {
    check_no_spills(&check_assembles(&replicated()));
}

#[test]
fn bin_sum_into_fewer_bins_than_threads_assembles() {
    check_no_spills(&check_assembles(&loaded([8, 8], 16)));
}

#[test]
fn bin_sum_into_more_bins_than_threads_assembles() {
    check_no_spills(&check_assembles(&loaded([32, 256], 512)));
}
