//! Warp specialization ([`super::CodegenOptions::specialize`], sm_90a): a producer
//! warpgroup issues the TMA copies of the kernel's loops, and the consumer warpgroups
//! (the kernel's `warps(N)`) compute.
//!
//! The program gets one warpgroup more than the kernel asks for, the last. Both slices
//! are lowered from the same body:
//! - the **consumers** lower it as an unspecialized kernel would, minus the copies of the
//!   loops the producer feeds ([`ProducerSlice::fed`]): they wait for each stage's full
//!   barrier and release it per warp on its free barrier once their products on it are
//!   complete (as with [`super::CodegenOptions::decoupled`]). Their CTA barriers count the
//!   consumer threads only (named barrier [`CONSUMER_BARRIER`]).
//! - the **producer** lowers only the scalars those loops need (bounds, tile corners and
//!   what they are computed from: [`ProducerSlice::values`]), the `if`s around them, and
//!   for each fed loop a loop of its own in one thread: wait until the stage is free,
//!   announce its bytes, issue its copies. It runs ahead of the consumers as far as the
//!   free barriers let it.
//!
//! Both slices meet at a CTA barrier at kernel start, and at one per fed loop after the
//! consumers initialize its stage barriers; the producer reaches no other. With
//! [`super::Specialize::Early`], a fed loop whose shared memory no earlier code touched
//! (its stages and barriers lie above everything used so far,
//! [`super::shared::SharedMemory::untouched_above_top`]) skips the latter: the producer
//! initializes its barriers before the kernel-start barrier and copies as soon as it
//! reaches the loop, while the consumers still run what comes before it (attention's
//! staged query tile and first scores). The consumers invalidate the barriers when their
//! loop ends: by then every copy completed, so the producer issued them all and passed
//! every wait on a free barrier.
//!
//! Registers: the entry declares `.maxntid` of all the threads and `.minnctapersm`
//! (1, or 2 for one consumer warpgroup, which runs two programs per SM as the sparse
//! kernels do unspecialized); the producer lowers its share to
//! [`PRODUCER_REGISTERS`] with `setmaxnreg.dec` and the consumers raise theirs with
//! `setmaxnreg.inc` to what the program's share of the register file leaves them
//! ([`Split::of`]).
//!
//! A kernel is lowered unspecialized when the split does not apply ([`producer_slice`]
//! says why): no loop whose prefetched tiles all go through TMA, a fed loop inside
//! another loop, a fed loop whose bounds or corners depend on a tile or on a
//! loop-carried value, or one that reads (tiles, or scalars for its corners) from a tensor
//! the kernel writes, which the producer, running ahead, could read before the store.

use std::collections::{BTreeMap, HashSet};

use inkwell::values::{IntValue, PhiValue};
use inkwell::IntPredicate;

use super::context::{as_int, Lowerer, Regs};
use super::operand_tile::OperandFormat;
use super::plan::Placement;
use super::prefetch::{defined_in, Prefetch, TmaLoop};
use super::tma::{map_of, StageBarriers};
use super::{CodegenError, REGISTERS_PER_SM, REGISTER_STEP};
use crate::ir::{op_name, Block, DType, Inst, Kernel, Op, ParamId, ValueId};

/// Threads of the producer warpgroup.
pub(super) const PRODUCER_THREADS: u32 = 128;
/// Registers per producer thread after `setmaxnreg.dec`: PTX's least, as FlashAttention-3 uses.
pub(super) const PRODUCER_REGISTERS: u32 = 24;
/// The named barrier the consumers' CTA barriers use (0 counts every thread).
pub(super) const CONSUMER_BARRIER: u32 = 1;
/// The largest multiple of 8 a thread can address (255 registers).
const MAX_CONSUMER_REGISTERS: u32 = 248;
const MAX_THREADS: u32 = 1024;

/// Which warps lower which slice of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// Every warp runs the whole body: the kernel is not specialized.
    Whole,
    /// The kernel's own warps, minus the copies of fed loops.
    Consumer,
    /// The extra warpgroup: scalars, `if`s and the copies of fed loops.
    Producer,
}

/// How a specialized program shares an SM's registers between its warpgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// The kernel's own threads (`warps(N)`), which compute.
    pub consumer_threads: u32,
    /// Programs that run on one SM at once (`.minnctapersm`).
    pub programs_per_sm: u32,
    /// Registers per thread the entry declares (`.maxntid` and `.minnctapersm` give it).
    pub entry_registers: u32,
    /// Registers per consumer thread after `setmaxnreg.inc`.
    pub consumer_registers: u32,
}

