//! Calls of the file's fns. There is no call op in the IR: each call lowers the
//! fn's body in place, like a template instantiated with the argument types.
//! The body gets a lowerer of its own whose only names are the fn's consts
//! (inferred from the argument shapes) and its parameters (bound to the
//! argument values), so it cannot see the caller's variables; errors found in
//! it point into the body and carry a note naming the call.

use super::{LResult, Lowerer, Mode, Reported, Val};
use crate::check::consts;
use crate::check::fns::{infers, is_name};
use crate::check::scope::{Binding, Global, Globals};
use crate::check::types::{self, ElemTy};
use crate::diag::{DiagKind, Span};
use crate::ir::builder::KernelBuilder;
use crate::ir::{ConstValue, Type};
use crate::syntax::ast::{self, ExprKind};
use crate::syntax::print_expr;

/// Nested fn calls deeper than this are rejected: each level lowers a body
/// recursively, and a chain of distinct fns must not overflow the stack.
const MAX_DEPTH: usize = 32;

/// Calls inlined into one kernel at most: a fn calling another twice, ten levels
/// deep, is already a thousand copies of the innermost body.
const MAX_CALLS: usize = 10_000;

/// Where inlining stands.
#[derive(Default)]
pub struct Inlining {
    /// The fns being inlined, outermost first: what a recursive call would loop through.
    stack: Vec<String>,
    /// Calls inlined so far in this kernel.
    calls: usize,
}

