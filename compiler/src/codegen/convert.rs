//! Moving tile elements between threads through shared memory: `broadcast`, `trans`,
//! `expand_dims` when the new shape's layout differs from the old one, and a gather
//! load's index tile spread to the shape of the tile it loads.
//!
//! One helper does both ([`Lowerer::exchange`]): every element is written once, by the
//! thread that owns it, at its flat index; after a barrier each thread reads the
//! elements its result registers need. A broadcast differs from a relayout only in the
//! read side's index map.

use inkwell::values::{BasicValueEnum, IntValue, PointerValue};

use super::context::{Lowerer, Regs};
use super::CodegenError;
use crate::ir::{DType, Type, ValueId};

/// Which source element a destination element reads, both as flat indices. With every
/// dimension a power of two, each map the ops need is a sum of bit fields:
/// `src = Σ ((dst >> dst_lo) & (2^width - 1)) << src_lo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IndexMap {
    /// log2 of the destination's element count.
    dst_bits: u32,
    fields: Vec<BitField>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BitField {
    dst_lo: u32,
    width: u32,
    src_lo: u32,
}

impl IndexMap {
    /// Same flat index on both sides (a reshape that keeps the element order).
    pub fn identity(element_bits: u32) -> IndexMap {
        IndexMap { dst_bits: element_bits, fields: vec![BitField { dst_lo: 0, width: element_bits, src_lo: 0 }] }
    }

    /// Repeats the size-1 dimensions of `from` to the sizes of `to` (equal rank).
    pub fn broadcast(from: &[u32], to: &[u32]) -> IndexMap {
        let (mut dst_lo, mut src_lo) = (0, 0);
        let mut fields: Vec<BitField> = Vec::new();
        for (&f, &t) in from.iter().zip(to).rev() {
            if f == t && f > 1 {
                let width = f.trailing_zeros();
                match fields.last_mut() {
                    // Adjacent on both sides: one wider field (so no-op broadcasts are the identity).
                    Some(last) if last.dst_lo + last.width == dst_lo && last.src_lo + last.width == src_lo => {
                        last.width += width
                    }
                    _ => fields.push(BitField { dst_lo, width, src_lo }),
                }
            }
            dst_lo += t.trailing_zeros();
            src_lo += f.trailing_zeros();
        }
        IndexMap { dst_bits: dst_lo, fields }
    }

    /// `[rows, cols]` → `[cols, rows]`: destination `(i, j)` reads source `(j, i)`, so
    /// the destination's low log2(rows) bits are the source's high (row) bits and
    /// the rest are the source's low (column) bits.
    pub fn transpose(rows: u32, cols: u32) -> IndexMap {
        let (r, c) = (rows.trailing_zeros(), cols.trailing_zeros());
        let fields = vec![BitField { dst_lo: 0, width: r, src_lo: c }, BitField { dst_lo: r, width: c, src_lo: 0 }];
        IndexMap { dst_bits: r + c, fields }
    }

    /// A tile of `len` elements read along one axis of a tile of `2^dst_bits` elements,
    /// whose flat index holds that axis in bits `lo..lo + log2(len)`.
    pub fn spread(len: u32, dst_bits: u32, lo: u32) -> IndexMap {
        IndexMap { dst_bits, fields: vec![BitField { dst_lo: lo, width: len.trailing_zeros(), src_lo: 0 }] }
    }

    fn is_identity(&self) -> bool {
        self.dst_bits == 0 || self.fields == [BitField { dst_lo: 0, width: self.dst_bits, src_lo: 0 }]
    }
}

