//! `vs_pair_union` (patterns/kernels/pair_union.tile) on the CPU: the union of the tile
//! lists of each pair of adjacent query blocks, on the interpreter against the host
//! reference (`sparse::vertical_slash::pairs`), with the pair tensors poisoned (-1) so that
//! an entry below a count left unwritten fails; a hand-written index whose result is
//! spelled out, for the kernel and the reference; and the kernel assembled by ptxas for
//! sm_80 and sm_90a without spills, within its occupancy's registers.

use rand::{Rng, SeedableRng};
use sparsefill_compiler::codegen::{ptxas, REGISTERS_PER_SM};
use sparsefill_compiler::ir::ConstValue;
use sparsefill_compiler::lower_source;
use sparsefill_compiler::target::Arch;
use sparsefill_patterns::sparse::index::{causal_limit, query_blocks, BlockLists, SparseIndex};
use sparsefill_patterns::sparse::local::query_blocks as query_block_kernels;
use sparsefill_patterns::sparse::vertical_slash::pairs::{self, Owner, PairUnion, PAIR_CHUNK, POISON};
use sparsefill_patterns::sparse::vertical_slash::reference::{self, Selection};
use sparsefill_patterns::sparse::vertical_slash::VerticalSlashParams;

type Rng64 = rand::rngs::StdRng;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Chunks the kernel is checked at: as shipped, and small enough that a pair's lists take
/// many merge steps, with windows that end mid-list and steps that take more than a chunk.
const CHUNKS: [usize; 2] = [PAIR_CHUNK, 4];

/// The kernel on the interpreter at `chunk` against the reference.
fn check_kernel(index: &SparseIndex, seqlens: &[usize], chunk: usize) {
    let got = ok(pairs::run_interp(index, seqlens, chunk));
    let expected = pairs::pair_union(index, seqlens);
    if let Err(e) = pairs::same_pairs(&got, &expected) {
        panic!("C = {chunk}, lengths {seqlens:?}: {e}");
    }
}

/// Fills every block at or past its sequence's end with a full count of ascending
/// entries, which the kernel and the reference must both ignore (a valid index holds 0 there).
fn scribble_past_the_ends(index: &mut SparseIndex, seqlens: &[usize], rng: &mut Rng64) {
    let [_, heads, blocks, nnz_s] = [0, 1, 2, 3].map(|d| index.block_offset.shape[d]);
    for (seq, &len) in seqlens.iter().enumerate() {
        for head in 0..heads {
            for block in (0..blocks).filter(|&i| causal_limit(len, i) == 0) {
                let at = (seq * heads + head) * blocks + block;
                index.block_count.data[at] = nnz_s as f64;
                let mut t = 0;
                for k in 0..nnz_s {
                    t += rng.random_range(1..100);
                    index.block_offset.data[at * nnz_s + k] = t as f64;
                }
            }
        }
    }
}

/// 5000 tokens are 79 blocks (an odd count: the last pair has no second block) and 300 are
/// 5 (pair 2's second block lies past the end, pairs 3 and up wholly): ragged, with random
/// lists ([`pairs::random_index`]: empty ones, shared, interleaved and dense runs of up to
/// 79 tiles, several steps at C = 32).
#[test]
fn random_indices_on_ragged_sequences_match_the_reference() {
    let seqlens = [5000, 300];
    for seed in 0..3 {
        let mut rng = Rng64::seed_from_u64(seed);
        let index = pairs::random_index(&seqlens, 3, &mut rng);
        assert_eq!(query_blocks(&seqlens) % 2, 1);
        for chunk in CHUNKS {
            check_kernel(&index, &seqlens, chunk);
        }
    }
}

