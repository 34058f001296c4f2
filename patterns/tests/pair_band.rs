//! `vs_pair_band` (patterns/kernels/pair_band.tile) on the CPU: each pair's shared band of
//! 128-key chunks and the rest of its union, on the interpreter (after `vs_pair_union`)
//! against the host reference (`sparse::vertical_slash::band`), with the band tensors
//! poisoned (-1) so that an entry below a count left unwritten fails; and the kernel
//! assembled by ptxas for sm_90a without spills.

use rand::SeedableRng;
use sparsefill_compiler::codegen::ptxas;
use sparsefill_compiler::ir::ConstValue;
use sparsefill_compiler::target::Arch;
use sparsefill_patterns::sparse::index::{causal_limit, BlockLists, SparseIndex};
use sparsefill_patterns::sparse::local::query_blocks as query_block_kernels;
use sparsefill_patterns::sparse::vertical_slash::band::{self, BAND_CHUNK};
use sparsefill_patterns::sparse::vertical_slash::pairs;

type Rng64 = rand::rngs::StdRng;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Chunks the kernel is checked at: as shipped, and small enough that runs cross windows.
const CHUNKS: [usize; 2] = [BAND_CHUNK, 4];

/// The kernel on the interpreter at `chunk` against the reference; the chunks the
/// reference finds, so a test can show it checked some.
fn check_kernel(index: &SparseIndex, seqlens: &[usize], chunk: usize) -> usize {
    let got = ok(band::run_interp(index, seqlens, chunk));
    let expected = band::pair_band(&pairs::pair_union(index, seqlens));
    if let Err(e) = band::same_bands(&got, &expected) {
        panic!("C = {chunk}, lengths {seqlens:?}: {e}");
    }
    expected.band_count.data.iter().sum::<f64>() as usize
}

/// Random lists (shared, interleaved, own and dense runs) on ragged sequences.
#[test]
fn random_indices_on_ragged_sequences_match_the_reference() {
    let seqlens = [5000, 300];
    let mut chunks = 0;
    for seed in 0..3 {
        let index = pairs::random_index(&seqlens, 3, &mut Rng64::seed_from_u64(seed));
        for chunk in CHUNKS {
            chunks += check_kernel(&index, &seqlens, chunk);
        }
    }
    assert!(chunks > 0);
}

/// Every tile below each block's limit, from key `start`: runs of up to 63 shared tiles,
/// odd and even, the last ones of each block masked.
#[test]
fn dense_runs_match_the_reference() {
    let seqlens = [4096, 1000];
    for start in [0, 7] {
        let index = ok(SparseIndex::from_lists(&seqlens, 2, 64, 1, |seq, _, block| BlockLists {
            tiles: (start..causal_limit(seqlens[seq], block)).step_by(64).collect(),
            columns: vec![],
        }));
        for chunk in CHUNKS {
            assert!(check_kernel(&index, &seqlens, chunk) > 0);
        }
    }
}

#[test]
fn pair_band_assembles_without_spills_on_sm90a() {
    if !ptxas::available_for_tests(band::BAND_KERNEL) {
        return;
    }
    let consts = vec![("C".to_string(), ConstValue::Int(BAND_CHUNK as i64))];
    let report = ok(query_block_kernels::assemble(band::BAND_KERNEL, band::BAND_SOURCE, &consts, Arch::Sm90a, &[]));
    assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
}
