//! Elementwise arithmetic on the interpreter's f64 element encoding. Each function
//! takes operands already checked to have equal lengths and returns results rounded
//! to the result dtype.

use crate::ir::{BinaryOp, CmpOp, DType, UnaryOp};
use crate::tensor::round_to;

/// Why an elementwise op could not produce a result.
#[derive(Debug)]
pub(super) enum Fault {
    DivisionByZero,
    Unsupported { supported: &'static str },
}

fn zip_map(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
}

fn from_bool(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// `dtype` is the operands' dtype, which is also the result's.
pub(super) fn binary(op: BinaryOp, dtype: DType, a: &[f64], b: &[f64]) -> Result<Vec<f64>, Fault> {
    match dtype {
        DType::Bool => {
            let f: fn(bool, bool) -> bool = match op {
                BinaryOp::And => |x, y| x && y,
                BinaryOp::Or => |x, y| x || y,
                _ => return Err(Fault::Unsupported { supported: "and, or" }),
            };
            Ok(zip_map(a, b, |x, y| from_bool(f(x != 0.0, y != 0.0))))
        }
        DType::I32 => {
            let f: fn(i32, i32) -> i32 = match op {
                BinaryOp::Add => i32::wrapping_add,
                BinaryOp::Sub => i32::wrapping_sub,
                BinaryOp::Mul => i32::wrapping_mul,
                BinaryOp::Max => Ord::max,
                BinaryOp::Min => Ord::min,
                BinaryOp::Div | BinaryOp::Rem => {
                    if b.contains(&0.0) {
                        return Err(Fault::DivisionByZero);
                    }
                    if op == BinaryOp::Div {
                        i32::wrapping_div
                    } else {
                        i32::wrapping_rem
                    }
                }
                BinaryOp::And | BinaryOp::Or => {
                    return Err(Fault::Unsupported { supported: "add, sub, mul, div, rem, max, min" })
                }
            };
            // Stored i32 values are exact in f64, so `as i32` recovers them unchanged.
            Ok(zip_map(a, b, |x, y| f64::from(f(x as i32, y as i32))))
        }
        DType::F16 | DType::BF16 | DType::F32 => {
            let f: fn(f64, f64) -> f64 = match op {
                BinaryOp::Add => |x, y| x + y,
                BinaryOp::Sub => |x, y| x - y,
                BinaryOp::Mul => |x, y| x * y,
                BinaryOp::Div => |x, y| x / y,
                // Rust's f64::max/min return the non-NaN operand, like PTX `max.f32`/`min.f32`.
                BinaryOp::Max => f64::max,
                BinaryOp::Min => f64::min,
                BinaryOp::Rem | BinaryOp::And | BinaryOp::Or => {
                    return Err(Fault::Unsupported { supported: "add, sub, mul, div, max, min" })
                }
            };
            Ok(zip_map(a, b, |x, y| round_to(dtype, f(x, y))))
        }
    }
}

pub(super) fn unary(op: UnaryOp, dtype: DType, a: &[f64]) -> Result<Vec<f64>, Fault> {
    match dtype {
        DType::Bool => match op {
            UnaryOp::Not => Ok(a.iter().map(|&x| from_bool(x == 0.0)).collect()),
            _ => Err(Fault::Unsupported { supported: "not" }),
        },
        DType::I32 => {
            let f: fn(i32) -> i32 = match op {
                UnaryOp::Neg => i32::wrapping_neg,
                UnaryOp::Abs => i32::wrapping_abs,
                _ => return Err(Fault::Unsupported { supported: "neg, abs" }),
            };
            Ok(a.iter().map(|&x| f64::from(f(x as i32))).collect())
        }
        DType::F16 | DType::BF16 | DType::F32 => {
            let f: fn(f64) -> f64 = match op {
                UnaryOp::Neg => |x| -x,
                UnaryOp::Abs => f64::abs,
                UnaryOp::Exp => |x| flush_subnormal(x.exp()),
                UnaryOp::Exp2 => |x| flush_subnormal(x.exp2()),
                UnaryOp::Log2 => f64::log2,
                UnaryOp::Sqrt => f64::sqrt,
                UnaryOp::Rsqrt => |x| 1.0 / x.sqrt(),
                UnaryOp::Not => return Err(Fault::Unsupported { supported: "neg, abs, exp, exp2, log2, sqrt, rsqrt" }),
            };
            Ok(a.iter().map(|&x| round_to(dtype, f(x))).collect())
        }
    }
}

/// The language's exp and exp2 flush results below the smallest normal f32 (2^-126) to
/// 0, as the GPU's `ex2.approx.ftz` does.
fn flush_subnormal(x: f64) -> f64 {
    if x < f64::from(f32::MIN_POSITIVE) {
        0.0
    } else {
        x
    }
}

/// IEEE comparisons for every dtype: stored integers and bools compare exactly as
/// f64, and a NaN operand makes every comparison false except `Ne`.
pub(super) fn cmp(op: CmpOp, a: &[f64], b: &[f64]) -> Vec<f64> {
    let f: fn(&f64, &f64) -> bool = match op {
        CmpOp::Lt => f64::lt,
        CmpOp::Le => f64::le,
        CmpOp::Gt => f64::gt,
        CmpOp::Ge => f64::ge,
        CmpOp::Eq => f64::eq,
        CmpOp::Ne => f64::ne,
    };
    zip_map(a, b, |x, y| from_bool(f(&x, &y)))
}

pub(super) fn select(cond: &[f64], on_true: &[f64], on_false: &[f64]) -> Vec<f64> {
    cond.iter().zip(on_true.iter().zip(on_false)).map(|(&c, (&t, &f))| if c != 0.0 { t } else { f }).collect()
}

pub(super) fn cast(from: DType, to: DType, a: &[f64]) -> Vec<f64> {
    if from.is_float() && to == DType::I32 {
        // `as` truncates toward zero, saturates and maps NaN to 0: PTX `cvt.rzi.s32.f32`.
        a.iter().map(|&x| f64::from(x as i32)).collect()
    } else {
        a.iter().map(|&x| round_to(to, x)).collect()
    }
}
