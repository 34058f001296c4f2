//! Layout assignment: before any code is emitted, every Tile IR value gets a
//! [`Placement`] — the register [`Layout`] it is computed in, or "at each use".
//!
//! Tiles that come from memory or from a parameter are blocked, except tiles loaded
//! only to feed `dot`: those go to shared memory, prefetched one loop iteration ahead
//! when the loop allows it, otherwise stored as soon as loaded. A `dot` leaves its
//! result in the mma accumulator layout. Elementwise ops follow their
//! operands: the first operand in a layout other than its blocked one decides, so an
//! attention score tile, its mask, its exponentials and the accumulator it updates all
//! stay in the registers the tensor cores wrote. A reduction of such a tile along an
//! axis whose bits are registers and lanes keeps the layout minus that axis (see
//! [`Layout::without_bits`]).
//!
//! Values that cost nothing to recompute — constants, splats, `arange`, `expand_dims`,
//! `broadcast`, and elementwise ops on nothing but those — are placed *at use*: each
//! consumer materializes them in the layout it needs (see `Lowerer::get_in`), so a
//! causal mask built from two `arange`s is born in the accumulator layout rather than
//! moved there through shared memory.
//!
//! Loop-carried values take the layout of what the body yields (found by iterating the
//! body's assignment to a fixed point), so the accumulator of a `for` is converted at
//! most once, before the loop, never per iteration.

use super::layout::{axis_bits, FlatBit, Layout, WARP_LANE_BITS};
use std::collections::{HashMap, HashSet};

use super::context::record_defs;
use super::prefetch::{defined_in, is_index_arithmetic};
use super::CodegenError;
use crate::ir::{BinaryOp, Block, DType, Index, Inst, Kernel, Op, ValueId};
use crate::passes::operands::operands;

/// Body re-assignments before a loop's carried layouts are taken as they are; real
/// kernels settle after one.
const MAX_LOOP_ROUNDS: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Placement {
    /// Computed once, where it is defined, in this layout.
    Fixed(Layout),
    /// Recomputed by each use in the layout that use needs.
    AtUse,
    /// A `dot` operand tile copied to shared memory one iteration ahead, never in
    /// registers (see `codegen::prefetch`).
    Prefetched,
    /// A `dot` operand tile stored to a shared buffer of its own as soon as it is
    /// loaded, so its registers die at once (see `Lowerer::lower_staged`).
    Staged,
}

/// What the planner decided: every value's placement, and the `dot`s that accumulate
/// straight into an addend.
#[derive(Clone)]
pub(super) struct Plan {
    pub placements: Vec<Placement>,
    /// `add` result → (`dot` result, the other addend): `x + dot(a, b)` where the dot has
    /// no other use. The mma then starts from x's registers instead of zeros, so the
    /// product and the sum never hold two accumulators at once; the `dot` itself emits
    /// nothing.
    pub fused_adds: HashMap<ValueId, (ValueId, ValueId)>,
}

/// Assigns a placement to every value of `kernel`'s body.
pub(super) fn assign(kernel: &Kernel) -> Result<Plan, CodegenError> {
    let mut uses = vec![Uses::default(); kernel.value_types.len()];
    count_uses(&kernel.body, &mut uses);
    let mut defs = vec![None; kernel.value_types.len()];
    record_defs(&kernel.body, &mut defs);
    let mut planner = Planner {
        kernel,
        threads: kernel.threads_per_group(),
        placements: vec![Placement::AtUse; kernel.value_types.len()],
        uses,
        defs,
        prefetched: HashSet::new(),
        fused_adds: HashMap::new(),
    };
    planner.block(&kernel.body)?;
    Ok(Plan { placements: planner.placements, fused_adds: planner.fused_adds })
}

struct Planner<'k> {
    kernel: &'k Kernel,
    threads: u32,
    placements: Vec<Placement>,
    uses: Vec<Uses>,
    /// The instruction defining each value.
    defs: Vec<Option<&'k Inst>>,
    /// Loads placed [`Placement::Prefetched`].
    prefetched: HashSet<ValueId>,
    fused_adds: HashMap<ValueId, (ValueId, ValueId)>,
}

/// How a value is used: as a `dot` operand, transposed, or otherwise.
#[derive(Clone, Debug, Default)]
struct Uses {
    dot_lhs: u32,
    dot_rhs: u32,
    /// The `trans` results made from it.
    trans: Vec<ValueId>,
    other: u32,
}

