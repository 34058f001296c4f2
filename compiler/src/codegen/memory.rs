//! Masked tile loads and stores on strided global tensors.
//!
//! Element `(i_0, .., i_{n-1})` of a tensor is at `base + Σ i_d * stride_d` (64-bit
//! math, strides in elements) and exists iff every `i_d` is in `[0, size_d)`; the
//! unsigned compare `i_d <u size_d` checks both ends at once.
//!
//! A thread's chunk is VEC consecutive tile elements along the tile's last dimension
//! (see [`super::layout`]). When that dimension's tensor stride is 1 at run time and
//! every chunk of the thread is wholly in bounds and aligned, the chunks move as 16-byte
//! (or smaller) vector accesses; otherwise each element is accessed alone under its
//! own mask, so a masked-off element is never touched. Masked-off loads read 0.
//!
//! A gather index (`Index::Gather`) is first spread to the result's layout through
//! shared memory, so each thread holds the position of every element it loads. Along
//! any tile axis but the last, a chunk shares one position and the vector path still
//! applies (`k[cols, 0 .. 128]` loads each gathered row in 16-byte pieces); a gather
//! along the last axis makes every element its own chunk. A gathered load's vector path
//! also takes chunks wholly outside along the other dimensions (a row at -1), each
//! vector then loaded under its chunk's mask by a predicated `ld.global`, so that the
//! masked rows of a partial step do not send the whole thread to the element path.
//!
//! Two details keep the vector path as fast as if the element path did not exist (the
//! benchmark kernels measured 59% → 85% of copy bandwidth on an H200 with them):
//! one decision per thread rather than per chunk, with the merge on the raw access words,
//! so all vector loads issue before anything waits for one; and element masks written as
//! `j <u room` (see [`Chunk::room`]), which keeps LLVM from hoisting per-element indices
//! out of the element path into registers that stay live across the vector path.

use inkwell::types::BasicTypeEnum;
use inkwell::values::{BasicValueEnum, IntValue, PointerValue};
use inkwell::IntPredicate;

use super::context::{Lowerer, ParamValue, Regs};
use super::convert::element_align;
use super::layout::Layout;
use super::CodegenError;
use crate::ir::{DType, Index, ParamId, Type, ValueId};

/// Widest single access: `ld.global.v4.b32`.
const MAX_ACCESS_BYTES: usize = 16;

/// One tensor dimension of an access, resolved to registers.
struct Dim<'ctx> {
    index: DimIndex<'ctx>,
    size: IntValue<'ctx>,
    stride: IntValue<'ctx>,
}

enum DimIndex<'ctx> {
    Point(IntValue<'ctx>),
    /// `start + i`, `i` the tile index along this range's tile axis: bits `lo..lo+width` of the flat index.
    Range {
        start: IntValue<'ctx>,
        lo: u32,
        width: u32,
    },
    /// The position of each of this thread's elements: one i32 per register of the tile.
    Gather(Regs<'ctx>),
}

/// Where one chunk of a tile lives in the tensor.
pub(super) struct Chunk<'ctx> {
    /// Element offset of the chunk's first element from the base.
    pub offset: IntValue<'ctx>,
    /// All dimensions except the one the chunk runs along are in bounds (and this thread may access).
    others_ok: IntValue<'ctx>,
    /// How many elements from the chunk's first, along its dimension (the last
    /// `Range`), lie inside the tensor: 0 when the first does not. `None` without a `Range`.
    /// Element `j` is checked as `j <u room`, not `first + j <u size`: LLVM would share
    /// `first + j` with an `arange` mask and keep one such index per element live.
    room: Option<IntValue<'ctx>>,
}

pub(super) struct Access<'ctx> {
    base: PointerValue<'ctx>,
    dtype: DType,
    dims: Vec<Dim<'ctx>>,
    /// The tensor dimension of the tile's last axis when that is a `Range`: chunks run
    /// along it. `None` when the tile has no axis or its last one is a gather.
    run_dim: Option<usize>,
    /// The tensor's `aligned` contract holds ([`crate::ir::Param::Tensor`]).
    aligned: bool,
    /// The start of the run dimension's range, and the power of two it is known to be a
    /// multiple of ([`super::divisibility`]).
    run_start: Option<(IntValue<'ctx>, u64)>,
}

