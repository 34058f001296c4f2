//! gemm.tile's kernels (`gemm`: c = a·b, bf16 out; `gemm_nt`: c = a·bᵀ, f32 out), their
//! inputs and f64 reference, shared by the interpreter tests, the GPU tests and the
//! benchmark.

use rand::Rng;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;

pub const SOURCE: &str = include_str!("../kernels/gemm.tile");
pub const PATH: &str = "patterns/kernels/gemm.tile";

/// Relative L2 error allowed against [`reference`](fn@reference): the GPU sums in f32 per 16-wide
/// k-step, and `gemm` rounds its output to bf16 (2^-9 relative).
pub const TOLERANCE: f64 = 1e-2;

/// A `[rows, cols]` bf16 matrix of fresh values in [-1, 1).
pub fn random(rng: &mut impl Rng, [rows, cols]: [usize; 2]) -> HostTensor {
    crate::random::uniform(DType::BF16, &[rows, cols], -1.0..1.0, rng)
}

/// `a [m, k] @ b` in f64 from the rounded inputs, where `b` is `[k, n]`, or `[n, k]`
/// when `b_transposed`.
pub fn reference(a: &HostTensor, b: &HostTensor, b_transposed: bool) -> Vec<f64> {
    let (m, k) = (a.shape[0], a.shape[1]);
    let n = if b_transposed { b.shape[0] } else { b.shape[1] };
    let at = |p: usize, j: usize| if b_transposed { b.data[j * k + p] } else { b.data[p * n + j] };
    (0..m * n).map(|i| (0..k).map(|p| a.data[i / n * k + p] * at(p, i % n)).sum()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_multiplies_both_layouts() {
        let a = HostTensor::from_f64(DType::BF16, &[1, 2], vec![1.0, 2.0]);
        let b = HostTensor::from_f64(DType::BF16, &[2, 2], vec![3.0, 4.0, 5.0, 6.0]);
        assert_eq!((reference(&a, &b, false), reference(&a, &b, true)), (vec![13.0, 16.0], vec![11.0, 17.0]));
    }
}
