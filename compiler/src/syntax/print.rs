//! Prints an AST back as canonical `.tile` source: four-space indents, one
//! parameter per line, and only the parentheses that precedence requires. Parsing
//! the output gives the same tree, so `--emit ast` doubles as a formatter and the
//! parenthesization shows how an expression was grouped.

use super::ast::*;
use std::fmt::Write;

/// Binding strength of unary operators and of postfix indexing, above every binary level.
const UNARY_PREC: u8 = 6;
const POSTFIX_PREC: u8 = 7;

/// Fns come first, then kernels, each group in source order.
pub fn print_file(file: &File) -> String {
    let mut items = Vec::new();
    for f in &file.fns {
        let mut out = String::new();
        function(&mut out, f);
        items.push(out);
    }
    for k in &file.kernels {
        let mut out = String::new();
        kernel(&mut out, k);
        items.push(out);
    }
    items.join("\n")
}

fn function(out: &mut String, f: &Fn) {
    write!(out, "fn {}", f.name.name).ok();
    if !f.consts.is_empty() {
        let consts: Vec<String> = f.consts.iter().map(|c| format!("{}: {}", c.name.name, c.ty.name())).collect();
        write!(out, "<{}>", consts.join(", ")).ok();
    }
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}{}: {}", if p.mutable { "mut " } else { "" }, p.name.name, value_type(&p.ty)))
        .collect();
    write!(out, "({}) -> ", params.join(", ")).ok();
    match &f.result {
        FnResult::One(t) => out.push_str(&value_type(t)),
        FnResult::Tuple(ts) => {
            let ts: Vec<String> = ts.iter().map(value_type).collect();
            write!(out, "({})", ts.join(", ")).ok();
        }
    }
    out.push_str(" {\n");
    for s in &f.body.stmts {
        indent(out, 1);
        stmt(out, s, 1);
        out.push('\n');
    }
    writeln!(out, "    {}\n}}", expr(&f.value, 0)).ok();
}

fn value_type(t: &ValueType) -> String {
    if t.dims.is_empty() {
        t.dtype.to_string()
    } else {
        format!("{}[{}]", t.dtype, list(&t.dims))
    }
}

fn kernel(out: &mut String, k: &Kernel) {
    write!(out, "kernel {}", k.name.name).ok();
    if !k.consts.is_empty() {
        let consts: Vec<String> = k
            .consts
            .iter()
            .map(|c| match &c.default {
                // Defaults parse at additive precedence (`>` closes the list).
                Some(d) => format!("{}: {} = {}", c.name.name, c.ty.name(), expr(d, BinaryOp::Add.precedence())),
                None => format!("{}: {}", c.name.name, c.ty.name()),
            })
            .collect();
        write!(out, "<{}>", consts.join(", ")).ok();
    }
    out.push('(');
    if !k.params.is_empty() {
        out.push('\n');
    }
    for p in &k.params {
        match &p.ty {
            ParamType::Tensor { dtype, dims } => {
                let dims: Vec<&str> = dims.iter().map(|d| d.name.as_str()).collect();
                writeln!(out, "    {}: tensor<{dtype}>[{}],", p.name.name, dims.join(", ")).ok();
            }
            ParamType::Scalar(dtype) => {
                writeln!(out, "    {}: {dtype},", p.name.name).ok();
            }
        }
    }
    write!(out, ") grid({})", list(&k.grid)).ok();
    if let Some(w) = &k.warps {
        write!(out, " warps({})", expr(w, 0)).ok();
    }
    if let Some(g) = &k.groups {
        write!(out, " groups({})", expr(g, 0)).ok();
    }
    if let Some(s) = &k.stages {
        write!(out, " stages({})", expr(s, 0)).ok();
    }
    if let Some(o) = &k.occupancy {
        write!(out, " occupancy({})", expr(o, 0)).ok();
    }
    out.push(' ');
    block(out, &k.body, 0);
    out.push('\n');
}

fn block(out: &mut String, b: &Block, level: usize) {
    out.push_str("{\n");
    for s in &b.stmts {
        indent(out, level + 1);
        stmt(out, s, level + 1);
        out.push('\n');
    }
    indent(out, level);
    out.push('}');
}

fn indent(out: &mut String, level: usize) {
    out.push_str(&"    ".repeat(level));
}

