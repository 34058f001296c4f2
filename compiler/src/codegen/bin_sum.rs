//! `bin_sum`: a tile's elements summed into bins chosen per element.
//!
//! Any element may land in any bin, so the sums meet in shared memory: `N` f32 of
//! scratch above the live buffers ([`super::shared::SharedMemory::reserve`]), zeroed by
//! all threads, then each owner of an element whose bin is in `0..N` adds it, and after
//! a barrier every thread reads the bins its result registers hold. Replicas add
//! nothing, so each element counts once. Atomics land in no fixed order, which is why
//! the op's summation order is unspecified.
//!
//! Shared memory has no f32 atomic add: ptxas makes `red.shared.add.f32` a
//! compare-and-swap loop per element, each waiting on its load and its swap before the
//! next element's starts. The adds are therefore written as compare-and-swaps here,
//! [`GROUP`] elements at a time: the group's loads issue together, then its swaps, and a
//! swap that lost to another thread's (the value it read is stale) retries with the
//! value it got, until none is left, so a thread waits on shared memory about twice a
//! group rather than twice an element.
//!
//! The scratch follows the stack's rule for every scratch user: it is written only after
//! a barrier (the first one here), so the next op that reserves the same bytes cannot
//! overwrite them while a thread still reads its result.

use inkwell::values::{FloatValue, IntValue, PointerValue};

use super::context::{as_int, Lowerer, Regs};
use super::layout::Layout;
use super::CodegenError;
use crate::ir::{DType, ValueId};

const F32_BYTES: u64 = 4;

/// Elements whose compare-and-swaps are in flight together: more would hold more
/// registers (an address, an expected value and a flag each) across the retry loop.
const GROUP: usize = 8;

