//! Checker tests: source text in, IR structure or "line:col: message" out.
//! IR is inspected structurally (op counts, value types) rather than as printed
//! text, so these tests do not depend on the IR printer's format.

mod bin_sum;
mod docs;
mod dtype_consts;
mod errors;
mod fns;
mod groups;
mod lowering;
mod scan;

use crate::diag::Diagnostics;
use crate::ir::{self, Block, ConstValue, Inst, Kernel, Op};
use crate::syntax::parse;

fn try_lower(src: &str, consts: &[(&str, ConstValue)]) -> Result<Kernel, Diagnostics> {
    let file = parse(src)?;
    let consts: Vec<(String, ConstValue)> = consts.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
    super::specialize(&file, None, &consts)
}

/// Lowers and verifies; a failure shows the rendered diagnostics or the verifier's complaint.
fn lower_with(src: &str, consts: &[(&str, ConstValue)]) -> Kernel {
    match try_lower(src, consts) {
        Ok(k) => match ir::verify::verify(&k) {
            Ok(()) => k,
            Err(e) => panic!("front end produced invalid IR: {e}\n{}", ir::print::print_kernel(&k)),
        },
        Err(d) => panic!("{}", d.render("test.tile", src)),
    }
}

fn lower(src: &str) -> Kernel {
    lower_with(src, &[])
}

/// A kernel with the given parameters and body.
fn kernel(params: &str, body: &str) -> String {
    format!("kernel k({params}) grid(1) {{\n{body}\n}}")
}

/// "line:col: message" of every error, one per line.
fn errors_with(src: &str, consts: &[(&str, ConstValue)]) -> String {
    match try_lower(src, consts) {
        Ok(_) => "no error".to_string(),
        Err(ds) => {
            ds.0.iter()
                .map(|d| {
                    let (line, col) = d.line_col(src);
                    format!("{line}:{col}: {}", d.message)
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

fn errors(src: &str) -> String {
    errors_with(src, &[])
}

fn walk<'k>(block: &'k Block, out: &mut Vec<&'k Inst>) {
    for inst in &block.insts {
        out.push(inst);
        match &inst.op {
            Op::For { body, .. } => walk(body, out),
            Op::If { then_block, else_block, .. } => {
                walk(then_block, out);
                walk(else_block, out);
            }
            _ => {}
        }
    }
}

/// Every instruction of the body, nested blocks included, in order.
fn insts(k: &Kernel) -> Vec<&Inst> {
    let mut out = Vec::new();
    walk(&k.body, &mut out);
    out
}

fn count(k: &Kernel, op: &str) -> usize {
    insts(k).iter().filter(|i| ir::op_name(&i.op) == op).count()
}

/// Types of the results of every `op` instruction, e.g. `["f32[128]"]`.
fn types_of(k: &Kernel, op: &str) -> Vec<String> {
    insts(k)
        .iter()
        .filter(|i| ir::op_name(&i.op) == op)
        .flat_map(|i| i.results.iter().map(|&v| k.value_type(v).to_string()))
        .collect()
}

/// The ops of the grid block, e.g. `["dim", "const", ...]`.
fn grid_ops(k: &Kernel) -> Vec<&'static str> {
    k.grid.insts.iter().map(|i| ir::op_name(&i.op)).collect()
}