impl Split {
    /// The split for a kernel of `consumer_threads` threads that asks for `occupancy`
    /// programs an SM, or `None` where there is no whole number of consumer warpgroups,
    /// the program would be too large, or the programs would not fit an SM.
    pub fn of(consumer_threads: u32, occupancy: Option<u32>) -> Option<Split> {
        if consumer_threads == 0 || !consumer_threads.is_multiple_of(PRODUCER_THREADS) {
            return None;
        }
        let threads = consumer_threads + PRODUCER_THREADS;
        if threads > MAX_THREADS {
            return None;
        }
        // One consumer warpgroup is a 64-row program, which runs two to an SM unspecialized.
        let programs_per_sm = occupancy.unwrap_or(1).max(if consumer_threads == PRODUCER_THREADS { 2 } else { 1 });
        if programs_per_sm * threads > crate::ir::MAX_THREADS_PER_SM {
            return None;
        }
        let round = |r: u32| r / REGISTER_STEP * REGISTER_STEP;
        let entry_registers = round(REGISTERS_PER_SM / programs_per_sm / threads);
        // `setmaxnreg.inc` takes its registers from those the program holds, which the
        // entry's count fixes: what the producer releases and nothing more. Counted from
        // the SM's share instead, the consumers asked for more than that wherever the
        // share is not a multiple of the entry's count (occupancy(3): 144 a thread where
        // 136 fit), and waited for them forever (a hang on an H200:
        // docs/perf/2026-11-30-h200-session30.md, round 1).
        let held = entry_registers * threads;
        let consumer_registers =
            round((held - PRODUCER_THREADS * PRODUCER_REGISTERS) / consumer_threads).min(MAX_CONSUMER_REGISTERS);
        (consumer_registers > entry_registers).then_some(Split {
            consumer_threads,
            programs_per_sm,
            entry_registers,
            consumer_registers,
        })
    }

    pub fn threads(&self) -> u32 {
        self.consumer_threads + PRODUCER_THREADS
    }
}

/// What the producer warpgroup lowers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerSlice {
    /// The induction variables of the loops whose copies it issues.
    pub fed: HashSet<ValueId>,
    /// The scalars outside those loops it computes: their bounds, the values their tile
    /// corners are computed from, the conditions of the `if`s around them, and what all
    /// of these are computed from.
    pub values: HashSet<ValueId>,
    /// The fed loops whose barriers it may initialize at kernel start where no code before
    /// them touched their shared memory: where an `if` around one skips it, nothing after
    /// (or in the `if`'s other arm) uses shared memory, so no barrier the consumers never
    /// invalidate lies under anything.
    pub may_start_early: HashSet<ValueId>,
}

impl ProducerSlice {
    /// Whether `block` holds a fed loop, at any depth.
    fn feeds(&self, block: &Block) -> bool {
        block.insts.iter().any(|inst| match &inst.op {
            Op::For { body, .. } => body.args.first().is_some_and(|iv| self.fed.contains(iv)) || self.feeds(body),
            Op::If { then_block, else_block, .. } => self.feeds(then_block) || self.feeds(else_block),
            _ => false,
        })
    }
}

