//! The plan in chunks of heads, so that one chunk's estimation runs while the chunk
//! before it attends.
//!
//! The estimation is a chain of a dozen launches. Several of them take a program per row
//! (the selections: 32 programs on a 132-SM card at 32 heads), so the chain leaves most of
//! the GPU idle for most of its length, and the attention, which fills the GPU, waits for
//! all of it. Every launch of the plan works on each head apart from the others, so
//! the plan can run in chunks of heads, each buffer viewed along its head axis
//! ([`head_range`]):
//! - chunk 0's estimation runs as the plan's does, on both lanes;
//! - every later chunk's estimation goes on the side lane, listed after the attention of
//!   the chunk before it, so it runs while that attention does;
//! - each chunk's attention goes on the main lane, after its own chunk's index.
//!
//! `sparsefill_runtime::lanes` gives those waits from the buffers each launch takes, keyed
//! by buffer and chunk ([`Launch::keys`]): chunks share no memory but cu_seqlens, which
//! nothing writes. Every chunk's launches take the whole shape's sizes (key chunk, the
//! selections' levels), so each head's estimate, index and output are the ones the plan
//! in one piece gives, bit for bit: only the order changes. (On a GPU the diagonal sums
//! are f32 shared-memory atomics, whose order no run fixes, chunked or not: they agree
//! to rounding.)
//!
//! The side stream has the highest priority the GPU offers (`sparsefill_runtime::Gpu`):
//! a block of an estimation launch is placed as soon as a block of the attention ends,
//! rather than after every block the attention has queued.
//!
//! What the hidden estimation saves is at most its own few percent. Most of what one-head
//! chunks gain at 512K comes from their attention launches: one head's programs at a time
//! read far less from DRAM than the heads of a GQA group interleaved in one launch (ncu:
//! 18 GB against 112 GB at 512K), which leaves the card more power for its clock
//! ([`default_chunks`] has the numbers).

use super::plan::{Buffer, Launch};
use super::VerticalSlashError;
use crate::attention::AttentionShape;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_runtime::Lane;
use std::ops::Range;

/// The query heads a launch covers: chunk `at` of `of` equal chunks, in head order, with
/// `at < of` ([`HeadChunk::new`]). [`HeadChunk::ALL`] covers every head and views nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeadChunk {
    at: usize,
    of: usize,
}

impl HeadChunk {
    pub const ALL: HeadChunk = HeadChunk { at: 0, of: 1 };

    /// Chunk `at` of `of`; `None` unless `at < of`.
    pub fn new(at: usize, of: usize) -> Option<HeadChunk> {
        (at < of).then_some(HeadChunk { at, of })
    }

    /// Its place among the chunks, from 0.
    pub fn at(self) -> usize {
        self.at
    }

    /// How many chunks there are.
    pub fn of(self) -> usize {
        self.of
    }

    pub fn is_all(self) -> bool {
        self.of == 1
    }
}

/// Checks that `chunks` equal chunks of `heads` query heads over `kv_heads` key/value
/// heads each hold whole GQA groups or lie inside one group, so that every chunk keeps
/// the ratio of query heads to kv heads the kernels map heads by.
pub fn check_chunks(chunks: usize, heads: usize, kv_heads: usize) -> Result<(), VerticalSlashError> {
    let fits = chunks >= 1
        && kv_heads >= 1
        && heads.is_multiple_of(chunks)
        && (kv_heads.is_multiple_of(chunks) || chunks.is_multiple_of(kv_heads));
    match fits {
        true => Ok(()),
        false => Err(VerticalSlashError::HeadChunks { chunks, heads, kv_heads }),
    }
}

/// Sequences from which the runners take one head a chunk ([`default_chunks`]).
pub const ONE_HEAD_CHUNKS_FROM: usize = 524_288;

