//! An accumulator's rescale skipped where a warp's factors are all 1.
//!
//! The online softmax rescales its accumulator every step: `acc * alpha[:, None] +
//! dot(p, v)`, one multiply per accumulator register (64 a thread for a 64 × 128
//! accumulator over a warpgroup, a fifth of a 64-key step's instructions). A softmax
//! whose running max lags (attention.tile's `lazy_softmax_step`) makes most factors
//! exactly 1, and says so: its alpha is `where(.., 1.0, ..)`. So a product's addend
//! scaled by such a factor, broadcast over many registers, is multiplied behind a warp
//! vote: the warp skips the multiplies when each of its lanes' factors equals 1. A factor
//! that is not selected from 1 is rarely 1, and is multiplied as before: there the vote
//! and the branch (which keeps ptxas from interleaving the multiplies with other work)
//! would only cost.
//!
//! This is exact for every input: `x * 1.0` is `x` (NaN stays NaN, -0 stays -0), so
//! skipping changes no bit of the result. It needs every lane of the warp present, which
//! the tile model's uniform control flow gives ([`super`]).

use std::collections::{HashMap, HashSet};

use inkwell::values::BasicValueEnum;
use inkwell::FloatPredicate;

use super::context::{as_float, Lowerer, Regs};
use super::plan::yields;
use super::CodegenError;
use crate::ir::{Block, Literal, Op, ValueId};

/// A scale is guarded only when it multiplies at least this many registers a thread: for
/// fewer, the vote and branch cost about what they save.
const MIN_GUARDED_REGS: usize = 16;
/// ... by at most this many distinct factors a thread (a row vector broadcast over an
/// accumulator gives one factor per row the thread holds).
const MAX_GUARD_FACTORS: usize = 4;

const FULL_MASK: u64 = 0xffff_ffff;

impl<'ctx> Lowerer<'_, 'ctx> {
    /// Whether the f32 multiply `result = lhs * rhs` scales the addend a product
    /// accumulates onto ([`super::plan::Plan::fused_adds`]) by a factor selected from 1
    /// ([`often_one`]).
    pub fn rescales_by_a_factor_often_one(&self, result: ValueId, lhs: ValueId, rhs: ValueId) -> bool {
        self.fused_adds.values().any(|&(_, addend)| addend == result)
            && (self.often_one.contains(&lhs) || self.often_one.contains(&rhs))
    }

    /// `values * factors`, register by register, behind the vote: `None` where `factors`
    /// hold too many distinct values or `values` too few registers for the guard to pay.
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

/// The values of `body` that are selected from 1: `where(c, 1.0, x)` or `where(c, x,
/// 1.0)`, the tile 1.0 itself, and what carries them unchanged: inserted axes,
/// broadcasts, and the loop-carried values and `if` results whose every incoming value is
/// one of them (a lagging softmax's alpha, carried from one step to the next and started
/// at `full([BM], 1.0)`). The greatest fixpoint: every candidate starts in the set, and
/// one leaves when its rule no longer holds, until none does.
pub(super) fn often_one(body: &Block) -> HashSet<ValueId> {
    let mut rules = HashMap::new();
    collect_rules(body, &mut rules);
    let mut set: HashSet<ValueId> = rules.keys().copied().collect();
    loop {
        let next: HashSet<ValueId> = rules
            .iter()
            .filter(|(_, rule)| match rule {
                Rule::One => true,
                Rule::Select(a, b) => set.contains(a) || set.contains(b),
                Rule::Same(v) => set.contains(v),
                Rule::AllOf(incoming) => incoming.iter().all(|v| set.contains(v)),
            })
            .map(|(v, _)| *v)
            .collect();
        if next == set {
            return set;
        }
        set = next;
    }
}

/// Why a value may be selected from 1 ([`often_one`]).
enum Rule {
    /// The constant 1.0.
    One,
    /// A select: from 1 when either arm is.
    Select(ValueId, ValueId),
    /// The value again, with inserted axes, broadcast or splatted.
    Same(ValueId),
    /// A loop-carried value or an `if` result: from 1 when every incoming value is.
    AllOf(Vec<ValueId>),
}

fn collect_rules(block: &Block, rules: &mut HashMap<ValueId, Rule>) {
    for inst in &block.insts {
        let single = if let [r] = inst.results[..] { Some(r) } else { None };
        match (&inst.op, single) {
            (Op::Const(Literal::Float(x)), Some(r)) if *x == 1.0 => {
                rules.insert(r, Rule::One);
            }
            (Op::Select { on_true, on_false, .. }, Some(r)) => {
                rules.insert(r, Rule::Select(*on_true, *on_false));
            }
            (Op::ExpandDims { value, .. } | Op::Broadcast { value } | Op::Splat { value }, Some(r)) => {
                rules.insert(r, Rule::Same(*value));
            }
            (Op::For { init, body, .. }, _) => {
                // The planner has checked that every block ends with its yield.
                let yielded = yields(body).unwrap_or_default();
                for (k, &v) in init.iter().enumerate() {
                    let incoming = vec![v, yielded.get(k).copied().unwrap_or(v)];
                    // Block argument 0 is the induction variable.
                    if let Some(&arg) = body.args.get(k + 1) {
                        rules.insert(arg, Rule::AllOf(incoming.clone()));
                    }
                    if let Some(&r) = inst.results.get(k) {
                        rules.insert(r, Rule::AllOf(incoming));
                    }
                }
                collect_rules(body, rules);
            }
            (Op::If { then_block, else_block, .. }, _) => {
                let (a, b) = (yields(then_block).unwrap_or_default(), yields(else_block).unwrap_or_default());
                for (k, &r) in inst.results.iter().enumerate() {
                    rules.insert(r, Rule::AllOf([a.get(k), b.get(k)].into_iter().flatten().copied().collect()));
                }
                collect_rules(then_block, rules);
                collect_rules(else_block, rules);
            }
            _ => {}
        }
    }
}
