//! The slash tiles of pairs of adjacent query blocks, for an attention kernel that runs
//! blocks `2p` and `2p + 1` in one program, two warp groups sharing one stream of
//! key/value tiles: per pair, the sorted union of the two blocks' tile lists
//! (`block_offset`, [`super::super::index`]), each entry marked with the block or blocks
//! that list it ([`Owner`]).
//!
//! Per sequence `b`, head `h` and pair `p` (`NP = ceil(NB / 2)` pairs):
//!
//! - `pair_count [B, H, NP]`: the size of the union;
//! - `pair_offset [B, H, NP, NNZ_P]`: its first `pair_count` entries are the union's tile
//!   starts, strictly ascending (`NNZ_P = 2 NNZ_S`, so every union fits);
//! - `pair_owner [B, H, NP, NNZ_P]`: [`Owner`]'s code of each of those entries.
//!
//! Entries past the count are left unwritten by the kernel (the consumer reads only below
//! the count); [`pair_union`] sets them to -1. A block at or past its sequence's end, or
//! past `NB` (the second block of the last pair when `NB` is odd), contributes no tiles
//! whatever its count holds.
//!
//! [`pair_union`] is the host reference; [`launch`] the kernel's launch
//! (`patterns/kernels/pair_union.tile`) over the plan's [`Buffer`]s, which
//! [`super::plan::run_launch`] runs on the interpreter ([`run_interp`]) and
//! `crate::gpu::vertical_slash::PlanOnGpu::with_buffers` on a GPU; the plan adds it after
//! the conversion with [`super::plan::Walk::Pairs`].

use super::overlap::HeadChunk;
use super::plan::{run_launch, Arg, Buffer, Launch};
use super::VerticalSlashError;
use crate::sparse::index::{causal_limit, query_blocks, BlockLists, SparseIndex, BLOCK};
use rand::Rng;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_runtime::Lane;

/// The kernel's source: it uses no helper of another file.
pub const PAIR_SOURCE: &str = include_str!("../../../kernels/pair_union.tile");
pub const PAIR_KERNEL: &str = "vs_pair_union";

/// Entries of each list the kernel's merge takes a step (its `C`): one a lane of its warp.
pub const PAIR_CHUNK: usize = 32;

/// What the plan's i32 outputs start as before a run: an entry a run leaves unwritten
/// shows, since no tile start, count or owner is negative.
pub const POISON: f64 = -1.0;

/// Which blocks of a pair list a tile: the first (`2p`), the second (`2p + 1`) or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    First = 1,
    Second = 2,
    Both = 3,
}

impl Owner {
    /// The code `pair_owner` holds.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The owner of a `pair_owner` entry; `None` for anything but 1, 2 or 3.
    pub fn from_code(code: f64) -> Option<Owner> {
        [Owner::First, Owner::Second, Owner::Both].into_iter().find(|o| f64::from(o.code()) == code)
    }
}

/// `ceil(blocks / 2)`: the pairs of `blocks` query blocks.
pub fn pairs(blocks: usize) -> usize {
    blocks.div_ceil(2)
}

/// The union of two strictly ascending lists, ascending, each entry with the list or lists
/// that hold it.
pub fn union_of(first: &[usize], second: &[usize]) -> Vec<(usize, Owner)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(first.len() + second.len());
    while i < first.len() || j < second.len() {
        match (first.get(i), second.get(j)) {
            (Some(&a), Some(&b)) if a == b => {
                out.push((a, Owner::Both));
                (i, j) = (i + 1, j + 1);
            }
            (Some(&a), Some(&b)) if a < b => {
                out.push((a, Owner::First));
                i += 1;
            }
            (Some(&a), None) => {
                out.push((a, Owner::First));
                i += 1;
            }
            (_, Some(&b)) => {
                out.push((b, Owner::Second));
                j += 1;
            }
            (None, None) => unreachable!("the loop runs while a list has entries"),
        }
    }
    out
}

