//! A `.tile` gather kernel end to end on the CPU: source through the front end and the
//! default passes, run by the interpreter, against a reference computed by hand.

use super::*;

/// Rows of `x` picked by `cols`; entries at or past `count` are masked off with -1.
const GATHER_ROWS: &str = r#"kernel gather_rows<BN: i32 = 8, BD: i32 = 16>(
    x: tensor<bf16>[N, D], cols: tensor<i32>[M], count: i32, out: tensor<bf16>[M, D],
) grid(1) warps(1) {
    let idx = where(arange(0, BN) < count, cols[0 .. BN], -1);
    out[0 .. BN, 0 .. BD] = x[idx, 0 .. BD];
}
"#;

const N: usize = 5;
const D: usize = 16;

/// `x[r, c] = r * 16 + c`: every value is an integer below 256, exact in bf16.
fn x() -> HostTensor {
    HostTensor::from_f64(DType::BF16, &[N, D], (0..N * D).map(|i| i as f64).collect())
}

/// The gathered rows, by hand: a row outside `[0, N)`, or at or past `count`, is zeros.
fn reference(cols: &[i32], count: usize) -> Vec<f64> {
    let x = x();
    let mut out = Vec::new();
    for (i, &r) in cols.iter().enumerate() {
        let row = usize::try_from(r).ok().filter(|&r| r < N && i < count);
        out.extend((0..D).map(|c| row.map_or(0.0, |r| x.data[r * D + c])));
    }
    out
}

fn gathered(cols: &[i32], count: i32) -> Vec<f64> {
    let kernel = match crate::lower_source(GATHER_ROWS, None, &[]) {
        Ok(k) => k,
        Err(e) => panic!("the gather kernel does not compile: {e}"),
    };
    let idx = HostTensor::from_f64(DType::I32, &[cols.len()], cols.iter().map(|&c| f64::from(c)).collect());
    let mut args = vec![
        ArgValue::Tensor(x()),
        ArgValue::Tensor(idx),
        ArgValue::I32(count),
        ArgValue::Tensor(HostTensor::filled(DType::BF16, &[cols.len(), D], f64::NAN)),
    ];
    if let Err(e) = run(&kernel, &mut args) {
        panic!("the gather kernel failed: {e}");
    }
    match args.pop() {
        Some(ArgValue::Tensor(t)) => t.data,
        other => panic!("the output argument changed kind: {other:?}"),
    }
}

#[test]
fn gathered_rows_match_the_reference() {
    let cols = [4, 0, 2, 2, 1, 3, 0, 4];
    assert_eq!(gathered(&cols, 8), reference(&cols, 8));
}

#[test]
fn out_of_range_rows_read_zero() {
    let cols = [4, 5, -3, 2, i32::MAX, 0, -1, 1];
    assert_eq!(gathered(&cols, 8), reference(&cols, 8));
}

#[test]
fn rows_past_the_count_read_zero() {
    let cols = [4, 0, 2, 2, 1, 3, 0, 4];
    assert_eq!(gathered(&cols, 3), reference(&cols, 3));
}

/// `out[pos] = arange(10, 8)`: a scatter of the values 10 .. 17 to the positions `pos`.
const SCATTER: &str = r#"kernel scatter(pos: tensor<i32>[M], out: tensor<i32>[N]) grid(1) warps(1) {
    out[pos[0 .. 8]] = arange(10, 8);
}
"#;

/// `out` (6 entries, poisoned with -7) after the scatter to `pos`.
fn scattered(pos: [i32; 8]) -> Vec<f64> {
    let kernel =
        crate::lower_source(SCATTER, None, &[]).unwrap_or_else(|e| panic!("the scatter does not compile: {e}"));
    let mut args = vec![
        ArgValue::Tensor(HostTensor::from_f64(DType::I32, &[8], pos.iter().map(|&p| f64::from(p)).collect())),
        ArgValue::Tensor(HostTensor::filled(DType::I32, &[6], -7.0)),
    ];
    run(&kernel, &mut args).unwrap_or_else(|e| panic!("the scatter failed: {e}"));
    match args.pop() {
        Some(ArgValue::Tensor(t)) => t.data,
        other => panic!("the output argument changed kind: {other:?}"),
    }
}

#[test]
fn a_scatter_writes_each_value_at_its_position() {
    assert_eq!(scattered([5, 3, 0, 1, 4, 2, -1, -1]), [12.0, 13.0, 15.0, 11.0, 14.0, 10.0]);
}

#[test]
fn a_scatter_skips_positions_outside_the_tensor() {
    assert_eq!(scattered([-1, 6, 2, i32::MAX, -9, 0, 100, 7]), [15.0, -7.0, 12.0, -7.0, -7.0, -7.0]);
}