/// The chunks the runners split `shape`'s heads into: one a head where the longest sequence
/// holds at least [`ONE_HEAD_CHUNKS_FROM`] tokens, else none (the plan in one piece).
/// Measured on the H200, each timed in turns with the plan in one piece: at 512K, one head
/// a chunk took 0.889x and 0.892x its time with 4 heads (two calls) and 0.933x with 8, and
/// two heads a chunk 0.980x with 4; every split was slower below: 1.018x at 256K (8 heads,
/// one a chunk), 1.008-1.055x at 128K (32 heads in 4 or 32 chunks, 4 heads in 4) and
/// 1.004-1.65x at 32K; at 1M, one head a chunk took 1.005x, within what calls differ by
/// (sessions 27 and 28). Most of the 512K gain is memory traffic: with clocks locked (ncu),
/// the four one-head attention launches move 18 GB to and from DRAM against 112 GB for the
/// launch in one piece (L2 hit rate 93% against 69%), which lowers the power the card
/// throttles on; at 128K the launch in one piece already hits L2 96% of the time, so there
/// is nothing of the kind to gain (docs/perf/2026-11-30-h200-session28.md).
pub fn default_chunks(shape: &AttentionShape) -> usize {
    let longest = shape.seqlens.iter().copied().max().unwrap_or(0);
    match longest >= ONE_HEAD_CHUNKS_FROM {
        true => shape.heads.max(1),
        false => 1,
    }
}

/// The axis of `buffer` that runs over heads, if it has one: lse is `[H, T]`, q and o
/// `[T, H, D]`, k and v `[T, HKV, D]`, and every scratch buffer `[B, H .., ..]`, some with
/// several rows a head (a two-level selection's chunks, `[B, H · NCH, ..]`).
pub fn head_axis(buffer: Buffer) -> Option<usize> {
    match buffer {
        Buffer::CuSeqlens => None,
        Buffer::Lse => Some(0),
        _ => Some(1),
    }
}

/// The part of a head axis of `len` entries that `chunk` takes: an equal share, or, when
/// there are more chunks than entries (k and v with chunks inside a GQA group), the one
/// entry the chunk's heads share. [`check_chunks`] makes the shares whole.
pub fn share(len: usize, chunk: HeadChunk) -> Range<usize> {
    let start = chunk.at * len / chunk.of;
    start..start + (len / chunk.of).max(1)
}

/// Where `chunk` views a buffer of `dims`: its head axis and the range along it; `None`
/// when the chunk takes all of it (every head, or a buffer without heads).
pub fn head_range(buffer: Buffer, dims: &[usize], chunk: HeadChunk) -> Option<(usize, Range<usize>)> {
    if chunk.is_all() {
        return None;
    }
    let axis = head_axis(buffer)?;
    Some((axis, share(*dims.get(axis)?, chunk)))
}

/// The plan's `estimate` and `attend` launches in `chunks` chunks of heads (checked by
/// [`check_chunks`]), interleaved as the module documentation says: chunk 0's estimation
/// on its own lanes, its attention, then each later chunk's estimation on the side lane
/// and its attention.
pub fn overlapped(estimate: &[Launch], attend: &Launch, chunks: usize) -> Vec<Launch> {
    let mut out = Vec::with_capacity(chunks * (estimate.len() + 1));
    for at in 0..chunks {
        // at < chunks.
        let heads = HeadChunk { at, of: chunks };
        for launch in estimate {
            let lane = if at == 0 { launch.lane } else { Lane::Side };
            out.push(Launch { heads, lane, ..launch.clone() });
        }
        out.push(Launch { heads, lane: Lane::Main, ..attend.clone() });
    }
    out
}

/// The elements of `t` with index `range` along `axis`, as a tensor of their own.
pub fn take_range(t: &HostTensor, axis: usize, range: Range<usize>) -> HostTensor {
    let (outer, len, inner) = split_at_axis(&t.shape, axis);
    let mut shape = t.shape.clone();
    shape[axis] = range.len();
    let mut data = Vec::with_capacity(outer * range.len() * inner);
    for o in 0..outer {
        let row = (o * len + range.start) * inner;
        data.extend_from_slice(&t.data[row..row + range.len() * inner]);
    }
    HostTensor { dtype: t.dtype, shape, data }
}

