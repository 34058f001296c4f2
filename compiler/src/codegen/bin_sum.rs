//! `bin_sum`: a tile's elements summed into bins chosen per element.
//!
//! Any element may land in any bin, so the sums meet in shared memory: `N` words of
//! scratch above the live buffers ([`super::shared::SharedMemory::reserve`]), zeroed by
//! all threads, then each owner of an element whose bin is in `0..N` adds it with one
//! `red.shared.add` (`.f32` or `.s32`), and after a barrier every thread reads the bins
//! its result registers hold. Replicas add nothing, so each element counts once. Atomics
//! land in no fixed order, which is why the op's f32 summation order is unspecified
//! (i32 sums are exact in any order).
//!
//! An i32 add is one `ATOMS.ADD`, with no result to wait for. ptxas makes each
//! `red.shared.add.f32` a compare-and-swap loop of its own (`ATOMS.CAST.SPIN`). Writing
//! the swaps out instead, eight elements' loads and swaps issued together and retried
//! together, made `vs_column_scores` twice as slow on the
//! H200: 0.51 ms at 32K in one call, against 0.24 with this loop in the next
//! (docs/perf/2026-11-29-h200-session23.md, rounds 1 and 2). Our reading, not profiled:
//! a generic `ATOMS.CAS` returns the old value and needs the retry's bookkeeping (twice
//! the SASS instructions), which cost more than the waits it overlapped. Binning by
//! diagonal without atomics (a `diag_sum` op: the tile stored to shared memory, each
//! thread reading its diagonals back row by row, ~5 instructions a row) made
//! `vs_column_scores` 1.25x slower still (docs/perf/2026-11-29-h200-session24.md, round 3).
//!
//! The scratch follows the stack's rule for every scratch user: it is written only after
//! a barrier (the first one here), so the next op that reserves the same bytes cannot
//! overwrite them while a thread still reads its result.

use super::context::{as_int, Lowerer, Regs};
use super::layout::Layout;
use super::CodegenError;
use crate::ir::{DType, ValueId};

/// Bytes of a bin: both dtypes `bin_sum` takes are 32-bit.
const BIN_BYTES: u64 = 4;

/// One predicated shared-memory add of `dtype` (f32 or i32) and the inline-asm
/// constraint of its value: `$0` the `.shared` address, `$1` the value, `$2` nonzero
/// when the add happens. Predicating inside the instruction keeps the adds straight-line
/// code rather than a branch per element.
fn add(dtype: DType) -> (&'static str, &'static str) {
    match dtype {
        DType::I32 => ("{ .reg .pred p; setp.ne.b32 p, $2, 0; @p red.shared.add.s32 [$0], $1; }", "r,r,r"),
        _ => ("{ .reg .pred p; setp.ne.b32 p, $2, 0; @p red.shared.add.f32 [$0], $1; }", "r,f,r"),
    }
}

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn bin_sum(
        &mut self,
        value: ValueId,
        bins: ValueId,
        result: ValueId,
        out_layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let (from, bins_ty, to) = (self.ty(value)?, self.ty(bins)?, self.ty(result)?);
        let dtype = from.dtype;
        let count = match to.shape[..] {
            [n] if to.dtype == dtype && matches!(dtype, DType::F32 | DType::I32) && !from.is_scalar() => u64::from(n),
            _ => return Err(CodegenError::InvalidIr(format!("bin_sum of {from} gives {to}, not {dtype}[N]"))),
        };
        if *bins_ty != from.with_dtype(DType::I32) {
            return Err(CodegenError::InvalidIr(format!("bin_sum of {from} by bins {bins_ty}")));
        }
        let layout = self.layout_of(value)?;
        let values = self.get(value)?;
        let bin_regs = self.get_in(bins, &layout)?;

        let base = self.shared.reserve(self.context, self.module, "bin_sum", count * BIN_BYTES)?;
        // The previous user of these bytes may still be reading them.
        self.barrier()?;
        self.zero_bins(base, dtype, count)?;
        self.barrier()?;

        let b = &self.builder;
        let owner = self.is_owner(&layout)?;
        let base_address = b.build_ptr_to_int(base, self.context.i32_type(), "")?;
        for (x, bin) in values.into_iter().zip(bin_regs) {
            let bin = as_int(bin)?;
            // Unsigned, so a negative bin is out of range too.
            let in_range = b.build_int_compare(inkwell::IntPredicate::ULT, bin, self.i32(count), "")?;
            let adds = b.build_int_z_extend(b.build_and(owner, in_range, "")?, self.context.i32_type(), "")?;
            let offset = b.build_int_mul(bin, self.i32(BIN_BYTES), "")?;
            let address = b.build_int_add(base_address, offset, "")?;
            let (asm, constraints) = add(dtype);
            self.asm_void(asm, constraints, &[address.into(), x, adds.into()])?;
        }
        self.barrier()?;

        (0..out_layout.regs())
            .map(|r| {
                let f = self.flat_index(out_layout, r)?;
                self.aligned_load(self.reg_type(dtype), self.shared_element(base, dtype, f)?, 4)
            })
            .collect()
    }

    /// Every thread zeroes bins `tid, tid + threads, ..`; only a last, partial round is guarded.
    fn zero_bins(
        &self,
        base: inkwell::values::PointerValue<'ctx>,
        dtype: DType,
        count: u64,
    ) -> Result<(), CodegenError> {
        let threads = u64::from(self.threads);
        let zero = self.zero(dtype);
        for round in 0..count.div_ceil(threads) {
            let at = self.builder.build_int_add(self.tid, self.i32(round * threads), "")?;
            let store = |this: &Self| this.aligned_store(this.shared_element(base, dtype, at)?, zero, 4);
            if (round + 1) * threads <= count {
                store(self)?;
            } else {
                let inside = self.builder.build_int_compare(inkwell::IntPredicate::ULT, at, self.i32(count), "")?;
                self.when(inside, store)?;
            }
        }
        Ok(())
    }
}
