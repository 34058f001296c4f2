//! The vertical-slash pattern on the CPU, on fresh random inputs with outputs and
//! intermediates poisoned (NaN, -1):
//! - the sparse attention kernel on the interpreter against dense attention under the mask
//!   its index implies, on ragged sequences with grouped-query heads;
//! - each estimation kernel on the interpreter against the host reference, on that step's
//!   own inputs (scores within a tolerance, selection and conversion exactly), and the
//!   whole estimate against the reference estimate;
//! - every kernel assembled by ptxas for sm_80 and sm_90a without spills (a kernel that asks
//!   for `occupancy(N)`: within N programs' registers and a few spilled bytes).

use rand::{Rng, SeedableRng};
use sparsefill_compiler::codegen::{CodegenOptions, MmaLowering};
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::attention::{self, AttentionCase, AttentionShape, RowOutputs};
use sparsefill_patterns::sparse::index::{causal_limit, query_blocks, BlockLists, IndexError, SparseIndex, BLOCK};
use sparsefill_patterns::sparse::key_step;
use sparsefill_patterns::sparse::local::query_blocks as query_block_kernels;
use sparsefill_patterns::sparse::vertical_slash::plan::{self, Buffer, Plan, TopkChunks};
use sparsefill_patterns::sparse::vertical_slash::reference::{self, Selection};
use sparsefill_patterns::sparse::vertical_slash::{
    attend_interp, check, run_interp, VerticalSlashError, VerticalSlashParams,
};
use sparsefill_patterns::sparse::{AttentionInputs, SparseOutput};

type Rng64 = rand::rngs::StdRng;

const HEADS: usize = 4;
/// Ragged lengths: a sequence over 100 (the forced diagonals) and 4 blocks, one of one
/// block and a bit, one shorter than last_q.
const SEQLENS: [usize; 3] = [300, 77, 20];

/// 4 query heads over 2 key/value heads.
fn shape(seqlens: &[usize], head_dim: usize) -> AttentionShape {
    AttentionShape { seqlens: seqlens.to_vec(), heads: HEADS, kv_heads: 2, head_dim, causal: true }
}

/// `heads` query heads over 2 key/value heads.
fn shape_with_heads(seqlens: &[usize], head_dim: usize, heads: usize) -> AttentionShape {
    AttentionShape { heads, ..shape(seqlens, head_dim) }
}

/// Head dim 64, unless a test names another ([`random_case_with`]).
fn random_case(seqlens: &[usize], seed: u64) -> (AttentionCase, AttentionInputs, Rng64) {
    random_case_with(seqlens, 64, seed)
}

