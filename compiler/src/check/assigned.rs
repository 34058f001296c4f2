//! Which outer variables a `for` body or `if` branch assigns. The IR has no
//! mutable variables: such a variable becomes a loop-carried value of `Op::For`
//! or a result of `Op::If`, so the lowering needs the list before it builds the op.

use crate::syntax::ast::{Block, StmtKind};

/// Names assigned somewhere in `blocks` that are not declared inside them (nor
/// among `bound`, e.g. the loop variable), in order of first assignment.
pub fn outer_assignments(blocks: &[&Block], bound: &[&str]) -> Vec<String> {
    let mut walk = Walk { declared: vec![bound.iter().map(|s| s.to_string()).collect()], found: Vec::new() };
    for block in blocks {
        walk.block(block, &[]);
    }
    walk.found
}

struct Walk {
    /// Names declared so far, one list per enclosing block.
    declared: Vec<Vec<String>>,
    found: Vec<String>,
}

impl Walk {
    fn block(&mut self, block: &Block, bound: &[&str]) {
        self.declared.push(bound.iter().map(|s| s.to_string()).collect());
        for stmt in &block.stmts {
            match &stmt.kind {
                StmtKind::Let { name, .. } => {
                    if let Some(frame) = self.declared.last_mut() {
                        frame.push(name.name.clone());
                    }
                }
                StmtKind::LetTuple { names, .. } => {
                    if let Some(frame) = self.declared.last_mut() {
                        frame.extend(names.iter().map(|n| n.name.name.clone()));
                    }
                }
                StmtKind::Assign { target, .. } => {
                    let local = self.declared.iter().flatten().any(|n| *n == target.name);
                    if !local && !self.found.contains(&target.name) {
                        self.found.push(target.name.clone());
                    }
                }
                StmtKind::Store { .. } => {}
                StmtKind::For { var, body, .. } => self.block(body, &[&var.name]),
                StmtKind::If { then_block, else_block, .. } => {
                    self.block(then_block, &[]);
                    if let Some(e) = else_block {
                        self.block(e, &[]);
                    }
                }
            }
        }
        self.declared.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{ast, parse};

    /// Outer assignments of the body of the first statement (a `for` or `if`).
    fn assigned(body: &str) -> Vec<String> {
        let src = format!("kernel k() grid(1) {{ {body} }}");
        let Ok(file) = parse(&src) else { return vec!["<parse error>".into()] };
        match file.kernels[0].body.stmts.first().map(|s| &s.kind) {
            Some(ast::StmtKind::For { var, body, .. }) => outer_assignments(&[body], &[&var.name]),
            Some(ast::StmtKind::If { then_block, else_block, .. }) => {
                let mut blocks = vec![then_block];
                blocks.extend(else_block);
                outer_assignments(&blocks, &[])
            }
            _ => vec!["<not a for or if>".into()],
        }
    }

    #[test]
    fn plain_assignment_is_outer() {
        assert_eq!(assigned("for i in 0 .. 4 { a = 1; }"), ["a"]);
    }

    #[test]
    fn let_in_body_shadows() {
        assert_eq!(assigned("for i in 0 .. 4 { let mut a = 0; a = 1; }"), Vec::<String>::new());
    }

    #[test]
    fn assignment_before_shadowing_let_is_outer() {
        assert_eq!(assigned("for i in 0 .. 4 { a = 1; let mut a = 0; a = 2; }"), ["a"]);
    }

    #[test]
    fn let_in_nested_block_does_not_shadow_after_it() {
        assert_eq!(assigned("for i in 0 .. 4 { if c { let mut a = 0; } a = 1; }"), ["a"]);
    }

    #[test]
    fn nested_loops_report_through() {
        assert_eq!(assigned("for i in 0 .. 4 { for j in 0 .. 4 { b = 1; } a = 2; b = 3; }"), ["b", "a"]);
    }

    #[test]
    fn loop_variable_is_not_outer() {
        assert_eq!(assigned("for i in 0 .. 4 { i = 1; }"), Vec::<String>::new());
    }

    #[test]
    fn tuple_let_in_body_shadows() {
        assert_eq!(assigned("for i in 0 .. 4 { let (mut a, b) = (0, 1); a = b; }"), Vec::<String>::new());
    }

    #[test]
    fn both_if_branches_count() {
        assert_eq!(assigned("if c { a = 1; } else { b = 2; }"), ["a", "b"]);
    }
}
