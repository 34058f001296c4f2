//! `reduce` along one axis, in up to three stages.
//!
//! The reduced axis is a contiguous run of flat-index bits, `[lo, lo + width)`. The
//! layout says where each of those bits lives (see [`super::layout`]):
//!
//! 1. **register bits:** the thread combines its own registers that differ only there;
//! 2. **lane bits** (thread-id bits 0..5): butterfly `shfl.sync.bfly` with that lane
//!    mask, after which every lane of the group holds the group's result;
//! 3. **warp bits** (thread-id bits 5..): one lane per warp group writes its partials to
//!    shared memory, and after a barrier every thread combines the partials its result
//!    registers need.
//!
//! With no warp bit reduced, every lane of a group holds its results after stage 2, in
//! the input layout minus the axis ([`Layout::without_bits`]); when that is the layout
//! asked for, the reduction ends there. Otherwise the result is read back through
//! stage 3's shared memory (one partial per output when no warp bit is reduced), which
//! also puts it in the layout asked for.

use inkwell::values::BasicValueEnum;

use super::context::{as_float, as_int, Lowerer, Regs};
use super::layout::{axis_bits, FlatBit, Layout, WARP_LANE_BITS};
use super::CodegenError;
use crate::ir::{op_name, DType, Op, ReduceOp, Type, ValueId};

