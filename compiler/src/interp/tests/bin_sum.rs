//! `bin_sum` against a direct computation: each element added to its bin in f64, bins
//! outside `0..N` dropped, each f32 sum rounded once; i32 sums exact and wrapping.

use super::*;
use rand::{Rng, SeedableRng};

/// `bin_sum(x, bins, n)` of whole input tiles.
fn bin_sum(x: HostTensor, bins: HostTensor, n: u32) -> Result<HostTensor, InterpError> {
    eval_tiles(&[x, bins], |k, v| k.bin_sum(v[0], v[1], n))
}

/// The sums computed directly from the definition.
fn direct(x: &[f64], bins: &[f64], n: usize) -> Vec<f64> {
    let mut sums = vec![0.0f64; n];
    for (&v, &b) in x.iter().zip(bins) {
        if (0.0..n as f64).contains(&b) {
            sums[b as usize] += v;
        }
    }
    sums.into_iter().map(|s| f64::from(s as f32)).collect()
}

/// A random f32 [64, 64] tile, as vertical-slash's probabilities are.
fn random_tile(rng: &mut rand::rngs::StdRng) -> HostTensor {
    let data = (0..64 * 64).map(|_| rng.random_range(-1.0..1.0)).collect();
    HostTensor::from_f64(DType::F32, &[64, 64], data)
}

fn ok(r: Result<HostTensor, InterpError>) -> HostTensor {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn diagonal_sums_of_a_tile_match_the_direct_sums() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let x = random_tile(&mut rng);
    // Bin t = r - c + 63 of element (r, c): one bin per diagonal, bin 127 empty.
    let bins: Vec<f64> = (0..64 * 64).map(|i| f64::from(i / 64 - i % 64 + 63)).collect();
    let expected = direct(&x.data, &bins, 128);
    assert_eq!(ok(bin_sum(x, HostTensor::from_f64(DType::I32, &[64, 64], bins), 128)).data, expected);
}

#[test]
fn random_bins_with_masked_elements_match_the_direct_sums() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let x = random_tile(&mut rng);
    let bins: Vec<f64> = (0..64 * 64).map(|_| f64::from(rng.random_range(-3..20))).collect();
    let expected = direct(&x.data, &bins, 16);
    assert_eq!(ok(bin_sum(x, HostTensor::from_f64(DType::I32, &[64, 64], bins), 16)).data, expected);
}

#[test]
fn bins_outside_the_range_are_dropped() {
    let x = tensor(DType::F32, &[1.0, 2.0, 4.0, 8.0]);
    let bins = tensor(DType::I32, &[-1.0, 4.0, 3.0, i32::MIN as f64]);
    check(render_result(bin_sum(x, bins, 4)), "[0.0, 0.0, 0.0, 4.0]");
}

#[test]
fn an_empty_bin_is_zero() {
    let x = tensor(DType::F32, &[1.0, 2.0]);
    let bins = tensor(DType::I32, &[0.0, 0.0]);
    check(render_result(bin_sum(x, bins, 2)), "[3.0, 0.0]");
}

#[test]
fn each_bin_rounds_once() {
    // 1 + 2^-24 + 2^-24 is 1 + 2^-23 in f64, which f32 holds; adding in f32 would lose both.
    let eps = f64::powi(2.0, -24);
    let x = tensor(DType::F32, &[1.0, eps, eps]);
    let bins = tensor(DType::I32, &[0.0, 0.0, 0.0]);
    check(render_result(bin_sum(x, bins, 1)), "[1.0000001192092896]");
}

#[test]
fn bins_of_another_shape_are_malformed() {
    let x = tensor(DType::F32, &[1.0, 2.0]);
    let bins = tensor(DType::I32, &[0.0, 0.0, 0.0, 0.0]);
    assert!(matches!(bin_sum(x, bins, 2), Err(InterpError::Malformed { .. })));
}

#[test]
fn i32_bins_sum_exactly() {
    let x = tensor(DType::I32, &[1.0, 2.0, 1073741824.0, 7.0]);
    let bins = tensor(DType::I32, &[0.0, 1.0, 1.0, -1.0]);
    check(render_result(bin_sum(x, bins, 2)), "[1, 1073741826]");
}

#[test]
fn i32_bins_wrap_as_the_gpu_atomics_do() {
    let x = tensor(DType::I32, &[f64::from(i32::MAX), 2.0]);
    let bins = tensor(DType::I32, &[0.0, 0.0]);
    check(render_result(bin_sum(x, bins, 1)), &format!("[{}]", i32::MIN + 1));
}
