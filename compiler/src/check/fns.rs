//! The file's helper fns and the checks on their definitions. A fn body is only
//! type checked per call, when its argument types are known (see
//! `lower::inline`), so what can be checked here is what holds for every call.

use super::lower::is_builtin;
use crate::diag::{DiagKind, Diagnostic};
use crate::syntax::ast::{self, ExprKind};

/// The fns of one file, by name.
#[derive(Default)]
pub struct Fns<'f> {
    defs: Vec<&'f ast::Fn>,
}

impl<'f> Fns<'f> {
    /// Every fn of `file` whose name is usable, and the errors of every definition.
    pub fn collect(file: &'f ast::File) -> (Fns<'f>, Vec<Diagnostic>) {
        let mut fns = Fns::default();
        let mut errors = Vec::new();
        for f in &file.fns {
            let name = &f.name.name;
            if is_builtin(name) {
                let message = format!("fn `{name}` has the name of a builtin function; builtins cannot be redefined");
                errors.push(Diagnostic::new(DiagKind::Duplicate, f.name.span, message));
            } else if fns.get(name).is_some() {
                let message = format!("this file defines fn `{name}` more than once");
                errors.push(Diagnostic::new(DiagKind::Duplicate, f.name.span, message));
            } else {
                fns.defs.push(f);
            }
            errors.extend(duplicate_names(f));
            errors.extend(uninferable_consts(f));
        }
        (fns, errors)
    }

    pub fn get(&self, name: &str) -> Option<&'f ast::Fn> {
        self.defs.iter().find(|f| f.name.name == name).copied()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.iter().map(|f| f.name.name.as_str())
    }
}

/// A const or parameter name declared twice in one signature.
fn duplicate_names(f: &ast::Fn) -> Vec<Diagnostic> {
    let names: Vec<&ast::Ident> = f.consts.iter().map(|c| &c.name).chain(f.params.iter().map(|p| &p.name)).collect();
    names
        .iter()
        .enumerate()
        .filter(|(i, n)| names[..*i].iter().any(|m| m.name == n.name))
        .map(|(_, n)| {
            let message = format!("`{}` is declared twice in the signature of fn `{}`", n.name, f.name.name);
            Diagnostic::new(DiagKind::Duplicate, n.span, message)
        })
        .collect()
}

/// Consts are inferred from the arguments only, so each i32 const must be a
/// whole dimension of some parameter and each dtype const the dtype of one.
fn uninferable_consts(f: &ast::Fn) -> Vec<Diagnostic> {
    f.consts
        .iter()
        .filter(|c| !f.params.iter().any(|p| infers(&p.ty, c)))
        .map(|c| {
            let (name, fname) = (&c.name.name, &f.name.name);
            let message = match c.ty {
                ast::ConstType::DType => format!(
                    "dtype const `{name}` of fn `{fname}` is not the dtype of any parameter, so calls cannot infer \
                     it; use it as one, e.g. `x: {name}[N]`"
                ),
                _ => format!(
                    "const `{name}` of fn `{fname}` is not a dimension of any parameter, so calls cannot infer it; \
                     use it as a whole dimension, e.g. `x: f32[{name}]`"
                ),
            };
            Diagnostic::new(DiagKind::Const, c.name.span, message)
        })
        .collect()
}

/// Whether a parameter of type `ty` gives const `c` its value at a call.
pub fn infers(ty: &ast::ValueType, c: &ast::FnConst) -> bool {
    match c.ty {
        ast::ConstType::DType => matches!(&ty.dtype, ast::DTypeName::Const(id) if id.name == c.name.name),
        _ => ty.dims.iter().any(|d| is_name(d, &c.name.name)),
    }
}

/// Whether `dim` is exactly the name `name`: the dimensions a const is inferred from.
pub fn is_name(dim: &ast::Expr, name: &str) -> bool {
    matches!(&dim.kind, ExprKind::Name(n) if n == name)
}
