//! `dot` on Hopper: `wgmma.mma_async.sync.aligned.m64nNk16.f32.{bf16,f16}` (sm_90a, with
//! [`MmaLowering::Wgmma`]).
//!
//! A warpgroup (four consecutive warps) multiplies a 64-row slice of the lhs by the
//! whole rhs per instruction. Its result registers are mma.sync's C layout repeated
//! over the N/8 column chunks, warp w of the group owning rows 16w..16w+15
//! (PTX-NOTES) — the accumulator layout [`super::dot`] keeps — so the dot's value is
//! the same registers whichever way it was computed. It applies when the dot's warps
//! all lie along M, at least four of them, and N ≤ 256 ([`Lowerer::takes_wgmma`]):
//! warpgroup g's m-tile i then covers rows `16 (2^warps_m i + 4 g) ..` + 64.
//!
//! **Operands.** The rhs, and the lhs unless it is already in registers as A fragments
//! (a softmax's probabilities), are read from shared memory through 64-bit matrix
//! descriptors over the no-swizzle core-matrix tiles of [`super::operand_tile`]:
//!
//! ```text
//!   bits 0-13   start address >> 4
//!   bits 16-29  leading byte offset >> 4   (between core matrices along K)
//!   bits 32-45  stride byte offset >> 4    (between core matrices along M or N)
//! ```
//!
//! The lhs `[M, K]` and a `trans(x)` rhs (x `[N, K]`) are K-major; a plain rhs
//! `[K, N]` is MN-major, read with the transpose flag.
//!
//! **Ordering.** `wgmma.fence` before the first product (accumulator and A registers
//! were written by ordinary instructions), the k-steps chained on the accumulators,
//! then `commit_group`. The product then runs while the warp goes on: the wait comes
//! at the first use of the dot's value ([`Lowerer::await_product`]), as `wait_group k`
//! with k the groups committed after it, so an independent product issued in between
//! (the next dot of a software-pipelined loop) keeps running while the first result
//! is used, as in FlashAttention-3's intra-warpgroup overlap. No product stays in
//! flight across a `for`, an `if` whose arms issue products, or the end of a block: they
//! wait for them ([`Lowerer::settle_products`]); an `if` whose arms issue none waits only
//! for the products its arms read ([`Lowerer::await_products_read`]), and a product whose operands were staged in the
//! scratch region, which the next staging reuses, completes at once. The fence and the
//! wait take every accumulator (and A register) as an in-out operand, so LLVM can
//! neither sink a write below the fence nor hoist a read above the wait.
//! Shared-memory writes that feed a product are fenced for the async proxy before
//! their barrier ([`Lowerer::publish_operands`]).
//!
//! **Pipelining across loop iterations.** A loop accumulator `acc = acc + dot(a, b)`
//! whose operands are prefetched tiles, and which the body reads nowhere else, need
//! not be complete until the loop ends ([`Lowerer::deferred_accumulators`]): its
//! products are committed without a wait, and the next iteration's copies run while
//! they execute. The loop's schedule then waits, at the top of each iteration, until
//! only this iteration's predecessor's groups are pending (`wait_group k`, k deferred
//! products per iteration), so the stage read two iterations back is free
//! ([`super::prefetch`]); after the loop, `wait_group 0` completes the accumulators
//! before anything reads them. Consecutive products on the same accumulators need no
//! wait between them: the hardware orders them.

use inkwell::types::BasicTypeEnum;
use inkwell::values::{BasicValueEnum, IntValue};

use super::context::{Lowerer, Regs};
use super::dot::{DotShape, LhsOperand, Operands, RhsOrder};
use super::layout::WarpGrid;
use super::operand_tile::{OperandFormat, OperandTile, SWIZZLE_BYTES};
use super::plan::Placement;
use super::{CodegenError, MmaLowering};
use crate::ir::{Block, Op, ValueId};
use crate::passes::operands::uses_in;
use crate::target::Arch;

/// Widest N one instruction takes.
const MAX_N: u32 = 256;

/// Warps in a warpgroup, as a log2.
const WARPGROUP_WARP_BITS: u32 = 2;

