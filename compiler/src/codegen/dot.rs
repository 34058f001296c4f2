//! `dot` on tensor cores: `mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}`.
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
//! The result stays where the tensor cores wrote it: the mma accumulator layout
//! ([`Layout::mma_accumulator`]), warp w owning the 16x8 tiles that layout gives it.
//!
//! **A from registers.** The accumulator layout of an `[M, K]` tile whose warps all
//! lie along M holds, per 16x16 block, exactly a0..a3 (two adjacent 16x8 C tiles are
//! one A tile). So when the lhs is already in that layout — a softmax's probabilities
//! cast to bf16 — its registers are packed in pairs into A fragments and never touch
//! shared memory.
//!
//! **Operands in shared memory** — a tile loaded only for `dot` is already there
//! (prefetched or staged, see [`super::prefetch`]); anything else is staged by `dot` in
//! the scratch region — go in padded rows and are read with `ldmatrix.m8n8`,
//! which hands lane `l` row `l / 4`, columns `2(l % 4)..+1` of each 8x8 matrix whose
//! row addresses lanes `8i..8i+7` supply:
//! - A `[M, K]` row-major: `.x4`, matrix i = rows `8(i % 2)..`, columns `8(i / 2)..`.
//! - B `[K, N]` row-major (k-major): `.x4.trans`, matrix i = k rows `8(i % 2)..`,
//!   columns `8(i / 2)..`: b0, b1 of two adjacent n-tiles (`.x2.trans` for one).
//! - B given as `trans(x)`, `x [N, K]` row-major (n-major, attention's keys): x is
//!   stored as it is and read with `.x4` without `.trans`, matrix i = x rows
//!   `8(i / 2)..`, columns `8(i % 2)..`: lane `4g + t` gets `x[g][2t..]`, which is b0.
//!
//! Shared tiles are in the target's [`OperandTile`] format (padded rows on sm_80, core
//! matrices on sm_90a); the ldmatrix addresses come from it.
//!
//! **wgmma on sm_90a.** When every warp lies along M and a warpgroup's four warps own
//! 64 consecutive rows — which is the accumulator layout above — the product is one
//! `wgmma.mma_async` per warpgroup, m-tile and k-step instead ([`super::wgmma`]): the
//! accumulator registers are the same, and a warpgroup reads each rhs tile once rather
//! than each warp reading it.
//!
//! Not done (speed): swizzled shared tiles; more than two pipeline stages.

use inkwell::values::{BasicValueEnum, IntValue, PointerValue};

use super::context::{Lowerer, Regs};
use super::layout::{Layout, WarpGrid, WARP_LANE_BITS};

/// Where a `dot`'s lhs comes from.
pub(super) enum LhsOperand<'ctx> {
    /// Already A fragments: registers in the accumulator layout of its shape.
    Registers(Regs<'ctx>),
    /// Staged in shared memory at this `.shared` address.
    Shared(IntValue<'ctx>),
}
use super::operand_tile::{OperandFormat, OperandTile};
use super::CodegenError;
use crate::ir::{DType, Op, Type, ValueId};

/// The dimensions of one `dot` and its operand dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DotShape {
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub dtype: DType,
}

/// How the rhs sits in shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RhsOrder {
    /// `[K, N]` rows.
    KMajor,
    /// `[N, K]` rows: the rhs was `trans(x)` and x is stored as it is.
    NMajor,
}

/// A `dot`'s operands as the product reads them.
pub(super) struct Operands<'ctx> {
    pub lhs: LhsOperand<'ctx>,
    pub lhs_tile: OperandTile,
    /// The rhs tile's `.shared` address.
    pub rhs: IntValue<'ctx>,
    pub rhs_tile: OperandTile,
    pub order: RhsOrder,
}

impl DotShape {
    /// Checks what the verifier checks, so that malformed IR is an error, never bad code.
    pub(super) fn of(lhs: &Type, rhs: &Type, result: &Type) -> Result<DotShape, CodegenError> {
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

    fn lhs_tile(&self, format: OperandFormat) -> OperandTile {
        OperandTile::new(self.m, self.k, format)
    }

    fn rhs_tile(&self, order: RhsOrder, format: OperandFormat) -> OperandTile {
        match order {
            RhsOrder::KMajor => OperandTile::new(self.k, self.n, format),
            RhsOrder::NMajor => OperandTile::new(self.n, self.k, format),
        }
    }
}

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn dot(
        &mut self,
        lhs: ValueId,
        rhs: ValueId,
        result: ValueId,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        self.dot_from(lhs, rhs, result, layout, None, Some(result))
    }

