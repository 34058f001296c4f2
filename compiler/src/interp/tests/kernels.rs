//! Whole kernels on random inputs against f64 references, with outputs poisoned
//! with NaN so that a skipped element shows up.

use super::*;
use crate::ir::{BinaryOp, CmpOp, ReduceOp, UnaryOp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random(dtype: DType, shape: &[usize], scale: f64, seed: u64) -> HostTensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    HostTensor::from_f64(dtype, shape, (0..n).map(|_| rng.random_range(-scale..scale)).collect())
}

/// "ok", or the first element that is unwritten or off by more than `rel_tol`
/// relative to the reference.
fn compare(got: &HostTensor, want: &[f64], rel_tol: f64) -> String {
    if got.data.len() != want.len() {
        return format!("got {} elements, want {}", got.data.len(), want.len());
    }
    for (i, (&g, &w)) in got.data.iter().zip(want).enumerate() {
        if g.is_nan() || (g - w).abs() > rel_tol * w.abs() {
            return format!("element {i}: got {g}, want {w}");
        }
    }
    "ok".to_string()
}

/// Verifies `kernel` (these are the shapes of kernels the front end emits), runs
/// it, and returns argument `index`.
fn run_and_take(kernel: &Kernel, mut args: Vec<ArgValue>, index: usize) -> Result<HostTensor, String> {
    crate::ir::verify::verify(kernel).map_err(|e| e.to_string())?;
    run(kernel, &mut args).map_err(|e| e.to_string())?;
    match args.swap_remove(index) {
        ArgValue::Tensor(t) => Ok(t),
        other => panic!("argument {index} changed kind: {other:?}"),
    }
}

fn cdiv_grid(b: &mut KernelBuilder, n: ValueId, block: i64) -> ValueId {
    let (block, block_minus_one) = (b.const_i32(block), b.const_i32(block - 1));
    let padded = b.binary(BinaryOp::Add, n, block_minus_one);
    b.binary(BinaryOp::Div, padded, block)
}

/// `o[i] = x[i] + y[i]`, 256 elements per program.
fn vector_add() -> Kernel {
    let mut b = KernelBuilder::new("vector_add", 4);
    let x = b.tensor_param("x", DType::F32, &["N"]);
    let y = b.tensor_param("y", DType::F32, &["N"]);
    let o = b.tensor_param("o", DType::F32, &["N"]);
    b.grid(|b| {
        let n = b.dim(x, 0);
        let one = b.const_i32(1);
        [cdiv_grid(b, n, 256), one, one]
    });
    let pid = b.program_id(0);
    let block = b.const_i32(256);
    let start = b.binary(BinaryOp::Mul, pid, block);
    let xs = b.load(x, vec![Index::Range { start, len: 256 }]);
    let ys = b.load(y, vec![Index::Range { start, len: 256 }]);
    let sum = b.binary(BinaryOp::Add, xs, ys);
    b.store(o, vec![Index::Range { start, len: 256 }], sum);
    b.finish()
}

#[test]
fn vector_add_matches_f32_addition() {
    let (x, y) = (random(DType::F32, &[1000], 10.0, 1), random(DType::F32, &[1000], 10.0, 2));
    let want: Vec<f64> = x.data.iter().zip(&y.data).map(|(a, b)| f64::from(*a as f32 + *b as f32)).collect();
    let o = HostTensor::filled(DType::F32, &[1000], f64::NAN);
    let got = run_and_take(&vector_add(), vec![ArgValue::Tensor(x), ArgValue::Tensor(y), ArgValue::Tensor(o)], 2);
    check(got.map(|t| compare(&t, &want, 0.0)).unwrap_or_else(|e| e), "ok");
}

/// Row softmax over `x: f32[M, N]`, 4 rows and 1024 columns per program, with the
/// columns past N masked to -inf.
fn softmax() -> Kernel {
    const ROWS: u32 = 4;
    const COLS: u32 = 1024;
    let mut b = KernelBuilder::new("softmax", 4);
    let x = b.tensor_param("x", DType::F32, &["M", "N"]);
    let o = b.tensor_param("o", DType::F32, &["M", "N"]);
    b.grid(|b| {
        let m = b.dim(x, 0);
        let one = b.const_i32(1);
        [cdiv_grid(b, m, ROWS.into()), one, one]
    });
    let pid = b.program_id(0);
    let (rows, zero) = (b.const_i32(ROWS.into()), b.const_i32(0));
    let row0 = b.binary(BinaryOp::Mul, pid, rows);
    let tile = vec![Index::Range { start: row0, len: ROWS }, Index::Range { start: zero, len: COLS }];
    let xt = b.load(x, tile.clone());
    let cols = b.arange(zero, COLS);
    let n = b.dim(x, 1);
    let n = b.splat(n, vec![COLS]);
    let in_row = b.cmp(CmpOp::Lt, cols, n);
    let in_row = b.expand_dims(in_row, 0);
    let in_row = b.broadcast(in_row, vec![ROWS, COLS]);
    let neg_inf = b.const_f32(f64::NEG_INFINITY);
    let neg_inf = b.splat(neg_inf, vec![ROWS, COLS]);
    let xt = b.select(in_row, xt, neg_inf);
    let row_max = b.reduce(ReduceOp::Max, xt, 1);
    let row_max = b.expand_dims(row_max, 1);
    let row_max = b.broadcast(row_max, vec![ROWS, COLS]);
    let shifted = b.binary(BinaryOp::Sub, xt, row_max);
    let e = b.unary(UnaryOp::Exp, shifted);
    let total = b.reduce(ReduceOp::Sum, e, 1);
    let total = b.expand_dims(total, 1);
    let total = b.broadcast(total, vec![ROWS, COLS]);
    let p = b.binary(BinaryOp::Div, e, total);
    b.store(o, tile, p);
    b.finish()
}

