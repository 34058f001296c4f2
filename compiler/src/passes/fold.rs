//! Constant folding, in one forward walk (SSA definitions come before their uses):
//! - `binary`, `unary`, `cmp` and `cast` whose operands are all `const` become a `const`
//!   with the same result id;
//! - `select` on a constant condition is replaced by the chosen operand;
//! - `if` on a constant condition is replaced by the taken block's instructions, its
//!   results by what that block yields;
//! - `for` with constant bounds `lower >= upper` runs zero times: its results become
//!   its init values.
//!
//! A fold must give what the GPU would compute, so only exactly specified operations
//! fold: i32 arithmetic wraps, division truncates and the remainder takes the dividend's
//! sign (C), floats are computed exactly and rounded to the dtype. Left for run time:
//! division or remainder by zero, `exp`/`exp2`/`log2`/`sqrt`/`rsqrt` (the target may
//! approximate them), float→i32 casts that are NaN or out of range, and NaN→bool casts.

use super::operands::operands_mut;
use crate::ir::{BinaryOp, CmpOp, DType, Inst, Kernel, Literal, Op, Type, UnaryOp, ValueId};
use crate::tensor::round_to;
use std::collections::HashMap;

pub fn run(kernel: &mut Kernel) {
    let mut folder = Folder { types: &kernel.value_types, consts: HashMap::new(), subst: HashMap::new() };
    kernel.grid.insts = folder.insts(std::mem::take(&mut kernel.grid.insts));
    kernel.body.insts = folder.insts(std::mem::take(&mut kernel.body.insts));
}

/// A constant as the GPU holds it: already rounded to its dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scalar {
    Bool(bool),
    Int(i32),
    Float(f64),
}

impl Scalar {
    /// `None` for a literal that does not fit its dtype (unverified IR): left alone.
    fn of(lit: Literal, dtype: DType) -> Option<Scalar> {
        match (lit, dtype) {
            (Literal::Bool(b), DType::Bool) => Some(Scalar::Bool(b)),
            (Literal::Int(v), DType::I32) => i32::try_from(v).ok().map(Scalar::Int),
            (Literal::Int(v), d) if d.is_float() => Some(Scalar::Float(round_to(d, v as f64))),
            (Literal::Float(x), d) if d.is_float() => Some(Scalar::Float(round_to(d, x))),
            _ => None,
        }
    }

    fn literal(self) -> Literal {
        match self {
            Scalar::Bool(b) => Literal::Bool(b),
            Scalar::Int(v) => Literal::Int(i64::from(v)),
            Scalar::Float(x) => Literal::Float(x),
        }
    }
}

struct Folder<'k> {
    types: &'k [Type],
    /// Scalar values defined by a `const`.
    consts: HashMap<ValueId, Scalar>,
    /// Uses to rewrite: results of folded-away `select`/`if`/`for` to their replacements.
    subst: HashMap<ValueId, ValueId>,
}

impl Folder<'_> {
    fn insts(&mut self, insts: Vec<Inst>) -> Vec<Inst> {
        let mut out = Vec::with_capacity(insts.len());
        for inst in insts {
            self.inst(inst, &mut out);
        }
        out
    }

    fn inst(&mut self, mut inst: Inst, out: &mut Vec<Inst>) {
        for v in operands_mut(&mut inst.op) {
            if let Some(&to) = self.subst.get(v) {
                *v = to;
            }
        }
        match &mut inst.op {
            Op::If { cond, then_block, else_block } => {
                if let Some(Scalar::Bool(taken)) = self.consts.get(cond).copied() {
                    let block = if taken { &mut *then_block } else { &mut *else_block };
                    if yields(&block.insts, inst.results.len()) {
                        let insts = std::mem::take(&mut block.insts);
                        self.inline(insts, &inst.results, out);
                        return;
                    }
                }
                then_block.insts = self.insts(std::mem::take(&mut then_block.insts));
                else_block.insts = self.insts(std::mem::take(&mut else_block.insts));
            }
            Op::For { lower, upper, init, body, .. } => {
                if let (Some(Scalar::Int(lo)), Some(Scalar::Int(hi))) = (self.consts.get(lower), self.consts.get(upper))
                {
                    if lo >= hi && inst.results.len() == init.len() {
                        self.subst.extend(inst.results.iter().copied().zip(init.iter().copied()));
                        return;
                    }
                }
                body.insts = self.insts(std::mem::take(&mut body.insts));
            }
            Op::Select { cond, on_true, on_false } => {
                if let (Some(Scalar::Bool(c)), [r]) = (self.consts.get(cond), inst.results.as_slice()) {
                    self.subst.insert(*r, if *c { *on_true } else { *on_false });
                    return;
                }
            }
            Op::Const(lit) => {
                if let [r] = inst.results.as_slice() {
                    if let Some(value) = self.dtype(*r).and_then(|dtype| Scalar::of(*lit, dtype)) {
                        self.consts.insert(*r, value);
                    }
                }
            }
            op => {
                if let [r] = inst.results.as_slice() {
                    if let Some(value) = self.evaluate(op, *r) {
                        self.consts.insert(*r, value);
                        inst.op = Op::Const(value.literal());
                    }
                }
            }
        }
        out.push(inst);
    }

    /// Appends a taken block's instructions to `out`, mapping `results` to what its
    /// `yield` carries (checked by [`yields`] to be the last instruction).
    fn inline(&mut self, insts: Vec<Inst>, results: &[ValueId], out: &mut Vec<Inst>) {
        for inst in insts {
            let Op::Yield { values } = &inst.op else {
                self.inst(inst, out);
                continue;
            };
            for (&r, v) in results.iter().zip(values) {
                let v = self.subst.get(v).copied().unwrap_or(*v);
                self.subst.insert(r, v);
            }
        }
    }

    fn scalar(&self, v: ValueId) -> Option<Scalar> {
        self.consts.get(&v).copied()
    }

    fn dtype(&self, v: ValueId) -> Option<DType> {
        self.types.get(v.0 as usize).filter(|t| t.is_scalar()).map(|t| t.dtype)
    }

    /// The constant an op computes, if it folds; `result`'s type decides the rounding.
    fn evaluate(&self, op: &Op, result: ValueId) -> Option<Scalar> {
        let dtype = self.dtype(result)?;
        match op {
            Op::Binary { op, lhs, rhs } => binary(*op, self.scalar(*lhs)?, self.scalar(*rhs)?, dtype),
            Op::Unary { op, value } => unary(*op, self.scalar(*value)?, dtype),
            Op::Cmp { op, lhs, rhs } => cmp(*op, self.scalar(*lhs)?, self.scalar(*rhs)?).map(Scalar::Bool),
            Op::Cast { value } => cast(self.scalar(*value)?, dtype),
            _ => None,
        }
    }
}

