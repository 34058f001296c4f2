//! Gathers and scatters: a tensor dimension indexed by an i32 tile, as vertical-slash
//! attention gathers K/V rows by column index and index builders scatter their entries.

use super::{check_assembles, check_no_spills, emit_ok, one_program_grid, whole};
use crate::ir::builder::KernelBuilder;
use crate::ir::{BinaryOp, DType, Index, Kernel, ValueId};
use crate::target::Arch;

/// `out = x[idx[0 .. L], ..]` built by `at`, one program, 4 warps.
fn gather_kernel(
    x_dims: &[&str],
    len: u32,
    out_shape: &[u32],
    at: impl FnOnce(&mut KernelBuilder, ValueId) -> Vec<Index>,
) -> Kernel {
    let mut b = KernelBuilder::new("gather", 4);
    let x = b.tensor_param("x", DType::BF16, x_dims);
    let idx = b.tensor_param("idx", DType::I32, &["L"]);
    let out_dims: Vec<String> = (0..out_shape.len()).map(|d| format!("O{d}")).collect();
    let out = b.tensor_param("out", DType::BF16, &out_dims.iter().map(String::as_str).collect::<Vec<_>>());
    one_program_grid(&mut b, idx);
    let zero = b.const_i32(0);
    let positions = b.load(idx, vec![Index::Range { start: zero, len }]);
    let indices = at(&mut b, positions);
    let tile = b.load(x, indices);
    let all = whole(&mut b, out_shape);
    b.store(out, all, tile);
    b.finish()
}

/// `k[cols, 0 .. 64]`: 64 gathered rows of 64 bf16.
fn gather_rows() -> Kernel {
    gather_kernel(&["N", "D"], 64, &[64, 64], |b, cols| {
        let zero = b.const_i32(0);
        vec![Index::Gather(cols), Index::Range { start: zero, len: 64 }]
    })
}

/// `k[cols, 0 .. 4]`: 64 gathered rows of 4 bf16, two per thread: one 4-byte access each.
fn gather_narrow_rows() -> Kernel {
    gather_kernel(&["N", "D"], 64, &[64, 4], |b, cols| {
        let zero = b.const_i32(0);
        vec![Index::Gather(cols), Index::Range { start: zero, len: 4 }]
    })
}

/// `x[0, cols]`: 128 gathered elements of one row.
fn gather_along_a_row() -> Kernel {
    gather_kernel(&["N", "D"], 128, &[128], |b, cols| {
        let zero = b.const_i32(0);
        vec![Index::Point(zero), Index::Gather(cols)]
    })
}

/// `k[b, h, cols, 0 .. 128]`, the vertical-slash K/V access.
fn gather_heads() -> Kernel {
    gather_kernel(&["B", "H", "N", "D"], 64, &[64, 128], |b, cols| {
        let zero = b.const_i32(0);
        let one = b.const_i32(1);
        vec![Index::Point(zero), Index::Point(one), Index::Gather(cols), Index::Range { start: zero, len: 128 }]
    })
}

#[test]
fn gathered_rows_load_as_16_byte_vectors() {
    assert!(emit_ok(&gather_rows(), Arch::Sm90a).ptx.contains("ld.global.v4"));
}

/// A row at -1 or past the tensor stays on the vector path, loaded under its own mask,
/// rather than sending the thread's every row through the element path.
#[test]
fn gathered_rows_outside_load_as_masked_vectors() {
    assert!(emit_ok(&gather_rows(), Arch::Sm90a).ptx.contains("@p ld.global.v4.b32"));
}

/// A row one 4-byte access wide is loaded under its mask as a single register.
#[test]
fn narrow_gathered_rows_load_as_masked_words() {
    let ptx = emit_ok(&gather_narrow_rows(), Arch::Sm90a).ptx;
    assert!(ptx.contains("@p ld.global.b32"), "{ptx}");
    check_no_spills(&check_assembles(&gather_narrow_rows()));
}

#[test]
fn gathered_rows_spread_the_index_through_shared_memory() {
    assert!(emit_ok(&gather_rows(), Arch::Sm90a).ptx.contains("st.shared"));
}

