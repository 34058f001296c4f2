//! Builtin functions, and the dispatch of calls to them or to the file's fns
//! (inlined by `inline.rs`).

use super::{LResult, Lowerer, Val};
use crate::check::consts::{self, Constant};
use crate::check::suggest;
use crate::check::types::{self, Needs};
use crate::diag::{DiagKind, Span};
use crate::ir::builder::KernelBuilder;
use crate::ir::{self, DType, ReduceOp, UnaryOp};
use crate::syntax::ast::{self, BinaryOp, ExprKind};

/// Every builtin with how it is called, as shown in arity errors.
const BUILTINS: &[(&str, &str)] = &[
    ("program_id", "program_id(axis)"),
    ("group_id", "group_id()"),
    ("arange", "arange(start, LEN)"),
    ("full", "full([shape], value)"),
    ("zeros", "zeros([shape])"),
    ("cdiv", "cdiv(a, b)"),
    ("min", "min(a, b)` or `min(t, axis: k)"),
    ("max", "max(a, b)` or `max(t, axis: k)"),
    ("sum", "sum(t, axis: k)"),
    ("cumsum", "cumsum(t, axis: k)"),
    ("cummax", "cummax(t, axis: k)"),
    ("cummin", "cummin(t, axis: k)"),
    ("where", "where(cond, a, b)"),
    ("exp2", "exp2(x)"),
    ("exp", "exp(x)"),
    ("log2", "log2(x)"),
    ("sqrt", "sqrt(x)"),
    ("rsqrt", "rsqrt(x)"),
    ("abs", "abs(x)"),
    ("dot", "dot(a, b)"),
    ("trans", "trans(x)"),
    ("bin_sum", "bin_sum(x, bins, N)"),
];

/// What a builtin taking `axis:` does along it.
#[derive(Clone, Copy)]
enum Along {
    /// Combines the axis away (`sum`).
    Reduce,
    /// Keeps the axis, each element combining those up to it (`cumsum`).
    Scan,
}

/// Whether `name` is a builtin function, which no fn may redefine.
pub fn is_builtin(name: &str) -> bool {
    BUILTINS.iter().any(|(n, _)| *n == name)
}

