//! A gather index recomputed for a later loop iteration, so that a gathered `dot`
//! operand can be prefetched with `cp.async` like a range tile ([`super::prefetch`]).
//!
//! The index tile of the later iteration is never built: each thread evaluates only the
//! elements its own copies need (one per gathered row of its chunks), by running the
//! loop body's elementwise arithmetic on that element. The planner admits an index only
//! when every op on the way is one evaluated here ([`element_computable_ahead`]): `arange`,
//! splats of scalars the loop can compute ahead, i32 loads along one range, and i32/bool
//! arithmetic, comparisons and selects of such tiles. `k[where(arange(c, 64) < n, start +
//! cols[c .. c + 64], -1), ..]` is the vertical-slash column loop's; one of its elements
//! costs one `ld.global` of `cols` and a few integer ops.

use std::collections::HashSet;

use inkwell::values::IntValue;
use inkwell::IntPredicate;

use super::context::{as_int, Lowerer, Regs};
use super::layout::Layout;
use super::ops::int_predicate;
use super::CodegenError;
use crate::ir::{BinaryOp, DType, Index, Inst, Op, Type, ValueId};

/// Whether element `r` of the rank-1 tile `v`, defined in a loop body (`inside`), can be
/// recomputed for a later iteration from scalars the loop computes ahead
/// (`scalar_ahead`) and `r` alone.
pub(super) fn element_computable_ahead(
    v: ValueId,
    types: &[Type],
    defs: &[Option<&Inst>],
    inside: &HashSet<ValueId>,
    scalar_ahead: &dyn Fn(ValueId) -> bool,
) -> bool {
    let Some(ty) = types.get(v.0 as usize) else {
        return false;
    };
    // A tile from before the loop lives in registers spread over the threads: no thread
    // can read an arbitrary element of it.
    if ty.rank() != 1 || !inside.contains(&v) {
        return false;
    }
    let element = |x: ValueId| element_computable_ahead(x, types, defs, inside, scalar_ahead);
    let dtype_of = |x: ValueId| types.get(x.0 as usize).map(|t| t.dtype);
    match defs.get(v.0 as usize).copied().flatten().map(|inst| &inst.op) {
        Some(&Op::Arange { start, .. }) => scalar_ahead(start),
        Some(&Op::Splat { value }) => scalar_ahead(value),
        Some(Op::Load { indices, .. }) => {
            let ranges = indices.iter().filter(|i| matches!(i, Index::Range { .. })).count();
            let scalars_ahead = indices.iter().all(|i| match i {
                Index::Point(x) | Index::Range { start: x, .. } => scalar_ahead(*x),
                Index::Gather(_) => false,
            });
            ty.dtype == DType::I32 && ranges == 1 && scalars_ahead
        }
        Some(&Op::Binary { op, lhs, rhs }) => {
            let op_ok = match ty.dtype {
                DType::I32 => {
                    matches!(op, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min)
                }
                DType::Bool => matches!(op, BinaryOp::And | BinaryOp::Or),
                _ => false,
            };
            op_ok && element(lhs) && element(rhs)
        }
        Some(&Op::Cmp { lhs, rhs, .. }) => dtype_of(lhs) == Some(DType::I32) && element(lhs) && element(rhs),
        Some(&Op::Select { cond, on_true, on_false }) => {
            matches!(ty.dtype, DType::I32 | DType::Bool) && element(cond) && element(on_true) && element(on_false)
        }
        _ => false,
    }
}

