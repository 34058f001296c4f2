//! `dot` operands prefetched with `cp.async`, `N - 1` loop iterations ahead.
//!
//! A tile loaded in a `for` body whose only uses are `dot` operands (directly, or through
//! `trans` into a rhs), and whose indices the loop can compute for a later iteration,
//! is placed [`Placement::Prefetched`](super::plan::Placement) by the planner. It never
//! lives in registers: it goes global → shared memory with `cp.async`, into a ring of
//! `N` stages of its own (`N` is the kernel's `stages(N)`, [`crate::ir::Kernel::num_stages`], 2 by
//! default; each stage in the target's [`OperandTile`] format), and `dot` reads it from
//! there.
//!
//! The schedule of iteration `i`, with `s = i mod N` its stage, carried through the loop
//! as a phi (0, 1, .., N - 1, 0, ..):
//!
//! ```text
//!   before the loop:  for j in 0 .. N - 1: copy iteration j's tiles into stage j; commit
//!   top of body:      barrier                 (everyone is done with stage s - 1 mod N,
//!                                              which iteration i - 1 read)
//!                     copy iteration i + N - 1's tiles into stage s - 1 mod N; commit
//!                     wait until N - 1 groups are pending; barrier
//!                                             (iteration i's group, and so stage s, is complete)
//!   the body's dots read stage s, while the next N - 1 iterations' tiles are on their way
//!   after the loop:   wait for all groups
//! ```
//!
//! A loop whose `wgmma` products are deferred ([`super::wgmma`]) copies N - 2 iterations
//! ahead instead, into stage `s - 2 mod N`, after waiting at the top of the body until
//! only the last iteration's products run: those still read stage `s - 1`.
//!
//! With N = 2 this is one copy ahead into stage `s ^ 1` and `wait_group 1`, the schedule
//! this module always had. Groups complete in commit order, and by the wait of iteration
//! `i` this thread has committed `N + i` groups (N - 1 before the loop, one per iteration
//! so far), so at most N - 1 pending means the first `i + 1`, iterations 0 ..= i, landed.
//!
//! The copies past the last iteration read tiles nobody uses; like every load, they are
//! masked against the tensor's sizes (an index that wrapped around i32 is out of bounds
//! too: the masks compare unsigned). A thread whose chunks are all in bounds,
//! contiguous and aligned copies 16-byte (or smaller) chunks with `cp.async`; otherwise
//! it loads element by element under masks and stores to shared memory itself (the
//! ragged last tile of a sequence, or a strided view), which the next barriers publish
//! the same way.

use std::collections::HashSet;

use inkwell::values::{IntValue, PointerValue};
use inkwell::AddressSpace;

use super::context::{as_int, Lowerer};
use super::layout::Layout;
use super::operand_tile::{OperandFormat, OperandTile};
use super::ops::int_predicate;
use super::plan::Placement;
use super::tma::{StageBarriers, TmaTile, BOX_COLUMNS};
use super::CodegenError;
use crate::ir::{BinaryOp, Block, CmpOp, DType, Index, Inst, Literal, Op, ValueId};

/// One prefetched tile of a loop: where its stages live.
#[derive(Clone)]
pub(super) struct Prefetch<'ctx> {
    pub value: ValueId,
    inst: Inst,
    /// Stage 0; stage `s` starts `s * stage_bytes` later.
    buffer: PointerValue<'ctx>,
    stage_bytes: u64,
    /// Copied by TMA rather than `cp.async` ([`super::tma`]).
    pub tma: Option<TmaTile<'ctx>>,
}

/// A loop's TMA copies: the stages' barriers, and the loop's upper bound (copies are
/// issued only for iterations that run).
#[derive(Clone, Copy)]
pub(super) struct TmaLoop<'ctx> {
    pub barriers: StageBarriers<'ctx>,
    pub upper: IntValue<'ctx>,
    /// In the loop body with free barriers: the full barriers' phase bits (bit `s` the
    /// parity stage `s` completes next), from which the issuing thread knows which
    /// release of the stage it refills to wait for. `None` before the loop, where every
    /// stage is fresh.
    pub phases: Option<IntValue<'ctx>>,
    /// The thread that issues the copies: 0, or in a ping-pong loop the first of the last
    /// warpgroup ([`super::pingpong`]).
    pub issuer: u32,
}

