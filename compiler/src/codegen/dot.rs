//! `dot` on tensor cores: `mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}` fed by
//! `ldmatrix` from shared memory. Correctness first; see "Not done" below.
//!
//! Fragment layout (PTX-NOTES, verified on an H200): lane `l = 4g + t` (g = l / 4, t = l % 4)
//! of a warp holds, two 16-bit values per register, the lower k or column in the low half:
//!
//! ```text
//!   A 16x16 (row):  a0 = A[g][2t..2t+1]    a1 = A[g+8][2t..2t+1]
//!                   a2 = A[g][2t+8..+9]    a3 = A[g+8][2t+8..+9]
//!   B 16x8 (col):   b0 = B[2t..2t+1][g]    b1 = B[2t+8..+9][g]
//!   C 16x8 f32:     d0, d1 = C[g][2t..2t+1]  d2, d3 = C[g+8][2t..2t+1]
//! ```
//!
//! `ldmatrix.m8n8` hands lane `l` row `l / 4`, columns `2(l % 4)..+1` of each 8x8 matrix whose
//! eight row addresses lanes `8i..8i+7` supply. So:
//! - A (`[M, K]`, row-major in shared memory): `.x4` with matrix i = rows `8(i % 2)..`,
//!   columns `8(i / 2)..` of the 16x16 block gives exactly a0..a3; lane l points at row
//!   `l % 16`, column `8(l / 16)`.
//! - B (`[K, N]`, row-major, i.e. k-major): `.x2.trans` over the two 8x8 blocks k `0..8` and
//!   `8..16` of an 8-column slice; the transpose hands lane l the stored elements
//!   `(k 2t, 2t+1; column g)`, which is b0 and b1. Lanes 0..16 point at k rows `l`; lanes
//!   16..32 repeat them (`.x2` ignores their addresses, but they stay in bounds).
//!
//! The op runs in four barrier-separated phases over the kernel's one shared buffer:
//! 1. every thread stores its canonical-layout elements of lhs and rhs into padded rows;
//! 2. warp w computes the 16x8 output tiles w, w + W, w + 2W, ... (W warps), each over
//!    K/16 steps of ldmatrix + mma, keeping its f32 accumulators in registers;
//! 3. the accumulators overwrite the operands as an unpadded f32 `[M, N]` array;
//! 4. every thread reads its canonical-layout elements of the result.
//!
//! Rows are padded by [`PAD`] halves: a row stride of an odd number of 16-byte chunks puts
//! the eight row addresses of one ldmatrix matrix in eight different bank groups.
//!
//! Not done (speed, not correctness): global→shared copies with `cp.async` straight into a
//! swizzled layout and pipelined across loop iterations; keeping the accumulator in the mma
//! layout across a loop instead of the shared-memory round trip to the canonical layout;
//! feeding a `dot`'s result to the next `dot` as an A fragment in registers; larger warp
//! tiles that reuse one A fragment over several n-tiles; `wgmma` on sm_90a.

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::types::{BasicMetadataTypeEnum, BasicTypeEnum};
use inkwell::values::{BasicMetadataValueEnum, BasicValueEnum, IntValue, PointerValue};

use super::context::{Lowerer, Regs};
use super::CodegenError;
use crate::ir::{DType, Type, ValueId};

/// Halves of padding after each shared-memory row (16 bytes: keeps rows 16-byte aligned).
const PAD: u32 = 8;

/// The dimensions of one `dot` and its operand dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DotShape {
    m: u32,
    k: u32,
    n: u32,
    dtype: DType,
}

impl DotShape {
    /// Checks what the verifier checks, so that malformed IR is an error, never bad code.
    fn of(lhs: &Type, rhs: &Type, result: &Type) -> Result<DotShape, CodegenError> {
        let invalid = || CodegenError::InvalidIr(format!("dot of {lhs} and {rhs} into {result}"));
        let (&[m, k], &[k2, n]) = (lhs.shape.as_slice(), rhs.shape.as_slice()) else {
            return Err(invalid());
        };
        let whole_tiles = m % 16 == 0 && k % 16 == 0 && n % 8 == 0 && k == k2;
        let dtypes = lhs.dtype == rhs.dtype && matches!(lhs.dtype, DType::BF16 | DType::F16);
        if !whole_tiles || !dtypes || *result != Type::tile(DType::F32, vec![m, n]) {
            return Err(invalid());
        }
        Ok(DotShape { m, k, n, dtype: lhs.dtype })
    }

    fn lhs_stride(&self) -> u32 {
        self.k + PAD
    }

