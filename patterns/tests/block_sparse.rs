//! Block-sparse attention on the interpreter: the `.tile` estimator
//! (kernels/estimate_block.tile) gives exactly the host reference's index, and the
//! kernel (kernels/sparse_block.tile) over an index equals dense attention restricted to
//! the index's mask, on fresh random inputs: two ragged sequences, 4 query heads sharing
//! 2 key/value heads, head dim 64 (one index also at 128), outputs poisoned with NaN.

use rand::SeedableRng;
use sparsefill_compiler::codegen::MmaLowering;
use sparsefill_compiler::target::Arch;
use sparsefill_patterns::attention::{self, AttentionShape};
use sparsefill_patterns::sparse::block_sparse::{
    self, BlockIndex, BlockIndexError, BlockSparseError, BlockSparseParams,
};
use sparsefill_patterns::sparse::local::query_blocks::{self, Backend};
use sparsefill_patterns::sparse::AttentionInputs;

fn shape(seqlens: &[usize], head_dim: usize) -> AttentionShape {
    AttentionShape { seqlens: seqlens.to_vec(), heads: 4, kv_heads: 2, head_dim, causal: true }
}

/// Head dim 64, unless a test names another ([`inputs_with`]).
fn inputs(seqlens: &[usize], seed: u64) -> (attention::AttentionCase, AttentionInputs) {
    inputs_with(seqlens, 64, seed)
}

fn inputs_with(seqlens: &[usize], head_dim: usize, seed: u64) -> (attention::AttentionCase, AttentionInputs) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    query_blocks::random_inputs(&shape(seqlens, head_dim), &mut rng).unwrap_or_else(|e| panic!("{e}"))
}

fn check_estimators_agree(seqlens: &[usize], top_k: u32, seed: u64) {
    check_estimators_agree_in_chunks(seqlens, top_k, block_sparse::CHUNK, seed);
}

/// The `.tile` estimator scoring `chunk` candidate blocks per step equals the host reference.
fn check_estimators_agree_in_chunks(seqlens: &[usize], top_k: u32, chunk: usize, seed: u64) {
    let (_, inputs) = inputs(seqlens, seed);
    let params = BlockSparseParams { top_k };
    let host = block_sparse::estimate_host(&inputs, &params).unwrap_or_else(|e| panic!("{e}"));
    let tile = block_sparse::estimate(&Backend::Interp, &inputs, &params, chunk).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tile.count.data, host.count.data, "block_count, {seqlens:?} top_k {top_k} chunk {chunk}");
    assert_eq!(tile.index.data, host.index.data, "block_index, {seqlens:?} top_k {top_k} chunk {chunk}");
}

/// Chunks of 2 candidate blocks: ranks summed over several chunks, and slots that
/// continue where the previous chunk stopped.
#[test]
fn tile_estimator_in_chunks_of_two_equals_host_reference() {
    check_estimators_agree_in_chunks(&[300, 270], 3, 2, 15);
}

#[test]
fn a_chunk_that_is_not_a_power_of_two_is_rejected() {
    let (_, inputs) = inputs(&[10], 16);
    let err = block_sparse::estimate(&Backend::Interp, &inputs, &BlockSparseParams { top_k: 3 }, 3).err();
    assert!(matches!(err, Some(BlockSparseError::Chunk { got: 3, max: 64 })), "{err:?}");
}

#[test]
fn tile_estimator_equals_host_reference_top_3() {
    check_estimators_agree(&[300, 200], 3, 1);
}

#[test]
fn tile_estimator_equals_host_reference_top_1_keeps_the_diagonal() {
    check_estimators_agree(&[290, 100], 1, 2);
}

#[test]
fn tile_estimator_equals_host_reference_past_the_block_count() {
    check_estimators_agree(&[260, 65], 8, 3);
}

