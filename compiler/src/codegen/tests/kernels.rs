//! The three shipped kernels, built with the IR builder as the front end will build
//! them: vector add, row softmax and RMSNorm. The GPU benchmark times these at
//! [32768, 4096] bf16, so besides assembling they must keep 16-byte accesses, use no
//! local memory and hold the row in registers between passes.

use super::{check_assembles, check_no_spills, emit_ok, one_program_grid};
use crate::ir::builder::KernelBuilder;
use crate::ir::{BinaryOp, CmpOp, DType, Index, Kernel, ParamId, ReduceOp, UnaryOp, ValueId};
use crate::target::Arch;

pub(crate) const ROW_BLOCK: u32 = 4096;
const ADD_BLOCK: u32 = 1024;

/// `out[i] = bf16(f32(x[i]) + f32(y[i]))` over [N], one 1024-element block per program.
pub(crate) fn vector_add() -> Kernel {
    let mut b = KernelBuilder::new("vector_add", 4);
    let x = b.tensor_param("x", DType::BF16, &["N"]);
    let y = b.tensor_param("y", DType::BF16, &["N"]);
    let out = b.tensor_param("out", DType::BF16, &["N"]);
    b.grid(|b| {
        let n = b.dim(x, 0);
        let block = b.const_i32(i64::from(ADD_BLOCK));
        let round_up = b.const_i32(i64::from(ADD_BLOCK) - 1);
        let padded = b.binary(BinaryOp::Add, n, round_up);
        let blocks = b.binary(BinaryOp::Div, padded, block);
        let one = b.const_i32(1);
        [blocks, one, one]
    });
    let pid = b.program_id(0);
    let block = b.const_i32(i64::from(ADD_BLOCK));
    let start = b.binary(BinaryOp::Mul, pid, block);
    let range = Index::Range { start, len: ADD_BLOCK };
    let xs = b.load(x, vec![range.clone()]);
    let ys = b.load(y, vec![range.clone()]);
    let xf = b.cast(xs, DType::F32);
    let yf = b.cast(ys, DType::F32);
    let sum = b.binary(BinaryOp::Add, xf, yf);
    let result = b.cast(sum, DType::BF16);
    b.store(out, vec![range], result);
    b.finish()
}

/// The masked row of `x` at `row` as f32: columns past `D` read `fill`.
fn masked_row(b: &mut KernelBuilder, x: ParamId, row: ValueId, fill: f64) -> ValueId {
    let zero = b.const_i32(0);
    let raw = b.load(x, vec![Index::Point(row), Index::Range { start: zero, len: ROW_BLOCK }]);
    let xf = b.cast(raw, DType::F32);
    let cols = b.arange(zero, ROW_BLOCK);
    let d = b.dim(x, 1);
    let d_tile = b.splat(d, vec![ROW_BLOCK]);
    let valid = b.cmp(CmpOp::Lt, cols, d_tile);
    let fill = b.const_f32(fill);
    let fill_tile = b.splat(fill, vec![ROW_BLOCK]);
    b.select(valid, xf, fill_tile)
}

/// `out[r, :] = softmax(x[r, :])`, one row of up to 4096 per program, 8 warps.
pub(crate) fn softmax() -> Kernel {
    let mut b = KernelBuilder::new("softmax", 8);
    let x = b.tensor_param("x", DType::BF16, &["N", "D"]);
    let out = b.tensor_param("out", DType::BF16, &["N", "D"]);
    one_program_grid(&mut b, x);
    let row = b.program_id(0);
    let xm = masked_row(&mut b, x, row, f64::NEG_INFINITY);
    let max = b.reduce(ReduceOp::Max, xm, 0);
    let max_tile = b.splat(max, vec![ROW_BLOCK]);
    let shifted = b.binary(BinaryOp::Sub, xm, max_tile);
    let log2e = b.const_f32(std::f64::consts::LOG2_E);
    let log2e_tile = b.splat(log2e, vec![ROW_BLOCK]);
    let scaled = b.binary(BinaryOp::Mul, shifted, log2e_tile);
    let e = b.unary(UnaryOp::Exp2, scaled);
    let sum = b.reduce(ReduceOp::Sum, e, 0);
    let sum_tile = b.splat(sum, vec![ROW_BLOCK]);
    let p = b.binary(BinaryOp::Div, e, sum_tile);
    let result = b.cast(p, DType::BF16);
    let zero = b.const_i32(0);
    b.store(out, vec![Index::Point(row), Index::Range { start: zero, len: ROW_BLOCK }], result);
    b.finish()
}

