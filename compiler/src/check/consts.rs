//! Compile-time constants and their folding.
//!
//! Literals are *weak*: `2` is an i32 and `1.5` an f32 until they meet a typed
//! operand, and then take its dtype (`x * 2` with `x: f32` multiplies by 2.0).
//! Const parameters and folded casts are typed. Folding follows the run-time
//! semantics of each op (i32 division truncates, `%` keeps the dividend's sign)
//! but reports what the hardware would silently wrap: i32 overflow and division
//! by zero.

use super::types::ElemTy;
use crate::ir::{DType, Literal};
use crate::syntax::ast::BinaryOp;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A value known at specialization time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant {
    pub value: Scalar,
    pub ty: ElemTy,
}

impl Constant {
    pub fn weak_int(v: i64) -> Constant {
        Constant { value: Scalar::Int(v), ty: ElemTy::weak(DType::I32) }
    }

    pub fn weak_float(v: f64) -> Constant {
        Constant { value: Scalar::Float(v), ty: ElemTy::weak(DType::F32) }
    }

    pub fn bool(v: bool) -> Constant {
        Constant { value: Scalar::Bool(v), ty: ElemTy::typed(DType::Bool) }
    }

    /// An i32 const parameter's value: typed, unlike a literal.
    pub fn typed_int(v: i64) -> Constant {
        Constant { value: Scalar::Int(v), ty: ElemTy::typed(DType::I32) }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Scalar::Int(v) if self.ty.dtype == DType::I32 => Some(v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Scalar::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The literal of an `Op::Const` of dtype `dtype` holding this value.
    pub fn literal(&self, dtype: DType) -> Literal {
        match (self.value, dtype) {
            (Scalar::Bool(b), _) => Literal::Bool(b),
            (Scalar::Int(v), d) if d.is_float() => Literal::Float(v as f64),
            (Scalar::Int(v), _) => Literal::Int(v),
            (Scalar::Float(v), _) => Literal::Float(v),
        }
    }

    /// This constant converted to the (already unified) operand type `ty`.
    fn converted(&self, ty: ElemTy) -> Scalar {
        match self.value {
            Scalar::Int(v) if ty.dtype.is_float() => Scalar::Float(round(ty, v as f64)),
            other => other,
        }
    }

    pub fn describe(&self) -> String {
        match self.value {
            Scalar::Int(v) => format!("{v}"),
            Scalar::Float(v) => format!("{v:?}"),
            Scalar::Bool(v) => format!("{v}"),
        }
    }
}

/// Typed f32 constants round like run-time f32 math; weak float literals keep
/// f64 until they are materialized.
fn round(ty: ElemTy, v: f64) -> f64 {
    if ty.weak {
        v
    } else {
        crate::tensor::round_to(ty.dtype, v)
    }
}

fn check_i32(v: i64, what: impl FnOnce() -> String) -> Result<i64, String> {
    if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        Ok(v)
    } else {
        Err(format!("constant expression `{}` overflows i32", what()))
    }
}

/// Folds `lhs op rhs`; `ty` is the unified operand type, already checked to suit `op`.
pub fn fold_binary(op: BinaryOp, lhs: &Constant, rhs: &Constant, ty: ElemTy) -> Result<Constant, String> {
    use BinaryOp as B;
    let text = || format!("{} {} {}", lhs.describe(), op.symbol(), rhs.describe());
    let (a, b) = (lhs.converted(ty), rhs.converted(ty));
    let value = match (a, b) {
        (Scalar::Int(x), Scalar::Int(y)) => match op {
            B::Add => Scalar::Int(check_i32(x + y, text)?),
            B::Sub => Scalar::Int(check_i32(x - y, text)?),
            B::Mul => Scalar::Int(check_i32(x * y, text)?),
            B::Div | B::Rem if y == 0 => return Err(format!("division by zero in constant expression `{}`", text())),
            B::Div => Scalar::Int(check_i32(x / y, text)?),
            B::Rem => Scalar::Int(x % y),
            _ => return Ok(Constant::bool(compare(op, x.cmp(&y)))),
        },
        (Scalar::Float(x), Scalar::Float(y)) => match op {
            B::Add => Scalar::Float(round(ty, x + y)),
            B::Sub => Scalar::Float(round(ty, x - y)),
            B::Mul => Scalar::Float(round(ty, x * y)),
            B::Div => Scalar::Float(round(ty, x / y)),
            _ => match x.partial_cmp(&y) {
                Some(ord) => return Ok(Constant::bool(compare(op, ord))),
                // Only reachable through `inf - inf`; every comparison with NaN except `!=` is false.
                None => return Ok(Constant::bool(op == B::Ne)),
            },
        },
        (Scalar::Bool(x), Scalar::Bool(y)) => match op {
            B::And => Scalar::Bool(x && y),
            B::Or => Scalar::Bool(x || y),
            B::Ne => Scalar::Bool(x != y),
            _ => Scalar::Bool(x == y),
        },
        _ => return Err(format!("cannot fold `{}`: operand kinds differ", text())),
    };
    Ok(Constant { value, ty })
}

fn compare(op: BinaryOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        BinaryOp::Lt => ord == Less,
        BinaryOp::Le => ord != Greater,
        BinaryOp::Gt => ord == Greater,
        BinaryOp::Ge => ord != Less,
        BinaryOp::Eq => ord == Equal,
        _ => ord != Equal,
    }
}

