//! Statements. Mutable variables exist only here: an assignment rebinds the name
//! to a new SSA value, and a `for` or `if` that assigns outer variables carries
//! them through the op's block arguments, yields and results (scf style).

use super::{LResult, Lowerer, Reported, Val};
use crate::check::assigned::outer_assignments;
use crate::check::consts::Constant;
use crate::check::scope::{Binding, Global};
use crate::check::types::ElemTy;
use crate::diag::{DiagKind, Diagnostic, Span};
use crate::ir::builder::KernelBuilder;
use crate::ir::{Type, ValueId};
use crate::syntax::ast::{self, StmtKind};
use std::cell::RefCell;

/// An outer `let mut` variable threaded through a `for` or `if`, with its value
/// before the op.
struct Carried {
    name: String,
    before: ValueId,
}

impl Lowerer<'_> {
    /// Lowers `block` in a scope of its own. Errors are recorded, not returned:
    /// the next statement is still checked.
    pub fn block(&mut self, b: &mut KernelBuilder, block: &ast::Block) {
        self.scopes.push();
        for s in &block.stmts {
            // Recorded already; the statement is simply skipped.
            let _ = self.stmt(b, s);
        }
        self.scopes.pop();
    }

    pub(super) fn stmt(&mut self, b: &mut KernelBuilder, s: &ast::Stmt) -> LResult<()> {
        match &s.kind {
            StmtKind::Let { name, mutable, value } => {
                let v = self.expr(b, value);
                // A mutable variable is always an IR value, so loops can carry it.
                let v = match v {
                    Ok(v) if *mutable => self.materialize(b, v, value.span).map(Val::Value),
                    other => other,
                };
                let binding = match v {
                    Ok(val) => Binding::Local { val, mutable: *mutable },
                    Err(Reported) => Binding::Poisoned,
                };
                self.scopes.declare(&name.name, binding);
                v.map(|_| ())
            }
            StmtKind::LetTuple { names, value } => self.let_tuple(b, names, value),
            StmtKind::Assign { target, value } => self.assign(b, target, value),
            StmtKind::Store { tensor, indices, value } => self.store(b, tensor, indices, value, s.span),
            StmtKind::For { var, lower, upper, step, body } => self.for_loop(b, var, lower, upper, step.as_ref(), body),
            StmtKind::If { cond, then_block, else_block } => self.if_stmt(b, cond, then_block, else_block.as_ref()),
        }
    }

    /// `let (a, mut b) = value;`: every name is bound, poisoned if the value failed.
    fn let_tuple(&mut self, b: &mut KernelBuilder, names: &[ast::LetName], value: &ast::Expr) -> LResult<()> {
        let vals = self.values(b, value).and_then(|vals| {
            if vals.len() == names.len() {
                return Ok(vals);
            }
            let s = if vals.len() == 1 { "" } else { "s" };
            let message = match &value.kind {
                ast::ExprKind::Call { func, .. } => {
                    format!("`let` binds {} names, but `{}` returns {} value{s}", names.len(), func.name, vals.len())
                }
                ast::ExprKind::Tuple(_) => {
                    format!("`let` binds {} names, but the tuple has {} value{s}", names.len(), vals.len())
                }
                _ => {
                    let types: Vec<String> = vals.iter().map(|v| self.type_of(b, v).to_string()).collect();
                    format!(
                        "`let` binds {} names, but the value is not a tuple; it is one {}",
                        names.len(),
                        types.join(", ")
                    )
                }
            };
            Err(self.error(DiagKind::Type, value.span, message))
        });
        let mut result = Ok(());
        for (i, n) in names.iter().enumerate() {
            // The counts match once `vals` is `Ok`.
            let v = vals.as_ref().ok().and_then(|vals| vals.get(i).copied()).ok_or(Reported);
            let v = match v {
                Ok(v) if n.mutable => self.materialize(b, v, value.span).map(Val::Value),
                other => other,
            };
            let binding = match v {
                Ok(val) => Binding::Local { val, mutable: n.mutable },
                Err(Reported) => {
                    result = Err(Reported);
                    Binding::Poisoned
                }
            };
            self.scopes.declare(&n.name.name, binding);
        }
        result
    }

    fn assign(&mut self, b: &mut KernelBuilder, target: &ast::Ident, value: &ast::Expr) -> LResult<()> {
        let name = &target.name;
        let declared = match self.scopes.lookup(name) {
            Some(Binding::Local { val: Val::Value(id), mutable: true, .. }) => b.value_type(id).clone(),
            Some(Binding::Local { .. }) => {
                let d = Diagnostic::new(
                    DiagKind::Mutability,
                    target.span,
                    format!("cannot assign to `{name}`: it is not declared `mut`"),
                )
                .with_note(format!("declare it with `let mut {name} = ...` to assign to it"));
                self.errors.push(d);
                return Err(Reported);
            }
            Some(Binding::Poisoned) => return Err(Reported),
            None => {
                let kind = match self.globals.get(name) {
                    Some(Global::Const(_) | Global::DType(_)) => "a const parameter",
                    Some(Global::Scalar(_) | Global::Tensor(_)) => "a parameter",
                    Some(Global::Dim { .. }) => "a tensor size",
                    None => return Err(self.unknown_name(name, target.span)),
                };
                return Err(self.error(
                    DiagKind::Mutability,
                    target.span,
                    format!("cannot assign to `{name}`: it is {kind}; copy it with `let mut` first"),
                ));
            }
        };
        let v = self.expr(b, value)?;
        let id = self.exact(b, v, &declared, &format!("a value assigned to `{name}`"), value.span)?;
        self.scopes.set(name, Val::Value(id));
        Ok(())
    }

    fn store(
        &mut self,
        b: &mut KernelBuilder,
        tensor: &ast::Ident,
        entries: &[ast::IndexEntry],
        value: &ast::Expr,
        span: Span,
    ) -> LResult<()> {
        let name = &tensor.name;
        let Some(param) = self.tensor_named(name) else {
            let what = match (self.scopes.lookup(name), self.globals.get(name)) {
                (Some(_), _) => "a local variable",
                (None, Some(Global::Scalar(_))) => "a scalar parameter",
                (None, Some(Global::Const(_) | Global::DType(_))) => "a const parameter",
                (None, Some(_)) => "a tensor size",
                (None, None) => return Err(self.unknown_name(name, tensor.span)),
            };
            return Err(self.error(
                DiagKind::Type,
                tensor.span,
                format!("only tensor parameters can be stored to; `{name}` is {what}"),
            ));
        };
        let (indices, shape) = self.tensor_indices(b, param, entries, span)?;
        let v = self.expr(b, value)?;
        let dtype = b.params()[param.0 as usize].dtype();
        let got = self.type_of(b, &v);
        if ElemTy::unify(self.elem_ty(b, &v), ElemTy::typed(dtype)) != Some(ElemTy::typed(dtype)) {
            return Err(self.error(
                DiagKind::Type,
                value.span,
                format!("cannot store {} into `{name}` (tensor<{dtype}>); convert with cast<{dtype}>(...)", got.dtype),
            ));
        }
        if !got.is_scalar() && got.shape != shape {
            return Err(self.error(
                DiagKind::Shape,
                value.span,
                format!(
                    "the stored value has type {got}, but `{name}[...]` selects a tile of shape {}",
                    Type::tile(dtype, shape)
                ),
            ));
        }
        let id = self.coerce(b, v, dtype, &shape, value.span)?;
        b.store(param, indices, id);
        Ok(())
    }

    /// Outer mutable variables that `blocks` assign, bound (`bound`) names excluded.
    fn carried(&self, blocks: &[&ast::Block], bound: &[&str]) -> Vec<Carried> {
        outer_assignments(blocks, bound)
            .into_iter()
            .filter_map(|name| match self.scopes.lookup(&name) {
                Some(Binding::Local { val: Val::Value(before), mutable: true, .. }) => Some(Carried { name, before }),
                // Not an outer `let mut`: the assignment itself reports why.
                _ => None,
            })
            .collect()
    }

    /// The current values of the carried variables, then resets them to their
    /// values before the op (for the other branch of an `if`).
    fn take_carried(&mut self, carried: &[Carried]) -> Vec<ValueId> {
        let now = carried
            .iter()
            .map(|c| match self.scopes.lookup(&c.name) {
                Some(Binding::Local { val: Val::Value(id), .. }) => id,
                _ => c.before,
            })
            .collect();
        for c in carried {
            self.scopes.set(&c.name, Val::Value(c.before));
        }
        now
    }

    fn for_loop(
        &mut self,
        b: &mut KernelBuilder,
        var: &ast::Ident,
        lower: &ast::Expr,
        upper: &ast::Expr,
        step: Option<&ast::Expr>,
        body: &ast::Block,
    ) -> LResult<()> {
        let lo = self.expr(b, lower).and_then(|v| self.i32_scalar(b, v, "a loop bound", lower.span));
        let hi = self.expr(b, upper).and_then(|v| self.i32_scalar(b, v, "a loop bound", upper.span));
        let step = match step {
            Some(e) => self.expr(b, e).and_then(|v| self.loop_step(b, v, e.span)),
            None => self.constant(b, &Constant::weak_int(1), None, upper.span),
        };
        let (lo, hi, step) = (lo?, hi?, step?);
        let carried = self.carried(&[body], &[&var.name]);
        let init = carried.iter().map(|c| c.before).collect();
        let results = b.for_loop(lo, hi, step, init, |b, iv, args| {
            for (c, &arg) in carried.iter().zip(args) {
                self.scopes.set(&c.name, Val::Value(arg));
            }
            self.scopes.push();
            self.scopes.declare(&var.name, Binding::Local { val: Val::Value(iv), mutable: false });
            self.block(b, body);
            self.scopes.pop();
            self.take_carried(&carried)
        });
        for (c, r) in carried.iter().zip(results) {
            self.scopes.set(&c.name, Val::Value(r));
        }
        Ok(())
    }

    fn loop_step(&mut self, b: &mut KernelBuilder, v: Val, span: Span) -> LResult<ValueId> {
        if let Val::Const(c) = v {
            if let Some(s) = c.as_int().filter(|&s| s <= 0) {
                return Err(self.error(DiagKind::Const, span, format!("a loop step must be positive; got {s}")));
            }
        }
        self.i32_scalar(b, v, "a loop step", span)
    }

    fn if_stmt(
        &mut self,
        b: &mut KernelBuilder,
        cond: &ast::Expr,
        then_block: &ast::Block,
        else_block: Option<&ast::Block>,
    ) -> LResult<()> {
        let cond = match self.condition(b, cond)? {
            Ok(true) => {
                self.block(b, then_block);
                return Ok(());
            }
            Ok(false) => {
                if let Some(e) = else_block {
                    self.block(b, e);
                }
                return Ok(());
            }
            Err(id) => id,
        };
        let mut blocks = vec![then_block];
        blocks.extend(else_block);
        let carried = self.carried(&blocks, &[]);
        let types = carried.iter().map(|c| b.value_type(c.before).clone()).collect();
        // Both builder callbacks need the lowerer; they run one after the other.
        let this = RefCell::new(&mut *self);
        let branch = |b: &mut KernelBuilder, block: Option<&ast::Block>| {
            let mut this = this.borrow_mut();
            if let Some(block) = block {
                this.block(b, block);
            }
            this.take_carried(&carried)
        };
        let results = b.if_(cond, types, |b| branch(b, Some(then_block)), |b| branch(b, else_block));
        for (c, r) in carried.iter().zip(results) {
            self.scopes.set(&c.name, Val::Value(r));
        }
        Ok(())
    }
}
