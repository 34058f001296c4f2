//! The shared band of each pair of adjacent query blocks, for the band walk
//! ([`super::plan::Walk::Band`]): the 128-key chunks that both blocks of a pair list
//! whole and see unmasked, split off the pair's tile union ([`super::pairs`]), so that
//! the attention folds them 128 keys a step for both blocks at once, and the rest of the
//! union, which it walks as the pairs walk does.
//!
//! An entry of pair `p`'s union is *eligible* when both blocks list it ([`Owner::Both`])
//! and a chunk starting there lies below the pair's first row `m0 = 128 p` (start + 127
//! <= m0). Entries `k` and `k + 1` are *linked* when both are eligible and `k + 1` starts
//! 64 keys after `k`. Along each maximal run of links, the entries at an even distance
//! from the run's first entry start a chunk (theirs and the next entry's keys). Per
//! sequence `b`, head `h` and pair `p`:
//!
//! - `band_count [B, H, NP]`, `band_offset [B, H, NP, NNZ_S]`: the chunk starts, ascending
//!   (a union holds at most `2 NNZ_S` entries, so at most `NNZ_S` chunks);
//! - `rest_count [B, H, NP]`, `rest_offset`, `rest_owner [B, H, NP, 2 NNZ_S]`: the union's
//!   entries no chunk covers, in order, with their owners.
//!
//! Entries past the counts are left unwritten by the kernel; [`pair_band`], the host
//! reference, sets them to -1. [`launch`] is the kernel's launch
//! (`patterns/kernels/pair_band.tile`) over the plan's buffers.

use super::overlap::HeadChunk;
use super::pairs::{Owner, PairUnion, POISON};
use super::plan::{run_launch, Arg, Buffer, Launch};
use super::VerticalSlashError;
use crate::sparse::index::SparseIndex;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_runtime::Lane;

/// The kernel's source: it uses no helper of another file.
pub const BAND_SOURCE: &str = include_str!("../../../kernels/pair_band.tile");
pub const BAND_KERNEL: &str = "vs_pair_band";

/// Union entries the kernel takes a step (its `C`): one a lane of its warp.
pub const BAND_CHUNK: usize = 32;

/// Keys a chunk of the band holds: two 64-key tiles.
pub const CHUNK_KEYS: usize = 128;

/// A pair's band and rest: its chunk starts, and the union's entries no chunk covers.
pub type BandAndRest = (Vec<usize>, Vec<(usize, Owner)>);

/// Pair `pair`'s union split into the chunk starts of its band and the entries left.
pub fn split(union: &[(usize, Owner)], pair: usize) -> BandAndRest {
    let m0 = CHUNK_KEYS * pair;
    let eligible = |k: usize| union.get(k).is_some_and(|&(t, o)| o == Owner::Both && t + CHUNK_KEYS - 1 <= m0);
    let linked = |k: usize| eligible(k) && eligible(k + 1) && union[k + 1].0 == union[k].0 + 64;
    let (mut band, mut rest) = (vec![], vec![]);
    let mut k = 0;
    while k < union.len() {
        // Walking a run from its first entry, chunks start at even distances: greedily.
        if linked(k) {
            band.push(union[k].0);
            k += 2;
        } else {
            rest.push(union[k]);
            k += 1;
        }
    }
    (band, rest)
}

/// The band tensors (module docs), i32.
#[derive(Clone, Debug, PartialEq)]
pub struct PairBand {
    pub band_count: HostTensor,
    pub band_offset: HostTensor,
    pub rest_count: HostTensor,
    pub rest_offset: HostTensor,
    pub rest_owner: HostTensor,
}

impl PairBand {
    /// Pair `pair`'s band and rest for sequence `seq`, head `head`; `None` where a count is
    /// negative (unwritten) or past its capacity, or an entry is not a tile start or an
    /// owner.
    pub fn lists(&self, seq: usize, head: usize, pair: usize) -> Option<BandAndRest> {
        let band = entries(&self.band_count, &self.band_offset, seq, head, pair)?;
        let band = band.iter().map(|&t| usize_of(t)).collect::<Option<Vec<_>>>()?;
        let offsets = entries(&self.rest_count, &self.rest_offset, seq, head, pair)?;
        let owners = entries(&self.rest_count, &self.rest_owner, seq, head, pair)?;
        let rest = offsets.iter().zip(owners).map(|(&t, &o)| Some((usize_of(t)?, Owner::from_code(o)?)));
        Some((band, rest.collect::<Option<Vec<_>>>()?))
    }
}