impl Lowerer<'_> {
    pub(super) fn call(
        &mut self,
        b: &mut KernelBuilder,
        func: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
    ) -> LResult<Val> {
        let name = func.name.as_str();
        if let Some(f) = self.fns.get(name) {
            return self.inline_one(b, f, func, args, span);
        }
        let Some(&(_, usage)) = BUILTINS.iter().find(|(n, _)| *n == name) else {
            let candidates = BUILTINS.iter().map(|(n, _)| *n).chain(self.fns.names());
            let message = suggest::did_you_mean(format!("unknown function `{name}`"), name, candidates);
            return Err(self.error(DiagKind::UnknownName, func.span, message));
        };
        let (positional, axis) = self.split_args(func, args)?;
        let along_axis = match (name, axis) {
            ("sum", _) => Some((ReduceOp::Sum, Along::Reduce)),
            ("min", Some(_)) => Some((ReduceOp::Min, Along::Reduce)),
            ("max", Some(_)) => Some((ReduceOp::Max, Along::Reduce)),
            ("cumsum", _) => Some((ReduceOp::Sum, Along::Scan)),
            ("cummin", _) => Some((ReduceOp::Min, Along::Scan)),
            ("cummax", _) => Some((ReduceOp::Max, Along::Scan)),
            _ => None,
        };
        if let Some((op, along)) = along_axis {
            return match (positional.as_slice(), axis) {
                ([t], Some(axis)) => self.along_axis(b, op, along, name, t, axis, span),
                _ => Err(self.arity(func, usage, args.len())),
            };
        }
        if axis.is_some() {
            let message = format!("`{name}` takes no `axis:` argument; it is called as `{usage}`");
            return Err(self.error(DiagKind::Type, func.span, message));
        }
        let arity = |n: usize| positional.len() == n;
        match name {
            "program_id" if arity(1) => self.program_id(b, positional[0], span),
            "group_id" if arity(0) => self.group_id(b, span),
            "arange" if arity(2) => self.arange(b, positional[0], positional[1], span),
            "full" if arity(2) => self.full(b, positional[0], Some(positional[1]), span),
            "zeros" if arity(1) => self.full(b, positional[0], None, span),
            "cdiv" if arity(2) => self.cdiv(b, positional[0], positional[1], span),
            "min" | "max" if arity(2) => self.min_max(b, name == "max", positional[0], positional[1], span),
            "where" if arity(3) => self.select(b, positional[0], positional[1], positional[2], span),
            "exp2" | "exp" | "log2" | "sqrt" | "rsqrt" | "abs" if arity(1) => self.math(b, name, positional[0], span),
            "dot" if arity(2) => self.dot(b, positional[0], positional[1], span),
            "trans" if arity(1) => self.trans(b, positional[0], span),
            "bin_sum" if arity(3) => self.bin_sum(b, [positional[0], positional[1], positional[2]], span),
            _ => Err(self.arity(func, usage, args.len())),
        }
    }

    /// Positional arguments, then the `axis:` keyword argument if given; no other
    /// keyword exists and keywords come last.
    fn split_args<'e>(
        &mut self,
        func: &ast::Ident,
        args: &'e [ast::Arg],
    ) -> LResult<(Vec<&'e ast::Expr>, Option<&'e ast::Expr>)> {
        let mut positional = Vec::new();
        let mut axis = None;
        for arg in args {
            match &arg.name {
                None if axis.is_some() => {
                    return Err(self.error(
                        DiagKind::Syntax,
                        arg.value.span,
                        "positional arguments must come before `axis:`",
                    ))
                }
                None => positional.push(&arg.value),
                Some(n) if n.name == "axis" && axis.is_none() => axis = Some(&arg.value),
                Some(n) => {
                    return Err(self.error(
                        DiagKind::Type,
                        n.span,
                        format!(
                            "`{}` has no argument `{}`; only reductions take one keyword, `axis:`",
                            func.name, n.name
                        ),
                    ))
                }
            }
        }
        Ok((positional, axis))
    }

    fn arity(&mut self, func: &ast::Ident, usage: &str, got: usize) -> super::Reported {
        let s = if got == 1 { "" } else { "s" };
        self.error(DiagKind::Type, func.span, format!("`{}` is called as `{usage}`; got {got} argument{s}", func.name))
    }

    fn program_id(&mut self, b: &mut KernelBuilder, axis: &ast::Expr, span: Span) -> LResult<Val> {
        let a = self.const_int(b, axis, "the `program_id` axis")?;
        if !(0..3).contains(&a) {
            return Err(self.error(
                DiagKind::Const,
                axis.span,
                format!("`program_id` axis must be 0, 1 or 2; got {a}"),
            ));
        }
        self.runtime_only("`program_id`", span)?;
        Ok(Val::Value(b.program_id(a as u8)))
    }

    /// `group_id()`: which of the program's warp groups runs the body (`groups(G)`).
    fn group_id(&mut self, b: &mut KernelBuilder, span: Span) -> LResult<Val> {
        self.runtime_only("`group_id`", span)?;
        Ok(Val::Value(b.group_id()))
    }

    fn arange(&mut self, b: &mut KernelBuilder, start: &ast::Expr, len: &ast::Expr, span: Span) -> LResult<Val> {
        let len = self.tile_dim(b, len)?;
        self.runtime_only("`arange`", span)?;
        let s = self.expr(b, start)?;
        let s = self.i32_scalar(b, s, "the `arange` start", start.span)?;
        Ok(Val::Value(b.arange(s, len)))
    }

    /// `full(shape, value)`, or `zeros(shape)` when `value` is `None`.
    fn full(
        &mut self,
        b: &mut KernelBuilder,
        shape: &ast::Expr,
        value: Option<&ast::Expr>,
        span: Span,
    ) -> LResult<Val> {
        let ExprKind::List(dims) = &shape.kind else {
            return Err(self.error(
                DiagKind::Type,
                shape.span,
                "a tile shape is written as a list: `[64]`, `[BM, BN]`",
            ));
        };
        if dims.is_empty() {
            return Err(self.error(DiagKind::Shape, shape.span, "a tile shape needs at least one dimension"));
        }
        let mut shape = Vec::new();
        for d in dims {
            shape.push(self.tile_dim(b, d)?);
        }
        types::tile_size(&shape).map_err(|m| self.error(DiagKind::Shape, span, m))?;
        let v = match value {
            Some(e) => self.expr(b, e)?,
            None => Val::Const(Constant::weak_float(0.0)),
        };
        let ty = self.type_of(b, &v);
        if !ty.is_scalar() {
            let e = value.map_or(span, |e| e.span);
            return Err(self.error(DiagKind::Shape, e, format!("`full` fills a tile with a scalar; got {ty}")));
        }
        self.runtime_only("a tile", span)?;
        let id = self.materialize(b, v, span)?;
        Ok(Val::Value(b.splat(id, shape)))
    }

    /// `cdiv(a, b) = (a + b - 1) / b` on i32.
    fn cdiv(&mut self, b: &mut KernelBuilder, x: &ast::Expr, y: &ast::Expr, span: Span) -> LResult<Val> {
        let xv = self.expr(b, x);
        let yv = self.expr(b, y);
        let (xv, yv) = (xv?, yv?);
        let ty = self.unify(b, "`cdiv`", &xv, &yv, span)?;
        types::require(Needs::Int, "`cdiv`", ty.dtype).map_err(|m| self.error(DiagKind::Type, span, m))?;
        let sum = self.binary(b, BinaryOp::Add, xv, yv, span)?;
        let minus_one = self.binary(b, BinaryOp::Sub, sum, Val::Const(Constant::weak_int(1)), span)?;
        self.binary(b, BinaryOp::Div, minus_one, yv, span)
    }

    fn min_max(
        &mut self,
        b: &mut KernelBuilder,
        is_max: bool,
        x: &ast::Expr,
        y: &ast::Expr,
        span: Span,
    ) -> LResult<Val> {
        let what = if is_max { "`max`" } else { "`min`" };
        let xv = self.expr(b, x);
        let yv = self.expr(b, y);
        let (xv, yv) = (xv?, yv?);
        let ty = self.unify(b, what, &xv, &yv, span)?;
        types::require(Needs::Number, what, ty.dtype).map_err(|m| self.error(DiagKind::Type, span, m))?;
        if let (Val::Const(l), Val::Const(r)) = (&xv, &yv) {
            return Ok(Val::Const(consts::fold_min_max(is_max, l, r, ty)));
        }
        let (l, r) = self.broadcast_pair(b, xv, yv, ty.dtype, span)?;
        let op = if is_max { ir::BinaryOp::Max } else { ir::BinaryOp::Min };
        Ok(Val::Value(b.binary(op, l, r)))
    }

    /// A reduction (`sum`, `max`, `min` with `axis:`) or an inclusive scan (`cumsum`,
    /// `cummax`, `cummin`) of tile `t` along `axis`.
    #[allow(clippy::too_many_arguments)]
    fn along_axis(
        &mut self,
        b: &mut KernelBuilder,
        op: ReduceOp,
        along: Along,
        name: &str,
        t: &ast::Expr,
        axis: &ast::Expr,
        span: Span,
    ) -> LResult<Val> {
        let v = self.expr(b, t)?;
        let what = match along {
            Along::Reduce => ("a reduction axis", "reduces"),
            Along::Scan => ("a scan axis", "scans"),
        };
        let a = self.const_int(b, axis, what.0)?;
        let ty = self.type_of(b, &v);
        types::require(Needs::Number, &format!("`{name}`"), ty.dtype)
            .map_err(|m| self.error(DiagKind::Type, span, m))?;
        if ty.is_scalar() {
            return Err(self.error(
                DiagKind::Shape,
                t.span,
                format!("`{name}` {} a tile; got the scalar type {ty}", what.1),
            ));
        }
        if a < 0 || a as usize >= ty.rank() {
            return Err(self.error(
                DiagKind::Shape,
                axis.span,
                format!("axis {a} is out of range for {ty}; axes are 0..{}", ty.rank()),
            ));
        }
        self.runtime_only(&format!("`{name}`"), span)?;
        let id = self.materialize(b, v, span)?;
        Ok(Val::Value(match along {
            Along::Reduce => b.reduce(op, id, a as u32),
            Along::Scan => b.scan(op, id, a as u32),
        }))
    }

    fn select(
        &mut self,
        b: &mut KernelBuilder,
        c: &ast::Expr,
        x: &ast::Expr,
        y: &ast::Expr,
        span: Span,
    ) -> LResult<Val> {
        let cv = self.expr(b, c);
        let xv = self.expr(b, x);
        let yv = self.expr(b, y);
        let (cv, xv, yv) = (cv?, xv?, yv?);
        let cty = self.type_of(b, &cv);
        if cty.dtype != DType::Bool {
            return Err(self.error(DiagKind::Type, c.span, format!("the `where` condition must be bool; got {cty}")));
        }
        let ty = self.unify(b, "`where`", &xv, &yv, span)?;
        if let (Val::Const(cc), Val::Const(_), Val::Const(_)) = (&cv, &xv, &yv) {
            let picked = if cc.as_bool().unwrap_or(false) { xv } else { yv };
            return Ok(retyped(picked, ty));
        }
        let (xt, yt) = (self.type_of(b, &xv), self.type_of(b, &yv));
        let shape = types::broadcast(&xt, &yt)
            .and_then(|s| types::broadcast(&cty, &ir::Type::tile(ty.dtype, s)))
            .map_err(|m| self.error(DiagKind::Shape, span, m))?;
        let cid = self.coerce(b, cv, DType::Bool, &shape, span)?;
        let xid = self.coerce(b, xv, ty.dtype, &shape, span)?;
        let yid = self.coerce(b, yv, ty.dtype, &shape, span)?;
        Ok(Val::Value(b.select(cid, xid, yid)))
    }

    fn math(&mut self, b: &mut KernelBuilder, name: &str, x: &ast::Expr, span: Span) -> LResult<Val> {
        let op = match name {
            "exp2" => UnaryOp::Exp2,
            "exp" => UnaryOp::Exp,
            "log2" => UnaryOp::Log2,
            "sqrt" => UnaryOp::Sqrt,
            "rsqrt" => UnaryOp::Rsqrt,
            _ => UnaryOp::Abs,
        };
        let v = self.expr(b, x)?;
        let elem = self.elem_ty(b, &v);
        // A literal argument is a float: `exp2(1)` means exp2(1.0).
        let dtype = if elem.weak { DType::F32 } else { elem.dtype };
        types::require(Needs::Float, &format!("`{name}`"), dtype).map_err(|m| self.error(DiagKind::Type, span, m))?;
        let ty = self.type_of(b, &v);
        let id = self.coerce(b, v, DType::F32, &ty.shape, span)?;
        Ok(Val::Value(b.unary(op, id)))
    }
}

/// A constant picked by a folded `where`, in the unified type of both choices.
fn retyped(v: Val, ty: types::ElemTy) -> Val {
    match v {
        Val::Const(c) => Val::Const(Constant { value: c.value, ty }),
        other => other,
    }
}
