//! `scan` (`cumsum`, `cummax`, `cummin`) along one axis, in the result's layout.
//!
//! The axis is a contiguous run of flat-index bits, `[lo, lo + width)`, and a position
//! along it is those bits read as a number. Each element carries its inclusive prefix and
//! the total of its group: at first both are the element. Taking the axis bits from the
//! lowest up, an element and its partner across bit `k` (the element with that bit
//! flipped) both add the partner's total to theirs, and the one whose bit is set, the
//! later of the two, also puts the partner's total in front of its prefix. After the
//! highest bit each prefix covers every element at or before it along the axis.
//!
//! The partner lives where the layout puts the bit ([`super::layout`]): in another of the
//! thread's registers, in another lane (`shfl.sync.bfly`), or in another warp, whose
//! totals come through shared memory (one slot per thread and register, two barriers).
//! So a scan costs `width` combining steps per register, and a shared-memory round trip
//! only for an axis spread over warps.

use super::context::{Lowerer, Regs};
use super::layout::{axis_bits, FlatBit, Layout, WARP_LANE_BITS};
use super::CodegenError;
use crate::ir::{op_name, DType, Op, ReduceOp, ValueId};
use inkwell::values::BasicValueEnum;
use inkwell::IntPredicate;

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn scan(
        &mut self,
        op: ReduceOp,
        value: ValueId,
        axis: u32,
        result: ValueId,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let name = op_name(&Op::Scan { op, value, axis });
        let (from, to) = (self.ty(value)?.clone(), self.ty(result)?);
        if axis as usize >= from.rank() || *to != from {
            return Err(CodegenError::InvalidIr(format!("{name} along axis {axis} of {from} gives {to}")));
        }
        if !matches!(from.dtype, DType::F32 | DType::I32) {
            return Err(CodegenError::Unsupported {
                what: format!("{name} on {}", from.dtype),
                supported: "scans of f32 and i32 tiles".into(),
            });
        }
        let mut prefix = self.get_in(value, layout)?;
        let mut total = prefix.clone();
        let (lo, width) = axis_bits(&from.shape, axis as usize);
        for bit in lo..lo + width {
            let partner_totals = match layout.flat_bit(bit) {
                FlatBit::Register(k) => (0..total.len()).map(|r| total[r ^ (1 << k)]).collect(),
                FlatBit::Thread(k) if k < WARP_LANE_BITS => {
                    total.iter().map(|&t| self.shuffle_xor(t, 1 << k)).collect::<Result<Vec<_>, _>>()?
                }
                FlatBit::Thread(k) => self.across_warps(name, from.dtype, &total, k)?,
            };
            // Which registers hold the later element of their pair: known per register for a
            // register bit, one predicate on the thread id for a thread bit.
            let later = match layout.flat_bit(bit) {
                FlatBit::Register(k) => Later::Register(k),
                FlatBit::Thread(k) => {
                    let set = self.builder.build_and(self.tid, self.i32(1 << k), "")?;
                    Later::Thread(self.builder.build_int_compare(IntPredicate::NE, set, self.i32(0), "")?)
                }
            };
            for r in 0..total.len() {
                let other = partner_totals[r];
                prefix[r] = match later {
                    Later::Register(k) if r & (1 << k) == 0 => prefix[r],
                    Later::Register(_) => self.combine(op, from.dtype, other, prefix[r])?,
                    Later::Thread(set) => {
                        let ahead = self.combine(op, from.dtype, other, prefix[r])?;
                        self.builder.build_select(set, ahead, prefix[r], "")?
                    }
                };
                total[r] = self.combine(op, from.dtype, total[r], other)?;
            }
        }
        Ok(prefix)
    }

    /// Each register's value in thread `tid ^ (1 << k)`, `k` a warp bit of the thread id.
    fn across_warps(
        &mut self,
        name: &str,
        dtype: DType,
        values: &[BasicValueEnum<'ctx>],
        k: u32,
    ) -> Result<Vec<BasicValueEnum<'ctx>>, CodegenError> {
        let regs = values.len() as u64;
        let size = dtype.size_bytes() as u64;
        let bytes = u64::from(self.threads) * regs * size;
        let base = self.shared.reserve(self.context, self.module, name, bytes)?;
        // The previous user of these bytes may still be reading them.
        self.barrier()?;
        let b = &self.builder;
        let mine = b.build_int_mul(self.tid, self.i32(regs), "")?;
        for (r, &v) in values.iter().enumerate() {
            let slot = b.build_int_add(mine, self.i32(r as u64), "")?;
            self.aligned_store(self.shared_element(base, dtype, slot)?, v, size as u32)?;
        }
        self.barrier()?;
        let partner = b.build_xor(self.tid, self.i32(1 << k), "")?;
        let theirs = b.build_int_mul(partner, self.i32(regs), "")?;
        (0..regs)
            .map(|r| {
                let slot = self.builder.build_int_add(theirs, self.i32(r), "")?;
                self.aligned_load(self.reg_type(dtype), self.shared_element(base, dtype, slot)?, size as u32)
            })
            .collect()
    }
}

/// Where the later element of each pair across one axis bit is: in the registers whose
/// bit `k` is set, or in the threads where the predicate holds.
enum Later<'ctx> {
    Register(u32),
    Thread(inkwell::values::IntValue<'ctx>),
}
