//! The Tile IR text form, written by [`print_kernel`] and read back by
//! [`super::parse::parse_kernel`].
//!
//! ```text
//! kernel @loop_sum consts(CHECK = true) warps(1) {
//!   param %out: tensor<i32>[N]
//!   grid {
//!     %0 = const 1 : i32
//!     yield %0, %0, %0
//!   }
//!   body {
//!     %1 = const 0 : i32
//!     %2 = dim %out, 0 : i32
//!     %3 = const 1 : i32
//!     %7 = for %4: i32 = %1 to %2 step %3 iter(%5: i32 = %1) : i32 {
//!       %6 = add %5, %4 : i32
//!       yield %6
//!     }
//!     store %out[%1], %7
//!   }
//!   undefined %8: f32
//! }
//! ```
//!
//! Why this shape:
//! - One instruction per line, MLIR-like, because pass tests diff printed IR line by line.
//! - Every definition carries its type (results after `:`, block arguments inline), so the
//!   parser never infers a type: ill-typed IR prints and parses back as it is, which lets
//!   verifier tests be written as text, and round trips are exact by construction.
//! - Value ids are printed as they are, never renumbered, so the text names the same
//!   values as the verifier's errors and a pass's output keeps its input's names.
//!   Ids that have a type but no definition (left behind by a pass) are listed on the
//!   `undefined` line so `value_types` survives the round trip.
//! - Parameters are named (`%x`), values numbered (`%7`): the two never collide.
//! - Floats print as Rust's shortest round-trip form (`0.1`, `1e300`, `-0.0`) or as `inf`,
//!   `-inf`, `nan`, or `nan(0x...)` with the exact bits of a non-canonical NaN.
//! - Names that are not identifiers are quoted (`@"a b"`), so any name prints.
//!
//! IR that breaks structural invariants the text cannot express (a `for` body whose
//! arguments do not match its init values, a missing type, an out-of-range param) still
//! prints, with `?` where the missing piece would go; such text does not parse back.

use super::{Block, Index, Inst, Kernel, Literal, Op, Param, ParamId, ValueId};
use std::fmt;

/// The whole kernel in the text form; ends with a newline.
pub fn print_kernel(kernel: &Kernel) -> String {
    KernelText(kernel).to_string()
}

/// One instruction on one line, nested blocks elided as `{ ... }`: for error messages.
pub fn print_inst(kernel: &Kernel, inst: &Inst) -> String {
    InstLine { kernel, inst }.to_string()
}

/// A literal as `const` prints it, for error messages.
pub(crate) fn print_literal(lit: Literal) -> String {
    LiteralText(lit).to_string()
}

/// Whether `name` prints bare; anything else is quoted.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct KernelText<'k>(&'k Kernel);

impl fmt::Display for KernelText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.0;
        let p = Printer { kernel: k };
        write!(f, "kernel @{}", Name(&k.name))?;
        if !k.consts.is_empty() {
            f.write_str(" consts(")?;
            for (i, (name, value)) in k.consts.iter().enumerate() {
                write!(f, "{}{} = {value}", sep(i), Name(name))?;
            }
            f.write_str(")")?;
        }
        write!(f, " warps({})", k.num_warps)?;
        // Like `stages`, printed only when the kernel asks for more than one group.
        if k.num_groups != 1 {
            write!(f, " groups({})", k.num_groups)?;
        }
        // Printed only when it is not the default, so the text (and the runtime's cache
        // keys, which hash it) of every kernel that does not ask for stages is unchanged.
        if k.num_stages != super::DEFAULT_STAGES {
            write!(f, " stages({})", k.num_stages)?;
        }
        if let Some(n) = k.occupancy {
            write!(f, " occupancy({n})")?;
        }
        f.write_str(" {\n")?;
        for param in &k.params {
            writeln!(f, "  param {}", ParamDecl(param))?;
        }
        f.write_str("  grid")?;
        p.block(f, &k.grid, 1)?;
        f.write_str("\n  body")?;
        p.block(f, &k.body, 1)?;
        f.write_str("\n")?;
        let undefined = undefined_values(k);
        if !undefined.is_empty() {
            f.write_str("  undefined ")?;
            for (i, v) in undefined.iter().enumerate() {
                write!(f, "{}{}", sep(i), p.typed(*v))?;
            }
            f.write_str("\n")?;
        }
        f.write_str("}\n")
    }
}