#[test]
fn gathered_rows_assemble_without_spills() {
    check_no_spills(&check_assembles(&gather_rows()));
}

#[test]
fn gathered_rows_of_a_4d_tensor_assemble_without_spills() {
    check_no_spills(&check_assembles(&gather_heads()));
}

#[test]
fn gather_along_the_last_axis_loads_single_elements() {
    assert!(!emit_ok(&gather_along_a_row(), Arch::Sm80).ptx.contains("ld.global.v"));
}

#[test]
fn gather_along_the_last_axis_assembles_without_spills() {
    check_no_spills(&check_assembles(&gather_along_a_row()));
}

/// `x[positions] = positions + 1` for the first 32 entries of an i32 vector: one
/// element per position, so each is stored alone under its own mask.
fn scatter_elements() -> Kernel {
    let mut b = KernelBuilder::new("scatter", 1);
    let x = b.tensor_param("x", DType::I32, &["N"]);
    one_program_grid(&mut b, x);
    let zero = b.const_i32(0);
    let positions = b.load(x, vec![Index::Range { start: zero, len: 32 }]);
    let one = b.const_i32(1);
    let one = b.splat(one, vec![32]);
    let values = b.binary(BinaryOp::Add, positions, one);
    b.store(x, vec![Index::Gather(positions)], values);
    b.finish()
}

/// `o[rows, 0 .. 128] = x[0 .. 64, 0 .. 128]`: whole bf16 rows scattered to listed rows.
fn scatter_rows() -> Kernel {
    let mut b = KernelBuilder::new("scatter_rows", 4);
    let x = b.tensor_param("x", DType::BF16, &["M", "D"]);
    let rows = b.tensor_param("rows", DType::I32, &["M"]);
    let o = b.tensor_param("o", DType::BF16, &["N", "D"]);
    one_program_grid(&mut b, x);
    let zero = b.const_i32(0);
    let tile = b.load(x, vec![Index::Range { start: zero, len: 64 }, Index::Range { start: zero, len: 128 }]);
    let at = b.load(rows, vec![Index::Range { start: zero, len: 64 }]);
    b.store(o, vec![Index::Gather(at), Index::Range { start: zero, len: 128 }], tile);
    b.finish()
}

/// `x[positions] = positions` for 16 entries over 128 threads: most threads hold
/// replicas, and only each element's owner may store it.
fn scatter_replicated() -> Kernel {
    let mut b = KernelBuilder::new("scatter_replicated", 4);
    let x = b.tensor_param("x", DType::I32, &["N"]);
    one_program_grid(&mut b, x);
    let zero = b.const_i32(0);
    let positions = b.load(x, vec![Index::Range { start: zero, len: 16 }]);
    b.store(x, vec![Index::Gather(positions)], positions);
    b.finish()
}

#[test]
fn a_replicated_scatter_is_stored_by_each_element_s_owner_only() {
    // Threads 16.. hold replicas: the store is guarded by `tid > 15` (the load's
    // `tid & 15`, which picks the replicated element, is not that test).
    let ptx = emit_ok(&scatter_replicated(), Arch::Sm90a).ptx;
    let guard = ptx.lines().any(|l| l.contains("setp.gt.u32") && l.trim_end().ends_with(", 15;"));
    assert!(guard, "no `tid > 15` ownership test in:\n{ptx}");
}

#[test]
fn scattered_elements_store_alone() {
    let ptx = emit_ok(&scatter_elements(), Arch::Sm90a).ptx;
    assert!(ptx.contains("st.global.b32") && !ptx.contains("st.global.v"), "{ptx}");
}

#[test]
fn scattered_rows_store_as_vectors() {
    assert!(emit_ok(&scatter_rows(), Arch::Sm90a).ptx.contains("st.global.v4.b32"));
}

#[test]
fn scatters_assemble_without_spills() {
    let reports: Vec<_> =
        [scatter_elements(), scatter_rows(), scatter_replicated()].iter().flat_map(check_assembles).collect();
    check_no_spills(&reports);
}