/// The estimator checks more than agreement: the host reference's lists are the
/// diagonal plus the best earlier blocks, so at least the structure is pinned here.
#[test]
fn host_index_lists_end_at_the_diagonal_and_pass_validation() {
    let (case, inputs) = inputs(&[300, 200], 4);
    let index = block_sparse::estimate_host(&inputs, &BlockSparseParams { top_k: 3 }).unwrap();
    index.validate(&case.shape).unwrap_or_else(|e| panic!("{e}"));
    let counts: Vec<usize> = (0..5).map(|qb| index.blocks(0, 2, qb).len()).collect();
    assert_eq!(counts, vec![1, 2, 3, 3, 3]);
    assert!((0..5).all(|qb| index.blocks(0, 2, qb).last() == Some(&(qb as f64))));
}

/// Eighteen and five query blocks, top 6 in chunks of 2: the kept list of 8 fills, then
/// every chunk's candidates displace some of it.
#[test]
fn tile_estimator_merging_many_chunks_equals_host_reference() {
    check_estimators_agree_in_chunks(&[1100, 300], 6, 2, 17);
}

/// A NaN score ranks as -inf on both estimators, so every list still holds real blocks:
/// query block 4 of head 0 is NaN, its picks are the lowest blocks.
#[test]
fn a_nan_score_ranks_last_on_both_estimators() {
    let (case, mut inputs) = inputs(&[300], 18);
    let d = 64;
    inputs.q.data[(256 * 4) * d] = f64::NAN;
    let params = BlockSparseParams { top_k: 3 };
    let host = block_sparse::estimate_host(&inputs, &params).unwrap_or_else(|e| panic!("{e}"));
    let tile = block_sparse::estimate_interp(&inputs, &params).unwrap_or_else(|e| panic!("{e}"));
    tile.validate(&case.shape).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((host.blocks(0, 0, 4), tile.blocks(0, 0, 4)), (&[0.0, 1.0, 4.0][..], &[0.0, 1.0, 4.0][..]));
}

/// Query head 0's block 4 (rows 256..299) and key blocks 1 and 3 of its key/value head
/// are all one vector u, so blocks 1 and 3 tie for the best score |u|²; with one pick the
/// lower block wins, on both estimators, in one chunk and across chunks of two (block 1
/// kept, block 3 merged in).
#[test]
fn ties_go_to_the_lower_block_on_both_estimators() {
    for chunk in [block_sparse::CHUNK, 2] {
        check_ties(chunk);
    }
}

fn check_ties(chunk: usize) {
    let (_, mut inputs) = inputs(&[300], 5);
    let d = 64;
    let u: Vec<f64> = (0..d).map(|c| if c % 3 == 0 { 2.0 } else { -2.0 }).collect();
    for r in 256..300 {
        inputs.q.data[(r * 4) * d..][..d].copy_from_slice(&u);
    }
    for r in (64..128).chain(192..256) {
        inputs.k.data[(r * 2) * d..][..d].copy_from_slice(&u);
    }
    for (top_k, expected) in [(2, vec![1.0, 4.0]), (3, vec![1.0, 3.0, 4.0])] {
        let params = BlockSparseParams { top_k };
        let host = block_sparse::estimate_host(&inputs, &params).unwrap_or_else(|e| panic!("{e}"));
        let tile = block_sparse::estimate(&Backend::Interp, &inputs, &params, chunk).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (host.blocks(0, 0, 4), tile.blocks(0, 0, 4)),
            (&expected[..], &expected[..]),
            "top_k {top_k}, chunk {chunk}"
        );
    }
}

fn check_pattern(seqlens: &[usize], top_k: u32, seed: u64) {
    let (case, inputs) = inputs(seqlens, seed);
    let out = block_sparse::run_interp(&inputs, &BlockSparseParams { top_k }).unwrap_or_else(|e| panic!("{e}"));
    let index = BlockIndex { count: out.index[0].1.clone(), index: out.index[1].1.clone() };
    assert_eq!((out.index[0].0.as_str(), out.index[1].0.as_str()), ("block_count", "block_index"));
    if let Err(e) = query_blocks::check_rows(&case, &out, |at| index.keeps(at)) {
        panic!("{seqlens:?} top_k {top_k}: {e}");
    }
}

#[test]
fn estimated_pattern_matches_reference_top_2() {
    check_pattern(&[300, 130], 2, 6);
}

#[test]
fn estimated_pattern_matches_reference_top_3() {
    check_pattern(&[200, 250], 3, 7);
}

#[test]
fn one_token_sequences_match_reference() {
    check_pattern(&[1, 70, 1], 2, 8);
}