impl Lowerer<'_> {
    /// The values of `e`: several for a tuple or a call of a fn returning one,
    /// else one.
    pub(super) fn values(&mut self, b: &mut KernelBuilder, e: &ast::Expr) -> LResult<Vec<Val>> {
        match &e.kind {
            ExprKind::Tuple(items) => {
                // Lower every item before giving up so each one's errors are reported.
                let vals: Vec<LResult<Val>> = items.iter().map(|item| self.expr(b, item)).collect();
                vals.into_iter().collect()
            }
            ExprKind::Call { func, args } => match self.fns.get(&func.name) {
                Some(f) => self.inline(b, f, func, args, e.span),
                None => Ok(vec![self.expr(b, e)?]),
            },
            _ => Ok(vec![self.expr(b, e)?]),
        }
    }

    /// A call of `f` used as one value: `f` must return exactly one.
    pub(super) fn inline_one(
        &mut self,
        b: &mut KernelBuilder,
        f: &ast::Fn,
        func: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
    ) -> LResult<Val> {
        if let ast::FnResult::Tuple(types) = &f.result {
            let names: Vec<String> = (0..types.len()).map(|i| format!("v{i}")).collect();
            let message = format!(
                "fn `{}` returns {} values; bind them with `let ({}) = {}(...);`",
                func.name,
                types.len(),
                names.join(", "),
                func.name
            );
            return Err(self.error(DiagKind::Type, func.span, message));
        }
        let vals = self.inline(b, f, func, args, span)?;
        vals.into_iter().next().ok_or(Reported)
    }

    /// Inlines the call `func(args)` of `f` and returns its result values.
    fn inline(
        &mut self,
        b: &mut KernelBuilder,
        f: &ast::Fn,
        func: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
    ) -> LResult<Vec<Val>> {
        let name = &func.name;
        self.runtime_only(&format!("a call of fn `{name}`"), span)?;
        let stack = &self.inlining.stack;
        if let Some(start) = stack.iter().position(|n| n == name) {
            let cycle: Vec<&str> = stack[start..].iter().map(String::as_str).chain([name.as_str()]).collect();
            let message = format!("recursive fn `{name}` ({}) cannot be inlined", cycle.join(" → "));
            return Err(self.error(DiagKind::Unsupported, func.span, message));
        }
        if stack.len() >= MAX_DEPTH {
            let message = format!("fn calls nested more than {MAX_DEPTH} deep are not supported");
            return Err(self.error(DiagKind::Unsupported, func.span, message));
        }
        if self.inlining.calls >= MAX_CALLS {
            let message = format!("more than {MAX_CALLS} fn calls inlined into one kernel are not supported");
            return Err(self.error(DiagKind::Unsupported, func.span, message));
        }
        let arg_vals = self.arguments(b, f, func, args)?;
        let note = format!("in fn `{name}`, inlined at the call `{name}({})`", arg_text(args));

        let inferred = infer_consts(b, self, f, &arg_vals);
        if let Some(i) = first_uninferred(f, &inferred) {
            let got = self.type_of(b, &arg_vals[i]);
            let message = format!("argument {} of `{name}` must be {}; got {got}", i + 1, type_text(&f.params[i].ty));
            return Err(self.error(DiagKind::Type, args[i].value.span, message));
        }
        let mut globals = Globals::default();
        for (c, value) in inferred {
            globals.define(&c, Global::of_const(&value));
        }
        let mut callee = Lowerer::new(&globals, self.fns, Mode::Body);
        callee.inlining.stack = self.inlining.stack.clone();
        callee.inlining.stack.push(name.clone());
        callee.inlining.calls = self.inlining.calls + 1;
        let result = callee.instantiate(b, f, &arg_vals, args, self);
        self.inlining.calls = callee.inlining.calls;
        for d in callee.errors {
            self.errors.push(d.with_note(note.clone()));
        }
        result
    }

    /// The arguments, lowered in the caller: positional only, as many as `f` has parameters.
    fn arguments(
        &mut self,
        b: &mut KernelBuilder,
        f: &ast::Fn,
        func: &ast::Ident,
        args: &[ast::Arg],
    ) -> LResult<Vec<Val>> {
        if let Some(keyword) = args.iter().find_map(|a| a.name.as_ref()) {
            let message = format!("fn `{}` takes positional arguments only; got `{}:`", func.name, keyword.name);
            return Err(self.error(DiagKind::Type, keyword.span, message));
        }
        if args.len() != f.params.len() {
            let params: Vec<String> =
                f.params.iter().map(|p| format!("{}: {}", p.name.name, type_text(&p.ty))).collect();
            let message = format!(
                "fn `{}` takes {} ({}); got {}",
                func.name,
                plural(f.params.len(), "argument"),
                params.join(", "),
                plural(args.len(), "argument")
            );
            return Err(self.error(DiagKind::Type, func.span, message));
        }
        let vals: Vec<LResult<Val>> = args.iter().map(|a| self.expr(b, &a.value)).collect();
        vals.into_iter().collect()
    }

    /// Lowers `f`'s body with its parameters bound to `arg_vals`, on a fresh
    /// lowerer whose globals are `f`'s consts. Argument mismatches are the
    /// caller's errors, so they go to `caller`.
    fn instantiate(
        &mut self,
        b: &mut KernelBuilder,
        f: &ast::Fn,
        arg_vals: &[Val],
        args: &[ast::Arg],
        caller: &mut Lowerer,
    ) -> LResult<Vec<Val>> {
        // `declare` needs a frame; this lowerer is dropped after the call, so it is never popped.
        self.scopes.push();
        let mut bound = Ok(());
        for (i, ((param, &v), arg)) in f.params.iter().zip(arg_vals).zip(args).enumerate() {
            let binding = match self.declared_type(b, &param.ty) {
                Ok(ty) => {
                    let span = arg.value.span;
                    let checked = caller.argument(b, f, i, v, &ty, span);
                    // A `mut` parameter is always an IR value, as a `let mut` is.
                    let checked = match checked {
                        Ok(v) if param.mutable => caller.materialize(b, v, span).map(Val::Value),
                        other => other,
                    };
                    match checked {
                        Ok(val) => Binding::Local { val, mutable: param.mutable },
                        Err(Reported) => Binding::Poisoned,
                    }
                }
                Err(Reported) => Binding::Poisoned,
            };
            if matches!(binding, Binding::Poisoned) {
                bound = Err(Reported);
            }
            self.scopes.declare(&param.name.name, binding);
        }
        bound?;
        for s in &f.body.stmts {
            // Recorded already; the statement is simply skipped.
            let _ = self.stmt(b, s);
        }
        let vals = self.values(b, &f.value)?;
        let declared = f.result.types();
        if vals.len() != declared.len() {
            let message = format!(
                "fn `{}` is declared to return {}; its result expression has {}",
                f.name.name,
                plural(declared.len(), "value"),
                vals.len()
            );
            return Err(self.error(DiagKind::Type, f.value.span, message));
        }
        let tuple_items = match &f.value.kind {
            ExprKind::Tuple(items) => Some(items),
            _ => None,
        };
        let mut results = Vec::new();
        for (i, (v, ty)) in vals.into_iter().zip(declared).enumerate() {
            let span = tuple_items.and_then(|items| items.get(i)).map_or(f.value.span, |e| e.span);
            let what = match declared.len() {
                1 => format!("the result of `{}`", f.name.name),
                _ => format!("result {} of `{}`", i + 1, f.name.name),
            };
            let ty = self.declared_type(b, ty)?;
            let id = self.exact(b, v, &ty, &what, span)?;
            results.push(Val::Value(id));
        }
        Ok(results)
    }

    /// A declared parameter or result type, its dims evaluated over the fn's consts.
    fn declared_type(&mut self, b: &mut KernelBuilder, ty: &ast::ValueType) -> LResult<Type> {
        let dtype = self.dtype(&ty.dtype)?;
        let mut shape = Vec::new();
        for d in &ty.dims {
            shape.push(self.tile_dim(b, d)?);
        }
        types::tile_size(&shape).map_err(|m| self.error(DiagKind::Shape, ty.span, m))?;
        Ok(Type::tile(dtype, shape))
    }

    /// Checks argument `i` (0-based) against its parameter type `ty` and returns
    /// the value the parameter binds. A constant stays a constant, converted to
    /// the parameter's dtype, so it folds in the body as it would at the call.
    fn argument(
        &mut self,
        b: &mut KernelBuilder,
        f: &ast::Fn,
        i: usize,
        v: Val,
        ty: &Type,
        span: Span,
    ) -> LResult<Val> {
        let got = self.type_of(b, &v);
        let elem = self.elem_ty(b, &v);
        let dtype_ok = ElemTy::unify(elem, ElemTy::typed(ty.dtype)) == Some(ElemTy::typed(ty.dtype));
        if !dtype_ok || got.shape != ty.shape {
            let message = format!("argument {} of `{}` must be {ty}; got {got}", i + 1, f.name.name);
            return Err(self.error(DiagKind::Type, span, message));
        }
        if let Val::Const(c) = v {
            let folded = consts::fold_cast(&c, ty.dtype).map_err(|m| self.error(DiagKind::Const, span, m))?;
            if let Some(c) = folded {
                return Ok(Val::Const(c));
            }
        }
        self.coerce(b, v, ty.dtype, &ty.shape, span).map(Val::Value)
    }
}

