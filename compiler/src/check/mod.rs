//! Type checking and specialization: one kernel of a parsed file, with its const
//! parameters fixed, becomes one Tile IR kernel. The rules are in
//! docs/language.md; `lower` applies them while emitting IR.

mod assigned;
mod consts;
mod fns;
mod header;
mod lower;
mod scope;
mod suggest;
mod types;

#[cfg(test)]
mod tests;

use crate::diag::{DiagKind, Diagnostic, Diagnostics, Span};
use crate::ir::{ConstValue, Kernel};
use crate::syntax::ast;

/// Specializes `kernel` (or the file's only kernel when `None`) with `consts`;
/// consts not given take their defaults.
pub fn specialize(
    file: &ast::File,
    kernel: Option<&str>,
    consts: &[(String, ConstValue)],
) -> Result<Kernel, Diagnostics> {
    let k = select(file, kernel)?;
    let (fns, mut errors) = fns::Fns::collect(file);
    match header::lower_kernel(k, &fns, consts) {
        Ok(kernel) if errors.is_empty() => Ok(kernel),
        Ok(_) => Err(Diagnostics(errors)),
        Err(Diagnostics(mut kernel_errors)) => {
            errors.append(&mut kernel_errors);
            errors.sort_by_key(|d| d.span.start);
            Err(Diagnostics(errors))
        }
    }
}

fn select<'f>(file: &'f ast::File, kernel: Option<&str>) -> Result<&'f ast::Kernel, Diagnostic> {
    let names: Vec<&str> = file.kernels.iter().map(|k| k.name.name.as_str()).collect();
    let first_span = file.kernels.first().map_or(Span::default(), |k| k.name.span);
    match kernel {
        Some(name) => {
            let mut found = file.kernels.iter().filter(|k| k.name.name == name);
            match (found.next(), found.next()) {
                (Some(k), None) => Ok(k),
                (Some(_), Some(second)) => Err(Diagnostic::new(
                    DiagKind::Duplicate,
                    second.name.span,
                    format!("this file defines kernel `{name}` more than once"),
                )),
                (None, _) => {
                    let message = format!("no kernel named `{name}`; this file has: {}", names.join(", "));
                    let message = suggest::did_you_mean(message, name, names.iter().copied());
                    Err(Diagnostic::new(DiagKind::UnknownName, first_span, message))
                }
            }
        }
        None => match file.kernels.as_slice() {
            [k] => Ok(k),
            [] => Err(Diagnostic::new(DiagKind::Kernel, first_span, "this file has no kernel")),
            _ => Err(Diagnostic::new(
                DiagKind::Kernel,
                first_span,
                format!("this file has {} kernels ({}); name the one to compile", names.len(), names.join(", ")),
            )),
        },
    }
}
