//! Masked loads and stores at tensor edges.

use super::*;
use crate::ir::CmpOp;

/// `[1, 2, ..., n]` with the given shape.
fn counting(shape: &[usize]) -> HostTensor {
    let n: usize = shape.iter().product();
    HostTensor::from_f64(DType::F32, shape, (1..=n).map(|i| i as f64).collect())
}

/// Adds an f32 `out` parameter shaped like `tile`, stores `tile` into it whole, and
/// finishes the kernel; returns it with the output's shape.
fn store_to_new_output(mut b: KernelBuilder, tile: ValueId) -> (Kernel, Vec<usize>) {
    let shape = b.value_type(tile).shape.clone();
    let out_dims: Vec<String> = (0..shape.len()).map(|d| format!("O{d}")).collect();
    let out = b.tensor_param("out", DType::F32, &out_dims.iter().map(String::as_str).collect::<Vec<_>>());
    let all = whole(&mut b, &shape);
    b.store(out, all, tile);
    (b.finish(), shape.iter().map(|&d| d as usize).collect())
}

/// Loads `x` at the indices `at` builds and returns the stored tile.
fn load(x: HostTensor, at: impl FnOnce(&mut KernelBuilder) -> Vec<Index>) -> String {
    let mut b = KernelBuilder::new("load", 1);
    let dims: Vec<String> = (0..x.shape.len()).map(|d| format!("X{d}")).collect();
    let xp = b.tensor_param("x", DType::F32, &dims.iter().map(String::as_str).collect::<Vec<_>>());
    single_program(&mut b);
    let indices = at(&mut b);
    let tile = b.load(xp, indices);
    let (kernel, out_shape) = store_to_new_output(b, tile);
    let mut args = vec![ArgValue::Tensor(x), ArgValue::Tensor(HostTensor::filled(DType::F32, &out_shape, f64::NAN))];
    render_result(run(&kernel, &mut args).map(|()| output(args)))
}

/// Stores `value` (loaded whole) into a NaN-poisoned tensor of `out_shape` at the
/// indices `at` builds, and returns that tensor.
fn store(out_shape: &[usize], value: HostTensor, at: impl FnOnce(&mut KernelBuilder) -> Vec<Index>) -> String {
    let mut b = KernelBuilder::new("store", 1);
    let dims: Vec<String> = (0..value.shape.len()).map(|d| format!("V{d}")).collect();
    let vp = b.tensor_param("v", DType::F32, &dims.iter().map(String::as_str).collect::<Vec<_>>());
    let out_dims: Vec<String> = (0..out_shape.len()).map(|d| format!("O{d}")).collect();
    let out = b.tensor_param("out", DType::F32, &out_dims.iter().map(String::as_str).collect::<Vec<_>>());
    single_program(&mut b);
    let shape: Vec<u32> = value.shape.iter().map(|&d| d as u32).collect();
    let all = whole(&mut b, &shape);
    let tile = b.load(vp, all);
    let indices = at(&mut b);
    b.store(out, indices, tile);
    let kernel = b.finish();
    let mut args = vec![ArgValue::Tensor(value), ArgValue::Tensor(HostTensor::filled(DType::F32, out_shape, f64::NAN))];
    render_result(run(&kernel, &mut args).map(|()| output(args)))
}

fn output(mut args: Vec<ArgValue>) -> HostTensor {
    match args.pop() {
        Some(ArgValue::Tensor(t)) => t,
        other => panic!("the output argument changed kind: {other:?}"),
    }
}

fn range(b: &mut KernelBuilder, start: i64, len: u32) -> Index {
    Index::Range { start: b.const_i32(start), len }
}

fn point(b: &mut KernelBuilder, at: i64) -> Index {
    Index::Point(b.const_i32(at))
}

#[test]
fn load_partial_tile_at_the_end_reads_zero_past_it() {
    check(load(counting(&[6]), |b| vec![range(b, 4, 4)]), "[5.0, 6.0, 0.0, 0.0]");
}

#[test]
fn load_negative_start_reads_zero_before_the_tensor() {
    check(load(counting(&[6]), |b| vec![range(b, -2, 4)]), "[0.0, 0.0, 1.0, 2.0]");
}

#[test]
fn load_entirely_past_the_end_reads_zeros() {
    check(load(counting(&[6]), |b| vec![range(b, 100, 4)]), "[0.0, 0.0, 0.0, 0.0]");
}

#[test]
fn load_2d_corner_tile_masks_rows_and_columns() {
    check(
        load(counting(&[3, 3]), |b| vec![range(b, 1, 4), range(b, 2, 2)]),
        "[6.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0]",
    );
}

#[test]
fn load_column_with_a_point_index() {
    check(load(counting(&[3, 3]), |b| vec![range(b, 0, 4), point(b, 1)]), "[2.0, 5.0, 8.0, 0.0]");
}

