//! One small kernel per op (and per interesting case of an op), each checked for the
//! PTX instruction it must lower to; every one of them must also assemble, spill-free.

use super::{check_assembles, check_no_spills, emit_ok, one_program_grid};
use crate::ir::builder::KernelBuilder;
use crate::ir::{BinaryOp, CmpOp, DType, Index, Kernel, ReduceOp, UnaryOp, ValueId};
use crate::target::Arch;

const DIM_NAMES: [&str; 3] = ["A", "B", "C"];

/// `out[..] = f(x[0.., 0..])`: loads one tile of `shape` from `x`, stores what `f`
/// returns (a scalar goes to `out[0]`). Four warps.
fn map(input: DType, shape: &[u32], f: impl FnOnce(&mut KernelBuilder, ValueId) -> ValueId) -> Kernel {
    map_warps(4, input, shape, f)
}

fn map_warps(
    warps: u32,
    input: DType,
    shape: &[u32],
    f: impl FnOnce(&mut KernelBuilder, ValueId) -> ValueId,
) -> Kernel {
    let mut b = KernelBuilder::new("map", warps);
    let x = b.tensor_param("x", input, &DIM_NAMES[..shape.len()]);
    one_program_grid(&mut b, x);
    let zero = b.const_i32(0);
    let ranges = |shape: &[u32]| shape.iter().map(|&len| Index::Range { start: zero, len }).collect::<Vec<_>>();
    let tile = b.load(x, ranges(shape));
    let result = f(&mut b, tile);
    store_result(&mut b, result, zero);
    b.finish()
}

/// `out[..] = f(x[0..], y[0..])` over `[len]` tiles of `dtype`.
fn zip(dtype: DType, len: u32, f: impl FnOnce(&mut KernelBuilder, ValueId, ValueId) -> ValueId) -> Kernel {
    let mut b = KernelBuilder::new("zip", 4);
    let x = b.tensor_param("x", dtype, &["N"]);
    let y = b.tensor_param("y", dtype, &["N"]);
    one_program_grid(&mut b, x);
    let zero = b.const_i32(0);
    let xs = b.load(x, vec![Index::Range { start: zero, len }]);
    let ys = b.load(y, vec![Index::Range { start: zero, len }]);
    let result = f(&mut b, xs, ys);
    store_result(&mut b, result, zero);
    b.finish()
}

/// A kernel with no inputs: `out[..] = f()` (`out[0]` for a scalar).
pub(super) fn produce(f: impl FnOnce(&mut KernelBuilder) -> ValueId) -> Kernel {
    produce_with(4, f)
}

/// [`produce`] with `warps` warps per program.
pub(super) fn produce_with(warps: u32, f: impl FnOnce(&mut KernelBuilder) -> ValueId) -> Kernel {
    let mut b = KernelBuilder::new("produce", warps);
    b.grid(|b| {
        let one = b.const_i32(1);
        [one, one, one]
    });
    let zero = b.const_i32(0);
    let result = f(&mut b);
    store_result(&mut b, result, zero);
    b.finish()
}

/// Stores `result` into a new output parameter at the origin.
fn store_result(b: &mut KernelBuilder, result: ValueId, zero: ValueId) {
    let ty = b.value_type(result).clone();
    let indices: Vec<Index> = if ty.is_scalar() {
        vec![Index::Point(zero)]
    } else {
        ty.shape.iter().map(|&len| Index::Range { start: zero, len }).collect()
    };
    let out = b.tensor_param("out", ty.dtype, &DIM_NAMES[..indices.len()]);
    b.store(out, indices, result);
}

fn unary(op: UnaryOp, dtype: DType) -> Kernel {
    map(dtype, &[512], |b, x| b.unary(op, x))
}

fn binary(op: BinaryOp, dtype: DType) -> Kernel {
    zip(dtype, 512, |b, x, y| b.binary(op, x, y))
}

fn compare(op: CmpOp, dtype: DType) -> Kernel {
    zip(dtype, 512, |b, x, y| b.cmp(op, x, y))
}

fn cast(from: DType, to: DType) -> Kernel {
    map(from, &[512], |b, x| b.cast(x, to))
}

fn reduce(op: ReduceOp, dtype: DType, shape: &[u32], axis: u32) -> Kernel {
    map(dtype, shape, |b, x| b.reduce(op, x, axis))
}

