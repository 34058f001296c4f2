//! Register layouts: which thread holds which element of a tile, in which register.
//!
//! A layout is linear over bits. Flatten the tile row-major into E = 2^e elements with
//! flat index `f`; each bit of `f` comes either from a bit of the register number or
//! from a bit of the thread id ([`FlatBit`]). Thread-id bits that no flat bit uses are
//! *free*: threads that differ only there hold the same elements (replicas). Every
//! register's index is then a compile-time constant plus a thread term, so register
//! arrays are never indexed dynamically (no local memory).
//!
//! Two families are built here:
//!
//! - **blocked** ([`Layout::blocked`]), the default, which depends only on the shape and
//!   the thread count — not on the dtype, so casts stay register-for-register:
//!
//!   ```text
//!       f = [ slot bits (s) | thread bits (t) | vec bits (v) ]
//!             high                                      low
//!   ```
//!
//!   a thread holds runs ("chunks") of VEC = 2^v elements contiguous in the tile,
//!   VEC = min(8, last dim, max(1, E / T)); chunk `c = f >> v` belongs to thread
//!   `c mod T`, so consecutive threads own consecutive chunks and a warp's accesses are
//!   coalesced; the chunk sits in the thread's register slot `c / T`. When E < T the
//!   tile is replicated: thread `tid` holds element `tid mod E`.
//! - **mma accumulator** ([`Layout::mma_accumulator`]): the C/D fragment of
//!   `mma.m16n8k16` repeated over the tile, so that `dot` leaves its result in the
//!   registers the tensor cores wrote (see [`super::dot`]).
//!
//! Dropping the flat bits of one axis ([`Layout::without_axis`]) gives the layout of a
//! row reduction or of a broadcast's source: what a row-wise softmax needs to combine a
//! `[BM]` statistic with a `[BM, BN]` accumulator without moving data.
//!
//! In every layout the register bits that give the lowest flat bits, in order, form the
//! chunk: VEC = 2^v registers `slot * VEC + j` hold contiguous elements.

use super::CodegenError;
use crate::ir::Type;

/// Longest run of contiguous elements one thread holds in a blocked layout: 16 bytes of bf16.
pub(super) const MAX_VEC: u64 = 8;

/// Most elements of one tile a thread may hold. The hardware caps a thread at 255
/// registers; a single tile past this would spill whatever else the kernel does.
pub(super) const MAX_ELEMENTS_PER_THREAD: u64 = 256;

/// Lanes in a warp, as thread-id bits.
pub(super) const WARP_LANE_BITS: u32 = 5;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Layout {
    /// Where each flat-index bit comes from, lowest first.
    bits: Vec<FlatBit>,
    /// log2 of the thread count.
    thread_id_bits: u32,
}

/// What one bit of the flat index is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum FlatBit {
    /// Bit `k` of the register number.
    Register(u32),
    /// Bit `k` of the thread id.
    Thread(u32),
}

impl Layout {
    /// The blocked layout of `ty` over `threads` threads (a power of two).
    pub fn blocked(ty: &Type, threads: u32) -> Result<Layout, CodegenError> {
        let elements = check_tile(ty, threads)?;
        let per_thread = (elements / u64::from(threads)).max(1);
        let last = ty.shape.last().map_or(1, |&d| u64::from(d));
        let vec = MAX_VEC.min(last).min(per_thread);
        let element_bits = elements.trailing_zeros();
        let vec_bits = vec.trailing_zeros();
        let thread_bits = threads.trailing_zeros().min(element_bits - vec_bits);
        let bits = (0..vec_bits)
            .map(FlatBit::Register)
            .chain((0..thread_bits).map(FlatBit::Thread))
            .chain((vec_bits..element_bits - thread_bits).map(FlatBit::Register))
            .collect();
        Ok(Layout { bits, thread_id_bits: threads.trailing_zeros() })
    }

