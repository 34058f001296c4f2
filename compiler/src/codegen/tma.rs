//! Prefetched tiles copied by the Tensor Memory Accelerator (sm_90a): one thread issues a
//! bulk tensor copy per 64-column box, and the copies complete on an mbarrier per
//! pipeline stage that every thread waits on, instead of each thread moving 16-byte
//! chunks with `cp.async` and waiting on its own commit groups.
//!
//! A prefetched load goes through TMA when ([`map_of`]):
//! - the target is sm_90a with `wgmma` and the kernel's options allow it
//!   ([`super::CodegenOptions::tma`]);
//! - its tensor has the `aligned` contract (TMA needs a 16-byte-aligned base and strides
//!   in multiples of 16 bytes, which the contract guarantees);
//! - the tile is `[rows, cols]` of 16-bit elements in the 128-byte swizzle
//!   ([`OperandTile::new`]): `cols` a multiple of 64 and `rows` a multiple of 8, at
//!   most 256 (TMA's largest box side);
//! - its indices are two ranges, the second on the tensor's last (contiguous) axis, and
//!   points elsewhere, on a tensor of rank at most 5.
//!
//! The 128-byte swizzle TMA writes into a 1024-byte-aligned box of 64 columns is the
//! Swizzled128 layout of one 64-column block of the tile, so box `j` lands at the
//! tile's column block `j` and `wgmma` reads it as it reads `cp.async` copies. Out of
//! bounds the box reads zeros, as masked loads do.
//!
//! The schedule is `codegen::prefetch`'s, with the wait replaced: the issuing thread
//! announces the stage's bytes (`mbarrier.arrive.expect_tx`), and iteration `i` waits
//! for the phase `(i / N) & 1` of its stage's barrier. Copies are issued only for
//! iterations the loop runs, so every copy is waited for and no copy is in flight when
//! the loop's shared memory is released.

use std::collections::HashMap;

use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use super::context::Lowerer;
use super::operand_tile::{OperandFormat, OperandTile};
use super::plan::Placement;
use super::CodegenError;
use crate::abi::TensorMap;
use crate::ir::{Block, Index, Inst, Kernel, Op, Param};

/// Largest box side a tensor map takes.
const MAX_BOX: u32 = 256;
/// Highest tensor rank a tensor map takes.
const MAX_RANK: usize = 5;
/// Columns of one box: 128 bytes of 16-bit elements, the 128-byte swizzle's row.
pub(super) const BOX_COLUMNS: u32 = 64;
/// Bytes of one mbarrier.
const BARRIER_BYTES: u64 = 8;

/// The tensor map a prefetched `load` would copy through, if TMA can copy it (module docs).
pub(super) fn map_of(kernel: &Kernel, inst: &Inst, format: OperandFormat) -> Option<TensorMap> {
    let (Op::Load { tensor, indices }, [value]) = (&inst.op, inst.results.as_slice()) else {
        return None;
    };
    let Param::Tensor { dims, aligned: true, .. } = kernel.params.get(tensor.0 as usize)? else {
        return None;
    };
    let ty = kernel.value_types.get(value.0 as usize)?;
    let &[rows, cols] = ty.shape.as_slice() else {
        return None;
    };
    let tile = OperandTile::of(ty, format).ok()?;
    let swizzled = tile.format == OperandFormat::Swizzled128 && format == OperandFormat::CoreMatrices;
    if !swizzled || rows > MAX_BOX || dims.len() > MAX_RANK || indices.len() != dims.len() {
        return None;
    }
    let ranges: Vec<usize> =
        indices.iter().enumerate().filter(|(_, i)| matches!(i, Index::Range { .. })).map(|(d, _)| d).collect();
    let gathers = indices.iter().any(|i| matches!(i, Index::Gather(_)));
    if gathers || ranges.len() != 2 || ranges[1] + 1 != dims.len() {
        return None;
    }
    let box_dims = indices
        .iter()
        .enumerate()
        .map(|(d, _)| match d {
            d if d == ranges[0] => rows,
            d if d == ranges[1] => BOX_COLUMNS.min(cols),
            _ => 1,
        })
        .collect();
    Some(TensorMap { param: tensor.0 as usize, box_dims })
}

