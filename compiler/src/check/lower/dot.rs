//! The tensor-core builtins: `dot(a, b)` and `trans(x)`.
//!
//! `dot`'s rules are the `mma.sync.m16n8k16` tile it lowers to (see `ir::Op::Dot`); they are
//! checked here, with the offending argument's span, so a user never meets the verifier.

use super::{LResult, Lowerer, Val};
use crate::diag::{DiagKind, Span};
use crate::ir::builder::KernelBuilder;
use crate::ir::{DType, Type};
use crate::syntax::ast;

impl Lowerer<'_> {
    /// `dot(a, b)`: `a [M, K] @ b [K, N]` of bf16 or f16, accumulated in f32.
    pub(super) fn dot(&mut self, b: &mut KernelBuilder, lhs: &ast::Expr, rhs: &ast::Expr, span: Span) -> LResult<Val> {
        let lv = self.expr(b, lhs);
        let rv = self.expr(b, rhs);
        let (lv, rv) = (lv?, rv?);
        let (lt, rt) = (self.type_of(b, &lv), self.type_of(b, &rv));
        let [m, k] = self.matrix(&lt, lhs.span, "dot", "[M, K]")?;
        let [k2, n] = self.matrix(&rt, rhs.span, "dot", "[K, N]")?;
        for (t, e) in [(&lt, lhs), (&rt, rhs)] {
            if !matches!(t.dtype, DType::BF16 | DType::F16) {
                let message = format!("dot needs bf16 or f16 operands; got {} (cast<bf16>(...) first)", t.dtype);
                return Err(self.error(DiagKind::Type, e.span, message));
            }
        }
        if lt.dtype != rt.dtype {
            let message = format!("dot operands must have the same dtype; got {} and {}", lt.dtype, rt.dtype);
            return Err(self.error(DiagKind::Type, span, message));
        }
        if k != k2 {
            let message = format!("dot operands disagree on K: {:?} and {:?}", lt.shape, rt.shape);
            return Err(self.error(DiagKind::Shape, span, message));
        }
        for (dim, multiple, got, e) in [("M", 16, m, lhs), ("K", 16, k, lhs), ("N", 8, n, rhs)] {
            if got % multiple != 0 {
                let message =
                    format!("dot needs {dim} a multiple of {multiple} (the tensor-core tile is 16x8x16); got {got}");
                return Err(self.error(DiagKind::Shape, e.span, message));
            }
        }
        self.runtime_only("`dot`", span)?;
        let l = self.materialize(b, lv, span)?;
        let r = self.materialize(b, rv, span)?;
        Ok(Val::Value(b.dot(l, r)))
    }

    /// `trans(x)`: `[M, N]` → `[N, M]`.
    pub(super) fn trans(&mut self, b: &mut KernelBuilder, x: &ast::Expr, span: Span) -> LResult<Val> {
        let v = self.expr(b, x)?;
        let ty = self.type_of(b, &v);
        self.matrix(&ty, x.span, "trans", "[M, N]")?;
        self.runtime_only("`trans`", span)?;
        let id = self.materialize(b, v, span)?;
        Ok(Val::Value(b.trans(id)))
    }

    /// The two dimensions of a rank-2 tile, else an error at `at` naming the expected `form`.
    fn matrix(&mut self, ty: &Type, at: Span, op: &str, form: &str) -> LResult<[u32; 2]> {
        match ty.shape[..] {
            [r, c] => Ok([r, c]),
            _ => Err(self.error(DiagKind::Shape, at, format!("{op} takes a rank-2 tile {form}; got {ty}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::specialize;
    use crate::ir::{op_name, Op};
    use crate::syntax::parse;

    /// "line:col: message" of the first error lowering a kernel with `params` and `body`,
    /// or the ops of the body when it lowers.
    fn lowered(params: &str, body: &str) -> String {
        let src = format!("kernel k({params}) grid(1) {{\n{body}\n}}");
        let file = match parse(&src) {
            Ok(f) => f,
            Err(d) => return d.render("test.tile", &src),
        };
        match specialize(&file, None, &[]) {
            Ok(k) => k.body.insts.iter().map(|i| op_name(&i.op)).collect::<Vec<_>>().join(" "),
            Err(ds) => {
                ds.0.first()
                    .map(|d| {
                        let (line, col) = d.line_col(&src);
                        format!("{line}:{col}: {}", d.message)
                    })
                    .unwrap_or_default()
            }
        }
    }

    const AB: &str = "a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N]";

    #[test]
    fn dot_lowers_to_the_dot_op() {
        let body =
            "    let x = a[0 .. 64, 0 .. 32];\n    let y = b[0 .. 32, 0 .. 16];\n    c[0 .. 64, 0 .. 16] = dot(x, y);";
        assert!(lowered(AB, body).contains("dot store"));
    }

    #[test]
    fn trans_feeds_dot() {
        let body = "    let x = a[0 .. 64, 0 .. 32];\n    c[0 .. 64, 0 .. 64] = dot(x, trans(x));";
        assert!(lowered(AB, body).contains("trans dot"));
    }

    #[test]
    fn dot_result_type_is_f32() {
        let src = format!(
            "kernel k({AB}) grid(1) {{\n    c[0 .. 16, 0 .. 8] = dot(a[0 .. 16, 0 .. 16], b[0 .. 16, 0 .. 8]);\n}}"
        );
        let dot_type = parse(&src).ok().and_then(|f| specialize(&f, None, &[]).ok()).and_then(|k| {
            let inst = k.body.insts.iter().find(|i| matches!(i.op, Op::Dot { .. }))?;
            Some(k.value_type(inst.results[0]).to_string())
        });
        assert_eq!(dot_type.as_deref(), Some("f32[16, 8]"));
    }

    #[test]
    fn dot_rejects_f32_operands() {
        let body = "    let x = cast<f32>(a[0 .. 16, 0 .. 16]);\n    c[0 .. 16, 0 .. 8] = dot(x, b[0 .. 16, 0 .. 8]);";
        assert_eq!(lowered(AB, body), "3:30: dot needs bf16 or f16 operands; got f32 (cast<bf16>(...) first)");
    }

    #[test]
    fn dot_operands_must_share_a_dtype() {
        let body = "    let x = cast<f16>(cast<f32>(a[0 .. 16, 0 .. 16]));\n    c[0 .. 16, 0 .. 8] = dot(x, b[0 .. 16, 0 .. 8]);";
        assert_eq!(lowered(AB, body), "3:26: dot operands must have the same dtype; got f16 and bf16");
    }

    #[test]
    fn dot_operands_must_agree_on_k() {
        let body = "    c[0 .. 64, 0 .. 64] = dot(a[0 .. 64, 0 .. 32], b[0 .. 64, 0 .. 64]);";
        assert_eq!(lowered(AB, body), "2:27: dot operands disagree on K: [64, 32] and [64, 64]");
    }

    #[test]
    fn dot_needs_k_a_multiple_of_16() {
        let body = "    c[0 .. 16, 0 .. 8] = dot(a[0 .. 16, 0 .. 8], b[0 .. 8, 0 .. 8]);";
        assert_eq!(lowered(AB, body), "2:30: dot needs K a multiple of 16 (the tensor-core tile is 16x8x16); got 8");
    }

    #[test]
    fn dot_needs_m_a_multiple_of_16() {
        let body = "    c[0 .. 8, 0 .. 8] = dot(a[0 .. 8, 0 .. 16], b[0 .. 16, 0 .. 8]);";
        assert_eq!(lowered(AB, body), "2:29: dot needs M a multiple of 16 (the tensor-core tile is 16x8x16); got 8");
    }

    #[test]
    fn dot_needs_n_a_multiple_of_8() {
        let body = "    c[0 .. 16, 0 .. 4] = dot(a[0 .. 16, 0 .. 16], b[0 .. 16, 0 .. 4]);";
        assert_eq!(lowered(AB, body), "2:51: dot needs N a multiple of 8 (the tensor-core tile is 16x8x16); got 4");
    }

    #[test]
    fn dot_takes_matrices() {
        let body = "    c[0, 0 .. 8] = dot(a[0, 0 .. 16], b[0 .. 16, 0 .. 8]);";
        assert_eq!(lowered(AB, body), "2:24: dot takes a rank-2 tile [M, K]; got bf16[16]");
    }

    #[test]
    fn trans_takes_a_matrix() {
        let body = "    let t = trans(a[0, 0 .. 16]);";
        assert_eq!(lowered(AB, body), "2:19: trans takes a rank-2 tile [M, N]; got bf16[16]");
    }

    #[test]
    fn dot_arity() {
        assert_eq!(
            lowered(AB, "    let t = dot(a[0 .. 16, 0 .. 16]);"),
            "2:13: `dot` is called as `dot(a, b)`; got 1 argument"
        );
    }
}
