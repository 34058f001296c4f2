//! attention.tile on the GPU against the f64 reference: packed sequences of 1000, 3000 and
//! 17 tokens, 8 query heads sharing 2 key/value heads, head dims 64 and 128, causal and
//! not, bf16 and f16. o and lse are poisoned on host and device, so an unwritten row fails.
//! Runs only with `--features gpu`, on the GPU machine.

use rand::seq::IndexedRandom;
use rand::SeedableRng;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::attention::{self, AttentionCase, AttentionShape};
use sparsefill_patterns::gpu::{launch, upload, DeviceArg};
use sparsefill_runtime::{CacheConfig, Gpu, KernelCache};

const SEQLENS: [usize; 3] = [1000, 3000, 17];
/// Rows of the long sequence checked besides its last block: the f64 reference costs
/// O(len) per row, too slow for all 3000.
const LONG_SAMPLE: usize = 256;

/// Every row of the short sequences; of the long one, its first and last 64 rows (the
/// first and the ragged last query block) and a random sample.
fn checked_rows(rng: &mut impl rand::Rng) -> Vec<usize> {
    let (long_start, long_end) = (SEQLENS[0], SEQLENS[0] + SEQLENS[1]);
    let middle: Vec<usize> = (long_start + 64..long_end - 64).collect();
    let mut rows: Vec<usize> = (0..long_start + 64).collect();
    rows.extend(middle.choose_multiple(rng, LONG_SAMPLE));
    rows.extend(long_end - 64..long_end + SEQLENS[2]);
    rows
}

fn check_on_gpu(head_dim: usize, causal: bool, seed: u64) {
    check_on_gpu_in(head_dim, causal, DType::BF16, seed);
}

fn check_on_gpu_in(head_dim: usize, causal: bool, dtype: DType, seed: u64) {
    check_with(Run { head_dim, causal, dtype, block: 64, seed }, |_| ());
}

/// One launch's specialization: `block` is BM = BN.
#[derive(Clone, Copy, Debug)]
struct Run {
    head_dim: usize,
    causal: bool,
    dtype: DType,
    block: usize,
    seed: u64,
}

/// Builds `run`'s random case, lets `shape_inputs` change its q, k and v, then checks the
/// launch against the f64 reference of the changed inputs.
fn check_with(run: Run, shape_inputs: impl FnOnce(&mut AttentionCase)) {
    let Run { head_dim, causal, dtype, block, seed } = run;
    let shape = AttentionShape { seqlens: SEQLENS.to_vec(), heads: 8, kv_heads: 2, head_dim, causal };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut case = attention::case_in(&shape, block, dtype, &mut rng).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
    shape_inputs(&mut case);
    attention::check_args(&case.args).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let compiled = cache.get(attention::SOURCE, None, &case.consts).unwrap_or_else(|e| panic!("compile: {e}"));
    let loaded = gpu.load(&compiled, &cache).unwrap_or_else(|e| panic!("load: {e}"));
    let device = upload(&gpu, &case.args).unwrap_or_else(|e| panic!("upload: {e}"));
    let download = |index: usize| -> HostTensor {
        let DeviceArg::Tensor(t) = &device[index] else { panic!("argument {index} is a tensor") };
        t.download().unwrap_or_else(|e| panic!("download: {e}"))
    };
    for index in [attention::O, attention::LSE] {
        let DeviceArg::Tensor(t) = &device[index] else { panic!("argument {index} is a tensor") };
        t.poison().unwrap_or_else(|e| panic!("poison: {e}"));
    }
    launch(&gpu, &loaded, &device).unwrap_or_else(|e| panic!("launch: {e}"));
    gpu.synchronize().unwrap_or_else(|e| panic!("synchronize: {e}"));
    let (o, lse) = (download(attention::O), download(attention::LSE));

    let rows = checked_rows(&mut rng);
    let got = attention::gather(&shape, &o, &lse, &rows).unwrap_or_else(|e| panic!("{e}"));
    let expected = case.reference(&rows).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = attention::check_outputs(&got, &expected) {
        panic!("{run:?}: {e}");
    }
    let all: Vec<usize> = (0..shape.tokens()).collect();
    let every = attention::gather(&shape, &o, &lse, &all).unwrap_or_else(|e| panic!("{e}"));
    assert!(every.o.iter().chain(&every.lse).all(|x| x.is_finite()), "{run:?}: a row was not written");
}

#[test]
fn causal_head_dim_128_on_gpu() {
    check_on_gpu(128, true, 1);
}

#[test]
fn non_causal_head_dim_128_on_gpu() {
    check_on_gpu(128, false, 2);
}

#[test]
fn causal_head_dim_64_on_gpu() {
    check_on_gpu(64, true, 3);
}

#[test]
fn non_causal_head_dim_64_on_gpu() {
    check_on_gpu(64, false, 4);
}

#[test]
fn f16_causal_head_dim_128_on_gpu() {
    check_on_gpu_in(128, true, DType::F16, 5);
}

#[test]
fn f16_non_causal_head_dim_128_on_gpu() {
    check_on_gpu_in(128, false, DType::F16, 6);
}

#[test]
fn f16_causal_head_dim_64_on_gpu() {
    check_on_gpu_in(64, true, DType::F16, 7);
}

#[test]
fn f16_non_causal_head_dim_64_on_gpu() {
    check_on_gpu_in(64, false, DType::F16, 8);
}

/// With q positive and the keys rising (`AttentionCase::ramp_scores`), a row's scores climb by about
/// 130 log2 units along each sequence: the running max grows at every step, so every step
/// rescales an accumulator that holds values.
#[test]
fn scores_rising_along_the_keys_on_gpu() {
    // 64, and 128 where a launch takes it (sm_90a): on sm_80 its stages do not fit.
    let arch = CacheConfig::from_env(Gpu::new(0).expect("a GPU is present on the GPU machine").arch()).arch;
    let mut blocks = vec![64, attention::block_n(arch, true)];
    blocks.dedup();
    for block in blocks {
        let run = Run { head_dim: 128, causal: true, dtype: DType::BF16, block, seed: 9 };
        check_with(run, |case| case.ramp_scores(4.0).unwrap_or_else(|e| panic!("{e}")));
    }
}