/// Every tensor map `kernel` copies through with `format`, each once, in the order its
/// loads appear: prefetched loads in `for` bodies ([`Placement::Prefetched`]).
pub(super) fn kernel_maps(kernel: &Kernel, placements: &[Placement], format: OperandFormat) -> Vec<TensorMap> {
    let mut maps = Vec::new();
    collect_maps(kernel, &kernel.body, placements, format, false, &mut maps);
    maps
}

fn collect_maps(
    kernel: &Kernel,
    block: &Block,
    placements: &[Placement],
    format: OperandFormat,
    in_loop: bool,
    maps: &mut Vec<TensorMap>,
) {
    for inst in &block.insts {
        match &inst.op {
            Op::For { body, .. } => collect_maps(kernel, body, placements, format, true, maps),
            Op::If { then_block, else_block, .. } => {
                collect_maps(kernel, then_block, placements, format, in_loop, maps);
                collect_maps(kernel, else_block, placements, format, in_loop, maps);
            }
            Op::Load { .. } if in_loop => {
                let prefetched = inst
                    .results
                    .first()
                    .and_then(|v| placements.get(v.0 as usize))
                    .is_some_and(|p| *p == Placement::Prefetched);
                if let Some(map) = prefetched.then(|| map_of(kernel, inst, format)).flatten() {
                    if !maps.contains(&map) {
                        maps.push(map);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The tensor map parameters of the entry function, by the map they carry.
pub(super) type MapParams<'ctx> = HashMap<TensorMap, PointerValue<'ctx>>;

/// Who initializes a loop's stage barriers, and who may use them once
/// [`Lowerer::init_stage_barriers`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BarrierInit {
    /// Thread 0, there, for the warps lowering the body (their barrier publishes it).
    Here,
    /// Thread 0, there, for the producer warpgroup too: the CTA barrier after it is the
    /// one the producer meets for the loop ([`super::specialize`]).
    HereWithProducer,
    /// The producer, at kernel start: no code before the loop touched its shared memory,
    /// so its copies may start at once ([`super::specialize`]).
    AtKernelStart,
}

/// How one prefetched tile is copied by TMA.
#[derive(Clone)]
pub(super) struct TmaTile<'ctx> {
    /// The by-value map parameter.
    pub map: PointerValue<'ctx>,
    /// Boxes of 64 columns side by side, and the bytes of each.
    pub boxes: u32,
    pub box_bytes: u32,
}

/// A loop's mbarriers, 8 bytes apart from `base` (a `.shared` address): one per stage
/// that its copies complete ("full"), then, with [`super::CodegenOptions::decoupled`],
/// one per stage that every warp arrives on when it is done reading it ("free").
#[derive(Clone, Copy)]
pub(super) struct StageBarriers<'ctx> {
    pub base: IntValue<'ctx>,
    /// `base` as the buffer's pointer (a constant, which a producer warpgroup's code may
    /// use too, [`super::specialize`]).
    pub buffer: PointerValue<'ctx>,
    pub stages: u32,
    /// Bytes every stage's copies bring in, which its barrier waits for.
    pub stage_bytes: u32,
    pub release: bool,
    /// One set for every warp group, which all wait on its full barriers and release its
    /// stages (a loop the producer feeds), rather than one set a group.
    pub shared_by_groups: bool,
}

impl<'ctx> Lowerer<'_, 'ctx> {
    /// How a prefetched `[rows, cols]` tile loaded by `inst` is copied by TMA, or `None`
    /// when it is not.
    pub(super) fn tma_tile(&self, inst: &Inst, rows: u32, cols: u32) -> Option<TmaTile<'ctx>> {
        let map = map_of(self.kernel, inst, self.operand_format)?;
        let param = *self.tensor_maps.get(&map)?;
        Some(TmaTile { map: param, boxes: cols / BOX_COLUMNS, box_bytes: rows * BOX_COLUMNS * 2 })
    }

    /// Shared memory for a loop's barriers ([`StageBarriers`]), initialized as `init` says.
    /// A loop the producer feeds has one set for all warp groups, initialized by the first
    /// group's thread 0.
    pub(super) fn init_stage_barriers(
        &mut self,
        stages: u32,
        stage_bytes: u32,
        release: bool,
        init: BarrierInit,
    ) -> Result<StageBarriers<'ctx>, CodegenError> {
        let count = stages * (1 + u32::from(release));
        let bytes = u64::from(count) * BARRIER_BYTES;
        let shared_by_groups = init != BarrierInit::Here;
        let buffer = match shared_by_groups {
            true => self.shared.allocate_shared(self.context, self.module, "TMA stage barriers", bytes)?,
            false => self.shared.allocate(self.context, self.module, "TMA stage barriers", bytes)?,
        };
        let base = self.builder.build_ptr_to_int(buffer, self.context.i32_type(), "")?;
        let barriers = StageBarriers { base, buffer, stages, stage_bytes, release, shared_by_groups };
        if init == BarrierInit::AtKernelStart {
            return Ok(barriers);
        }
        // The bytes may have been another op's scratch a moment ago, another group's too.
        if shared_by_groups {
            self.groups_barrier()?;
        } else {
            self.barrier()?;
        }
        let first = self.is_first_thread(shared_by_groups)?;
        self.when(first, |this| this.init_barrier_words(barriers))?;
        match init {
            BarrierInit::HereWithProducer => self.all_threads_barrier()?,
            _ => self.barrier()?,
        }
        Ok(barriers)
    }

    /// `mbarrier.init` of each of `barriers` (a full barrier takes one arrival, a free one
    /// one per warp of the kernel) and the fence that makes them visible once the threads
    /// that wait on them meet at a barrier; by the calling thread.
    pub(super) fn init_barrier_words(&self, barriers: StageBarriers<'ctx>) -> Result<(), CodegenError> {
        let count = barriers.stages * (1 + u32::from(barriers.release));
        for b in 0..count {
            let at = self.builder.build_int_add(barriers.base, self.i32(u64::from(b) * BARRIER_BYTES), "")?;
            let warps = self.kernel.num_warps * if barriers.shared_by_groups { self.groups } else { 1 };
            let arrivals = if b < barriers.stages { 1 } else { warps };
            let arrivals = self.i32(u64::from(arrivals));
            self.asm_void("mbarrier.init.shared::cta.b64 [$0], $1;", "r,n", &[at.into(), arrivals.into()])?;
        }
        self.inline_void("fence.mbarrier_init.release.cluster;")
    }

    /// Thread 0 invalidates the barriers once every thread is done with them, so their
    /// bytes can go back to the shared-memory stack.
    pub(super) fn release_stage_barriers(&self, barriers: StageBarriers<'ctx>) -> Result<(), CodegenError> {
        if barriers.shared_by_groups {
            self.groups_barrier()?;
        } else {
            self.barrier()?;
        }
        let first = self.is_first_thread(barriers.shared_by_groups)?;
        self.when(first, |this| {
            for s in 0..barriers.stages * (1 + u32::from(barriers.release)) {
                let at = this.builder.build_int_add(barriers.base, this.i32(u64::from(s) * BARRIER_BYTES), "")?;
                this.asm_void("mbarrier.inval.shared::cta.b64 [$0];", "r", &[at.into()])?;
            }
            Ok(())
        })
    }

    /// The `.shared` address of stage `stage`'s barrier.
    pub(super) fn stage_barrier(
        &self,
        barriers: StageBarriers<'ctx>,
        stage: IntValue<'ctx>,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let offset = self.builder.build_int_mul(stage, self.i32(BARRIER_BYTES), "")?;
        Ok(self.builder.build_int_add(barriers.base, offset, "")?)
    }

    /// The `.shared` address of stage `stage`'s free barrier (`barriers.release` only).
    pub(super) fn free_barrier(
        &self,
        barriers: StageBarriers<'ctx>,
        stage: IntValue<'ctx>,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let full = self.stage_barrier(barriers, stage)?;
        Ok(self.builder.build_int_add(full, self.i32(u64::from(barriers.stages) * BARRIER_BYTES), "")?)
    }

    /// This warp is done reading stage `stage` (its `wgmma` products on it complete): lane
    /// 0 arrives on the stage's free barrier for the warp, if `reused` (the stage held an
    /// earlier iteration's tiles).
    pub(super) fn release_stage(
        &self,
        barriers: StageBarriers<'ctx>,
        stage: IntValue<'ctx>,
        reused: IntValue<'ctx>,
    ) -> Result<(), CodegenError> {
        let free = self.free_barrier(barriers, stage)?;
        self.inline_void("bar.warp.sync -1;")?;
        let b = &self.builder;
        let lane = b.build_and(self.tid, self.i32(31), "")?;
        let lane0 = b.build_int_compare(IntPredicate::EQ, lane, self.i32(0), "")?;
        let arrive = b.build_and(lane0, reused, "")?;
        self.when(arrive, |this| this.asm_void("mbarrier.arrive.shared::cta.b64 _, [$0];", "r", &[free.into()]))
    }

    /// Announces the stage's bytes on `barrier`; thread 0 only, before its copies.
    pub(super) fn expect_bytes(&self, barrier: IntValue<'ctx>, bytes: u32) -> Result<(), CodegenError> {
        // Earlier generic-proxy reads of the stage (ldmatrix) must be ordered before the
        // async-proxy writes that refill it.
        self.inline_void("fence.proxy.async.shared::cta;")?;
        self.asm_void(
            "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;",
            "r,r",
            &[barrier.into(), self.i32(u64::from(bytes)).into()],
        )
    }

    /// One box of `tile`: the tensor's elements from `coords` (one per tensor axis, IR
    /// order) to the `.shared` address `dst`, completing on `barrier`.
    pub(super) fn copy_box(
        &self,
        tile: &TmaTile<'ctx>,
        dst: IntValue<'ctx>,
        coords: &[IntValue<'ctx>],
        barrier: IntValue<'ctx>,
    ) -> Result<(), CodegenError> {
        let rank = coords.len();
        // Tensor maps list axes innermost first.
        let list: Vec<String> = (0..rank).map(|i| format!("${}", 2 + i)).collect();
        let asm = format!(
            "cp.async.bulk.tensor.{rank}d.shared::cluster.global.mbarrier::complete_tx::bytes [$0], [$1, {{{}}}], [${}];",
            list.join(", "),
            2 + rank
        );
        let map = self.builder.build_ptr_to_int(tile.map, self.context.i64_type(), "")?;
        let mut args: Vec<inkwell::values::BasicValueEnum<'ctx>> = vec![dst.into(), map.into()];
        args.extend(coords.iter().rev().map(|&c| inkwell::values::BasicValueEnum::from(c)));
        args.push(barrier.into());
        let constraints = format!("r,l,{}r", "r,".repeat(rank));
        self.asm_void(&asm, &constraints, &args)
    }

    /// Every thread waits until `barrier` completes the phase of parity `parity`.
    pub(super) fn wait_barrier(&self, barrier: IntValue<'ctx>, parity: IntValue<'ctx>) -> Result<(), CodegenError> {
        let check = self.block("tma.wait");
        let done = self.block("tma.ready");
        self.builder.build_unconditional_branch(check)?;
        self.builder.position_at_end(check);
        let ready = self.inline_asm(
            "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [$1], $2; selp.u32 $0, 1, 0, p; }",
            "=r,r,r,~{memory}",
            &[self.context.i32_type().into()],
            &[barrier.into(), parity.into()],
        )?;
        let ready = ready
            .first()
            .map(|v| v.into_int_value())
            .ok_or_else(|| CodegenError::Llvm("mbarrier.try_wait returned no value".into()))?;
        let ready = self.builder.build_int_compare(IntPredicate::NE, ready, self.i32(0), "")?;
        self.builder.build_conditional_branch(ready, done, check)?;
        self.builder.position_at_end(done);
        Ok(())
    }

    /// The parity of the phase stage `stage`'s full barrier completes next: bit `stage`
    /// of the loop's phase bits.
    pub(super) fn phase_parity(
        &self,
        phases: IntValue<'ctx>,
        stage: IntValue<'ctx>,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &self.builder;
        Ok(b.build_and(b.build_right_shift(phases, stage, false, "")?, self.i32(1), "")?)
    }

    pub(super) fn is_thread_zero(&self) -> Result<IntValue<'ctx>, CodegenError> {
        Ok(self.builder.build_int_compare(IntPredicate::EQ, self.tid, self.i32(0), "thread0")?)
    }

    /// Thread 0 of this warp group, or with `of_program` of the program (the first
    /// group's): the one that sets up what the groups share.
    fn is_first_thread(&self, of_program: bool) -> Result<IntValue<'ctx>, CodegenError> {
        match of_program && self.group != 0 {
            true => Ok(self.bool(false)),
            false => self.is_thread_zero(),
        }
    }
}
