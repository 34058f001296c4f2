//! `bin_sum` on the GPU against the interpreter: its shared-memory atomic adds under
//! heavy contention (4096 elements into 16 bins, some out of range) and with more bins
//! than threads (few collisions), on fresh random inputs with the output poisoned. The
//! f32 values are multiples of 2^-10 in (-1, 1), so every sum is exact in f32 in any
//! order and the GPU must agree with the interpreter bit for bit; i32 sums (one native
//! atomic add each) are exact and wrap, values up to 2^30 in magnitude making some wrap.

use rand::{Rng, SeedableRng};
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;

use super::exact::{assert_exact, both, poisoned, random};

/// One program a 64-row block of `x`, its elements summed into K bins by `bins`.
const BINS: &str = r#"kernel bins<K: i32 = 16>(x: tensor<DT>[M, N], bins: tensor<i32>[M, N], out: tensor<DT>[G, K])
    grid(G) warps(4) {
    let g = program_id(0);
    let r0 = g * 64;
    out[g, 0 .. K] = bin_sum(x[r0 .. r0 + 64, 0 .. 64], bins[r0 .. r0 + 64, 0 .. 64], K);
}
"#;

/// Bins drawn from -2 .. k + 2: those outside 0 .. k are dropped.
fn check(dtype: DType, k: usize, programs: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let rows = programs * 64;
    let bins = (0..rows * 64).map(|_| f64::from(rng.random_range(-2..k as i32 + 2))).collect();
    let x = match dtype {
        DType::I32 => {
            let data = (0..rows * 64).map(|_| f64::from(rng.random_range(-(1 << 30)..=1 << 30))).collect();
            HostTensor::from_f64(DType::I32, &[rows, 64], data)
        }
        _ => random(dtype, &[rows, 64], &mut rng),
    };
    let args = vec![
        ArgValue::Tensor(x),
        ArgValue::Tensor(HostTensor::from_f64(DType::I32, &[rows, 64], bins)),
        ArgValue::Tensor(poisoned(dtype, &[programs, k])),
    ];
    let source = BINS.replace("K: i32 = 16", &format!("K: i32 = {k}")).replace("DT", &dtype.to_string());
    both(&source, args, &[2]).iter().for_each(assert_exact);
}

#[test]
fn bin_sums_into_a_few_contended_bins_match_the_interpreter() {
    check(DType::F32, 16, 200, 51);
}

#[test]
fn i32_bin_sums_into_a_few_contended_bins_match_the_interpreter() {
    check(DType::I32, 16, 200, 53);
}

#[test]
fn i32_bin_sums_into_more_bins_than_threads_match_the_interpreter() {
    check(DType::I32, 512, 200, 54);
}

#[test]
fn bin_sums_into_more_bins_than_threads_match_the_interpreter() {
    check(DType::F32, 512, 200, 52);
}