    /// The accumulator layout of an `[m, n]` f32 `dot` result over `threads` threads:
    /// 16x8 `mma` tiles, the warps spread over the m-tiles first (so that a warp holds
    /// whole rows whenever m allows, and row reductions stay inside the warp), then over
    /// the n-tiles; warps left over replicate.
    ///
    /// Within a tile, lane `4g + t` holds rows `g`, `g + 8` and columns `2t`, `2t + 1`:
    /// column bit 0 is register bit 0, column bits 1-2 are lane bits 0-1, row bits 0-2
    /// are lane bits 2-4, row bit 3 is register bit 1. Then come this warp's n-tiles
    /// (register bits), the warp's n position (thread bits), the warp's m position
    /// (thread bits, low m-tile bits) and this warp's m-tiles (register bits).
    pub fn mma_accumulator(m: u32, n: u32, threads: u32) -> Result<Layout, CodegenError> {
        let ty = Type::tile(crate::ir::DType::F32, vec![m, n]);
        check_tile(&ty, threads)?;
        if !m.is_multiple_of(16) || !n.is_multiple_of(8) || threads < 32 {
            return Err(CodegenError::InvalidIr(format!("an mma accumulator of {ty} over {threads} threads")));
        }
        let WarpGrid { warps_m, warps_n, tiles_m, tiles_n } = WarpGrid::of(m, n, threads);
        let (m_regs, n_regs) = (tiles_m.trailing_zeros(), tiles_n.trailing_zeros());
        let mut bits = vec![FlatBit::Register(0), FlatBit::Thread(0), FlatBit::Thread(1)];
        bits.extend((0..n_regs).map(|k| FlatBit::Register(2 + k)));
        bits.extend((0..warps_n).map(|k| FlatBit::Thread(WARP_LANE_BITS + warps_m + k)));
        bits.extend([FlatBit::Thread(2), FlatBit::Thread(3), FlatBit::Thread(4), FlatBit::Register(1)]);
        bits.extend((0..warps_m).map(|k| FlatBit::Thread(WARP_LANE_BITS + k)));
        bits.extend((0..m_regs).map(|k| FlatBit::Register(2 + n_regs + k)));
        Ok(Layout { bits, thread_id_bits: threads.trailing_zeros() })
    }

    /// The layout that copies a rank-2 tile of 16-bit elements into shared memory cut
    /// in 8x8 core matrices ([`super::operand_tile`]): a thread's chunk is 8 elements of
    /// one row (16 bytes), lanes 0-7 take the 8 rows of one core matrix, the next thread
    /// bits the core matrices along the row, then the row groups; registers take what
    /// threads cannot. So each 8-lane phase of a 16-byte store writes one whole core
    /// matrix, 128 contiguous bytes, with no bank conflict, and a warp still reads 64
    /// contiguous bytes of each of 8 rows from global memory.
    pub fn core_matrix_copy(ty: &Type, threads: u32) -> Result<Layout, CodegenError> {
        let elements = check_tile(ty, threads)?;
        let &[rows, cols] = ty.shape.as_slice() else {
            return Err(CodegenError::InvalidIr(format!("core matrices of {ty}, which is not rank 2")));
        };
        if rows < 8 || cols < 8 || ty.dtype.size_bytes() != 2 {
            return Err(CodegenError::InvalidIr(format!("core matrices of {ty}: 8x8 blocks of 16-bit elements")));
        }
        let (col_bits, element_bits) = (cols.trailing_zeros(), elements.trailing_zeros());
        let row_bit = |k: u32| col_bits + k;
        // Flat positions in the order threads take them.
        let preference: Vec<u32> =
            (0..3).map(row_bit).chain(3..col_bits).chain((3..rows.trailing_zeros()).map(row_bit)).collect();
        let thread_bits = (threads.trailing_zeros() as usize).min(preference.len());
        let mut bits = vec![FlatBit::Register(0); element_bits as usize];
        for (k, &pos) in preference[..thread_bits].iter().enumerate() {
            bits[pos as usize] = FlatBit::Thread(k as u32);
        }
        let mut next_register = 0;
        for pos in 0..element_bits {
            if !preference[..thread_bits].contains(&pos) {
                bits[pos as usize] = FlatBit::Register(next_register);
                next_register += 1;
            }
        }
        Ok(Layout { bits, thread_id_bits: threads.trailing_zeros() })
    }

    /// This layout with the flat bits `lo .. lo + width` removed: the layout of the tile
    /// without that axis (a reduction's result, a broadcast's source). Registers that
    /// indexed the axis disappear (the rest are renumbered in order); threads that
    /// indexed it become replicas.
    pub fn without_bits(&self, lo: u32, width: u32) -> Layout {
        let removed = |k: u32| self.bits[(lo as usize)..(lo + width) as usize].contains(&FlatBit::Register(k));
        let bits = self
            .bits
            .iter()
            .enumerate()
            .filter(|&(pos, _)| !(lo..lo + width).contains(&(pos as u32)))
            .map(|(_, &bit)| match bit {
                FlatBit::Register(k) => FlatBit::Register((0..k).filter(|&j| !removed(j)).count() as u32),
                thread => thread,
            })
            .collect();
        Layout { bits, thread_id_bits: self.thread_id_bits }
    }

