//! An accumulator's rescale skipped where a warp's factors are all 1.
//!
//! The online softmax rescales its accumulator every step: `acc * alpha[:, None] +
//! dot(p, v)`, one multiply per accumulator register (64 a thread for a 64 × 128
//! accumulator over a warpgroup, a fifth of a 64-key step's instructions). Where the
//! running max did not move, every factor is exactly 1 and the multiplies change
//! nothing: a softmax that keeps its max until it grows by a margin (attention.tile's
//! `softmax_step`) makes that the common step. So a product's scaled addend whose
//! factors are a few values broadcast over many registers is multiplied behind a
//! warp vote: the warp skips the multiplies when each of its lanes' factors equals 1.
//!
//! This is exact for every input: `x * 1.0` is `x` (NaN stays NaN, -0 stays -0), so
//! skipping changes no bit of the result. It needs every lane of the warp present, which
//! the tile model's uniform control flow gives ([`super`]).

use inkwell::values::BasicValueEnum;
use inkwell::FloatPredicate;

use super::context::{as_float, Lowerer, Regs};
use super::CodegenError;
use crate::ir::ValueId;

/// A scale is guarded only when it multiplies at least this many registers a thread: for
/// fewer, the vote and branch cost about what they save.
pub const MIN_GUARDED_REGS: usize = 16;
/// ... by at most this many distinct factors a thread (a row vector broadcast over an
/// accumulator gives one factor per row the thread holds).
pub const MAX_GUARD_FACTORS: usize = 4;

const FULL_MASK: u64 = 0xffff_ffff;

impl<'ctx> Lowerer<'_, 'ctx> {
    /// Whether `result` (an f32 multiply) is the addend a product accumulates onto
    /// ([`super::plan::Plan::fused_adds`]).
    pub fn scales_an_accumulator(&self, result: ValueId) -> bool {
        self.fused_adds.values().any(|&(_, addend)| addend == result)
    }

    /// `values * factors`, register by register, where `factors` holds few distinct
    /// values: `None` when the guard does not apply (see the module comment).
    pub fn guarded_scale(&self, values: &Regs<'ctx>, factors: &Regs<'ctx>) -> Result<Option<Regs<'ctx>>, CodegenError> {
        if values.len() < MIN_GUARDED_REGS || values.len() != factors.len() {
            return Ok(None);
        }
        let mut distinct: Vec<BasicValueEnum<'ctx>> = Vec::new();
        for f in factors {
            // A constant factor is known here: 1 folds away, and any other always multiplies.
            if as_float(*f)?.is_const() {
                return Ok(None);
            }
            if !distinct.contains(f) {
                if distinct.len() == MAX_GUARD_FACTORS {
                    return Ok(None);
                }
                distinct.push(*f);
            }
        }
        let b = &self.builder;
        let one = self.context.f32_type().const_float(1.0);
        let mut all_one = self.bool(true);
        for f in &distinct {
            let is_one = b.build_float_compare(FloatPredicate::OEQ, as_float(*f)?, one, "")?;
            all_one = b.build_and(all_one, is_one, "")?;
        }
        let warp_all_one = self
            .intrinsic_value("llvm.nvvm.vote.all.sync", &[], &[self.i32(FULL_MASK).into(), all_one.into()])?
            .into_int_value();
        let types: Vec<_> = values.iter().map(|v| v.get_type()).collect();
        let scaled = self.branch_values(
            warp_all_one,
            &types,
            |_| Ok(values.clone()),
            |this| {
                values
                    .iter()
                    .zip(factors)
                    .map(|(&x, &f)| Ok(this.builder.build_float_mul(as_float(x)?, as_float(f)?, "")?.into()))
                    .collect()
            },
        )?;
        Ok(Some(scaled))
    }
}
