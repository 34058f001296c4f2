//! One kernel's specialization: const values, parameters, `warps`, `groups`, `stages`
//! and `occupancy`, grid and body, in that order, since each step may use the names the
//! previous defined.

use super::fns::Fns;
use super::lower::{Lowerer, Mode, Val};
use super::scope::{Global, Globals};
use super::suggest;
use crate::diag::{DiagKind, Diagnostic, Diagnostics};
use crate::ir::builder::KernelBuilder;
use crate::ir::{self, ConstValue, DType, Param, ParamId};
use crate::syntax::ast::{self, ConstType, ParamType};

/// Warps per program when the kernel does not say.
const DEFAULT_WARPS: u32 = 4;

pub fn lower_kernel(k: &ast::Kernel, fns: &Fns, overrides: &[(String, ConstValue)]) -> Result<ir::Kernel, Diagnostics> {
    // Const evaluation runs through the lowerer, which needs a builder (it emits
    // nothing in const mode), so `num_warps` is set once `warps(...)` is known.
    let mut b = KernelBuilder::new(&k.name.name, DEFAULT_WARPS);
    let mut globals = Globals::default();
    let mut errors = check_overrides(k, overrides);
    bind_consts(k, fns, overrides, &mut b, &mut globals, &mut errors);
    // Parameters and everything after depend on every const's value.
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    declare_params(k, &mut b, &mut globals, &mut errors);
    let warps = num_warps(k, fns, &mut b, &globals, &mut errors);
    let groups = num_groups(k, warps, fns, &mut b, &globals, &mut errors);
    let stages = num_stages(k, fns, &mut b, &globals, &mut errors);
    let occupancy = occupancy(k, groups * warps * 32, fns, &mut b, &globals, &mut errors);

    let mut grid = Lowerer::new(&globals, fns, Mode::Grid);
    b.grid(|b| {
        let mut sizes = [None; 3];
        for (size, e) in sizes.iter_mut().zip(&k.grid) {
            *size = grid.expr(b, e).and_then(|v| grid.i32_scalar(b, v, "a grid size", e.span)).ok();
        }
        // A failed size is already reported; 1 keeps the block well-formed.
        sizes.map(|s| s.unwrap_or_else(|| b.const_i32(1)))
    });
    errors.append(&mut grid.errors);

    let mut body = Lowerer::new(&globals, fns, Mode::Body);
    body.block(&mut b, &k.body);
    errors.append(&mut body.errors);

    if !errors.is_empty() {
        errors.sort_by_key(|d| d.span.start);
        // A fn body inlined at several calls repeats its errors; the first call's note stays.
        errors.dedup_by(|later, first| later.span == first.span && later.message == first.message);
        return Err(Diagnostics(errors));
    }
    let mut kernel = b.finish();
    kernel.num_warps = warps;
    kernel.num_groups = groups;
    kernel.num_stages = stages;
    kernel.occupancy = occupancy;
    Ok(kernel)
}

/// Overrides that name no const parameter, or name one twice.
fn check_overrides(k: &ast::Kernel, overrides: &[(String, ConstValue)]) -> Vec<Diagnostic> {
    let known: Vec<&str> = k.consts.iter().map(|c| c.name.name.as_str()).collect();
    let mut errors = Vec::new();
    for (i, (name, _)) in overrides.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            let message = if known.is_empty() {
                format!("kernel `{}` has no const parameters; got `{name}`", k.name.name)
            } else {
                let message = format!(
                    "kernel `{}` has no const parameter `{name}`; its consts are {}",
                    k.name.name,
                    known.join(", ")
                );
                suggest::did_you_mean(message, name, known.iter().copied())
            };
            errors.push(Diagnostic::new(DiagKind::UnknownConst, k.name.span, message));
        } else if overrides[..i].iter().any(|(n, _)| n == name) {
            errors.push(Diagnostic::new(DiagKind::Const, k.name.span, format!("const `{name}` is given twice")));
        }
    }
    errors
}