fn scan(op: ReduceOp, dtype: DType, shape: &[u32], axis: u32) -> Kernel {
    map(dtype, shape, |b, x| b.scan(op, x, axis))
}

fn scalar_param(dtype: DType) -> Kernel {
    let mut b = KernelBuilder::new("scalar_param", 1);
    let s = b.scalar_param("s", dtype);
    b.grid(|b| {
        let one = b.const_i32(1);
        [one, one, one]
    });
    let zero = b.const_i32(0);
    let v = b.arg(s);
    let stored = if dtype == DType::Bool { b.cast(v, DType::I32) } else { v };
    store_result(&mut b, stored, zero);
    b.finish()
}

/// `for i in 0..n: acc += x[i*512 ..][..512]`, then stores `acc`.
fn accumulate_loop() -> Kernel {
    let mut b = KernelBuilder::new("accumulate", 4);
    let x = b.tensor_param("x", DType::F32, &["N"]);
    let n = b.scalar_param("n", DType::I32);
    one_program_grid(&mut b, x);
    let zero = b.const_i32(0);
    let one = b.const_i32(1);
    let n = b.arg(n);
    let init = b.const_f32(0.0);
    let acc0 = b.splat(init, vec![512]);
    let tile = b.const_i32(512);
    let done = b.for_loop(zero, n, one, vec![acc0], |b, i, carried| {
        let start = b.binary(BinaryOp::Mul, i, tile);
        let xs = b.load(x, vec![Index::Range { start, len: 512 }]);
        vec![b.binary(BinaryOp::Add, carried[0], xs)]
    });
    store_result(&mut b, done[0], zero);
    b.finish()
}

/// `out = flag ? x : -x` with a uniform `if`.
fn branch() -> Kernel {
    let mut b = KernelBuilder::new("branch", 4);
    let x = b.tensor_param("x", DType::F32, &["N"]);
    let flag = b.scalar_param("flag", DType::Bool);
    one_program_grid(&mut b, x);
    let zero = b.const_i32(0);
    let xs = b.load(x, vec![Index::Range { start: zero, len: 512 }]);
    let flag = b.arg(flag);
    let ty = b.value_type(xs).clone();
    let chosen = b.if_(flag, vec![ty], |_| vec![xs], |b| vec![b.unary(UnaryOp::Neg, xs)]);
    store_result(&mut b, chosen[0], zero);
    b.finish()
}

/// `x[row, 0..512]` of a 2-D tensor: a `Point` index next to a `Range`.
fn row_load() -> Kernel {
    let mut b = KernelBuilder::new("row", 4);
    let x = b.tensor_param("x", DType::BF16, &["N", "D"]);
    one_program_grid(&mut b, x);
    let zero = b.const_i32(0);
    let row = b.program_id(0);
    let xs = b.load(x, vec![Index::Point(row), Index::Range { start: zero, len: 512 }]);
    store_result(&mut b, xs, zero);
    b.finish()
}

fn program_id(axis: u8) -> Kernel {
    produce(|b| b.program_id(axis))
}

fn expand_dims(shape: &[u32], axis: u32) -> Kernel {
    map(DType::F32, shape, |b, x| b.expand_dims(x, axis))
}

fn broadcast(shape: &[u32], to: Vec<u32>) -> Kernel {
    map(DType::F32, shape, |b, x| b.broadcast(x, to))
}

fn ptx_for(kernel: &Kernel, arch: Arch) -> String {
    emit_ok(kernel, arch).ptx
}

/// The table: each entry is a test that the kernel's sm_90a PTX contains the text, and
/// every kernel in it is assembled by [`every_op_kernel_assembles_without_spills`].
macro_rules! ptx_contains {
    ($($test:ident: $kernel:expr => $needle:expr;)*) => {
        $(
            #[test]
            fn $test() {
                let ptx = ptx_for(&$kernel, Arch::Sm90a);
                assert!(ptx.contains($needle), "expected `{}` in:\n{ptx}", $needle);
            }
        )*

        fn table_kernels() -> Vec<Kernel> {
            vec![$($kernel),*]
        }
    };
}

