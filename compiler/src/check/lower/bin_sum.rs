//! `bin_sum(x, bins, N)`: the elements of an f32 or i32 tile summed into `N` bins chosen
//! per element (see `ir::Op::BinSum`).
//!
//! `x` and `bins` broadcast like the operands of `where`, so a bin pattern built from
//! `rows[:, None]` and `cols[None, :]` needs no explicit broadcast. Each rule is checked
//! here with the offending argument's span, so a user never meets the verifier.

use super::{LResult, Lowerer, Val};
use crate::check::types::{self, ElemTy};
use crate::diag::{DiagKind, Span};
use crate::ir::builder::KernelBuilder;
use crate::ir::DType;
use crate::syntax::ast;

impl Lowerer<'_> {
    pub(super) fn bin_sum(&mut self, b: &mut KernelBuilder, [x, bins, n]: [&ast::Expr; 3], span: Span) -> LResult<Val> {
        let xv = self.expr(b, x);
        let bv = self.expr(b, bins);
        let count = self.bin_count(b, n);
        let (xv, bv, count) = (xv?, bv?, count?);
        let (xt, bt) = (self.type_of(b, &xv), self.type_of(b, &bv));
        // A literal adapts to f32: `bin_sum(1, bins, N)` counts the elements of each bin.
        let dtype = match self.elem_ty(b, &xv) {
            ElemTy { dtype: d @ (DType::F32 | DType::I32), weak: false } => d,
            x_ty if ElemTy::unify(x_ty, ElemTy::typed(DType::F32)).is_some() => DType::F32,
            _ => {
                let message = format!("`bin_sum` sums f32 or i32 values; got x: {xt} (cast<f32>(...) first)");
                return Err(self.error(DiagKind::Type, x.span, message));
            }
        };
        if ElemTy::unify(self.elem_ty(b, &bv), ElemTy::typed(DType::I32)).is_none() {
            return Err(self.error(DiagKind::Type, bins.span, format!("`bin_sum` bins must be i32; got bins: {bt}")));
        }
        let shape = types::broadcast(&xt, &bt).map_err(|m| {
            self.error(DiagKind::Shape, span, format!("`bin_sum` x and bins must broadcast to one shape: {m}"))
        })?;
        if shape.is_empty() {
            let message = format!("`bin_sum` sums a tile; got the scalars x: {xt} and bins: {bt}");
            return Err(self.error(DiagKind::Shape, span, message));
        }
        self.runtime_only("`bin_sum`", span)?;
        let xid = self.coerce(b, xv, dtype, &shape, span)?;
        let bid = self.coerce(b, bv, DType::I32, &shape, span)?;
        Ok(Val::Value(b.bin_sum(xid, bid, count)))
    }

    /// `N`: a constant power of two, the length of the result.
    fn bin_count(&mut self, b: &mut KernelBuilder, n: &ast::Expr) -> LResult<u32> {
        let v = self.const_int(b, n, "the `bin_sum` bin count N")?;
        match types::tile_dim(v) {
            Ok(count) => Ok(count),
            Err(_) => {
                let message = format!(
                    "the `bin_sum` bin count N must be a power of two from 1 to 1048576 (2^20), the length of its \
                     result; got {v}"
                );
                Err(self.error(DiagKind::Shape, n.span, message))
            }
        }
    }
}