#[test]
fn load_point_past_the_end_reads_a_zero_tile() {
    check(load(counting(&[3, 3]), |b| vec![point(b, 3), range(b, 0, 2)]), "[0.0, 0.0]");
}

#[test]
fn load_negative_point_reads_a_zero_tile() {
    check(load(counting(&[3, 3]), |b| vec![range(b, 0, 2), point(b, -1)]), "[0.0, 0.0]");
}

#[test]
fn store_partial_tile_skips_past_the_end() {
    check(store(&[6], counting(&[4]), |b| vec![range(b, 4, 4)]), "[NaN, NaN, NaN, NaN, 1.0, 2.0]");
}

#[test]
fn store_negative_start_skips_before_the_tensor() {
    check(store(&[6], counting(&[4]), |b| vec![range(b, -3, 4)]), "[4.0, NaN, NaN, NaN, NaN, NaN]");
}

#[test]
fn store_point_out_of_range_writes_nothing() {
    check(store(&[2, 2], counting(&[2]), |b| vec![point(b, 2), range(b, 0, 2)]), "[NaN, NaN, NaN, NaN]");
}

#[test]
fn store_2d_corner_tile_writes_only_the_overlap() {
    check(
        store(&[3, 3], counting(&[2, 2]), |b| vec![range(b, 2, 2), range(b, 1, 2)]),
        "[NaN, NaN, NaN, NaN, NaN, NaN, NaN, 1.0, 2.0]",
    );
}

#[test]
fn store_column_with_a_point_index() {
    check(store(&[2, 2], counting(&[2]), |b| vec![range(b, 0, 2), point(b, 1)]), "[NaN, 1.0, NaN, 2.0]");
}

/// Loads the i32 index tensor `idx` whole, then loads `x` at the indices `at` builds
/// from that index tile, and returns the loaded tile.
fn gather(x: HostTensor, idx: &[i64], at: impl FnOnce(&mut KernelBuilder, ValueId) -> Vec<Index>) -> String {
    let mut b = KernelBuilder::new("gather", 1);
    let dims: Vec<String> = (0..x.shape.len()).map(|d| format!("X{d}")).collect();
    let xp = b.tensor_param("x", DType::F32, &dims.iter().map(String::as_str).collect::<Vec<_>>());
    let ip = b.tensor_param("idx", DType::I32, &["L"]);
    single_program(&mut b);
    let all = whole(&mut b, &[idx.len() as u32]);
    let positions = b.load(ip, all);
    let indices = at(&mut b, positions);
    let tile = b.load(xp, indices);
    let (kernel, out_shape) = store_to_new_output(b, tile);
    let idx = HostTensor::from_f64(DType::I32, &[idx.len()], idx.iter().map(|&i| i as f64).collect());
    let mut args = vec![
        ArgValue::Tensor(x),
        ArgValue::Tensor(idx),
        ArgValue::Tensor(HostTensor::filled(DType::F32, &out_shape, f64::NAN)),
    ];
    render_result(run(&kernel, &mut args).map(|()| output(args)))
}

#[test]
fn gather_rows_of_a_matrix_in_index_order() {
    check(
        gather(counting(&[3, 2]), &[2, 0, 1, 2], |b, rows| vec![Index::Gather(rows), range(b, 0, 2)]),
        "[5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]",
    );
}

#[test]
fn gather_out_of_range_rows_read_zero() {
    check(
        gather(counting(&[3, 2]), &[-1, 3, 1, i64::from(i32::MAX)], |b, rows| {
            vec![Index::Gather(rows), range(b, 0, 2)]
        }),
        "[0.0, 0.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0]",
    );
}

#[test]
fn gather_columns_of_a_row() {
    check(
        gather(counting(&[2, 3]), &[2, 2, 0, 5], |b, cols| vec![point(b, 1), Index::Gather(cols)]),
        "[6.0, 6.0, 4.0, 0.0]",
    );
}

#[test]
fn gather_masked_past_a_count_reads_zero_there() {
    // where(arange(0, 4) < 2, idx, -1): entries past the count become the out-of-range -1.
    let masked = |b: &mut KernelBuilder, rows: ValueId| {
        let zero = b.const_i32(0);
        let lanes = b.arange(zero, 4);
        let count = b.const_i32(2);
        let counts = b.splat(count, vec![4]);
        let live = b.cmp(CmpOp::Lt, lanes, counts);
        let minus_one = b.const_i32(-1);
        let dead = b.splat(minus_one, vec![4]);
        let rows = b.select(live, rows, dead);
        vec![Index::Gather(rows), range(b, 0, 2)]
    };
    check(gather(counting(&[3, 2]), &[2, 1, 0, 1], masked), "[5.0, 6.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]");
}