/// An operand tile's shared-memory layout for a descriptor, per operand role: the two
/// byte offsets and the swizzle mode (PTX ISA, "Matrix Descriptor Format" and
/// "Canonical Layouts"). Without swizzle the offsets step between core matrices: the
/// leading one along K, the stride one along M or N. With the 128-byte swizzle, a
/// K-major tile's leading offset is unused (K per instruction stays in one 128-byte
/// row) and its stride steps 8 rows; an MN-major tile's leading offset steps between
/// 64-element columns along M or N and its stride 8 rows along K.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DescriptorStrides {
    pub leading: u32,
    pub stride: u32,
    pub swizzle_128: bool,
}

impl DescriptorStrides {
    /// A tile whose rows are M or N and whose columns are K (K-major).
    pub fn k_major(tile: &OperandTile) -> Option<DescriptorStrides> {
        match tile.format {
            OperandFormat::Swizzled128 => {
                Some(DescriptorStrides { leading: 16, stride: SWIZZLE_BYTES, swizzle_128: true })
            }
            _ => tile.core_strides().map(|(down, along)| DescriptorStrides {
                leading: along,
                stride: down,
                swizzle_128: false,
            }),
        }
    }

    /// A tile whose rows are K and whose columns are N (MN-major).
    pub fn mn_major(tile: &OperandTile) -> Option<DescriptorStrides> {
        match tile.format {
            OperandFormat::Swizzled128 => Some(DescriptorStrides {
                leading: tile.swizzle_column_bytes(),
                stride: SWIZZLE_BYTES,
                swizzle_128: true,
            }),
            _ => tile.core_strides().map(|(down, along)| DescriptorStrides {
                leading: down,
                stride: along,
                swizzle_128: false,
            }),
        }
    }

    /// The descriptor's constant part: everything but the start address.
    pub fn bits(&self) -> u64 {
        (u64::from(self.leading >> 4) & 0x3FFF) << 16
            | (u64::from(self.stride >> 4) & 0x3FFF) << 32
            | u64::from(self.swizzle_128) << 62
    }
}