/// One shared-memory compare-and-swap: `$1` the `.shared` address, `$2` the expected
/// bits, `$3` the new bits; `$0` the bits found there.
const CAS: &str = "atom.shared.cas.b32 $0, [$1], $2, $3;";

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn bin_sum(
        &mut self,
        value: ValueId,
        bins: ValueId,
        result: ValueId,
        out_layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let (from, bins_ty, to) = (self.ty(value)?, self.ty(bins)?, self.ty(result)?);
        let count = match to.shape[..] {
            [n] if to.dtype == DType::F32 && from.dtype == DType::F32 && !from.is_scalar() => u64::from(n),
            _ => return Err(CodegenError::InvalidIr(format!("bin_sum of {from} gives {to}, not f32[N]"))),
        };
        if *bins_ty != from.with_dtype(DType::I32) {
            return Err(CodegenError::InvalidIr(format!("bin_sum of {from} by bins {bins_ty}")));
        }
        let layout = self.layout_of(value)?;
        let values = self.get(value)?;
        let bin_regs = self.get_in(bins, &layout)?;

        let base = self.shared.reserve(self.context, self.module, "bin_sum", count * F32_BYTES)?;
        // The previous user of these bytes may still be reading them.
        self.barrier()?;
        self.zero_bins(base, count)?;
        self.barrier()?;

        let b = &self.builder;
        let owner = self.is_owner(&layout)?;
        let base_address = b.build_ptr_to_int(base, self.context.i32_type(), "")?;
        let spare_bin = b.build_int_unsigned_rem(self.tid, self.i32(count), "")?;
        let mut adds = Vec::with_capacity(values.len());
        for (x, bin) in values.into_iter().zip(bin_regs) {
            let bin = as_int(bin)?;
            // Unsigned, so a negative bin is out of range too.
            let in_range = b.build_int_compare(inkwell::IntPredicate::ULT, bin, self.i32(count), "")?;
            let adds_it = b.build_and(owner, in_range, "")?;
            // An element that adds nothing swaps a bin's bits for themselves, which never
            // changes the bin: its own bin if it has one, else one picked by thread so
            // that such swaps do not all meet on one address.
            let bin = b.build_select(adds_it, bin, spare_bin, "")?.into_int_value();
            adds.push(BinAdd { bin, x: x.into_float_value(), adds: adds_it });
        }
        for group in adds.chunks(GROUP) {
            self.add_group(base, base_address, group)?;
        }
        self.barrier()?;

        (0..out_layout.regs())
            .map(|r| {
                let f = self.flat_index(out_layout, r)?;
                self.aligned_load(self.reg_type(DType::F32), self.shared_element(base, DType::F32, f)?, 4)
            })
            .collect()
    }

    /// The adds of `group` to the bins at `base` (`.shared` address `base_address`): loads
    /// of the bins' bits, then a compare-and-swap of each element (its sum while pending,
    /// else the bits it expects), repeated until every element has swapped in its sum.
    fn add_group(
        &self,
        base: PointerValue<'ctx>,
        base_address: IntValue<'ctx>,
        group: &[BinAdd<'ctx>],
    ) -> Result<(), CodegenError> {
        let b = &self.builder;
        let i32_type = self.context.i32_type();
        let mut first = Vec::with_capacity(group.len());
        for add in group {
            let ptr = self.shared_element(base, DType::F32, add.bin)?;
            first.push(self.aligned_load(i32_type, ptr, 4)?.into_int_value());
        }
        let entry = self.current_block()?;
        let retry = self.block("bin_sum.cas");
        let done = self.block("bin_sum.done");
        b.build_unconditional_branch(retry)?;
        b.position_at_end(retry);
        let mut phis = Vec::with_capacity(group.len());
        for (add, &seen) in group.iter().zip(&first) {
            let expected = b.build_phi(i32_type, "expected")?;
            expected.add_incoming(&[(&seen, entry)]);
            let pending = b.build_phi(self.context.bool_type(), "pending")?;
            pending.add_incoming(&[(&add.adds, entry)]);
            phis.push((expected, pending));
        }
        let mut any = self.bool(false);
        let mut next = Vec::with_capacity(group.len());
        for (add, (expected, pending)) in group.iter().zip(&phis) {
            let (expected, pending) =
                (expected.as_basic_value().into_int_value(), pending.as_basic_value().into_int_value());
            let as_float = b.build_bit_cast(expected, self.context.f32_type(), "")?.into_float_value();
            let sum = b.build_bit_cast(b.build_float_add(as_float, add.x, "")?, i32_type, "")?.into_int_value();
            // Done (or never adding): the swap leaves the bin as it is, so every swap of
            // the group runs unconditionally, with no branch around it.
            let bits = b.build_select(pending, sum, expected, "")?;
            let address = b.build_int_add(base_address, b.build_int_mul(add.bin, self.i32(F32_BYTES), "")?, "")?;
            let found = self.inline_asm(
                CAS,
                "=r,r,r,r,~{memory}",
                &[i32_type.into()],
                &[address.into(), expected.into(), bits],
            )?[0]
                .into_int_value();
            let lost = b.build_int_compare(inkwell::IntPredicate::NE, found, expected, "")?;
            let still = b.build_and(pending, lost, "")?;
            any = b.build_or(any, still, "")?;
            next.push((found, still));
        }
        let latch = self.current_block()?;
        b.build_conditional_branch(any, retry, done)?;
        for ((expected, pending), (found, still)) in phis.iter().zip(&next) {
            expected.add_incoming(&[(found, latch)]);
            pending.add_incoming(&[(still, latch)]);
        }
        b.position_at_end(done);
        Ok(())
    }

    /// Every thread zeroes bins `tid, tid + threads, ..`; only a last, partial round is guarded.
    fn zero_bins(&self, base: PointerValue<'ctx>, count: u64) -> Result<(), CodegenError> {
        let threads = u64::from(self.threads);
        let zero = self.zero(DType::F32);
        for round in 0..count.div_ceil(threads) {
            let at = self.builder.build_int_add(self.tid, self.i32(round * threads), "")?;
            let store = |this: &Self| this.aligned_store(this.shared_element(base, DType::F32, at)?, zero, 4);
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

/// One element's add: its bin (0 when it adds nothing), its value, and whether it adds.
struct BinAdd<'ctx> {
    bin: IntValue<'ctx>,
    x: FloatValue<'ctx>,
    adds: IntValue<'ctx>,
}