ptx_contains! {
    program_id_x_reads_ctaid_x: program_id(0) => "%ctaid.x";
    program_id_y_reads_ctaid_y: program_id(1) => "%ctaid.y";
    program_id_z_reads_ctaid_z: program_id(2) => "%ctaid.z";
    f32_parameter_is_read: scalar_param(DType::F32) => "ld.param.b32";
    bool_parameter_is_a_word_tested_against_zero: scalar_param(DType::Bool) => "setp.ne.b32";
    arange_stores_i32_chunks_as_vectors: produce(|b| { let s = b.const_i32(7); b.arange(s, 1024) }) => "st.global.v4.b32";
    splat_of_a_float_stores_the_constant: produce(|b| { let c = b.const_f32(2.0); b.splat(c, vec![256]) }) => "1073741824";
    // Without `.rn`: ptxas may fuse them into an fma, as LLVM may (`ops::contractable`).
    f32_add_is_contractable: binary(BinaryOp::Add, DType::F32) => "add.f32";
    f32_sub_is_contractable: binary(BinaryOp::Sub, DType::F32) => "sub.f32";
    f32_mul_is_contractable: binary(BinaryOp::Mul, DType::F32) => "mul.f32";
    f32_product_less_a_value_is_one_fma: zip(DType::F32, 512, |b, x, y| { let p = b.binary(BinaryOp::Mul, x, y); b.binary(BinaryOp::Sub, p, x) }) => "fma.rn.f32";
    f32_div_is_ieee: binary(BinaryOp::Div, DType::F32) => "div.rn.f32";
    f32_max_ignores_nan: binary(BinaryOp::Max, DType::F32) => "max.f32";
    f32_min_ignores_nan: binary(BinaryOp::Min, DType::F32) => "min.f32";
    i32_add: binary(BinaryOp::Add, DType::I32) => "add.s32";
    i32_sub: binary(BinaryOp::Sub, DType::I32) => "sub.s32";
    i32_mul: binary(BinaryOp::Mul, DType::I32) => "mul.lo.s32";
    i32_div_is_signed: binary(BinaryOp::Div, DType::I32) => "div.s32";
    i32_rem_is_signed: binary(BinaryOp::Rem, DType::I32) => "rem.s32";
    i32_max: binary(BinaryOp::Max, DType::I32) => "max.s32";
    i32_min: binary(BinaryOp::Min, DType::I32) => "min.s32";
    bool_and: binary(BinaryOp::And, DType::Bool) => "and.b";
    bool_or: binary(BinaryOp::Or, DType::Bool) => "or.b";
    exp_scales_by_log2e_into_ex2: unary(UnaryOp::Exp, DType::F32) => "0f3FB8AA3B";
    exp2_is_ex2_approx_ftz: unary(UnaryOp::Exp2, DType::F32) => "ex2.approx.ftz.f32";
    log2_is_lg2_approx: unary(UnaryOp::Log2, DType::F32) => "lg2.approx.f32";
    sqrt_is_rounded: unary(UnaryOp::Sqrt, DType::F32) => "sqrt.rn.f32";
    rsqrt_is_rsqrt_approx: unary(UnaryOp::Rsqrt, DType::F32) => "rsqrt.approx.f32";
    i32_neg: unary(UnaryOp::Neg, DType::I32) => "neg.s32";
    i32_abs: unary(UnaryOp::Abs, DType::I32) => "abs.s32";
    // The loaded byte is tested for == 0 instead of != 0.
    bool_not: unary(UnaryOp::Not, DType::Bool) => "setp.eq.b32";
    f32_less_than: compare(CmpOp::Lt, DType::F32) => "setp.lt.f32";
    f32_not_equal_is_unordered: compare(CmpOp::Ne, DType::F32) => "setp.neu.f32";
    i32_less_or_equal_is_signed: compare(CmpOp::Le, DType::I32) => "setp.le.s32";
    // LLVM drops the exact widening again where the target compares bf16 natively.
    bf16_compare_is_exact: compare(CmpOp::Gt, DType::BF16) => "setp.gt.bf16";
    select_is_selp: zip(DType::F32, 512, |b, x, y| { let c = b.cmp(CmpOp::Lt, x, y); b.select(c, x, y) }) => "selp.f32";
    // Pairs of registers convert in one instruction.
    f32_to_bf16_rounds_to_nearest_even: cast(DType::F32, DType::BF16) => "cvt.rn.bf16x2.f32";
    f32_to_f16_rounds_to_nearest_even: cast(DType::F32, DType::F16) => "cvt.rn.f16x2.f32";
    bf16_to_f32_widens: cast(DType::BF16, DType::F32) => "cvt.f32.bf16";
    bf16_to_f16_rounds_once_from_f32: cast(DType::BF16, DType::F16) => "cvt.rn.f16.f32";
    // PTX float-to-int conversions saturate (NaN gives 0) by definition.
    f32_to_i32_truncates_and_saturates: cast(DType::F32, DType::I32) => "cvt.rzi.s32.f32";
    i32_to_f32_rounds: cast(DType::I32, DType::F32) => "cvt.rn.f32.s32";
    f32_to_bool_compares_with_zero: cast(DType::F32, DType::Bool) => "setp.neu.f32";
    bool_to_f32_is_zero_or_one: cast(DType::Bool, DType::F32) => "0f3F800000, 0f00000000";
    bool_chunks_of_eight_move_as_8_bytes: map(DType::Bool, &[1024], |_, x| x) => "ld.global.v2.b32";
    f32_chunks_of_eight_are_two_16_byte_loads: map(DType::F32, &[1024], |_, x| x) => "ld.global.v4.b32";
    two_dimensional_tiles_load_as_vectors: map(DType::BF16, &[32, 128], |_, x| x) => "ld.global.v4.b32";
    // 512 bf16 over 128 threads: chunks of 4, 8 bytes.
    point_and_range_index_together: row_load() => "ld.global.v2.b32";
    masked_elements_load_alone: map(DType::BF16, &[1024], |_, x| x) => "ld.global.b16";
    expand_dims_to_a_column_moves_through_shared_memory: expand_dims(&[1024], 1) => "st.shared";
    broadcast_of_a_column_reads_shared_memory: broadcast(&[64, 1], vec![64, 64]) => "ld.shared";
    broadcast_of_a_row_reads_shared_memory: broadcast(&[1, 64], vec![64, 64]) => "ld.shared";
    full_sum_shuffles_across_lanes: reduce(ReduceOp::Sum, DType::F32, &[4096], 0) => "shfl.sync.bfly.b32";
    row_sum_shuffles_across_lanes: reduce(ReduceOp::Sum, DType::F32, &[64, 128], 1) => "shfl.sync.bfly.b32";
    column_max_goes_through_shared_memory: reduce(ReduceOp::Max, DType::F32, &[64, 128], 0) => "st.shared";
    i32_reduction_max_is_signed: reduce(ReduceOp::Max, DType::I32, &[1024], 0) => "max.s32";
    min_reduction_ignores_nan: reduce(ReduceOp::Min, DType::F32, &[1024], 0) => "min.f32";
    row_cumsum_shuffles_across_lanes: scan(ReduceOp::Sum, DType::F32, &[64, 128], 1) => "shfl.sync.bfly.b32";
    column_cummax_goes_through_shared_memory: scan(ReduceOp::Max, DType::F32, &[64, 128], 0) => "st.shared";
    // The later lane of a pair takes the partner's total in front of its prefix.
    i32_cumsum_selects_by_lane: scan(ReduceOp::Sum, DType::I32, &[4096], 0) => "selp.b32";
    f32_cummin_ignores_nan: scan(ReduceOp::Min, DType::F32, &[1024], 0) => "min.f32";
    for_loop_branches_back: accumulate_loop() => "bra.uni";
    uniform_if_selects_or_branches: branch() => "neg.f32";
}