/// The producer's slice of `kernel` with `placements` and operands in `format`, or why
/// the kernel cannot be split (module docs).
pub(super) fn producer_slice(
    kernel: &Kernel,
    placements: &[Placement],
    format: OperandFormat,
) -> Result<ProducerSlice, String> {
    let mut defs = vec![None; kernel.value_types.len()];
    super::context::record_defs(&kernel.body, &mut defs);
    let mut slice = ProducerSlice::default();
    let mut needed = Vec::new();
    let mut written = HashSet::new();
    stored_tensors(&kernel.body, &mut written);
    let variant = group_variant(kernel);
    let kernel_defs = KernelDefs { kernel, defs: &defs, placements, format, written: &written, variant: &variant };
    kernel_defs.find_fed_loops(&kernel.body, false, false, &mut slice, &mut needed)?;
    if slice.fed.is_empty() {
        return Err("no loop copies all its prefetched tiles with TMA".into());
    }
    let fed = slice.fed.clone();
    safe_to_skip(kernel, &kernel.body, true, &fed, &mut slice.may_start_early);
    let mut in_other_loops = HashSet::new();
    collect_loop_values(&kernel.body, &slice.fed, &mut in_other_loops);
    while let Some(v) = needed.pop() {
        if !slice.values.insert(v) {
            continue;
        }
        let is_tile = kernel.value_types.get(v.0 as usize).is_none_or(|ty| !ty.shape.is_empty());
        if is_tile {
            return Err(format!("a fed loop depends on {v}, which is not a scalar"));
        }
        if in_other_loops.contains(&v) {
            return Err(format!("a fed loop depends on {v}, which a loop computes"));
        }
        let Some(inst) = defs.get(v.0 as usize).copied().flatten() else {
            return Err(format!("a fed loop depends on {v}, a loop's argument"));
        };
        match &inst.op {
            Op::Const(_) | Op::ProgramId { .. } | Op::Dim { .. } | Op::Arg { .. } => {}
            Op::Binary { lhs, rhs, .. } | Op::Cmp { lhs, rhs, .. } => needed.extend([*lhs, *rhs]),
            Op::Unary { value, .. } | Op::Cast { value } => needed.push(*value),
            Op::Select { cond, on_true, on_false } => needed.extend([*cond, *on_true, *on_false]),
            Op::Load { tensor, indices } => {
                kernel_defs.readable(*tensor, v)?;
                needed.extend(indices.iter().map(|i| i.value()));
            }
            Op::If { cond, then_block, else_block } => {
                let k = inst.results.iter().position(|r| *r == v).unwrap_or(0);
                needed.push(*cond);
                needed.extend([then_block, else_block].into_iter().filter_map(|b| yielded(b, k)));
            }
            other => return Err(format!("a fed loop depends on {v}, computed by `{}`", op_name(other))),
        }
    }
    Ok(slice)
}

/// Value `k` of the yield that ends `block`.
fn yielded(block: &Block, k: usize) -> Option<ValueId> {
    match &block.insts.last()?.op {
        Op::Yield { values } => values.get(k).copied(),
        _ => None,
    }
}

/// A kernel with what the split's analysis looks up in it.
struct KernelDefs<'k> {
    kernel: &'k Kernel,
    /// The instruction defining each value (`None` for block arguments).
    defs: &'k [Option<&'k Inst>],
    placements: &'k [Placement],
    format: OperandFormat,
    /// The tensors the kernel stores to.
    written: &'k HashSet<ParamId>,
    /// The values that may differ between warp groups ([`group_variant`]).
    variant: &'k HashSet<ValueId>,
}