impl Access<'_> {
    /// Registers per chunk: a layout chunk, or single elements without a run dimension.
    pub(super) fn chunk_len(&self, layout: &Layout) -> usize {
        if self.run_dim.is_some() {
            layout.vec()
        } else {
            1
        }
    }
}

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn tensor(
        &self,
        tensor: ParamId,
    ) -> Result<(PointerValue<'ctx>, &[IntValue<'ctx>], &[IntValue<'ctx>]), CodegenError> {
        match self.params.get(tensor.0 as usize) {
            Some(ParamValue::Tensor { base, sizes, strides, .. }) => Ok((*base, sizes, strides)),
            _ => Err(CodegenError::InvalidIr(format!("parameter {} is used as a tensor but is not one", tensor.0))),
        }
    }

    /// Whether tensor parameter `tensor` is specialized on the `aligned` contract.
    fn is_aligned_param(&self, tensor: ParamId) -> bool {
        matches!(self.params.get(tensor.0 as usize), Some(ParamValue::Tensor { aligned: true, .. }))
    }

    pub fn load(
        &mut self,
        tensor: ParamId,
        indices: &[Index],
        result: ValueId,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let ty = self.ty(result)?;
        let access = self.access(tensor, indices, ty, layout)?;
        self.load_access(&access, layout)
    }

    /// The tile `access` describes, in `layout`.
    pub(super) fn load_access(&mut self, access: &Access<'ctx>, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        let vec = access.chunk_len(layout);
        let chunks = (0..layout.regs())
            .step_by(vec)
            .map(|reg| self.chunk(access, layout, reg))
            .collect::<Result<Vec<_>, _>>()?;
        // A gathered row at -1 (or past the tensor) is a whole chunk outside: the vector
        // path still takes such chunks, each load under its chunk's mask, so that one
        // masked row does not send every row of the thread down the element path.
        let gathered = access.dims.iter().any(|d| matches!(d.index, DimIndex::Gather(_)));
        let Some((fast, align)) = self.fast_path_with(access, &chunks, vec, gathered)? else {
            let mut out = Vec::with_capacity(layout.regs());
            for chunk in &chunks {
                for v in self.load_elements(access, chunk, vec)? {
                    out.push(self.loaded(access.dtype, v)?);
                }
            }
            return Ok(out);
        };
        // Both branches yield the raw access words; they are split into elements only
        // after the merge, so the vector branch issues all its loads without waiting.
        let per_access = align as usize / access.dtype.size_bytes();
        let words = self.access_type(align);
        let types = vec![words; chunks.len() * (vec / per_access)];
        let raw = self.branch_values(
            fast,
            &types,
            |this| {
                let mut out = Vec::with_capacity(types.len());
                for chunk in &chunks {
                    for piece in (0..vec).step_by(per_access) {
                        let at = this.piece_ptr(access, chunk.offset, piece)?;
                        out.push(if gathered {
                            this.masked_vector_load(words, at, align, chunk.others_ok)?
                        } else {
                            this.aligned_load(words, at, align)?
                        });
                    }
                }
                Ok(out)
            },
            |this| {
                let mut out = Vec::with_capacity(types.len());
                for chunk in &chunks {
                    for part in this.load_elements(access, chunk, vec)?.chunks(per_access) {
                        let packed = this.pack(this.mem_vector(access.dtype, per_access), part)?;
                        out.push(this.builder.build_bit_cast(packed, words, "")?);
                    }
                }
                Ok(out)
            },
        )?;
        let mut out = Vec::with_capacity(layout.regs());
        for word in raw {
            let elements = self.builder.build_bit_cast(word, self.mem_vector(access.dtype, per_access), "")?;
            for v in self.unpack(elements.into_vector_value())? {
                out.push(self.loaded(access.dtype, v)?);
            }
        }
        Ok(out)
    }

    pub fn store(&mut self, tensor: ParamId, indices: &[Index], value: ValueId) -> Result<(), CodegenError> {
        let ty = self.ty(value)?;
        // A layout of short chunks (an mma accumulator's column pairs) would make every
        // thread test and address dozens of chunks at once; the blocked layout's 16-byte
        // chunks cost one trip through shared memory, once per tile.
        let own = self.layout_of(value)?;
        let blocked = self.blocked(ty)?;
        let layout = if own.vec() < blocked.vec() { blocked } else { own };
        let access = self.access(tensor, indices, ty, &layout)?;
        let vec = access.chunk_len(&layout);
        let owner = self.is_owner(&layout)?;
        let mut chunks = Vec::with_capacity(layout.slots());
        for reg in (0..layout.regs()).step_by(vec) {
            let mut chunk = self.chunk(&access, &layout, reg)?;
            // Replicas hold the same values as their owner; only the owner writes.
            chunk.others_ok = self.builder.build_and(chunk.others_ok, owner, "")?;
            chunks.push(chunk);
        }
        let stored = self
            .get_in(value, &layout)?
            .iter()
            .map(|&v| self.stored(access.dtype, v))
            .collect::<Result<Vec<_>, _>>()?;
        let slow = |this: &Self| -> Result<Regs<'ctx>, CodegenError> {
            for (chunk, values) in chunks.iter().zip(stored.chunks(vec)) {
                this.store_elements(&access, chunk, values)?;
            }
            Ok(Vec::new())
        };
        match self.fast_path(&access, &chunks, vec)? {
            Some((fast, align)) => {
                let vectors = |this: &Self| -> Result<Regs<'ctx>, CodegenError> {
                    for (chunk, values) in chunks.iter().zip(stored.chunks(vec)) {
                        this.store_vector(&access, chunk.offset, values, align)?;
                    }
                    Ok(Vec::new())
                };
                self.branch_values(fast, &[], vectors, slow)?;
            }
            None => {
                slow(self)?;
            }
        }
        Ok(())
    }

    /// Resolves `indices` on `tensor` for a tile of type `ty`, checking they agree.
    fn access(
        &mut self,
        tensor: ParamId,
        indices: &[Index],
        ty: &Type,
        layout: &Layout,
    ) -> Result<Access<'ctx>, CodegenError> {
        self.access_at(tensor, indices, ty, layout, &mut |this, v| this.scalar_i32(v))
    }

    /// [`Lowerer::access`] with the scalar index values (points and range starts) given
    /// by `scalar`, e.g. evaluated for the next iteration of a loop.
    pub(super) fn access_at(
        &mut self,
        tensor: ParamId,
        indices: &[Index],
        ty: &Type,
        layout: &Layout,
        scalar: &mut dyn FnMut(&mut Self, ValueId) -> Result<IntValue<'ctx>, CodegenError>,
    ) -> Result<Access<'ctx>, CodegenError> {
        let (base, sizes, strides) = self.tensor(tensor)?;
        // Owned copies: spreading a gather index below needs `self` mutably.
        let (sizes, strides) = (sizes.to_vec(), strides.to_vec());
        let dtype = self.kernel.param(tensor).dtype();
        if indices.len() != sizes.len() {
            return Err(CodegenError::InvalidIr(format!(
                "{} indices on a rank-{} tensor parameter",
                indices.len(),
                sizes.len()
            )));
        }
        let lens = self.kernel.access_shape(indices);
        if *ty != Type::tile(dtype, lens.clone()) {
            return Err(CodegenError::InvalidIr(format!(
                "an access of {dtype} ranges {lens:?} moves a {}, not a {ty}",
                Type::tile(dtype, lens.clone())
            )));
        }
        // Tile axis k's index is bits lo..lo+width of the flat index, lo = Σ log2(later lens).
        let mut lo = lens.iter().map(|l| l.trailing_zeros()).sum::<u32>();
        let mut dims = Vec::with_capacity(indices.len());
        let mut run_dim = None;
        let mut run_start = None;
        for (d, index) in indices.iter().enumerate() {
            let index = match index {
                Index::Point(v) => DimIndex::Point(scalar(self, *v)?),
                Index::Range { start, len } => {
                    let width = len.trailing_zeros();
                    lo -= width;
                    run_dim = Some(d);
                    let at = scalar(self, *start)?;
                    run_start = Some((at, super::divisibility::multiple_of(&self.multiples, *start)));
                    DimIndex::Range { start: at, lo, width }
                }
                Index::Gather(v) => {
                    let positions = self.ty(*v)?;
                    let &[len] = positions.shape.as_slice() else {
                        return Err(CodegenError::InvalidIr(format!("gather index {v} is {positions}, not rank 1")));
                    };
                    lo -= len.trailing_zeros();
                    run_dim = None;
                    run_start = None;
                    DimIndex::Gather(self.spread_index(*v, &lens, lo, layout)?)
                }
            };
            dims.push(Dim { index, size: sizes[d], stride: strides[d] });
        }
        Ok(Access { base, dtype, dims, run_dim, aligned: self.is_aligned_param(tensor), run_start })
    }

    /// Offset and masks of the chunk that starts at register `reg` of `layout` in this thread.
    pub(super) fn chunk(
        &self,
        access: &Access<'ctx>,
        layout: &Layout,
        reg: usize,
    ) -> Result<Chunk<'ctx>, CodegenError> {
        let b = &self.builder;
        let flat = self.flat_index(layout, reg)?;
        let mut offset = self.i64(0);
        let mut others_ok = self.bool(true);
        let mut room = None;
        for (d, dim) in access.dims.iter().enumerate() {
            let index = match dim.index {
                DimIndex::Point(p) => p,
                DimIndex::Gather(ref positions) => match positions.get(reg) {
                    Some(p) => p.into_int_value(),
                    None => return Err(CodegenError::InvalidIr(format!("gather has no position for register {reg}"))),
                },
                DimIndex::Range { start, lo, width } => {
                    let shifted = b.build_right_shift(flat, self.i32(u64::from(lo)), false, "")?;
                    let within = b.build_and(shifted, self.i32((1u64 << width) - 1), "")?;
                    b.build_int_add(start, within, "")?
                }
            };
            let wide = b.build_int_s_extend(index, self.context.i64_type(), "")?;
            offset = b.build_int_add(offset, b.build_int_mul(wide, dim.stride, "")?, "")?;
            if Some(d) == access.run_dim {
                let inside = b.build_int_compare(IntPredicate::ULT, index, dim.size, "")?;
                let left = b.build_int_sub(dim.size, index, "")?;
                room = Some(b.build_select(inside, left, self.i32(0), "room")?.into_int_value());
            } else {
                let ok = b.build_int_compare(IntPredicate::ULT, index, dim.size, "")?;
                others_ok = b.build_and(others_ok, ok, "")?;
            }
        }
        Ok(Chunk { offset, others_ok, room })
    }

    /// The run-time test for moving all of this thread's chunks as vectors, and the
    /// vectors' alignment; `None` when chunks are single elements. One test for all
    /// chunks lets the vector branch issue every chunk's loads before anything waits for
    /// one; a test per chunk made each chunk's load wait at its merge before the next.
    pub(super) fn fast_path(
        &self,
        access: &Access<'ctx>,
        chunks: &[Chunk<'ctx>],
        vec: usize,
    ) -> Result<Option<(IntValue<'ctx>, u32)>, CodegenError> {
        self.fast_path_with(access, chunks, vec, false)
    }

    /// [`Lowerer::fast_path`], where with `chunks_may_be_out` a chunk wholly outside
    /// along the other dimensions (`others_ok` false) also passes: the vector path then
    /// loads each chunk under that mask ([`Lowerer::masked_vector_load`]).
    fn fast_path_with(
        &self,
        access: &Access<'ctx>,
        chunks: &[Chunk<'ctx>],
        vec: usize,
        chunks_may_be_out: bool,
    ) -> Result<Option<(IntValue<'ctx>, u32)>, CodegenError> {
        let Some(d) = access.run_dim.filter(|_| vec > 1) else {
            return Ok(None);
        };
        let b = &self.builder;
        let dim = &access.dims[d];
        let align = access_bytes(access.dtype, vec) as u32;
        let aligned_start = self.aligned_start(access, align)?;
        let mut fast = match aligned_start {
            Some(start_ok) => start_ok,
            None => b.build_int_compare(IntPredicate::EQ, dim.stride, self.i64(1), "")?,
        };
        for chunk in chunks {
            let Some(room) = chunk.room else {
                return Ok(None);
            };
            let mut ok = b.build_int_compare(IntPredicate::UGE, room, self.i32(vec as u64), "")?;
            ok = b.build_and(ok, chunk.others_ok, "")?;
            if aligned_start.is_none() {
                ok = b.build_and(ok, self.is_aligned(self.element_ptr(access, chunk.offset)?, align)?, "")?;
            }
            if chunks_may_be_out {
                ok = b.build_or(ok, b.build_not(chunk.others_ok, "")?, "")?;
            }
            fast = b.build_and(fast, ok, "")?;
        }
        Ok(Some((fast, align)))
    }

    /// For an access to an `aligned` tensor, whether its chunks are `align`-byte aligned:
    /// the contract aligns every term of an address but the run dimension's start, so one
    /// test of that start covers every chunk, and none is needed where the start is a
    /// known multiple of `align` bytes. `None` without the contract.
    pub(super) fn aligned_start(
        &self,
        access: &Access<'ctx>,
        align: u32,
    ) -> Result<Option<IntValue<'ctx>>, CodegenError> {
        // Chunks along another dimension than the last are not contiguous, contract or not.
        let runs_along_last = access.run_dim.is_some_and(|d| d + 1 == access.dims.len());
        let (true, true, Some((start, _))) = (access.aligned, runs_along_last, access.run_start) else {
            return Ok(None);
        };
        if self.statically_aligned(access, align) {
            return Ok(Some(self.bool(true)));
        }
        let elements = (u64::from(align) / access.dtype.size_bytes() as u64).max(1);
        let b = &self.builder;
        let low = b.build_and(start, self.i32(elements - 1), "")?;
        Ok(Some(b.build_int_compare(IntPredicate::EQ, low, self.i32(0), "")?))
    }

    /// Whether every chunk of `access` is `align`-byte aligned by the `aligned` contract
    /// and the known multiples alone, with nothing to test at run time.
    pub(super) fn statically_aligned(&self, access: &Access<'ctx>, align: u32) -> bool {
        let runs_along_last = access.run_dim.is_some_and(|d| d + 1 == access.dims.len());
        let elements = (u64::from(align) / access.dtype.size_bytes() as u64).max(1);
        access.aligned && runs_along_last && access.run_start.is_some_and(|(_, multiple)| multiple % elements == 0)
    }

    /// The bytes of `chunk` (of `vec` elements) that lie inside the tensor, counted from its
    /// first element: 0 when the chunk is outside. With a contiguous run dimension these
    /// are the bytes a zero-filling copy reads (`cp.async`'s src-size).
    pub(super) fn chunk_bytes_inside(
        &self,
        access: &Access<'ctx>,
        chunk: &Chunk<'ctx>,
        vec: usize,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &self.builder;
        let elements = match chunk.room {
            Some(room) => {
                let full = self.i32(vec as u64);
                let short = b.build_int_compare(IntPredicate::ULT, room, full, "")?;
                b.build_select(short, room, full, "")?.into_int_value()
            }
            None => self.i32(vec as u64),
        };
        let elements = b.build_select(chunk.others_ok, elements, self.i32(0), "")?.into_int_value();
        Ok(b.build_int_mul(elements, self.i32(access.dtype.size_bytes() as u64), "")?)
    }

    /// The address a zero-filling copy of `chunk` reads from: the chunk's own when some
    /// of it is inside (`bytes` > 0), else the tensor's base, so that no address outside
    /// the tensor is ever formed for the hardware.
    pub(super) fn chunk_source(
        &self,
        access: &Access<'ctx>,
        chunk: &Chunk<'ctx>,
        bytes: IntValue<'ctx>,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        let b = &self.builder;
        let inside = b.build_int_compare(IntPredicate::NE, bytes, self.i32(0), "")?;
        let at = self.element_ptr(access, chunk.offset)?;
        Ok(b.build_select(inside, at, access.base, "")?.into_pointer_value())
    }

    fn is_aligned(&self, ptr: PointerValue<'ctx>, align: u32) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &self.builder;
        let address = b.build_ptr_to_int(ptr, self.context.i64_type(), "")?;
        let low = b.build_and(address, self.i64(u64::from(align) - 1), "")?;
        Ok(b.build_int_compare(IntPredicate::EQ, low, self.i64(0), "")?)
    }

    pub(super) fn element_ptr(
        &self,
        access: &Access<'ctx>,
        offset: IntValue<'ctx>,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        // SAFETY: only dereferenced where the masks put the element inside the tensor.
        Ok(unsafe { self.builder.build_gep(self.mem_type(access.dtype), access.base, &[offset], "")? })
    }

    /// Address offset of element `j` of a chunk: along the run dimension by its stride.
    fn element_offset(
        &self,
        access: &Access<'ctx>,
        chunk: &Chunk<'ctx>,
        j: usize,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        match access.run_dim {
            Some(d) if j > 0 => {
                let step = self.builder.build_int_mul(access.dims[d].stride, self.i64(j as u64), "")?;
                Ok(self.builder.build_int_add(chunk.offset, step, "")?)
            }
            _ => Ok(chunk.offset),
        }
    }

    /// Whether element `j` of a chunk exists (and this thread may access it).
    fn element_ok(&self, chunk: &Chunk<'ctx>, j: usize) -> Result<IntValue<'ctx>, CodegenError> {
        let Some(room) = chunk.room else {
            return Ok(chunk.others_ok);
        };
        let b = &self.builder;
        let ok = b.build_int_compare(IntPredicate::ULT, self.i32(j as u64), room, "")?;
        Ok(b.build_and(chunk.others_ok, ok, "")?)
    }

    /// Each element alone, in memory form, under its own mask; masked-off elements are 0.
    pub(super) fn load_elements(
        &self,
        access: &Access<'ctx>,
        chunk: &Chunk<'ctx>,
        vec: usize,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let ty = self.mem_type(access.dtype);
        (0..vec)
            .map(|j| {
                let ok = self.element_ok(chunk, j)?;
                let offset = self.element_offset(access, chunk, j)?;
                let loaded = self.branch_values(
                    ok,
                    &[ty],
                    |this| {
                        Ok(vec![this.aligned_load(
                            ty,
                            this.element_ptr(access, offset)?,
                            element_align(access.dtype),
                        )?])
                    },
                    |_| Ok(vec![ty.const_zero()]),
                )?;
                loaded.into_iter().next().ok_or_else(|| CodegenError::Llvm("masked load merged no value".into()))
            })
            .collect()
    }

    fn store_elements(
        &self,
        access: &Access<'ctx>,
        chunk: &Chunk<'ctx>,
        values: &[BasicValueEnum<'ctx>],
    ) -> Result<(), CodegenError> {
        for (j, &v) in values.iter().enumerate() {
            let ok = self.element_ok(chunk, j)?;
            let offset = self.element_offset(access, chunk, j)?;
            self.when(ok, |this| {
                this.aligned_store(this.element_ptr(access, offset)?, v, element_align(access.dtype))
            })?;
        }
        Ok(())
    }

    /// Where the access of chunk elements `piece..` starts.
    fn piece_ptr(
        &self,
        access: &Access<'ctx>,
        offset: IntValue<'ctx>,
        piece: usize,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        self.element_ptr(access, self.builder.build_int_add(offset, self.i64(piece as u64), "")?)
    }

    fn store_vector(
        &self,
        access: &Access<'ctx>,
        offset: IntValue<'ctx>,
        values: &[BasicValueEnum<'ctx>],
        align: u32,
    ) -> Result<(), CodegenError> {
        let per_access = align as usize / access.dtype.size_bytes();
        for (piece, part) in values.chunks(per_access).enumerate() {
            let ptr = self.piece_ptr(access, offset, piece * per_access)?;
            let packed = self.pack(self.mem_vector(access.dtype, per_access), part)?;
            let raw = self.builder.build_bit_cast(packed, self.access_type(align), "")?;
            self.aligned_store(ptr, raw, align)?;
        }
        Ok(())
    }

    /// One `align`-byte access of type `words` (an [`Lowerer::access_type`]) at `ptr` where
    /// `inside`, else 0: a predicated `ld.global`, so a chunk outside forms no load at all
    /// (a select of the address would still read somewhere) and costs no branch.
    fn masked_vector_load(
        &self,
        words: BasicTypeEnum<'ctx>,
        ptr: PointerValue<'ctx>,
        align: u32,
        inside: IntValue<'ctx>,
    ) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let b = &self.builder;
        let (lanes, width, reg) = match align {
            0..=2 => (1, 16, "h"),
            3..=4 => (1, 32, "r"),
            _ => (align as usize / 4, 32, "r"),
        };
        let outs: Vec<String> = (0..lanes).map(|i| format!("${i}")).collect();
        let zero: String = outs.iter().map(|o| format!("mov.b{width} {o}, 0; ")).collect();
        // A vector's registers go in braces; a single register stands alone.
        let (shape, dest) = if lanes > 1 {
            (format!(".v{lanes}"), format!("{{{}}}", outs.join(", ")))
        } else {
            (String::new(), outs.join(""))
        };
        let asm = format!(
            "{{ .reg .pred p; setp.ne.b32 p, ${lanes}, 0; {zero}@p ld.global{shape}.b{width} {dest}, [${}]; }}",
            lanes + 1
        );
        let constraints = format!("{}r,l", format!("={reg},").repeat(lanes));
        let lane_type: BasicTypeEnum<'ctx> =
            if width == 16 { self.context.i16_type().into() } else { self.context.i32_type().into() };
        let flag = b.build_int_z_extend(inside, self.context.i32_type(), "")?;
        let address = b.build_ptr_to_int(ptr, self.context.i64_type(), "")?;
        let parts = self.inline_asm(&asm, &constraints, &vec![lane_type; lanes], &[flag.into(), address.into()])?;
        if lanes == 1 {
            return Ok(parts[0]);
        }
        let mut word = words.into_vector_type().get_undef();
        for (i, part) in parts.into_iter().enumerate() {
            word = b.build_insert_element(word, part.into_int_value(), self.i32(i as u64), "")?;
        }
        Ok(word.into())
    }

    /// The integer type of one `bytes`-wide access: `<4 x i32>`, `<2 x i32>`, `i32` or `i16`.
    /// (`vec >= 2` elements of at least a byte, at most 16 bytes: never narrower than i16.)
    fn access_type(&self, bytes: u32) -> BasicTypeEnum<'ctx> {
        match bytes {
            0..=2 => self.context.i16_type().into(),
            3..=4 => self.context.i32_type().into(),
            _ => self.context.i32_type().vec_type(bytes / 4).into(),
        }
    }
}

/// Bytes of one vector access of a chunk of `vec` elements.
fn access_bytes(dtype: DType, vec: usize) -> usize {
    (vec * dtype.size_bytes()).min(MAX_ACCESS_BYTES)
}