/// The first `count[seq, head, pair]` entries of `list`'s row `[seq, head, pair]`.
fn entries<'a>(count: &HostTensor, list: &'a HostTensor, seq: usize, head: usize, pair: usize) -> Option<&'a [f64]> {
    let [_, heads, np, capacity] = dims4(list);
    let at = (seq * heads + head) * np + pair;
    let n = *count.data.get(at)?;
    if !(0.0..=capacity as f64).contains(&n) {
        return None;
    }
    list.data.get(at * capacity..at * capacity + n as usize)
}

fn usize_of(x: f64) -> Option<usize> {
    (x >= 0.0 && x.fract() == 0.0).then_some(x as usize)
}

fn dims4(t: &HostTensor) -> [usize; 4] {
    let d = |n: usize| t.shape.get(n).copied().unwrap_or(0);
    [d(0), d(1), d(2), d(3)]
}

/// The host reference: every pair's band and rest from the pair union `union` (as
/// [`super::pairs::pair_union`] gives it), entries past each count -1.
pub fn pair_band(union: &PairUnion) -> PairBand {
    let [batch, heads, np, capacity] = dims4(&union.offset);
    let band_capacity = capacity / 2;
    let mut out = PairBand {
        band_count: HostTensor::zeros(DType::I32, &[batch, heads, np]),
        band_offset: HostTensor::filled(DType::I32, &[batch, heads, np, band_capacity], -1.0),
        rest_count: HostTensor::zeros(DType::I32, &[batch, heads, np]),
        rest_offset: HostTensor::filled(DType::I32, &[batch, heads, np, capacity], -1.0),
        rest_owner: HostTensor::filled(DType::I32, &[batch, heads, np, capacity], -1.0),
    };
    for seq in 0..batch {
        for head in 0..heads {
            for pair in 0..np {
                let at = (seq * heads + head) * np + pair;
                let (band, rest) = split(&union.list(seq, head, pair).unwrap_or_default(), pair);
                out.band_count.data[at] = band.len() as f64;
                for (k, t) in band.into_iter().enumerate() {
                    out.band_offset.data[at * band_capacity + k] = t as f64;
                }
                out.rest_count.data[at] = rest.len() as f64;
                for (k, (t, owner)) in rest.into_iter().enumerate() {
                    out.rest_offset.data[at * capacity + k] = t as f64;
                    out.rest_owner.data[at * capacity + k] = f64::from(owner.code());
                }
            }
        }
    }
    out
}

/// `got` against `expected` pair by pair: the first difference, named by its position.
pub fn same_bands(got: &PairBand, expected: &PairBand) -> Result<(), String> {
    if got.band_offset.shape != expected.band_offset.shape || got.rest_offset.shape != expected.rest_offset.shape {
        return Err(format!(
            "band tensors of shapes {:?} and {:?}; expected {:?} and {:?}",
            got.band_offset.shape, got.rest_offset.shape, expected.band_offset.shape, expected.rest_offset.shape
        ));
    }
    let [batch, heads, np, _] = dims4(&expected.rest_offset);
    for seq in 0..batch {
        for head in 0..heads {
            for pair in 0..np {
                let want =
                    expected.lists(seq, head, pair).ok_or(format!("the expected pair [{seq}, {head}, {pair}]"))?;
                let have = got.lists(seq, head, pair).ok_or(format!(
                    "pair [{seq}, {head}, {pair}]: counts {} and {} with entries that are no band and rest \
                     (unwritten, or an owner not 1, 2 or 3)",
                    got.band_count.data[(seq * heads + head) * np + pair],
                    got.rest_count.data[(seq * heads + head) * np + pair]
                ))?;
                if have != want {
                    return Err(format!("pair [{seq}, {head}, {pair}]: band and rest {have:?}; expected {want:?}"));
                }
            }
        }
    }
    Ok(())
}