    /// `addend + dot(a, b)` as one accumulation ([`super::plan::Plan::fused_adds`]).
    pub fn fused_add(&mut self, result: ValueId, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        let (dot, addend) = self
            .fused_adds
            .get(&result)
            .copied()
            .ok_or_else(|| CodegenError::InvalidIr(format!("{result} is not a fused add")))?;
        let Some(Op::Dot { lhs, rhs }) = self.defining_op(dot) else {
            return Err(CodegenError::InvalidIr(format!("fused add {result} does not add a dot")));
        };
        let (lhs, rhs) = (*lhs, *rhs);
        self.same_type(result, addend)?;
        let init = self.get_in(addend, layout)?;
        let defines = (!self.deferred.contains(&result)).then_some(result);
        self.dot_from(lhs, rhs, dot, layout, Some(init), defines)
    }

    /// The product `lhs @ rhs` (the `dot` defining `result`), accumulated onto `init`
    /// (zeros when `None`) in the accumulator layout, as the registers of `defines`
    /// (`None`: a deferred accumulator, completed by its loop). On `wgmma` the product
    /// may still be running when this returns; the first use of `defines` waits for it
    /// ([`super::wgmma`]).
    fn dot_from(
        &mut self,
        lhs: ValueId,
        rhs: ValueId,
        result: ValueId,
        layout: &Layout,
        init: Option<Regs<'ctx>>,
        defines: Option<ValueId>,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let (lhs_ty, rhs_ty, result_ty) = (self.ty(lhs)?, self.ty(rhs)?, self.ty(result)?);
        let shape = DotShape::of(lhs_ty, rhs_ty, result_ty)?;
        if *layout != Layout::mma_accumulator(shape.m, shape.n, self.threads)? {
            return Err(CodegenError::InvalidIr(format!("dot into {result_ty} placed outside the mma layout")));
        }
        let grid = WarpGrid::of(shape.m, shape.n, self.threads);
        let lhs_prefetched = self.is_in_shared(lhs)?;
        let lhs_in_registers = !lhs_prefetched && self.lhs_fits_a_fragments(lhs, &shape)?;
        // A `trans(x)` rhs is staged as x, read without `.trans`.
        let (rhs_source, order) = match self.defining_op(rhs) {
            Some(Op::Trans { value }) => (*value, RhsOrder::NMajor),
            _ => (rhs, RhsOrder::KMajor),
        };
        let rhs_prefetched = self.is_in_shared(rhs_source)?;
        let format = self.operand_format;
        let (lhs_tile, rhs_tile) = (shape.lhs_tile(format), shape.rhs_tile(order, format));
        // Operands not in registers nor prefetched are staged in the scratch region.
        // The rhs follows the lhs on the boundary a swizzled tile needs.
        let lhs_bytes =
            if lhs_in_registers || lhs_prefetched { 0 } else { lhs_tile.bytes().next_multiple_of(format.alignment()) };
        let rhs_bytes = if rhs_prefetched { 0 } else { rhs_tile.bytes() };
        let staged = lhs_bytes + rhs_bytes > 0;
        let base = if staged {
            let base = self.shared.reserve(self.context, self.module, "dot", lhs_bytes + rhs_bytes)?;
            // The previous user of the scratch region may still be reading it.
            self.barrier()?;
            Some(self.shared_address(base)?)
        } else {
            None
        };
        let lhs_operand = if lhs_in_registers {
            LhsOperand::Registers(self.get(lhs)?)
        } else if lhs_prefetched {
            LhsOperand::Shared(self.shared_tile_address(lhs)?)
        } else {
            let base = base.ok_or_else(|| CodegenError::InvalidIr("dot staged no lhs".into()))?;
            self.stage(lhs, base, &lhs_tile)?;
            LhsOperand::Shared(base)
        };
        let rhs_address = if rhs_prefetched {
            self.shared_tile_address(rhs_source)?
        } else {
            let base = base.ok_or_else(|| CodegenError::InvalidIr("dot staged no rhs".into()))?;
            let at = self.builder.build_int_add(base, self.i32(lhs_bytes), "")?;
            self.stage(rhs_source, at, &rhs_tile)?;
            at
        };
        if staged {
            self.publish_operands()?;
        }
        let operands = Operands { lhs: lhs_operand, lhs_tile, rhs: rhs_address, rhs_tile, order };
        if self.takes_wgmma(&shape, grid) {
            let regs = self.warpgroup_tiles(&shape, grid, &operands, init)?;
            if staged && defines.is_some() {
                // The next staging reuses the scratch region this product reads.
                return self.complete_with_running(&regs);
            }
            self.product_in_flight(defines);
            Ok(regs)
        } else if defines.is_some() {
            self.warp_tiles(&shape, grid, &operands, init)
        } else {
            Err(CodegenError::InvalidIr(format!("dot {result} is deferred but does not run on wgmma")))
        }
    }

