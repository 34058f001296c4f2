//! Ping-pong between warpgroups ([`super::CodegenOptions::pingpong`], FlashAttention-3's
//! inter-warpgroup overlap): in a loop whose body issues its `wgmma` products first and
//! then works on their results (attention's scores, then its softmax), the warpgroups
//! take turns at issuing, so that one warpgroup's softmax runs while the tensor cores run
//! the next warpgroup's products instead of every warpgroup waiting on the same ones.
//!
//! Warpgroup w's turn is named barrier `FIRST_TURN_BARRIER + w`, which counts the 128
//! threads of w waiting at `bar.sync` and the 128 of the warpgroup before it arriving
//! (`bar.arrive`) when it has issued its products. Before the loop the last warpgroup
//! arrives on warpgroup 0's barrier, so warpgroup 0 goes first; after the loop warpgroup 0
//! waits once more, which takes the last warpgroup's final arrival, so every barrier ends
//! the loop with no arrival pending whatever the trip count (zero included).
//!
//! Invariants the lowering keeps:
//! - a turn holds no CTA barrier: every warpgroup would wait there for one that waits for
//!   the turn. The span of a turn holds only ops that cannot emit one ([`Lowerer::turns_of`]),
//!   and [`Lowerer::barrier`] refuses to emit one inside a turn;
//! - the loop's stages are released on mbarriers (no CTA barrier per iteration), and the
//!   copies are issued by the last warpgroup: the one furthest behind, so its wait for
//!   the others' release of a stage never holds up a warpgroup whose turn comes first.
//!   With a producer warpgroup ([`super::specialize`]) the producer issues them, and the
//!   turns' barriers start one id later, after the consumers' own CTA barrier.

use inkwell::values::IntValue;

use super::context::Lowerer;
use super::dot::DotShape;
use super::layout::WarpGrid;
use super::plan::Placement;
use super::specialize::{Role, CONSUMER_BARRIER};
use super::{CodegenError, PingPong};
use crate::ir::{Block, Op, ValueId};
use crate::passes::operands::{operands, uses_in_op};

/// The named barrier of warpgroup 0's turn; `bar.sync 0` is the CTA barrier, and with a
/// producer warpgroup [`CONSUMER_BARRIER`] the consumers' ([`super::specialize`]).
const FIRST_TURN_BARRIER: u32 = 1;
const WARPGROUP_THREADS: u32 = 128;

/// Where a loop body's turn starts and ends: indices into the body's instructions, the
/// first and last that issue a `wgmma` product (a fused add issues its dot's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Turns {
    pub first: usize,
    pub last: usize,
}