impl<'ctx> Lowerer<'_, 'ctx> {
    /// The prefetched loads of loop `body`, each with its buffers allocated: one set for
    /// all warp groups where the loop is `fed` by the producer, else one a group.
    pub(super) fn prefetches_of(&mut self, body: &Block, fed: bool) -> Result<Vec<Prefetch<'ctx>>, CodegenError> {
        let mut out = Vec::new();
        for inst in &body.insts {
            let (Op::Load { .. }, [value]) = (&inst.op, inst.results.as_slice()) else {
                continue;
            };
            if *self.placement(*value)? != Placement::Prefetched {
                continue;
            }
            let ty = self.ty(*value)?;
            let stage_bytes = OperandTile::of(ty, self.operand_format)?.bytes();
            let stages = self.kernel.num_stages;
            // Named after the header option, so a kernel whose stages do not fit in shared
            // memory says which option to lower.
            let what = format!("stages({stages}) prefetch of {ty}");
            let bytes = u64::from(stages) * stage_bytes;
            let buffer = match fed {
                true => self.shared.allocate_shared(self.context, self.module, &what, bytes)?,
                false => self.shared.allocate(self.context, self.module, &what, bytes)?,
            };
            let tma = match ty.shape.as_slice() {
                &[rows, cols] => self.tma_tile(inst, rows, cols),
                _ => None,
            };
            out.push(Prefetch { value: *value, inst: inst.clone(), buffer, stage_bytes, tma });
        }
        Ok(out)
    }

    /// Copies the tiles of `prefetches` for the iteration whose induction variable `iv`
    /// is `iv_value` into stage `stage`: the `cp.async` ones committed as one group, the
    /// TMA ones ([`super::tma`]) issued by `tma.issuer` on the stage's barrier of `tma`.
    pub(super) fn copy_ahead(
        &mut self,
        prefetches: &[Prefetch<'ctx>],
        iv: ValueId,
        iv_value: IntValue<'ctx>,
        body_values: &HashSet<ValueId>,
        stage: IntValue<'ctx>,
        tma: Option<TmaLoop<'ctx>>,
    ) -> Result<(), CodegenError> {
        if let Some(tma) = tma {
            let mut scalar = |this: &mut Self, v: ValueId| this.scalar_at(v, iv, iv_value, body_values);
            self.copy_ahead_tma(prefetches, (iv_value, stage), tma, &mut scalar)?;
        }
        if prefetches.iter().all(|p| p.tma.is_some()) {
            return Ok(());
        }
        for p in prefetches.iter().filter(|p| p.tma.is_none()) {
            let Op::Load { tensor, indices } = &p.inst.op else {
                return Err(CodegenError::InvalidIr(format!("prefetched {} is not a load", p.value)));
            };
            let ty = self.ty(p.value)?;
            let tile = OperandTile::of(ty, self.operand_format)?;
            let layout = tile.copy_layout(ty, self.threads)?;
            let mut scalar = |this: &mut Self, v: ValueId| this.scalar_at(v, iv, iv_value, body_values);
            let access = self.access_at(*tensor, indices, ty, &layout, &mut scalar)?;
            let vec = access.chunk_len(&layout);
            let chunks = (0..layout.regs())
                .step_by(vec)
                .map(|reg| self.chunk(&access, &layout, reg))
                .collect::<Result<Vec<_>, _>>()?;
            let stage_base = self.stage_address(p, stage)?;
            // Each chunk's place in the buffer, as a `.shared` address.
            let mut destinations = Vec::with_capacity(chunks.len());
            for reg in (0..layout.regs()).step_by(vec) {
                let at = self.tile_element_offset(&tile, &layout, reg)?;
                destinations.push(self.builder.build_int_add(stage_base, at, "")?);
            }
            let owner = self.is_owner(&layout)?;
            let chunk_bytes = vec * ty.dtype.size_bytes();
            if chunk_bytes <= 16 && self.statically_aligned(&access, chunk_bytes as u32) {
                // Every chunk is one aligned copy; the part outside the tensor is zero-filled
                // by the copy itself, so there is no branch and no element path.
                self.when(owner, |this| {
                    for (chunk, &dst) in chunks.iter().zip(&destinations) {
                        let bytes = this.chunk_bytes_inside(&access, chunk, vec)?;
                        let src = this.chunk_source(&access, chunk, bytes)?;
                        this.cp_async_zero_fill(dst, src, chunk_bytes as u32, bytes)?;
                    }
                    Ok(())
                })?;
                continue;
            }
            let fast = self.fast_path(&access, &chunks, vec)?;
            self.when(owner, |this| {
                let slow = |this: &Self| -> Result<Vec<_>, CodegenError> {
                    for (chunk, &dst) in chunks.iter().zip(&destinations) {
                        let values = this.load_elements(&access, chunk, vec)?;
                        this.store_shared_address(dst, ty.dtype, &values)?;
                    }
                    Ok(Vec::new())
                };
                match fast {
                    Some((fast, align)) if vec * ty.dtype.size_bytes() == align as usize => {
                        let copies = |this: &Self| -> Result<Vec<_>, CodegenError> {
                            for (chunk, &dst) in chunks.iter().zip(&destinations) {
                                this.cp_async(dst, this.element_ptr(&access, chunk.offset)?, align)?;
                            }
                            Ok(Vec::new())
                        };
                        this.branch_values(fast, &[], copies, slow)?;
                    }
                    _ => {
                        slow(this)?;
                    }
                }
                Ok(())
            })?;
        }
        self.intrinsic_void("llvm.nvvm.cp.async.commit.group", &[], &[])
    }

    /// The TMA part of [`Lowerer::copy_ahead`] for the iteration whose induction variable
    /// is `iv_value`: every thread computes the tiles' corners (uniform scalars, `scalar`
    /// evaluates them for that iteration), and the issuing thread, if the iteration runs, announces
    /// the stage's bytes and issues one bulk copy per 64-column box.
    fn copy_ahead_tma(
        &mut self,
        prefetches: &[Prefetch<'ctx>],
        (iv_value, stage): (IntValue<'ctx>, IntValue<'ctx>),
        tma: TmaLoop<'ctx>,
        scalar: &mut dyn FnMut(&mut Self, ValueId) -> Result<IntValue<'ctx>, CodegenError>,
    ) -> Result<(), CodegenError> {
        let mut copies = Vec::new();
        for p in prefetches {
            let Some(tile) = &p.tma else { continue };
            let Op::Load { indices, .. } = &p.inst.op else {
                return Err(CodegenError::InvalidIr(format!("prefetched {} is not a load", p.value)));
            };
            let corner = indices.iter().map(|i| scalar(self, i.value())).collect::<Result<Vec<_>, _>>()?;
            copies.push((tile, self.stage_address(p, stage)?, corner));
        }
        let runs = self.builder.build_int_compare(inkwell::IntPredicate::SLT, iv_value, tma.upper, "")?;
        let b = &self.builder;
        let issuer = b.build_int_compare(inkwell::IntPredicate::EQ, self.tid, self.i32(u64::from(tma.issuer)), "")?;
        let issue = b.build_and(runs, issuer, "tma.issue")?;
        let barrier = self.stage_barrier(tma.barriers, stage)?;
        self.when(issue, |this| {
            if let (true, Some(phases)) = (tma.barriers.release, tma.phases) {
                // The fill of iteration j waits for the release of iteration j - N, phase
                // (j / N - 1) of the free barrier: the opposite parity of the full barrier's
                // next phase, (j / N) & 1. For j < N that parity is 1, which a fresh barrier
                // reports complete.
                let next = this.phase_parity(phases, stage)?;
                let parity = this.builder.build_xor(next, this.i32(1), "")?;
                this.wait_barrier(this.free_barrier(tma.barriers, stage)?, parity)?;
            }
            this.expect_bytes(barrier, tma.barriers.stage_bytes)?;
            for (tile, base, corner) in &copies {
                let mut coords = corner.clone();
                let last = coords.len() - 1;
                for j in 0..tile.boxes {
                    let b = &this.builder;
                    let dst = b.build_int_add(*base, this.i32(u64::from(j * tile.box_bytes)), "")?;
                    coords[last] = b.build_int_add(corner[last], this.i32(u64::from(j * BOX_COLUMNS)), "")?;
                    this.copy_box(tile, dst, &coords, barrier)?;
                }
            }
            Ok(())
        })
    }

    /// Lowers a run of consecutive [`Placement::Staged`] loads: each tile is loaded into
    /// registers and stored at once to a shared buffer of its own (in the target's
    /// [`OperandTile`] format), so its registers die here rather than live until the
    /// `dot`. One barrier before (a previous iteration may still read the buffers) and
    /// one after.
    pub(super) fn lower_staged(&mut self, loads: &[&Inst]) -> Result<(), CodegenError> {
        let mut tiles = Vec::with_capacity(loads.len());
        for inst in loads {
            let (Op::Load { tensor, indices }, [value]) = (&inst.op, inst.results.as_slice()) else {
                return Err(CodegenError::InvalidIr("a staged tile that is not one load".into()));
            };
            let ty = self.ty(*value)?;
            let tile = OperandTile::of(ty, self.operand_format)?;
            let layout = tile.copy_layout(ty, self.threads)?;
            let regs = self.load(*tensor, indices, *value, &layout)?;
            tiles.push((*value, tile, ty.dtype, layout, regs));
        }
        self.barrier()?;
        for (value, tile, dtype, layout, regs) in &tiles {
            let buffer = self.shared.allocate(self.context, self.module, "staged dot operand", tile.bytes())?;
            let base = self.builder.build_ptr_to_int(buffer, self.context.i32_type(), "")?;
            self.stage_regs(tile, *dtype, layout, regs, base)?;
            self.set_shared_tile_address(*value, base);
        }
        self.publish_operands()
    }

    /// Makes this thread's shared-memory operand writes visible to every thread's
    /// readers: a barrier, after a proxy fence where `wgmma` reads them (it reads
    /// shared memory through the async proxy, which ordinary and `cp.async` writes do
    /// not reach without one).
    pub(super) fn publish_operands(&self) -> Result<(), CodegenError> {
        if self.operand_format == OperandFormat::CoreMatrices {
            self.inline_void("fence.proxy.async.shared::cta;")?;
        }
        self.barrier()
    }

    /// Byte offset in `tile` of the chunk in register `reg` of `layout`.
    pub(super) fn tile_element_offset(
        &self,
        tile: &OperandTile,
        layout: &Layout,
        reg: usize,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let first = self.flat_index(layout, reg)?;
        let b = &self.builder;
        let row = b.build_right_shift(first, self.i32(u64::from(tile.cols.trailing_zeros())), false, "")?;
        let col = b.build_and(first, self.i32(u64::from(tile.cols - 1)), "")?;
        tile.offset_of(self, row, col)
    }

    /// Before a loop: the tiles of iterations 0 .. `count` (induction variable `lower`,
    /// `lower + step`, ..) into stages 0 .. `count`, one commit group each; `count` is
    /// N - 1, or N - 2 when the loop defers products ([`super::wgmma`]).
    pub(super) fn copy_prologue(
        &mut self,
        prefetches: &[Prefetch<'ctx>],
        iv: ValueId,
        (lower, step): (IntValue<'ctx>, IntValue<'ctx>),
        count: u32,
        body_values: &HashSet<ValueId>,
        tma: Option<TmaLoop<'ctx>>,
    ) -> Result<(), CodegenError> {
        let mut iv_value = lower;
        for stage in 0..count {
            if stage > 0 {
                iv_value = self.builder.build_int_add(iv_value, step, "")?;
            }
            self.copy_ahead(prefetches, iv, iv_value, body_values, self.i32(u64::from(stage)), tma)?;
        }
        Ok(())
    }

    /// The kernel's stage count, checked ([`checked_stages`]).
    pub(super) fn num_stages(&self) -> Result<u32, CodegenError> {
        checked_stages(self.kernel.num_stages)
    }

    /// `(stage + k) mod N` for a stage index `stage < N` and `k < N`.
    pub(super) fn stage_plus(&self, stage: IntValue<'ctx>, k: u32) -> Result<IntValue<'ctx>, CodegenError> {
        let stages = self.num_stages()?;
        let b = &self.builder;
        if stages == 2 {
            // The xor N = 2 always used, so its code is unchanged (k is 1 here).
            return Ok(b.build_xor(stage, self.i32(u64::from(k % 2)), "stage.next")?);
        }
        let sum = b.build_int_add(stage, self.i32(u64::from(k)), "")?;
        if stages.is_power_of_two() {
            return Ok(b.build_and(sum, self.i32(u64::from(stages - 1)), "stage.next")?);
        }
        // stage + k < 2N, so one subtraction wraps it.
        let past = b.build_int_compare(inkwell::IntPredicate::UGE, sum, self.i32(u64::from(stages)), "")?;
        let wrapped = b.build_int_sub(sum, self.i32(u64::from(stages)), "")?;
        Ok(b.build_select(past, wrapped, sum, "stage.next")?.into_int_value())
    }

    /// Waits until at most `pending` committed groups of this thread are in flight.
    pub(super) fn wait_copies(&self, pending: u32) -> Result<(), CodegenError> {
        self.intrinsic_void("llvm.nvvm.cp.async.wait.group", &[], &[self.i32(u64::from(pending)).into()])
    }

    /// The `.shared` address of stage `stage` of a prefetched tile.
    pub(super) fn stage_address(
        &self,
        p: &Prefetch<'ctx>,
        stage: IntValue<'ctx>,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &self.builder;
        let base = b.build_ptr_to_int(p.buffer, self.context.i32_type(), "")?;
        let offset = b.build_int_mul(stage, self.i32(p.stage_bytes), "")?;
        Ok(b.build_int_add(base, offset, "")?)
    }

    /// One `cp.async` of `bytes` (4, 8 or 16) from global `src` to `.shared` address `dst`.
    fn cp_async(&self, dst: IntValue<'ctx>, src: PointerValue<'ctx>, bytes: u32) -> Result<(), CodegenError> {
        let name = match bytes {
            16 => "llvm.nvvm.cp.async.cg.shared.global.16",
            8 => "llvm.nvvm.cp.async.ca.shared.global.8",
            4 => "llvm.nvvm.cp.async.ca.shared.global.4",
            other => return Err(CodegenError::InvalidIr(format!("a cp.async of {other} bytes"))),
        };
        let shared = self.context.ptr_type(AddressSpace::from(super::shared::ADDRESS_SPACE));
        let dst = self.builder.build_int_to_ptr(dst, shared, "")?;
        self.intrinsic_void(name, &[], &[dst.into(), src.into()])
    }

    /// One `cp.async` of `bytes` (4, 8 or 16) to `.shared` address `dst` that reads only the
    /// first `src_bytes` from global `src` and zero-fills the rest (`src_bytes` may be 0).
    fn cp_async_zero_fill(
        &self,
        dst: IntValue<'ctx>,
        src: PointerValue<'ctx>,
        bytes: u32,
        src_bytes: IntValue<'ctx>,
    ) -> Result<(), CodegenError> {
        let name = match bytes {
            16 => "llvm.nvvm.cp.async.cg.shared.global.16.s",
            8 => "llvm.nvvm.cp.async.ca.shared.global.8.s",
            4 => "llvm.nvvm.cp.async.ca.shared.global.4.s",
            other => return Err(CodegenError::InvalidIr(format!("a cp.async of {other} bytes"))),
        };
        let shared = self.context.ptr_type(AddressSpace::from(super::shared::ADDRESS_SPACE));
        let dst = self.builder.build_int_to_ptr(dst, shared, "")?;
        self.intrinsic_void(name, &[], &[dst.into(), src.into(), src_bytes.into()])
    }

    /// Stores `values` (memory form) at the `.shared` address `dst`, as one vector.
    pub(super) fn store_shared_address(
        &self,
        dst: IntValue<'ctx>,
        dtype: DType,
        values: &[inkwell::values::BasicValueEnum<'ctx>],
    ) -> Result<(), CodegenError> {
        let shared = self.context.ptr_type(AddressSpace::from(super::shared::ADDRESS_SPACE));
        let base = self.builder.build_int_to_ptr(dst, shared, "")?;
        self.store_shared_run(base, dtype, self.i32(0), values)
    }

    /// The i32 scalar `v` for the iteration whose induction variable `iv` is `iv_value`:
    /// the loop body's own scalar arithmetic on it is recomputed; anything defined
    /// outside the body is what it is.
    fn scalar_at(
        &mut self,
        v: ValueId,
        iv: ValueId,
        iv_value: IntValue<'ctx>,
        body_values: &HashSet<ValueId>,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        if v == iv {
            return Ok(iv_value);
        }
        if !body_values.contains(&v) {
            let dtype = self.ty(v)?.dtype;
            return as_int(self.scalar(v, dtype)?);
        }
        match self.defining_op(v) {
            Some(Op::Const(Literal::Int(i))) => Ok(self.context.i32_type().const_int(*i as u64, true)),
            Some(Op::Load { tensor, indices }) => {
                // A scalar the loop loads (a block list's next entry), loaded for that
                // iteration; masked like every load, so any index is safe.
                let (tensor, indices) = (*tensor, indices.clone());
                let ty = self.ty(v)?;
                let layout = self.blocked(ty)?;
                let mut scalar = |this: &mut Self, x: ValueId| this.scalar_at(x, iv, iv_value, body_values);
                let access = self.access_at(tensor, &indices, ty, &layout, &mut scalar)?;
                let regs = self.load_access(&access, &layout)?;
                match regs.as_slice() {
                    [one] => Ok(one.into_int_value()),
                    _ => Err(CodegenError::InvalidIr(format!("prefetched index {v} is not a scalar"))),
                }
            }
            Some(Op::Binary { op, lhs, rhs }) => {
                let (lhs, rhs) = (*lhs, *rhs);
                let op = *op;
                let x = self.scalar_at(lhs, iv, iv_value, body_values)?;
                let y = self.scalar_at(rhs, iv, iv_value, body_values)?;
                let b = &self.builder;
                Ok(match op {
                    BinaryOp::Add => b.build_int_add(x, y, "")?,
                    BinaryOp::Sub => b.build_int_sub(x, y, "")?,
                    BinaryOp::Mul => b.build_int_mul(x, y, "")?,
                    BinaryOp::Max | BinaryOp::Min => {
                        let keeps_x = if op == BinaryOp::Max { CmpOp::Gt } else { CmpOp::Lt };
                        let keep_x = b.build_int_compare(int_predicate(keeps_x, true), x, y, "")?;
                        b.build_select(keep_x, x, y, "")?.into_int_value()
                    }
                    _ => return Err(CodegenError::InvalidIr(format!("prefetched index {v} uses {op:?}"))),
                })
            }
            Some(Op::Cmp { op, lhs, rhs }) => {
                let (op, lhs, rhs) = (*op, *lhs, *rhs);
                let x = self.scalar_at(lhs, iv, iv_value, body_values)?;
                let y = self.scalar_at(rhs, iv, iv_value, body_values)?;
                Ok(self.builder.build_int_compare(int_predicate(op, true), x, y, "")?)
            }
            Some(Op::Select { cond, on_true, on_false }) => {
                let (cond, on_true, on_false) = (*cond, *on_true, *on_false);
                let c = self.scalar_at(cond, iv, iv_value, body_values)?;
                let x = self.scalar_at(on_true, iv, iv_value, body_values)?;
                let y = self.scalar_at(on_false, iv, iv_value, body_values)?;
                Ok(self.builder.build_select(c, x, y, "")?.into_int_value())
            }
            _ => Err(CodegenError::InvalidIr(format!("prefetched index {v} is not loop arithmetic"))),
        }
    }
}

/// `stages` if code generation supports it: the stage arithmetic needs at least 2 (and
/// `wait_group N - 1` at least 1), and [`crate::ir::MAX_STAGES`] bounds the prologue.
pub(super) fn checked_stages(stages: u32) -> Result<u32, CodegenError> {
    use crate::ir::{MAX_STAGES, MIN_STAGES};
    if (MIN_STAGES..=MAX_STAGES).contains(&stages) {
        Ok(stages)
    } else {
        Err(CodegenError::Unsupported {
            what: format!("stages({stages})"),
            supported: format!("{MIN_STAGES} to {MAX_STAGES} prefetch stages"),
        })
    }
}

/// Whether the planner may prefetch an index computed by `op` in a loop body: the
/// arithmetic [`Lowerer::scalar_at`] recomputes. `dtype` is the result's, `operand` the
/// dtype of the op's first operand (a comparison's operands must be i32).
pub(super) fn is_index_arithmetic(op: &Op, dtype: DType, operand: Option<DType>) -> bool {
    match op {
        Op::Const(Literal::Int(_)) => true,
        Op::Load { indices, .. } => dtype == DType::I32 && indices.iter().all(|i| !matches!(i, Index::Gather(_))),
        Op::Binary { op, .. } => {
            dtype == DType::I32
                && matches!(op, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min)
        }
        Op::Cmp { .. } => operand == Some(DType::I32),
        Op::Select { .. } => dtype == DType::I32,
        _ => false,
    }
}

/// Every value defined in `block` and the blocks nested in it (block arguments included).
pub(super) fn defined_in(block: &Block, out: &mut HashSet<ValueId>) {
    out.extend(block.args.iter().copied());
    for inst in &block.insts {
        out.extend(inst.results.iter().copied());
        match &inst.op {
            Op::For { body, .. } => defined_in(body, out),
            Op::If { then_block, else_block, .. } => {
                defined_in(then_block, out);
                defined_in(else_block, out);
            }
            _ => {}
        }
    }
}
