//! Type rules: which dtypes an operation accepts, how weak literals adapt, and
//! numpy-style broadcasting of shapes. Pure functions returning the message of
//! the rule that failed; the lowering attaches spans.

use crate::ir::{DType, Type};

/// The element type of an operand. `weak` marks a literal (or an expression of
/// literals only) that still adapts to the other operand's dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElemTy {
    pub dtype: DType,
    pub weak: bool,
}

impl ElemTy {
    pub fn typed(dtype: DType) -> ElemTy {
        ElemTy { dtype, weak: false }
    }

    pub fn weak(dtype: DType) -> ElemTy {
        ElemTy { dtype, weak: true }
    }

    /// The one dtype both operands take, or `None` if neither adapts to the other.
    pub fn unify(a: ElemTy, b: ElemTy) -> Option<ElemTy> {
        match (a.weak, b.weak) {
            (false, false) => (a.dtype == b.dtype).then_some(a),
            (true, false) => a.adapts_to(b.dtype).then_some(b),
            (false, true) => b.adapts_to(a.dtype).then_some(a),
            // Two literals: a float literal makes the pair float.
            (true, true) => Some(if a.dtype.is_float() { a } else { b }),
        }
    }

    /// Whether this weak literal may take `dtype`: an int literal becomes any
    /// number, a float literal any float.
    fn adapts_to(self, dtype: DType) -> bool {
        match self.dtype {
            DType::I32 => dtype.is_int() || dtype.is_float(),
            d if d.is_float() => dtype.is_float(),
            _ => self.dtype == dtype,
        }
    }
}

/// Why two operand dtypes do not combine, with the cast that would fix it.
pub fn mismatch(what: &str, a: DType, b: DType) -> String {
    // Computation happens in f32 or i32, so suggest the widest of the two.
    let preference = [|d: DType| d == DType::F32, DType::is_float, DType::is_int];
    let target = preference.iter().find_map(|pick| [a, b].into_iter().find(|&d| pick(d))).unwrap_or(a);
    format!("cannot apply {what} to {a} and {b}; there is no implicit conversion, use cast<{target}>(...)")
}

/// What an operation needs of its (unified) operand dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// i32 or f32: `+ - * /`, `<`, `min`, `sum`, negation.
    Number,
    /// i32 only: `%`, `cdiv`.
    Int,
    /// f32 only: `exp2`, `sqrt`, ...
    Float,
    /// bool only: `&& || !`.
    Bool,
    /// i32, f32 or bool: `==`, `!=`.
    Equality,
}

/// Checks `dtype` against what `what` needs. f16/bf16 get their own message:
/// they are storage formats here, and every computation happens in f32.
pub fn require(needs: Needs, what: &str, dtype: DType) -> Result<(), String> {
    if matches!(dtype, DType::F16 | DType::BF16) && needs != Needs::Bool {
        return Err(format!("arithmetic on {dtype} is not supported; cast<f32>(x) first"));
    }
    let ok = match needs {
        Needs::Number => matches!(dtype, DType::I32 | DType::F32),
        Needs::Int => dtype == DType::I32,
        Needs::Float => dtype == DType::F32,
        Needs::Bool => dtype == DType::Bool,
        Needs::Equality => matches!(dtype, DType::I32 | DType::F32 | DType::Bool),
    };
    if ok {
        return Ok(());
    }
    let expected = match needs {
        Needs::Number => "i32 or f32",
        Needs::Int => "i32",
        Needs::Float => "f32",
        Needs::Bool => "bool",
        Needs::Equality => "i32, f32 or bool",
    };
    let hint = match (needs, dtype) {
        (Needs::Float, DType::I32) => "; use cast<f32>(...)",
        (Needs::Int, DType::F32) => "; use cast<i32>(...)",
        _ => "",
    };
    Err(format!("{what} needs {expected} operands; got {dtype}{hint}"))
}

/// The broadcast shape of two operands: a scalar takes the other's shape; tiles
/// need equal ranks and, per dimension, equal sizes or a size of 1.
pub fn broadcast(a: &Type, b: &Type) -> Result<Vec<u32>, String> {
    if a.is_scalar() {
        return Ok(b.shape.clone());
    }
    if b.is_scalar() {
        return Ok(a.shape.clone());
    }
    if a.rank() != b.rank() {
        return Err(format!(
            "cannot broadcast {a} with {b}: ranks differ ({} vs {}); add size-1 dimensions with t[:, None] or t[None, :]",
            a.rank(),
            b.rank()
        ));
    }
    let shape = a
        .shape
        .iter()
        .zip(&b.shape)
        .enumerate()
        .map(|(axis, (&x, &y))| match (x, y) {
            _ if x == y => Ok(x),
            (1, _) => Ok(y),
            (_, 1) => Ok(x),
            _ => {
                Err(format!("cannot broadcast {a} with {b}: dimension {axis} is {x} vs {y}; sizes must match or be 1"))
            }
        })
        .collect::<Result<Vec<u32>, String>>()?;
    tile_size(&shape)?;
    Ok(shape)
}