    /// Whether the lhs already sits in registers as A fragments: in the accumulator
    /// layout of its own shape with every warp along M (module docs).
    fn lhs_fits_a_fragments(&self, lhs: ValueId, shape: &DotShape) -> Result<bool, CodegenError> {
        let fragments = Layout::mma_accumulator(shape.m, shape.k, self.threads)?;
        let grid = WarpGrid::of(shape.m, shape.k, self.threads);
        let all_along_m = grid.warps_n == 0 && WarpGrid::of(shape.m, shape.n, self.threads).warps_m == grid.warps_m;
        Ok(all_along_m && self.is_fixed_in(lhs, &fragments)?)
    }

    /// Stores this thread's elements of the rank-2 tile `value` into `tile` at `.shared`
    /// address `base`.
    fn stage(&mut self, value: ValueId, base: IntValue<'ctx>, tile: &OperandTile) -> Result<(), CodegenError> {
        let dtype = self.ty(value)?.dtype;
        let layout = self.layout_of(value)?;
        let regs = self.get(value)?;
        self.stage_regs(tile, dtype, &layout, &regs, base)
    }

    /// Stores `regs`, a `tile`'s `dtype` elements in `layout`, into the tile at `.shared` address
    /// `base`. A chunk never crosses a core-matrix row (it is at most 8 elements,
    /// aligned to its length), so one offset places all of it.
    pub(super) fn stage_regs(
        &self,
        tile: &OperandTile,
        dtype: DType,
        layout: &Layout,
        regs: &Regs<'ctx>,
        base: IntValue<'ctx>,
    ) -> Result<(), CodegenError> {
        let b = &self.builder;
        self.when(self.is_owner(layout)?, |this| {
            for (slot, chunk) in regs.chunks(layout.vec()).enumerate() {
                let at = this.tile_element_offset(tile, layout, slot * layout.vec())?;
                this.store_shared_address(b.build_int_add(base, at, "")?, dtype, chunk)?;
            }
            Ok(())
        })
    }