/// Ids below `value_types.len()` that no instruction or block defines, in order.
fn undefined_values(kernel: &Kernel) -> Vec<ValueId> {
    let mut defined = vec![false; kernel.value_types.len()];
    let mut mark = |v: &ValueId| {
        if let Some(slot) = defined.get_mut(v.0 as usize) {
            *slot = true;
        }
    };
    fn walk(block: &Block, mark: &mut dyn FnMut(&ValueId)) {
        block.args.iter().for_each(&mut *mark);
        for inst in &block.insts {
            inst.results.iter().for_each(&mut *mark);
            match &inst.op {
                Op::For { body, .. } => walk(body, mark),
                Op::If { then_block, else_block, .. } => {
                    walk(then_block, mark);
                    walk(else_block, mark);
                }
                _ => {}
            }
        }
    }
    walk(&kernel.grid, &mut mark);
    walk(&kernel.body, &mut mark);
    defined.iter().enumerate().filter(|(_, d)| !**d).map(|(i, _)| ValueId(i as u32)).collect()
}

struct Printer<'k> {
    kernel: &'k Kernel,
}

impl<'k> Printer<'k> {
    /// ` {`, the instructions one level deeper, and the closing `}` at `depth` (no newline).
    /// Block arguments are printed only where the op does not print them itself.
    fn block(&self, f: &mut fmt::Formatter<'_>, block: &Block, depth: usize) -> fmt::Result {
        if !block.args.is_empty() {
            f.write_str(" args(")?;
            for (i, v) in block.args.iter().enumerate() {
                write!(f, "{}{}", sep(i), self.typed(*v))?;
            }
            f.write_str(")")?;
        }
        self.block_body(f, block, depth)
    }

    fn block_body(&self, f: &mut fmt::Formatter<'_>, block: &Block, depth: usize) -> fmt::Result {
        f.write_str(" {\n")?;
        for inst in &block.insts {
            self.inst(f, inst, depth + 1)?;
        }
        write!(f, "{}}}", Indent(depth))
    }

    fn inst(&self, f: &mut fmt::Formatter<'_>, inst: &Inst, depth: usize) -> fmt::Result {
        write!(f, "{}", Indent(depth))?;
        self.head(f, inst)?;
        match &inst.op {
            Op::For { body, .. } => self.block_body(f, body, depth)?,
            Op::If { then_block, else_block, .. } => {
                self.block(f, then_block, depth)?;
                f.write_str(" else")?;
                self.block(f, else_block, depth)?;
            }
            _ => {}
        }
        f.write_str("\n")
    }

    /// Results, the op and its operands, and the result types: everything but nested blocks.
    fn head(&self, f: &mut fmt::Formatter<'_>, inst: &Inst) -> fmt::Result {
        if !inst.results.is_empty() {
            write!(f, "{} = ", List(&inst.results))?;
        }
        let name = super::op_name(&inst.op);
        match &inst.op {
            Op::Const(lit) => write!(f, "{name} {}", LiteralText(*lit))?,
            Op::ProgramId { axis } => write!(f, "{name} {axis}")?,
            Op::GroupId => write!(f, "{name}")?,
            Op::Dim { tensor, axis } => write!(f, "{name} {}, {axis}", self.param(*tensor))?,
            Op::Arg { param } => write!(f, "{name} {}", self.param(*param))?,
            Op::Arange { start: value, len: n }
            | Op::ExpandDims { value, axis: n }
            | Op::Reduce { value, axis: n, .. }
            | Op::Scan { value, axis: n, .. } => write!(f, "{name} {value}, {n}")?,
            Op::Splat { value }
            | Op::Broadcast { value }
            | Op::Cast { value }
            | Op::Trans { value }
            | Op::Unary { value, .. } => write!(f, "{name} {value}")?,
            Op::Binary { lhs, rhs, .. }
            | Op::Cmp { lhs, rhs, .. }
            | Op::Dot { lhs, rhs }
            | Op::BinSum { value: lhs, bins: rhs } => write!(f, "{name} {lhs}, {rhs}")?,
            Op::Select { cond, on_true, on_false } => write!(f, "{name} {cond}, {on_true}, {on_false}")?,
            Op::Load { tensor, indices } => write!(f, "{name} {}[{}]", self.param(*tensor), Indices(indices))?,
            Op::Store { tensor, indices, value } => {
                write!(f, "{name} {}[{}], {value}", self.param(*tensor), Indices(indices))?
            }
            Op::For { lower, upper, step, init, body } => {
                let iv = body.args.first().copied();
                write!(f, "{name} {} = {lower} to {upper} step {step}", self.opt_typed(iv))?;
                let carried = body.args.get(1..).unwrap_or_default();
                if !init.is_empty() || !carried.is_empty() {
                    f.write_str(" iter(")?;
                    for i in 0..init.len().max(carried.len()) {
                        let arg = self.opt_typed(carried.get(i).copied());
                        write!(f, "{}{arg} = {}", sep(i), Opt(init.get(i)))?;
                    }
                    f.write_str(")")?;
                }
            }
            Op::If { cond, .. } => write!(f, "{name} {cond}")?,
            Op::Yield { values } if values.is_empty() => f.write_str(name)?,
            Op::Yield { values } => write!(f, "{name} {}", List(values))?,
        }
        if !inst.results.is_empty() {
            f.write_str(" : ")?;
            for (i, v) in inst.results.iter().enumerate() {
                write!(f, "{}{}", sep(i), self.ty(*v))?;
            }
        }
        Ok(())
    }