/// The pair tensors (module docs), i32.
#[derive(Clone, Debug, PartialEq)]
pub struct PairUnion {
    pub count: HostTensor,
    pub offset: HostTensor,
    pub owner: HostTensor,
}

impl PairUnion {
    /// Pair `pair`'s union for sequence `seq`, head `head`; `None` where the count is
    /// negative (unwritten) or past the capacity, or an owner is not 1, 2 or 3.
    pub fn list(&self, seq: usize, head: usize, pair: usize) -> Option<Vec<(usize, Owner)>> {
        let [_, heads, np, capacity] = dims4(&self.offset);
        let at = (seq * heads + head) * np + pair;
        let n = *self.count.data.get(at)?;
        if !(0.0..=capacity as f64).contains(&n) {
            return None;
        }
        let range = at * capacity..at * capacity + n as usize;
        let offsets = self.offset.data.get(range.clone())?;
        let owners = self.owner.data.get(range)?;
        offsets.iter().zip(owners).map(|(&t, &o)| Some((usize_of(t)?, Owner::from_code(o)?))).collect()
    }
}

fn usize_of(x: f64) -> Option<usize> {
    (x >= 0.0 && x.fract() == 0.0).then_some(x as usize)
}

fn dims4(t: &HostTensor) -> [usize; 4] {
    let d = |n: usize| t.shape.get(n).copied().unwrap_or(0);
    [d(0), d(1), d(2), d(3)]
}

/// Block `block`'s tiles as the kernel reads them: none for a block past its sequence's end
/// or past the index's blocks, whatever its count holds.
fn block_tiles(index: &SparseIndex, seqlens: &[usize], seq: usize, head: usize, block: usize) -> Vec<usize> {
    let blocks = dims4(&index.block_offset)[2];
    if block >= blocks || causal_limit(seqlens[seq], block) == 0 {
        return vec![];
    }
    index.lists(seq, head, block).tiles
}

/// The host reference: every pair's union for the index's `[B, H, NB, NNZ_S]` lists over
/// sequences of lengths `seqlens` (one a row of the index), entries past each count -1.
pub fn pair_union(index: &SparseIndex, seqlens: &[usize]) -> PairUnion {
    let [batch, heads, blocks, nnz_s] = dims4(&index.block_offset);
    let (np, capacity) = (pairs(blocks), 2 * nnz_s);
    let mut out = PairUnion {
        count: HostTensor::zeros(DType::I32, &[batch, heads, np]),
        offset: HostTensor::filled(DType::I32, &[batch, heads, np, capacity], -1.0),
        owner: HostTensor::filled(DType::I32, &[batch, heads, np, capacity], -1.0),
    };
    for seq in 0..batch.min(seqlens.len()) {
        for head in 0..heads {
            for pair in 0..np {
                let tiles = |block| block_tiles(index, seqlens, seq, head, block);
                let union = union_of(&tiles(2 * pair), &tiles(2 * pair + 1));
                let at = (seq * heads + head) * np + pair;
                out.count.data[at] = union.len() as f64;
                for (k, (t, owner)) in union.into_iter().enumerate() {
                    out.offset.data[at * capacity + k] = t as f64;
                    out.owner.data[at * capacity + k] = f64::from(owner.code());
                }
            }
        }
    }
    out
}