fn stmt(out: &mut String, s: &Stmt, level: usize) {
    match &s.kind {
        StmtKind::Let { name, mutable, value } => {
            let m = if *mutable { "mut " } else { "" };
            write!(out, "let {m}{} = {};", name.name, expr(value, 0)).ok();
        }
        StmtKind::LetTuple { names, value } => {
            let names: Vec<String> =
                names.iter().map(|n| format!("{}{}", if n.mutable { "mut " } else { "" }, n.name.name)).collect();
            write!(out, "let ({}) = {};", names.join(", "), expr(value, 0)).ok();
        }
        StmtKind::Assign { target, value } => {
            write!(out, "{} = {};", target.name, expr(value, 0)).ok();
        }
        StmtKind::Store { tensor, indices, value } => {
            write!(out, "{}[{}] = {};", tensor.name, index_list(indices), expr(value, 0)).ok();
        }
        StmtKind::For { var, lower, upper, step, body } => {
            match step {
                Some(s) => write!(
                    out,
                    "for {} in ({} .. {}).step_by({}) ",
                    var.name,
                    expr(lower, 0),
                    expr(upper, 0),
                    expr(s, 0)
                ),
                None => write!(out, "for {} in {} .. {} ", var.name, expr(lower, 0), expr(upper, 0)),
            }
            .ok();
            block(out, body, level);
        }
        StmtKind::If { cond, then_block, else_block } => {
            write!(out, "if {} ", expr(cond, 0)).ok();
            block(out, then_block, level);
            match else_block.as_ref().map(|b| b.stmts.as_slice()) {
                None => {}
                Some([only @ Stmt { kind: StmtKind::If { .. }, .. }]) => {
                    out.push_str(" else ");
                    stmt(out, only, level);
                }
                Some(_) => {
                    out.push_str(" else ");
                    if let Some(b) = else_block {
                        block(out, b, level);
                    }
                }
            }
        }
    }
}

fn list(items: &[Expr]) -> String {
    items.iter().map(|e| expr(e, 0)).collect::<Vec<_>>().join(", ")
}

fn index_list(indices: &[IndexEntry]) -> String {
    indices
        .iter()
        .map(|i| match i {
            IndexEntry::Point(e) => expr(e, 0),
            IndexEntry::Range { lo, hi } => format!("{} .. {}", expr(lo, 0), expr(hi, 0)),
            IndexEntry::Full(_) => "..".to_string(),
            IndexEntry::Keep(_) => ":".to_string(),
            IndexEntry::NewAxis(_) => "None".to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `e` as source text, parenthesized if it binds looser than `context`.
pub fn expr(e: &Expr, context: u8) -> String {
    let (text, prec) = match &e.kind {
        ExprKind::Int(v) => (v.to_string(), POSTFIX_PREC),
        ExprKind::Float(v) if v.is_infinite() => ("inf".to_string(), POSTFIX_PREC),
        ExprKind::Float(v) => (format!("{v:?}"), POSTFIX_PREC),
        ExprKind::Bool(v) => (v.to_string(), POSTFIX_PREC),
        ExprKind::Name(n) => (n.clone(), POSTFIX_PREC),
        ExprKind::Unary { op, operand } => (format!("{}{}", op.symbol(), expr(operand, UNARY_PREC)), UNARY_PREC),
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            // Left-associative: an equal-precedence right operand needs parentheses.
            (format!("{} {} {}", expr(lhs, p), op.symbol(), expr(rhs, p + 1)), p)
        }
        ExprKind::Call { func, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}: {}", n.name, expr(&a.value, 0)),
                    None => expr(&a.value, 0),
                })
                .collect();
            (format!("{}({})", func.name, args.join(", ")), POSTFIX_PREC)
        }
        ExprKind::Cast { dtype, value } => (format!("cast<{dtype}>({})", expr(value, 0)), POSTFIX_PREC),
        ExprKind::If { cond, then_value, else_value } => {
            let else_text = match else_value.kind {
                ExprKind::If { .. } => expr(else_value, 0),
                _ => format!("{{ {} }}", expr(else_value, 0)),
            };
            (format!("if {} {{ {} }} else {else_text}", expr(cond, 0), expr(then_value, 0)), POSTFIX_PREC)
        }
        ExprKind::Index { base, indices } => {
            (format!("{}[{}]", expr(base, POSTFIX_PREC), index_list(indices)), POSTFIX_PREC)
        }
        ExprKind::List(items) => (format!("[{}]", list(items)), POSTFIX_PREC),
        ExprKind::Tuple(items) => (format!("({})", list(items)), POSTFIX_PREC),
    };
    if prec < context {
        format!("({text})")
    } else {
        text
    }
}