fn random_case_with(seqlens: &[usize], head_dim: usize, seed: u64) -> (AttentionCase, AttentionInputs, Rng64) {
    let mut rng = Rng64::seed_from_u64(seed);
    let shape = shape(seqlens, head_dim);
    let case = attention::case(&shape, 64, &mut rng).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
    let inputs = check::inputs_of(&case).unwrap_or_else(|e| panic!("{e}"));
    (case, inputs, rng)
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

// ---- The attention kernel with a given index ----

/// A random valid index: per block, tiles at random ascending starts at least 64 apart,
/// then random columns outside them (at most 24); about one block in eight left empty.
fn random_index(seqlens: &[usize], rng: &mut Rng64) -> SparseIndex {
    random_index_with(seqlens, 24, rng)
}

/// [`random_index`] with at most `nnz_v` columns per block.
fn random_index_with(seqlens: &[usize], nnz_v: usize, rng: &mut Rng64) -> SparseIndex {
    let nnz_s = query_blocks(seqlens);
    ok(SparseIndex::from_lists(seqlens, HEADS, nnz_s, nnz_v, |b, _, i| {
        let limit = causal_limit(seqlens[b], i);
        let mut lists = BlockLists::default();
        if limit == 0 || rng.random_bool(0.125) {
            return lists;
        }
        let mut next = 0;
        while next < limit && lists.tiles.len() < nnz_s {
            let t = rng.random_range(next..limit);
            if rng.random_bool(0.5) {
                lists.tiles.push(t);
            }
            next = t + BLOCK;
        }
        let free = (0..limit).filter(|&c| !lists.tiles.iter().any(|&t| (t..t + BLOCK).contains(&c)));
        lists.columns = free.filter(|_| rng.random_bool(0.3)).take(nnz_v).collect();
        lists
    }))
}

/// The outputs against dense attention under the index's mask, every row. Rows whose mask
/// is empty (lse -inf in the reference, which `check_outputs` skips) must be o = 0 and
/// lse = -inf exactly.
fn check_outputs(case: &AttentionCase, o: &HostTensor, lse: &HostTensor, index: &SparseIndex) {
    let rows: Vec<usize> = (0..case.shape.tokens()).collect();
    let expected = ok(case.reference_masked(&rows, |at| index.keeps(at)));
    let got = ok(attention::gather(&case.shape, o, lse, &rows));
    ok(attention::check_outputs(&got, &expected));
    check_empty_rows(&got, &expected, case.shape.head_dim);
}

fn check_empty_rows(got: &RowOutputs, expected: &RowOutputs, d: usize) {
    for (at, &lse) in expected.lse.iter().enumerate() {
        if lse == f64::NEG_INFINITY {
            let o = &got.o[at * d..][..d];
            assert!(got.lse[at] == f64::NEG_INFINITY && o.iter().all(|&x| x == 0.0), "empty row/head {at}");
        }
    }
}

fn check_attention(seqlens: &[usize], index_of: impl FnOnce(&AttentionInputs, &mut Rng64) -> SparseIndex, seed: u64) {
    check_attention_with(seqlens, 64, index_of, seed);
}

fn check_attention_with(
    seqlens: &[usize],
    head_dim: usize,
    index_of: impl FnOnce(&AttentionInputs, &mut Rng64) -> SparseIndex,
    seed: u64,
) {
    check_attention_as(Arch::Sm80, MmaLowering::MmaSync, seqlens, head_dim, index_of, seed);
}

/// [`check_attention_with`] of the kernel as the GPU runners specialize it for `arch` and
/// `mma` on aligned tensors (64-key steps at head dim 128 on sm_90a with wgmma, 32 elsewhere).
fn check_attention_as(
    arch: Arch,
    mma: MmaLowering,
    seqlens: &[usize],
    head_dim: usize,
    index_of: impl FnOnce(&AttentionInputs, &mut Rng64) -> SparseIndex,
    seed: u64,
) {
    check_run(seqlens, head_dim, index_of, seed, |inputs, index| plan::attend_interp_as(inputs, index, arch, mma));
}

/// `run` of a sparse attention on `seed`'s random inputs with the index `index_of` gives,
/// against the masked reference.
fn check_run(
    seqlens: &[usize],
    head_dim: usize,
    index_of: impl FnOnce(&AttentionInputs, &mut Rng64) -> SparseIndex,
    seed: u64,
    run: impl FnOnce(&AttentionInputs, &SparseIndex) -> Result<SparseOutput, VerticalSlashError>,
) {
    let (case, inputs, mut rng) = random_case_with(seqlens, head_dim, seed);
    let index = index_of(&inputs, &mut rng);
    let out = ok(run(&inputs, &index));
    check_outputs(&case, &out.o, &out.lse, &index);
}

#[test]
fn random_index_on_ragged_sequences_matches_the_masked_reference() {
    check_attention(&[300, 77], |inputs, rng| random_index(&inputs.seqlens, rng), 1);
}

/// Head dim 128 folds each slash tile as two 32-key halves and gathers 32 columns a
/// step (the kernel's head comment): up to 48 columns a block, so some blocks take a
/// second, partial column step.
#[test]
fn random_index_at_head_dim_128_matches_the_masked_reference() {
    check_attention_with(
        &[300, 77],
        128,
        |inputs, rng| {
            let index = random_index_with(&inputs.seqlens, 48, rng);
            let most = index.column_count.data.iter().fold(0.0f64, |a, &b| a.max(b));
            assert!(most > 32.0, "no block has more than one column step ({most} columns at most)");
            index
        },
        12,
    );
}

/// sm_90a's specialization folds whole 64-key slash tiles, software-pipelined, and gathers
/// 64 columns a step: with up to 80 columns a block, some blocks take a second, partial
/// step. Blocks with no slash tile, one, and several run the pipeline's prologue and
/// epilogue alone, with no loop iteration, and with some.
#[test]
fn random_index_at_head_dim_128_in_64_key_steps_matches_the_masked_reference() {
    check_attention_as(
        Arch::Sm90a,
        MmaLowering::Wgmma,
        &[300, 77],
        128,
        |inputs, rng| {
            let mut index = random_index_with(&inputs.seqlens, 80, rng);
            let most = index.column_count.data.iter().fold(0.0f64, |a, &b| a.max(b));
            assert!(most > 64.0, "no block has more than one column step ({most} columns at most)");
            // Dropping a block's tiles keeps the index valid (its columns stay uncovered).
            index.block_count.data[1] = 0.0;
            let counts = &index.block_count.data;
            for (what, n) in [("no tile", 0.0), ("one tile", 1.0)] {
                assert!(counts.contains(&n), "no block has {what}: {counts:?}");
            }
            assert!(counts.iter().any(|&n| n >= 2.0), "no block has several tiles: {counts:?}");
            index
        },
        13,
    );
}

/// Per (sequence, block) of sequences 300 and 77: tiles whose masked / unmasked counts
/// cover every combination of the 64-key walks (in the comments).
fn masked_combinations(b: usize, i: usize) -> Vec<usize> {
    match (b, i) {
        (0, 0) => vec![0],                    // 1 / 0
        (0, 1) => vec![0, 64],                // 1 / 1
        (0, 2) => vec![0, 127, 191],          // 2 / 1
        (0, 3) => vec![0, 64],                // 0 / 2
        (0, 4) => vec![0, 64, 128, 220, 284], // 2 / 3
        (1, 1) => vec![13],                   // 1 / 0
        _ => vec![],
    }
}

/// An index with each block's tiles as `tiles` gives them (at most 8) and random columns
/// among the keys they leave (at most 64).
fn index_of_tiles(seqlens: &[usize], rng: &mut Rng64, tiles: impl Fn(usize, usize) -> Vec<usize>) -> SparseIndex {
    ok(SparseIndex::from_lists(seqlens, HEADS, 8, 64, |b, _, i| {
        let limit = causal_limit(seqlens[b], i);
        let tiles = tiles(b, i);
        let free = (0..limit).filter(|&c| !tiles.iter().any(|&t| (t..t + BLOCK).contains(&c)));
        let columns = free.filter(|_| rng.random_bool(0.3)).take(64).collect();
        BlockLists { tiles, columns }
    }))
}

/// sm_90a's 64-key slash steps fold the tiles whose keys reach past the block's first row
/// m0 (those starting past m0 - 63: none, one or two, always the last) masked and first, then
/// walk the others unmasked: every combination ([`masked_combinations`]).
#[test]
fn slash_tiles_masked_first_then_unmasked_match_the_masked_reference() {
    check_attention_as(
        Arch::Sm90a,
        MmaLowering::Wgmma,
        &[300, 77],
        128,
        |inputs, rng| index_of_tiles(&inputs.seqlens, rng, masked_combinations),
        17,
    );
}

/// With q positive and the keys falling (`AttentionCase::ramp_scores`: about 16 log2 units
/// over a sequence at head dim 128), block 4 of sequence 0 folds its masked local tiles
/// first and then meets key 0's tile some 13 log2 units higher: past the lagging max's
/// margin (8), so the walk rescales an accumulator that holds the local tiles. A walk that
/// kept its max there would overflow nothing but weigh those tiles 2^13 times too much.
#[test]
fn a_walk_rescaling_past_its_local_tiles_matches_the_masked_reference() {
    let tiles = |b: usize, i: usize| -> Vec<usize> {
        match (b, i) {
            (0, 4) => vec![0, 64, 128, 220, 284],
            (0, 3) => vec![0, 128],
            _ => vec![],
        }
    };
    let (mut case, _, mut rng) = random_case_with(&[300, 77], 128, 19);
    ok(case.ramp_scores(-0.5));
    let inputs = ok(check::inputs_of(&case));
    let index = index_of_tiles(&inputs.seqlens, &mut rng, tiles);
    let out = ok(plan::attend_interp_as(&inputs, &index, Arch::Sm90a, MmaLowering::Wgmma));
    check_outputs(&case, &out.o, &out.lse, &index);
}

#[test]
fn random_index_on_one_token_sequences_matches_the_masked_reference() {
    check_attention(&[1, 1, 3], |inputs, rng| random_index(&inputs.seqlens, rng), 2);
}

#[test]
fn reference_estimate_index_matches_the_masked_reference() {
    check_attention(&[200, 130], |inputs, _| ok(reference::estimate(inputs, &estimation_params())), 3);
}

/// An index that breaks a rule is an error from validation, before the kernel runs.
#[test]
fn attention_rejects_an_unsorted_index_before_running() {
    let (_, inputs, _) = random_case(&[130], 4);
    let mut index = ok(SparseIndex::from_lists(&[130], HEADS, 3, 4, |_, _, i| BlockLists {
        tiles: vec![i * BLOCK],
        columns: if i == 2 { vec![5, 3] } else { vec![] },
    }));
    let err = attend_interp(&inputs, &index).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "sparse index: `column_index`[0, 0, 2, 1] = 3 is not above the entry before it (5); entries must be \
             strictly ascending (sorted, no duplicates)"
        )
    );
    index.column_count.data.fill(0.0);
    assert!(attend_interp(&inputs, &index).is_ok());
}

#[test]
fn attention_rejects_an_index_for_other_sequences() {
    let (_, inputs, mut rng) = random_case(&[130], 5);
    let index = random_index(&[64, 66], &mut rng);
    let err = attend_interp(&inputs, &index).err();
    assert!(matches!(err, Some(VerticalSlashError::Index(IndexError::Shape { name: "block_count", .. }))), "{err:?}");
}

// ---- The attention of two blocks a program (plan::Walk::Pairs) ----

/// [`check_attention_with`] of the pair union and the pairs' kernel (its one
/// specialization: 64-key steps, sm_90a).
fn check_pairs(
    seqlens: &[usize],
    head_dim: usize,
    index_of: impl FnOnce(&AttentionInputs, &mut Rng64) -> SparseIndex,
    seed: u64,
) {
    check_run(seqlens, head_dim, index_of, seed, plan::attend_pairs_interp);
}