#[test]
fn every_op_kernel_assembles_without_spills() {
    let reports: Vec<_> = table_kernels().iter().flat_map(check_assembles).collect();
    check_no_spills(&reports);
}

/// Negation and absolute value only touch the sign bit: the back end emits `neg.f32` /
/// `abs.f32`, or the same bit operation on the register (`xor`/`and` with the sign mask)
/// when the value arrived as integer bits from a vector load. Both are exact.
fn check_sign_bit_op(op: UnaryOp, float_op: &str, bit_op: &str) {
    let kernel = unary(op, DType::F32);
    let ptx = ptx_for(&kernel, Arch::Sm90a);
    assert!(ptx.contains(float_op) || ptx.contains(bit_op), "expected `{float_op}` or `{bit_op}` in:\n{ptx}");
    check_no_spills(&check_assembles(&kernel));
}

#[test]
fn f32_neg() {
    check_sign_bit_op(UnaryOp::Neg, "neg.f32", "-2147483648;");
}

#[test]
fn f32_abs() {
    check_sign_bit_op(UnaryOp::Abs, "abs.f32", "2147483647;");
}

#[test]
fn bf16_conversion_is_a_hardware_cvt_on_sm_80_too() {
    assert!(ptx_for(&cast(DType::F32, DType::BF16), Arch::Sm80).contains("cvt.rn.bf16x2.f32"));
}