/// Counts and entries past each sequence's end are ignored, whatever they hold.
#[test]
fn blocks_past_the_end_contribute_nothing_whatever_they_hold() {
    let seqlens = [900, 300, 70];
    let mut rng = Rng64::seed_from_u64(10);
    let mut index = pairs::random_index(&seqlens, 2, &mut rng);
    scribble_past_the_ends(&mut index, &seqlens, &mut rng);
    let expected = pairs::pair_union(&index, &seqlens);
    // Sequence 1's pair 2 is its last block alone; sequence 2's pairs 1 and up are empty.
    let blocks_of = |seq: usize| index.lists(seq, 0, 4).tiles;
    assert_eq!(expected.list(1, 0, 2).map(|l| l.len()), Some(blocks_of(1).len()));
    assert!((1..8).all(|pair| expected.list(2, 0, pair) == Some(vec![])));
    for chunk in CHUNKS {
        check_kernel(&index, &seqlens, chunk);
    }
}

/// Lists as the vertical-slash conversion builds them from random choices: runs of whole
/// tiles, where a diagonal's tile in block 2p + 1 lies a tile past its tile in block 2p.
#[test]
fn converted_selections_match_the_reference() {
    let seqlens = [2000, 777];
    let heads = 2;
    let params = VerticalSlashParams { vertical_size: 8, slash_size: 400, last_q: 64 };
    let mut rng = Rng64::seed_from_u64(20);
    let selections: Vec<Selection> = seqlens
        .iter()
        .flat_map(|&len| vec![len; heads])
        .map(|len| {
            let density = rng.random_range(0.005..0.2);
            Selection {
                verticals: vec![0],
                slashes: (0..len).filter(|_| rng.random_bool(density)).take(params.slash_size).collect(),
            }
        })
        .collect();
    let index = ok(reference::index_of(&seqlens, heads, &params, |seq, head| selections[seq * heads + head].clone()));
    let expected = pairs::pair_union(&index, &seqlens);
    let all = (0..seqlens.len()).flat_map(|seq| (0..heads).flat_map(move |head| (0..16).map(move |p| (seq, head, p))));
    let lists: Vec<(usize, Owner)> = all.filter_map(|(seq, head, p)| expected.list(seq, head, p)).flatten().collect();
    let owners = |owner| lists.iter().filter(|e| e.1 == owner).count();
    let counts = [Owner::First, Owner::Second, Owner::Both].map(owners);
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
    for chunk in CHUNKS {
        check_kernel(&index, &seqlens, chunk);
    }
}

/// A 4096-token sequence whose blocks list every tile below their limit (the second block
/// of each pair holds the first one's tiles and one more, so nearly every entry is shared),
/// and one whose blocks list every other tile, alternately (the lists interleave, none
/// shared): up to 128 entries a pair, several steps even at C = 32.
#[test]
fn long_shared_and_interleaved_lists_match_the_reference() {
    let seqlens = [4096];
    let every = |step: usize, first_odd: bool| {
        ok(SparseIndex::from_lists(&seqlens, 1, 64, 1, |_, _, block| BlockLists {
            tiles: (0..causal_limit(4096, block))
                .step_by(64)
                .filter(|t| step == 1 || (t / 64 % 2 == 1) == (first_odd ^ (block % 2 == 1)))
                .collect(),
            columns: vec![],
        }))
    };
    for index in [every(1, false), every(2, false), every(2, true)] {
        for chunk in CHUNKS {
            check_kernel(&index, &seqlens, chunk);
        }
    }
    let shared = pairs::pair_union(&every(1, false), &seqlens);
    let last = ok(shared.list(0, 0, 31).ok_or("pair 31"));
    assert_eq!((last.len(), last[63], last[62].1), (64, (4032, Owner::Second), Owner::Both));
}

// ---- A hand-written index ----

/// Two sequences, 300 and 100 tokens (5 blocks: pair 2 is block 4 alone), one head, 4 tiles
/// a block. Sequence 1's blocks past its end hold a full count of entries, to be ignored.
fn hand_written() -> (SparseIndex, [usize; 2]) {
    let seqlens = [300, 100];
    let first: [&[usize]; 5] = [&[0], &[0, 64], &[10, 100], &[0, 100, 150], &[20, 90, 200]];
    let second: [&[usize]; 5] = [&[], &[30], &[], &[], &[]];
    let tiles = [first, second];
    let mut index = ok(SparseIndex::from_lists(&seqlens, 1, 4, 1, |seq, _, block| BlockLists {
        tiles: tiles[seq][block].to_vec(),
        columns: vec![],
    }));
    for block in 2..5 {
        let at = 5 + block;
        index.block_count.data[at] = 4.0;
        index.block_offset.data[at * 4..at * 4 + 4].copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
    }
    (index, seqlens)
}

