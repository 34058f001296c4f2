//! Type checking and lowering to Tile IR in one walk. Constants fold as they are
//! met, so a shape, an axis or an `if` condition is known exactly when the rule
//! that needs it is checked, and a const-false branch is never checked at all.
//!
//! Every lowering function returns [`LResult`]: on `Err` the diagnostic has
//! already been recorded, and the caller only stops what it was doing. Statements
//! keep going after an error, so one run reports independent mistakes together.

mod bin_sum;
mod call;
mod dot;
mod expr;
mod index;
mod inline;
mod stmt;

pub use call::is_builtin;

use super::consts::Constant;
use super::fns::Fns;
use super::scope::{Global, Globals, Scopes};
use super::suggest;
use super::types::ElemTy;
use crate::diag::{DiagKind, Diagnostic, Span};
use crate::ir::builder::KernelBuilder;
use crate::ir::{DType, Op, Type, ValueId};
use crate::syntax::ast;

/// A lowered expression: a folded constant (no IR yet) or an SSA value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    Const(Constant),
    Value(ValueId),
}

/// The diagnostic was recorded; the caller abandons the current construct.
#[derive(Debug)]
pub struct Reported;

pub type LResult<T> = Result<T, Reported>;

/// Where an expression is lowered, which decides what it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The kernel body: everything.
    Body,
    /// A grid size: evaluated on the host, so scalars only and no locals.
    Grid,
    /// Must fold to a constant (`warps`, const defaults); names the construct.
    Const(&'static str),
}

pub struct Lowerer<'a> {
    pub globals: &'a Globals,
    pub fns: &'a Fns<'a>,
    pub inlining: inline::Inlining,
    pub scopes: Scopes,
    pub mode: Mode,
    pub errors: Vec<Diagnostic>,
}