/// A caller's index with gaps, a list without its diagonal and an empty list.
fn check_given_index(head_dim: usize) {
    let (case, inputs) = inputs_with(&[300, 150], head_dim, 9);
    let index = BlockIndex::from_lists(&case.shape, 3, |b, h, qb| match (b, h, qb) {
        (0, 1, 4) => vec![0, 2],
        (0, _, 4) => vec![1, 3, 4],
        (1, 3, 2) => vec![0, 1],
        (b, _, qb) if qb * 64 < [300, 150][b] => vec![qb as i32],
        _ => Vec::new(),
    });
    let out = block_sparse::run_interp_with_index(&inputs, &index).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = query_blocks::check_rows(&case, &out, |at| index.keeps(at)) {
        panic!("head dim {head_dim}: {e}");
    }
}

#[test]
fn a_given_index_matches_reference() {
    check_given_index(64);
}

/// Head dim 128 folds each key block as two 32-key halves (the kernel's head comment).
#[test]
fn a_given_index_at_head_dim_128_matches_reference() {
    check_given_index(128);
}

/// sm_90a's whole-block steps (aligned tensors) fold the diagonal block first, masked, and
/// walk the others software-pipelined with no mask: lists with and without the diagonal,
/// with no other block, one and several, and an empty list.
#[test]
fn whole_block_steps_walk_the_unmasked_blocks_like_the_reference() {
    let (case, inputs) = inputs_with(&[300, 150], 128, 17);
    let index = BlockIndex::from_lists(&case.shape, 4, |b, h, qb| match (b, h, qb) {
        (0, 0, 4) => vec![0, 1, 3, 4],
        (0, 1, 4) => vec![0, 2],
        (0, 2, 3) => vec![2, 3],
        (0, 3, 2) => vec![],
        (1, _, 2) => vec![0, 1],
        (b, _, qb) if qb * 64 < [300, 150][b] => vec![qb as i32],
        _ => Vec::new(),
    });
    let out = block_sparse::run_interp_with_index_as(&inputs, &index, Arch::Sm90a, MmaLowering::Wgmma)
        .unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = query_blocks::check_rows(&case, &out, |at| index.keeps(at)) {
        panic!("{e}");
    }
}

/// Query block 1 of sequence 0, head 0, lists nothing: its rows get o = 0, lse = -inf.
#[test]
fn an_empty_list_gives_zero_output_and_minus_infinite_lse() {
    let (case, inputs) = inputs(&[130], 10);
    let index =
        BlockIndex::from_lists(&case.shape, 2, |_, h, qb| if (h, qb) == (0, 1) { vec![] } else { vec![qb as i32] });
    let out = block_sparse::run_interp_with_index(&inputs, &index).unwrap_or_else(|e| panic!("{e}"));
    let got = attention::gather(&case.shape, &out.o, &out.lse, &[64, 127]).unwrap();
    let head0_o = got.o[..64].iter().chain(&got.o[4 * 64..][..64]);
    assert!(head0_o.copied().all(|x| x == 0.0), "{:?}", &got.o[..64]);
    assert_eq!((got.lse[0], got.lse[4]), (f64::NEG_INFINITY, f64::NEG_INFINITY));
}