impl<'ctx> Lowerer<'_, 'ctx> {
    /// Warpgroups of the program, if it has whole ones.
    pub(super) fn warpgroups(&self) -> u32 {
        if self.threads.is_multiple_of(WARPGROUP_THREADS) {
            self.threads / WARPGROUP_THREADS
        } else {
            0
        }
    }

    /// The turns of a loop `body`, or `None` where taking turns does not apply: ping-pong
    /// off, fewer than two warpgroups, a body that is not "issue every product, then use
    /// them", or under [`PingPong::Wide`] a product narrower than [`PingPong::WIDE`].
    /// Between its first and last issuing op the body may hold only ops that neither read
    /// a product of this body (which would wait for it inside the turn) nor emit a CTA
    /// barrier, and some op after the last one must read a product (otherwise there is
    /// nothing to overlap the next warpgroup's turn with).
    pub(super) fn turns_of(&self, body: &Block) -> Result<Option<Turns>, CodegenError> {
        // Warp groups use the named barriers turns would (`Lowerer::barrier`).
        if self.pingpong == PingPong::Off || self.warpgroups() < 2 || self.groups > 1 {
            return Ok(None);
        }
        let insts = match body.insts.split_last() {
            Some((last, rest)) if matches!(last.op, Op::Yield { .. }) => rest,
            _ => return Ok(None),
        };
        let mut products = Vec::new();
        let mut issuing = Vec::new();
        for (i, inst) in insts.iter().enumerate() {
            let [result] = inst.results.as_slice() else { continue };
            match &inst.op {
                Op::Dot { lhs, rhs } => {
                    let shape = DotShape::of(self.ty(*lhs)?, self.ty(*rhs)?, self.ty(*result)?)?;
                    if !self.takes_wgmma(&shape, WarpGrid::of(shape.m, shape.n, self.threads)) {
                        return Ok(None);
                    }
                    if self.pingpong == PingPong::Wide && shape.n < PingPong::WIDE {
                        return Ok(None);
                    }
                    issuing.push(i);
                    products.push(*result);
                }
                Op::Binary { .. } if self.fused_adds.contains_key(result) => {
                    issuing.push(i);
                    products.push(*result);
                }
                _ => {}
            }
        }
        let (Some(&first), Some(&last)) = (issuing.first(), issuing.last()) else {
            return Ok(None);
        };
        let fused_dot = |v: ValueId| self.fused_adds.get(&v).map(|&(dot, _)| dot);
        let prefetched = |v: ValueId| self.placement(v).is_ok_and(|p| *p == Placement::Prefetched);
        for inst in &insts[first..=last] {
            // Only ops that lower to registers alone (or, for a prefetched tile, to nothing
            // here); anything else, an op added later included, keeps the loop out of turns.
            let ok = match &inst.op {
                Op::Const(_)
                | Op::ProgramId { .. }
                | Op::GroupId
                | Op::Dim { .. }
                | Op::Arg { .. }
                | Op::Arange { .. }
                | Op::Splat { .. }
                | Op::ExpandDims { .. }
                | Op::Broadcast { .. }
                | Op::Binary { .. }
                | Op::Unary { .. }
                | Op::Cmp { .. }
                | Op::Select { .. }
                | Op::Cast { .. }
                | Op::Dot { .. } => true,
                // A transposed prefetched tile is a descriptor; any other transpose goes
                // through shared memory and a CTA barrier.
                Op::Trans { value } => prefetched(*value),
                Op::Load { .. } => inst.results.iter().all(|&r| prefetched(r)),
                Op::BinSum { .. }
                | Op::Reduce { .. }
                | Op::Scan { .. }
                | Op::Store { .. }
                | Op::For { .. }
                | Op::If { .. }
                | Op::Yield { .. } => false,
            };
            let own_dot = inst.results.first().and_then(|&r| fused_dot(r));
            let reads_product = operands(&inst.op).into_iter().any(|v| products.contains(&v) && Some(v) != own_dot);
            if !ok || reads_product {
                return Ok(None);
            }
        }
        // A read inside a later `if` or `for` counts: the block waits for the product there.
        let used_after = insts[last + 1..].iter().any(|inst| products.iter().any(|&v| uses_in_op(&inst.op, v) > 0));
        Ok(used_after.then_some(Turns { first, last }))
    }

    /// The named barrier of warpgroup 0's turn.
    fn first_turn_barrier(&self) -> u32 {
        match self.role {
            Role::Consumer => CONSUMER_BARRIER + 1,
            Role::Whole | Role::Producer => FIRST_TURN_BARRIER,
        }
    }

    /// This thread's warpgroup.
    fn warpgroup(&self) -> Result<IntValue<'ctx>, CodegenError> {
        Ok(self.builder.build_right_shift(
            self.tid,
            self.i32(u64::from(WARPGROUP_THREADS.trailing_zeros())),
            false,
            "wg",
        )?)
    }

    /// The thread that issues a ping-pong loop's copies: the first of the last warpgroup.
    pub(super) fn turns_copy_issuer(&self) -> u32 {
        (self.warpgroups() - 1) * WARPGROUP_THREADS
    }

    /// Before the loop: the last warpgroup hands warpgroup 0 the first turn.
    pub(super) fn open_turns(&self) -> Result<(), CodegenError> {
        let last = self.i32(u64::from(self.warpgroups() - 1));
        let is_last = self.builder.build_int_compare(inkwell::IntPredicate::EQ, self.warpgroup()?, last, "")?;
        self.when(is_last, |this| this.turn_barrier("arrive", this.i32(u64::from(this.first_turn_barrier()))))
    }

    /// Waits for this warpgroup's turn.
    pub(super) fn take_turn(&self) -> Result<(), CodegenError> {
        let id = self.builder.build_int_add(self.warpgroup()?, self.i32(u64::from(self.first_turn_barrier())), "")?;
        self.turn_barrier("sync", id)?;
        self.in_turn.set(true);
        Ok(())
    }

    /// Hands the turn to the next warpgroup (the last hands it back to warpgroup 0).
    pub(super) fn pass_turn(&self) -> Result<(), CodegenError> {
        self.in_turn.set(false);
        let b = &self.builder;
        let next = b.build_int_add(self.warpgroup()?, self.i32(1), "")?;
        let wraps = b.build_int_compare(inkwell::IntPredicate::EQ, next, self.i32(u64::from(self.warpgroups())), "")?;
        let next = b.build_select(wraps, self.i32(0), next, "")?.into_int_value();
        let id = b.build_int_add(next, self.i32(u64::from(self.first_turn_barrier())), "")?;
        self.turn_barrier("arrive", id)
    }

    /// After the loop: warpgroup 0 takes the last warpgroup's final hand-over.
    pub(super) fn close_turns(&self) -> Result<(), CodegenError> {
        let first = self.builder.build_int_compare(inkwell::IntPredicate::EQ, self.warpgroup()?, self.i32(0), "")?;
        self.when(first, |this| this.turn_barrier("sync", this.i32(u64::from(this.first_turn_barrier()))))
    }

    /// `bar.sync` or `bar.arrive` on named barrier `id`, counting two warpgroups.
    fn turn_barrier(&self, kind: &str, id: IntValue<'ctx>) -> Result<(), CodegenError> {
        let count = self.i32(u64::from(2 * WARPGROUP_THREADS));
        let name = format!("llvm.nvvm.barrier.cta.{kind}.aligned.count");
        self.intrinsic_void(&name, &[], &[id.into(), count.into()])
    }
}