/// Per (sequence, pair), the expected union of [`hand_written`].
fn hand_written_unions() -> [[Vec<(usize, Owner)>; 3]; 2] {
    use Owner::*;
    [
        [
            vec![(0, Both), (64, Second)],
            vec![(0, Second), (10, First), (100, Both), (150, Second)],
            vec![(20, First), (90, First), (200, First)],
        ],
        [vec![(30, Second)], vec![], vec![]],
    ]
}

fn check_hand_written(got: &PairUnion) {
    assert_eq!(got.count.shape, [2, 1, 3]);
    assert_eq!(got.offset.shape, [2, 1, 3, 8]);
    assert_eq!(got.count.data, [2.0, 4.0, 3.0, 1.0, 0.0, 0.0]);
    for (seq, unions) in hand_written_unions().into_iter().enumerate() {
        for (pair, union) in unions.into_iter().enumerate() {
            assert_eq!(got.list(seq, 0, pair), Some(union), "sequence {seq}, pair {pair}");
        }
    }
}

#[test]
fn the_reference_unites_the_hand_written_pairs() {
    let (index, seqlens) = hand_written();
    check_hand_written(&pairs::pair_union(&index, &seqlens));
}

#[test]
fn the_kernel_unites_the_hand_written_pairs() {
    let (index, seqlens) = hand_written();
    for chunk in [PAIR_CHUNK, 4, 2] {
        check_hand_written(&ok(pairs::run_interp(&index, &seqlens, chunk)));
    }
}

/// Entries past a pair's count are not written: they hold what the buffer held.
#[test]
fn the_kernel_leaves_entries_past_each_count_unwritten() {
    let (index, seqlens) = hand_written();
    let got = ok(pairs::run_interp(&index, &seqlens, PAIR_CHUNK));
    for (at, &count) in got.count.data.iter().enumerate() {
        let row = at * 8..at * 8 + 8;
        for t in [&got.offset, &got.owner] {
            assert!(t.data[row.clone()].iter().skip(count as usize).all(|&x| x == POISON), "pair {at}");
        }
    }
}

// ---- ptxas ----

/// Without spills, within the registers of the programs its `occupancy(N)` asks an SM to
/// hold, and with the `aligned` contract on its lists too (as the runtime launches it on
/// packed buffers whose rows are whole 16-byte units).
fn check_assembles(arch: Arch) {
    if !ptxas::available_for_tests(pairs::PAIR_KERNEL) {
        return;
    }
    let consts = vec![("C".to_string(), ConstValue::Int(PAIR_CHUNK as i64))];
    let ir = ok(lower_source(pairs::PAIR_SOURCE, Some(pairs::PAIR_KERNEL), &consts));
    let programs = ir.occupancy.expect("vs_pair_union asks for occupancy(N)");
    for aligned in [&[][..], &["block_offset", "pair_offset", "pair_owner"]] {
        let report = ok(query_block_kernels::assemble(pairs::PAIR_KERNEL, pairs::PAIR_SOURCE, &consts, arch, aligned));
        eprintln!("vs_pair_union aligned {aligned:?} on {arch}: {} registers", report.registers);
        assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
        assert!(report.registers * ir.threads_per_program() * programs <= REGISTERS_PER_SM, "{}", report.raw);
    }
}

#[test]
fn pair_union_assembles_without_spills_on_sm80() {
    check_assembles(Arch::Sm80);
}

#[test]
fn pair_union_assembles_without_spills_on_sm90a() {
    check_assembles(Arch::Sm90a);
}
