//! Scans against a direct computation: each lane of the axis combined in order, i32 sums
//! wrapping, f32 sums in f64 rounded once per element.

use super::*;
use crate::ir::ReduceOp;
use rand::{Rng, SeedableRng};

fn scan(x: HostTensor, op: ReduceOp, axis: u32) -> HostTensor {
    eval_tiles(&[x], |k, v| k.scan(op, v[0], axis)).unwrap_or_else(|e| panic!("{e}"))
}

/// The inclusive scan of a `[rows, cols]` row-major tile along `axis`, element by element.
fn direct(x: &[f64], [rows, cols]: [usize; 2], op: ReduceOp, axis: usize, dtype: DType) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            let before = (0..rows * cols).filter(|&i| {
                let (ri, ci) = (i / cols, i % cols);
                if axis == 0 {
                    ci == c && ri <= r
                } else {
                    ri == r && ci <= c
                }
            });
            let values: Vec<f64> = before.map(|i| x[i]).collect();
            out[r * cols + c] = match op {
                ReduceOp::Sum if dtype == DType::I32 => f64::from(values.iter().map(|&v| v as i64).sum::<i64>() as i32),
                ReduceOp::Sum => f64::from(values.iter().sum::<f64>() as f32),
                ReduceOp::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                ReduceOp::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            };
        }
    }
    out
}

fn random(dtype: DType, shape: [usize; 2], seed: u64) -> HostTensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let data = (0..shape[0] * shape[1])
        .map(|_| if dtype == DType::I32 { f64::from(rng.random_range(-50..50)) } else { rng.random_range(-1.0..1.0) })
        .collect();
    HostTensor::from_f64(dtype, &shape, data)
}

fn check_scan(dtype: DType, op: ReduceOp, axis: u32, seed: u64) {
    let shape = [8, 16];
    let x = random(dtype, shape, seed);
    let expected = direct(&x.data, shape, op, axis as usize, dtype);
    assert_eq!(scan(x, op, axis).data, expected);
}

#[test]
fn cumsum_of_i32_along_rows_matches_the_direct_sums() {
    check_scan(DType::I32, ReduceOp::Sum, 1, 1);
}

#[test]
fn cumsum_of_i32_along_columns_matches_the_direct_sums() {
    check_scan(DType::I32, ReduceOp::Sum, 0, 2);
}

#[test]
fn cumsum_of_f32_matches_the_direct_sums() {
    check_scan(DType::F32, ReduceOp::Sum, 1, 3);
}

#[test]
fn cummax_matches_the_running_maximum() {
    check_scan(DType::F32, ReduceOp::Max, 0, 4);
}

#[test]
fn cummin_matches_the_running_minimum() {
    check_scan(DType::I32, ReduceOp::Min, 1, 5);
}

#[test]
fn a_scan_of_bool_is_an_error() {
    let x = tensor(DType::Bool, &[1.0, 0.0]);
    let err = eval_tiles(&[x], |k, v| k.scan(ReduceOp::Sum, v[0], 0)).map(|_| ()).unwrap_err();
    assert_eq!(err.to_string(), "`scan_sum` is not defined on bool (supported: scans of i32, f16, bf16 and f32)");
}

/// docs/language.md's compaction example: each 64-wide block's positive entries packed at
/// its front, in order, by a scan and a scatter. Run from the reference itself, so the
/// example cannot drift from what is tested.
fn compact_example() -> &'static str {
    const LANGUAGE_MD: &str = include_str!("../../../../docs/language.md");
    let block = LANGUAGE_MD.split("```").skip(1).step_by(2).find(|b| b.contains("kernel compact("));
    block.unwrap_or_else(|| panic!("docs/language.md has no `kernel compact(` example"))
}

#[test]
fn a_scan_and_a_scatter_compact_each_block_in_order() {
    let blocks = 3;
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let x: Vec<f64> = (0..blocks * 64).map(|_| f64::from(rng.random_range(-8..8))).collect();
    let kernel = crate::lower_source(compact_example(), None, &[])
        .unwrap_or_else(|e| panic!("the kernel does not compile: {e}"));
    let mut args = vec![
        ArgValue::Tensor(tensor(DType::F32, &x)),
        ArgValue::Tensor(HostTensor::filled(DType::F32, &[blocks * 64], f64::NAN)),
        ArgValue::Tensor(HostTensor::filled(DType::I32, &[blocks], -1.0)),
    ];
    run(&kernel, &mut args).unwrap_or_else(|e| panic!("the kernel failed: {e}"));
    let (ArgValue::Tensor(o), ArgValue::Tensor(counts)) = (&args[1], &args[2]) else { panic!("outputs are tensors") };
    for (b, block) in x.chunks(64).enumerate() {
        let kept: Vec<f64> = block.iter().copied().filter(|&v| v > 0.0).collect();
        assert_eq!(counts.data[b], kept.len() as f64, "block {b}");
        assert_eq!(&o.data[b * 64..b * 64 + kept.len()], kept.as_slice(), "block {b}");
        assert!(o.data[b * 64 + kept.len()..(b + 1) * 64].iter().all(|v| v.is_nan()), "block {b} wrote past its count");
    }
}