impl<'ctx> Lowerer<'_, 'ctx> {
    /// `expand_dims` keeps the flat element order, so it is free unless the layout moves.
    pub fn expand_dims(&mut self, value: ValueId, axis: u32, result: ValueId) -> Result<Regs<'ctx>, CodegenError> {
        let (from, to) = (self.ty(value)?, self.ty(result)?);
        let mut expected = from.shape.clone();
        if axis as usize > expected.len() {
            return Err(CodegenError::InvalidIr(format!("expand_dims axis {axis} of {from}")));
        }
        expected.insert(axis as usize, 1);
        if *to != Type::tile(from.dtype, expected) {
            return Err(CodegenError::InvalidIr(format!("expand_dims at axis {axis} cannot turn {from} into {to}")));
        }
        let map = IndexMap::identity(self.layout(from)?.element_bits());
        self.relayout("expand_dims", value, result, &map)
    }

    pub fn broadcast(&mut self, value: ValueId, result: ValueId) -> Result<Regs<'ctx>, CodegenError> {
        let (from, to) = (self.ty(value)?, self.ty(result)?);
        let compatible = from.rank() == to.rank()
            && from.dtype == to.dtype
            && from.shape.iter().zip(&to.shape).all(|(&f, &t)| f == t || f == 1);
        if !compatible {
            return Err(CodegenError::InvalidIr(format!("broadcast cannot turn {from} into {to}")));
        }
        let map = IndexMap::broadcast(&from.shape, &to.shape);
        self.relayout("broadcast", value, result, &map)
    }

    pub fn trans(&mut self, value: ValueId, result: ValueId) -> Result<Regs<'ctx>, CodegenError> {
        let (from, to) = (self.ty(value)?, self.ty(result)?);
        let &[rows, cols] = from.shape.as_slice() else {
            return Err(CodegenError::InvalidIr(format!("trans of {from}; it takes a rank-2 tile")));
        };
        if *to != Type::tile(from.dtype, vec![cols, rows]) {
            return Err(CodegenError::InvalidIr(format!("trans cannot turn {from} into {to}")));
        }
        self.relayout("trans", value, result, &IndexMap::transpose(rows, cols))
    }

    /// The i32 index tile `value` (`[L]`) spread over a tile of `shape`, one register
    /// per register of that tile: element `f` gets `value[(f >> lo) mod L]`, the position
    /// along the axis that flat bits `lo..lo + log2 L` index.
    pub fn spread_index(&mut self, value: ValueId, shape: &[u32], lo: u32) -> Result<Regs<'ctx>, CodegenError> {
        let from = self.ty(value)?;
        let (&[len], DType::I32) = (from.shape.as_slice(), from.dtype) else {
            return Err(CodegenError::InvalidIr(format!("gather index {value} is {from}; it must be i32 of rank 1")));
        };
        let to = Type::tile(DType::I32, shape.to_vec());
        let map = IndexMap::spread(len, self.layout(&to)?.element_bits(), lo);
        let regs = self.get(value)?.clone();
        if map.is_identity() && self.layout(from)? == self.layout(&to)? {
            return Ok(regs);
        }
        self.exchange("gather", &regs, from, &to, &map)
    }

    fn relayout(
        &mut self,
        op: &str,
        value: ValueId,
        result: ValueId,
        map: &IndexMap,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let (from, to) = (self.ty(value)?, self.ty(result)?);
        let regs = self.get(value)?.clone();
        if map.is_identity() && self.layout(from)? == self.layout(to)? {
            return Ok(regs);
        }
        self.exchange(op, &regs, from, to, map)
    }

    /// Writes `regs` (of type `from`) to shared memory and reads back a value of type
    /// `to` whose element `f` is the source element `map(f)`.
    fn exchange(
        &mut self,
        op: &str,
        regs: &Regs<'ctx>,
        from: &Type,
        to: &Type,
        map: &IndexMap,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let (src, dst) = (self.layout(from)?, self.layout(to)?);
        let dtype = from.dtype;
        let base =
            self.shared.reserve(self.context, self.module, op, from.num_elements() * dtype.size_bytes() as u64)?;

        // The previous user of the buffer may still be reading it.
        self.barrier()?;
        self.when(self.is_owner(&src)?, |this| {
            for (slot, chunk) in regs.chunks(src.vec()).enumerate() {
                let first = this.flat_index(&src, slot * src.vec())?;
                let stored = chunk.iter().map(|&r| this.stored(dtype, r)).collect::<Result<Vec<_>, _>>()?;
                this.store_shared_run(base, dtype, first, &stored)?;
            }
            Ok(())
        })?;
        self.barrier()?;

        let mut out = Vec::with_capacity(dst.regs());
        if map.is_identity() {
            for slot in 0..dst.slots() {
                let first = self.flat_index(&dst, slot * dst.vec())?;
                for v in self.load_shared_run(base, dtype, first, dst.vec())? {
                    out.push(self.loaded(dtype, v)?);
                }
            }
        } else {
            for r in 0..dst.regs() {
                let source = self.map_index(map, self.flat_index(&dst, r)?)?;
                let v = self.aligned_load(
                    self.mem_type(dtype),
                    self.shared_element(base, dtype, source)?,
                    element_align(dtype),
                )?;
                out.push(self.loaded(dtype, v)?);
            }
        }
        Ok(out)
    }

    /// Stores `values` (memory form) at elements `first..` of a shared array, as one vector.
    pub fn store_shared_run(
        &self,
        base: PointerValue<'ctx>,
        dtype: DType,
        first: IntValue<'ctx>,
        values: &[BasicValueEnum<'ctx>],
    ) -> Result<(), CodegenError> {
        let ptr = self.shared_element(base, dtype, first)?;
        match values {
            [one] => self.aligned_store(ptr, *one, element_align(dtype)),
            _ => {
                let packed = self.pack(self.mem_vector(dtype, values.len()), values)?;
                self.aligned_store(ptr, packed, run_align(dtype, values.len()))
            }
        }
    }

    /// Loads `len` elements (memory form) at `first..` of a shared array, as one vector.
    pub fn load_shared_run(
        &self,
        base: PointerValue<'ctx>,
        dtype: DType,
        first: IntValue<'ctx>,
        len: usize,
    ) -> Result<Vec<BasicValueEnum<'ctx>>, CodegenError> {
        let ptr = self.shared_element(base, dtype, first)?;
        if len == 1 {
            return Ok(vec![self.aligned_load(self.mem_type(dtype), ptr, element_align(dtype))?]);
        }
        let v = self.aligned_load(self.mem_vector(dtype, len), ptr, run_align(dtype, len))?;
        self.unpack(v.into_vector_value())
    }

    fn map_index(&self, map: &IndexMap, dst: IntValue<'ctx>) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &self.builder;
        let mut src = self.i32(0);
        for f in &map.fields {
            let shifted = b.build_right_shift(dst, self.i32(u64::from(f.dst_lo)), false, "")?;
            let field = b.build_and(shifted, self.i32((1u64 << f.width) - 1), "")?;
            src = b.build_or(src, b.build_left_shift(field, self.i32(u64::from(f.src_lo)), "")?, "")?;
        }
        Ok(src)
    }
}