fn softmax_reference(x: &HostTensor) -> Vec<f64> {
    x.data
        .chunks(x.shape[1])
        .flat_map(|row| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = row.iter().map(|v| (v - max).exp()).sum();
            row.iter().map(move |v| (v - max).exp() / total)
        })
        .collect()
}

#[test]
fn softmax_matches_f64_reference() {
    // 62 rows leave the last program half outside the tensor.
    let x = random(DType::F32, &[62, 1000], 4.0, 3);
    let want = softmax_reference(&x);
    let o = HostTensor::filled(DType::F32, &[62, 1000], f64::NAN);
    let got = run_and_take(&softmax(), vec![ArgValue::Tensor(x), ArgValue::Tensor(o)], 1);
    check(got.map(|t| compare(&t, &want, 2e-6)).unwrap_or_else(|e| e), "ok");
}

/// RMSNorm over rows of `x: bf16[R, D]`, one row of up to 512 per program,
/// computed in f32 and stored as bf16.
fn rmsnorm() -> Kernel {
    const COLS: u32 = 512;
    let mut b = KernelBuilder::new("rmsnorm", 4);
    let x = b.tensor_param("x", DType::BF16, &["R", "D"]);
    let w = b.tensor_param("w", DType::BF16, &["D"]);
    let eps = b.scalar_param("eps", DType::F32);
    let o = b.tensor_param("o", DType::BF16, &["R", "D"]);
    b.grid(|b| {
        let r = b.dim(x, 0);
        let one = b.const_i32(1);
        [r, one, one]
    });
    let row = b.program_id(0);
    let zero = b.const_i32(0);
    let row_tile = vec![Index::Point(row), Index::Range { start: zero, len: COLS }];
    let xt = b.load(x, row_tile.clone());
    let xt = b.cast(xt, DType::F32);
    let squares = b.binary(BinaryOp::Mul, xt, xt);
    let total = b.reduce(ReduceOp::Sum, squares, 0);
    let d = b.dim(x, 1);
    let d = b.cast(d, DType::F32);
    let mean = b.binary(BinaryOp::Div, total, d);
    let eps = b.arg(eps);
    let mean = b.binary(BinaryOp::Add, mean, eps);
    let scale = b.unary(UnaryOp::Rsqrt, mean);
    let scale = b.splat(scale, vec![COLS]);
    let wt = b.load(w, vec![Index::Range { start: zero, len: COLS }]);
    let wt = b.cast(wt, DType::F32);
    let y = b.binary(BinaryOp::Mul, xt, scale);
    let y = b.binary(BinaryOp::Mul, y, wt);
    let y = b.cast(y, DType::BF16);
    b.store(o, row_tile, y);
    b.finish()
}

fn rmsnorm_reference(x: &HostTensor, w: &HostTensor, eps: f64) -> Vec<f64> {
    x.data
        .chunks(x.shape[1])
        .flat_map(|row| {
            let mean = row.iter().map(|v| v * v).sum::<f64>() / row.len() as f64;
            let scale = 1.0 / (mean + eps).sqrt();
            row.iter().zip(&w.data).map(move |(v, w)| v * scale * w)
        })
        .collect()
}

#[test]
fn rmsnorm_matches_f64_reference_within_bf16_rounding() {
    let (x, w) = (random(DType::BF16, &[37, 300], 3.0, 4), random(DType::BF16, &[300], 2.0, 5));
    let eps = 1e-5;
    let want = rmsnorm_reference(&x, &w, f64::from(eps as f32));
    let o = HostTensor::filled(DType::BF16, &[37, 300], f64::NAN);
    let args = vec![ArgValue::Tensor(x), ArgValue::Tensor(w), ArgValue::F32(eps as f32), ArgValue::Tensor(o)];
    let got = run_and_take(&rmsnorm(), args, 3);
    // Rounding to bf16 is off by at most 2^-9 relative; f32 arithmetic adds far less.
    check(got.map(|t| compare(&t, &want, f64::powi(2.0, -8))).unwrap_or_else(|e| e), "ok");
}