    fn param(&self, id: ParamId) -> ParamRef<'k> {
        ParamRef { name: self.kernel.params.get(id.0 as usize).map(Param::name), id }
    }

    fn ty(&self, v: ValueId) -> Opt<&'k super::Type> {
        Opt(self.kernel.value_types.get(v.0 as usize))
    }

    fn typed(&self, v: ValueId) -> Typed<'k> {
        Typed { value: v, ty: self.ty(v) }
    }

    fn opt_typed(&self, v: Option<ValueId>) -> Opt<Typed<'k>> {
        Opt(v.map(|v| self.typed(v)))
    }
}

struct InstLine<'k> {
    kernel: &'k Kernel,
    inst: &'k Inst,
}

impl fmt::Display for InstLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Printer { kernel: self.kernel }.head(f, self.inst)?;
        match self.inst.op {
            Op::For { .. } => f.write_str(" { ... }"),
            Op::If { .. } => f.write_str(" { ... } else { ... }"),
            _ => Ok(()),
        }
    }
}

struct ParamDecl<'a>(&'a Param);

impl fmt::Display for ParamDecl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Param::Scalar { name, dtype } => write!(f, "%{}: {dtype}", Name(name)),
            Param::Tensor { name, dtype, dims, const_dims, aligned } => {
                write!(f, "%{}: tensor<{dtype}>[", Name(name))?;
                for i in 0..dims.len().max(const_dims.len()) {
                    write!(f, "{}{}", sep(i), Opt(dims.get(i).map(|d| Name(d))))?;
                    match const_dims.get(i) {
                        Some(Some(size)) => write!(f, " = {size}")?,
                        Some(None) => {}
                        None => f.write_str(" = ?")?,
                    }
                }
                f.write_str("]")?;
                if *aligned {
                    f.write_str(" aligned")?;
                }
                Ok(())
            }
        }
    }
}

struct ParamRef<'k> {
    name: Option<&'k str>,
    id: ParamId,
}

impl fmt::Display for ParamRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(name) => write!(f, "%{}", Name(name)),
            None => write!(f, "%?{}", self.id.0),
        }
    }
}

/// A kernel, const, param or dimension name: bare if an identifier, else quoted.
struct Name<'a>(&'a str);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_identifier(self.0) {
            return f.write_str(self.0);
        }
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

struct LiteralText(Literal);

impl fmt::Display for LiteralText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Bool(v) => write!(f, "{v}"),
            Literal::Float(x) if x.is_nan() && x.to_bits() == f64::NAN.to_bits() => f.write_str("nan"),
            Literal::Float(x) if x.is_nan() => write!(f, "nan(0x{:016x})", x.to_bits()),
            Literal::Float(x) if x.is_infinite() => f.write_str(if x > 0.0 { "inf" } else { "-inf" }),
            // Debug is the shortest text that parses back to the same bits, and always has
            // a `.` or an exponent, which keeps `1.0` apart from the integer literal `1`.
            Literal::Float(x) => write!(f, "{x:?}"),
        }
    }
}

