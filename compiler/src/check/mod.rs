//! STUB (front-end helper replaces): type checking and specialization, AST → Tile IR.
use crate::ir::{ConstValue, Kernel};
pub fn specialize(_file: &crate::syntax::ast::File, _kernel: Option<&str>, _consts: &[(String, ConstValue)]) -> Result<Kernel, crate::diag::Diagnostics> { Err(crate::diag::Diagnostics(vec![])) }
