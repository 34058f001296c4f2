//! `vs_pair_union` on the GPU: each pair of adjacent query blocks' united tile list against
//! the host reference (`sparse::vertical_slash::pairs`), on random indices whose adjacent
//! blocks share, interleave and hold tiles of their own, 8 heads. The pair tensors start
//! poisoned (-1), so an entry below a count left unwritten fails. Runs only with
//! `--features gpu`, on the GPU machine.

use rand::SeedableRng;
use sparsefill_patterns::gpu::vertical_slash::PlanOnGpu;
use sparsefill_patterns::sparse::vertical_slash::pairs::{self, PairUnion, PAIR_CHUNK};
use sparsefill_patterns::sparse::vertical_slash::plan::Buffer;
use sparsefill_runtime::{median, CacheConfig, DeviceTensor, Gpu, KernelCache};
use std::collections::HashMap;

const HEADS: usize = 8;

/// The kernel on a random index over sequences of `seqlens`, against the reference; prints
/// its device time.
fn check_on_gpu(seqlens: &[usize], seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let index = pairs::random_index(seqlens, HEADS, &mut rng);
    let expected = pairs::pair_union(&index, seqlens);
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let buffers: HashMap<Buffer, DeviceTensor> = pairs::buffers(&index, seqlens)
        .into_iter()
        .map(|(b, t)| (b, DeviceTensor::upload(&gpu, &t).unwrap_or_else(|e| panic!("uploading {b:?}: {e}"))))
        .collect();
    let on = PlanOnGpu::with_buffers(&gpu, &cache, vec![pairs::launch(PAIR_CHUNK)], buffers)
        .unwrap_or_else(|e| panic!("{e}"));
    on.launch(0).unwrap_or_else(|e| panic!("{e}"));
    let download = |which| on.download(which).unwrap_or_else(|e| panic!("{e}"));
    let got = PairUnion {
        count: download(Buffer::PairCount),
        offset: download(Buffer::PairOffset),
        owner: download(Buffer::PairOwner),
    };
    pairs::same_pairs(&got, &expected).unwrap_or_else(|e| panic!("lengths {seqlens:?}: {e}"));
    let samples = on.time_ms(0..1, 1, 5).unwrap_or_else(|e| panic!("timing: {e}"));
    let entries: f64 = index.block_count.data.iter().sum();
    eprintln!(
        "vs_pair_union {seqlens:?} x {HEADS} heads ({entries} tiles listed): {:.4} ms",
        median(&samples).unwrap_or(f32::NAN)
    );
}

#[test]
fn pair_union_at_8k_matches_the_reference() {
    check_on_gpu(&[8192], 1);
}

#[test]
fn pair_union_at_32k_matches_the_reference() {
    check_on_gpu(&[32768], 2);
}

/// Ragged sequences: the shorter one's pairs past its end are empty, and 15 blocks leave
/// the last pair without a second block.
#[test]
fn pair_union_on_ragged_sequences_matches_the_reference() {
    check_on_gpu(&[900, 300], 3);
}