struct Indices<'a>(&'a [Index]);

impl fmt::Display for Indices<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, index) in self.0.iter().enumerate() {
            match index {
                Index::Point(v) => write!(f, "{}{v}", sep(i))?,
                Index::Range { start, len } => write!(f, "{}{start} +: {len}", sep(i))?,
                Index::Gather(v) => write!(f, "{}gather {v}", sep(i))?,
            }
        }
        Ok(())
    }
}

struct Typed<'k> {
    value: ValueId,
    ty: Opt<&'k super::Type>,
}

impl fmt::Display for Typed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.value, self.ty)
    }
}

/// A piece of the text that malformed IR may lack; printed as `?` then.
struct Opt<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(x) => x.fmt(f),
            None => f.write_str("?"),
        }
    }
}

struct List<'a>(&'a [ValueId]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            write!(f, "{}{v}", sep(i))?;
        }
        Ok(())
    }
}

struct Indent(usize);

impl fmt::Display for Indent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:width$}", "", width = self.0 * 2)
    }
}

fn sep(i: usize) -> &'static str {
    if i == 0 {
        ""
    } else {
        ", "
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::builder::KernelBuilder;
    use crate::ir::{BinaryOp, CmpOp, ConstValue, DType, ReduceOp, Type};
    use expect_test::{expect, Expect};

    fn check(text: String, expected: Expect) {
        expected.assert_eq(&text);
    }

    fn literal(lit: Literal) -> String {
        print_literal(lit)
    }

    /// Row sums of `x[N, 64]` in blocks of 16 rows, scaled by `s` when `SCALE`.
    fn row_sum() -> Kernel {
        let mut b = KernelBuilder::new("row_sum", 4);
        b.add_const("BLOCK", ConstValue::Int(16));
        b.add_const("SCALE", ConstValue::Bool(true));
        let x = b.add_param(Param::Tensor {
            name: "x".into(),
            dtype: DType::BF16,
            dims: vec!["N".into(), "D".into()],
            const_dims: vec![None, Some(64)],
            aligned: true,
        });
        let out = b.tensor_param("out", DType::F32, &["N"]);
        let s = b.scalar_param("s", DType::F32);
        b.grid(|b| {
            let n = b.dim(x, 0);
            let block = b.const_i32(16);
            let rows = b.binary(BinaryOp::Div, n, block);
            let one = b.const_i32(1);
            [rows, one, one]
        });
        let pid = b.program_id(0);
        let block = b.const_i32(16);
        let row0 = b.binary(BinaryOp::Mul, pid, block);
        let zero = b.const_i32(0);
        let tile = b.load(x, vec![Index::Range { start: row0, len: 16 }, Index::Range { start: zero, len: 64 }]);
        let wide = b.cast(tile, DType::F32);
        let sums = b.reduce(ReduceOp::Sum, wide, 1);
        let scale = b.const_bool(true);
        let scaled = b.if_(
            scale,
            vec![Type::tile(DType::F32, vec![16])],
            |b| {
                let sv = b.arg(s);
                let st = b.splat(sv, vec![16]);
                vec![b.binary(BinaryOp::Mul, sums, st)]
            },
            |_| vec![sums],
        );
        b.store(out, vec![Index::Range { start: row0, len: 16 }], scaled[0]);
        b.finish()
    }

    #[test]
    fn prints_a_kernel() {
        check(
            print_kernel(&row_sum()),
            expect![[r#"
                kernel @row_sum consts(BLOCK = 16, SCALE = true) warps(4) {
                  param %x: tensor<bf16>[N, D = 64] aligned
                  param %out: tensor<f32>[N]
                  param %s: f32
                  grid {
                    %0 = dim %x, 0 : i32
                    %1 = const 16 : i32
                    %2 = div %0, %1 : i32
                    %3 = const 1 : i32
                    yield %2, %3, %3
                  }
                  body {
                    %4 = program_id 0 : i32
                    %5 = const 16 : i32
                    %6 = mul %4, %5 : i32
                    %7 = const 0 : i32
                    %8 = load %x[%6 +: 16, %7 +: 64] : bf16[16, 64]
                    %9 = cast %8 : f32[16, 64]
                    %10 = reduce_sum %9, 1 : f32[16]
                    %11 = const true : bool
                    %15 = if %11 : f32[16] {
                      %12 = arg %s : f32
                      %13 = splat %12 : f32[16]
                      %14 = mul %10, %13 : f32[16]
                      yield %14
                    } else {
                      yield %10
                    }
                    store %out[%6 +: 16], %15
                  }
                }
            "#]],
        );
    }

    /// `acc = sum over i in 0..n of i`, then the loop's result stored at `out[0]`.
    fn loop_sum() -> Kernel {
        let mut b = KernelBuilder::new("loop_sum", 1);
        let out = b.tensor_param("out", DType::I32, &["N"]);
        b.grid(|b| {
            let one = b.const_i32(1);
            [one, one, one]
        });
        let zero = b.const_i32(0);
        let n = b.dim(out, 0);
        let step = b.const_i32(1);
        let acc = b.for_loop(zero, n, step, vec![zero], |b, i, carried| vec![b.binary(BinaryOp::Add, carried[0], i)]);
        b.store(out, vec![Index::Point(zero)], acc[0]);
        b.finish()
    }

    #[test]
    fn prints_a_loop_with_carried_values() {
        check(
            print_kernel(&loop_sum()),
            expect![[r#"
                kernel @loop_sum warps(1) {
                  param %out: tensor<i32>[N]
                  grid {
                    %0 = const 1 : i32
                    yield %0, %0, %0
                  }
                  body {
                    %1 = const 0 : i32
                    %2 = dim %out, 0 : i32
                    %3 = const 1 : i32
                    %7 = for %4: i32 = %1 to %2 step %3 iter(%5: i32 = %1) : i32 {
                      %6 = add %5, %4 : i32
                      yield %6
                    }
                    store %out[%1], %7
                  }
                }
            "#]],
        );
    }

    #[test]
    fn groups_print_after_warps_only_when_more_than_one() {
        let mut k = loop_sum();
        let header = |k: &Kernel| print_kernel(k).lines().next().unwrap_or_default().to_string();
        check(header(&k), expect!["kernel @loop_sum warps(1) {"]);
        (k.num_groups, k.num_stages, k.occupancy) = (4, 3, Some(2));
        check(header(&k), expect!["kernel @loop_sum warps(1) groups(4) stages(3) occupancy(2) {"]);
    }

    #[test]
    fn group_id_prints_bare() {
        let mut b = KernelBuilder::new("k", 1);
        b.group_id();
        let k = b.finish();
        check(print_inst(&k, &k.body.insts[0]), expect!["%0 = group_id : i32"]);
    }

    #[test]
    fn print_inst_elides_a_loop_body() {
        let k = loop_sum();
        check(
            print_inst(&k, &k.body.insts[3]),
            expect!["%7 = for %4: i32 = %1 to %2 step %3 iter(%5: i32 = %1) : i32 { ... }"],
        );
    }

    #[test]
    fn print_inst_elides_if_blocks() {
        let k = row_sum();
        check(print_inst(&k, &k.body.insts[8]), expect!["%15 = if %11 : f32[16] { ... } else { ... }"]);
    }

    #[test]
    fn ids_without_definition_go_on_the_undefined_line() {
        let mut k = loop_sum();
        k.value_types.push(Type::tile(DType::F16, vec![2, 2]));
        k.body.insts.remove(1);
        check(
            print_kernel(&k).lines().rev().nth(1).unwrap_or_default().to_string(),
            expect!["  undefined %2: i32, %8: f16[2, 2]"],
        );
    }

    #[test]
    fn integer_literal_has_no_point() {
        check(literal(Literal::Int(-3)), expect!["-3"]);
    }

    #[test]
    fn integral_float_keeps_its_point() {
        check(literal(Literal::Float(1.0)), expect!["1.0"]);
    }

    #[test]
    fn float_prints_shortest_round_trip() {
        check(literal(Literal::Float(0.1)), expect!["0.1"]);
    }

    #[test]
    fn large_float_uses_an_exponent() {
        check(literal(Literal::Float(1e300)), expect!["1e300"]);
    }

    #[test]
    fn negative_zero_keeps_its_sign() {
        check(literal(Literal::Float(-0.0)), expect!["-0.0"]);
    }

    #[test]
    fn infinities() {
        check(
            format!("{} {}", literal(Literal::Float(f64::INFINITY)), literal(Literal::Float(f64::NEG_INFINITY))),
            expect!["inf -inf"],
        );
    }

    #[test]
    fn canonical_nan() {
        check(literal(Literal::Float(f64::NAN)), expect!["nan"]);
    }

    #[test]
    fn other_nan_prints_its_bits() {
        check(literal(Literal::Float(-f64::NAN)), expect!["nan(0xfff8000000000000)"]);
    }

    #[test]
    fn bool_literal() {
        check(literal(Literal::Bool(false)), expect!["false"]);
    }

    #[test]
    fn identifier_names_print_bare() {
        check(Name("_tile2").to_string(), expect!["_tile2"]);
    }

    #[test]
    fn other_names_are_quoted_and_escaped() {
        check(Name("a \"b\"\\\n").to_string(), expect![[r#""a \"b\"\\\n""#]]);
    }

    #[test]
    fn name_starting_with_a_digit_is_quoted() {
        check(Name("64").to_string(), expect![[r#""64""#]]);
    }

    #[test]
    fn out_of_range_param_prints_its_index() {
        let mut k = loop_sum();
        k.body.insts[1].op = Op::Dim { tensor: ParamId(7), axis: 0 };
        check(print_inst(&k, &k.body.insts[1]), expect!["%2 = dim %?7, 0 : i32"]);
    }

    #[test]
    fn for_with_missing_block_args_prints_placeholders() {
        let mut k = loop_sum();
        if let Op::For { body, .. } = &mut k.body.insts[3].op {
            body.args.clear();
        }
        check(print_inst(&k, &k.body.insts[3]), expect!["%7 = for ? = %1 to %2 step %3 iter(? = %1) : i32 { ... }"]);
    }

    #[test]
    fn missing_type_prints_placeholder() {
        let mut k = loop_sum();
        k.value_types.truncate(1);
        check(print_inst(&k, &k.body.insts[1]), expect!["%2 = dim %out, 0 : ?"]);
    }

    #[test]
    fn mismatched_const_dims_print_placeholder() {
        let p = Param::Tensor {
            name: "t".into(),
            dtype: DType::F32,
            dims: vec!["A".into(), "B".into()],
            const_dims: vec![None],
            aligned: false,
        };
        check(ParamDecl(&p).to_string(), expect!["%t: tensor<f32>[A, B = ?]"]);
    }

    #[test]
    fn block_args_where_none_belong_are_printed() {
        let mut k = loop_sum();
        k.grid.args.push(ValueId(0));
        check(print_kernel(&k).lines().nth(2).unwrap_or_default().to_string(), expect!["  grid args(%0: i32) {"]);
    }

    #[test]
    fn comparison_and_select() {
        let mut b = KernelBuilder::new("k", 1);
        let x = b.const_f32(1.5);
        let y = b.const_f32(2.0);
        let c = b.cmp(CmpOp::Le, x, y);
        b.select(c, x, y);
        let k = b.finish();
        check(
            print_inst(&k, &k.body.insts[2]) + "\n" + &print_inst(&k, &k.body.insts[3]),
            expect![[r#"
            %2 = cmp_le %0, %1 : bool
            %3 = select %2, %0, %1 : f32"#]],
        );
    }

    #[test]
    fn dot_and_trans() {
        let mut b = KernelBuilder::new("k", 1);
        let x = b.tensor_param("x", DType::BF16, &["N", "N"]);
        let zero = b.const_i32(0);
        let rows = Index::Range { start: zero, len: 64 };
        let cols = Index::Range { start: zero, len: 32 };
        let a = b.load(x, vec![rows, cols]);
        let t = b.trans(a);
        b.dot(a, t);
        let k = b.finish();
        check(
            print_inst(&k, &k.body.insts[2]) + "\n" + &print_inst(&k, &k.body.insts[3]),
            expect![[r#"
            %2 = trans %1 : bf16[32, 64]
            %3 = dot %1, %2 : f32[64, 64]"#]],
        );
    }
}