    fn rhs_stride(&self) -> u32 {
        self.n + PAD
    }

    fn lhs_bytes(&self) -> u64 {
        u64::from(self.m) * u64::from(self.lhs_stride()) * 2
    }

    /// Both padded operands, or the f32 result that later reuses their space.
    fn shared_bytes(&self) -> u64 {
        let rhs = u64::from(self.k) * u64::from(self.rhs_stride()) * 2;
        let result = u64::from(self.m) * u64::from(self.n) * 4;
        (self.lhs_bytes() + rhs).max(result)
    }

    fn tiles(&self) -> u32 {
        (self.m / 16) * (self.n / 8)
    }
}

/// One warp's 16x8 accumulator tile: where it goes, and its d0..d3.
struct Tile<'ctx> {
    row: IntValue<'ctx>,
    col: IntValue<'ctx>,
    acc: [BasicValueEnum<'ctx>; 4],
}

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn dot(&mut self, lhs: ValueId, rhs: ValueId, result: ValueId) -> Result<Regs<'ctx>, CodegenError> {
        let (lhs_ty, rhs_ty, result_ty) = (self.ty(lhs)?, self.ty(rhs)?, self.ty(result)?);
        let shape = DotShape::of(lhs_ty, rhs_ty, result_ty)?;
        let base = self.shared.reserve(self.context, self.module, "dot", shape.shared_bytes())?;
        // SAFETY: the reservation covers both operands.
        let rhs_base =
            unsafe { self.builder.build_gep(self.context.i8_type(), base, &[self.i32(shape.lhs_bytes())], "")? };

        // The previous user of the buffer may still be reading it.
        self.barrier()?;
        self.stage(lhs, base, shape.lhs_stride())?;
        self.stage(rhs, rhs_base, shape.rhs_stride())?;
        self.barrier()?;
        let tiles = self.warp_tiles(&shape, base, rhs_base)?;
        // Every warp must be done reading the operands before the results overwrite them.
        self.barrier()?;
        for tile in &tiles {
            for (half, pair) in tile.acc.chunks(2).enumerate() {
                let row = self.builder.build_int_add(tile.row, self.i32(8 * half as u64), "")?;
                let at = self.builder.build_int_mul(row, self.i32(u64::from(shape.n)), "")?;
                let at = self.builder.build_int_add(at, tile.col, "")?;
                self.store_shared_run(base, DType::F32, at, pair)?;
            }
        }
        self.barrier()?;

        let layout = self.layout(result_ty)?;
        let mut out = Vec::with_capacity(layout.regs());
        for slot in 0..layout.slots() {
            let first = self.flat_index(&layout, slot * layout.vec())?;
            out.extend(self.load_shared_run(base, DType::F32, first, layout.vec())?);
        }
        Ok(out)
    }

    /// Stores this thread's elements of the rank-2 tile `value` at `base`, `stride` elements per row.
    fn stage(&self, value: ValueId, base: PointerValue<'ctx>, stride: u32) -> Result<(), CodegenError> {
        let ty = self.ty(value)?;
        let layout = self.layout(ty)?;
        let regs = self.get(value)?;
        let cols = ty.shape.last().copied().unwrap_or(1);
        let b = &self.builder;
        self.when(self.is_owner(&layout)?, |this| {
            // A chunk never crosses a row (VEC divides the last dimension), so one row/column
            // split per chunk places all of it; rows start 16-byte aligned, so the run stays aligned.
            for (slot, chunk) in regs.chunks(layout.vec()).enumerate() {
                let first = this.flat_index(&layout, slot * layout.vec())?;
                let row = b.build_right_shift(first, this.i32(u64::from(cols.trailing_zeros())), false, "")?;
                let col = b.build_and(first, this.i32(u64::from(cols - 1)), "")?;
                let at = b.build_int_add(b.build_int_mul(row, this.i32(u64::from(stride)), "")?, col, "")?;
                this.store_shared_run(base, ty.dtype, at, chunk)?;
            }
            Ok(())
        })
    }

    /// This warp's output tiles, round-robin over the warps. When the warps outnumber the
    /// tiles or do not divide them, a warp past the end recomputes the last tile: it then
    /// writes the same values to the same place, which costs less than a branch around mma.
    fn warp_tiles(
        &self,
        shape: &DotShape,
        lhs: PointerValue<'ctx>,
        rhs: PointerValue<'ctx>,
    ) -> Result<Vec<Tile<'ctx>>, CodegenError> {
        let b = &self.builder;
        let warps = self.threads / 32;
        let warp = b.build_right_shift(self.tid, self.i32(5), false, "warp")?;
        let lane = b.build_and(self.tid, self.i32(31), "lane")?;
        let (lhs, rhs) = (self.shared_address(lhs)?, self.shared_address(rhs)?);
        // Each lane's ldmatrix row address, relative to the block's corner (module docs).
        let lane_row = b.build_and(lane, self.i32(15), "")?;
        let lane_half = b.build_right_shift(lane, self.i32(4), false, "")?;
        let lhs_lane = self.mul_add(lane_row, shape.lhs_stride(), b.build_left_shift(lane_half, self.i32(3), "")?)?;
        let lhs_lane = self.byte_address(lhs, lhs_lane)?;
        let rhs_lane = self.byte_address(rhs, self.mul_add(lane_row, shape.rhs_stride(), self.i32(0))?)?;
        // Where this lane's accumulators go inside a tile: row g, columns 2t, 2t + 1.
        let g = b.build_right_shift(lane, self.i32(2), false, "")?;
        let t2 = b.build_left_shift(b.build_and(lane, self.i32(3), "")?, self.i32(1), "")?;

        let count = shape.tiles();
        let tiles_n = shape.n / 8;
        let mut out = Vec::new();
        for i in 0..count.div_ceil(warps) {
            let mut tile = b.build_int_add(warp, self.i32(u64::from(warps * i)), "tile")?;
            if (i + 1) * warps > count {
                let last = self.i32(u64::from(count - 1));
                let past = b.build_int_compare(inkwell::IntPredicate::UGT, tile, last, "")?;
                tile = b.build_select(past, last, tile, "")?.into_int_value();
            }
            let row0 = b.build_left_shift(
                b.build_right_shift(tile, self.i32(u64::from(tiles_n.trailing_zeros())), false, "")?,
                self.i32(4),
                "",
            )?;
            let col0 = b.build_left_shift(b.build_and(tile, self.i32(u64::from(tiles_n - 1)), "")?, self.i32(3), "")?;
            let zero = self.context.f32_type().const_zero().into();
            let mut acc = [zero; 4];
            for step in 0..shape.k / 16 {
                // Block corners in elements: A at (row0, 16 step), B at (16 step, col0).
                let a_at = self.mul_add(row0, shape.lhs_stride(), self.i32(u64::from(16 * step)))?;
                let a = self.ldmatrix(self.byte_address(lhs_lane, a_at)?, 4, false)?;
                let b_at = b.build_int_add(col0, self.i32(u64::from(16 * step * shape.rhs_stride())), "")?;
                let bfrag = self.ldmatrix(self.byte_address(rhs_lane, b_at)?, 2, true)?;
                acc = self.mma(shape.dtype, &a, &bfrag, acc)?;
            }
            let row = b.build_int_add(row0, g, "")?;
            let col = b.build_int_add(col0, t2, "")?;
            out.push(Tile { row, col, acc });
        }
        Ok(out)
    }

    /// `x * factor + plus`, in elements.
    fn mul_add(&self, x: IntValue<'ctx>, factor: u32, plus: IntValue<'ctx>) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &self.builder;
        Ok(b.build_int_add(b.build_int_mul(x, self.i32(u64::from(factor)), "")?, plus, "")?)
    }

    /// A 16-bit element offset added to a 32-bit shared address.
    fn byte_address(&self, base: IntValue<'ctx>, elements: IntValue<'ctx>) -> Result<IntValue<'ctx>, CodegenError> {
        let bytes = self.builder.build_left_shift(elements, self.i32(1), "")?;
        Ok(self.builder.build_int_add(base, bytes, "")?)
    }

    /// The 32-bit `.shared` address ldmatrix takes (shared memory is far below 4 GiB).
    fn shared_address(&self, ptr: PointerValue<'ctx>) -> Result<IntValue<'ctx>, CodegenError> {
        Ok(self.builder.build_ptr_to_int(ptr, self.context.i32_type(), "")?)
    }

    /// `ldmatrix.sync.aligned.m8n8.x{count}[.trans].shared.b16`: `count` packed registers.
    fn ldmatrix(&self, address: IntValue<'ctx>, count: usize, trans: bool) -> Result<Regs<'ctx>, CodegenError> {
        let outs: Vec<String> = (0..count).map(|i| format!("${i}")).collect();
        let asm = format!(
            "ldmatrix.sync.aligned.m8n8.x{count}{}.shared.b16 {{{}}}, [${count}];",
            if trans { ".trans" } else { "" },
            outs.join(", ")
        );
        // The memory clobber marks the asm as reading memory, so the stores it reads stay live.
        let constraints = format!("{}r,~{{memory}}", "=r,".repeat(count));
        let i32_type = self.context.i32_type().into();
        self.inline_asm(&asm, &constraints, &vec![i32_type; count], &[address.into()])
    }

    /// One `mma.sync.aligned.m16n8k16.row.col.f32.{dtype}.{dtype}.f32`: `acc + a @ b`.
    fn mma(
        &self,
        dtype: DType,
        a: &[BasicValueEnum<'ctx>],
        b: &[BasicValueEnum<'ctx>],
        acc: [BasicValueEnum<'ctx>; 4],
    ) -> Result<[BasicValueEnum<'ctx>; 4], CodegenError> {
        let asm = format!(
            "mma.sync.aligned.m16n8k16.row.col.f32.{dtype}.{dtype}.f32 {{$0, $1, $2, $3}}, {{$4, $5, $6, $7}}, \
             {{$8, $9}}, {{$10, $11, $12, $13}};"
        );
        let args: Vec<BasicValueEnum<'ctx>> = a.iter().chain(b).chain(&acc).copied().collect();
        let f32_type = self.context.f32_type().into();
        let d = self.inline_asm(&asm, "=f,=f,=f,=f,r,r,r,r,r,r,f,f,f,f", &[f32_type; 4], &args)?;
        <[BasicValueEnum<'ctx>; 4]>::try_from(d)
            .map_err(|d| CodegenError::Llvm(format!("mma returned {} values, not 4", d.len())))
    }

    /// Inline PTX returning `outs` registers. Side effects keep it after the barrier that
    /// publishes its shared-memory inputs; `convergent` keeps the warp-wide instruction out
    /// of divergent control flow.
    fn inline_asm(
        &self,
        asm: &str,
        constraints: &str,
        outs: &[BasicTypeEnum<'ctx>],
        args: &[BasicValueEnum<'ctx>],
    ) -> Result<Regs<'ctx>, CodegenError> {
        let ret = self.context.struct_type(outs, false);
        let params: Vec<BasicMetadataTypeEnum<'ctx>> = args.iter().map(|v| v.get_type().into()).collect();
        let fn_type = ret.fn_type(&params, false);
        let callee =
            self.context.create_inline_asm(fn_type, asm.to_string(), constraints.to_string(), true, false, None, false);
        let args: Vec<BasicMetadataValueEnum<'ctx>> = args.iter().map(|&v| v.into()).collect();
        let call = self.builder.build_indirect_call(fn_type, callee, &args, "")?;
        let convergent = Attribute::get_named_enum_kind_id("convergent");
        call.add_attribute(AttributeLoc::Function, self.context.create_enum_attribute(convergent, 0));
        let value = call
            .try_as_basic_value()
            .basic()
            .ok_or_else(|| CodegenError::Llvm(format!("inline asm `{asm}` returns nothing")))?;
        let value = value.into_struct_value();
        (0..outs.len() as u32)
            .map(|i| {
                self.builder
                    .build_extract_value(value, i, "")
                    .map_err(|e| CodegenError::Llvm(format!("extracting output {i} of `{asm}`: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(m: u32, k: u32, n: u32) -> DotShape {
        DotShape { m, k, n, dtype: DType::BF16 }
    }

    #[test]
    fn gemm_tile_needs_both_padded_operands() {
        // 64 x (32 + 8) + 32 x (64 + 8) halves = 9728 bytes, less than the 16 KiB f32 result.
        assert_eq!(shape(64, 32, 64).shared_bytes(), 16384);
    }

    #[test]
    fn deep_k_is_sized_by_the_operands() {
        // 16 x 264 + 256 x 16 halves: the operands outgrow the 512-byte result.
        assert_eq!(shape(16, 256, 8).shared_bytes(), 16640);
    }

    #[test]
    fn tiles_are_16_by_8() {
        assert_eq!(shape(64, 32, 64).tiles(), 32);
    }

    #[test]
    fn shape_rejects_k_not_a_multiple_of_16() {
        let (a, b) = (Type::tile(DType::BF16, vec![16, 8]), Type::tile(DType::BF16, vec![8, 8]));
        assert!(DotShape::of(&a, &b, &Type::tile(DType::F32, vec![16, 8])).is_err());
    }

    #[test]
    fn padded_rows_stay_16_byte_aligned() {
        assert_eq!((shape(16, 48, 8).lhs_stride() * 2) % 16, 0);
    }
}