/// Ragged sequences with an odd number of blocks (77 tokens: the second block of the
/// last pair runs past nothing; 300: 5 blocks, the last pair's second block past the
/// end), random tiles and up to 80 columns a block (a second, partial column step).
#[test]
fn pairs_on_a_random_index_match_the_masked_reference() {
    check_pairs(&[300, 77], 128, |inputs, rng| random_index_with(&inputs.seqlens, 80, rng), 21);
}

/// Adjacent blocks that share tiles, interleave them and hold their own (the pair union
/// tests' index), so that each group skips some of the stream, right after a tile it
/// took and right after one it skipped; random columns outside each block's tiles.
#[test]
fn pairs_sharing_and_interleaving_tiles_match_the_masked_reference() {
    check_pairs(
        &[640, 200],
        128,
        |inputs, rng| {
            let seqlens = &inputs.seqlens;
            let tiles = sparsefill_patterns::sparse::vertical_slash::pairs::random_index(seqlens, HEADS, rng);
            let nnz_s = tiles.block_offset.shape[3];
            ok(SparseIndex::from_lists(seqlens, HEADS, nnz_s, 16, |b, h, i| {
                let tiles = tiles.lists(b, h, i).tiles;
                let limit = causal_limit(seqlens[b], i);
                let free = (0..limit).filter(|&c| !tiles.iter().any(|&t| (t..t + BLOCK).contains(&c)));
                let columns = free.filter(|_| rng.random_bool(0.1)).take(16).collect();
                BlockLists { tiles, columns }
            }))
        },
        22,
    );
}

/// The masked tiles of each block of a pair (none, one or two: its last ones), among
/// the other block's unmasked ones, as in the blocks' own walk's test.
#[test]
fn pairs_mask_each_blocks_last_tiles_only() {
    check_pairs(&[300, 77], 128, |inputs, rng| index_of_tiles(&inputs.seqlens, rng, masked_combinations), 23);
}

/// The estimator's own index, from the host reference.
#[test]
fn pairs_on_the_reference_estimate_match_the_masked_reference() {
    check_pairs(&[200, 130], 64, |inputs, _| ok(reference::estimate(inputs, &estimation_params())), 24);
}

#[test]
fn pairs_on_one_token_sequences_match_the_masked_reference() {
    check_pairs(&[1, 1, 3], 64, |inputs, rng| random_index(&inputs.seqlens, rng), 25);
}

/// A malformed index is an error from validation, before either kernel runs.
#[test]
fn pairs_reject_an_unsorted_index_before_running() {
    let (_, inputs, _) = random_case(&[130], 4);
    let index = ok(SparseIndex::from_lists(&[130], HEADS, 3, 4, |_, _, i| BlockLists {
        tiles: if i == 2 { vec![64, 0] } else { vec![] },
        columns: vec![],
    }));
    let err = plan::attend_pairs_interp(&inputs, &index).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "sparse index: `block_offset`[0, 0, 2, 1] = 0 is not above the entry before it (64); entries must be \
             strictly ascending (sorted, no duplicates)"
        )
    );
}

// ---- Estimation, step by step ----

fn estimation_params() -> VerticalSlashParams {
    VerticalSlashParams { vertical_size: 40, slash_size: 110, last_q: 64 }
}

fn new_plan(params: &VerticalSlashParams, seed: u64) -> (Plan, AttentionInputs, Rng64) {
    new_plan_for(&SEQLENS, params, seed)
}

fn new_plan_for(seqlens: &[usize], params: &VerticalSlashParams, seed: u64) -> (Plan, AttentionInputs, Rng64) {
    let (_, inputs, rng) = random_case(seqlens, seed);
    (ok(plan::plan(&inputs, params)), inputs, rng)
}

/// Runs the plan's estimation launches of the kernels named in `kernels`, in order.
fn run_estimate(plan: &mut Plan, kernels: &[&str]) {
    for launch in plan.estimate.clone().iter().filter(|l| kernels.contains(&l.kernel)) {
        ok(plan::run_launch(launch, &mut plan.buffers));
    }
}

fn buffer_mut(plan: &mut Plan, which: Buffer) -> &mut HostTensor {
    plan.buffer_mut(which).unwrap_or_else(|| panic!("the plan holds {which:?}"))
}

const SCORE_KERNELS: [&str; 4] = ["vs_row_stats", "vs_combine_stats", "vs_column_scores", "vs_diagonal_scores"];

/// Runs the row statistics with the plan's launches, `vs_row_stats`'s key chunk replaced
/// by `chunk` if given, and checks them against the single-pass f64 reference.
fn check_row_stats(chunk: Option<i32>, seed: u64) -> usize {
    let params = estimation_params();
    let (mut plan, inputs, _) = new_plan(&params, seed);
    for launch in plan.estimate.iter_mut().filter(|l| l.kernel == "vs_row_stats") {
        if let (Some(c), Some(last)) = (chunk, launch.args.last_mut()) {
            *last = plan::Arg::I32(c);
        }
    }
    run_estimate(&mut plan, &["vs_row_stats", "vs_combine_stats"]);
    ok(check::row_stats(&plan, &inputs, &params, 1e-5));
    plan.buffer(Buffer::ChunkMax).map_or(0, |t| t.shape[2])
}

/// The plan's chunk for these lengths is one tile: the 300-token sequence spreads over 5
/// chunks, the 77-token one over 2 (3 past its end), the 20-token one is shorter than one.
#[test]
fn row_stats_from_key_chunks_match_the_single_pass_reference() {
    assert_eq!(plan::key_chunk(300, HEADS, SEQLENS.len()), 64);
    assert_eq!(check_row_stats(None, 30), 5);
}

#[test]
fn row_stats_from_one_chunk_match_the_single_pass_reference() {
    check_row_stats(Some(320), 31);
}

#[test]
fn key_chunks_spread_long_sequences_over_about_1024_programs() {
    // 128K tokens x 32 heads: 2048 tiles a head in 32 chunks of 64 tiles.
    assert_eq!(plan::key_chunk(131072, 32, 1), 4096);
    assert_eq!(plan::key_chunk(32768, 8, 1), 256);
    assert_eq!(plan::key_chunk(1, 1, 1), 64);
}

fn check_scores(params: VerticalSlashParams, seed: u64) {
    check_scores_for(&SEQLENS, params, seed);
}

fn check_scores_for(seqlens: &[usize], params: VerticalSlashParams, seed: u64) {
    let (mut plan, inputs, _) = new_plan_for(seqlens, &params, seed);
    run_estimate(&mut plan, &SCORE_KERNELS);
    ok(check::scores(&plan, &inputs, &params, 1e-5));
}

/// Lengths of whole 64-key tiles, where a diagonal's partials meet at a tile edge, and
/// of one token.
#[test]
fn scores_on_whole_tiles_match_the_reference() {
    check_scores_for(&[128, 64, 1], estimation_params(), 40);
}

/// Lengths one past and one short of a tile.
#[test]
fn scores_one_off_a_tile_edge_match_the_reference() {
    check_scores_for(&[65, 63], estimation_params(), 41);
}