/// Writes `part` (from [`take_range`] with the same `axis` and `range`) back into `t`.
pub fn put_range(t: &mut HostTensor, axis: usize, range: Range<usize>, part: &HostTensor) {
    let (outer, len, inner) = split_at_axis(&t.shape, axis);
    let width = range.len() * inner;
    for o in 0..outer {
        let row = (o * len + range.start) * inner;
        t.data[row..row + width].copy_from_slice(&part.data[o * width..(o + 1) * width]);
    }
}

/// The element counts before `axis`, along it, and after it.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_compiler::ir::DType;

    fn check_share(len: usize, at: usize, of: usize, expected: Range<usize>) {
        assert_eq!(HeadChunk::new(at, of).map(|c| share(len, c)), Some(expected));
    }

    #[test]
    fn four_chunks_of_32_heads_take_8_each() {
        check_share(32, 2, 4, 16..24);
    }

    #[test]
    fn four_chunks_of_8_kv_heads_take_2_each() {
        check_share(8, 3, 4, 6..8);
    }

    #[test]
    fn chunks_inside_a_group_share_its_kv_head() {
        check_share(1, 3, 4, 0..1);
    }

    #[test]
    fn two_chunks_a_kv_head_take_it_in_turn() {
        check_share(2, 2, 4, 1..2);
    }

    #[test]
    fn chunks_must_divide_the_heads() {
        assert!(matches!(check_chunks(3, 32, 8), Err(VerticalSlashError::HeadChunks { chunks: 3, .. })));
    }

    #[test]
    fn chunks_must_not_cut_across_groups() {
        // 6 heads on 3 kv heads in chunks of 3: the middle chunk would hold two groups' heads.
        assert!(check_chunks(2, 6, 3).is_err());
    }

    #[test]
    fn no_chunks_is_refused() {
        assert!(check_chunks(0, 4, 1).is_err());
    }

    #[test]
    fn chunks_of_whole_groups_and_inside_one_are_accepted() {
        assert!(check_chunks(4, 32, 8).is_ok() && check_chunks(4, 4, 1).is_ok() && check_chunks(16, 32, 8).is_ok());
    }

    fn shape(longest: usize, heads: usize) -> AttentionShape {
        AttentionShape { seqlens: vec![100, longest], heads, kv_heads: 1, head_dim: 128, causal: true }
    }

    #[test]
    fn sequences_of_512k_run_a_head_a_chunk() {
        assert_eq!(default_chunks(&shape(524_288, 4)), 4);
    }

    #[test]
    fn shorter_sequences_run_in_one_piece() {
        assert_eq!(default_chunks(&shape(524_287, 32)), 1);
    }

    #[test]
    fn a_head_a_chunk_always_fits_the_groups() {
        assert!(check_chunks(default_chunks(&shape(1 << 20, 8)), 8, 2).is_ok());
    }

    #[test]
    fn a_chunk_past_the_count_does_not_exist() {
        assert_eq!((HeadChunk::new(2, 2), HeadChunk::new(0, 0)), (None, None));
    }

    #[test]
    fn cu_seqlens_is_taken_whole() {
        assert_eq!(head_range(Buffer::CuSeqlens, &[3], HeadChunk { at: 1, of: 2 }), None);
    }

    #[test]
    fn lse_is_viewed_along_its_first_axis() {
        assert_eq!(head_range(Buffer::Lse, &[8, 100], HeadChunk { at: 1, of: 2 }), Some((0, 4..8)));
    }

    #[test]
    fn the_whole_plan_views_nothing() {
        assert_eq!(head_range(Buffer::Q, &[100, 8, 64], HeadChunk::ALL), None);
    }

    #[test]
    fn a_range_taken_and_put_back_round_trips_and_leaves_the_rest() {
        let t = HostTensor::from_f64(DType::I32, &[2, 4, 3], (0..24).map(f64::from).collect());
        let part = take_range(&t, 1, 1..3);
        assert_eq!(part.data, vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0]);
        let mut back = HostTensor::zeros(DType::I32, &[2, 4, 3]);
        put_range(&mut back, 1, 1..3, &part);
        let kept: Vec<f64> = back.data.iter().copied().filter(|&x| x != 0.0).collect();
        assert_eq!(kept, part.data);
    }
}