/// V rows of blocks 1 to 3 are NaN and query blocks 0 and 4 list only blocks 0 and 4:
/// 0 · NaN would poison their rows if the kernel read an unlisted block.
#[test]
fn unlisted_blocks_are_never_read() {
    let (case, mut inputs) = inputs(&[300], 11);
    let row = 2 * 64;
    inputs.v.data[64 * row..256 * row].fill(f64::NAN);
    let index = BlockIndex::from_lists(&case.shape, 2, |_, _, qb| if qb == 4 { vec![0, 4] } else { vec![qb as i32] });
    let out = block_sparse::run_interp_with_index(&inputs, &index).unwrap_or_else(|e| panic!("{e}"));
    let rows: Vec<usize> = (0..64).chain(256..300).collect();
    let expected = case.reference_masked(&rows, |at| index.keeps(at)).unwrap();
    let got = attention::gather(&case.shape, &out.o, &out.lse, &rows).unwrap();
    attention::check_outputs(&got, &expected).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_out_of_range_index_is_rejected_before_launch() {
    let (case, inputs) = inputs(&[130], 12);
    let index = BlockIndex::from_lists(&case.shape, 2, |_, h, qb| if (h, qb) == (3, 1) { vec![0, 2] } else { vec![0] });
    let err = block_sparse::run_interp_with_index(&inputs, &index).err();
    let expected =
        BlockIndexError::OutOfRange { tensor: "block_index", position: [0, 3, 1, 1], value: 2, query_block: 1 };
    assert!(matches!(&err, Some(BlockSparseError::Index(e)) if *e == expected), "{err:?}");
}

#[test]
fn an_unsorted_index_is_rejected_before_launch() {
    let (case, inputs) = inputs(&[200], 13);
    let index = BlockIndex::from_lists(&case.shape, 3, |_, h, qb| if (h, qb) == (1, 2) { vec![2, 1] } else { vec![0] });
    let err = block_sparse::run_interp_with_index(&inputs, &index).err();
    let expected = BlockIndexError::Unsorted { tensor: "block_index", position: [0, 1, 2, 1], value: 1, previous: 2 };
    assert!(matches!(&err, Some(BlockSparseError::Index(e)) if *e == expected), "{err:?}");
}

#[test]
fn a_count_past_capacity_is_rejected_before_launch() {
    let (case, inputs) = inputs(&[200], 14);
    let index =
        BlockIndex::from_lists(&case.shape, 2, |_, h, qb| if (h, qb) == (2, 2) { vec![0, 1, 2] } else { vec![0] });
    let err = block_sparse::run_interp_with_index(&inputs, &index).err();
    let expected =
        BlockIndexError::CountPastCapacity { tensor: "block_count", position: [0, 2, 2], value: 3, capacity: 2 };
    assert!(matches!(&err, Some(BlockSparseError::Index(e)) if *e == expected), "{err:?}");
}

#[test]
fn attention_kernel_assembles_without_spills_on_sm80() {
    let specializations = [query_blocks::consts(64), query_blocks::consts(128)];
    query_blocks::assert_assembles_without_spills(
        block_sparse::KERNEL,
        block_sparse::SOURCE,
        &specializations,
        Arch::Sm80,
    );
}

#[test]
fn attention_kernel_assembles_without_spills_on_sm90a() {
    let specializations = [query_blocks::consts(64), query_blocks::consts(128)];
    query_blocks::assert_assembles_without_spills(
        block_sparse::KERNEL,
        block_sparse::SOURCE,
        &specializations,
        Arch::Sm90a,
    );
}

/// The variants the GPU runners launch on packed inputs: whole-block steps at head dim 128,
/// two programs per SM, no spills.
#[test]
fn aligned_attention_kernel_fits_two_per_sm_without_spills_on_sm90a() {
    let target = |d| query_blocks::target_consts(block_sparse::KERNEL, d, Arch::Sm90a, MmaLowering::Wgmma, true);
    query_blocks::assert_aligned_sm90a_variants_fit(
        block_sparse::KERNEL,
        block_sparse::SOURCE,
        &[target(64), target(128)],
    );
}

fn check_estimator_assembles(arch: Arch) {
    let source = block_sparse::ESTIMATOR_SOURCE;
    let pool = [block_sparse::pool_consts(64), block_sparse::pool_consts(128)];
    query_blocks::assert_assembles_without_spills(block_sparse::POOL_KERNEL, source, &pool, arch);
    let max_top_k = block_sparse::MAX_TOP_K as usize;
    let select: Vec<_> = [(64, 16), (128, 16), (128, 100), (128, max_top_k)]
        .into_iter()
        .map(|(d, top_k)| block_sparse::select_consts(d, top_k, block_sparse::CHUNK))
        .collect();
    query_blocks::assert_assembles_without_spills(block_sparse::SELECT_KERNEL, source, &select, arch);
}

#[test]
fn estimator_assembles_without_spills_on_sm80() {
    check_estimator_assembles(Arch::Sm80);
}

#[test]
fn estimator_assembles_without_spills_on_sm90a() {
    check_estimator_assembles(Arch::Sm90a);
}