impl KernelDefs<'_> {
    /// The producer may load scalar `v` from `tensor` only if the kernel never writes it:
    /// it runs ahead of the consumers, so it could read before their store.
    fn readable(&self, tensor: ParamId, v: ValueId) -> Result<(), String> {
        match self.written.contains(&tensor) {
            true => Err(format!("a fed loop depends on {v}, loaded from a tensor the kernel also writes")),
            false => Ok(()),
        }
    }

    /// Records in `slice.fed` the loops of `block` whose prefetched tiles all go through
    /// TMA, and pushes on `needed` the scalars outside them that they read; true if
    /// `block` holds one. A loop whose trip or tiles may differ between warp groups (its
    /// bounds or corners depend on `group_id()`, or `block` runs for some groups only:
    /// `per_group`) is left to each group's own warps, since the groups share the
    /// producer's copies.
    fn find_fed_loops(
        &self,
        block: &Block,
        in_loop: bool,
        per_group: bool,
        slice: &mut ProducerSlice,
        needed: &mut Vec<ValueId>,
    ) -> Result<bool, String> {
        let mut feeds = false;
        for inst in &block.insts {
            match &inst.op {
                Op::For { lower, upper, step, body, .. } => {
                    let prefetched: Vec<&Inst> = body
                        .insts
                        .iter()
                        .filter(|i| {
                            matches!(i.op, Op::Load { .. })
                                && i.results.first().and_then(|r| self.placements.get(r.0 as usize))
                                    == Some(&Placement::Prefetched)
                        })
                        .collect();
                    let all_tma = !prefetched.is_empty()
                        && prefetched.iter().all(|i| map_of(self.kernel, i, self.format).is_some());
                    if in_loop && all_tma || !all_tma && self.find_fed_loops(body, true, per_group, slice, needed)? {
                        return Err("a loop the producer would feed sits inside another loop".into());
                    }
                    if !all_tma || per_group {
                        continue;
                    }
                    let &[iv, ..] = body.args.as_slice() else {
                        return Err("a for body has no induction variable".into());
                    };
                    let mut reads = vec![*lower, *upper, *step];
                    let mut body_values = HashSet::new();
                    defined_in(body, &mut body_values);
                    for load in &prefetched {
                        if let (Op::Load { tensor, indices }, Some(&tile)) = (&load.op, load.results.first()) {
                            self.readable(*tensor, tile)?;
                            for index in indices {
                                self.corner_inputs(index.value(), iv, &body_values, &mut reads)?;
                            }
                        }
                    }
                    if reads.iter().any(|v| self.variant.contains(v)) {
                        continue;
                    }
                    slice.fed.insert(iv);
                    needed.extend(reads);
                    feeds = true;
                }
                Op::If { cond, then_block, else_block } => {
                    let per_group = per_group || self.variant.contains(cond);
                    let then_feeds = self.find_fed_loops(then_block, in_loop, per_group, slice, needed)?;
                    let else_feeds = self.find_fed_loops(else_block, in_loop, per_group, slice, needed)?;
                    if then_feeds || else_feeds {
                        needed.push(*cond);
                        feeds = true;
                    }
                }
                _ => {}
            }
        }
        Ok(feeds)
    }

    /// Pushes on `needed` the values outside a fed loop's body that its tile corner `v`
    /// reads: the body's own index arithmetic is recomputed for each iteration
    /// ([`Lowerer::copy_ahead`]), and everything else comes from outside.
    fn corner_inputs(
        &self,
        v: ValueId,
        iv: ValueId,
        body_values: &HashSet<ValueId>,
        needed: &mut Vec<ValueId>,
    ) -> Result<(), String> {
        if v == iv {
            return Ok(());
        }
        if !body_values.contains(&v) {
            needed.push(v);
            return Ok(());
        }
        let operands: Vec<ValueId> = match self.defs.get(v.0 as usize).copied().flatten().map(|inst| &inst.op) {
            Some(Op::Const(_)) => Vec::new(),
            Some(Op::Load { tensor, indices }) => {
                self.readable(*tensor, v)?;
                indices.iter().map(|i| i.value()).collect()
            }
            Some(Op::Binary { lhs, rhs, .. } | Op::Cmp { lhs, rhs, .. }) => vec![*lhs, *rhs],
            Some(Op::Select { cond, on_true, on_false }) => vec![*cond, *on_true, *on_false],
            _ => return Err(format!("a fed loop's tile corner {v} is not index arithmetic")),
        };
        operands.into_iter().try_for_each(|o| self.corner_inputs(o, iv, body_values, needed))
    }
}

/// Adds to `out` the fed loops of `block` that may start at kernel start
/// ([`ProducerSlice::may_start_early`]); `skippable` says whether nothing that uses shared
/// memory runs where `block` is skipped.
fn safe_to_skip(kernel: &Kernel, block: &Block, skippable: bool, fed: &HashSet<ValueId>, out: &mut HashSet<ValueId>) {
    let scalar_only = |insts: &[Inst]| insts.iter().all(|inst| scalar_only(kernel, inst));
    for (i, inst) in block.insts.iter().enumerate() {
        match &inst.op {
            Op::For { body, .. } if skippable => {
                out.extend(body.args.first().filter(|iv| fed.contains(iv)));
            }
            Op::If { then_block, else_block, .. } => {
                let rest = skippable && scalar_only(&block.insts[i + 1..]);
                safe_to_skip(kernel, then_block, rest && scalar_only(&else_block.insts), fed, out);
                safe_to_skip(kernel, else_block, rest && scalar_only(&then_block.insts), fed, out);
            }
            _ => {}
        }
    }
}

/// Whether `inst` computes scalars only (or yields), so it uses no shared memory.
fn scalar_only(kernel: &Kernel, inst: &Inst) -> bool {
    let scalar = |r: &ValueId| kernel.value_types.get(r.0 as usize).is_some_and(|ty| ty.shape.is_empty());
    !matches!(inst.op, Op::Store { .. } | Op::For { .. } | Op::If { .. }) && inst.results.iter().all(scalar)
}

/// Every tensor `block` stores to, at any depth.
fn stored_tensors(block: &Block, out: &mut HashSet<ParamId>) {
    for inst in &block.insts {
        match &inst.op {
            Op::Store { tensor, .. } => {
                out.insert(*tensor);
            }
            Op::For { body, .. } => stored_tensors(body, out),
            Op::If { then_block, else_block, .. } => {
                stored_tensors(then_block, out);
                stored_tensors(else_block, out);
            }
            _ => {}
        }
    }
}