/// Each const of `f` with the value it takes: an i32 const the size of the
/// first argument dimension its name stands for, a dtype const the dtype of the
/// first argument whose parameter is declared with it (a typed argument before a
/// literal, which would adapt to any float dtype). A const left out (the
/// argument's rank did not match) makes that argument's type check fail, which
/// reports it.
fn infer_consts(b: &KernelBuilder, lw: &Lowerer, f: &ast::Fn, arg_vals: &[Val]) -> Vec<(String, ConstValue)> {
    let mut found: Vec<(String, ConstValue)> = Vec::new();
    for (param, v) in f.params.iter().zip(arg_vals) {
        let shape = lw.type_of(b, v).shape;
        if shape.len() != param.ty.dims.len() {
            continue;
        }
        for (dim, &size) in param.ty.dims.iter().zip(&shape) {
            let c = f.consts.iter().find(|c| c.ty == ast::ConstType::I32 && is_name(dim, &c.name.name));
            if let Some(c) = c.filter(|c| !found.iter().any(|(n, _)| *n == c.name.name)) {
                found.push((c.name.name.clone(), ConstValue::Int(i64::from(size))));
            }
        }
    }
    for weak in [false, true] {
        for (param, v) in f.params.iter().zip(arg_vals) {
            let elem = lw.elem_ty(b, v);
            let c = f.consts.iter().find(|c| c.ty == ast::ConstType::DType && infers(&param.ty, c));
            if let Some(c) = c.filter(|c| elem.weak == weak && !found.iter().any(|(n, _)| *n == c.name.name)) {
                found.push((c.name.name.clone(), ConstValue::DType(elem.dtype)));
            }
        }
    }
    found
}

/// The first parameter that an i32 const not in `inferred` is a dimension of:
/// its argument's rank did not match.
fn first_uninferred(f: &ast::Fn, inferred: &[(String, ConstValue)]) -> Option<usize> {
    let missing: Vec<&ast::FnConst> = f
        .consts
        .iter()
        .filter(|c| c.ty == ast::ConstType::I32 && !inferred.iter().any(|(n, _)| *n == c.name.name))
        .collect();
    f.params.iter().position(|p| missing.iter().any(|c| infers(&p.ty, c)))
}

/// `n` and `what`, plural unless `n` is 1: "2 values".
fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn arg_text(args: &[ast::Arg]) -> String {
    args.iter().map(|a| print_expr(&a.value)).collect::<Vec<_>>().join(", ")
}

fn type_text(ty: &ast::ValueType) -> String {
    if ty.dims.is_empty() {
        ty.dtype.to_string()
    } else {
        format!("{}[{}]", ty.dtype, ty.dims.iter().map(print_expr).collect::<Vec<_>>().join(", "))
    }
}