#[test]
fn scores_of_one_sequence_shorter_than_last_q_match_the_reference() {
    check_scores_for(&[40], VerticalSlashParams { last_q: 16, ..estimation_params() }, 42);
}

/// vs_column_scores' programs past each sequence's end write zero partials, so nothing
/// of the poison is left in the buffer.
#[test]
fn slash_partials_past_each_sequence_are_zero() {
    let params = estimation_params();
    let (mut plan, _, _) = new_plan(&params, 43);
    run_estimate(&mut plan, &SCORE_KERNELS);
    let width = plan::SLASH_PARTIALS;
    for (b, &len) in SEQLENS.iter().enumerate() {
        let row = plan.row(Buffer::SlashPartials, b, 0).unwrap_or_else(|| panic!("no partials [{b}, 0]"));
        let past = &row[len.div_ceil(plan::SCORE_KEYS) * width..];
        assert!(past.iter().all(|&x| x == 0.0), "sequence {b}: {past:?}");
    }
}

/// With two key tiles a `vs_column_scores` program (16 ship), the 300-token sequence
/// spreads over three programs, the last with one tile past its end, and the shorter ones
/// over one with tiles past their ends: the scores still match, and every partial past
/// a sequence's end is zero.
#[test]
fn scores_from_two_tiles_a_program_match_the_reference() {
    let params = estimation_params();
    let (mut plan, inputs, _) = new_plan(&params, 45);
    for launch in plan.estimate.iter_mut().filter(|l| l.kernel == "vs_column_scores") {
        launch.consts.push(("TILES".to_string(), ConstValue::Int(2)));
    }
    run_estimate(&mut plan, &SCORE_KERNELS);
    ok(check::scores(&plan, &inputs, &params, 1e-5));
    for (b, &len) in SEQLENS.iter().enumerate() {
        let row = plan.row(Buffer::SlashPartials, b, 0).unwrap_or_else(|| panic!("no partials [{b}, 0]"));
        let past = &row[len.div_ceil(plan::SCORE_KEYS) * plan::SLASH_PARTIALS..];
        assert!(past.iter().all(|&x| x == 0.0), "sequence {b}: {past:?}");
    }
}

/// The last bin of every program's partials is empty: no element of a tile lies on it.
#[test]
fn the_last_slash_partial_of_each_program_is_zero() {
    let params = estimation_params();
    let (mut plan, _, _) = new_plan(&params, 44);
    run_estimate(&mut plan, &SCORE_KERNELS);
    let t = plan.buffer(Buffer::SlashPartials).unwrap_or_else(|| panic!("no partials"));
    let last: Vec<f64> = t.data.iter().skip(plan::SLASH_PARTIALS - 1).step_by(plan::SLASH_PARTIALS).copied().collect();
    assert!(last.iter().all(|&x| x == 0.0), "{last:?}");
}

#[test]
fn scores_match_the_reference() {
    check_scores(estimation_params(), 10);
}

#[test]
fn scores_from_16_queries_match_the_reference() {
    check_scores(VerticalSlashParams { last_q: 16, ..estimation_params() }, 11);
}

/// 3.0 at the last position of every row, and before it ties at 2.0 among 1.0s.
fn larger_at_the_end(at: usize, rng: &mut Rng64) -> f64 {
    let longest = SEQLENS.iter().copied().max().unwrap_or(0);
    if at % longest == longest - 1 {
        3.0
    } else if rng.random_bool(0.1) {
        2.0
    } else {
        1.0
    }
}

/// A score drawn from a few values, so that ties are common, with infinities, NaN,
/// negatives and denormals among them, at even positions; continuous at odd ones.
fn tie_heavy_score(at: usize, rng: &mut Rng64) -> f64 {
    let few = [0.25, 0.5, 2.0, 1e-30, 1e-40, -3.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN];
    if at.is_multiple_of(2) {
        few[rng.random_range(0..few.len())]
    } else {
        rng.random_range(-1.0..4.0)
    }
}

/// Both score buffers filled with `draw(position, rng)`, then the selections on the
/// interpreter against the host top-k.
fn check_topk_with(params: VerticalSlashParams, seed: u64, draw: impl FnMut(usize, &mut Rng64) -> f64) {
    check_topk_in_passes_of(None, params, seed, draw);
}

/// [`check_topk_with`], with the threshold streaming the row (ROW 0) in `pass`-wide tiles
/// at every counting pass when given (the shipped 8192 covers a test row in one tile; 64
/// makes every pass loop over several), instead of holding it in registers as the plan
/// has it do for rows this short.
fn check_topk_in_passes_of(
    pass: Option<i64>,
    params: VerticalSlashParams,
    seed: u64,
    mut draw: impl FnMut(usize, &mut Rng64) -> f64,
) {
    let (mut plan, _, mut rng) = new_plan(&params, seed);
    if let Some(pass) = pass {
        for launch in plan.estimate.iter_mut().filter(|l| l.kernel == "topk_threshold") {
            launch.consts.retain(|(name, _)| name != "ROW");
            launch.consts.push(("ROW".to_string(), ConstValue::Int(0)));
            launch.consts.push(("PASS".to_string(), ConstValue::Int(pass)));
        }
    }
    for which in [Buffer::VerticalScores, Buffer::SlashScores] {
        let t = buffer_mut(&mut plan, which);
        let values: Vec<f64> = (0..t.data.len()).map(|at| draw(at, &mut rng)).collect();
        *t = HostTensor::from_f64(DType::F32, &t.shape, values);
    }
    run_estimate(&mut plan, &TOPK_KERNELS);
    ok(check::selections(&plan, &params, &SEQLENS, HEADS));
}

/// Every kernel of a selection, in one level or two.
const TOPK_KERNELS: [&str; 5] = ["topk_chunks", "topk_threshold", "topk_write", "topk_candidates", "topk_positions"];

/// Both score buffers filled with `draw(position, rng)`, then both selections on the
/// interpreter, in two levels of `chunk`-score chunks if given (else in one, as the test
/// rows are short); the plan, to compare with the host top-k or with the other level count.
fn topk_in_chunks_of(
    chunk: Option<usize>,
    params: &VerticalSlashParams,
    seed: u64,
    mut draw: impl FnMut(usize, &mut Rng64) -> f64,
) -> Plan {
    let (_, inputs, mut rng) = random_case(&SEQLENS, seed);
    let chunks = chunk.map_or(TopkChunks::Auto, TopkChunks::Fixed);
    let mut plan = ok(plan::plan_with(&inputs, params, chunks));
    let levels = plan.estimate.iter().filter(|l| l.kernel == "topk_candidates").count();
    assert_eq!(levels, if chunk.is_some() { 2 } else { 0 }, "selections in two levels");
    for which in [Buffer::VerticalScores, Buffer::SlashScores] {
        let t = buffer_mut(&mut plan, which);
        let values: Vec<f64> = (0..t.data.len()).map(|at| draw(at, &mut rng)).collect();
        *t = HostTensor::from_f64(DType::F32, &t.shape, values);
    }
    run_estimate(&mut plan, &TOPK_KERNELS);
    plan
}