#[test]
fn expand_dims_to_a_row_reuses_registers() {
    assert!(!ptx_for(&expand_dims(&[1024], 0), Arch::Sm90a).contains("bar.sync"));
}

#[test]
fn broadcast_to_the_same_shape_reuses_registers() {
    assert!(!ptx_for(&broadcast(&[64, 64], vec![64, 64]), Arch::Sm90a).contains("bar.sync"));
}

#[test]
fn reduction_within_one_warp_needs_no_shared_memory() {
    let kernel = map_warps(1, DType::F32, &[256], |b, x| b.reduce(ReduceOp::Sum, x, 0));
    assert_eq!(emit_ok(&kernel, Arch::Sm90a).shared_bytes, 0);
}

/// `cumsum` of an `arange` or a constant: operands placed at each use, while the scan
/// itself is computed once.
fn scan_of_a_value_placed_at_use(constant: bool) -> Kernel {
    let mut b = KernelBuilder::new("scan_at_use", 4);
    let out = b.tensor_param("out", DType::I32, &["N"]);
    one_program_grid(&mut b, out);
    let zero = b.const_i32(0);
    let x = if constant {
        let one = b.const_i32(1);
        b.splat(one, vec![256])
    } else {
        b.arange(zero, 256)
    };
    let scanned = b.scan(ReduceOp::Sum, x, 0);
    b.store(out, vec![Index::Range { start: zero, len: 256 }], scanned);
    b.finish()
}

#[test]
fn scan_of_an_arange_compiles() {
    check_no_spills(&check_assembles(&scan_of_a_value_placed_at_use(false)));
}

#[test]
fn scan_of_a_constant_compiles() {
    check_no_spills(&check_assembles(&scan_of_a_value_placed_at_use(true)));
}

#[test]
fn scan_within_one_warp_needs_no_shared_memory() {
    let kernel = map_warps(1, DType::I32, &[256], |b, x| b.scan(ReduceOp::Sum, x, 0));
    assert_eq!(emit_ok(&kernel, Arch::Sm90a).shared_bytes, 0);
}

#[test]
fn scan_across_warps_exchanges_one_slot_per_thread_and_register() {
    // [4096] f32 over 128 threads: 32 registers a thread, 128 × 32 × 4 bytes.
    assert_eq!(emit_ok(&scan(ReduceOp::Sum, DType::F32, &[4096], 0), Arch::Sm90a).shared_bytes, 128 * 32 * 4);
}

#[test]
fn row_sum_writes_one_partial_per_row() {
    // [64, 128] over 128 threads: a row is 16 threads × 8 registers, all in one warp.
    assert_eq!(emit_ok(&reduce(ReduceOp::Sum, DType::F32, &[64, 128], 1), Arch::Sm90a).shared_bytes, 64 * 4);
}

#[test]
fn shared_memory_is_the_largest_single_use() {
    // The broadcast writes 64 f32 (256 bytes); the column sum over 4 warps writes
    // 2 reduced warp bits' worth of partials: 4 × 64 f32 (1024 bytes).
    let kernel = map(DType::F32, &[64, 1], |b, x| {
        let tile = b.broadcast(x, vec![64, 64]);
        b.reduce(ReduceOp::Sum, tile, 0)
    });
    assert_eq!(emit_ok(&kernel, Arch::Sm90a).shared_bytes, 1024);
}

#[test]
fn replicated_tile_store_is_guarded_by_ownership() {
    // 16 elements over 128 threads: threads 16.. hold replicas and must not store.
    let ptx = ptx_for(&map(DType::F32, &[16], |_, x| x), Arch::Sm90a);
    assert!(ptx.contains(", 15;"), "no `tid > 15` ownership test in:\n{ptx}");
}