/// `got` against `expected` pair by pair: the counts, and the entries below them; the
/// first difference, named by its position.
pub fn same_pairs(got: &PairUnion, expected: &PairUnion) -> Result<(), String> {
    if got.count.shape != expected.count.shape || got.offset.shape != expected.offset.shape {
        return Err(format!(
            "pair tensors of shapes {:?} and {:?}; expected {:?} and {:?}",
            got.count.shape, got.offset.shape, expected.count.shape, expected.offset.shape
        ));
    }
    let [batch, heads, np, _] = dims4(&expected.offset);
    for seq in 0..batch {
        for head in 0..heads {
            for pair in 0..np {
                let at = (seq * heads + head) * np + pair;
                let want =
                    expected.list(seq, head, pair).ok_or(format!("the expected pair [{seq}, {head}, {pair}]"))?;
                let Some(have) = got.list(seq, head, pair) else {
                    return Err(format!(
                        "pair [{seq}, {head}, {pair}]: count {} with entries that are no union of {} entries \
                         (unwritten, or an owner not 1, 2 or 3)",
                        got.count.data[at],
                        want.len()
                    ));
                };
                if let Some(k) = (0..have.len().max(want.len())).find(|&k| have.get(k) != want.get(k)) {
                    return Err(format!(
                        "pair [{seq}, {head}, {pair}]: entry {k} is {:?}; expected {:?} (count {}, expected {})",
                        have.get(k),
                        want.get(k),
                        have.len(),
                        want.len()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The kernel's launch with `chunk` entries a merge step (its `C`, [`PAIR_CHUNK`] as
/// shipped; a power of two up to 64), over [`buffers`].
pub fn launch(chunk: usize) -> Launch {
    use Buffer::*;
    let args = [CuSeqlens, BlockCount, BlockOffset, PairCount, PairOffset, PairOwner];
    Launch {
        source: PAIR_SOURCE,
        kernel: PAIR_KERNEL,
        consts: vec![("C".to_string(), ConstValue::Int(chunk as i64))],
        args: args.into_iter().map(Arg::Buffer).collect(),
        lane: Lane::Main,
        heads: HeadChunk::ALL,
    }
}

/// [`launch`]'s buffers for `index` over sequences of lengths `seqlens`: cu_seqlens, the
/// index's block lists, and the pair tensors poisoned ([`POISON`]). The index is not
/// validated: the kernel reads only the lists of blocks inside their sequences, which must
/// ascend strictly.
pub fn buffers(index: &SparseIndex, seqlens: &[usize]) -> Vec<(Buffer, HostTensor)> {
    let [batch, heads, blocks, nnz_s] = dims4(&index.block_offset);
    let np = pairs(blocks);
    let cu = std::iter::once(0).chain(seqlens.iter().scan(0, |end, &n| {
        *end += n;
        Some(*end)
    }));
    let cu: Vec<f64> = cu.map(|c| c as f64).collect();
    vec![
        (Buffer::CuSeqlens, HostTensor::from_f64(DType::I32, &[cu.len()], cu)),
        (Buffer::BlockCount, index.block_count.clone()),
        (Buffer::BlockOffset, index.block_offset.clone()),
        (Buffer::PairCount, HostTensor::filled(DType::I32, &[batch, heads, np], POISON)),
        (Buffer::PairOffset, HostTensor::filled(DType::I32, &[batch, heads, np, 2 * nnz_s], POISON)),
        (Buffer::PairOwner, HostTensor::filled(DType::I32, &[batch, heads, np, 2 * nnz_s], POISON)),
    ]
}

/// The kernel on the interpreter, `chunk` entries a step, from [`buffers`]: the pair
/// tensors as it leaves them (entries past each count still poisoned).
pub fn run_interp(index: &SparseIndex, seqlens: &[usize], chunk: usize) -> Result<PairUnion, VerticalSlashError> {
    let mut buffers = buffers(index, seqlens);
    run_launch(&launch(chunk), &mut buffers)?;
    let mut take = |which: Buffer| {
        let at = buffers.iter().position(|(b, _)| *b == which);
        at.map(|at| std::mem::replace(&mut buffers[at].1, HostTensor::zeros(DType::I32, &[0])))
            .ok_or(VerticalSlashError::MissingBuffer { kernel: PAIR_KERNEL, buffer: which })
    };
    Ok(PairUnion {
        count: take(Buffer::PairCount)?,
        offset: take(Buffer::PairOffset)?,
        owner: take(Buffer::PairOwner)?,
    })
}

/// A random valid index (tiles only, no columns) whose adjacent blocks share tiles, for
/// the pair tests: per pair, candidate starts walk up the second block's causal limit, and
/// each block takes some of them (each pair its own densities, a block in eight taking
/// none), the second block some shifted by under half a tile, so that the lists share
/// entries, interleave and hold entries of their own. A pair in four is dense: candidates
/// a tile apart, taken as they are. Capacity `NNZ_S = NB`.
pub fn random_index(seqlens: &[usize], heads: usize, rng: &mut impl Rng) -> SparseIndex {
    let blocks = query_blocks(seqlens);
    let mut lists = vec![BlockLists::default(); seqlens.len() * heads * blocks];
    for (seq, &len) in seqlens.iter().enumerate() {
        for head in 0..heads {
            for pair in 0..pairs(blocks) {
                let (a, b) = (2 * pair, 2 * pair + 1);
                let la = causal_limit(len, a);
                let lb = if b < blocks { causal_limit(len, b) } else { 0 };
                let mut density = || if rng.random_bool(0.125) { 0.0 } else { rng.random_range(0.2..=1.0) };
                let (pa, pb) = (density(), density());
                let dense = rng.random_bool(0.25);
                let (mut first, mut second) = (vec![], vec![]);
                let mut t = rng.random_range(0..BLOCK);
                while t < la.max(lb) {
                    if t < la && rng.random_bool(pa) {
                        first.push(t);
                    }
                    if t < lb && rng.random_bool(pb) {
                        // Candidates 96 or more apart, shifted by under 32: still a tile apart.
                        let shifted = t + rng.random_range(1..BLOCK / 2);
                        second.push(if !dense && shifted < lb && rng.random_bool(0.5) { shifted } else { t });
                    }
                    t += if dense { BLOCK } else { BLOCK * 3 / 2 + rng.random_range(0..BLOCK) };
                }
                let row = (seq * heads + head) * blocks;
                lists[row + a].tiles = first;
                if b < blocks {
                    lists[row + b].tiles = second;
                }
            }
        }
    }
    SparseIndex::from_lists(seqlens, heads, blocks, 1, |seq, head, block| {
        std::mem::take(&mut lists[(seq * heads + head) * blocks + block])
    })
    .expect("each list holds at most one tile a block below it")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_union_of_two_lists_marks_each_entry_with_its_lists() {
        use Owner::*;
        let union = union_of(&[0, 64, 200], &[64, 130, 300]);
        assert_eq!(union, [(0, First), (64, Both), (130, Second), (200, First), (300, Second)]);
    }

    #[test]
    fn the_union_with_an_empty_list_is_the_other_list() {
        assert_eq!(union_of(&[], &[5, 70]), [(5, Owner::Second), (70, Owner::Second)]);
        assert_eq!(union_of(&[5], &[]), [(5, Owner::First)]);
        assert_eq!(union_of(&[], &[]), []);
    }

    #[test]
    fn owners_round_trip_through_their_codes() {
        let codes: Vec<Option<Owner>> = [1.0, 2.0, 3.0, 0.0, -1.0].into_iter().map(Owner::from_code).collect();
        assert_eq!(codes, [Some(Owner::First), Some(Owner::Second), Some(Owner::Both), None, None]);
    }

    #[test]
    fn random_indices_are_valid() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let seqlens = [900, 300];
        let index = random_index(&seqlens, 3, &mut rng);
        assert_eq!(index.validate(&seqlens, 3), Ok(()));
    }

    /// A list a run left unwritten (count -1) is not read as an empty union.
    #[test]
    fn an_unwritten_count_is_no_list() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let index = random_index(&[200], 1, &mut rng);
        let mut union = pair_union(&index, &[200]);
        union.count.data[1] = POISON;
        assert_eq!(union.list(0, 0, 1), None);
        let err = same_pairs(&union, &pair_union(&index, &[200])).unwrap_err();
        assert!(err.starts_with("pair [0, 0, 1]: count -1"), "{err}");
    }
}