/// Every value defined in a loop body of `block` other than a fed loop's.
fn collect_loop_values(block: &Block, fed: &HashSet<ValueId>, out: &mut HashSet<ValueId>) {
    for inst in &block.insts {
        match &inst.op {
            Op::For { body, .. } => {
                if body.args.first().is_some_and(|iv| !fed.contains(iv)) {
                    defined_in(body, out);
                }
                out.extend(inst.results.iter().copied());
            }
            Op::If { then_block, else_block, .. } => {
                collect_loop_values(then_block, fed, out);
                collect_loop_values(else_block, fed, out);
            }
            _ => {}
        }
    }
}

/// A loop the producer feeds, as the consumers laid it out: its stages and barriers.
#[derive(Clone)]
pub(super) struct FedLoop<'ctx> {
    pub prefetches: Vec<Prefetch<'ctx>>,
    pub barriers: StageBarriers<'ctx>,
    /// No code before the loop touched its shared memory: the producer initializes its
    /// barriers at kernel start and copies as soon as it reaches the loop.
    pub early: bool,
}

/// A stage this warp releases once the last iteration's deferred products on it
/// complete: at the first `wgmma` wait in the loop body ([`Lowerer::release_pending_stage`]),
/// or at the body's end.
#[derive(Clone, Copy)]
pub(super) struct PendingRelease<'ctx> {
    barriers: StageBarriers<'ctx>,
    stage: IntValue<'ctx>,
    reused: IntValue<'ctx>,
    /// The block depth of the loop body, where the release must be emitted (once per iteration).
    depth: usize,
}