impl<'ctx> Lowerer<'_, 'ctx> {
    /// Whether a dot with this warp grid runs on `wgmma` (module docs).
    pub(super) fn takes_wgmma(&self, shape: &DotShape, grid: WarpGrid) -> bool {
        self.mma == MmaLowering::Wgmma
            && self.arch == Arch::Sm90a
            && grid.warps_n == 0
            && grid.warps_m >= WARPGROUP_WARP_BITS
            && shape.n <= MAX_N
    }

    /// The fused adds `c + dot(a, b)` of loop `body` (carrying `carried`) that may
    /// complete in a later iteration (module docs): yielded as the value of the `c` they
    /// add to, which nothing else in the body reads, on `wgmma` with both operands
    /// prefetched (so the loop's schedule owns the shared memory they read).
    pub(super) fn deferred_accumulators(
        &self,
        body: &Block,
        carried: &[ValueId],
    ) -> Result<Vec<ValueId>, CodegenError> {
        let Some(Op::Yield { values }) = body.insts.last().map(|inst| &inst.op) else {
            return Ok(Vec::new());
        };
        let mut deferred = Vec::new();
        for (&yielded, &acc) in values.iter().zip(carried) {
            let Some(&(dot, addend)) = self.fused_adds.get(&yielded) else { continue };
            let top_level = body.insts.iter().any(|inst| inst.results.contains(&yielded));
            if addend != acc || !top_level || uses_in(body, acc) != 1 || uses_in(body, yielded) != 1 {
                continue;
            }
            let Some(Op::Dot { lhs, rhs }) = self.defining_op(dot) else { continue };
            let (lhs, rhs) = (*lhs, *rhs);
            let rhs_source = match self.defining_op(rhs) {
                Some(Op::Trans { value }) => *value,
                _ => rhs,
            };
            let prefetched = |v| self.placement(v).map(|p| *p == Placement::Prefetched);
            if !prefetched(lhs)? || !prefetched(rhs_source)? {
                continue;
            }
            let shape = DotShape::of(self.ty(lhs)?, self.ty(rhs)?, self.ty(dot)?)?;
            if self.takes_wgmma(&shape, WarpGrid::of(shape.m, shape.n, self.threads)) {
                deferred.push(yielded);
            }
        }
        Ok(deferred)
    }

    /// Waits until at most `pending` committed `wgmma` groups of this warp are running.
    pub(super) fn wait_products(&self, pending: u32) -> Result<(), CodegenError> {
        self.inline_void(&format!("wgmma.wait_group.sync.aligned {pending};"))
    }

    /// `values` once every `wgmma` group of this warp completed: the end of a loop whose
    /// accumulators were deferred.
    pub(super) fn complete_products(&self, values: &[BasicValueEnum<'ctx>]) -> Result<Regs<'ctx>, CodegenError> {
        self.pass_through("wgmma.wait_group.sync.aligned 0;", values)
    }

    /// Records that the product just committed defines `value` (`None`: a deferred
    /// accumulator, which its loop completes) and is still running.
    pub(super) fn product_in_flight(&mut self, value: Option<ValueId>) {
        self.in_flight.push(value);
    }

    /// If `v` is a running product, waits until it and every product committed before
    /// it completed (`wait_group` the number committed after it), and passes their
    /// registers through the wait so that no read of them comes before it.
    pub(super) fn await_product(&mut self, v: ValueId) -> Result<(), CodegenError> {
        let Some(at) = self.in_flight.iter().position(|&g| g == Some(v)) else {
            return Ok(());
        };
        let later = self.in_flight.len() - 1 - at;
        let done: Vec<ValueId> = self.in_flight.drain(..=at).flatten().collect();
        self.fence_completed(later, &done, &[])?;
        Ok(())
    }

    /// `regs`, a product just committed, completed at once with every product still
    /// running (one `wait_group 0` for all of them).
    pub(super) fn complete_with_running(&mut self, regs: &[BasicValueEnum<'ctx>]) -> Result<Regs<'ctx>, CodegenError> {
        let done: Vec<ValueId> = self.in_flight.drain(..).flatten().collect();
        self.fence_completed(0, &done, regs)
    }

    /// Waits until at most `pending` products run, with the registers of the values
    /// `done` (complete once it returns) and `extra` passed through the wait; redefines
    /// `done` by theirs and returns `extra`'s.
    fn fence_completed(
        &mut self,
        pending: usize,
        done: &[ValueId],
        extra: &[BasicValueEnum<'ctx>],
    ) -> Result<Regs<'ctx>, CodegenError> {
        let mut regs: Regs<'ctx> = Vec::new();
        for &d in done {
            regs.extend(self.defined_regs(d)?);
        }
        regs.extend_from_slice(extra);
        let fenced = self.pass_through(&format!("wgmma.wait_group.sync.aligned {pending};"), &regs)?;
        // Every group of an earlier iteration is complete now.
        self.release_pending_stage()?;
        let mut rest = fenced.as_slice();
        for &d in done {
            let (mine, tail) = rest.split_at(self.defined_regs(d)?.len());
            self.redefine(d, mine.to_vec())?;
            rest = tail;
        }
        Ok(rest.to_vec())
    }

    /// Completes the running products that `blocks` read (nested blocks included), and
    /// every product committed before them.
    pub(super) fn await_products_read(&mut self, blocks: &[&Block]) -> Result<(), CodegenError> {
        let read = |v: ValueId| blocks.iter().any(|b| uses_in(b, v) > 0);
        if let Some(newest) = self.in_flight.iter().rev().flatten().copied().find(|&v| read(v)) {
            self.await_product(newest)?;
        }
        Ok(())
    }

    /// Completes every running product of the open block that defines a value (deferred
    /// accumulators stay with their loop): before control flow, and where a block ends.
    pub(super) fn settle_products(&mut self) -> Result<(), CodegenError> {
        if let Some(newest) = self.in_flight.iter().rev().find_map(|&g| g) {
            self.await_product(newest)?;
        }
        self.in_flight.clear();
        Ok(())
    }

    /// The product in the accumulator layout, one `wgmma` per warpgroup, m-tile and
    /// k-step; register `d + 4 (j + tiles_n i)` is d_d of m-tile i, n-tile j, as in
    /// [`Lowerer::warp_tiles`]. The products are committed and left running (module docs).
    pub(super) fn warpgroup_tiles(
        &self,
        shape: &DotShape,
        grid: WarpGrid,
        operands: &Operands<'ctx>,
        init: Option<Regs<'ctx>>,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let Operands { lhs, lhs_tile, rhs, rhs_tile, order } = operands;
        let b = &self.builder;
        let per_tile = (shape.n / 2) as usize;
        let tiles_m = grid.tiles_m as usize;
        let steps = shape.k / 16;
        // A fragments in registers, every (m-tile, k-step) of them, fenced with the accumulators.
        let mut a_regs: Regs<'ctx> = Vec::new();
        if let LhsOperand::Registers(regs) = lhs {
            for i in 0..grid.tiles_m {
                for step in 0..steps {
                    a_regs.extend(self.a_fragment(regs, shape, i, step)?);
                }
            }
        }
        // A fresh product's accumulators are set to 0 by immediate moves inside the fence:
        // zeros passed in as operands become copies of one zero register, and where
        // another product runs, ptxas 13.0 injects a `warpgroup.wait` before such copies
        // (C7517).
        let (fresh, zeros, through) = match init {
            Some(init) if init.len() == per_tile * tiles_m => (0, String::new(), init),
            Some(init) => {
                return Err(CodegenError::InvalidIr(format!("a dot accumulates onto {} registers", init.len())))
            }
            None => {
                let count = per_tile * tiles_m;
                (count, (0..count).map(|i| format!("mov.b32 ${i}, 0;\n")).collect(), Vec::new())
            }
        };
        let values: Regs<'ctx> = through.iter().chain(&a_regs).copied().collect();
        let fenced = self.fresh_and_through(&(zeros + "wgmma.fence.sync.aligned;"), fresh, &values)?;
        let (acc, fenced_a) = fenced.split_at(per_tile * tiles_m);
        let mut acc = acc.to_vec();

        let (rhs_strides, trans_b) = match order {
            RhsOrder::KMajor => (DescriptorStrides::mn_major(rhs_tile), true),
            RhsOrder::NMajor => (DescriptorStrides::k_major(rhs_tile), false),
        };
        let rhs_strides =
            rhs_strides.ok_or_else(|| CodegenError::InvalidIr("a wgmma rhs outside core matrices".into()))?;
        let (_, warp_m) = self.warp_along_m(grid)?;
        // Warpgroup g's first row: 64 g = 16 (warp_m with its low two bits cleared).
        let group_row = b.build_left_shift(b.build_and(warp_m, self.i32(!3u64 & 0xFFFF_FFFF), "")?, self.i32(4), "")?;
        // Each k-step's descriptors are the first step's advanced by a constant: a k-step's
        // offset in the tile is the same from any row that is a multiple of 8 (row0 is one
        // of 16). One 64-bit add a step, rather than the whole descriptor again.
        let rhs_desc = self.descriptor(*rhs, rhs_strides)?;
        let lhs_step = |step: u32| lhs_tile.offset(0, 16 * step) - lhs_tile.offset(0, 0);
        for i in 0..grid.tiles_m {
            let row0 = b.build_int_add(group_row, self.i32(u64::from(16 * (i << grid.warps_m))), "")?;
            let lhs_desc = match lhs {
                LhsOperand::Registers(_) => None,
                LhsOperand::Shared(base) => {
                    let strides = DescriptorStrides::k_major(lhs_tile)
                        .ok_or_else(|| CodegenError::InvalidIr("a wgmma lhs outside core matrices".into()))?;
                    let at = b.build_int_add(*base, lhs_tile.offset_of(self, row0, self.i32(0))?, "")?;
                    Some(self.descriptor(at, strides)?)
                }
            };
            let mut tile_acc: Regs<'ctx> = acc[i as usize * per_tile..(i as usize + 1) * per_tile].to_vec();
            for step in 0..steps {
                let a = match lhs_desc {
                    None => {
                        let at = 4 * (i * steps + step) as usize;
                        WgmmaA::Registers(&fenced_a[at..at + 4])
                    }
                    Some(desc) => WgmmaA::Descriptor(self.advanced(desc, lhs_step(step))?),
                };
                let corner = match order {
                    RhsOrder::KMajor => rhs_tile.offset(16 * step, 0),
                    RhsOrder::NMajor => rhs_tile.offset(0, 16 * step),
                };
                let b_desc = self.advanced(rhs_desc, corner)?;
                tile_acc = self.wgmma(shape, &tile_acc, a, b_desc, trans_b)?;
            }
            acc[i as usize * per_tile..(i as usize + 1) * per_tile].copy_from_slice(&tile_acc);
        }
        self.inline_void("wgmma.commit_group.sync.aligned;")?;
        Ok(acc)
    }

    /// The 64-bit descriptor of the core-matrix tile at `.shared` address `address`.
    fn descriptor(&self, address: IntValue<'ctx>, strides: DescriptorStrides) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &self.builder;
        let start = b.build_and(b.build_right_shift(address, self.i32(4), false, "")?, self.i32(0x3FFF), "")?;
        let start = b.build_int_z_extend(start, self.context.i64_type(), "")?;
        Ok(b.build_or(start, self.i64(strides.bits()), "desc")?)
    }

    /// `desc` with its start address `bytes` further. The start field holds address / 16
    /// in 14 bits, which every shared-memory address fits, so adding bytes / 16 never
    /// carries out of it; `bytes` must be a multiple of 16, as core matrices and
    /// swizzle chunks are.
    fn advanced(&self, desc: IntValue<'ctx>, bytes: u32) -> Result<IntValue<'ctx>, CodegenError> {
        if !bytes.is_multiple_of(16) {
            return Err(CodegenError::InvalidIr(format!(
                "a wgmma operand {bytes} bytes into its tile, not 16-byte aligned"
            )));
        }
        if bytes == 0 {
            return Ok(desc);
        }
        Ok(self.builder.build_int_add(desc, self.i64(u64::from(bytes / 16)), "desc")?)
    }

    /// One `wgmma.mma_async` m64nNk16: `acc + a @ b` for this warpgroup's 64 rows.
    fn wgmma(
        &self,
        shape: &DotShape,
        acc: &[BasicValueEnum<'ctx>],
        a: WgmmaA<'_, 'ctx>,
        b_desc: IntValue<'ctx>,
        trans_b: bool,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let count = acc.len();
        let dtype = shape.dtype;
        let d: Vec<String> = (0..count).map(|i| format!("${i}")).collect();
        let mut args: Vec<BasicValueEnum<'ctx>> = Vec::new();
        let mut constraints: Vec<String> = vec!["=f".to_string(); count];
        let a_text = match a {
            WgmmaA::Registers(regs) => {
                args.extend_from_slice(regs);
                constraints.extend(["r"; 4].map(String::from));
                format!("{{${}, ${}, ${}, ${}}}", count, count + 1, count + 2, count + 3)
            }
            WgmmaA::Descriptor(desc) => {
                args.push(desc.into());
                constraints.push("l".into());
                format!("${count}")
            }
        };
        let b_at = count + args.len();
        args.push(b_desc.into());
        constraints.push("l".into());
        // scale-d is a predicate, set from a register holding 1.
        let scale_at = count + args.len();
        args.push(self.i32(1).into());
        constraints.push("r".into());
        // Immediates: scale-a 1, scale-b 1, then the transposes; no trans-a with A in registers.
        let transposes = match a {
            WgmmaA::Registers(_) => format!("{}", u8::from(trans_b)),
            WgmmaA::Descriptor(_) => format!("0, {}", u8::from(trans_b)),
        };
        // Every k-step accumulates (scale-d true): the first adds onto zeros or the addend.
        let asm = format!(
            "{{\n.reg .pred p;\nsetp.ne.b32 p, ${scale_at}, 0;\nwgmma.mma_async.sync.aligned.m64n{n}k16.f32.{dtype}.{dtype} {{{d}}}, {a_text}, ${b_at}, p, 1, 1, {transposes};\n}}",
            n = shape.n,
            d = d.join(", "),
        );
        // The accumulators are read too: tied to the outputs.
        args.extend_from_slice(acc);
        constraints.extend((0..count).map(|i| i.to_string()));
        let outs: Vec<BasicTypeEnum<'ctx>> = vec![self.context.f32_type().into(); count];
        self.inline_asm(&asm, &(constraints.join(",") + ",~{memory}"), &outs, &args)
    }

    /// `asm` with `values` passed through it as in-out operands (a fence on them).
    fn pass_through(&self, asm: &str, values: &[BasicValueEnum<'ctx>]) -> Result<Regs<'ctx>, CodegenError> {
        self.fresh_and_through(asm, 0, values)
    }

    /// `asm` with `fresh` f32 outputs `$0 ..` that it defines itself, then `values` passed
    /// through it as in-out operands; returns the fresh outputs, then the values.
    fn fresh_and_through(
        &self,
        asm: &str,
        fresh: usize,
        values: &[BasicValueEnum<'ctx>],
    ) -> Result<Regs<'ctx>, CodegenError> {
        if fresh + values.len() == 0 {
            self.inline_void(asm)?;
            return Ok(Vec::new());
        }
        let class = |v: &BasicValueEnum<'ctx>| if v.is_float_value() { "=f" } else { "=r" };
        let constraints: Vec<String> = std::iter::repeat_n("=f".to_string(), fresh)
            .chain(values.iter().map(|v| class(v).to_string()))
            .chain((0..values.len()).map(|i| (fresh + i).to_string()))
            .chain(["~{memory}".to_string()])
            .collect();
        let outs: Vec<BasicTypeEnum<'ctx>> = std::iter::repeat_n(self.context.f32_type().into(), fresh)
            .chain(values.iter().map(|v| v.get_type()))
            .collect();
        self.inline_asm(asm, &constraints.join(","), &outs, values)
    }
}

/// Where one `wgmma`'s A comes from.
#[derive(Clone, Copy)]
enum WgmmaA<'r, 'ctx> {
    /// This warp's A fragment of the k-step: four packed registers.
    Registers(&'r [BasicValueEnum<'ctx>]),
    /// A descriptor of the 64 x 16 slice in shared memory.
    Descriptor(IntValue<'ctx>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(rows: u32, cols: u32) -> OperandTile {
        OperandTile::exact(rows, cols, OperandFormat::CoreMatrices)
    }

    fn swizzled(rows: u32, cols: u32) -> OperandTile {
        OperandTile::exact(rows, cols, OperandFormat::Swizzled128)
    }

    #[test]
    fn k_major_lhs_steps_one_core_matrix_along_k_and_a_row_group_down() {
        // The verified probe (PTX-NOTES): 64 x 16, LBO 128, SBO 256.
        assert_eq!(
            DescriptorStrides::k_major(&core(64, 16)),
            Some(DescriptorStrides { leading: 128, stride: 256, swizzle_128: false })
        );
    }

    #[test]
    fn mn_major_rhs_steps_a_row_group_along_k() {
        // V [64 keys, 128]: K runs down the rows, 16 core matrices per row group.
        assert_eq!(
            DescriptorStrides::mn_major(&core(64, 128)),
            Some(DescriptorStrides { leading: 2048, stride: 128, swizzle_128: false })
        );
    }

    #[test]
    fn descriptor_bits_place_the_offsets_above_the_address() {
        assert_eq!(DescriptorStrides { leading: 128, stride: 256, swizzle_128: false }.bits(), (8 << 16) | (16 << 32));
    }

    #[test]
    fn padded_tiles_have_no_descriptor() {
        assert_eq!(DescriptorStrides::k_major(&OperandTile::new(64, 16, OperandFormat::PaddedRows)), None);
    }

    #[test]
    fn swizzled_k_major_steps_8_rows_of_128_bytes() {
        // The leading offset is unused: K per instruction stays in one 128-byte row.
        assert_eq!(
            DescriptorStrides::k_major(&swizzled(64, 64)),
            Some(DescriptorStrides { leading: 16, stride: 1024, swizzle_128: true })
        );
    }

    #[test]
    fn swizzled_mn_major_steps_64_columns_along_n_and_8_rows_along_k() {
        // b [64 k, 256 n]: a 64-wide column of n holds all 64 k rows of 128 bytes.
        assert_eq!(
            DescriptorStrides::mn_major(&swizzled(64, 256)),
            Some(DescriptorStrides { leading: 8192, stride: 1024, swizzle_128: true })
        );
    }

    #[test]
    fn swizzle_mode_128_is_bit_62() {
        let bits = DescriptorStrides { leading: 16, stride: 1024, swizzle_128: true }.bits();
        assert_eq!(bits, (1 << 16) | (64 << 32) | (1 << 62));
    }
}