    /// The register of [`Layout::without_bits`]`(lo, width)` that holds what register
    /// `reg` of this layout holds once the removed bits are ignored.
    pub fn register_without_bits(&self, reg: usize, lo: u32, width: u32) -> usize {
        let mut out = 0;
        let mut next = 0;
        for k in 0..self.register_bits() {
            let at = self.bits.iter().position(|&b| b == FlatBit::Register(k)).unwrap_or(0) as u32;
            if (lo..lo + width).contains(&at) {
                continue;
            }
            out |= ((reg >> k) & 1) << next;
            next += 1;
        }
        out
    }

    fn register_bits(&self) -> u32 {
        self.bits.iter().filter(|b| matches!(b, FlatBit::Register(_))).count() as u32
    }

    /// Registers per chunk: the register bits 0, 1, .. that are the lowest flat bits.
    pub fn vec(&self) -> usize {
        1 << self.bits.iter().enumerate().take_while(|&(i, &b)| b == FlatBit::Register(i as u32)).count()
    }

    pub fn slots(&self) -> usize {
        self.regs() / self.vec()
    }

    /// Registers one thread holds.
    pub fn regs(&self) -> usize {
        1 << self.register_bits()
    }

    pub fn element_bits(&self) -> u32 {
        self.bits.len() as u32
    }

    /// The part of register `reg`'s flat index that does not depend on the thread.
    pub fn reg_flat_bits(&self, reg: usize) -> u32 {
        self.bits
            .iter()
            .enumerate()
            .map(|(pos, &b)| match b {
                FlatBit::Register(k) if (reg >> k) & 1 == 1 => 1 << pos,
                _ => 0,
            })
            .sum()
    }

    /// Where flat index bit `bit` comes from.
    pub fn flat_bit(&self, bit: u32) -> FlatBit {
        self.bits[bit as usize]
    }

    /// Runs of thread-id bits that land on consecutive flat bits, as
    /// `(first thread bit, first flat bit, width)`: the thread term of a flat index is
    /// `Σ ((tid >> first) & (2^width - 1)) << flat`.
    pub fn thread_runs(&self) -> Vec<(u32, u32, u32)> {
        let mut runs: Vec<(u32, u32, u32)> = Vec::new();
        for (pos, &b) in self.bits.iter().enumerate() {
            let FlatBit::Thread(k) = b else { continue };
            match runs.last_mut() {
                Some((t, f, w)) if *t + *w == k && *f + *w == pos as u32 => *w += 1,
                _ => runs.push((k, pos as u32, 1)),
            }
        }
        runs
    }

    /// Thread-id bits no flat bit uses: threads that differ only there are replicas.
    pub fn free_thread_mask(&self) -> u64 {
        let used: u64 = self.bits.iter().map(|b| if let FlatBit::Thread(k) = b { 1u64 << k } else { 0 }).sum();
        ((1u64 << self.thread_id_bits) - 1) & !used
    }
}

/// The flat-index bits of axis `axis` of a row-major tile of `shape`, as `(lo, width)`:
/// bits `lo .. lo + width`.
pub(super) fn axis_bits(shape: &[u32], axis: usize) -> (u32, u32) {
    let lo = shape[axis + 1..].iter().map(|d| d.trailing_zeros()).sum();
    (lo, shape[axis].trailing_zeros())
}

/// How the warps of a program split the 16x8 tiles of an `[m, n]` mma result (log2
/// counts): along m first, then n; warps past both replicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WarpGrid {
    pub warps_m: u32,
    pub warps_n: u32,
    /// m-tiles and n-tiles per warp.
    pub tiles_m: u32,
    pub tiles_n: u32,
}

impl WarpGrid {
    pub fn of(m: u32, n: u32, threads: u32) -> WarpGrid {
        let warp_bits = threads.trailing_zeros().saturating_sub(WARP_LANE_BITS);
        let (m_bits, n_bits) = ((m / 16).trailing_zeros(), (n / 8).trailing_zeros());
        let warps_m = warp_bits.min(m_bits);
        let warps_n = (warp_bits - warps_m).min(n_bits);
        WarpGrid { warps_m, warps_n, tiles_m: 1 << (m_bits - warps_m), tiles_n: 1 << (n_bits - warps_n) }
    }
}