impl<'ctx> Lowerer<'_, 'ctx> {
    /// The positions of a gathered tile's elements for the iteration whose induction
    /// variable `iv` is `iv_value`: what [`Lowerer::spread_index`] gives for gather index
    /// `index` in that iteration, one per register of `layout` (the gathered axis at
    /// flat-index bits `lo ..` of a tile of shape `lens`).
    pub(super) fn positions_at(
        &mut self,
        index: ValueId,
        (lens, lo, layout): (&[u32], u32, &Layout),
        iv: ValueId,
        iv_value: IntValue<'ctx>,
        body_values: &HashSet<ValueId>,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let ty = self.ty(index)?;
        let (&[len], DType::I32) = (ty.shape.as_slice(), ty.dtype) else {
            return Err(CodegenError::InvalidIr(format!("gather index {index} is {ty}; it must be i32 of rank 1")));
        };
        let elements: u32 = lens.iter().map(|d| d.trailing_zeros()).sum();
        if lo + len.trailing_zeros() > elements {
            return Err(CodegenError::InvalidIr(format!("gather index {index} of {len} does not fit a {lens:?} tile")));
        }
        // A chunk runs along the tile's last axis: where the gather is along another one,
        // a chunk's registers share one position.
        let vec = layout.vec().max(1);
        let shared_by_chunk = (vec as u32).trailing_zeros() <= lo;
        let mut out: Regs<'ctx> = Vec::with_capacity(layout.regs());
        for reg in 0..layout.regs() {
            if shared_by_chunk && reg % vec != 0 {
                let first = out[reg - reg % vec];
                out.push(first);
                continue;
            }
            let b = &self.builder;
            let flat = self.flat_index(layout, reg)?;
            let shifted = b.build_right_shift(flat, self.i32(u64::from(lo)), false, "")?;
            let at = b.build_and(shifted, self.i32(u64::from(len - 1)), "")?;
            out.push(self.element_at(index, at, iv, iv_value, body_values)?.into());
        }
        Ok(out)
    }

    /// Element `at` of the rank-1 tile `v` for the iteration whose induction variable
    /// `iv` is `iv_value` (an i32, or an i1 for a bool tile).
    fn element_at(
        &mut self,
        v: ValueId,
        at: IntValue<'ctx>,
        iv: ValueId,
        iv_value: IntValue<'ctx>,
        body_values: &HashSet<ValueId>,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let op = self.defining_op(v).cloned();
        let element = |this: &mut Self, x: ValueId| this.element_at(x, at, iv, iv_value, body_values);
        match op {
            Some(Op::Arange { start, .. }) => {
                let start = self.scalar_at(start, iv, iv_value, body_values)?;
                Ok(self.builder.build_int_add(start, at, "")?)
            }
            Some(Op::Splat { value }) => self.scalar_at(value, iv, iv_value, body_values),
            Some(Op::Load { tensor, indices }) => {
                let mut points = Vec::with_capacity(indices.len());
                for index in &indices {
                    points.push(match index {
                        Index::Point(x) => self.scalar_at(*x, iv, iv_value, body_values)?,
                        Index::Range { start, .. } => {
                            let start = self.scalar_at(*start, iv, iv_value, body_values)?;
                            self.builder.build_int_add(start, at, "")?
                        }
                        Index::Gather(g) => {
                            return Err(CodegenError::InvalidIr(format!("gather index {v} gathers by {g}")));
                        }
                    });
                }
                as_int(self.load_point(tensor, &points)?)
            }
            Some(Op::Binary { op, lhs, rhs }) => {
                let x = element(self, lhs)?;
                let y = element(self, rhs)?;
                let b = &self.builder;
                Ok(match op {
                    BinaryOp::Add => b.build_int_add(x, y, "")?,
                    BinaryOp::Sub => b.build_int_sub(x, y, "")?,
                    BinaryOp::Mul => b.build_int_mul(x, y, "")?,
                    BinaryOp::And => b.build_and(x, y, "")?,
                    BinaryOp::Or => b.build_or(x, y, "")?,
                    BinaryOp::Max | BinaryOp::Min => {
                        let keep = if op == BinaryOp::Max { IntPredicate::SGT } else { IntPredicate::SLT };
                        let keep_x = b.build_int_compare(keep, x, y, "")?;
                        b.build_select(keep_x, x, y, "")?.into_int_value()
                    }
                    _ => return Err(CodegenError::InvalidIr(format!("gather index {v} uses {op:?}"))),
                })
            }
            Some(Op::Cmp { op, lhs, rhs }) => {
                let x = element(self, lhs)?;
                let y = element(self, rhs)?;
                Ok(self.builder.build_int_compare(int_predicate(op, true), x, y, "")?)
            }
            Some(Op::Select { cond, on_true, on_false }) => {
                let c = element(self, cond)?;
                let x = element(self, on_true)?;
                let y = element(self, on_false)?;
                Ok(self.builder.build_select(c, x, y, "")?.into_int_value())
            }
            _ => Err(CodegenError::InvalidIr(format!("gather index {v} is not elementwise loop arithmetic"))),
        }
    }
}
