//! A-shape, tri-shape (kernels/sparse_local.tile) and strided (kernels/sparse_strided.tile)
//! on the GPU against dense attention restricted to the same mask: packed sequences of
//! 1000, 3000 and 17 tokens, 8 query heads sharing 2 key/value heads, head dims 64 and
//! 128, with sizes that are not multiples of 64. o and lse are poisoned on host and
//! device, so an unwritten row fails. Runs only with `--features gpu`, on the GPU machine.

use rand::SeedableRng;
use sparsefill_patterns::attention::{self, AttentionCase, AttentionShape, KeyMask};
use sparsefill_patterns::sparse::local::query_blocks::{self, Backend};
use sparsefill_patterns::sparse::local::strided::{self, StridedParams};
use sparsefill_patterns::sparse::local::{self, LocalParams};
use sparsefill_patterns::sparse::{AttentionInputs, SparseOutput};
use sparsefill_runtime::{CacheConfig, Gpu, KernelCache};

const SEQLENS: [usize; 3] = [1000, 3000, 17];
/// Random rows checked in each long sequence besides its first and last blocks.
const SAMPLE: usize = 256;

/// Runs `pattern` on the GPU over fresh random inputs and checks it against the
/// reference with `mask`.
fn check_on_gpu(
    head_dim: usize,
    seed: u64,
    mask: impl Fn(KeyMask) -> bool,
    pattern: impl Fn(&Backend, &AttentionInputs) -> Result<SparseOutput, String>,
) {
    let shape = AttentionShape { seqlens: SEQLENS.to_vec(), heads: 8, kv_heads: 2, head_dim, causal: true };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (case, inputs): (AttentionCase, AttentionInputs) =
        query_blocks::random_inputs(&shape, &mut rng).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let out =
        pattern(&Backend::Gpu { gpu: &gpu, cache: &cache }, &inputs).unwrap_or_else(|e| panic!("D {head_dim}: {e}"));

    let rows = query_blocks::sample_rows(&SEQLENS, SAMPLE, &mut rng);
    let got = attention::gather(&shape, &out.o, &out.lse, &rows).unwrap_or_else(|e| panic!("{e}"));
    let expected = case.reference_masked(&rows, mask).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = attention::check_outputs(&got, &expected) {
        panic!("D {head_dim}: {e}");
    }
    let all: Vec<usize> = (0..shape.tokens()).collect();
    let every = attention::gather(&shape, &out.o, &out.lse, &all).unwrap_or_else(|e| panic!("{e}"));
    assert!(every.o.iter().chain(&every.lse).all(|x| x.is_finite()), "D {head_dim}: a row was not written");
}

fn check_local(head_dim: usize, params: LocalParams, seed: u64) {
    let run =
        |backend: &Backend, inputs: &AttentionInputs| local::run(backend, inputs, &params).map_err(|e| e.to_string());
    check_on_gpu(head_dim, seed, |at| params.keeps(at), run);
}

fn check_strided(head_dim: usize, params: StridedParams, seed: u64) {
    let run =
        |backend: &Backend, inputs: &AttentionInputs| strided::run(backend, inputs, &params).map_err(|e| e.to_string());
    check_on_gpu(head_dim, seed, |at| params.keeps(at), run);
}

#[test]
fn a_shape_head_dim_128_on_gpu() {
    check_local(128, LocalParams::a_shape(100, 300), 1);
}

#[test]
fn a_shape_head_dim_64_on_gpu() {
    check_local(64, LocalParams::a_shape(7, 129), 2);
}

#[test]
fn tri_shape_head_dim_128_on_gpu() {
    check_local(128, LocalParams::tri_shape(64, 256, 200), 3);
}

#[test]
fn tri_shape_head_dim_64_on_gpu() {
    check_local(64, LocalParams::tri_shape(3, 90, 150), 4);
}

#[test]
fn strided_head_dim_128_on_gpu() {
    check_strided(128, StridedParams { stride: 4, n_local: 200 }, 5);
}

#[test]
fn strided_head_dim_64_on_gpu() {
    check_strided(64, StridedParams { stride: 3, n_local: 70 }, 6);
}