/// The kernel's launch, `chunk` union entries a step (its `C`, [`BAND_CHUNK`] as shipped).
pub fn launch(chunk: usize) -> Launch {
    use Buffer::*;
    let args = [CuSeqlens, PairCount, PairOffset, PairOwner, BandCount, BandOffset, RestCount, RestOffset, RestOwner];
    Launch {
        source: BAND_SOURCE,
        kernel: BAND_KERNEL,
        consts: vec![("C".to_string(), ConstValue::Int(chunk as i64))],
        args: args.into_iter().map(Arg::Buffer).collect(),
        lane: Lane::Main,
        heads: HeadChunk::ALL,
    }
}

/// The band tensors' buffers for pair tensors of `[B, H, NP, NNZ_P]`, poisoned ([`POISON`]).
pub fn scratch(batch: usize, heads: usize, np: usize, nnz_p: usize) -> Vec<(Buffer, DType, Vec<usize>)> {
    vec![
        (Buffer::BandCount, DType::I32, vec![batch, heads, np]),
        (Buffer::BandOffset, DType::I32, vec![batch, heads, np, nnz_p / 2]),
        (Buffer::RestCount, DType::I32, vec![batch, heads, np]),
        (Buffer::RestOffset, DType::I32, vec![batch, heads, np, nnz_p]),
        (Buffer::RestOwner, DType::I32, vec![batch, heads, np, nnz_p]),
    ]
}

/// The union's kernel then this one on the interpreter, from `index` over sequences of
/// lengths `seqlens`: the band tensors as the kernel leaves them (entries past each count
/// still poisoned).
pub fn run_interp(index: &SparseIndex, seqlens: &[usize], chunk: usize) -> Result<PairBand, VerticalSlashError> {
    let mut buffers = super::pairs::buffers(index, seqlens);
    let [batch, heads, np, nnz_p] = dims4(
        &buffers
            .iter()
            .find(|(b, _)| *b == Buffer::PairOffset)
            .map_or_else(|| HostTensor::zeros(DType::I32, &[0]), |(_, t)| HostTensor::zeros(DType::I32, &t.shape)),
    );
    for (buffer, dtype, dims) in scratch(batch, heads, np, nnz_p) {
        buffers.push((buffer, HostTensor::filled(dtype, &dims, POISON)));
    }
    run_launch(&super::pairs::launch(super::pairs::PAIR_CHUNK), &mut buffers)?;
    run_launch(&launch(chunk), &mut buffers)?;
    let mut take = |which: Buffer| {
        let at = buffers.iter().position(|(b, _)| *b == which);
        at.map(|at| std::mem::replace(&mut buffers[at].1, HostTensor::zeros(DType::I32, &[0])))
            .ok_or(VerticalSlashError::MissingBuffer { kernel: BAND_KERNEL, buffer: which })
    };
    Ok(PairBand {
        band_count: take(Buffer::BandCount)?,
        band_offset: take(Buffer::BandOffset)?,
        rest_count: take(Buffer::RestCount)?,
        rest_offset: take(Buffer::RestOffset)?,
        rest_owner: take(Buffer::RestOwner)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Owner::*;

    fn check(union: &[(usize, Owner)], pair: usize, band: &[usize], rest: &[(usize, Owner)]) {
        assert_eq!(split(union, pair), (band.to_vec(), rest.to_vec()));
    }

    #[test]
    fn a_run_of_shared_tiles_gives_a_chunk_a_pair_of_tiles() {
        check(&[(0, Both), (64, Both), (128, Both), (192, Both)], 4, &[0, 128], &[]);
    }

    #[test]
    fn an_odd_run_leaves_its_last_tile_in_the_rest() {
        check(&[(10, Both), (74, Both), (138, Both)], 4, &[10], &[(138, Both)]);
    }

    #[test]
    fn tiles_of_one_block_and_gaps_break_runs() {
        let union = [(0, Both), (64, First), (128, Both), (200, Both), (264, Both), (400, Second)];
        check(&union, 4, &[200], &[(0, Both), (64, First), (128, Both), (400, Second)]);
    }

    #[test]
    fn a_chunk_reaching_past_the_pairs_first_row_stays_in_the_rest() {
        // Pair 1's first row is 128: a chunk from key 2 ends at key 129, which it masks.
        check(&[(2, Both), (66, Both)], 1, &[], &[(2, Both), (66, Both)]);
        check(&[(1, Both), (65, Both)], 1, &[1], &[]);
    }
}