pub(super) fn element_align(dtype: DType) -> u32 {
    dtype.size_bytes() as u32
}

/// Alignment of `len` contiguous elements that start at a multiple of `len`: the run's
/// size, capped at the 16 bytes of the widest access.
pub(super) fn run_align(dtype: DType, len: usize) -> u32 {
    (len * dtype.size_bytes()).min(16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_of_a_column_reads_the_row_bits() {
        // [8, 1] -> [8, 4]: destination bits 2..5 are the row, which is source bits 0..3.
        let expected = vec![BitField { dst_lo: 2, width: 3, src_lo: 0 }];
        assert_eq!(IndexMap::broadcast(&[8, 1], &[8, 4]).fields, expected);
    }

    #[test]
    fn broadcast_of_a_row_reads_the_column_bits() {
        let expected = vec![BitField { dst_lo: 0, width: 2, src_lo: 0 }];
        assert_eq!(IndexMap::broadcast(&[1, 4], &[8, 4]).fields, expected);
    }

    #[test]
    fn broadcast_of_one_element_reads_element_zero() {
        assert_eq!(IndexMap::broadcast(&[1, 1], &[8, 4]).fields, vec![]);
    }

    #[test]
    fn broadcast_of_a_row_is_not_the_identity() {
        assert!(!IndexMap::broadcast(&[1, 4], &[8, 4]).is_identity());
    }

    #[test]
    fn broadcast_to_the_same_shape_is_the_identity() {
        assert!(IndexMap::broadcast(&[8, 4], &[8, 4]).is_identity());
    }

    #[test]
    fn transpose_swaps_the_row_and_column_bit_fields() {
        // [4, 8] -> [8, 4]: destination bits 0..2 (the source row) are source bits 3..5.
        let expected = vec![BitField { dst_lo: 0, width: 2, src_lo: 3 }, BitField { dst_lo: 2, width: 3, src_lo: 0 }];
        assert_eq!(IndexMap::transpose(4, 8).fields, expected);
    }

    #[test]
    fn spread_along_the_rows_reads_the_row_bits() {
        // [4] over [4, 8]: destination bits 3..5 (the row) are the index's bits 0..2.
        assert_eq!(IndexMap::spread(4, 5, 3).fields, vec![BitField { dst_lo: 3, width: 2, src_lo: 0 }]);
    }

    #[test]
    fn spread_over_its_own_shape_is_the_identity() {
        assert!(IndexMap::spread(16, 4, 0).is_identity());
    }

    #[test]
    fn broadcast_inside_a_row_is_not_the_identity() {
        assert!(!IndexMap::broadcast(&[8, 1, 4], &[8, 2, 4]).is_identity());
    }
}