impl<'ctx> Lowerer<'_, 'ctx> {
    /// In a fed loop's body: releases the stage the last iteration read (if `reused`, i.e.
    /// there was one) now, or where its products complete when the loop defers them
    /// (`deferred`): any `wgmma` wait in this iteration completes every earlier
    /// iteration's groups, so the producer may refill the stage while this iteration's
    /// products still run.
    pub(super) fn release_when_complete(
        &mut self,
        barriers: StageBarriers<'ctx>,
        stage: IntValue<'ctx>,
        reused: IntValue<'ctx>,
        deferred: bool,
    ) -> Result<(), CodegenError> {
        if !deferred {
            return self.release_stage(barriers, stage, reused);
        }
        // lower_nested opens the body's block next.
        let depth = self.block_depth() + 1;
        self.pending_release = Some(PendingRelease { barriers, stage, reused, depth });
        Ok(())
    }

    /// After a `wgmma` wait: the pending release, if this is the body that holds it.
    pub(super) fn release_pending_stage(&mut self) -> Result<(), CodegenError> {
        match self.pending_release {
            Some(p) if p.depth == self.block_depth() => {
                self.pending_release = None;
                self.release_stage(p.barriers, p.stage, p.reused)
            }
            _ => Ok(()),
        }
    }

    /// At the end of a loop's body (the builder still in it, its block closed): the
    /// release of a fed loop no wait emitted yet, after waiting for the last iteration's
    /// products (`deferred` groups of this one may still run). A loop nested in a fed
    /// loop's body leaves the release to the outer body.
    pub(super) fn release_at_body_end(&mut self, deferred: u32) -> Result<(), CodegenError> {
        match self.pending_release {
            Some(p) if p.depth == self.block_depth() + 1 => {
                self.pending_release = None;
                self.wait_products(deferred)?;
                self.release_stage(p.barriers, p.stage, p.reused)
            }
            _ => Ok(()),
        }
    }

    /// Whether the consumers leave the copies of the loop with induction variable `iv`
    /// to the producer.
    pub(super) fn is_fed(&self, iv: ValueId) -> bool {
        self.role == Role::Consumer && self.slice.fed.contains(&iv)
    }

    /// The first thread of the producer warpgroup, which issues its copies.
    fn producer_issuer(&self) -> u32 {
        self.program_threads()
    }

    /// `setmaxnreg` to `registers` per thread of this warpgroup: `inc` or `dec`.
    pub(super) fn set_max_registers(&self, kind: &str, registers: u32) -> Result<(), CodegenError> {
        self.inline_void(&format!("setmaxnreg.{kind}.sync.aligned.u32 {registers};"))
    }

    /// `bar.sync 0`: every thread of the program, producer included.
    pub(super) fn all_threads_barrier(&self) -> Result<(), CodegenError> {
        self.intrinsic_void("llvm.nvvm.barrier.cta.sync.aligned.all", &[], &[self.i32(0).into()])
    }

    /// The producer's first steps: its issuing thread initializes the barriers of the loops
    /// it may start at once ([`FedLoop::early`]), then every thread meets the consumers.
    pub(super) fn init_early_loops(&self) -> Result<(), CodegenError> {
        let early: Vec<&FedLoop<'ctx>> = self.fed_loops.values().filter(|f| f.early).collect();
        let is_issuer = self.builder.build_int_compare(
            IntPredicate::EQ,
            self.tid,
            self.i32(u64::from(self.producer_issuer())),
            "issuer",
        )?;
        self.when(is_issuer, |this| {
            for fed in &early {
                let base = this.builder.build_ptr_to_int(fed.barriers.buffer, this.context.i32_type(), "")?;
                this.init_barrier_words(StageBarriers { base, ..fed.barriers })?;
            }
            Ok(())
        })?;
        self.all_threads_barrier()
    }

    /// Lowers the producer's slice of `insts` (module docs).
    pub(super) fn produce(&mut self, insts: &[Inst]) -> Result<(), CodegenError> {
        for inst in insts {
            match &inst.op {
                Op::For { lower, upper, step, body, .. } => {
                    if let Some(&iv) = body.args.first().filter(|iv| self.slice.fed.contains(iv)) {
                        self.feed_loop((*lower, *upper, *step), iv, body)?;
                    }
                }
                Op::If { cond, then_block, else_block } => {
                    let wanted: Vec<bool> = inst.results.iter().map(|r| self.slice.values.contains(r)).collect();
                    let feeds = self.slice.feeds(then_block) || self.slice.feeds(else_block);
                    if feeds || wanted.contains(&true) {
                        self.produce_if(*cond, [then_block, else_block], &inst.results, &wanted)?;
                    }
                }
                Op::Yield { .. } => {}
                _ if inst.results.iter().any(|r| self.slice.values.contains(r)) => self.lower_inst(inst)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// An `if` in the producer: its arms' slices, and the results it needs (`wanted`).
    fn produce_if(
        &mut self,
        cond: ValueId,
        arms: [&Block; 2],
        results: &[ValueId],
        wanted: &[bool],
    ) -> Result<(), CodegenError> {
        let cond = as_int(self.scalar(cond, DType::Bool)?)?;
        let blocks = [self.block("produce.then"), self.block("produce.else")];
        let merge = self.block("produce.end");
        self.builder.build_conditional_branch(cond, blocks[0], blocks[1])?;
        let mut ends = Vec::with_capacity(2);
        for (arm, bb) in arms.into_iter().zip(blocks) {
            self.builder.position_at_end(bb);
            self.enter_block();
            let arm_regs = (|| {
                self.produce(&arm.insts)?;
                let mut regs: Vec<Regs<'ctx>> = Vec::new();
                for (k, _) in wanted.iter().enumerate().filter(|(_, w)| **w) {
                    let y = yielded(arm, k)
                        .ok_or_else(|| CodegenError::InvalidIr("an `if` arm yields too few values".into()))?;
                    let layout = self.layout_of(results[k])?;
                    regs.push(self.get_in(y, &layout)?);
                }
                Ok::<_, CodegenError>(regs)
            })();
            self.leave_block();
            ends.push((arm_regs?, self.current_block()?));
            self.builder.build_unconditional_branch(merge)?;
        }
        self.builder.position_at_end(merge);
        let kept = results.iter().zip(wanted).filter(|(_, w)| **w).map(|(r, _)| *r);
        self.merge_arms(kept, &ends)
    }

    /// The producer's loop for the fed loop with induction variable `iv`: after the
    /// barrier at which the consumers have initialized the stage barriers, one thread
    /// walks the iterations, and for each waits until its stage is free, announces the
    /// stage's bytes and issues its copies.
    fn feed_loop(
        &mut self,
        (lower, upper, step): (ValueId, ValueId, ValueId),
        iv: ValueId,
        body: &Block,
    ) -> Result<(), CodegenError> {
        let fed = self
            .fed_loops
            .get(&iv)
            .cloned()
            .ok_or_else(|| CodegenError::InvalidIr(format!("the consumers did not lay out the loop of {iv}")))?;
        let (lower, upper, step) = (self.scalar_i32(lower)?, self.scalar_i32(upper)?, self.scalar_i32(step)?);
        let base = self.builder.build_ptr_to_int(fed.barriers.buffer, self.context.i32_type(), "")?;
        let barriers = StageBarriers { base, ..fed.barriers };
        let mut body_values = HashSet::new();
        defined_in(body, &mut body_values);
        if !fed.early {
            self.all_threads_barrier()?;
        }

        let issuer = self.producer_issuer();
        let is_issuer =
            self.builder.build_int_compare(IntPredicate::EQ, self.tid, self.i32(u64::from(issuer)), "issuer")?;
        let preheader = self.current_block()?;
        let header = self.block("feed.header");
        let copy = self.block("feed.copy");
        let exit = self.block("feed.exit");
        self.builder.build_conditional_branch(is_issuer, header, exit)?;
        self.builder.position_at_end(header);
        let phi = |this: &Self, name: &str, init: IntValue<'ctx>| -> Result<PhiValue<'ctx>, CodegenError> {
            let phi = this.builder.build_phi(this.context.i32_type(), name)?;
            phi.add_incoming(&[(&init, preheader)]);
            Ok(phi)
        };
        let (iv_phi, stage_phi, phases_phi) = (
            phi(self, "feed.iv", lower)?,
            phi(self, "feed.stage", self.i32(0))?,
            phi(self, "feed.phases", self.i32(0))?,
        );
        let (iv_value, stage, phases) = (
            as_int(iv_phi.as_basic_value())?,
            as_int(stage_phi.as_basic_value())?,
            as_int(phases_phi.as_basic_value())?,
        );
        let more = self.builder.build_int_compare(IntPredicate::SLT, iv_value, upper, "")?;
        self.builder.build_conditional_branch(more, copy, exit)?;

        self.builder.position_at_end(copy);
        self.enter_block();
        let tma = TmaLoop { barriers, upper, phases: Some(phases), issuer };
        let copied = self.copy_ahead(&fed.prefetches, iv, iv_value, &body_values, stage, Some(tma));
        self.leave_block();
        copied?;
        let next_stage = self.stage_plus(stage, 1)?;
        let b = &self.builder;
        let next_phases = b.build_xor(phases, b.build_left_shift(self.i32(1), stage, "")?, "")?;
        let next_iv = b.build_int_add(iv_value, step, "")?;
        let latch = self.current_block()?;
        self.builder.build_unconditional_branch(header)?;
        iv_phi.add_incoming(&[(&next_iv, latch)]);
        stage_phi.add_incoming(&[(&next_stage, latch)]);
        phases_phi.add_incoming(&[(&next_phases, latch)]);
        self.builder.position_at_end(exit);
        Ok(())
    }
}

/// The values of `kernel` that may differ between its warp groups: `group_id()`, what
/// is computed from it, and what a `for` or `if` defines whose bounds, condition or
/// body depends on one of those.
pub(super) fn group_variant(kernel: &Kernel) -> HashSet<ValueId> {
    fn walk(block: &Block, out: &mut HashSet<ValueId>) {
        for inst in &block.insts {
            let reads =
                |out: &HashSet<ValueId>| crate::passes::operands::operands(&inst.op).iter().any(|v| out.contains(v));
            let variant = match &inst.op {
                Op::GroupId => true,
                Op::For { body, .. } => {
                    let before = out.len();
                    // A carried value fed back from a variant one is variant: iterate to a fixed point.
                    loop {
                        let seen = out.len();
                        if reads(out) {
                            out.extend(body.args.iter().copied());
                        }
                        walk(body, out);
                        if out.len() == seen {
                            break;
                        }
                    }
                    reads(out) || out.len() > before
                }
                Op::If { cond, then_block, else_block } => {
                    let before = out.len();
                    walk(then_block, out);
                    walk(else_block, out);
                    out.contains(cond) || out.len() > before
                }
                _ => reads(out),
            };
            if variant {
                out.extend(inst.results.iter().copied());
            }
        }
    }
    let mut out = HashSet::new();
    walk(&kernel.body, &mut out);
    out
}

/// Every fed loop as the consumers laid it out, by induction variable (in order, so the
/// PTX does not depend on a hash).
pub(super) type FedLoops<'ctx> = BTreeMap<ValueId, FedLoop<'ctx>>;