/// Both selections in two levels of `chunk`-score chunks against the host top-k.
fn check_topk_in_chunks_of(
    chunk: usize,
    params: VerticalSlashParams,
    seed: u64,
    draw: impl FnMut(usize, &mut Rng64) -> f64,
) {
    let plan = topk_in_chunks_of(Some(chunk), &params, seed, draw);
    ok(check::selections(&plan, &params, &SEQLENS, HEADS));
}

/// Random finite f32 bit patterns: every exponent, subnormals, both signs.
fn any_finite_f32(rng: &mut Rng64) -> f64 {
    loop {
        let x = f32::from_bits(rng.random::<u32>());
        if x.is_finite() {
            break f64::from(x);
        }
    }
}

/// 300 scores a row in chunks of 64: four whole chunks and one of 44.
#[test]
fn topk_in_two_levels_matches_the_reference_on_ties_infinities_and_nan() {
    check_topk_in_chunks_of(
        64,
        VerticalSlashParams { vertical_size: 13, slash_size: 7, last_q: 64 },
        50,
        tie_heavy_score,
    );
}

/// 300 scores a row in three whole chunks of 100 (not a power of two).
#[test]
fn topk_in_two_levels_of_whole_chunks_matches_the_reference() {
    check_topk_in_chunks_of(
        100,
        VerticalSlashParams { vertical_size: 25, slash_size: 3, last_q: 64 },
        51,
        tie_heavy_score,
    );
}

#[test]
fn topk_in_two_levels_matches_the_reference_across_the_whole_f32_range() {
    let params = VerticalSlashParams { vertical_size: 37, slash_size: 11, last_q: 64 };
    check_topk_in_chunks_of(64, params, 52, |_, rng| any_finite_f32(rng));
}

/// Ties at the threshold in every chunk: the second level must take the lowest positions
/// of the row, not of each chunk.
#[test]
fn topk_in_two_levels_takes_the_lowest_positions_among_ties_at_the_threshold() {
    let params = VerticalSlashParams { vertical_size: 20, slash_size: 3, last_q: 64 };
    check_topk_in_chunks_of(64, params, 53, |_, rng| if rng.random_bool(0.1) { 2.0 } else { 1.0 });
}

/// A larger score at the end of every row, after ties in every chunk before it.
#[test]
fn topk_in_two_levels_takes_a_larger_score_at_the_end_before_earlier_ties() {
    let params = VerticalSlashParams { vertical_size: 5, slash_size: 3, last_q: 64 };
    check_topk_in_chunks_of(64, params, 54, larger_at_the_end);
}

/// Chunks with fewer candidates than KC (none at all in 64 .. 128, a few in 128 .. 192,
/// NaN and -inf elsewhere too), so that slots past a chunk's count are left out.
#[test]
fn topk_in_two_levels_with_chunks_short_of_candidates_matches_the_reference() {
    let params = VerticalSlashParams { vertical_size: 12, slash_size: 30, last_q: 64 };
    let longest = SEQLENS.iter().copied().max().unwrap_or(0);
    check_topk_in_chunks_of(64, params, 55, |at, rng| match at % longest {
        64..128 => [f64::NEG_INFINITY, f64::NAN][rng.random_range(0..2)],
        128..192 if rng.random_bool(0.95) => f64::NEG_INFINITY,
        _ => tie_heavy_score(at, rng),
    });
}

/// k above the candidates of a row (about 30 in 300), and above the chunk (KC = CH = 64,
/// which the chunk rule never makes): every candidate is taken.
#[test]
fn topk_in_two_levels_past_the_candidates_takes_them_all() {
    let params = VerticalSlashParams { vertical_size: 50, slash_size: 1000, last_q: 64 };
    check_topk_in_chunks_of(64, params, 56, |at, rng| {
        if rng.random_bool(0.1) {
            tie_heavy_score(at, rng)
        } else {
            f64::NEG_INFINITY
        }
    });
}