    /// This warp's result tiles ([`WarpGrid`]), in the accumulator layout's register order:
    /// register `d + 4 (j + tiles_n i)` is d_d of the warp's m-tile i, n-tile j.
    fn warp_tiles(
        &self,
        shape: &DotShape,
        grid: WarpGrid,
        operands: &Operands<'ctx>,
        init: Option<Regs<'ctx>>,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let Operands { lhs, lhs_tile, rhs, rhs_tile, order } = operands;
        let b = &self.builder;
        let (warp, warp_m) = self.warp_along_m(grid)?;
        let lane = b.build_and(self.tid, self.i32(31), "lane")?;
        let warp_n = b.build_and(
            b.build_right_shift(warp, self.i32(u64::from(grid.warps_m)), false, "")?,
            self.i32((1u64 << grid.warps_n) - 1),
            "",
        )?;
        // Rows of m-tile i: 16 (warp_m + 2^warps_m i); columns of n-tile j: 8 (j + tiles_n warp_n).
        let m_first = b.build_left_shift(warp_m, self.i32(4), "")?;
        let n_first =
            b.build_left_shift(b.build_int_mul(warp_n, self.i32(u64::from(grid.tiles_n)), "")?, self.i32(3), "")?;
        let m_row = |i: u32| b.build_int_add(m_first, self.i32(u64::from(16 * (i << grid.warps_m))), "");
        let n_col = |j: u32| b.build_int_add(n_first, self.i32(u64::from(8 * j)), "");
        let k_col = |step: u32| self.i32(u64::from(16 * step));

        // Each lane's ldmatrix row address, relative to a block's corner (module docs).
        // Corners are multiples of 16 (of 8 for a lone n-tile, whose x2 load reads only
        // lanes 0-15), so a corner's offset and a lane's add (operand_tile docs).
        let lane_lo = b.build_and(lane, self.i32(7), "")?;
        let matrix = b.build_right_shift(lane, self.i32(3), false, "")?;
        let matrix_lo = b.build_and(matrix, self.i32(1), "")?;
        let matrix_hi = b.build_right_shift(matrix, self.i32(1), false, "")?;
        let eight = |x: IntValue<'ctx>| b.build_left_shift(x, self.i32(3), "");
        let low_row = b.build_int_add(eight(matrix_lo)?, lane_lo, "")?;
        let high_row = b.build_int_add(eight(matrix_hi)?, lane_lo, "")?;
        // A: row 8 (i % 2) + l % 8, column 8 (i / 2).
        let a_lane = LaneAddress::new(self, lhs_tile, (low_row, eight(matrix_hi)?))?;
        let b_lane = match order {
            // k row 8 (i % 2) + l % 8, column 8 (i / 2).
            RhsOrder::KMajor => LaneAddress::new(self, rhs_tile, (low_row, eight(matrix_hi)?))?,
            // x row (n) 8 (i / 2) + l % 8, column (k) 8 (i % 2).
            RhsOrder::NMajor => LaneAddress::new(self, rhs_tile, (high_row, eight(matrix_lo)?))?,
        };
        let b_base = match b_lane.offset {
            Some(lane) => b.build_int_add(*rhs, lane, "")?,
            None => *rhs,
        };

        let zero = self.context.f32_type().const_zero().into();
        let (tiles_m, tiles_n) = (grid.tiles_m as usize, grid.tiles_n as usize);
        let mut acc = vec![[zero; 4]; tiles_m * tiles_n];
        if let Some(init) = init {
            if init.len() != 4 * acc.len() {
                return Err(CodegenError::InvalidIr(format!("a dot accumulates onto {} registers", init.len())));
            }
            for (tile, regs) in acc.iter_mut().zip(init.chunks_exact(4)) {
                tile.copy_from_slice(regs);
            }
        }
        for step in 0..shape.k / 16 {
            let mut a_frags = Vec::with_capacity(tiles_m);
            for i in 0..grid.tiles_m {
                a_frags.push(match lhs {
                    LhsOperand::Registers(regs) => self.a_fragment(regs, shape, i, step)?,
                    LhsOperand::Shared(base) => {
                        let base = match a_lane.offset {
                            Some(lane) => b.build_int_add(*base, lane, "")?,
                            None => *base,
                        };
                        let at = a_lane.at(self, lhs_tile, base, (m_row(i)?, k_col(step)))?;
                        self.ldmatrix(at, 4, false)?
                    }
                });
            }
            // One ldmatrix of B (two n-tiles) at a time, used at once: B fragments of
            // a wide tile never all live together.
            for j in (0..grid.tiles_n).step_by(2) {
                let pair = j + 1 < grid.tiles_n;
                let corner = match order {
                    RhsOrder::KMajor => (k_col(step), n_col(j)?),
                    RhsOrder::NMajor => (n_col(j)?, k_col(step)),
                };
                let at = b_lane.at(self, rhs_tile, b_base, corner)?;
                let regs = self.ldmatrix(at, if pair { 4 } else { 2 }, *order == RhsOrder::KMajor)?;
                for (jj, b_frag) in regs.chunks(2).enumerate() {
                    let j = j as usize + jj;
                    for (i, a_frag) in a_frags.iter().enumerate() {
                        let tile = &mut acc[i * tiles_n + j];
                        *tile = self.mma(shape.dtype, a_frag, b_frag, *tile)?;
                    }
                }
            }
        }
        Ok(acc.into_iter().flatten().collect())
    }

    /// This thread's warp index and the warp's position along M in `grid`.
    pub(super) fn warp_along_m(&self, grid: WarpGrid) -> Result<(IntValue<'ctx>, IntValue<'ctx>), CodegenError> {
        let b = &self.builder;
        let warp = b.build_right_shift(self.tid, self.i32(u64::from(WARP_LANE_BITS)), false, "warp")?;
        let warp_m = b.build_and(warp, self.i32((1u64 << grid.warps_m) - 1), "")?;
        Ok((warp, warp_m))
    }