pub fn fold_neg(c: &Constant) -> Result<Constant, String> {
    let value = match c.value {
        Scalar::Int(v) => Scalar::Int(check_i32(-v, || format!("-{v}"))?),
        Scalar::Float(v) => Scalar::Float(-v),
        Scalar::Bool(v) => Scalar::Bool(v),
    };
    Ok(Constant { value, ..*c })
}

pub fn fold_not(c: &Constant) -> Constant {
    match c.value {
        Scalar::Bool(v) => Constant::bool(!v),
        _ => *c,
    }
}

/// `min`/`max` of two constants of the unified type `ty`.
pub fn fold_min_max(is_max: bool, lhs: &Constant, rhs: &Constant, ty: ElemTy) -> Constant {
    let value = match (lhs.converted(ty), rhs.converted(ty)) {
        (Scalar::Int(x), Scalar::Int(y)) => Scalar::Int(if is_max { x.max(y) } else { x.min(y) }),
        (Scalar::Float(x), Scalar::Float(y)) => Scalar::Float(if is_max { x.max(y) } else { x.min(y) }),
        (a, _) => a,
    };
    Constant { value, ty }
}

/// Casts to `dtype`, or `None` where folding would have to model f16/bf16
/// rounding: those casts are left to run time.
pub fn fold_cast(c: &Constant, dtype: DType) -> Result<Option<Constant>, String> {
    let value = match (c.value, dtype) {
        (_, DType::F16 | DType::BF16) => return Ok(None),
        (Scalar::Int(v), DType::I32) => Scalar::Int(v),
        (Scalar::Float(v), DType::I32) => {
            let t = v.trunc();
            if !(i32::MIN as f64..=i32::MAX as f64).contains(&t) {
                return Err(format!("cast<i32>({}) does not fit in i32", c.describe()));
            }
            Scalar::Int(t as i64)
        }
        (Scalar::Bool(v), DType::I32) => Scalar::Int(v as i64),
        (Scalar::Int(v), DType::F32) => Scalar::Float(crate::tensor::round_to(DType::F32, v as f64)),
        (Scalar::Float(v), DType::F32) => Scalar::Float(crate::tensor::round_to(DType::F32, v)),
        (Scalar::Bool(v), DType::F32) => Scalar::Float(if v { 1.0 } else { 0.0 }),
        (Scalar::Int(v), DType::Bool) => Scalar::Bool(v != 0),
        (Scalar::Float(v), DType::Bool) => Scalar::Bool(v != 0.0),
        (Scalar::Bool(v), DType::Bool) => Scalar::Bool(v),
    };
    Ok(Some(Constant { value, ty: ElemTy::typed(dtype) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i64) -> Constant {
        Constant { value: Scalar::Int(v), ty: ElemTy::typed(DType::I32) }
    }

    fn fold(op: BinaryOp, a: Constant, b: Constant) -> Result<Constant, String> {
        fold_binary(op, &a, &b, ElemTy::unify(a.ty, b.ty).unwrap_or(a.ty))
    }

    #[test]
    fn int_division_truncates_toward_zero() {
        assert_eq!(fold(BinaryOp::Div, int(-7), int(2)), Ok(int(-3)));
    }

    #[test]
    fn remainder_keeps_sign_of_dividend() {
        assert_eq!(fold(BinaryOp::Rem, int(-7), int(2)), Ok(int(-1)));
    }

    #[test]
    fn division_by_zero_is_an_error() {
        assert_eq!(fold(BinaryOp::Div, int(1), int(0)), Err("division by zero in constant expression `1 / 0`".into()));
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(
            fold(BinaryOp::Mul, int(65536), int(65536)),
            Err("constant expression `65536 * 65536` overflows i32".into())
        );
    }

    #[test]
    fn weak_int_with_weak_float_is_weak_float() {
        assert_eq!(
            fold(BinaryOp::Add, Constant::weak_int(1), Constant::weak_float(0.5)),
            Ok(Constant::weak_float(1.5))
        );
    }

    #[test]
    fn comparison_gives_bool() {
        assert_eq!(fold(BinaryOp::Le, int(3), int(3)), Ok(Constant::bool(true)));
    }

    #[test]
    fn typed_f32_rounds_like_f32() {
        let third = fold_cast(&Constant::weak_float(1.0 / 3.0), DType::F32).ok().flatten();
        assert_eq!(third.map(|c| c.value), Some(Scalar::Float((1.0f32 / 3.0) as f64)));
    }

    #[test]
    fn cast_float_to_int_truncates() {
        assert_eq!(fold_cast(&Constant::weak_float(-2.7), DType::I32), Ok(Some(int(-2))));
    }

    #[test]
    fn cast_to_bf16_is_left_to_run_time() {
        assert_eq!(fold_cast(&Constant::weak_float(1.1), DType::BF16), Ok(None));
    }

    #[test]
    fn cast_out_of_range_is_an_error() {
        assert_eq!(
            fold_cast(&Constant::weak_float(1e10), DType::I32),
            Err("cast<i32>(10000000000.0) does not fit in i32".into())
        );
    }

    #[test]
    fn negating_int_min_overflows() {
        assert!(fold_neg(&int(i32::MIN as i64)).is_err());
    }

    #[test]
    fn max_of_weak_and_typed_takes_typed() {
        let t = ElemTy::unify(Constant::weak_int(3).ty, int(5).ty).unwrap_or(ElemTy::weak(DType::I32));
        assert_eq!(fold_min_max(true, &Constant::weak_int(3), &int(5), t), int(5));
    }
}