/// The lists and counts of two levels are those of one level, bit for bit, the slots past
/// the count too (-1 in both): every other row holds about 30 candidates, fewer than k.
#[test]
fn topk_in_two_levels_equals_one_level() {
    let params = VerticalSlashParams { vertical_size: 40, slash_size: 9, last_q: 64 };
    let longest = SEQLENS.iter().copied().max().unwrap_or(0);
    let draw = |at: usize, rng: &mut Rng64| {
        if (at / longest).is_multiple_of(2) || rng.random_bool(0.1) {
            tie_heavy_score(at, rng)
        } else {
            f64::NEG_INFINITY
        }
    };
    let one = topk_in_chunks_of(None, &params, 57, draw);
    let two = topk_in_chunks_of(Some(64), &params, 57, draw);
    for which in [Buffer::Verticals, Buffer::VerticalCount, Buffer::Slashes, Buffer::SlashCount] {
        let bits = |plan: &Plan| plan.buffer(which).map(|t| t.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        assert_eq!(bits(&two), bits(&one), "{which:?}");
    }
}

/// CH = max(16384, 4k rounded up to a power of two), in two levels from two chunks a row.
#[test]
fn the_chunk_rule_splits_rows_of_two_chunks_or_more() {
    assert_eq!(plan::topk_chunk(1000, 524288, 4), Some(16384));
    assert_eq!(plan::topk_chunk(6096, 524288, 4), Some(32768));
    assert_eq!(plan::topk_chunk(1000, 32768, 4), Some(16384));
    assert_eq!(plan::topk_chunk(1000, 32767, 4), None);
    assert_eq!(plan::topk_chunk(6096, 65535, 4), None);
    assert_eq!(plan::topk_chunk(10000, 1 << 20, 4), Some(65536));
}

#[test]
fn the_chunk_rule_keeps_sixteen_rows_or_more_in_one_level() {
    assert_eq!(plan::topk_chunk(1000, 524288, 15), Some(16384));
    assert_eq!(plan::topk_chunk(1000, 524288, 16), None);
    assert_eq!(plan::topk_chunk(6096, 131072, 32), None);
}

#[test]
fn the_row_rule_holds_rows_of_up_to_32k_scores_in_registers() {
    assert_eq!(plan::topk_row(1), 1);
    assert_eq!(plan::topk_row(300), 512);
    assert_eq!(plan::topk_row(16384), 16384);
    assert_eq!(plan::topk_row(32768), 32768);
    assert_eq!(plan::topk_row(32769), 0);
}

/// Every `topk_threshold` launch holds its rows in registers (ROW at least the row, a
/// power of two) where they fit: at 32K; at 512K with 4 heads, the chunks (16K and 32K)
/// and the verticals' 32K candidates, but not the slashes' 96K; not at 128K.
#[test]
fn the_threshold_holds_each_row_that_fits_in_registers() {
    let params = VerticalSlashParams { vertical_size: 1000, slash_size: 6096, last_q: 64 };
    let rows = |seqlens: &[usize], heads: usize| -> Vec<i64> {
        let launches = ok(plan::launches(&shape_with_heads(seqlens, 64, heads), &params)).estimate;
        let row = |l: &plan::Launch| match l.consts.iter().find(|(name, _)| name == "ROW") {
            Some((_, ConstValue::Int(row))) => *row,
            other => panic!("`{}` has ROW {other:?}", l.kernel),
        };
        launches.iter().filter(|l| l.kernel == "topk_threshold").map(row).collect()
    };
    assert_eq!(rows(&[32768], 32), [32768, 32768]);
    assert_eq!(rows(&[131072], 32), [0, 0]);
    assert_eq!(rows(&[524288], 4), [16384, 32768, 32768, 0]);
    assert_eq!(rows(&SEQLENS, 4), [512, 512]);
}

/// At 512K with 4 heads (1000, 6096) both selections run in two levels; with 32 heads at
/// 128K, and at 300 tokens, in one.
#[test]
fn long_rows_select_in_two_levels_and_short_ones_in_one() {
    let params = VerticalSlashParams { vertical_size: 1000, slash_size: 6096, last_q: 64 };
    let kernels = |seqlens: &[usize], heads: usize| -> Vec<&str> {
        let launches = ok(plan::launches(&shape_with_heads(seqlens, 64, heads), &params)).estimate;
        launches.iter().map(|l| l.kernel).filter(|k| k.starts_with("topk_")).collect()
    };
    let two = ["topk_chunks", "topk_threshold", "topk_write", "topk_candidates"].into_iter().chain([
        "topk_threshold",
        "topk_write",
        "topk_positions",
    ]);
    assert_eq!(kernels(&[524288], 4), two.clone().chain(two).collect::<Vec<_>>());
    assert_eq!(kernels(&[131072], 32), ["topk_threshold", "topk_write"].repeat(2));
    assert_eq!(kernels(&SEQLENS, 4), ["topk_threshold", "topk_write"].repeat(2));
}

fn check_topk(params: VerticalSlashParams, seed: u64) {
    check_topk_with(params, seed, tie_heavy_score);
}

#[test]
fn topk_matches_the_reference_on_ties_infinities_and_nan() {
    check_topk(VerticalSlashParams { vertical_size: 40, slash_size: 7, last_q: 64 }, 12);
}

/// Finite scores drawn from random bit patterns (every exponent, subnormals, both signs),
/// where a bisection on the value alone would need hundreds of steps.
#[test]
fn topk_matches_the_reference_across_the_whole_f32_range() {
    let params = VerticalSlashParams { vertical_size: 37, slash_size: 150, last_q: 64 };
    check_topk_with(params, 32, |_, rng| loop {
        let x = f32::from_bits(rng.random::<u32>());
        if x.is_finite() {
            break f64::from(x);
        }
    });
}

/// Many equal scores at the threshold: the lowest positions among them are taken.
#[test]
fn topk_takes_the_lowest_positions_among_ties_at_the_threshold() {
    let params = VerticalSlashParams { vertical_size: 50, slash_size: 3, last_q: 64 };
    check_topk_with(params, 33, |_, rng| if rng.random_bool(0.1) { 2.0 } else { 1.0 });
}

/// A larger score at the last position of every row, ties at the threshold before it: the
/// probe between 1 and 3 lands on the tied value 2 exactly, so a count that left equal
/// scores out would move the threshold below 2 and then keep ties by position over the 3.
#[test]
fn topk_takes_a_larger_score_at_the_end_before_earlier_ties() {
    let params = VerticalSlashParams { vertical_size: 5, slash_size: 3, last_q: 64 };
    check_topk_with(params, 34, larger_at_the_end);
}

#[test]
fn topk_counting_over_several_tiles_a_pass_matches_the_reference() {
    let params = VerticalSlashParams { vertical_size: 40, slash_size: 7, last_q: 64 };
    check_topk_in_passes_of(Some(64), params, 35, tie_heavy_score);
    check_topk_in_passes_of(
        Some(64),
        VerticalSlashParams { vertical_size: 37, slash_size: 150, last_q: 64 },
        36,
        |_, rng| loop {
            let x = f32::from_bits(rng.random::<u32>());
            if x.is_finite() {
                break f64::from(x);
            }
        },
    );
}

#[test]
fn topk_past_the_candidates_takes_them_all() {
    check_topk(VerticalSlashParams { vertical_size: 1000, slash_size: 299, last_q: 64 }, 13);
}

#[test]
fn topk_of_one_takes_the_best() {
    check_topk(VerticalSlashParams { vertical_size: 1, slash_size: 1, last_q: 64 }, 14);
}

/// A random ascending selection of at most `cap` positions below `len`.
fn random_positions(len: usize, cap: usize, density: f64, rng: &mut Rng64) -> Vec<usize> {
    (0..len).filter(|_| rng.random_bool(density)).take(cap).collect()
}

/// Writes one list per (sequence, head) into a selection buffer and its count.
fn set_selection(plan: &mut Plan, list: Buffer, count: Buffer, picks: &[Vec<usize>]) {
    let t = buffer_mut(plan, list);
    let cap = t.shape[2];
    for (at, p) in picks.iter().enumerate() {
        t.data[at * cap..][..p.len()].iter_mut().zip(p).for_each(|(x, &v)| *x = v as f64);
    }
    buffer_mut(plan, count).data = picks.iter().map(|p| p.len() as f64).collect();
}

/// Random choices (the main diagonal not always among them) converted on the interpreter
/// and on the host, the conversion's chunk C specialized to `chunk` if given.
fn check_conversion(density: f64, seed: u64) {
    check_conversion_with(VerticalSlashParams { vertical_size: 48, slash_size: 40, last_q: 64 }, density, None, seed);
}

fn check_conversion_with(params: VerticalSlashParams, density: f64, chunk: Option<i64>, seed: u64) {
    check_conversion_of(&SEQLENS, params, chunk, seed, |len, rng| Selection {
        verticals: random_positions(len, params.vertical_size, density, rng),
        slashes: random_positions(len, params.slash_size, density, rng),
    });
}

/// `pick(len, rng)`'s choices for every (sequence, head) converted on the interpreter and
/// on the host.
fn check_conversion_of(
    seqlens: &[usize],
    params: VerticalSlashParams,
    chunk: Option<i64>,
    seed: u64,
    mut pick: impl FnMut(usize, &mut Rng64) -> Selection,
) {
    let (mut plan, _, mut rng) = new_plan_for(seqlens, &params, seed);
    if let Some(c) = chunk {
        for launch in plan.estimate.iter_mut().filter(|l| plan::CONVERSION_KERNELS.contains(&l.kernel)) {
            launch.consts = vec![("C".to_string(), ConstValue::Int(c))];
        }
    }
    let chosen: Vec<Selection> =
        seqlens.iter().flat_map(|&len| (0..HEADS).map(|_| pick(len, &mut rng)).collect::<Vec<_>>()).collect();
    let verticals: Vec<Vec<usize>> = chosen.iter().map(|s| s.verticals.clone()).collect();
    let slashes: Vec<Vec<usize>> = chosen.iter().map(|s| s.slashes.clone()).collect();
    set_selection(&mut plan, Buffer::Verticals, Buffer::VerticalCount, &verticals);
    set_selection(&mut plan, Buffer::Slashes, Buffer::SlashCount, &slashes);
    run_estimate(&mut plan, &plan::CONVERSION_KERNELS);
    ok(check::conversion(&plan, &params, seqlens, HEADS));
}

#[test]
fn conversion_of_sparse_choices_matches_the_reference() {
    check_conversion(0.05, 15);
}

#[test]
fn conversion_of_dense_choices_matches_the_reference() {
    check_conversion(0.5, 16);
}

#[test]
fn conversion_without_choices_is_empty() {
    check_conversion(0.0, 17);
}

/// Every position chosen, and 200 columns: one range per block, and more columns than
/// one 64-entry chunk of the conversion holds.
#[test]
fn conversion_of_every_position_matches_the_reference() {
    check_conversion_with(VerticalSlashParams { vertical_size: 200, slash_size: 300, last_q: 64 }, 1.0, None, 34);
}

/// Diagonals about a tile apart: many ranges a block, so most are followed through
/// `vs_chain`'s closes rather than walked; in whole chunks and in chunks of 4.
#[test]
fn conversion_of_far_apart_choices_matches_the_reference() {
    let params = VerticalSlashParams { vertical_size: 60, slash_size: 120, last_q: 64 };
    for (chunk, seed) in [(None, 38), (Some(4), 39)] {
        check_conversion_of(&[1500, 700], params, chunk, seed, |len, rng| Selection {
            verticals: random_positions(len, params.vertical_size, 0.04, rng),
            slashes: random_positions(len, params.slash_size, 0.015, rng),
        });
    }
}

/// Tile starts exactly at a range's end (which extends it) and one key past it (which
/// closes it), after ranges of one entry and of several, seen from every block: each
/// block takes a different prefix of the list, clamped at key 0 differently. Below them,
/// the 66 nearest diagonals: the farthest of them, 131 short of the next, opens a range
/// that takes the 65 others, none of which can close it, with its last tile start 65 keys
/// past its first (a width that rounds up).
#[test]
fn conversion_at_range_ends_matches_the_reference() {
    // Gaps between consecutive diagonals, from 196 outwards.
    let gaps = [64, 65, 1, 63, 128, 129, 64, 64, 127, 192, 193, 66, 1, 65, 200, 2, 100, 300, 62, 65, 130];
    let mut slashes: Vec<usize> = (0..66).collect();
    let mut d = 196;
    slashes.push(d);
    for g in gaps {
        d += g;
        slashes.push(d);
    }
    let params = VerticalSlashParams { vertical_size: 80, slash_size: slashes.len(), last_q: 64 };
    for (chunk, seed) in [(None, 40), (Some(4), 41)] {
        check_conversion_of(&[2400, 1300], params, chunk, seed, |len, rng| Selection {
            verticals: random_positions(len, params.vertical_size, 0.05, rng),
            slashes: slashes.iter().copied().filter(|&d| d < len).collect(),
        });
    }
}

/// Every diagonal of a 4200-token sequence chosen, in 4-entry chunks: the last blocks'
/// first range takes over 1024 steps of the walk, so it goes on across the walk's spans,
/// not only across its groups.
#[test]
fn conversion_past_one_span_of_steps_matches_the_reference() {
    let len = 4200;
    let params = VerticalSlashParams { vertical_size: 8, slash_size: len, last_q: 64 };
    check_conversion_of(&[len], params, Some(4), 42, |len, rng| Selection {
        verticals: random_positions(len, params.vertical_size, 0.01, rng),
        slashes: (0..len).collect(),
    });
}

/// The nearest entry that can close a range lies 25 four-entry chunks below entries
/// 60 to 99, so `vs_chain_stops` finds it past its first span of 16 chunks: diagonal 0,
/// then 100 to 199 a key apart, then two far ones.
#[test]
fn conversion_with_a_stop_past_one_span_of_chunks_matches_the_reference() {
    let slashes: Vec<usize> = [0].into_iter().chain(100..200).chain([300, 400]).collect();
    let params = VerticalSlashParams { vertical_size: 40, slash_size: slashes.len(), last_q: 64 };
    check_conversion_of(&[1000], params, Some(4), 43, |len, rng| Selection {
        verticals: random_positions(len, params.vertical_size, 0.05, rng),
        slashes: slashes.clone(),
    });
}

/// With 4-entry chunks, lists span many chunks: ranges closed mid-chunk, several ranges
/// in one chunk, and tiles and columns staged across many stores.
#[test]
fn conversion_in_4_entry_chunks_matches_the_reference() {
    let params = VerticalSlashParams { vertical_size: 200, slash_size: 300, last_q: 64 };
    for (density, seed) in [(0.05, 35), (0.3, 36), (0.9, 37)] {
        check_conversion_with(params, density, Some(4), seed);
    }
}

/// Every estimation launch in order; each step, and the index against the reference estimate.
fn check_estimate(params: VerticalSlashParams, seed: u64) {
    let (mut plan, inputs, _) = new_plan(&params, seed);
    let all: Vec<&str> = plan.estimate.iter().map(|l| l.kernel).collect();
    run_estimate(&mut plan, &all);
    ok(check::scores(&plan, &inputs, &params, 1e-5));
    ok(check::selections(&plan, &params, &SEQLENS, HEADS));
    let index = ok(check::conversion(&plan, &params, &SEQLENS, HEADS));
    ok(check::same_lists(&index, &ok(reference::estimate(&inputs, &params)), &SEQLENS, HEADS));
}

#[test]
fn estimated_index_equals_the_reference_estimate() {
    check_estimate(estimation_params(), 18);
}

#[test]
fn estimate_from_16_queries_equals_the_reference() {
    check_estimate(VerticalSlashParams { vertical_size: 64, slash_size: 120, last_q: 16 }, 19);
}

// ---- The whole pattern ----

/// run_interp's index equals the reference estimate, and its outputs dense attention
/// under that index's mask.
fn check_run_interp(seqlens: &[usize], params: VerticalSlashParams, seed: u64) {
    let (case, inputs, _) = random_case(seqlens, seed);
    let out = ok(run_interp(&inputs, &params));
    let names: Vec<&str> = out.index.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["block_count", "block_offset", "column_count", "column_index"]);
    let tensor = |at: usize| out.index[at].1.clone();
    let index = SparseIndex {
        block_count: tensor(0),
        block_offset: tensor(1),
        column_count: tensor(2),
        column_index: tensor(3),
    };
    ok(check::same_lists(&index, &ok(reference::estimate(&inputs, &params)), seqlens, HEADS));
    check_outputs(&case, &out.o, &out.lse, &index);
}