impl<'a> Lowerer<'a> {
    pub fn new(globals: &'a Globals, fns: &'a Fns<'a>, mode: Mode) -> Lowerer<'a> {
        Lowerer {
            globals,
            fns,
            inlining: inline::Inlining::default(),
            scopes: Scopes::default(),
            mode,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, kind: DiagKind, span: Span, message: impl Into<String>) -> Reported {
        self.errors.push(Diagnostic::new(kind, span, message));
        Reported
    }

    /// Rejects a run-time-only construct in a grid size or a constant context.
    fn runtime_only(&mut self, what: &str, span: Span) -> LResult<()> {
        match self.mode {
            Mode::Body => Ok(()),
            Mode::Grid => Err(self.error(
                DiagKind::Unsupported,
                span,
                format!("{what} cannot be used in a grid size; grid sizes are i32 scalars computed on the host"),
            )),
            Mode::Const(context) => Err(self.not_constant(context, what, span)),
        }
    }

    fn not_constant(&mut self, context: &str, what: &str, span: Span) -> Reported {
        self.error(DiagKind::Const, span, format!("{context} must be a compile-time constant; {what} is not"))
    }

    pub fn elem_ty(&self, b: &KernelBuilder, v: &Val) -> ElemTy {
        match v {
            Val::Const(c) => c.ty,
            Val::Value(id) => ElemTy::typed(b.value_type(*id).dtype),
        }
    }

    pub fn type_of(&self, b: &KernelBuilder, v: &Val) -> Type {
        match v {
            Val::Const(c) => Type::scalar(c.ty.dtype),
            Val::Value(id) => b.value_type(*id).clone(),
        }
    }

    /// Emits a constant as a scalar of `dtype` (its own dtype if `None`).
    fn constant(&mut self, b: &mut KernelBuilder, c: &Constant, dtype: Option<DType>, span: Span) -> LResult<ValueId> {
        if let Mode::Const(context) = self.mode {
            return Err(self.not_constant(context, "this operation", span));
        }
        let dtype = dtype.unwrap_or(c.ty.dtype);
        Ok(b.push(Op::Const(c.literal(dtype)), Type::scalar(dtype)))
    }

    /// The value as IR; a weak constant takes its default dtype.
    pub fn materialize(&mut self, b: &mut KernelBuilder, v: Val, span: Span) -> LResult<ValueId> {
        match v {
            Val::Value(id) => Ok(id),
            Val::Const(c) => self.constant(b, &c, None, span),
        }
    }

    /// The value as IR of dtype `dtype` and shape `shape`, splatting or
    /// broadcasting as needed. The caller has checked that the dtype unifies and
    /// that the shape is a broadcast of the value's.
    fn coerce(&mut self, b: &mut KernelBuilder, v: Val, dtype: DType, shape: &[u32], span: Span) -> LResult<ValueId> {
        let id = match v {
            Val::Const(c) => self.constant(b, &c, Some(dtype), span)?,
            Val::Value(id) => id,
        };
        let ty = b.value_type(id).clone();
        if ty.shape == shape {
            Ok(id)
        } else if ty.is_scalar() {
            Ok(b.splat(id, shape.to_vec()))
        } else {
            Ok(b.broadcast(id, shape.to_vec()))
        }
    }

    /// Requires an i32 scalar (loop bounds, indices, `arange` start, grid sizes).
    pub fn i32_scalar(&mut self, b: &mut KernelBuilder, v: Val, what: &str, span: Span) -> LResult<ValueId> {
        let ty = self.type_of(b, &v);
        let elem = self.elem_ty(b, &v);
        if !ty.is_scalar() || ElemTy::unify(elem, ElemTy::typed(DType::I32)).is_none() {
            return Err(self.error(DiagKind::Type, span, format!("{what} must be an i32 scalar; got {ty}")));
        }
        self.coerce(b, v, DType::I32, &[], span)
    }

    /// Requires a constant i32 (shapes, axes, `warps`).
    pub fn const_int(&mut self, b: &mut KernelBuilder, e: &ast::Expr, what: &str) -> LResult<i64> {
        let v = self.expr(b, e)?;
        match v {
            Val::Const(c) => match c.as_int() {
                Some(i) => Ok(i),
                None => Err(self.error(
                    DiagKind::Type,
                    e.span,
                    format!("{what} must be an i32 constant; got {} `{}`", c.ty.dtype, c.describe()),
                )),
            },
            Val::Value(_) => {
                Err(self.error(DiagKind::Const, e.span, format!("{what} must be a compile-time constant")))
            }
        }
    }

    /// A tile dimension: a constant power of two.
    fn tile_dim(&mut self, b: &mut KernelBuilder, e: &ast::Expr) -> LResult<u32> {
        let v = self.const_int(b, e, "a tile shape")?;
        super::types::tile_dim(v).map_err(|m| self.error(DiagKind::Shape, e.span, m))
    }

    /// Resolves a name used as a value.
    fn name(&mut self, b: &mut KernelBuilder, name: &str, span: Span) -> LResult<Val> {
        use super::scope::Binding;
        match self.scopes.lookup(name) {
            Some(Binding::Local { val, .. }) => return Ok(val),
            Some(Binding::Poisoned) => return Err(Reported),
            None => {}
        }
        let global = self.globals.get(name);
        if let (Mode::Const(context), Some(Global::Scalar(_) | Global::Dim { .. })) = (self.mode, global) {
            let what = if matches!(global, Some(Global::Scalar(_))) { "parameter" } else { "runtime size" };
            return Err(self.not_constant(context, &format!("{what} `{name}`"), span));
        }
        match global {
            Some(Global::Const(c)) => Ok(Val::Const(c)),
            Some(Global::DType(d)) => Err(self.error(
                DiagKind::Type,
                span,
                format!(
                    "`{name}` is a dtype const ({d}), not a value; it can be used only where a dtype is written \
                     (`tensor<{name}>`, `cast<{name}>(x)`, a fn parameter type)"
                ),
            )),
            Some(Global::Scalar(p)) => Ok(Val::Value(b.arg(p))),
            Some(Global::Dim { tensor, axis }) => Ok(Val::Value(b.dim(tensor, axis))),
            Some(Global::Tensor(_)) => Err(self.error(
                DiagKind::Type,
                span,
                format!("tensor `{name}` cannot be used as a value; index it to load a tile: `{name}[...]`"),
            )),
            None => Err(self.unknown_name(name, span)),
        }
    }

    /// The dtype a written dtype stands for: a builtin, or a `dtype` const's value.
    fn dtype(&mut self, d: &ast::DTypeName) -> LResult<DType> {
        self.globals.dtype(d).map_err(|e| {
            self.errors.push(e);
            Reported
        })
    }

    fn unknown_name(&mut self, name: &str, span: Span) -> Reported {
        let message = suggest::did_you_mean(
            format!("unknown name `{name}`"),
            name,
            self.scopes.names().chain(self.globals.names()),
        );
        self.error(DiagKind::UnknownName, span, message)
    }
}