/// Whether a block ends with a `yield` of `count` values, so it can replace an `if`.
fn yields(insts: &[Inst], count: usize) -> bool {
    matches!(insts.last(), Some(Inst { op: Op::Yield { values }, .. }) if values.len() == count)
}

fn binary(op: BinaryOp, a: Scalar, b: Scalar, dtype: DType) -> Option<Scalar> {
    use BinaryOp::*;
    match (a, b) {
        (Scalar::Int(a), Scalar::Int(b)) => Some(Scalar::Int(match op {
            Add => a.wrapping_add(b),
            Sub => a.wrapping_sub(b),
            Mul => a.wrapping_mul(b),
            // wrapping_div/rem give C's truncation and i32::MIN / -1 == i32::MIN.
            Div if b != 0 => a.wrapping_div(b),
            Rem if b != 0 => a.wrapping_rem(b),
            Max => a.max(b),
            Min => a.min(b),
            Div | Rem | And | Or => return None,
        })),
        (Scalar::Float(a), Scalar::Float(b)) => {
            let x = match op {
                Add => a + b,
                Sub => a - b,
                Mul => a * b,
                Div if b != 0.0 => a / b,
                // IEEE maxNum/minNum, as PTX max/min: a NaN operand yields the other one.
                Max => a.max(b),
                Min => a.min(b),
                Div | Rem | And | Or => return None,
            };
            Some(Scalar::Float(round_to(dtype, x)))
        }
        (Scalar::Bool(a), Scalar::Bool(b)) => match op {
            And => Some(Scalar::Bool(a && b)),
            Or => Some(Scalar::Bool(a || b)),
            _ => None,
        },
        _ => None,
    }
}

fn unary(op: UnaryOp, a: Scalar, dtype: DType) -> Option<Scalar> {
    match (op, a) {
        (UnaryOp::Neg, Scalar::Int(v)) => Some(Scalar::Int(v.wrapping_neg())),
        (UnaryOp::Abs, Scalar::Int(v)) => Some(Scalar::Int(v.wrapping_abs())),
        (UnaryOp::Neg, Scalar::Float(x)) => Some(Scalar::Float(round_to(dtype, -x))),
        (UnaryOp::Abs, Scalar::Float(x)) => Some(Scalar::Float(round_to(dtype, x.abs()))),
        (UnaryOp::Not, Scalar::Bool(b)) => Some(Scalar::Bool(!b)),
        _ => None,
    }
}

fn cmp(op: CmpOp, a: Scalar, b: Scalar) -> Option<bool> {
    let ordering = match (a, b) {
        (Scalar::Int(a), Scalar::Int(b)) => Some(a.cmp(&b)),
        (Scalar::Bool(a), Scalar::Bool(b)) => Some(a.cmp(&b)),
        // `None` when either is NaN: every comparison is then false except `ne`.
        (Scalar::Float(a), Scalar::Float(b)) => a.partial_cmp(&b),
        _ => return None,
    };
    Some(match ordering {
        None => op == CmpOp::Ne,
        Some(o) => match op {
            CmpOp::Lt => o.is_lt(),
            CmpOp::Le => o.is_le(),
            CmpOp::Gt => o.is_gt(),
            CmpOp::Ge => o.is_ge(),
            CmpOp::Eq => o.is_eq(),
            CmpOp::Ne => o.is_ne(),
        },
    })
}

