//! What a name means: kernel-level names (const and runtime parameters, dimension
//! names) and lexical scopes of local `let` bindings.

use super::consts::Constant;
use super::lower::Val;
use super::suggest;
use crate::diag::{DiagKind, Diagnostic};
use crate::ir::{ConstValue, DType, ParamId};
use crate::syntax::ast::DTypeName;

/// A kernel-level name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Global {
    /// A const parameter after specialization.
    Const(Constant),
    /// A `dtype` const after specialization: names an element type, never a value.
    DType(DType),
    Scalar(ParamId),
    Tensor(ParamId),
    /// A runtime dimension size, read from the first tensor that declares it.
    Dim {
        tensor: ParamId,
        axis: u32,
    },
}

impl Global {
    /// What the name of a const with value `v` means.
    pub fn of_const(v: &ConstValue) -> Global {
        match *v {
            ConstValue::Int(i) => Global::Const(Constant::typed_int(i)),
            ConstValue::Bool(b) => Global::Const(Constant::bool(b)),
            ConstValue::DType(d) => Global::DType(d),
        }
    }
}

#[derive(Default)]
pub struct Globals {
    entries: Vec<(String, Global)>,
}

impl Globals {
    /// Adds `name` unless it is already defined; returns whether it was added.
    pub fn define(&mut self, name: &str, global: Global) -> bool {
        if self.get(name).is_some() {
            return false;
        }
        self.entries.push((name.to_string(), global));
        true
    }

    pub fn get(&self, name: &str) -> Option<Global> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, g)| *g)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// The dtype a written dtype stands for: a builtin, or a `dtype` const's value.
    /// Locals are values, never dtypes, so only these kernel-level names are looked up.
    pub fn dtype(&self, d: &DTypeName) -> Result<DType, Diagnostic> {
        let id = match d {
            DTypeName::Builtin(d) => return Ok(*d),
            DTypeName::Const(id) => id,
        };
        let name = &id.name;
        let (kind, what) = match self.get(name) {
            Some(Global::DType(d)) => return Ok(d),
            Some(Global::Const(c)) => {
                (DiagKind::Type, format!("`{name}` is a const of type {}, not a dtype", c.ty.dtype))
            }
            Some(Global::Scalar(_) | Global::Tensor(_)) => {
                (DiagKind::Type, format!("`{name}` is a parameter, not a dtype"))
            }
            Some(Global::Dim { .. }) => (DiagKind::Type, format!("`{name}` is a tensor size, not a dtype")),
            None => (DiagKind::UnknownName, format!("unknown dtype `{name}`")),
        };
        let consts: Vec<&str> =
            self.entries.iter().filter(|(_, g)| matches!(g, Global::DType(_))).map(|(n, _)| n.as_str()).collect();
        let mut message = format!("{what}; expected one of {}", DType::names());
        if !consts.is_empty() {
            message = format!("{message} or a dtype const ({})", consts.join(", "));
        }
        if kind == DiagKind::UnknownName {
            let candidates = DType::ALL.map(DType::name);
            message = suggest::did_you_mean(message, name, candidates.into_iter().chain(consts));
        }
        Err(Diagnostic::new(kind, id.span, message))
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Binding {
    Local {
        val: Val,
        mutable: bool,
    },
    /// The `let` that declared it failed; uses stay quiet instead of piling up
    /// "unknown name" errors after the real one.
    Poisoned,
}

/// Nested scopes of local bindings; the last frame is innermost.
#[derive(Default)]
pub struct Scopes {
    frames: Vec<Vec<(String, Binding)>>,
}

impl Scopes {
    pub fn push(&mut self) {
        self.frames.push(Vec::new());
    }

    pub fn pop(&mut self) {
        self.frames.pop();
    }

    /// Declares `name` in the innermost scope, shadowing any earlier binding.
    pub fn declare(&mut self, name: &str, binding: Binding) {
        if let Some(frame) = self.frames.last_mut() {
            frame.push((name.to_string(), binding));
        }
    }

    pub fn lookup(&self, name: &str) -> Option<Binding> {
        self.frames.iter().rev().flat_map(|f| f.iter().rev()).find(|(n, _)| n == name).map(|(_, b)| *b)
    }

    /// Rebinds the innermost `name` to `val`, keeping its mutability.
    pub fn set(&mut self, name: &str, new_val: Val) {
        let found = self.frames.iter_mut().rev().flat_map(|f| f.iter_mut().rev()).find(|(n, _)| n == name);
        if let Some((_, Binding::Local { val, .. })) = found {
            *val = new_val;
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.frames.iter().flatten().map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::ValueId;

    fn local(v: u32, mutable: bool) -> Binding {
        Binding::Local { val: Val::Value(ValueId(v)), mutable }
    }

    fn value_of(s: &Scopes, name: &str) -> Option<u32> {
        match s.lookup(name) {
            Some(Binding::Local { val: Val::Value(v), .. }) => Some(v.0),
            _ => None,
        }
    }

    #[test]
    fn inner_scope_shadows_outer() {
        let mut s = Scopes::default();
        s.push();
        s.declare("x", local(1, false));
        s.push();
        s.declare("x", local(2, false));
        assert_eq!(value_of(&s, "x"), Some(2));
    }

    #[test]
    fn popping_restores_outer_binding() {
        let mut s = Scopes::default();
        s.push();
        s.declare("x", local(1, false));
        s.push();
        s.declare("x", local(2, false));
        s.pop();
        assert_eq!(value_of(&s, "x"), Some(1));
    }

    #[test]
    fn set_updates_innermost_binding() {
        let mut s = Scopes::default();
        s.push();
        s.declare("x", local(1, true));
        s.push();
        s.set("x", Val::Value(ValueId(5)));
        s.pop();
        assert_eq!(value_of(&s, "x"), Some(5));
    }

    #[test]
    fn globals_keep_first_definition() {
        let mut g = Globals::default();
        g.define("N", Global::Dim { tensor: ParamId(0), axis: 0 });
        assert!(!g.define("N", Global::Dim { tensor: ParamId(1), axis: 1 }));
    }
}