/// Largest tile, along one axis and in total: 2^20 elements. Far beyond what fits
/// a program's registers, but it keeps every consumer's arithmetic on shapes small
/// (the interpreter allocates whole tiles).
pub const MAX_TILE_DIM: i64 = 1 << 20;

/// Checks the element count of a tile built from valid dimensions.
pub fn tile_size(shape: &[u32]) -> Result<(), String> {
    let elements: u128 = shape.iter().map(|&d| d as u128).product();
    if elements > MAX_TILE_DIM as u128 {
        let dims: Vec<String> = shape.iter().map(u32::to_string).collect();
        return Err(format!(
            "a tile of shape [{}] has {elements} elements; at most {MAX_TILE_DIM} (2^20) are supported",
            dims.join(", ")
        ));
    }
    Ok(())
}

/// Checks a tile dimension taken from a constant.
pub fn tile_dim(v: i64) -> Result<u32, String> {
    if v < 1 {
        return Err(format!("tile shape must be a power of two >= 1; got {v}"));
    }
    if v > MAX_TILE_DIM {
        return Err(format!("tile shape must be at most {MAX_TILE_DIM} (2^20); got {v}"));
    }
    if !(v as u64).is_power_of_two() {
        return Err(format!("tile shape must be a power of two; got {v}"));
    }
    Ok(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(shape: &[u32]) -> Type {
        Type::tile(DType::F32, shape.to_vec())
    }

    #[test]
    fn weak_int_adapts_to_f32() {
        assert_eq!(ElemTy::unify(ElemTy::weak(DType::I32), ElemTy::typed(DType::F32)), Some(ElemTy::typed(DType::F32)));
    }

    #[test]
    fn weak_float_does_not_adapt_to_i32() {
        assert_eq!(ElemTy::unify(ElemTy::typed(DType::I32), ElemTy::weak(DType::F32)), None);
    }

    #[test]
    fn typed_i32_and_f32_do_not_unify() {
        assert_eq!(ElemTy::unify(ElemTy::typed(DType::I32), ElemTy::typed(DType::F32)), None);
    }

    #[test]
    fn two_weak_literals_unify_to_float_if_either_is() {
        assert_eq!(ElemTy::unify(ElemTy::weak(DType::I32), ElemTy::weak(DType::F32)), Some(ElemTy::weak(DType::F32)));
    }

    #[test]
    fn mismatch_suggests_the_float_cast() {
        assert_eq!(
            mismatch("`+`", DType::I32, DType::F32),
            "cannot apply `+` to i32 and f32; there is no implicit conversion, use cast<f32>(...)"
        );
    }

    #[test]
    fn bf16_arithmetic_says_to_cast() {
        assert_eq!(
            require(Needs::Number, "`*`", DType::BF16),
            Err("arithmetic on bf16 is not supported; cast<f32>(x) first".into())
        );
    }

    #[test]
    fn rem_needs_int() {
        assert_eq!(
            require(Needs::Int, "`%`", DType::F32),
            Err("`%` needs i32 operands; got f32; use cast<i32>(...)".into())
        );
    }

    #[test]
    fn broadcast_scalar_takes_tile_shape() {
        assert_eq!(broadcast(&Type::scalar(DType::F32), &tile(&[4, 8])), Ok(vec![4, 8]));
    }

    #[test]
    fn broadcast_size_one_dims() {
        assert_eq!(broadcast(&tile(&[4, 1]), &tile(&[1, 8])), Ok(vec![4, 8]));
    }

    #[test]
    fn broadcast_rank_mismatch_is_an_error() {
        assert_eq!(
            broadcast(&tile(&[4]), &tile(&[4, 8])),
            Err("cannot broadcast f32[4] with f32[4, 8]: ranks differ (1 vs 2); add size-1 dimensions with t[:, None] or t[None, :]".into())
        );
    }

    #[test]
    fn broadcast_size_mismatch_is_an_error() {
        assert_eq!(
            broadcast(&tile(&[4, 8]), &tile(&[4, 16])),
            Err("cannot broadcast f32[4, 8] with f32[4, 16]: dimension 1 is 8 vs 16; sizes must match or be 1".into())
        );
    }

    #[test]
    fn tile_dim_rejects_non_power_of_two() {
        assert_eq!(tile_dim(96), Err("tile shape must be a power of two; got 96".into()));
    }

    #[test]
    fn tile_dim_rejects_zero() {
        assert_eq!(tile_dim(0), Err("tile shape must be a power of two >= 1; got 0".into()));
    }

    #[test]
    fn tile_dim_rejects_huge() {
        assert_eq!(tile_dim(1 << 21), Err("tile shape must be at most 1048576 (2^20); got 2097152".into()));
    }

    #[test]
    fn broadcast_too_large_is_an_error() {
        assert_eq!(
            broadcast(&tile(&[1024, 1]), &tile(&[1, 2048])),
            Err("a tile of shape [1024, 2048] has 2097152 elements; at most 1048576 (2^20) are supported".into())
        );
    }

    #[test]
    fn tile_size_accepts_the_limit() {
        assert_eq!(tile_size(&[1024, 1024]), Ok(()));
    }

    #[test]
    fn tile_dim_accepts_one() {
        assert_eq!(tile_dim(1), Ok(1));
    }
}