fn cast(a: Scalar, to: DType) -> Option<Scalar> {
    let x = match a {
        Scalar::Bool(b) => f64::from(u8::from(b)),
        Scalar::Int(v) => f64::from(v),
        Scalar::Float(x) => x,
    };
    match to {
        DType::Bool if x.is_nan() => None,
        DType::Bool => Some(Scalar::Bool(x != 0.0)),
        DType::I32 => {
            let t = x.trunc();
            (t >= f64::from(i32::MIN) && t <= f64::from(i32::MAX)).then_some(Scalar::Int(t as i32))
        }
        float => Some(Scalar::Float(round_to(float, x))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(op: BinaryOp, a: i32, b: i32) -> Option<Scalar> {
        binary(op, Scalar::Int(a), Scalar::Int(b), DType::I32)
    }

    #[test]
    fn i32_add_wraps() {
        assert_eq!(int(BinaryOp::Add, i32::MAX, 1), Some(Scalar::Int(i32::MIN)));
    }

    #[test]
    fn i32_mul_wraps() {
        assert_eq!(int(BinaryOp::Mul, 65536, 65536), Some(Scalar::Int(0)));
    }

    #[test]
    fn i32_div_truncates_toward_zero() {
        assert_eq!(int(BinaryOp::Div, -7, 2), Some(Scalar::Int(-3)));
    }

    #[test]
    fn i32_min_div_minus_one_wraps() {
        assert_eq!(int(BinaryOp::Div, i32::MIN, -1), Some(Scalar::Int(i32::MIN)));
    }

    #[test]
    fn i32_rem_takes_dividend_sign() {
        assert_eq!(int(BinaryOp::Rem, -7, 2), Some(Scalar::Int(-1)));
    }

    #[test]
    fn i32_div_by_zero_does_not_fold() {
        assert_eq!(int(BinaryOp::Div, 1, 0), None);
    }

    #[test]
    fn i32_rem_by_zero_does_not_fold() {
        assert_eq!(int(BinaryOp::Rem, 1, 0), None);
    }

    #[test]
    fn float_div_by_zero_does_not_fold() {
        assert_eq!(binary(BinaryOp::Div, Scalar::Float(1.0), Scalar::Float(0.0), DType::F32), None);
    }

    #[test]
    fn f32_sum_rounds_to_f32() {
        let sum = binary(BinaryOp::Add, Scalar::Float(1.0), Scalar::Float(1e-8), DType::F32);
        assert_eq!(sum, Some(Scalar::Float(1.0)));
    }

    #[test]
    fn bf16_literal_rounds_to_bf16() {
        assert_eq!(Scalar::of(Literal::Float(1.00390625), DType::BF16), Some(Scalar::Float(1.0)));
    }

    #[test]
    fn float_max_ignores_nan() {
        let m = binary(BinaryOp::Max, Scalar::Float(f64::NAN), Scalar::Float(2.0), DType::F32);
        assert_eq!(m, Some(Scalar::Float(2.0)));
    }

    #[test]
    fn nan_compares_not_equal() {
        assert_eq!(cmp(CmpOp::Ne, Scalar::Float(f64::NAN), Scalar::Float(f64::NAN)), Some(true));
    }

    #[test]
    fn nan_is_not_less_or_equal() {
        assert_eq!(cmp(CmpOp::Le, Scalar::Float(f64::NAN), Scalar::Float(1.0)), Some(false));
    }

    #[test]
    fn i32_neg_of_min_wraps() {
        assert_eq!(unary(UnaryOp::Neg, Scalar::Int(i32::MIN), DType::I32), Some(Scalar::Int(i32::MIN)));
    }

    #[test]
    fn exp_does_not_fold() {
        assert_eq!(unary(UnaryOp::Exp, Scalar::Float(1.0), DType::F32), None);
    }

    #[test]
    fn cast_float_to_i32_truncates() {
        assert_eq!(cast(Scalar::Float(-2.75), DType::I32), Some(Scalar::Int(-2)));
    }

    #[test]
    fn cast_out_of_range_float_to_i32_does_not_fold() {
        assert_eq!(cast(Scalar::Float(3e9), DType::I32), None);
    }

    #[test]
    fn cast_nan_to_bool_does_not_fold() {
        assert_eq!(cast(Scalar::Float(f64::NAN), DType::Bool), None);
    }

    #[test]
    fn cast_i32_to_f16_rounds() {
        assert_eq!(cast(Scalar::Int(2049), DType::F16), Some(Scalar::Float(2048.0)));
    }

    #[test]
    fn cast_bool_to_f32_is_one() {
        assert_eq!(cast(Scalar::Bool(true), DType::F32), Some(Scalar::Float(1.0)));
    }
}
