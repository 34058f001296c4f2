//! `vs_pair_band` on the GPU, after `vs_pair_union`: each pair's shared band of 128-key
//! chunks and the rest of its union against the host reference
//! (`sparse::vertical_slash::band`), on random indices whose adjacent blocks share,
//! interleave and hold tiles of their own, and on dense runs, 8 heads. The band tensors
//! start poisoned (-1), so an entry below a count left unwritten fails. Runs only with
//! `--features gpu`, on the GPU machine.

use rand::SeedableRng;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::gpu::vertical_slash::PlanOnGpu;
use sparsefill_patterns::sparse::index::{causal_limit, query_blocks, BlockLists, SparseIndex};
use sparsefill_patterns::sparse::vertical_slash::band::{self, PairBand, BAND_CHUNK};
use sparsefill_patterns::sparse::vertical_slash::pairs::{self, PAIR_CHUNK, POISON};
use sparsefill_patterns::sparse::vertical_slash::plan::Buffer;
use sparsefill_runtime::{median, CacheConfig, DeviceTensor, Gpu, KernelCache};
use std::collections::HashMap;

const HEADS: usize = 8;

/// Both kernels on `index` over sequences of `seqlens`, against the reference; prints the
/// band kernel's device time.
fn check_on_gpu(index: &SparseIndex, seqlens: &[usize]) {
    let expected = band::pair_band(&pairs::pair_union(index, seqlens));
    assert!(expected.band_count.data.iter().sum::<f64>() > 0.0, "the index gives no band to check");
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let mut host = pairs::buffers(index, seqlens);
    let [batch, heads, np, nnz_p] =
        [0, 1, 2, 3].map(|d| host.iter().find(|(b, _)| *b == Buffer::PairOffset).map_or(0, |(_, t)| t.shape[d]));
    for (buffer, dtype, dims) in band::scratch(batch, heads, np, nnz_p) {
        host.push((buffer, HostTensor::filled(dtype, &dims, POISON)));
    }
    let buffers: HashMap<Buffer, DeviceTensor> = host
        .into_iter()
        .map(|(b, t)| (b, DeviceTensor::upload(&gpu, &t).unwrap_or_else(|e| panic!("uploading {b:?}: {e}"))))
        .collect();
    let launches = vec![pairs::launch(PAIR_CHUNK), band::launch(BAND_CHUNK)];
    let on = PlanOnGpu::with_buffers(&gpu, &cache, launches, buffers).unwrap_or_else(|e| panic!("{e}"));
    on.launch_all(0..2).unwrap_or_else(|e| panic!("{e}"));
    let download = |which| on.download(which).unwrap_or_else(|e| panic!("{e}"));
    let got = PairBand {
        band_count: download(Buffer::BandCount),
        band_offset: download(Buffer::BandOffset),
        rest_count: download(Buffer::RestCount),
        rest_offset: download(Buffer::RestOffset),
        rest_owner: download(Buffer::RestOwner),
    };
    band::same_bands(&got, &expected).unwrap_or_else(|e| panic!("lengths {seqlens:?}: {e}"));
    let samples = on.time_ms(1..2, 1, 5).unwrap_or_else(|e| panic!("timing: {e}"));
    eprintln!("vs_pair_band {seqlens:?} x {HEADS} heads: {:.4} ms", median(&samples).unwrap_or(f32::NAN));
}

#[test]
fn pair_band_at_8k_matches_the_reference() {
    let seqlens = [8192];
    check_on_gpu(&pairs::random_index(&seqlens, HEADS, &mut rand::rngs::StdRng::seed_from_u64(1)), &seqlens);
}

/// Ragged sequences with every tile listed from key 0 or 7: runs of shared tiles up to a
/// sequence's length, odd and even.
#[test]
fn pair_band_on_dense_runs_of_ragged_sequences_matches_the_reference() {
    let seqlens = [2000, 900];
    let index = SparseIndex::from_lists(&seqlens, HEADS, query_blocks(&seqlens), 1, |seq, head, block| BlockLists {
        tiles: (7 * (head % 2)..causal_limit(seqlens[seq], block)).step_by(64).collect(),
        columns: vec![],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    check_on_gpu(&index, &seqlens);
}
