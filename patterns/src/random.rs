//! Random host tensors for tests and benchmarks, filled on every core: the benchmarks'
//! inputs reach hundreds of millions of elements (q, k and v at 32K tokens and 32 heads
//! are 134M each), which one thread draws in seconds per tensor.

use std::ops::Range;

use rand::{Rng, SeedableRng};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::{round_to, HostTensor};

/// Elements per independently seeded chunk of [`uniform`].
pub const CHUNK: usize = 1 << 16;

/// A tensor whose elements are drawn uniformly from `range` and rounded to `dtype`. The
/// draws depend only on one `u64` taken from `rng`, not on the thread count: each chunk of
/// [`CHUNK`] elements has a generator of its own, seeded by (that draw, the chunk's index).
pub fn uniform(dtype: DType, shape: &[usize], range: Range<f64>, rng: &mut impl Rng) -> HostTensor {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    uniform_on(dtype, shape, range, rng.random(), threads)
}

fn uniform_on(dtype: DType, shape: &[usize], range: Range<f64>, seed: u64, threads: usize) -> HostTensor {
    let mut data = vec![0.0; shape.iter().product()];
    let chunks_per_thread = data.len().div_ceil(CHUNK).div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (group, slice) in data.chunks_mut(chunks_per_thread * CHUNK).enumerate() {
            let range = range.clone();
            scope.spawn(move || {
                for (i, chunk) in slice.chunks_mut(CHUNK).enumerate() {
                    let index = (group * chunks_per_thread + i) as u64;
                    // Seeds a large odd step apart, so that neighbouring chunks' streams differ.
                    let mut chunk_rng =
                        rand::rngs::StdRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    chunk.iter_mut().for_each(|x| *x = round_to(dtype, chunk_rng.random_range(range.clone())));
                }
            });
        }
    });
    HostTensor { dtype, shape: shape.to_vec(), data }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bf16_tensor(seed: u64, threads: usize) -> HostTensor {
        uniform_on(DType::BF16, &[3, CHUNK + 5], -2.0..2.0, seed, threads)
    }

    #[test]
    fn does_not_depend_on_the_thread_count() {
        assert_eq!(bf16_tensor(7, 1), bf16_tensor(7, 5));
    }

    #[test]
    fn depends_on_the_seed() {
        assert_ne!(bf16_tensor(7, 2), bf16_tensor(8, 2));
    }

    #[test]
    fn stays_in_range_rounded_to_the_dtype() {
        let t = bf16_tensor(3, 2);
        assert!(t.data.iter().all(|&x| (-2.0..=2.0).contains(&x) && round_to(DType::BF16, x) == x));
    }

    #[test]
    fn chunks_draw_different_streams() {
        let t = bf16_tensor(3, 2);
        assert_ne!(t.data[..64], t.data[CHUNK..CHUNK + 64]);
    }

    #[test]
    fn an_empty_shape_gives_an_empty_tensor() {
        assert!(uniform_on(DType::F32, &[0, 4], 0.0..1.0, 1, 4).is_empty());
    }
}