    /// A fragment (a0..a3) of m-tile `i`, k-step `step` from an lhs in the accumulator
    /// layout: n-tiles 2 step and 2 step + 1 of that layout, two 16-bit values per register.
    pub(super) fn a_fragment(
        &self,
        regs: &Regs<'ctx>,
        shape: &DotShape,
        i: u32,
        step: u32,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let tiles_k = (shape.k / 8) as usize;
        let reg = |tile: usize, d: usize| regs.get(4 * (tile + tiles_k * i as usize) + d).copied();
        let mut out = Vec::with_capacity(4);
        for (tile, pair) in [(0, 0), (0, 2), (1, 0), (1, 2)] {
            let tile = 2 * step as usize + tile;
            let (Some(lo), Some(hi)) = (reg(tile, pair), reg(tile, pair + 1)) else {
                return Err(CodegenError::InvalidIr(format!(
                    "dot lhs has no register for k-tile {tile} of m-tile {i}"
                )));
            };
            let packed = self.pack(self.mem_vector(shape.dtype, 2), &[lo, hi])?;
            out.push(self.builder.build_bit_cast(packed, self.context.i32_type(), "")?);
        }
        Ok(out)
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
}

/// One lane's `ldmatrix` row address within a block of a tile: its coordinates from the
/// block's corner, and their offset where offsets add ([`OperandTile::is_additive`]), so
/// each block adds only its corner's offset. A swizzled tile places whole coordinates.
struct LaneAddress<'ctx> {
    coords: (IntValue<'ctx>, IntValue<'ctx>),
    offset: Option<IntValue<'ctx>>,
}

impl<'ctx> LaneAddress<'ctx> {
    fn new(
        lw: &Lowerer<'_, 'ctx>,
        tile: &OperandTile,
        coords: (IntValue<'ctx>, IntValue<'ctx>),
    ) -> Result<LaneAddress<'ctx>, CodegenError> {
        let offset = if tile.is_additive() { Some(tile.offset_of(lw, coords.0, coords.1)?) } else { None };
        Ok(LaneAddress { coords, offset })
    }

    /// The `.shared` address of this lane's row in the block at `corner`, from `base`
    /// (which already includes the lane's offset when offsets add).
    fn at(
        &self,
        lw: &Lowerer<'_, 'ctx>,
        tile: &OperandTile,
        base: IntValue<'ctx>,
        corner: (IntValue<'ctx>, IntValue<'ctx>),
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &lw.builder;
        match self.offset {
            Some(_) => Ok(b.build_int_add(base, tile.offset_of(lw, corner.0, corner.1)?, "")?),
            None => {
                let row = b.build_int_add(corner.0, self.coords.0, "")?;
                let col = b.build_int_add(corner.1, self.coords.1, "")?;
                Ok(b.build_int_add(base, tile.offset_of(lw, row, col)?, "")?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(m: u32, k: u32, n: u32) -> DotShape {
        DotShape { m, k, n, dtype: DType::BF16 }
    }

    #[test]
    fn k_major_rhs_is_k_rows_of_n() {
        let tile = shape(64, 32, 64).rhs_tile(RhsOrder::KMajor, OperandFormat::PaddedRows);
        assert_eq!((tile.rows, tile.cols), (32, 64));
    }

    #[test]
    fn n_major_rhs_is_n_rows_of_k() {
        let tile = shape(64, 32, 64).rhs_tile(RhsOrder::NMajor, OperandFormat::CoreMatrices);
        assert_eq!((tile.rows, tile.cols), (64, 32));
    }

    #[test]
    fn warps_take_m_tiles_before_n_tiles() {
        let grid = WarpGrid::of(128, 64, 256);
        assert_eq!((grid.warps_m, grid.warps_n, grid.tiles_m, grid.tiles_n), (3, 0, 1, 8));
    }

    #[test]
    fn shape_rejects_k_not_a_multiple_of_16() {
        let (a, b) = (Type::tile(DType::BF16, vec![16, 8]), Type::tile(DType::BF16, vec![8, 8]));
        assert!(DotShape::of(&a, &b, &Type::tile(DType::F32, vec![16, 8])).is_err());
    }
}