fn count_uses(block: &Block, uses: &mut [Uses]) {
    for inst in &block.insts {
        match (&inst.op, inst.results.as_slice()) {
            (Op::Dot { lhs, rhs }, _) => {
                if let Some(u) = uses.get_mut(lhs.0 as usize) {
                    u.dot_lhs += 1;
                }
                if let Some(u) = uses.get_mut(rhs.0 as usize) {
                    u.dot_rhs += 1;
                }
                continue;
            }
            (Op::Trans { value }, [result]) => {
                if let Some(u) = uses.get_mut(value.0 as usize) {
                    u.trans.push(*result);
                }
                continue;
            }
            _ => {}
        }
        for v in operands(&inst.op) {
            if let Some(u) = uses.get_mut(v.0 as usize) {
                u.other += 1;
            }
        }
        match &inst.op {
            Op::For { body, .. } => count_uses(body, uses),
            Op::If { then_block, else_block, .. } => {
                count_uses(then_block, uses);
                count_uses(else_block, uses);
            }
            _ => {}
        }
    }
}

impl Planner<'_> {
    fn blocked(&self, v: ValueId) -> Result<Layout, CodegenError> {
        let ty = self
            .kernel
            .value_types
            .get(v.0 as usize)
            .ok_or_else(|| CodegenError::InvalidIr(format!("{v} has no type")))?;
        Layout::blocked(ty, self.threads)
    }

    fn get(&self, v: ValueId) -> &Placement {
        self.placements.get(v.0 as usize).unwrap_or(&Placement::AtUse)
    }

    fn set(&mut self, v: ValueId, placement: Placement) -> Result<(), CodegenError> {
        let slot =
            self.placements.get_mut(v.0 as usize).ok_or_else(|| CodegenError::InvalidIr(format!("{v} has no type")))?;
        *slot = placement;
        Ok(())
    }

    /// The layout `v` is in, choosing blocked for a value placed at use.
    fn layout_or_blocked(&self, v: ValueId) -> Result<Layout, CodegenError> {
        match self.get(v) {
            Placement::Fixed(l) => Ok(l.clone()),
            Placement::AtUse | Placement::Prefetched | Placement::Staged => self.blocked(v),
        }
    }

    fn block(&mut self, block: &Block) -> Result<(), CodegenError> {
        for inst in &block.insts {
            self.inst(inst)?;
        }
        Ok(())
    }

    fn inst(&mut self, inst: &Inst) -> Result<(), CodegenError> {
        let result = inst.results.first().copied();
        let placement = match &inst.op {
            Op::Const(_)
            | Op::Splat { .. }
            | Op::Arange { .. }
            | Op::ExpandDims { .. }
            | Op::Broadcast { .. }
            | Op::Trans { .. } => Placement::AtUse,
            Op::Load { .. } if self.prefetched.contains(&single(inst)?) => Placement::Prefetched,
            Op::Load { .. } if self.only_dot_operand(single(inst)?) => Placement::Staged,
            Op::Load { .. } => Placement::Fixed(self.blocked(single(inst)?)?),
            Op::ProgramId { .. } | Op::GroupId | Op::Dim { .. } | Op::Arg { .. } => {
                Placement::Fixed(self.blocked(single(inst)?)?)
            }
            Op::Binary { op, lhs, rhs } => {
                let result = single(inst)?;
                let placement = self.elementwise(result, &[*lhs, *rhs])?;
                self.fuse_add(*op, result, &placement, *lhs, *rhs);
                placement
            }
            Op::Cmp { lhs, rhs, .. } => self.elementwise(single(inst)?, &[*lhs, *rhs])?,
            Op::Unary { value, .. } | Op::Cast { value } => self.elementwise(single(inst)?, &[*value])?,
            Op::Select { cond, on_true, on_false } => self.elementwise(single(inst)?, &[*cond, *on_true, *on_false])?,
            Op::Dot { .. } => {
                let ty = &self.kernel.value_types[single(inst)?.0 as usize];
                match ty.shape.as_slice() {
                    &[m, n] => Placement::Fixed(Layout::mma_accumulator(m, n, self.threads)?),
                    _ => return Err(CodegenError::InvalidIr(format!("dot gives {ty}, not a rank-2 tile"))),
                }
            }
            Op::Reduce { value, axis, .. } => self.reduce(single(inst)?, *value, *axis)?,
            // Computed once, so never placed at use: a scan of a constant or an `arange`
            // takes the blocked layout.
            Op::Scan { value, .. } => match self.elementwise(single(inst)?, &[*value])? {
                Placement::AtUse => Placement::Fixed(self.blocked(single(inst)?)?),
                placed => placed,
            },
            // Read back from shared memory, so any layout costs the same.
            Op::BinSum { .. } => Placement::Fixed(self.blocked(single(inst)?)?),
            Op::For { init, body, .. } => return self.for_loop(init, body, &inst.results),
            Op::If { then_block, else_block, .. } => return self.if_else(then_block, else_block, &inst.results),
            Op::Store { .. } | Op::Yield { .. } => return Ok(()),
        };
        match result {
            Some(r) => self.set(r, placement),
            None => Err(CodegenError::InvalidIr("a value op without a result".into())),
        }
    }

    /// Whether `v` is a rank-2 16-bit tile used only as `dot` operands (a `trans` of it
    /// only as a rhs): it can then live in shared memory instead of registers.
    fn only_dot_operand(&self, v: ValueId) -> bool {
        let ty = &self.kernel.value_types[v.0 as usize];
        let Some(uses) = self.uses.get(v.0 as usize) else {
            return false;
        };
        let trans_only_rhs = uses.trans.iter().all(|t| {
            self.uses
                .get(t.0 as usize)
                .is_some_and(|u| u.dot_rhs > 0 && u.dot_lhs == 0 && u.other == 0 && u.trans.is_empty())
        });
        let only_dots = uses.other == 0 && uses.dot_lhs + uses.dot_rhs + uses.trans.len() as u32 > 0 && trans_only_rhs;
        only_dots && ty.rank() == 2 && matches!(ty.dtype, DType::BF16 | DType::F16)
    }

    /// Whether a load in a loop body can be a [`Placement::Prefetched`] `dot` operand:
    /// a rank-2 16-bit tile used only by `dot`s (a `trans` of it only as a rhs), at
    /// indices the loop can compute one iteration ahead.
    fn can_prefetch(&self, v: ValueId, indices: &[Index], iv: ValueId, inside: &HashSet<ValueId>) -> bool {
        let indices_ok = indices.iter().all(|i| match i {
            Index::Point(x) | Index::Range { start: x, .. } => self.computable_ahead(*x, iv, inside),
            Index::Gather(_) => false,
        });
        self.only_dot_operand(v) && indices_ok
    }

    /// Whether `v` is the induction variable, defined outside the loop, or index
    /// arithmetic on such values (`prefetch::is_index_arithmetic`).
    fn computable_ahead(&self, v: ValueId, iv: ValueId, inside: &HashSet<ValueId>) -> bool {
        if v == iv || !inside.contains(&v) {
            return true;
        }
        let ty = &self.kernel.value_types[v.0 as usize];
        match self.defs.get(v.0 as usize).copied().flatten() {
            Some(inst)
                if ty.is_scalar()
                    && is_index_arithmetic(
                        &inst.op,
                        ty.dtype,
                        operands(&inst.op).first().map(|x| self.kernel.value_types[x.0 as usize].dtype),
                    ) =>
            {
                operands(&inst.op).iter().all(|&x| self.computable_ahead(x, iv, inside))
            }
            _ => false,
        }
    }

    /// Records `x + dot(a, b)` (either order) as fused when the dot has no other use
    /// and the sum stays in the dot's layout.
    fn fuse_add(&mut self, op: BinaryOp, result: ValueId, placement: &Placement, lhs: ValueId, rhs: ValueId) {
        self.fused_adds.remove(&result);
        if op != BinaryOp::Add {
            return;
        }
        for (dot, addend) in [(rhs, lhs), (lhs, rhs)] {
            let is_dot =
                matches!(self.defs.get(dot.0 as usize).copied().flatten(), Some(Inst { op: Op::Dot { .. }, .. }));
            let single_use = self
                .uses
                .get(dot.0 as usize)
                .is_some_and(|u| u.other == 1 && u.dot_lhs == 0 && u.dot_rhs == 0 && u.trans.is_empty());
            if is_dot && single_use && dot != addend && self.get(dot) == placement {
                self.fused_adds.insert(result, (dot, addend));
                return;
            }
        }
    }

    fn elementwise(&self, result: ValueId, operands: &[ValueId]) -> Result<Placement, CodegenError> {
        let mut fixed = Vec::new();
        for &v in operands {
            if let Placement::Fixed(l) = self.get(v) {
                fixed.push((v, l.clone()));
            }
        }
        if fixed.is_empty() {
            return Ok(Placement::AtUse);
        }
        for (v, l) in &fixed {
            if *l != self.blocked(*v)? {
                return Ok(Placement::Fixed(l.clone()));
            }
        }
        Ok(Placement::Fixed(self.blocked(result)?))
    }

    /// Keeps a non-blocked layout minus the axis when the reduction needs no shared memory.
    fn reduce(&self, result: ValueId, value: ValueId, axis: u32) -> Result<Placement, CodegenError> {
        let ty = &self.kernel.value_types[value.0 as usize];
        if let Placement::Fixed(l) = self.get(value) {
            if *l != self.blocked(value)? && (axis as usize) < ty.rank() && ty.rank() > 1 {
                let (lo, width) = axis_bits(&ty.shape, axis as usize);
                let in_warp = (lo..lo + width).all(|bit| match l.flat_bit(bit) {
                    FlatBit::Register(_) => true,
                    FlatBit::Thread(k) => k < WARP_LANE_BITS,
                });
                if in_warp {
                    return Ok(Placement::Fixed(l.without_bits(lo, width)));
                }
            }
        }
        Ok(Placement::Fixed(self.blocked(result)?))
    }

    fn for_loop(&mut self, init: &[ValueId], body: &Block, results: &[ValueId]) -> Result<(), CodegenError> {
        let [iv, carried @ ..] = body.args.as_slice() else {
            return Err(CodegenError::InvalidIr("a for body has no induction variable argument".into()));
        };
        self.set(*iv, Placement::Fixed(self.blocked(*iv)?))?;
        let mut inside = HashSet::new();
        defined_in(body, &mut inside);
        for inst in &body.insts {
            if let (Op::Load { indices, .. }, [result]) = (&inst.op, inst.results.as_slice()) {
                if self.can_prefetch(*result, indices, *iv, &inside) {
                    self.prefetched.insert(*result);
                }
            }
        }
        let mut layouts = init.iter().map(|&v| self.layout_or_blocked(v)).collect::<Result<Vec<_>, _>>()?;
        for _ in 0..MAX_LOOP_ROUNDS {
            for (&arg, l) in carried.iter().zip(&layouts) {
                self.set(arg, Placement::Fixed(l.clone()))?;
            }
            self.block(body)?;
            let yielded = yields(body)?;
            let next: Vec<Layout> = yielded
                .iter()
                .zip(&layouts)
                .map(|(&y, l)| match self.get(y) {
                    Placement::Fixed(yl) => yl.clone(),
                    Placement::AtUse | Placement::Prefetched | Placement::Staged => l.clone(),
                })
                .collect();
            if next == layouts {
                break;
            }
            layouts = next;
        }
        // The last round's body assignment must be the one for these layouts.
        for (&arg, l) in carried.iter().zip(&layouts) {
            self.set(arg, Placement::Fixed(l.clone()))?;
        }
        self.block(body)?;
        for (&r, l) in results.iter().zip(layouts) {
            self.set(r, Placement::Fixed(l))?;
        }
        Ok(())
    }

    fn if_else(&mut self, then_block: &Block, else_block: &Block, results: &[ValueId]) -> Result<(), CodegenError> {
        self.block(then_block)?;
        self.block(else_block)?;
        let (then_yields, else_yields) = (yields(then_block)?, yields(else_block)?);
        for (i, &r) in results.iter().enumerate() {
            let mut layout = self.blocked(r)?;
            for y in [then_yields.get(i), else_yields.get(i)].into_iter().flatten() {
                if let Placement::Fixed(l) = self.get(*y) {
                    if *l != self.blocked(*y)? {
                        layout = l.clone();
                        break;
                    }
                }
            }
            self.set(r, Placement::Fixed(layout))?;
        }
        Ok(())
    }
}

fn single(inst: &Inst) -> Result<ValueId, CodegenError> {
    match inst.results.as_slice() {
        [r] => Ok(*r),
        rs => Err(CodegenError::InvalidIr(format!("an op defines {} values; it defines one", rs.len()))),
    }
}

pub(super) fn yields(block: &Block) -> Result<&[ValueId], CodegenError> {
    match block.insts.last().map(|i| &i.op) {
        Some(Op::Yield { values }) => Ok(values),
        _ => Err(CodegenError::InvalidIr("a `for`/`if` block that does not end with a yield".into())),
    }
}