/// Checks that every dimension of `ty` is a power of two and that one thread's share
/// fits in registers; returns the element count.
fn check_tile(ty: &Type, threads: u32) -> Result<u64, CodegenError> {
    if let Some(&bad) = ty.shape.iter().find(|d| !d.is_power_of_two()) {
        return Err(CodegenError::InvalidIr(format!("tile {ty} has dimension {bad}, not a power of two")));
    }
    // Checked, because a front end bug could hand us dimensions whose product overflows.
    let elements = ty.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)));
    let per_thread = elements.map_or(u64::MAX, |e| (e / u64::from(threads)).max(1));
    match elements.filter(|_| per_thread <= MAX_ELEMENTS_PER_THREAD) {
        Some(e) => Ok(e),
        None => {
            Err(CodegenError::TileTooLarge { ty: ty.to_string(), threads, per_thread, limit: MAX_ELEMENTS_PER_THREAD })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DType;

    fn layout(shape: &[u32], threads: u32) -> Layout {
        match Layout::blocked(&Type::tile(DType::F32, shape.to_vec()), threads) {
            Ok(l) => l,
            Err(e) => panic!("layout of {shape:?}: {e}"),
        }
    }

    /// (vec, thread bits, slots) — the three numbers the module docs define.
    fn check(shape: &[u32], threads: u32, expected: (usize, u32, usize)) {
        let l = layout(shape, threads);
        let thread_bits = l.element_bits() - l.regs().trailing_zeros();
        assert_eq!((l.vec(), thread_bits, l.slots()), expected, "layout of {shape:?} over {threads} threads");
    }

    /// (row, column) of the first element of each of a thread's chunks in a core-matrix copy.
    fn core_copy_chunks(shape: &[u32], threads: u32, tid: u32) -> Vec<(u32, u32)> {
        let l = Layout::core_matrix_copy(&Type::tile(DType::BF16, shape.to_vec()), threads)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.vec(), 8, "chunks of 16 bytes");
        let thread_term: u32 = l.thread_runs().iter().map(|&(t, f, w)| ((tid >> t) & ((1 << w) - 1)) << f).sum();
        (0..l.regs())
            .step_by(l.vec())
            .map(|reg| {
                let flat = l.reg_flat_bits(reg) | thread_term;
                (flat / shape[1], flat % shape[1])
            })
            .collect()
    }

    #[test]
    fn core_matrix_copy_gives_lanes_0_to_7_the_rows_of_one_core_matrix() {
        let firsts: Vec<_> = (0..8).map(|t| core_copy_chunks(&[64, 128], 256, t)[0]).collect();
        assert_eq!(firsts, (0..8).map(|r| (r, 0)).collect::<Vec<_>>());
    }

    #[test]
    fn core_matrix_copy_gives_lane_8_the_next_core_matrix_along_the_row() {
        assert_eq!(core_copy_chunks(&[64, 128], 256, 8)[0], (0, 8));
    }

    #[test]
    fn core_matrix_copy_covers_a_64_by_64_tile_once() {
        let mut seen: Vec<_> = (0..128).flat_map(|t| core_copy_chunks(&[64, 64], 128, t)).collect();
        seen.sort();
        let all: Vec<_> = (0..64).flat_map(|r| (0..64).step_by(8).map(move |c| (r, c))).collect();
        assert_eq!(seen, all);
    }

    #[test]
    fn long_row_gets_16_byte_chunks_and_two_slots() {
        check(&[4096], 256, (8, 8, 2));
    }

    #[test]
    fn vector_add_block_has_one_chunk_of_eight_per_thread() {
        check(&[1024], 128, (8, 7, 1));
    }

    #[test]
    fn chunk_never_crosses_a_row() {
        check(&[64, 4], 32, (4, 5, 2));
    }

    #[test]
    fn column_tile_has_one_element_chunks() {
        check(&[128, 1], 32, (1, 5, 4));
    }

    #[test]
    fn small_tile_is_replicated_one_element_per_thread() {
        check(&[16], 128, (1, 4, 1));
    }

    #[test]
    fn scalar_is_held_by_every_thread() {
        check(&[], 64, (1, 0, 1));
    }

    #[test]
    fn small_tile_reports_replication() {
        assert!(layout(&[16], 128).free_thread_mask() != 0);
    }

    #[test]
    fn full_tile_is_not_replicated() {
        assert!(!layout(&[256], 128).free_thread_mask() != 0);
    }

    #[test]
    fn layout_ignores_dtype() {
        let bf16 = Layout::blocked(&Type::tile(DType::BF16, vec![32, 128]), 128);
        let f32 = Layout::blocked(&Type::tile(DType::F32, vec![32, 128]), 128);
        assert_eq!(bf16.ok(), f32.ok());
    }

    #[test]
    fn second_slot_starts_after_all_threads_chunks() {
        // [4096] over 256 threads: register 8 is slot 1, element 0 of the chunk: f = 2048 + 8 * tid.
        assert_eq!(layout(&[4096], 256).reg_flat_bits(8), 2048);
    }

    #[test]
    fn register_within_chunk_is_low_bits() {
        assert_eq!(layout(&[4096], 256).reg_flat_bits(5), 5);
    }

    #[test]
    fn middle_flat_bits_come_from_the_thread_id() {
        assert_eq!(layout(&[4096], 256).flat_bit(3), FlatBit::Thread(0));
    }

    #[test]
    fn top_flat_bit_is_the_slot_register_bit() {
        assert_eq!(layout(&[4096], 256).flat_bit(11), FlatBit::Register(3));
    }

    #[test]
    fn oversized_tile_is_rejected_with_the_limit() {
        let err = Layout::blocked(&Type::tile(DType::F32, vec![256, 256]), 128).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("tile f32[256, 256] needs 512 elements per thread over 128 threads; at most 256 are supported")
        );
    }

    #[test]
    fn non_power_of_two_dimension_is_rejected() {
        assert!(Layout::blocked(&Type::tile(DType::F32, vec![24]), 32).is_err());
    }

    fn mma(m: u32, n: u32, threads: u32) -> Layout {
        match Layout::mma_accumulator(m, n, threads) {
            Ok(l) => l,
            Err(e) => panic!("mma layout of [{m}, {n}]: {e}"),
        }
    }

    /// (row, col) of the element register `reg` of lane `tid` holds.
    fn element(l: &Layout, n: u32, tid: u32, reg: usize) -> (u32, u32) {
        let thread: u32 = l.thread_runs().iter().map(|&(t, f, w)| ((tid >> t) & ((1 << w) - 1)) << f).sum();
        let f = thread | l.reg_flat_bits(reg);
        (f / n, f % n)
    }

    #[test]
    fn mma_lane_holds_the_c_fragment_d0() {
        // Lane 4g + t = 4 * 3 + 2 holds C[g][2t] in d0.
        assert_eq!(element(&mma(16, 8, 32), 8, 14, 0), (3, 4));
    }

    #[test]
    fn mma_d3_is_eight_rows_down_and_one_column_right() {
        assert_eq!(element(&mma(16, 8, 32), 8, 14, 3), (11, 5));
    }

    #[test]
    fn mma_next_n_tile_is_the_next_register_group() {
        assert_eq!(element(&mma(16, 32, 32), 32, 0, 4), (0, 8));
    }

    #[test]
    fn mma_warps_take_m_tiles_first() {
        // Warp 1 of 4 over [64, 64]: m-tile 1.
        assert_eq!(element(&mma(64, 64, 128), 64, 32, 0), (16, 0));
    }

    #[test]
    fn mma_extra_warps_take_n_tiles() {
        // 8 warps over [64, 64]: 4 along m, then 2 along n; warp 4 starts at column 32.
        assert_eq!(element(&mma(64, 64, 256), 64, 128, 0), (0, 32));
    }

    #[test]
    fn mma_accumulator_chunks_are_column_pairs() {
        assert_eq!(mma(64, 64, 128).vec(), 2);
    }

    #[test]
    fn mma_one_warp_holds_a_quarter_of_a_16x8_tile_per_lane() {
        assert_eq!(mma(16, 8, 32).regs(), 4);
    }

    #[test]
    fn mma_small_tile_over_many_warps_is_replicated() {
        assert!(mma(16, 8, 128).free_thread_mask() != 0);
    }

    #[test]
    fn row_statistic_of_mma_tile_is_replicated_over_the_quad() {
        // Dropping the 64 columns of [64, 64] leaves lanes t = 0..3 holding the same rows.
        assert_eq!(mma(64, 64, 128).without_bits(0, 6).free_thread_mask(), 0b11);
    }

    #[test]
    fn row_statistic_keeps_the_row_register() {
        // Per 16-row tile a lane holds rows g and g + 8: two registers per m-tile it owns.
        assert_eq!(mma(64, 64, 128).without_bits(0, 6).regs(), 2);
    }

    #[test]
    fn register_without_column_bits_keeps_the_row_half() {
        // Register 3 (d3: row g + 8) of [16, 8] → register 1 of the row statistic.
        assert_eq!(mma(16, 8, 32).register_without_bits(3, 0, 3), 1);
    }

    #[test]
    fn blocked_thread_bits_are_one_run() {
        assert_eq!(layout(&[4096], 256).thread_runs(), vec![(0, 3, 8)]);
    }
}
