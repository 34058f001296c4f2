//! The one register layout every tile uses: which thread holds which element, in which
//! register. It depends only on the tile's shape and the thread count T — not on the
//! dtype — so casts, compares and selects between dtypes stay register-for-register.
//!
//! Flatten the tile row-major into E = 2^e elements with flat index `f`. Its bits split
//! into three fields:
//!
//! ```text
//!     f = [ slot bits (s) | thread bits (t) | vec bits (v) ]
//!           high                                      low
//! ```
//!
//! - **vec bits:** a thread holds runs ("chunks") of VEC = 2^v elements that are
//!   contiguous in the tile, VEC = min(8, last dim, max(1, E / T)). Eight bf16 are one
//!   16-byte access; eight f32 are two.
//! - **thread bits:** chunk `c = f >> v` belongs to thread `c mod T`, so consecutive
//!   threads own consecutive chunks and a warp's accesses are coalesced.
//! - **slot bits:** the chunk sits in that thread's register slot `c / T`.
//!
//! So thread `tid`'s register `r` (slot-major, `r = slot * VEC + j`) holds the element
//!
//! ```text
//!     f = (slot << (v + t)) | ((tid mod 2^t) << v) | j
//! ```
//!
//! Every register's index is a compile-time constant plus one tid term, so register
//! arrays are never indexed dynamically (no local memory).
//!
//! When E < T there are fewer elements than threads: VEC = 1, t = e, and thread `tid`
//! holds element `tid mod E`. Threads with `tid >= E` hold replicas; they compute like
//! the others but never store. A scalar is the case E = 1: every thread holds it.

use super::CodegenError;
use crate::ir::Type;

/// Longest run of contiguous elements one thread holds: 16 bytes of bf16.
pub(super) const MAX_VEC: u64 = 8;

/// Most elements of one tile a thread may hold. The hardware caps a thread at 255
/// registers; a single tile past this would spill whatever else the kernel does.
pub(super) const MAX_ELEMENTS_PER_THREAD: u64 = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub vec_bits: u32,
    pub thread_bits: u32,
    pub slot_bits: u32,
}

/// What one bit of the flat index is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FlatBit {
    /// Bit `k` of the register number.
    Register(u32),
    /// Bit `k` of the thread id.
    Thread(u32),
}

impl Layout {
    /// The layout of `ty` over `threads` threads (a power of two).
    pub fn of(ty: &Type, threads: u32) -> Result<Layout, CodegenError> {
        if let Some(&bad) = ty.shape.iter().find(|d| !d.is_power_of_two()) {
            return Err(CodegenError::InvalidIr(format!("tile {ty} has dimension {bad}, not a power of two")));
        }
        // Checked, because a front end bug could hand us dimensions whose product overflows.
        let elements = ty.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)));
        let threads = u64::from(threads);
        let per_thread = elements.map_or(u64::MAX, |e| (e / threads).max(1));
        let Some(elements) = elements.filter(|_| per_thread <= MAX_ELEMENTS_PER_THREAD) else {
            return Err(CodegenError::TileTooLarge {
                ty: ty.to_string(),
                threads: threads as u32,
                per_thread,
                limit: MAX_ELEMENTS_PER_THREAD,
            });
        };
        let last = ty.shape.last().map_or(1, |&d| u64::from(d));
        let vec = MAX_VEC.min(last).min(per_thread);
        let element_bits = elements.trailing_zeros();
        let vec_bits = vec.trailing_zeros();
        let thread_bits = threads.trailing_zeros().min(element_bits - vec_bits);
        Ok(Layout { vec_bits, thread_bits, slot_bits: element_bits - vec_bits - thread_bits })
    }

    pub fn vec(&self) -> usize {
        1 << self.vec_bits
    }

    pub fn slots(&self) -> usize {
        1 << self.slot_bits
    }

    /// Registers one thread holds.
    pub fn regs(&self) -> usize {
        1 << (self.vec_bits + self.slot_bits)
    }

    pub fn element_bits(&self) -> u32 {
        self.vec_bits + self.thread_bits + self.slot_bits
    }

    /// The part of register `reg`'s flat index that does not depend on the thread.
    pub fn reg_flat_bits(&self, reg: usize) -> u32 {
        let reg = reg as u32;
        let j = reg & ((1 << self.vec_bits) - 1);
        let slot = reg >> self.vec_bits;
        (slot << (self.vec_bits + self.thread_bits)) | j
    }

    /// Where flat index bit `bit` comes from.
    pub fn flat_bit(&self, bit: u32) -> FlatBit {
        if bit < self.vec_bits {
            FlatBit::Register(bit)
        } else if bit < self.vec_bits + self.thread_bits {
            FlatBit::Thread(bit - self.vec_bits)
        } else {
            FlatBit::Register(bit - self.thread_bits)
        }
    }

    /// Whether some threads hold copies of elements other threads own.
    pub fn is_replicated(&self, threads: u32) -> bool {
        self.thread_bits < threads.trailing_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DType;

    fn layout(shape: &[u32], threads: u32) -> Layout {
        match Layout::of(&Type::tile(DType::F32, shape.to_vec()), threads) {
            Ok(l) => l,
            Err(e) => panic!("layout of {shape:?}: {e}"),
        }
    }

    /// (vec, thread bits, slots) — the three numbers the module docs define.
    fn check(shape: &[u32], threads: u32, expected: (usize, u32, usize)) {
        let l = layout(shape, threads);
        assert_eq!((l.vec(), l.thread_bits, l.slots()), expected, "layout of {shape:?} over {threads} threads");
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
        assert!(layout(&[16], 128).is_replicated(128));
    }

    #[test]
    fn full_tile_is_not_replicated() {
        assert!(!layout(&[256], 128).is_replicated(128));
    }

    #[test]
    fn layout_ignores_dtype() {
        let bf16 = Layout::of(&Type::tile(DType::BF16, vec![32, 128]), 128);
        let f32 = Layout::of(&Type::tile(DType::F32, vec![32, 128]), 128);
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
        let err = Layout::of(&Type::tile(DType::F32, vec![256, 256]), 128).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("tile f32[256, 256] needs 512 elements per thread over 128 threads; at most 256 are supported")
        );
    }

    #[test]
    fn non_power_of_two_dimension_is_rejected() {
        assert!(Layout::of(&Type::tile(DType::F32, vec![24]), 32).is_err());
    }
}
