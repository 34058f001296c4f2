//! Block-sparse attention on the GPU: the `.tile` estimator (kernels/estimate_block.tile)
//! against the host reference, and the attention kernel (kernels/sparse_block.tile) over
//! the GPU's index against dense attention restricted to that index: packed sequences of
//! 1000, 3000 and 17 tokens, 8 query heads sharing 2 key/value heads, head dims 64 and
//! 128. Runs only with `--features gpu`, on the GPU machine.

use rand::SeedableRng;
use sparsefill_patterns::attention::{self, AttentionShape};
use sparsefill_patterns::sparse::block_sparse::{
    self, BlockIndex, BlockIndexError, BlockScores, BlockSparseError, BlockSparseParams,
};
use sparsefill_patterns::sparse::local::query_blocks::{self, Backend};
use sparsefill_runtime::{CacheConfig, Gpu, KernelCache};

const SEQLENS: [usize; 3] = [1000, 3000, 17];
/// Scores closer than this (relative to the row's largest magnitude) may order
/// differently on the GPU, which sums in another order than the f64 reference.
const TIE_TOLERANCE: f64 = 1e-4;

fn shape(head_dim: usize) -> AttentionShape {
    AttentionShape { seqlens: SEQLENS.to_vec(), heads: 8, kv_heads: 2, head_dim, causal: true }
}

/// The GPU's lists equal the reference's, except that blocks whose reference scores
/// are within [`TIE_TOLERANCE`] of the reference's last pick may trade places.
fn check_index(got: &BlockIndex, expected: &BlockIndex, scores: &BlockScores, shape: &AttentionShape) {
    assert_eq!(got.count.data, expected.count.data, "block_count");
    for (b, &len) in shape.seqlens.iter().enumerate() {
        for h in 0..shape.heads {
            for qb in 0..len.div_ceil(64) {
                let (g, e) = (got.blocks(b, h, qb), expected.blocks(b, h, qb));
                if g == e {
                    continue;
                }
                let score = |kb: f64| scores.score(b, h, qb, kb as usize);
                let picks = &e[..e.len() - 1];
                let last = picks.iter().map(|&kb| score(kb)).fold(f64::INFINITY, f64::min);
                let scale = (0..qb).map(|kb| scores.score(b, h, qb, kb).abs()).fold(f64::MIN_POSITIVE, f64::max);
                let swapped = g.iter().filter(|kb| !e.contains(kb)).chain(e.iter().filter(|kb| !g.contains(kb)));
                for &kb in swapped {
                    assert!(
                        (score(kb) - last).abs() <= TIE_TOLERANCE * scale,
                        "[{b}, {h}, {qb}]: got {g:?}, expected {e:?}; block {kb} scores {} vs the last pick's {last}",
                        score(kb)
                    );
                }
            }
        }
    }
}

fn check_on_gpu(head_dim: usize, top_k: u32, seed: u64) {
    let shape = shape(head_dim);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (case, inputs) = query_blocks::random_inputs(&shape, &mut rng).unwrap_or_else(|e| panic!("{e}"));
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let backend = Backend::Gpu { gpu: &gpu, cache: &cache };
    let params = BlockSparseParams { top_k };

    let index = block_sparse::estimate(&backend, &inputs, &params, block_sparse::CHUNK)
        .unwrap_or_else(|e| panic!("estimate: {e}"));
    let scores = BlockScores::new(&inputs).unwrap_or_else(|e| panic!("{e}"));
    check_index(&index, &scores.select(top_k as usize), &scores, &shape);

    let out = block_sparse::run_with_index(&backend, &inputs, &index).unwrap_or_else(|e| panic!("attention: {e}"));
    let rows = query_blocks::sample_rows(&SEQLENS, 256, &mut rng);
    let got = attention::gather(&shape, &out.o, &out.lse, &rows).unwrap_or_else(|e| panic!("{e}"));
    let expected = case.reference_masked(&rows, |at| index.keeps(at)).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = attention::check_outputs(&got, &expected) {
        panic!("D {head_dim} top_k {top_k}: {e}");
    }
    let all: Vec<usize> = (0..shape.tokens()).collect();
    let every = attention::gather(&shape, &out.o, &out.lse, &all).unwrap_or_else(|e| panic!("{e}"));
    assert!(every.o.iter().chain(&every.lse).all(|x| x.is_finite()), "a row was not written");
}

#[test]
fn block_sparse_head_dim_128_top_8_on_gpu() {
    check_on_gpu(128, 8, 1);
}

#[test]
fn block_sparse_head_dim_64_top_5_on_gpu() {
    check_on_gpu(64, 5, 2);
}

/// A bad index is refused on the host before the launch, so the GPU never sees it.
#[test]
fn an_out_of_range_index_is_rejected_before_the_gpu_launch() {
    let shape = shape(64);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (_, inputs) = query_blocks::random_inputs(&shape, &mut rng).unwrap_or_else(|e| panic!("{e}"));
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let index = BlockIndex::from_lists(&shape, 2, |_, _, qb| vec![qb as i32 + 1]);
    let err = block_sparse::run_with_index(&Backend::Gpu { gpu: &gpu, cache: &cache }, &inputs, &index).err();
    let expected =
        BlockIndexError::OutOfRange { tensor: "block_index", position: [0, 0, 0, 0], value: 1, query_block: 0 };
    assert!(matches!(&err, Some(BlockSparseError::Index(e)) if *e == expected), "{err:?}");
}
