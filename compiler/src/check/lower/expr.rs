//! Expressions: literals, names, operators, `cast` and `if` expressions.

use super::{LResult, Lowerer, Mode, Reported, Val};
use crate::check::consts::{self, Constant};
use crate::check::types::{self, ElemTy, Needs};
use crate::diag::{DiagKind, Span};
use crate::ir::builder::KernelBuilder;
use crate::ir::{self, DType, Type};
use crate::syntax::ast::{self, BinaryOp, ExprKind, UnaryOp};
use std::cell::RefCell;

impl Lowerer<'_> {
    pub fn expr(&mut self, b: &mut KernelBuilder, e: &ast::Expr) -> LResult<Val> {
        match &e.kind {
            ExprKind::Int(v) => Ok(Val::Const(Constant::weak_int(*v))),
            ExprKind::Float(v) => Ok(Val::Const(Constant::weak_float(*v))),
            ExprKind::Bool(v) => Ok(Val::Const(Constant::bool(*v))),
            ExprKind::Name(name) => self.name(b, name, e.span),
            ExprKind::Unary { op, operand } => {
                let v = self.expr(b, operand)?;
                self.unary(b, *op, v, e.span)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                // Lower both sides before giving up so both sides' errors are reported.
                let l = self.expr(b, lhs);
                let r = self.expr(b, rhs);
                self.binary(b, *op, l?, r?, e.span)
            }
            ExprKind::Call { func, args } => self.call(b, func, args, e.span),
            ExprKind::Cast { dtype, value } => {
                // Both before giving up, so both errors are reported.
                let dtype = self.dtype(dtype);
                let v = self.expr(b, value)?;
                self.cast(b, v, dtype?, e.span)
            }
            ExprKind::If { cond, then_value, else_value } => self.if_expr(b, cond, then_value, else_value, e.span),
            ExprKind::Index { base, indices } => self.index(b, base, indices, e.span),
            ExprKind::List(_) => Err(self.error(
                DiagKind::Type,
                e.span,
                "a list `[...]` is only allowed as the shape argument of `full` and `zeros`",
            )),
            ExprKind::Tuple(_) => Err(self.error(
                DiagKind::Type,
                e.span,
                "a tuple `(a, b)` is only allowed as a fn's result or as the value of `let (x, y) = ...`",
            )),
        }
    }

    fn unary(&mut self, b: &mut KernelBuilder, op: UnaryOp, v: Val, span: Span) -> LResult<Val> {
        let (needs, ir_op) = match op {
            UnaryOp::Neg => (Needs::Number, ir::UnaryOp::Neg),
            UnaryOp::Not => (Needs::Bool, ir::UnaryOp::Not),
        };
        let elem = self.elem_ty(b, &v);
        types::require(needs, &format!("`{}`", op.symbol()), elem.dtype)
            .map_err(|m| self.error(DiagKind::Type, span, m))?;
        match v {
            Val::Const(c) => match op {
                UnaryOp::Neg => consts::fold_neg(&c).map(Val::Const).map_err(|m| self.error(DiagKind::Const, span, m)),
                UnaryOp::Not => Ok(Val::Const(consts::fold_not(&c))),
            },
            Val::Value(id) => Ok(Val::Value(b.unary(ir_op, id))),
        }
    }

    /// The dtype both operands take, or a type error naming `what`.
    pub(super) fn unify(&mut self, b: &KernelBuilder, what: &str, l: &Val, r: &Val, span: Span) -> LResult<ElemTy> {
        let (lt, rt) = (self.elem_ty(b, l), self.elem_ty(b, r));
        ElemTy::unify(lt, rt).ok_or_else(|| self.error(DiagKind::Type, span, types::mismatch(what, lt.dtype, rt.dtype)))
    }

    /// Broadcasts both operands to a common shape of dtype `dtype`.
    pub(super) fn broadcast_pair(
        &mut self,
        b: &mut KernelBuilder,
        l: Val,
        r: Val,
        dtype: DType,
        span: Span,
    ) -> LResult<(ir::ValueId, ir::ValueId)> {
        let (lt, rt) = (self.type_of(b, &l), self.type_of(b, &r));
        let shape = types::broadcast(&lt, &rt).map_err(|m| self.error(DiagKind::Shape, span, m))?;
        Ok((self.coerce(b, l, dtype, &shape, span)?, self.coerce(b, r, dtype, &shape, span)?))
    }

    pub(super) fn binary(&mut self, b: &mut KernelBuilder, op: BinaryOp, l: Val, r: Val, span: Span) -> LResult<Val> {
        let what = format!("`{}`", op.symbol());
        let ty = self.unify(b, &what, &l, &r, span)?;
        let needs = match op {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => Needs::Number,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => Needs::Number,
            BinaryOp::Rem => Needs::Int,
            BinaryOp::Eq | BinaryOp::Ne => Needs::Equality,
            BinaryOp::And | BinaryOp::Or => Needs::Bool,
        };
        types::require(needs, &what, ty.dtype).map_err(|m| self.error(DiagKind::Type, span, m))?;
        if let (Val::Const(lc), Val::Const(rc)) = (&l, &r) {
            return consts::fold_binary(op, lc, rc, ty)
                .map(Val::Const)
                .map_err(|m| self.error(DiagKind::Const, span, m));
        }
        let (lv, rv) = self.broadcast_pair(b, l, r, ty.dtype, span)?;
        Ok(Val::Value(match ir_op(op) {
            IrOp::Arith(a) => b.binary(a, lv, rv),
            IrOp::Cmp(c) => b.cmp(c, lv, rv),
        }))
    }

    fn cast(&mut self, b: &mut KernelBuilder, v: Val, dtype: DType, span: Span) -> LResult<Val> {
        match v {
            Val::Const(c) => {
                if let Some(folded) = consts::fold_cast(&c, dtype).map_err(|m| self.error(DiagKind::Const, span, m))? {
                    return Ok(Val::Const(folded));
                }
            }
            Val::Value(id) if b.value_type(id).dtype == dtype => return Ok(v),
            Val::Value(_) => {}
        }
        self.runtime_only(&format!("cast<{dtype}>"), span)?;
        let id = self.materialize(b, v, span)?;
        Ok(Val::Value(b.cast(id, dtype)))
    }

    /// Requires a bool scalar condition; a constant one is returned folded.
    pub(super) fn condition(&mut self, b: &mut KernelBuilder, cond: &ast::Expr) -> LResult<Result<bool, ir::ValueId>> {
        let v = self.expr(b, cond)?;
        let ty = self.type_of(b, &v);
        if ty != Type::scalar(DType::Bool) {
            let hint = if ty.dtype == DType::Bool { "; use where(c, a, b) to select elementwise" } else { "" };
            return Err(self.error(
                DiagKind::Type,
                cond.span,
                format!("`if` condition must be a bool scalar; got {ty}{hint}"),
            ));
        }
        Ok(match v {
            Val::Const(c) => Ok(c.as_bool().unwrap_or(false)),
            Val::Value(id) => Err(id),
        })
    }

    /// `if c { a } else { b }`: a constant `c` picks a branch at specialization
    /// time, so the other branch is never checked.
    fn if_expr(
        &mut self,
        b: &mut KernelBuilder,
        cond: &ast::Expr,
        then_value: &ast::Expr,
        else_value: &ast::Expr,
        span: Span,
    ) -> LResult<Val> {
        let cond = match self.condition(b, cond)? {
            Ok(true) => return self.expr(b, then_value),
            Ok(false) => return self.expr(b, else_value),
            Err(id) => id,
        };
        if self.mode == Mode::Grid {
            return Err(self.error(
                DiagKind::Unsupported,
                span,
                "an `if` on a run-time condition cannot be used in a grid size; use where(c, a, b)",
            ));
        }
        // Both builder callbacks need the lowerer; they run one after the other.
        let this = RefCell::new(&mut *self);
        let then_ty: RefCell<Option<Type>> = RefCell::new(None);
        let failed = RefCell::new(false);
        let results = b.if_typed_by_then(
            cond,
            |b| {
                let mut this = this.borrow_mut();
                let v = this.expr(b, then_value).and_then(|v| this.materialize(b, v, then_value.span));
                match v {
                    Ok(id) => {
                        *then_ty.borrow_mut() = Some(b.value_type(id).clone());
                        vec![id]
                    }
                    Err(Reported) => {
                        *failed.borrow_mut() = true;
                        Vec::new()
                    }
                }
            },
            |b| {
                let mut this = this.borrow_mut();
                let v = this.expr(b, else_value);
                let expected = then_ty.borrow().clone();
                match (v, expected) {
                    (Ok(v), Some(ty)) => match this.exact(b, v, &ty, "the `else` branch", else_value.span) {
                        Ok(id) => return vec![id],
                        Err(Reported) => *failed.borrow_mut() = true,
                    },
                    _ => *failed.borrow_mut() = true,
                }
                Vec::new()
            },
        );
        match (failed.into_inner(), results.as_slice()) {
            (false, [id]) => Ok(Val::Value(*id)),
            _ => Err(Reported),
        }
    }

    /// `v` as IR of exactly type `ty`; only a weak literal's dtype adapts.
    /// `what` names the value in the error ("the `else` branch", "`acc`").
    pub(super) fn exact(
        &mut self,
        b: &mut KernelBuilder,
        v: Val,
        ty: &Type,
        what: &str,
        span: Span,
    ) -> LResult<ir::ValueId> {
        let got = self.type_of(b, &v);
        let elem = self.elem_ty(b, &v);
        let dtype_ok = ElemTy::unify(elem, ElemTy::typed(ty.dtype)) == Some(ElemTy::typed(ty.dtype));
        if !dtype_ok || got.shape != ty.shape {
            return Err(self.error(DiagKind::Type, span, format!("{what} must have type {ty}; got {got}")));
        }
        self.coerce(b, v, ty.dtype, &ty.shape, span)
    }
}

/// The IR op a source binary operator becomes.
enum IrOp {
    Arith(ir::BinaryOp),
    Cmp(ir::CmpOp),
}

fn ir_op(op: BinaryOp) -> IrOp {
    use ir::{BinaryOp as B, CmpOp as C};
    match op {
        BinaryOp::Add => IrOp::Arith(B::Add),
        BinaryOp::Sub => IrOp::Arith(B::Sub),
        BinaryOp::Mul => IrOp::Arith(B::Mul),
        BinaryOp::Div => IrOp::Arith(B::Div),
        BinaryOp::Rem => IrOp::Arith(B::Rem),
        BinaryOp::And => IrOp::Arith(B::And),
        BinaryOp::Or => IrOp::Arith(B::Or),
        BinaryOp::Lt => IrOp::Cmp(C::Lt),
        BinaryOp::Le => IrOp::Cmp(C::Le),
        BinaryOp::Gt => IrOp::Cmp(C::Gt),
        BinaryOp::Ge => IrOp::Cmp(C::Ge),
        BinaryOp::Eq => IrOp::Cmp(C::Eq),
        BinaryOp::Ne => IrOp::Cmp(C::Ne),
    }
}
