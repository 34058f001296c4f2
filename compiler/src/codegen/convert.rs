//! Reshaping ops and moves between layouts: `expand_dims` and `broadcast` (register
//! renumbering in the layout their use asks for), and, through shared memory, `trans`,
//! layout conversions, and a gather load's index tile spread to the shape it loads.
//!
//! One helper moves data ([`Lowerer::exchange`]): every element is written once, by the
//! thread that owns it, at its flat index; after a barrier each thread reads the
//! elements its result registers need, through an index map.

use inkwell::values::{BasicValueEnum, IntValue, PointerValue};

use super::context::{Lowerer, Regs};
use super::layout::Layout;
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
    /// `expand_dims` keeps the flat element order, so the value in the same layout is the result.
    pub fn expand_dims(
        &mut self,
        value: ValueId,
        axis: u32,
        result: ValueId,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let (from, to) = (self.ty(value)?, self.ty(result)?);
        let mut expected = from.shape.clone();
        if axis as usize > expected.len() {
            return Err(CodegenError::InvalidIr(format!("expand_dims axis {axis} of {from}")));
        }
        expected.insert(axis as usize, 1);
        if *to != Type::tile(from.dtype, expected) {
            return Err(CodegenError::InvalidIr(format!("expand_dims at axis {axis} cannot turn {from} into {to}")));
        }
        self.get_in(value, layout)
    }

    /// A broadcast in `layout` reads its source in `layout` minus the repeated axes'
    /// flat bits: every register then finds its element in its own thread.
    pub fn broadcast(&mut self, value: ValueId, result: ValueId, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        let (from, to) = (self.ty(value)?, self.ty(result)?);
        let compatible = from.rank() == to.rank()
            && from.dtype == to.dtype
            && from.shape.iter().zip(&to.shape).all(|(&f, &t)| f == t || f == 1);
        if !compatible {
            return Err(CodegenError::InvalidIr(format!("broadcast cannot turn {from} into {to}")));
        }
        // The repeated axes' flat-bit ranges, highest first so that removing one keeps
        // the positions of the next.
        let mut lo = 0;
        let mut repeated = Vec::new();
        for (&f, &t) in from.shape.iter().zip(&to.shape).rev() {
            let width = t.trailing_zeros();
            if f != t {
                repeated.push((lo, width));
            }
            lo += width;
        }
        repeated.reverse();
        let mut source = layout.clone();
        let mut register_of: Vec<usize> = (0..layout.regs()).collect();
        for &(lo, width) in &repeated {
            for r in register_of.iter_mut() {
                *r = source.register_without_bits(*r, lo, width);
            }
            source = source.without_bits(lo, width);
        }
        let regs = self.get_in(value, &source)?;
        register_of
            .iter()
            .map(|&r| regs.get(r).copied().ok_or_else(|| CodegenError::InvalidIr(format!("broadcast register {r}"))))
            .collect()
    }

    pub fn trans(&mut self, value: ValueId, result: ValueId, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        let (from, to) = (self.ty(value)?, self.ty(result)?);
        let &[rows, cols] = from.shape.as_slice() else {
            return Err(CodegenError::InvalidIr(format!("trans of {from}; it takes a rank-2 tile")));
        };
        if *to != Type::tile(from.dtype, vec![cols, rows]) {
            return Err(CodegenError::InvalidIr(format!("trans cannot turn {from} into {to}")));
        }
        let src = self.layout_of(value)?;
        let regs = self.get(value)?;
        self.exchange("trans", &regs, from, &src, layout, &IndexMap::transpose(rows, cols))
    }

    /// The i32 index tile `value` (`[L]`) spread over a tile of `shape` in `layout`, one
    /// register per register of that tile: element `f` gets `value[(f >> lo) mod L]`,
    /// the position along the axis that flat bits `lo..lo + log2 L` index.
    pub fn spread_index(
        &mut self,
        value: ValueId,
        shape: &[u32],
        lo: u32,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let from = self.ty(value)?;
        let (&[len], DType::I32) = (from.shape.as_slice(), from.dtype) else {
            return Err(CodegenError::InvalidIr(format!("gather index {value} is {from}; it must be i32 of rank 1")));
        };
        let elements: u32 = shape.iter().map(|d| d.trailing_zeros()).sum();
        let map = IndexMap::spread(len, elements, lo);
        if map.is_identity() {
            return self.get_in(value, layout);
        }
        let src = self.layout_of(value)?;
        let regs = self.get(value)?;
        self.exchange("gather", &regs, from, &src, layout, &map)
    }

    /// `regs`, a `ty` in layout `from`, moved to layout `to` through shared memory.
    pub fn convert_layout(
        &mut self,
        regs: &Regs<'ctx>,
        ty: &Type,
        from: &Layout,
        to: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        self.exchange("convert_layout", regs, ty, from, to, &IndexMap::identity(from.element_bits()))
    }

    /// Writes `regs` (of type `from`, in layout `src`) to shared memory and reads back,
    /// in layout `dst`, the tile whose element `f` is the source element `map(f)`.
    fn exchange(
        &mut self,
        op: &str,
        regs: &Regs<'ctx>,
        from: &Type,
        src: &Layout,
        dst: &Layout,
        map: &IndexMap,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let dtype = from.dtype;
        let base =
            self.shared.reserve(self.context, self.module, op, from.num_elements() * dtype.size_bytes() as u64)?;

        // The previous user of the buffer may still be reading it.
        self.barrier()?;
        self.when(self.is_owner(src)?, |this| {
            for (slot, chunk) in regs.chunks(src.vec()).enumerate() {
                let first = this.flat_index(src, slot * src.vec())?;
                let stored = chunk.iter().map(|&r| this.stored(dtype, r)).collect::<Result<Vec<_>, _>>()?;
                this.store_shared_run(base, dtype, first, &stored)?;
            }
            Ok(())
        })?;
        self.barrier()?;

        let mut out = Vec::with_capacity(dst.regs());
        if map.is_identity() {
            for slot in 0..dst.slots() {
                let first = self.flat_index(dst, slot * dst.vec())?;
                for v in self.load_shared_run(base, dtype, first, dst.vec())? {
                    out.push(self.loaded(dtype, v)?);
                }
            }
        } else {
            for r in 0..dst.regs() {
                let source = self.map_index(map, self.flat_index(dst, r)?)?;
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
}