/// Resolves every const parameter, from its override or else its default, and
/// records it on the kernel in declaration order.
fn bind_consts(
    k: &ast::Kernel,
    fns: &Fns,
    overrides: &[(String, ConstValue)],
    b: &mut KernelBuilder,
    globals: &mut Globals,
    errors: &mut Vec<Diagnostic>,
) {
    for c in &k.consts {
        let name = &c.name.name;
        let given = overrides.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let value = match (given, &c.default) {
            (Some(v), _) => override_value(c, v),
            (None, Some(default)) => default_value(c, default, fns, b, globals),
            (None, None) => Err(vec![Diagnostic::new(
                DiagKind::Const,
                c.name.span,
                format!("const parameter `{name}` has no default and no value was given"),
            )]),
        };
        match value {
            Ok(v) => {
                if globals.define(name, Global::of_const(&v)) {
                    b.add_const(name.as_str(), v);
                } else {
                    errors.push(duplicate(&c.name));
                }
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
}

fn override_value(c: &ast::ConstParam, v: &ConstValue) -> Result<ConstValue, Vec<Diagnostic>> {
    let name = &c.name.name;
    match (c.ty, v) {
        (ConstType::I32, ConstValue::Int(i)) if i32::try_from(*i).is_err() => Err(vec![Diagnostic::new(
            DiagKind::Const,
            c.name.span,
            format!("value {i} for const `{name}` does not fit in i32"),
        )]),
        (ConstType::I32, ConstValue::Int(_))
        | (ConstType::Bool, ConstValue::Bool(_))
        | (ConstType::DType, ConstValue::DType(_)) => Ok(v.clone()),
        _ => Err(vec![Diagnostic::new(
            DiagKind::Type,
            c.name.span,
            format!("const `{name}` is {}; got the value `{v}`", c.ty.name()),
        )]),
    }
}

fn default_value(
    c: &ast::ConstParam,
    default: &ast::Expr,
    fns: &Fns,
    b: &mut KernelBuilder,
    globals: &Globals,
) -> Result<ConstValue, Vec<Diagnostic>> {
    let named = match &default.kind {
        ast::ExprKind::Name(n) => Some(n.as_str()),
        _ => None,
    };
    if c.ty == ConstType::DType {
        return dtype_default(c, default, named, globals);
    }
    if let Some(d) = named.and_then(DType::from_name) {
        let message =
            format!("the default of `{}: {}` must be an {}; got the dtype {d}", c.name.name, c.ty.name(), c.ty.name());
        return Err(vec![Diagnostic::new(DiagKind::Type, default.span, message)]);
    }
    let mut lw = Lowerer::new(globals, fns, Mode::Const("a const default"));
    let value = lw.expr(b, default);
    let constant = match value {
        Ok(Val::Const(constant)) => constant,
        Ok(Val::Value(_)) => {
            lw.error(DiagKind::Const, default.span, "a const default must be a compile-time constant");
            return Err(lw.errors);
        }
        Err(_) => return Err(lw.errors),
    };
    let value = match c.ty {
        ConstType::I32 => constant.as_int().map(ConstValue::Int),
        ConstType::Bool => constant.as_bool().map(ConstValue::Bool),
        ConstType::DType => None,
    };
    value.ok_or_else(|| {
        vec![Diagnostic::new(
            DiagKind::Type,
            default.span,
            format!(
                "the default of `{}: {}` must be an {}; got {} `{}`",
                c.name.name,
                c.ty.name(),
                c.ty.name(),
                constant.ty.dtype,
                constant.describe()
            ),
        )]
    })
}

/// A `dtype` const's default: a dtype name, or an earlier `dtype` const. Dtypes
/// have no operators, so there is no expression to evaluate.
fn dtype_default(
    c: &ast::ConstParam,
    default: &ast::Expr,
    named: Option<&str>,
    globals: &Globals,
) -> Result<ConstValue, Vec<Diagnostic>> {
    let Some(name) = named else {
        let message = format!(
            "the default of `{}: dtype` must be a dtype ({}) or an earlier dtype const; got `{}`",
            c.name.name,
            DType::names(),
            crate::syntax::print_expr(default)
        );
        return Err(vec![Diagnostic::new(DiagKind::Type, default.span, message)]);
    };
    let written = match DType::from_name(name) {
        Some(d) => ast::DTypeName::Builtin(d),
        None => ast::DTypeName::Const(ast::Ident { name: name.to_string(), span: default.span }),
    };
    globals.dtype(&written).map(ConstValue::DType).map_err(|e| vec![e])
}

fn duplicate(name: &ast::Ident) -> Diagnostic {
    Diagnostic::new(DiagKind::Duplicate, name.span, format!("`{}` is declared twice in this kernel", name.name))
}

/// Adds the runtime parameters, then the dimension names they declare.
fn declare_params(k: &ast::Kernel, b: &mut KernelBuilder, globals: &mut Globals, errors: &mut Vec<Diagnostic>) {
    let mut tensors = Vec::new();
    for p in &k.params {
        let name = p.name.name.clone();
        let (param, global): (Param, fn(ParamId) -> Global) = match &p.ty {
            ParamType::Scalar(dtype) => {
                let dtype = param_dtype(dtype, globals, errors);
                if !matches!(dtype, DType::F32 | DType::I32 | DType::Bool) {
                    let message = format!("scalar parameters must be f32, i32 or bool; `{}` is {dtype}", p.name.name);
                    errors.push(Diagnostic::new(DiagKind::Type, p.name.span, message));
                }
                (Param::Scalar { name: name.clone(), dtype }, Global::Scalar)
            }
            ParamType::Tensor { dtype, dims } => {
                let dtype = param_dtype(dtype, globals, errors);
                let const_dims = dims.iter().map(|d| const_dim(d, &p.name, globals, errors)).collect();
                let dim_names = dims.iter().map(|d| d.name.clone()).collect();
                (
                    Param::Tensor { name: name.clone(), dtype, dims: dim_names, const_dims, aligned: false },
                    Global::Tensor,
                )
            }
        };
        let id = b.add_param(param);
        if !globals.define(&name, global(id)) {
            errors.push(duplicate(&p.name));
        }
        if let ParamType::Tensor { dims, .. } = &p.ty {
            tensors.push((id, dims));
        }
    }
    for (tensor, dims) in tensors {
        for (axis, d) in dims.iter().enumerate() {
            match globals.get(&d.name) {
                Some(Global::Scalar(_) | Global::Tensor(_)) => errors.push(Diagnostic::new(
                    DiagKind::Duplicate,
                    d.span,
                    format!("dimension `{}` has the name of a parameter; use a different name", d.name),
                )),
                // A const fixes the size (`const_dim` rejects a dtype const); an existing
                // dim was declared by an earlier tensor.
                Some(Global::Const(_) | Global::DType(_) | Global::Dim { .. }) => {}
                None => {
                    globals.define(&d.name, Global::Dim { tensor, axis: axis as u32 });
                }
            }
        }
    }
}

/// A parameter's dtype. A name that is no dtype is reported and the parameter is
/// still declared (as f32) so the rest of the kernel is checked: the kernel is
/// rejected either way.
fn param_dtype(d: &ast::DTypeName, globals: &Globals, errors: &mut Vec<Diagnostic>) -> DType {
    globals.dtype(d).unwrap_or_else(|e| {
        errors.push(e);
        DType::F32
    })
}

/// The fixed size of dimension `d` when it is named after a const parameter.
fn const_dim(d: &ast::Ident, tensor: &ast::Ident, globals: &Globals, errors: &mut Vec<Diagnostic>) -> Option<u32> {
    let (name, t) = (&d.name, &tensor.name);
    let c = match globals.get(name) {
        Some(Global::Const(c)) => c,
        Some(Global::DType(dtype)) => {
            let message =
                format!("dimension `{name}` of `{t}` names the dtype const `{name}` ({dtype}); a size must be i32");
            errors.push(Diagnostic::new(DiagKind::Type, d.span, message));
            return None;
        }
        _ => return None,
    };
    match c.as_int() {
        Some(v) if v >= 1 => Some(v as u32),
        Some(v) => {
            let message =
                format!("dimension `{name}` of `{t}` is fixed to {v} by const `{name}`; sizes must be at least 1");
            errors.push(Diagnostic::new(DiagKind::Const, d.span, message));
            None
        }
        None => {
            let message = format!("dimension `{name}` of `{t}` names the bool const `{name}`; a size must be i32");
            errors.push(Diagnostic::new(DiagKind::Type, d.span, message));
            None
        }
    }
}

fn num_warps(
    k: &ast::Kernel,
    fns: &Fns,
    b: &mut KernelBuilder,
    globals: &Globals,
    errors: &mut Vec<Diagnostic>,
) -> u32 {
    let check = |w: i64| match u32::try_from(w) {
        Ok(w) if (1..=32).contains(&w) && w.is_power_of_two() => Ok(w),
        _ => Err(format!("`warps` must be a power of two from 1 to 32; got {w}")),
    };
    header_option(k.warps.as_ref(), "`warps`", DEFAULT_WARPS, check, fns, b, globals, errors)
}

/// `groups(G)`: G warp groups of `warps` warps each, within a program's thread limit.
fn num_groups(
    k: &ast::Kernel,
    warps: u32,
    fns: &Fns,
    b: &mut KernelBuilder,
    globals: &Globals,
    errors: &mut Vec<Diagnostic>,
) -> u32 {
    let (max, max_threads, threads) = (ir::MAX_GROUPS, ir::MAX_THREADS_PER_PROGRAM, warps * 32);
    let check = |g: i64| match u32::try_from(g) {
        Ok(g) if (1..=max).contains(&g) && g.is_power_of_two() && g * threads <= max_threads => Ok(g),
        _ => Err(format!(
            "`groups` must be a power of two from 1 to {} for {warps} warps a group (a program has at most {max} \
             groups and {max_threads} threads); got {g}",
            (max_threads / threads).min(max)
        )),
    };
    header_option(k.groups.as_ref(), "`groups`", 1, check, fns, b, globals, errors)
}

fn num_stages(
    k: &ast::Kernel,
    fns: &Fns,
    b: &mut KernelBuilder,
    globals: &Globals,
    errors: &mut Vec<Diagnostic>,
) -> u32 {
    let (min, max) = (ir::MIN_STAGES, ir::MAX_STAGES);
    let check = |s: i64| match u32::try_from(s) {
        Ok(s) if (min..=max).contains(&s) => Ok(s),
        _ => {
            let why = if s < i64::from(min) { " (a loop reads one stage while the next is copied)" } else { "" };
            Err(format!("`stages` must be from {min} to {max}; got {s}{why}"))
        }
    };
    header_option(k.stages.as_ref(), "`stages`", ir::DEFAULT_STAGES, check, fns, b, globals, errors)
}

/// `occupancy(N)`: N programs of `threads` threads (every group's: the kernel's
/// `threads_per_program`) must fit an SM's program and thread limits.
fn occupancy(
    k: &ast::Kernel,
    threads: u32,
    fns: &Fns,
    b: &mut KernelBuilder,
    globals: &Globals,
    errors: &mut Vec<Diagnostic>,
) -> Option<u32> {
    let (max, max_threads) = (ir::MAX_PROGRAMS_PER_SM, ir::MAX_THREADS_PER_SM);
    let check = |n: i64| match u32::try_from(n) {
        Ok(n) if (1..=max).contains(&n) && n * threads <= max_threads => Ok(n),
        _ => Err(format!(
            "`occupancy` must be from 1 to {} programs an SM for {threads} threads a program (an SM holds at most \
             {max} programs and {max_threads} threads); got {n}",
            (max_threads / threads).min(max)
        )),
    };
    k.occupancy.as_ref()?;
    Some(header_option(k.occupancy.as_ref(), "`occupancy`", 1, check, fns, b, globals, errors))
}

/// A header option such as `warps(E)`: E folded to a constant and accepted by `check`,
/// which returns the value or the message that says what is supported. Absent, the
/// option is `default`; wrong, the error is reported and `default` keeps checking going.
#[allow(clippy::too_many_arguments)]
fn header_option(
    option: Option<&ast::Expr>,
    name: &'static str,
    default: u32,
    check: impl Fn(i64) -> Result<u32, String>,
    fns: &Fns,
    b: &mut KernelBuilder,
    globals: &Globals,
    errors: &mut Vec<Diagnostic>,
) -> u32 {
    let Some(e) = option else { return default };
    let mut lowerer = Lowerer::new(globals, fns, Mode::Const(name));
    let value = match lowerer.const_int(b, e, name) {
        Ok(v) => check(v).unwrap_or_else(|message| {
            lowerer.error(DiagKind::Const, e.span, message);
            default
        }),
        Err(_) => default,
    };
    errors.append(&mut lowerer.errors);
    value
}
