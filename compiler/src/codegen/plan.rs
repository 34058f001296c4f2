//! Layout assignment: before any code is emitted, every Tile IR value gets a
//! [`Placement`] — the register [`Layout`] it is computed in, or "at each use".
//!
//! Tiles that come from memory, from a transpose or from a parameter are blocked. A
//! `dot` leaves its result in the mma accumulator layout. Elementwise ops follow their
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

use super::layout::Layout;
use super::layout::WarpGrid;
use super::CodegenError;
use crate::ir::{Block, DType, Inst, Kernel, Op, ValueId};
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
}

/// Assigns a placement to every value of `kernel`'s body.
pub(super) fn assign(kernel: &Kernel) -> Result<Vec<Placement>, CodegenError> {
    let mut uses = vec![Uses::default(); kernel.value_types.len()];
    count_uses(&kernel.body, &mut uses);
    let mut planner = Planner {
        kernel,
        threads: kernel.threads_per_program(),
        placements: vec![Placement::AtUse; kernel.value_types.len()],
        uses,
    };
    planner.block(&kernel.body)?;
    Ok(planner.placements)
}

struct Planner<'k> {
    kernel: &'k Kernel,
    threads: u32,
    placements: Vec<Placement>,
    uses: Vec<Uses>,
}

/// How a value is used: as the lhs of a `dot`, or otherwise.
#[derive(Clone, Copy, Debug, Default)]
struct Uses {
    dot_lhs: u32,
    other: u32,
}

fn count_uses(block: &Block, uses: &mut [Uses]) {
    for inst in &block.insts {
        if let Op::Dot { lhs, rhs } = &inst.op {
            if let Some(u) = uses.get_mut(lhs.0 as usize) {
                u.dot_lhs += 1;
            }
            if let Some(u) = uses.get_mut(rhs.0 as usize) {
                u.other += 1;
            }
            continue;
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
            Placement::AtUse => self.blocked(v),
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
            Op::Load { .. } => {
                let result = single(inst)?;
                match self.a_fragments(result)? {
                    Some(layout) => Placement::Fixed(layout),
                    None => Placement::Fixed(self.blocked(result)?),
                }
            }
            Op::ProgramId { .. } | Op::Dim { .. } | Op::Arg { .. } => Placement::Fixed(self.blocked(single(inst)?)?),
            Op::Binary { lhs, rhs, .. } => self.elementwise(single(inst)?, &[*lhs, *rhs])?,
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
            Op::For { init, body, .. } => return self.for_loop(init, body, &inst.results),
            Op::If { then_block, else_block, .. } => return self.if_else(then_block, else_block, &inst.results),
            Op::Store { .. } | Op::Yield { .. } => return Ok(()),
        };
        match result {
            Some(r) => self.set(r, placement),
            None => Err(CodegenError::InvalidIr("a value op without a result".into())),
        }
    }

    /// The accumulator layout of `v`'s shape when every use of `v` is as a `dot` lhs and
    /// that layout holds A fragments (all warps along M): `dot` then reads its registers
    /// directly (see `codegen::dot`), and no warp needs another warp's rows.
    fn a_fragments(&self, v: ValueId) -> Result<Option<Layout>, CodegenError> {
        let ty = &self.kernel.value_types[v.0 as usize];
        let (&[m, k], true) = (ty.shape.as_slice(), matches!(ty.dtype, DType::BF16 | DType::F16)) else {
            return Ok(None);
        };
        let only_dot_lhs = self.uses.get(v.0 as usize).is_some_and(|u| u.dot_lhs > 0 && u.other == 0);
        if !only_dot_lhs || m % 16 != 0 || k % 16 != 0 || WarpGrid::of(m, k, self.threads).warps_n != 0 {
            return Ok(None);
        }
        Layout::mma_accumulator(m, k, self.threads).map(Some)
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
            if *l != self.blocked(value)? && (axis as usize) < ty.rank() {
                let lo: u32 = ty.shape[axis as usize + 1..].iter().map(|d| d.trailing_zeros()).sum();
                let width = ty.shape[axis as usize].trailing_zeros();
                let in_warp = (lo..lo + width).all(|bit| match l.flat_bit(bit) {
                    super::layout::FlatBit::Register(_) => true,
                    super::layout::FlatBit::Thread(k) => k < super::layout::WARP_LANE_BITS,
                });
                if in_warp && !ty.shape.is_empty() && ty.rank() > 1 {
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
                    Placement::AtUse => l.clone(),
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

fn yields(block: &Block) -> Result<&[ValueId], CodegenError> {
    match block.insts.last().map(|i| &i.op) {
        Some(Op::Yield { values }) => Ok(values),
        _ => Err(CodegenError::InvalidIr("a `for`/`if` block that does not end with a yield".into())),
    }
}