#[test]
fn run_interp_matches_the_masked_reference_on_ragged_sequences() {
    check_run_interp(&[300, 77], estimation_params(), 20);
}

#[test]
fn run_interp_on_sequences_shorter_than_last_q_matches_the_reference() {
    check_run_interp(&[20, 50], VerticalSlashParams { vertical_size: 8, slash_size: 4, last_q: 64 }, 21);
}

#[test]
fn run_interp_rejects_bad_params() {
    let (_, inputs, _) = random_case(&[20], 22);
    let err = run_interp(&inputs, &VerticalSlashParams { vertical_size: 8, slash_size: 0, last_q: 64 }).err();
    assert!(matches!(err, Some(VerticalSlashError::SlashSize { got: 0, .. })), "{err:?}");
}

// ---- ptxas ----

/// Assembles `kernel` of `source` with `consts` for `arch` and requires no spills, or for
/// a kernel that asks for `occupancy(N)`, registers for N programs an SM and few spills.
fn check_assembles_without_spills(source: &str, kernel: &str, consts: &[(String, ConstValue)], arch: Arch) {
    query_block_kernels::assert_assembles_within_budget(kernel, source, &[consts.to_vec()], arch);
}

fn head_dim(d: usize) -> Vec<(String, ConstValue)> {
    vec![("D".to_string(), ConstValue::Int(d as i64))]
}