/// All 32 lanes take part, with the whole warp as one segment.
const FULL_MASK: u64 = 0xffff_ffff;
const SEGMENT_CLAMP: u64 = 0x1f;

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn reduce(
        &mut self,
        op: ReduceOp,
        value: ValueId,
        axis: u32,
        result: ValueId,
        out_layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let name = op_name(&Op::Reduce { op, value, axis });
        let (from, to) = (self.ty(value)?, self.ty(result)?);
        let mut expected = from.shape.clone();
        if axis as usize >= expected.len() {
            return Err(CodegenError::InvalidIr(format!("{name} axis {axis} of {from}")));
        }
        expected.remove(axis as usize);
        if *to != Type::tile(from.dtype, expected) {
            return Err(CodegenError::InvalidIr(format!("{name} along axis {axis} of {from} gives {to}")));
        }
        if !matches!(from.dtype, DType::F32 | DType::I32) {
            return Err(CodegenError::Unsupported {
                what: format!("{name} on {}", from.dtype),
                supported: "reductions of f32 and i32 tiles".into(),
            });
        }
        let layout = self.layout_of(value)?;
        let (lo, width) = axis_bits(&from.shape, axis as usize);

        let (mut reg_mask, mut lane_bits, mut warp_bits) = (0usize, Vec::new(), Vec::new());
        for bit in lo..lo + width {
            match layout.flat_bit(bit) {
                FlatBit::Register(k) => reg_mask |= 1 << k,
                FlatBit::Thread(k) if k < WARP_LANE_BITS => lane_bits.push(k),
                FlatBit::Thread(k) => warp_bits.push(k),
            }
        }

        // Stage 1: partials[r] for every register r with no reduced register bit.
        let regs = self.get(value)?;
        let mut partials = Vec::new();
        for r in (0..regs.len()).filter(|r| r & reg_mask == 0) {
            let group: Vec<_> = (0..regs.len()).filter(|s| s & !reg_mask == r).map(|s| regs[s]).collect();
            partials.push((r, self.combine_all(op, from.dtype, group)?));
        }

        // Stage 2.
        for &k in &lane_bits {
            for (_, p) in partials.iter_mut() {
                let other = self.shuffle_xor(*p, 1 << k)?;
                *p = self.combine(op, from.dtype, *p, other)?;
            }
        }

        // Every lane of a group now holds the group's results, in the input's registers
        // minus the reduced ones: that is the layout without the axis.
        if warp_bits.is_empty() && *out_layout == layout.without_bits(lo, width) {
            return Ok(partials.into_iter().map(|(_, p)| p).collect());
        }

        // Stage 3. Partial w of output f is at w * outputs + f.
        let groups = 1u64 << warp_bits.len();
        let outputs = to.num_elements();
        let size = from.dtype.size_bytes() as u64;
        let base = self.shared.reserve(self.context, self.module, name, groups * outputs * size)?;
        let b = &self.builder;

        // The previous user of the buffer may still be reading it.
        self.barrier()?;
        let lane_mask: u64 = lane_bits.iter().map(|k| 1u64 << k).sum();
        let lane_zero = b.build_int_compare(
            inkwell::IntPredicate::EQ,
            b.build_and(self.tid, self.i32(lane_mask), "")?,
            self.i32(0),
            "",
        )?;
        let writer = b.build_and(self.is_owner(&layout)?, lane_zero, "writer")?;
        let group = match warp_bits.first() {
            Some(&first) => b.build_and(
                b.build_right_shift(self.tid, self.i32(u64::from(first)), false, "")?,
                self.i32(groups - 1),
                "",
            )?,
            None => self.i32(0),
        };
        self.when(writer, |this| {
            let b = &this.builder;
            for (r, p) in &partials {
                // Drop the reduced bits of the flat index: the output's flat index.
                let f = this.flat_index(&layout, *r)?;
                let below = b.build_and(f, this.i32((1u64 << lo) - 1), "")?;
                let above = b.build_left_shift(
                    b.build_right_shift(f, this.i32(u64::from(lo + width)), false, "")?,
                    this.i32(u64::from(lo)),
                    "",
                )?;
                let out = b.build_or(below, above, "")?;
                let slot = b.build_int_add(b.build_int_mul(group, this.i32(outputs), "")?, out, "")?;
                this.aligned_store(this.shared_element(base, from.dtype, slot)?, *p, size as u32)?;
            }
            Ok(())
        })?;
        self.barrier()?;

        (0..out_layout.regs())
            .map(|r| {
                let f = self.flat_index(out_layout, r)?;
                let values = (0..groups)
                    .map(|w| {
                        let slot = self.builder.build_int_add(f, self.i32(w * outputs), "")?;
                        self.aligned_load(
                            self.reg_type(from.dtype),
                            self.shared_element(base, from.dtype, slot)?,
                            size as u32,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.combine_all(op, from.dtype, values)
            })
            .collect()
    }

    /// Combines `values` pairwise as a balanced tree: shorter dependency chains than a
    /// left fold, and every thread that combines the same values gets the same bits.
    fn combine_all(
        &self,
        op: ReduceOp,
        dtype: DType,
        mut values: Vec<BasicValueEnum<'ctx>>,
    ) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        while values.len() > 1 {
            values = values
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => self.combine(op, dtype, *a, *b),
                    [a] => Ok(*a),
                    _ => Err(CodegenError::Llvm("empty pair in a reduction tree".into())),
                })
                .collect::<Result<_, _>>()?;
        }
        values.pop().ok_or_else(|| CodegenError::InvalidIr("reduction over no elements".into()))
    }

    pub(super) fn combine(
        &self,
        op: ReduceOp,
        dtype: DType,
        a: BasicValueEnum<'ctx>,
        b: BasicValueEnum<'ctx>,
    ) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let builder = &self.builder;
        let overload = [a.get_type()];
        Ok(match (dtype, op) {
            (DType::F32, ReduceOp::Sum) => builder.build_float_add(as_float(a)?, as_float(b)?, "")?.into(),
            (DType::F32, ReduceOp::Max) => self.intrinsic_value("llvm.maxnum", &overload, &[a.into(), b.into()])?,
            (DType::F32, ReduceOp::Min) => self.intrinsic_value("llvm.minnum", &overload, &[a.into(), b.into()])?,
            (_, ReduceOp::Sum) => builder.build_int_add(as_int(a)?, as_int(b)?, "")?.into(),
            (_, ReduceOp::Max) => self.intrinsic_value("llvm.smax", &overload, &[a.into(), b.into()])?,
            (_, ReduceOp::Min) => self.intrinsic_value("llvm.smin", &overload, &[a.into(), b.into()])?,
        })
    }

    /// The value lane `lane ^ mask` holds.
    pub(super) fn shuffle_xor(&self, v: BasicValueEnum<'ctx>, mask: u64) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let name = match v {
            BasicValueEnum::FloatValue(_) => "llvm.nvvm.shfl.sync.bfly.f32",
            _ => "llvm.nvvm.shfl.sync.bfly.i32",
        };
        let args = [self.i32(FULL_MASK).into(), v.into(), self.i32(mask).into(), self.i32(SEGMENT_CLAMP).into()];
        self.intrinsic_value(name, &[], &args)
    }
}