/// `out[r, :] = x[r, :] * rsqrt(mean(x[r, :]²) + eps) * w`, f32 accumulation, 8 warps.
pub(crate) fn rmsnorm() -> Kernel {
    let mut b = KernelBuilder::new("rmsnorm", 8);
    let x = b.tensor_param("x", DType::BF16, &["N", "D"]);
    let w = b.tensor_param("w", DType::BF16, &["D"]);
    let out = b.tensor_param("out", DType::BF16, &["N", "D"]);
    let eps = b.scalar_param("eps", DType::F32);
    one_program_grid(&mut b, x);
    let row = b.program_id(0);
    let xf = masked_row(&mut b, x, row, 0.0);
    let squares = b.binary(BinaryOp::Mul, xf, xf);
    let total = b.reduce(ReduceOp::Sum, squares, 0);
    let d = b.dim(x, 1);
    let d_f = b.cast(d, DType::F32);
    let mean = b.binary(BinaryOp::Div, total, d_f);
    let eps = b.arg(eps);
    let shifted = b.binary(BinaryOp::Add, mean, eps);
    let scale = b.unary(UnaryOp::Rsqrt, shifted);
    let scale_tile = b.splat(scale, vec![ROW_BLOCK]);
    let zero = b.const_i32(0);
    let weights = b.load(w, vec![Index::Range { start: zero, len: ROW_BLOCK }]);
    let wf = b.cast(weights, DType::F32);
    let normed = b.binary(BinaryOp::Mul, xf, scale_tile);
    let weighted = b.binary(BinaryOp::Mul, normed, wf);
    let result = b.cast(weighted, DType::BF16);
    b.store(out, vec![Index::Point(row), Index::Range { start: zero, len: ROW_BLOCK }], result);
    b.finish()
}

fn shipped() -> [Kernel; 3] {
    [vector_add(), softmax(), rmsnorm()]
}

fn ptx(kernel: &Kernel) -> String {
    emit_ok(kernel, Arch::Sm90a).ptx
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn vector_add_loads_each_input_with_one_16_byte_access() {
    assert_eq!(count(&ptx(&vector_add()), "ld.global.v4.b32"), 2);
}

#[test]
fn vector_add_stores_with_one_16_byte_access() {
    assert_eq!(count(&ptx(&vector_add()), "st.global.v4.b32"), 1);
}

#[test]
fn softmax_loads_its_row_as_16_byte_vectors() {
    // 4096 bf16 over 256 threads: two 8-element chunks per thread.
    assert_eq!(count(&ptx(&softmax()), "ld.global.v4.b32"), 2);
}

#[test]
fn softmax_stores_its_row_as_16_byte_vectors() {
    assert_eq!(count(&ptx(&softmax()), "st.global.v4.b32"), 2);
}

#[test]
fn rmsnorm_reads_row_and_weights_as_16_byte_vectors() {
    assert_eq!(count(&ptx(&rmsnorm()), "ld.global.v4.b32"), 4);
}

#[test]
fn softmax_reduces_across_lanes_with_butterfly_shuffles() {
    // Five lane bits for the max, five for the sum.
    assert_eq!(count(&ptx(&softmax()), "shfl.sync.bfly.b32"), 10);
}

#[test]
fn softmax_uses_ex2_approx_ftz() {
    assert!(ptx(&softmax()).contains("ex2.approx.ftz.f32"));
}

#[test]
fn rmsnorm_uses_rsqrt_approx() {
    assert!(ptx(&rmsnorm()).contains("rsqrt.approx.f32"));
}

#[test]
fn softmax_combines_warps_through_barriers() {
    // Two per reduction: before the partials are written and before they are read.
    assert_eq!(count(&ptx(&softmax()), "bar.sync"), 4);
}

#[test]
fn softmax_needs_one_partial_per_warp_of_shared_memory() {
    assert_eq!(emit_ok(&softmax(), Arch::Sm90a).shared_bytes, 8 * 4);
}

#[test]
fn shipped_kernels_declare_their_thread_count() {
    let declared: Vec<bool> =
        shipped().iter().map(|k| ptx(k).contains(&format!(".maxntid {}", k.threads_per_program()))).collect();
    assert_eq!(declared, [true; 3]);
}

#[test]
fn shipped_kernels_use_no_local_memory() {
    let local: Vec<bool> = shipped().iter().map(|k| ptx(k).contains(".local")).collect();
    assert_eq!(local, [false; 3]);
}

#[test]
fn row_kernels_convert_to_bf16_in_hardware() {
    // Vector add has no conversion left: LLVM narrows `bf16(f32(x) + f32(y))` to a bf16
    // add, which rounds identically (f32 has more than 2 × 8 + 2 significand bits).
    // Pairs of f32 registers narrow in one packed round-to-nearest-even conversion.
    let converts: Vec<bool> = [softmax(), rmsnorm()].iter().map(|k| ptx(k).contains("cvt.rn.bf16x2.f32")).collect();
    assert_eq!(converts, [true; 2]);
}

#[test]
fn vector_add_assembles_without_spills() {
    check_no_spills(&check_assembles(&vector_add()));
}

#[test]
fn softmax_assembles_without_spills() {
    check_no_spills(&check_assembles(&softmax()));
}

#[test]
fn rmsnorm_assembles_without_spills() {
    check_no_spills(&check_assembles(&rmsnorm()));
}