/// The attention kernel as the GPU runners launch it on `arch` (with its target consts),
/// on packed inputs (q, k, v and o aligned) and on strided views (nothing aligned).
fn check_attention_assembles(arch: Arch) {
    for d in [64, 128] {
        for aligned in [&[][..], &["q", "k", "v", "o"]] {
            let consts = attend_consts(d, arch, !aligned.is_empty());
            query_block_kernels::assert_variants_assemble_without_spills(
                plan::ATTEND_KERNEL,
                plan::ATTEND_SOURCE,
                &[consts],
                (arch, &CodegenOptions::default()),
                aligned,
            );
        }
    }
}

fn attend_consts(d: usize, arch: Arch, aligned: bool) -> Vec<(String, ConstValue)> {
    key_step::target_consts(plan::ATTEND_KERNEL, &head_dim(d), arch, MmaLowering::default(), aligned)
}

/// The variants the GPU runners launch on packed inputs on sm_90a fit two programs per SM.
#[test]
fn aligned_attention_fits_two_per_sm_on_sm90a() {
    let variants = [64, 128].map(|d| attend_consts(d, Arch::Sm90a, true));
    query_block_kernels::assert_aligned_sm90a_variants_fit(plan::ATTEND_KERNEL, plan::ATTEND_SOURCE, &variants);
}

#[test]
fn wgmma_takes_64_key_steps_on_aligned_tensors_and_32_otherwise() {
    let steps = [
        (Arch::Sm90a, MmaLowering::Wgmma, true),
        (Arch::Sm90a, MmaLowering::Wgmma, false),
        (Arch::Sm90a, MmaLowering::MmaSync, true),
        (Arch::Sm80, MmaLowering::Wgmma, true),
    ]
    .map(|(arch, mma, aligned)| plan::column_step(128, arch, mma, aligned));
    assert_eq!(steps, [64, 32, 32, 32]);
}

/// The pairs' kernel as the plan launches it on sm_90a (packed tensors): without spills or
/// a held-back wgmma pipeline; its two warp groups and the producer take 384 threads.
#[test]
fn pairs_attention_assembles_without_spills_on_sm90a() {
    for d in [64, 128] {
        query_block_kernels::assert_variants_assemble_without_spills(
            plan::PAIRS_KERNEL,
            plan::PAIRS_SOURCE,
            &[head_dim(d)],
            (Arch::Sm90a, &CodegenOptions::default()),
            &["q", "k", "v", "o"],
        );
    }
}

/// Off Hopper the pairs' walk has no producer to share one set of stages, so each group
/// takes its own: at head dim 128 they do not fit sm_80's shared memory, and compiling
/// says so, naming the buffers (the plan's `Walk::Pairs` is for sm_90a).
#[test]
fn pairs_attention_at_head_dim_128_is_refused_on_sm80_naming_its_buffers() {
    let ir = ok(sparsefill_compiler::lower_source(plan::PAIRS_SOURCE, Some(plan::PAIRS_KERNEL), &head_dim(128)));
    let err = sparsefill_compiler::codegen::emit(&ir, Arch::Sm80).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("`stages(3) prefetch of bf16[64, 128]` needs 229376 bytes of shared memory")
            && err.contains("staged dot operand: 2 x 16384 bytes"),
        "{err}"
    );
}

/// The launch plan refuses the pairs walk off sm_90a before compiling anything, naming
/// the walk, the target and the default walk that runs there; the blocks walk passes.
fn walk_on(walk: plan::Walk, arch: Arch) -> Result<(), String> {
    let (_, inputs, _) = random_case_with(&SEQLENS, 128, 71);
    let params = VerticalSlashParams { vertical_size: 8, slash_size: 8, last_q: 64 };
    let plan = ok(plan::plan_walking(&inputs, &params, TopkChunks::Auto, walk));
    let kernels = plan.estimate.iter().chain([&plan.attend]).map(|l| l.kernel);
    plan::check_walk_target(kernels, arch).map_err(|e| e.to_string())
}

#[test]
fn the_pairs_walk_is_refused_on_sm80_before_compiling() {
    let err = walk_on(plan::Walk::Pairs, Arch::Sm80).err().unwrap_or_default();
    assert!(err.contains("--vs-walk pairs") && err.contains("not sm_80") && err.contains("blocks walk"), "{err}");
}

#[test]
fn the_pairs_walk_passes_on_sm90a_and_the_blocks_walk_everywhere() {
    let runs = [(plan::Walk::Pairs, Arch::Sm90a), (plan::Walk::Blocks, Arch::Sm80), (plan::Walk::Blocks, Arch::Sm90a)];
    assert_eq!(runs.map(|(walk, arch)| walk_on(walk, arch)), [Ok(()), Ok(()), Ok(())]);
}

#[test]
fn attention_assembles_without_spills_on_sm80() {
    check_attention_assembles(Arch::Sm80);
}

#[test]
fn attention_assembles_without_spills_on_sm90a() {
    check_attention_assembles(Arch::Sm90a);
}

fn check_estimation_assembles(arch: Arch) {
    for kernel in ["vs_row_stats", "vs_column_scores"] {
        for d in [64, 128] {
            check_assembles_without_spills(plan::ESTIMATE_SOURCE, kernel, &head_dim(d), arch);
        }
    }
    check_assembles_without_spills(plan::ESTIMATE_SOURCE, "vs_combine_stats", &[], arch);
    check_assembles_without_spills(plan::ESTIMATE_SOURCE, "vs_diagonal_scores", &[], arch);
    for kernel in plan::CONVERSION_KERNELS {
        check_assembles_without_spills(plan::ESTIMATE_SOURCE, kernel, &[], arch);
    }
    for kernel in TOPK_KERNELS {
        check_assembles_without_spills(plan::TOPK_SOURCE, kernel, &[], arch);
    }
    // The selections' launches at 512K in two levels, with the blocks they take.
    let params = VerticalSlashParams { vertical_size: 1000, slash_size: 6096, last_q: 64 };
    let mut assembled: Vec<(&str, Vec<(String, ConstValue)>)> = Vec::new();
    for launch in ok(plan::launches(&shape(&[524288], 64), &params)).estimate {
        let variant = (launch.kernel, launch.consts);
        if launch.source == plan::TOPK_SOURCE && !assembled.contains(&variant) {
            check_assembles_without_spills(plan::TOPK_SOURCE, variant.0, &variant.1, arch);
            assembled.push(variant);
        }
    }
    assert_eq!(assembled.iter().filter(|v| v.0 == "topk_threshold").count(), 3, "blocks of 512, 1024 and 4096");
}

#[test]
fn estimation_kernels_assemble_within_their_registers_on_sm80() {
    check_estimation_assembles(Arch::Sm80);
}

#[test]
fn estimation_kernels_assemble_within_their_registers_on_sm90a() {
    check_estimation_assembles(Arch::Sm90a);
}
