//! Checks the invariants listed in ir/mod.rs and each op's documented typing.
//!
//! The front end's output and every pass's output go through here, so a failure is a
//! compiler bug; errors print the offending instruction in the text form
//! ([`super::print::print_inst`]) and name the rule it breaks.
//!
//! Beyond ir/mod.rs, two rules keep the text form unambiguous: param names are unique
//! (the text refers to params by name), and a tensor param has one `const_dims` entry
//! per dimension name.

use super::print::print_inst;
use super::{BinaryOp, Block, DType, Index, Inst, Kernel, Literal, Op, Param, ParamId, Type, UnaryOp, ValueId};
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("num_warps is {0}; it must be a power of two in 1..=32")]
    NumWarps(u32),
    #[error("num_groups is {0}; it must be a power of two in 1..={max}", max = super::MAX_GROUPS)]
    NumGroups(u32),
    #[error(
        "{groups} groups of {warps} warps are {threads} threads; a program has at most {max} threads",
        max = super::MAX_THREADS_PER_PROGRAM
    )]
    ThreadsPerProgram { groups: u32, warps: u32, threads: u32 },
    #[error("num_stages is {0}; it must be in {min}..={max}", min = super::MIN_STAGES, max = super::MAX_STAGES)]
    NumStages(u32),
    #[error(
        "occupancy is {programs} programs of {threads} threads; it must be in 1..={max} programs, \
         at most {max_threads} threads an SM",
        max = super::MAX_PROGRAMS_PER_SM,
        max_threads = super::MAX_THREADS_PER_SM
    )]
    Occupancy { programs: u32, threads: u32 },
    #[error("param `{0}` is declared more than once; params are named in the text form, so names must be unique")]
    DuplicateParam(String),
    #[error(
        "tensor param `{name}` has {dims} dimension name(s) but {const_dims} const_dims entries; \
         there must be one entry per dimension"
    )]
    ConstDims { name: String, dims: usize, const_dims: usize },
    #[error("the {block} block takes no arguments; it has {count}")]
    TopBlockArgs { block: &'static str, count: usize },
    #[error("the grid block must end with `yield` of the three i32 grid sizes")]
    GridWithoutYield,
    #[error("`{inst}`: {violation}")]
    Inst { inst: String, violation: Violation },
}

/// What is wrong with one instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("{value} has no type: value_types has only {len} entries")]
    NoType { value: ValueId, len: usize },
    #[error("{0} is not defined before this point in this block or an enclosing one")]
    NotInScope(ValueId),
    #[error("{0} is defined more than once")]
    Redefined(ValueId),
    #[error("{value} has type {ty}, but every tile dimension must be a power of two")]
    NotPowerOfTwo { value: ValueId, ty: Type },
    #[error("`{op}` defines {expected} result(s); it has {got}")]
    ResultCount { op: &'static str, expected: usize, got: usize },
    #[error("{what} has type {got}; expected {expected}")]
    Type { what: String, got: Type, expected: String },
    #[error("`{op}` on {dtype} is not supported; it takes {supported}")]
    DType { op: &'static str, dtype: DType, supported: &'static str },
    #[error(
        "literal {literal} does not fit the result type {ty}; bool takes true/false, i32 an integer in i32 \
         range, floats an integer or a float"
    )]
    Literal { literal: String, ty: Type },
    #[error("axis {axis} is out of range for {of}; supported: 0..{end}")]
    Axis { of: String, axis: u32, end: u32 },
    #[error("`dot` needs {dim} a multiple of {multiple} (the mma.sync m16n8k16 tile); got {got}")]
    DotShape { dim: &'static str, multiple: u32, got: u32 },
    #[error("{what} {len} is not a power of two")]
    Len { what: &'static str, len: u32 },
    #[error("param #{index} does not exist; the kernel has {count} params")]
    NoParam { index: u32, count: usize },
    #[error("param `{name}` is not a {needs} param, which `{op}` needs")]
    ParamKind { name: String, op: &'static str, needs: &'static str },
    #[error("{got} index(es) for tensor `{name}` of rank {rank}; there must be one per dimension")]
    IndexCount { name: String, rank: usize, got: usize },
    #[error("`yield` may only be the last instruction of a `for` body, an `if` block or the grid block")]
    MisplacedYield,
    #[error("the {block} block must end with `yield`")]
    MissingYield { block: &'static str },
    #[error("the {block} block yields {got} value(s); it must yield {expected}")]
    YieldCount { block: &'static str, expected: usize, got: usize },
    #[error("the {block} block takes no arguments; it has {count}")]
    BlockArgs { block: &'static str, count: usize },
    #[error("the for body has {got} argument(s); it takes {expected}: the induction variable and one per init value")]
    ForArgs { expected: usize, got: usize },
    #[error(
        "`{op}` is not allowed in the grid block; it holds only scalar const, dim, arg, binary, unary, cmp, select"
    )]
    NotInGrid { op: &'static str },
}

pub fn verify(kernel: &Kernel) -> Result<(), VerifyError> {
    if !(1..=32).contains(&kernel.num_warps) || !kernel.num_warps.is_power_of_two() {
        return Err(VerifyError::NumWarps(kernel.num_warps));
    }
    let (groups, warps) = (kernel.num_groups, kernel.num_warps);
    if !(1..=super::MAX_GROUPS).contains(&groups) || !groups.is_power_of_two() {
        return Err(VerifyError::NumGroups(groups));
    }
    if kernel.threads_per_program() > super::MAX_THREADS_PER_PROGRAM {
        return Err(VerifyError::ThreadsPerProgram { groups, warps, threads: kernel.threads_per_program() });
    }
    if !(super::MIN_STAGES..=super::MAX_STAGES).contains(&kernel.num_stages) {
        return Err(VerifyError::NumStages(kernel.num_stages));
    }
    if let Some(programs) = kernel.occupancy {
        let threads = kernel.threads_per_program();
        if !(1..=super::MAX_PROGRAMS_PER_SM).contains(&programs) || programs * threads > super::MAX_THREADS_PER_SM {
            return Err(VerifyError::Occupancy { programs, threads });
        }
    }
    let mut names = HashSet::new();
    for param in &kernel.params {
        if !names.insert(param.name()) {
            return Err(VerifyError::DuplicateParam(param.name().to_string()));
        }
        if let Param::Tensor { name, dims, const_dims, .. } = param {
            if dims.len() != const_dims.len() {
                let (dims, const_dims) = (dims.len(), const_dims.len());
                return Err(VerifyError::ConstDims { name: name.clone(), dims, const_dims });
            }
        }
    }
    for (block, name) in [(&kernel.grid, "grid"), (&kernel.body, "body")] {
        if !block.args.is_empty() {
            return Err(VerifyError::TopBlockArgs { block: name, count: block.args.len() });
        }
    }
    let n = kernel.value_types.len();
    let mut v = Verifier { k: kernel, defined: vec![false; n], visible: vec![false; n], scopes: Vec::new() };
    // The grid runs on the host before launch: its values are not visible in the body.
    v.scoped(|v| v.insts(&kernel.grid.insts, Context::Grid))?;
    if !ends_with_yield(&kernel.grid.insts) {
        return Err(VerifyError::GridWithoutYield);
    }
    v.scoped(|v| v.insts(&kernel.body.insts, Context::Body))
}

/// Where a block sits, which decides what its `yield` must carry.
#[derive(Clone, Copy)]
enum Context<'a> {
    Grid,
    Body,
    Nested { block: &'static str, yields: &'a [Type] },
}

fn ends_with_yield(insts: &[Inst]) -> bool {
    matches!(insts.last(), Some(Inst { op: Op::Yield { .. }, .. }))
}

/// The host evaluates these on scalars. Scalar-ness needs no separate check: these ops
/// cannot make a tile out of the scalars that `const`, `dim` and `arg` produce.
fn allowed_in_grid(op: &Op) -> bool {
    matches!(
        op,
        Op::Const(_)
            | Op::Dim { .. }
            | Op::Arg { .. }
            | Op::Binary { .. }
            | Op::Unary { .. }
            | Op::Cmp { .. }
            | Op::Select { .. }
            | Op::Yield { .. }
    )
}

const NUMERIC: &str = "i32, f16, bf16 or f32";
const FLOAT: &str = "f16, bf16 or f32";

fn is_numeric(dtype: DType) -> bool {
    dtype != DType::Bool
}

fn supports(op: &'static str, dtype: DType, ok: bool, supported: &'static str) -> Result<(), Violation> {
    if ok {
        Ok(())
    } else {
        Err(Violation::DType { op, dtype, supported })
    }
}

/// `got == expected`, else a type violation for `what`; `why` says where `expected` comes from.
fn same(what: impl FnOnce() -> String, got: &Type, expected: &Type, why: &str) -> Result<(), Violation> {
    if got == expected {
        return Ok(());
    }
    Err(Violation::Type { what: what(), got: got.clone(), expected: format!("{expected}{why}") })
}

fn mismatch(what: String, got: &Type, expected: impl Into<String>) -> Violation {
    Violation::Type { what, got: got.clone(), expected: expected.into() }
}

/// The two dimensions of a rank-2 type, else a violation saying `what` was `expected`.
fn rank2(t: &Type, what: impl FnOnce() -> String, expected: &str) -> Result<[u32; 2], Violation> {
    match t.shape[..] {
        [a, b] => Ok([a, b]),
        _ => Err(mismatch(what(), t, expected)),
    }
}

fn operand(role: &str, v: ValueId) -> impl FnOnce() -> String + '_ {
    move || format!("operand `{role}` ({v})")
}

fn result(v: ValueId) -> impl FnOnce() -> String {
    move || format!("result {v}")
}

struct Verifier<'k> {
    k: &'k Kernel,
    /// Defined anywhere so far: SSA ids are unique across the whole kernel.
    defined: Vec<bool>,
    /// Defined in the current block or an enclosing one.
    visible: Vec<bool>,
    /// Values defined by each open block, hidden again when it closes.
    scopes: Vec<Vec<ValueId>>,
}

impl<'k> Verifier<'k> {
    fn scoped<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.scopes.push(Vec::new());
        let out = f(self);
        for v in self.scopes.pop().unwrap_or_default() {
            self.visible[v.0 as usize] = false;
        }
        out
    }

    fn type_of(&self, v: ValueId) -> Result<&'k Type, Violation> {
        let types = &self.k.value_types;
        types.get(v.0 as usize).ok_or(Violation::NoType { value: v, len: types.len() })
    }

    fn use_(&self, v: ValueId) -> Result<&'k Type, Violation> {
        let ty = self.type_of(v)?;
        if !self.visible[v.0 as usize] {
            return Err(Violation::NotInScope(v));
        }
        Ok(ty)
    }

    fn def(&mut self, v: ValueId) -> Result<&'k Type, Violation> {
        let ty = self.type_of(v)?;
        let i = v.0 as usize;
        if self.defined[i] {
            return Err(Violation::Redefined(v));
        }
        if !ty.shape.iter().all(|d| d.is_power_of_two()) {
            return Err(Violation::NotPowerOfTwo { value: v, ty: ty.clone() });
        }
        self.defined[i] = true;
        self.visible[i] = true;
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(v);
        }
        Ok(ty)
    }

    fn i32_scalar(&self, role: &str, v: ValueId) -> Result<(), Violation> {
        let ty = self.use_(v)?;
        same(operand(role, v), ty, &Type::scalar(DType::I32), "")
    }

    fn param(&self, id: ParamId, op: &'static str, tensor: bool) -> Result<&'k Param, Violation> {
        let params = &self.k.params;
        let param = params.get(id.0 as usize).ok_or(Violation::NoParam { index: id.0, count: params.len() })?;
        if matches!(param, Param::Tensor { .. }) != tensor {
            let needs = if tensor { "tensor" } else { "scalar" };
            return Err(Violation::ParamKind { name: param.name().to_string(), op, needs });
        }
        Ok(param)
    }

    fn insts(&mut self, insts: &[Inst], ctx: Context<'_>) -> Result<(), VerifyError> {
        for (i, inst) in insts.iter().enumerate() {
            self.inst(inst, ctx, i + 1 == insts.len())?;
        }
        Ok(())
    }

    /// Checks one instruction and defines its results. Only `for` and `if` recurse, and
    /// they keep their own frame small (the checks live in helpers), because nesting depth
    /// is bounded only by the parser's limit and debug builds use big frames.
    fn inst(&mut self, inst: &Inst, ctx: Context<'_>, last: bool) -> Result<(), VerifyError> {
        let k = self.k;
        let at = move |violation| VerifyError::Inst { inst: print_inst(k, inst), violation };
        if matches!(ctx, Context::Grid) && !allowed_in_grid(&inst.op) {
            return Err(at(Violation::NotInGrid { op: super::op_name(&inst.op) }));
        }
        match &inst.op {
            Op::For { lower, upper, step, init, body } => {
                let init_types = self.for_head(inst, [*lower, *upper, *step], init, body).map_err(at)?;
                self.scoped(|v| {
                    v.for_args(&body.args, &init_types).map_err(at)?;
                    v.insts(&body.insts, Context::Nested { block: "for body", yields: &init_types })
                })?;
                self.for_results(&inst.results, &init_types).map_err(at)
            }
            Op::If { cond, then_block, else_block } => {
                let types = self.if_head(inst, *cond, [then_block, else_block]).map_err(at)?;
                for (block, name) in [(then_block, "then"), (else_block, "else")] {
                    self.scoped(|v| v.insts(&block.insts, Context::Nested { block: name, yields: &types }))?;
                }
                inst.results.iter().try_for_each(|&r| self.def(r).map(drop)).map_err(at)
            }
            _ => self.plain(inst, ctx, last).map_err(at),
        }
    }

    fn result_count(inst: &Inst, expected: usize) -> Result<(), Violation> {
        if inst.results.len() == expected {
            return Ok(());
        }
        Err(Violation::ResultCount { op: super::op_name(&inst.op), expected, got: inst.results.len() })
    }

    /// A `for`'s operands and shape; returns the init types, which the body arguments,
    /// the yield and the results must all have.
    fn for_head(
        &self,
        inst: &Inst,
        bounds: [ValueId; 3],
        init: &[ValueId],
        body: &Block,
    ) -> Result<Vec<Type>, Violation> {
        for (role, v) in ["lower", "upper", "step"].into_iter().zip(bounds) {
            self.i32_scalar(role, v)?;
        }
        let init_types = init.iter().map(|&v| self.use_(v).cloned()).collect::<Result<Vec<_>, _>>()?;
        Self::result_count(inst, init.len())?;
        if body.args.len() != init.len() + 1 {
            return Err(Violation::ForArgs { expected: init.len() + 1, got: body.args.len() });
        }
        if !ends_with_yield(&body.insts) {
            return Err(Violation::MissingYield { block: "for body" });
        }
        Ok(init_types)
    }

    /// Defines the induction variable and the carried values (arity checked by `for_head`).
    fn for_args(&mut self, args: &[ValueId], init_types: &[Type]) -> Result<(), Violation> {
        let Some((&iv, carried)) = args.split_first() else {
            return Err(Violation::ForArgs { expected: init_types.len() + 1, got: 0 });
        };
        let iv_ty = self.def(iv)?;
        same(|| format!("induction variable {iv}"), iv_ty, &Type::scalar(DType::I32), "")?;
        for (i, (&arg, ty)) in carried.iter().zip(init_types).enumerate() {
            let got = self.def(arg)?;
            same(|| format!("loop-carried argument {arg}"), got, ty, &format!(" (the type of init {i})"))?;
        }
        Ok(())
    }

    fn for_results(&mut self, results: &[ValueId], init_types: &[Type]) -> Result<(), Violation> {
        for (i, (&r, ty)) in results.iter().zip(init_types).enumerate() {
            let got = self.def(r)?;
            same(result(r), got, ty, &format!(" (the type of init {i})"))?;
        }
        Ok(())
    }

    /// An `if`'s condition and blocks' shape; returns the result types its blocks yield.
    fn if_head(&self, inst: &Inst, cond: ValueId, blocks: [&Block; 2]) -> Result<Vec<Type>, Violation> {
        let cond_ty = self.use_(cond)?;
        same(operand("cond", cond), cond_ty, &Type::scalar(DType::Bool), "")?;
        let types = inst.results.iter().map(|&r| self.type_of(r).cloned()).collect::<Result<Vec<_>, _>>()?;
        for (block, name) in blocks.into_iter().zip(["then", "else"]) {
            if !block.args.is_empty() {
                return Err(Violation::BlockArgs { block: name, count: block.args.len() });
            }
            if !ends_with_yield(&block.insts) {
                return Err(Violation::MissingYield { block: name });
            }
        }
        Ok(types)
    }

    /// Every op without blocks.
    fn plain(&mut self, inst: &Inst, ctx: Context<'_>, last: bool) -> Result<(), Violation> {
        match &inst.op {
            Op::Yield { values } => {
                Self::result_count(inst, 0)?;
                self.yield_(values, ctx, last)
            }
            Op::Store { tensor, indices, value } => {
                Self::result_count(inst, 0)?;
                let tile = self.access(*tensor, indices, "store")?;
                let got = self.use_(*value)?;
                same(operand("value", *value), got, &tile, " (the tensor's dtype, shaped by the ranges and scatters)")
            }
            op => {
                Self::result_count(inst, 1)?;
                for &r in &inst.results {
                    let ty = self.type_of(r)?;
                    self.value_op(op, r, ty)?;
                    self.def(r)?;
                }
                Ok(())
            }
        }
    }

    fn yield_(&self, values: &[ValueId], ctx: Context<'_>, last: bool) -> Result<(), Violation> {
        let (block, expected): (&'static str, Vec<Type>) = match ctx {
            Context::Body => return Err(Violation::MisplacedYield),
            _ if !last => return Err(Violation::MisplacedYield),
            Context::Grid => ("grid", vec![Type::scalar(DType::I32); 3]),
            Context::Nested { block, yields } => (block, yields.to_vec()),
        };
        if values.len() != expected.len() {
            return Err(Violation::YieldCount { block, expected: expected.len(), got: values.len() });
        }
        for (i, (&v, want)) in values.iter().zip(&expected).enumerate() {
            let got = self.use_(v)?;
            same(|| format!("yielded value {i} ({v})"), got, want, &format!(" (result {i} of the {block} block)"))?;
        }
        Ok(())
    }

    /// Checks a load's or store's param and indices; returns the tile type they address.
    fn access(&self, tensor: ParamId, indices: &[Index], op: &'static str) -> Result<Type, Violation> {
        let param = self.param(tensor, op, true)?;
        let rank = match param {
            Param::Tensor { dims, .. } => dims.len(),
            Param::Scalar { .. } => 0,
        };
        if indices.len() != rank {
            return Err(Violation::IndexCount { name: param.name().to_string(), rank, got: indices.len() });
        }
        let mut shape = Vec::new();
        for index in indices {
            match *index {
                Index::Point(v) => self.i32_scalar("index", v)?,
                Index::Range { start, len } => {
                    self.i32_scalar("range start", start)?;
                    if !len.is_power_of_two() {
                        return Err(Violation::Len { what: "range length", len });
                    }
                    shape.push(len);
                }
                Index::Gather(v) => {
                    let ty = self.use_(v)?;
                    if ty.dtype != DType::I32 || ty.rank() != 1 {
                        return Err(mismatch(operand("gather", v)(), ty, "an i32 tile of rank 1"));
                    }
                    shape.extend_from_slice(&ty.shape);
                }
            }
        }
        Ok(Type::tile(param.dtype(), shape))
    }

    /// Operand and result types of an op with one result and no blocks.
    fn value_op(&self, op: &Op, r: ValueId, ty: &Type) -> Result<(), Violation> {
        let name = super::op_name(op);
        match op {
            Op::Const(lit) => {
                let fits = match (*lit, ty.dtype) {
                    (Literal::Bool(_), DType::Bool) => true,
                    (Literal::Int(v), DType::I32) => i32::try_from(v).is_ok(),
                    (Literal::Int(_) | Literal::Float(_), d) => d.is_float(),
                    _ => false,
                };
                if !ty.is_scalar() {
                    return Err(mismatch(result(r)(), ty, "a scalar"));
                }
                if !fits {
                    let literal = super::print::print_literal(*lit);
                    return Err(Violation::Literal { literal, ty: ty.clone() });
                }
                Ok(())
            }
            Op::GroupId => same(result(r), ty, &Type::scalar(DType::I32), ""),
            Op::ProgramId { axis } => {
                if *axis >= 3 {
                    return Err(Violation::Axis { of: "program_id".into(), axis: u32::from(*axis), end: 3 });
                }
                same(result(r), ty, &Type::scalar(DType::I32), "")
            }
            Op::Dim { tensor, axis } => {
                let param = self.param(*tensor, name, true)?;
                let rank = match param {
                    Param::Tensor { dims, .. } => dims.len() as u32,
                    Param::Scalar { .. } => 0,
                };
                if *axis >= rank {
                    return Err(Violation::Axis {
                        of: format!("tensor `{}` of rank {rank}", param.name()),
                        axis: *axis,
                        end: rank,
                    });
                }
                same(result(r), ty, &Type::scalar(DType::I32), "")
            }
            Op::Arg { param } => {
                let param = self.param(*param, name, false)?;
                same(result(r), ty, &Type::scalar(param.dtype()), " (the param's dtype)")
            }
            Op::Arange { start, len } => {
                self.i32_scalar("start", *start)?;
                if !len.is_power_of_two() {
                    return Err(Violation::Len { what: "arange length", len: *len });
                }
                same(result(r), ty, &Type::tile(DType::I32, vec![*len]), "")
            }
            Op::Splat { value } => {
                let v = self.use_(*value)?;
                if !v.is_scalar() {
                    return Err(mismatch(operand("value", *value)(), v, "a scalar"));
                }
                if ty.dtype != v.dtype {
                    return Err(mismatch(result(r)(), ty, format!("a {} tile (the dtype of `value`)", v.dtype)));
                }
                Ok(())
            }
            Op::ExpandDims { value, axis } => {
                let v = self.use_(*value)?;
                if *axis as usize > v.rank() {
                    let of = format!("expand_dims of a rank-{} value", v.rank());
                    return Err(Violation::Axis { of, axis: *axis, end: v.rank() as u32 + 1 });
                }
                let mut expected = v.clone();
                expected.shape.insert(*axis as usize, 1);
                same(result(r), ty, &expected, " (`value` with a 1 inserted at `axis`)")
            }
            Op::Broadcast { value } => {
                let v = self.use_(*value)?;
                let fits = ty.dtype == v.dtype
                    && ty.rank() == v.rank()
                    && v.shape.iter().zip(&ty.shape).all(|(&from, &to)| from == to || from == 1);
                if !fits {
                    let expected =
                        format!("a broadcast of {v}: same dtype and rank, only dimensions of size 1 changed");
                    return Err(mismatch(result(r)(), ty, expected));
                }
                Ok(())
            }
            Op::Binary { op, lhs, rhs } => {
                let l = self.use_(*lhs)?;
                let (ok, supported) = match op {
                    BinaryOp::And | BinaryOp::Or => (l.dtype == DType::Bool, "bool"),
                    BinaryOp::Rem => (l.dtype == DType::I32, "i32"),
                    _ => (is_numeric(l.dtype), NUMERIC),
                };
                supports(name, l.dtype, ok, supported)?;
                self.same_as_lhs(l, *rhs)?;
                same(result(r), ty, l, " (the operand type)")
            }
            Op::Unary { op, value } => {
                let v = self.use_(*value)?;
                let (ok, supported) = match op {
                    UnaryOp::Not => (v.dtype == DType::Bool, "bool"),
                    UnaryOp::Neg | UnaryOp::Abs => (is_numeric(v.dtype), NUMERIC),
                    _ => (v.dtype.is_float(), FLOAT),
                };
                supports(name, v.dtype, ok, supported)?;
                same(result(r), ty, v, " (the operand type)")
            }
            Op::Cmp { lhs, rhs, .. } => {
                let l = self.use_(*lhs)?;
                self.same_as_lhs(l, *rhs)?;
                same(result(r), ty, &l.with_dtype(DType::Bool), " (the operand shape with dtype bool)")
            }
            Op::Select { cond, on_true, on_false } => {
                let t = self.use_(*on_true)?;
                let f = self.use_(*on_false)?;
                same(operand("on_false", *on_false), f, t, " (the type of `on_true`)")?;
                let c = self.use_(*cond)?;
                same(operand("cond", *cond), c, &t.with_dtype(DType::Bool), " (`on_true`'s shape with dtype bool)")?;
                same(result(r), ty, t, " (the type of `on_true`)")
            }
            Op::Cast { value } => {
                let v = self.use_(*value)?;
                if ty.shape != v.shape {
                    return Err(mismatch(result(r)(), ty, format!("the shape of {v} with any dtype")));
                }
                Ok(())
            }
            Op::Dot { lhs, rhs } => self.dot(*lhs, *rhs, r, ty),
            Op::Trans { value } => {
                let v = self.use_(*value)?;
                let [m, n] = rank2(v, operand("value", *value), "a rank-2 tile")?;
                same(result(r), ty, &Type::tile(v.dtype, vec![n, m]), " (`value` with its two dimensions swapped)")
            }
            Op::BinSum { value, bins } => self.bin_sum(*value, *bins, r, ty),
            Op::Reduce { value, axis, .. } | Op::Scan { value, axis, .. } => {
                let scan = matches!(op, Op::Scan { .. });
                let v = self.use_(*value)?;
                if *axis as usize >= v.rank() {
                    let what = if scan { "scan" } else { "reduction" };
                    let of = format!("a {what} of a rank-{} value", v.rank());
                    return Err(Violation::Axis { of, axis: *axis, end: v.rank() as u32 });
                }
                supports(name, v.dtype, is_numeric(v.dtype), NUMERIC)?;
                if scan {
                    return same(result(r), ty, v, " (`value`'s)");
                }
                let mut expected = v.clone();
                expected.shape.remove(*axis as usize);
                same(result(r), ty, &expected, " (`value` without `axis`)")
            }
            Op::Load { tensor, indices } => {
                let tile = self.access(*tensor, indices, name)?;
                same(result(r), ty, &tile, " (the tensor's dtype, shaped by the ranges and gathers)")
            }
            // `inst` and `plain` check these themselves and never route them here; should
            // that change, their result count is what would be wrong.
            Op::Store { .. } | Op::For { .. } | Op::If { .. } | Op::Yield { .. } => {
                Err(Violation::ResultCount { op: name, expected: 0, got: 1 })
            }
        }
    }

    /// `[M, K] @ [K, N] -> f32[M, N]` on bf16 or f16, in whole m16n8k16 tiles.
    fn dot(&self, lhs: ValueId, rhs: ValueId, r: ValueId, ty: &Type) -> Result<(), Violation> {
        let l = self.use_(lhs)?;
        supports("dot", l.dtype, matches!(l.dtype, DType::BF16 | DType::F16), "bf16 or f16")?;
        let [m, k] = rank2(l, operand("lhs", lhs), "a rank-2 tile [M, K]")?;
        let rt = self.use_(rhs)?;
        let [rk, n] = rank2(rt, operand("rhs", rhs), "a rank-2 tile [K, N]")?;
        if rt.dtype != l.dtype || rk != k {
            let expected = format!("{}[{k}, N] (dtype and K from `lhs`)", l.dtype);
            return Err(mismatch(operand("rhs", rhs)(), rt, expected));
        }
        for (dim, multiple, got) in [("M", 16, m), ("K", 16, k), ("N", 8, n)] {
            if got % multiple != 0 {
                return Err(Violation::DotShape { dim, multiple, got });
            }
        }
        same(result(r), ty, &Type::tile(DType::F32, vec![m, n]), " (f32 [M, N])")
    }

    /// An f32 or i32 tile and i32 bins of its shape into `[N]` of the tile's dtype.
    fn bin_sum(&self, value: ValueId, bins: ValueId, r: ValueId, ty: &Type) -> Result<(), Violation> {
        let v = self.use_(value)?;
        supports("bin_sum", v.dtype, matches!(v.dtype, DType::F32 | DType::I32), "f32 or i32")?;
        if v.is_scalar() {
            return Err(mismatch(operand("value", value)(), v, format!("a {} tile", v.dtype)));
        }
        let b = self.use_(bins)?;
        same(operand("bins", bins), b, &v.with_dtype(DType::I32), " (`value`'s shape with dtype i32)")?;
        if ty.dtype != v.dtype || ty.rank() != 1 {
            return Err(mismatch(result(r)(), ty, format!("{}[N], one sum per bin", v.dtype)));
        }
        Ok(())
    }

    /// Elementwise operands agree exactly: the front end made any broadcast explicit.
    fn same_as_lhs(&self, lhs: &Type, rhs: ValueId) -> Result<(), Violation> {
        let r = self.use_(rhs)?;
        same(operand("rhs", rhs), r, lhs, " (the type of `lhs`)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::builder::KernelBuilder;
    use crate::ir::parse::parse_kernel;
    use expect_test::{expect, Expect};

    const HEAD: &str = "kernel @k warps(4) {
  param %x: tensor<f32>[N]
  param %m: tensor<bf16>[M, K]
  param %s: f32
  param %b: bool
  grid {
    %0 = const 1 : i32
    yield %0, %0, %0
  }
";

    fn outcome(kernel: &Kernel) -> String {
        match verify(kernel) {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        }
    }

    fn parsed(text: &str) -> Kernel {
        match parse_kernel(text) {
            Ok(k) => k,
            Err(e) => panic!("test input does not parse: {e}\n{text}"),
        }
    }

    /// Verifies a kernel whose body is `body`; body ids start at %1.
    fn check(body: &str, expected: Expect) {
        expected.assert_eq(&outcome(&parsed(&format!("{HEAD}  body {{\n{body}\n  }}\n}}\n"))));
    }

    /// Verifies a kernel with the grid block `grid` (ids from %0) and an empty body.
    fn check_grid(grid: &str, expected: Expect) {
        let text =
            format!("{}  grid {{\n{grid}\n  }}\n  body {{\n  }}\n}}\n", &HEAD[..HEAD.find("  grid").unwrap_or(0)]);
        expected.assert_eq(&outcome(&parsed(&text)));
    }

    fn check_kernel(kernel: &Kernel, expected: Expect) {
        expected.assert_eq(&outcome(kernel));
    }

    /// A valid kernel built in code, for the breakages the text form cannot express.
    fn built() -> Kernel {
        let mut b = KernelBuilder::new("k", 4);
        let x = b.tensor_param("x", DType::F32, &["N"]);
        b.grid(|b| {
            let one = b.const_i32(1);
            [one, one, one]
        });
        let zero = b.const_i32(0);
        let n = b.dim(x, 0);
        let one = b.const_i32(1);
        let sum = b.const_f32(0.0);
        let out = b.for_loop(zero, n, one, vec![sum], |b, i, acc| {
            let v = b.load(x, vec![Index::Point(i)]);
            vec![b.binary(BinaryOp::Add, acc[0], v)]
        });
        b.store(x, vec![Index::Point(zero)], out[0]);
        b.finish()
    }

    #[test]
    fn built_kernel_is_valid() {
        check_kernel(&built(), expect!["ok"]);
    }

    #[test]
    fn every_value_op_well_typed_is_valid() {
        check(
            "    %1 = program_id 2 : i32
    %2 = dim %m, 1 : i32
    %3 = arg %s : f32
    %4 = arange %1, 16 : i32[16]
    %5 = splat %3 : f32[16]
    %6 = expand_dims %5, 0 : f32[1, 16]
    %7 = broadcast %6 : f32[8, 16]
    %8 = exp2 %7 : f32[8, 16]
    %9 = cmp_gt %8, %7 : bool[8, 16]
    %10 = select %9, %8, %7 : f32[8, 16]
    %11 = cast %10 : bf16[8, 16]
    %12 = reduce_max %10, 1 : f32[8]
    %13 = load %m[%1 +: 8, %2 +: 16] : bf16[8, 16]
    %14 = rem %1, %2 : i32
    %15 = arg %b : bool
    %16 = not %15 : bool
    %17 = const 2.5 : f32
    %18 = const 2 : bf16
    %19 = load %m[%1 +: 16, %2 +: 16] : bf16[16, 16]
    %20 = trans %19 : bf16[16, 16]
    %21 = dot %19, %20 : f32[16, 16]
    store %m[%1 +: 8, %2 +: 16], %11
    store %x[%1], %3",
            expect!["ok"],
        );
    }

    #[test]
    fn num_warps_must_be_a_power_of_two() {
        let mut k = built();
        k.num_warps = 3;
        check_kernel(&k, expect!["num_warps is 3; it must be a power of two in 1..=32"]);
    }

    #[test]
    fn num_warps_at_most_32() {
        let mut k = built();
        k.num_warps = 64;
        check_kernel(&k, expect!["num_warps is 64; it must be a power of two in 1..=32"]);
    }

    #[test]
    fn num_groups_up_to_max_groups_is_valid() {
        let mut k = built();
        for groups in [1, 2, 4] {
            k.num_groups = groups;
            assert_eq!(verify(&k), Ok(()), "{groups} groups");
        }
    }

    #[test]
    fn num_groups_must_be_a_power_of_two() {
        let mut k = built();
        k.num_groups = 3;
        check_kernel(&k, expect!["num_groups is 3; it must be a power of two in 1..=4"]);
    }

    #[test]
    fn num_groups_zero_is_rejected() {
        let mut k = built();
        k.num_groups = 0;
        check_kernel(&k, expect!["num_groups is 0; it must be a power of two in 1..=4"]);
    }

    #[test]
    fn num_groups_at_most_max_groups() {
        let mut k = built();
        k.num_groups = 8;
        check_kernel(&k, expect!["num_groups is 8; it must be a power of two in 1..=4"]);
    }

    #[test]
    fn groups_of_warps_at_most_1024_threads() {
        let mut k = built();
        (k.num_groups, k.num_warps) = (4, 8);
        check_kernel(&k, expect!["ok"]);
        (k.num_groups, k.num_warps) = (2, 32);
        check_kernel(&k, expect!["2 groups of 32 warps are 2048 threads; a program has at most 1024 threads"]);
    }

    #[test]
    fn num_groups_parsed_from_text_is_verified() {
        let text = HEAD.replace("warps(4) {", "warps(16) groups(4) {") + "  body {\n  }\n}\n";
        let k = parse_kernel(&text).map_err(|e| e.to_string());
        assert_eq!(
            k.map(|k| verify(&k).map_err(|e| e.to_string())),
            Ok(Err("4 groups of 16 warps are 2048 threads; a program has at most 1024 threads".into()))
        );
    }

    #[test]
    fn occupancy_counts_every_groups_threads() {
        let mut k = built();
        (k.num_groups, k.occupancy) = (4, Some(5));
        check_kernel(
            &k,
            expect![
                "occupancy is 5 programs of 512 threads; it must be in 1..=32 programs, at most 2048 threads an SM"
            ],
        );
    }

    #[test]
    fn num_stages_at_least_2() {
        let mut k = built();
        for stages in [0, 1] {
            k.num_stages = stages;
            assert_eq!(
                verify(&k).map_err(|e| e.to_string()),
                Err(format!("num_stages is {stages}; it must be in 2..=8"))
            );
        }
    }

    #[test]
    fn num_stages_at_most_8() {
        let mut k = built();
        k.num_stages = 8;
        check_kernel(&k, expect!["ok"]);
        k.num_stages = 9;
        check_kernel(&k, expect!["num_stages is 9; it must be in 2..=8"]);
    }

    #[test]
    fn num_stages_parsed_from_text_is_verified() {
        let text = HEAD.replace("warps(4) {", "warps(4) stages(1) {") + "  body {\n  }\n}\n";
        let k = parse_kernel(&text).map_err(|e| e.to_string());
        assert_eq!(
            k.map(|k| verify(&k).map_err(|e| e.to_string())),
            Ok(Err("num_stages is 1; it must be in 2..=8".into()))
        );
    }

    #[test]
    fn occupancy_past_the_threads_an_sm_holds_parsed_from_text_is_verified() {
        let text = HEAD.replace("warps(4) {", "warps(4) occupancy(17) {") + "  body {\n  }\n}\n";
        let k = parse_kernel(&text).map_err(|e| e.to_string());
        assert_eq!(
            k.map(|k| verify(&k).map_err(|e| e.to_string())),
            Ok(Err(
                "occupancy is 17 programs of 128 threads; it must be in 1..=32 programs, at most 2048 threads an SM"
                    .into()
            ))
        );
    }

    #[test]
    fn occupancy_zero_is_rejected() {
        let mut k = built();
        k.occupancy = Some(0);
        check_kernel(
            &k,
            expect![
                "occupancy is 0 programs of 128 threads; it must be in 1..=32 programs, at most 2048 threads an SM"
            ],
        );
    }

    #[test]
    fn duplicate_param_names() {
        let mut k = built();
        k.params.push(Param::Scalar { name: "x".into(), dtype: DType::F32 });
        check_kernel(
            &k,
            expect!["param `x` is declared more than once; params are named in the text form, so names must be unique"],
        );
    }

    #[test]
    fn const_dims_must_match_dims() {
        let mut k = built();
        k.params[0] = Param::Tensor {
            name: "x".into(),
            dtype: DType::F32,
            dims: vec!["N".into()],
            const_dims: vec![],
            aligned: false,
        };
        check_kernel(&k, expect!["tensor param `x` has 1 dimension name(s) but 0 const_dims entries; there must be one entry per dimension"]);
    }

    #[test]
    fn body_takes_no_arguments() {
        let text = format!("{HEAD}  body args(%1: i32) {{\n  }}\n}}\n");
        check_kernel(&parsed(&text), expect!["the body block takes no arguments; it has 1"]);
    }

    #[test]
    fn grid_must_end_with_yield() {
        check_grid(
            "    %0 = const 1 : i32",
            expect!["the grid block must end with `yield` of the three i32 grid sizes"],
        );
    }

    #[test]
    fn grid_yields_three_values() {
        check_grid(
            "    %0 = const 1 : i32\n    yield %0, %0",
            expect!["`yield %0, %0`: the grid block yields 2 value(s); it must yield 3"],
        );
    }

    #[test]
    fn grid_yields_i32() {
        check_grid(
            "    %0 = const 1 : i32\n    %1 = const true : bool\n    yield %0, %1, %0",
            expect![
                "`yield %0, %1, %0`: yielded value 1 (%1) has type bool; expected i32 (result 1 of the grid block)"
            ],
        );
    }

    #[test]
    fn grid_rejects_tile_ops() {
        check_grid("    %0 = const 1 : i32\n    %1 = arange %0, 4 : i32[4]\n    yield %0, %0, %0", expect!["`%1 = arange %0, 4 : i32[4]`: `arange` is not allowed in the grid block; it holds only scalar const, dim, arg, binary, unary, cmp, select"]);
    }

    #[test]
    fn grid_rejects_program_id() {
        check_grid("    %0 = program_id 0 : i32\n    yield %0, %0, %0", expect!["`%0 = program_id 0 : i32`: `program_id` is not allowed in the grid block; it holds only scalar const, dim, arg, binary, unary, cmp, select"]);
    }

    #[test]
    fn grid_rejects_group_id() {
        check_grid("    %0 = group_id : i32\n    yield %0, %0, %0", expect!["`%0 = group_id : i32`: `group_id` is not allowed in the grid block; it holds only scalar const, dim, arg, binary, unary, cmp, select"]);
    }

    #[test]
    fn grid_values_are_not_visible_in_the_body() {
        check(
            "    %1 = neg %0 : i32",
            expect!["`%1 = neg %0 : i32`: %0 is not defined before this point in this block or an enclosing one"],
        );
    }

    #[test]
    fn value_types_must_cover_every_id() {
        let mut k = built();
        k.value_types.truncate(8);
        check_kernel(&k, expect!["`%8 = add %6, %7 : ?`: %8 has no type: value_types has only 8 entries"]);
    }

    #[test]
    fn use_before_definition() {
        check(
            "    %1 = neg %2 : i32\n    %2 = const 1 : i32",
            expect!["`%1 = neg %2 : i32`: %2 is not defined before this point in this block or an enclosing one"],
        );
    }

    #[test]
    fn use_of_a_value_from_a_sibling_block() {
        check(
            "    %1 = arg %b : bool
    %4 = if %1 : i32 {
      %2 = const 1 : i32
      yield %2
    } else {
      yield %2
    }
    %3 = const 0 : i32",
            expect!["`yield %2`: %2 is not defined before this point in this block or an enclosing one"],
        );
    }

    #[test]
    fn loop_body_values_are_not_visible_after_the_loop() {
        check(
            "    %1 = const 0 : i32
    for %2: i32 = %1 to %1 step %1 {
      %3 = add %2, %2 : i32
      yield
    }
    %4 = neg %3 : i32",
            expect!["`%4 = neg %3 : i32`: %3 is not defined before this point in this block or an enclosing one"],
        );
    }

    #[test]
    fn a_value_defined_twice() {
        let mut k = built();
        let dup = k.body.insts[0].clone();
        k.body.insts.insert(1, dup);
        check_kernel(&k, expect!["`%1 = const 0 : i32`: %1 is defined more than once"]);
    }

    #[test]
    fn tile_dimensions_are_powers_of_two() {
        check(
            "    %1 = arg %s : f32\n    %2 = splat %1 : f32[3]",
            expect!["`%2 = splat %1 : f32[3]`: %2 has type f32[3], but every tile dimension must be a power of two"],
        );
    }

    #[test]
    fn zero_is_not_a_power_of_two() {
        check(
            "    %1 = arg %s : f32\n    %2 = splat %1 : f32[0, 4]",
            expect![
                "`%2 = splat %1 : f32[0, 4]`: %2 has type f32[0, 4], but every tile dimension must be a power of two"
            ],
        );
    }

    #[test]
    fn value_op_with_two_results() {
        check(
            "    %1, %2 = const 1 : i32, i32",
            expect!["`%1, %2 = const 1 : i32, i32`: `const` defines 1 result(s); it has 2"],
        );
    }

    #[test]
    fn store_has_no_results() {
        check(
            "    %1 = const 0 : i32\n    %2 = arg %s : f32\n    %3 = store %x[%1], %2 : f32",
            expect!["`%3 = store %x[%1], %2 : f32`: `store` defines 0 result(s); it has 1"],
        );
    }

    #[test]
    fn const_is_scalar() {
        check(
            "    %1 = const 1 : i32[4]",
            expect!["`%1 = const 1 : i32[4]`: result %1 has type i32[4]; expected a scalar"],
        );
    }

    #[test]
    fn float_literal_is_not_an_i32() {
        check("    %1 = const 1.5 : i32", expect!["`%1 = const 1.5 : i32`: literal 1.5 does not fit the result type i32; bool takes true/false, i32 an integer in i32 range, floats an integer or a float"]);
    }

    #[test]
    fn i32_literal_in_range() {
        check("    %1 = const 5000000000 : i32", expect!["`%1 = const 5000000000 : i32`: literal 5000000000 does not fit the result type i32; bool takes true/false, i32 an integer in i32 range, floats an integer or a float"]);
    }

    #[test]
    fn bool_literal_is_not_a_float() {
        check("    %1 = const true : f32", expect!["`%1 = const true : f32`: literal true does not fit the result type f32; bool takes true/false, i32 an integer in i32 range, floats an integer or a float"]);
    }

    #[test]
    fn program_id_axis_below_three() {
        check(
            "    %1 = program_id 3 : i32",
            expect!["`%1 = program_id 3 : i32`: axis 3 is out of range for program_id; supported: 0..3"],
        );
    }

    #[test]
    fn program_id_is_i32() {
        check(
            "    %1 = program_id 0 : f32",
            expect!["`%1 = program_id 0 : f32`: result %1 has type f32; expected i32"],
        );
    }

    #[test]
    fn group_id_is_an_i32_scalar() {
        check("    %1 = group_id : i32\n    %2 = arg %s : f32\n    store %x[%1], %2", expect!["ok"]);
    }

    #[test]
    fn group_id_is_i32() {
        check("    %1 = group_id : f32", expect!["`%1 = group_id : f32`: result %1 has type f32; expected i32"]);
    }

    #[test]
    fn group_id_is_a_scalar() {
        check(
            "    %1 = group_id : i32[4]",
            expect!["`%1 = group_id : i32[4]`: result %1 has type i32[4]; expected i32"],
        );
    }

    #[test]
    fn dim_axis_below_rank() {
        check(
            "    %1 = dim %x, 1 : i32",
            expect!["`%1 = dim %x, 1 : i32`: axis 1 is out of range for tensor `x` of rank 1; supported: 0..1"],
        );
    }

    #[test]
    fn dim_of_a_scalar_param() {
        check(
            "    %1 = dim %s, 0 : i32",
            expect!["`%1 = dim %s, 0 : i32`: param `s` is not a tensor param, which `dim` needs"],
        );
    }

    #[test]
    fn param_must_exist() {
        let mut k = built();
        k.body.insts[1].op = Op::Dim { tensor: ParamId(5), axis: 0 };
        check_kernel(&k, expect!["`%2 = dim %?5, 0 : i32`: param #5 does not exist; the kernel has 1 params"]);
    }

    #[test]
    fn arg_of_a_tensor_param() {
        check(
            "    %1 = arg %x : f32",
            expect!["`%1 = arg %x : f32`: param `x` is not a scalar param, which `arg` needs"],
        );
    }

    #[test]
    fn arg_has_the_param_dtype() {
        check(
            "    %1 = arg %s : i32",
            expect!["`%1 = arg %s : i32`: result %1 has type i32; expected f32 (the param's dtype)"],
        );
    }

    #[test]
    fn arange_length_power_of_two() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 24 : i32[24]",
            expect!["`%2 = arange %1, 24 : i32[24]`: arange length 24 is not a power of two"],
        );
    }

    #[test]
    fn arange_start_is_i32() {
        check(
            "    %1 = arg %s : f32\n    %2 = arange %1, 4 : i32[4]",
            expect!["`%2 = arange %1, 4 : i32[4]`: operand `start` (%1) has type f32; expected i32"],
        );
    }

    #[test]
    fn splat_of_a_tile() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = splat %2 : i32[4]",
            expect!["`%3 = splat %2 : i32[4]`: operand `value` (%2) has type i32[4]; expected a scalar"],
        );
    }

    #[test]
    fn splat_keeps_the_dtype() {
        check(
            "    %1 = arg %s : f32\n    %2 = splat %1 : bf16[4]",
            expect![
                "`%2 = splat %1 : bf16[4]`: result %2 has type bf16[4]; expected a f32 tile (the dtype of `value`)"
            ],
        );
    }

    #[test]
    fn expand_dims_axis_at_most_rank() {
        check("    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = expand_dims %2, 2 : i32[4, 1]", expect!["`%3 = expand_dims %2, 2 : i32[4, 1]`: axis 2 is out of range for expand_dims of a rank-1 value; supported: 0..2"]);
    }

    #[test]
    fn expand_dims_inserts_at_the_axis() {
        check("    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = expand_dims %2, 1 : i32[1, 4]", expect!["`%3 = expand_dims %2, 1 : i32[1, 4]`: result %3 has type i32[1, 4]; expected i32[4, 1] (`value` with a 1 inserted at `axis`)"]);
    }

    #[test]
    fn broadcast_only_from_size_one() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = expand_dims %2, 0 : i32[1, 4]\n    %4 = broadcast %3 : i32[2, 8]",
            expect!["`%4 = broadcast %3 : i32[2, 8]`: result %4 has type i32[2, 8]; expected a broadcast of i32[1, 4]: same dtype and rank, only dimensions of size 1 changed"],
        );
    }

    #[test]
    fn binary_operands_agree() {
        check(
            "    %1 = const 0 : i32\n    %2 = arg %s : f32\n    %3 = add %1, %2 : i32",
            expect!["`%3 = add %1, %2 : i32`: operand `rhs` (%2) has type f32; expected i32 (the type of `lhs`)"],
        );
    }

    #[test]
    fn binary_result_is_the_operand_type() {
        check(
            "    %1 = const 0 : i32\n    %2 = add %1, %1 : f32",
            expect!["`%2 = add %1, %1 : f32`: result %2 has type f32; expected i32 (the operand type)"],
        );
    }

    #[test]
    fn and_takes_bool() {
        check(
            "    %1 = const 0 : i32\n    %2 = and %1, %1 : i32",
            expect!["`%2 = and %1, %1 : i32`: `and` on i32 is not supported; it takes bool"],
        );
    }

    #[test]
    fn rem_takes_i32() {
        check(
            "    %1 = arg %s : f32\n    %2 = rem %1, %1 : f32",
            expect!["`%2 = rem %1, %1 : f32`: `rem` on f32 is not supported; it takes i32"],
        );
    }

    #[test]
    fn add_rejects_bool() {
        check(
            "    %1 = arg %b : bool\n    %2 = add %1, %1 : bool",
            expect!["`%2 = add %1, %1 : bool`: `add` on bool is not supported; it takes i32, f16, bf16 or f32"],
        );
    }

    #[test]
    fn exp_takes_floats() {
        check(
            "    %1 = const 0 : i32\n    %2 = exp %1 : i32",
            expect!["`%2 = exp %1 : i32`: `exp` on i32 is not supported; it takes f16, bf16 or f32"],
        );
    }

    #[test]
    fn not_takes_bool() {
        check(
            "    %1 = arg %s : f32\n    %2 = not %1 : f32",
            expect!["`%2 = not %1 : f32`: `not` on f32 is not supported; it takes bool"],
        );
    }

    #[test]
    fn cmp_result_is_bool() {
        check(
            "    %1 = const 0 : i32\n    %2 = cmp_lt %1, %1 : i32",
            expect![
                "`%2 = cmp_lt %1, %1 : i32`: result %2 has type i32; expected bool (the operand shape with dtype bool)"
            ],
        );
    }

    #[test]
    fn select_cond_is_bool() {
        check("    %1 = const 0 : i32\n    %2 = select %1, %1, %1 : i32", expect!["`%2 = select %1, %1, %1 : i32`: operand `cond` (%1) has type i32; expected bool (`on_true`'s shape with dtype bool)"]);
    }

    #[test]
    fn select_cond_has_the_shape_of_the_values() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = arg %b : bool\n    %4 = select %3, %2, %2 : i32[4]",
            expect!["`%4 = select %3, %2, %2 : i32[4]`: operand `cond` (%3) has type bool; expected bool[4] (`on_true`'s shape with dtype bool)"],
        );
    }

    #[test]
    fn select_branches_agree() {
        check("    %1 = arg %b : bool\n    %2 = const 0 : i32\n    %3 = arg %s : f32\n    %4 = select %1, %2, %3 : i32", expect!["`%4 = select %1, %2, %3 : i32`: operand `on_false` (%3) has type f32; expected i32 (the type of `on_true`)"]);
    }

    #[test]
    fn cast_keeps_the_shape() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = cast %2 : f32[8]",
            expect!["`%3 = cast %2 : f32[8]`: result %3 has type f32[8]; expected the shape of i32[4] with any dtype"],
        );
    }

    #[test]
    fn reduce_axis_below_rank() {
        check("    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = reduce_sum %2, 1 : i32", expect!["`%3 = reduce_sum %2, 1 : i32`: axis 1 is out of range for a reduction of a rank-1 value; supported: 0..1"]);
    }

    #[test]
    fn reduce_of_a_scalar() {
        check("    %1 = const 0 : i32\n    %2 = reduce_sum %1, 0 : i32", expect!["`%2 = reduce_sum %1, 0 : i32`: axis 0 is out of range for a reduction of a rank-0 value; supported: 0..0"]);
    }

    #[test]
    fn reduce_removes_the_axis() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = reduce_max %2, 0 : i32[4]",
            expect![
                "`%3 = reduce_max %2, 0 : i32[4]`: result %3 has type i32[4]; expected i32 (`value` without `axis`)"
            ],
        );
    }

    #[test]
    fn reduce_rejects_bool() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = cmp_eq %2, %2 : bool[4]\n    %4 = reduce_sum %3, 0 : bool",
            expect!["`%4 = reduce_sum %3, 0 : bool`: `reduce_sum` on bool is not supported; it takes i32, f16, bf16 or f32"],
        );
    }

    #[test]
    fn scan_axis_below_rank() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = scan_sum %2, 1 : i32[4]",
            expect![
                "`%3 = scan_sum %2, 1 : i32[4]`: axis 1 is out of range for a scan of a rank-1 value; supported: 0..1"
            ],
        );
    }

    #[test]
    fn scan_keeps_the_shape() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = scan_max %2, 0 : i32",
            expect!["`%3 = scan_max %2, 0 : i32`: result %3 has type i32; expected i32[4] (`value`'s)"],
        );
    }

    #[test]
    fn scan_rejects_bool() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = cmp_eq %2, %2 : bool[4]\n    %4 = scan_min %3, 0 : bool[4]",
            expect!["`%4 = scan_min %3, 0 : bool[4]`: `scan_min` on bool is not supported; it takes i32, f16, bf16 or f32"],
        );
    }

    #[test]
    fn load_needs_one_index_per_dimension() {
        check("    %1 = const 0 : i32\n    %2 = load %m[%1 +: 4] : bf16[4]", expect!["`%2 = load %m[%1 +: 4] : bf16[4]`: 1 index(es) for tensor `m` of rank 2; there must be one per dimension"]);
    }

    #[test]
    fn load_from_a_scalar_param() {
        check(
            "    %1 = load %s[] : f32",
            expect!["`%1 = load %s[] : f32`: param `s` is not a tensor param, which `load` needs"],
        );
    }

    #[test]
    fn load_range_length_power_of_two() {
        check(
            "    %1 = const 0 : i32\n    %2 = load %x[%1 +: 12] : f32[12]",
            expect!["`%2 = load %x[%1 +: 12] : f32[12]`: range length 12 is not a power of two"],
        );
    }

    #[test]
    fn load_gather_is_valid() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 8 : i32[8]\n    %3 = load %m[gather %2, %1 +: 16] : bf16[8, 16]",
            expect!["ok"],
        );
    }

    #[test]
    fn load_gather_index_is_i32() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 8 : i32[8]\n    %3 = cast %2 : f32[8]\n    \
             %4 = load %m[gather %3, %1 +: 16] : bf16[8, 16]",
            expect![[
                r#"`%4 = load %m[gather %3, %1 +: 16] : bf16[8, 16]`: operand `gather` (%3) has type f32[8]; expected an i32 tile of rank 1"#
            ]],
        );
    }

    #[test]
    fn load_gather_index_is_rank_1() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 8 : i32[8]\n    %3 = expand_dims %2, 1 : i32[8, 1]\n    \
             %4 = load %m[gather %3, %1 +: 16] : bf16[8, 1, 16]",
            expect![[
                r#"`%4 = load %m[gather %3, %1 +: 16] : bf16[8, 1, 16]`: operand `gather` (%3) has type i32[8, 1]; expected an i32 tile of rank 1"#
            ]],
        );
    }

    #[test]
    fn scatter_store_takes_a_value_of_the_scattered_shape() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 8 : i32[8]\n    %3 = arange %1, 4 : i32[4]\n    \
             %4 = cast %3 : f32[4]\n    store %x[gather %2], %4",
            expect!["`store %x[gather %2], %4`: operand `value` (%4) has type f32[4]; expected f32[8] (the tensor's dtype, shaped by the ranges and scatters)"],
        );
    }

    #[test]
    fn scatter_store_is_valid() {
        check(
            "    %1 = const 0 : i32\n    %2 = arange %1, 8 : i32[8]\n    %3 = cast %2 : f32[8]\n    \
             store %x[gather %2], %3",
            expect!["ok"],
        );
    }

    #[test]
    fn load_point_index_is_i32() {
        check(
            "    %1 = arg %s : f32\n    %2 = load %x[%1] : f32",
            expect!["`%2 = load %x[%1] : f32`: operand `index` (%1) has type f32; expected i32"],
        );
    }

    #[test]
    fn load_result_is_shaped_by_the_ranges() {
        check("    %1 = const 0 : i32\n    %2 = load %m[%1, %1 +: 8] : bf16[1, 8]", expect!["`%2 = load %m[%1, %1 +: 8] : bf16[1, 8]`: result %2 has type bf16[1, 8]; expected bf16[8] (the tensor's dtype, shaped by the ranges and gathers)"]);
    }

    #[test]
    fn load_result_has_the_tensor_dtype() {
        check("    %1 = const 0 : i32\n    %2 = load %x[%1 +: 8] : bf16[8]", expect!["`%2 = load %x[%1 +: 8] : bf16[8]`: result %2 has type bf16[8]; expected f32[8] (the tensor's dtype, shaped by the ranges and gathers)"]);
    }

    #[test]
    fn store_value_matches_the_ranges() {
        check("    %1 = const 0 : i32\n    %2 = arg %s : f32\n    store %x[%1 +: 8], %2", expect!["`store %x[%1 +: 8], %2`: operand `value` (%2) has type f32; expected f32[8] (the tensor's dtype, shaped by the ranges and scatters)"]);
    }

    #[test]
    fn for_bounds_are_i32() {
        check(
            "    %1 = arg %s : f32\n    %2 = const 1 : i32\n    for %3: i32 = %2 to %1 step %2 {\n      yield\n    }",
            expect!["`for %3: i32 = %2 to %1 step %2 { ... }`: operand `upper` (%1) has type f32; expected i32"],
        );
    }

    #[test]
    fn induction_variable_is_i32() {
        check(
            "    %1 = const 1 : i32\n    for %2: f32 = %1 to %1 step %1 {\n      yield\n    }",
            expect!["`for %2: f32 = %1 to %1 step %1 { ... }`: induction variable %2 has type f32; expected i32"],
        );
    }

    #[test]
    fn carried_argument_has_the_init_type() {
        check(
            "    %1 = const 1 : i32
    %4 = for %2: i32 = %1 to %1 step %1 iter(%3: f32 = %1) : i32 {
      yield %1
    }",
            expect!["`%4 = for %2: i32 = %1 to %1 step %1 iter(%3: f32 = %1) : i32 { ... }`: loop-carried argument %3 has type f32; expected i32 (the type of init 0)"],
        );
    }

    #[test]
    fn for_result_has_the_init_type() {
        check(
            "    %1 = const 1 : i32
    %4 = for %2: i32 = %1 to %1 step %1 iter(%3: i32 = %1) : f32 {
      yield %3
    }",
            expect!["`%4 = for %2: i32 = %1 to %1 step %1 iter(%3: i32 = %1) : f32 { ... }`: result %4 has type f32; expected i32 (the type of init 0)"],
        );
    }

    #[test]
    fn for_has_one_result_per_init() {
        check(
            "    %1 = const 1 : i32\n    %3 = for %2: i32 = %1 to %1 step %1 : i32 {\n      yield\n    }",
            expect!["`%3 = for %2: i32 = %1 to %1 step %1 : i32 { ... }`: `for` defines 0 result(s); it has 1"],
        );
    }

    #[test]
    fn for_yield_types_match_init() {
        check(
            "    %1 = const 1 : i32
    %2 = arg %s : f32
    %5 = for %3: i32 = %1 to %1 step %1 iter(%4: i32 = %1) : i32 {
      yield %2
    }",
            expect!["`yield %2`: yielded value 0 (%2) has type f32; expected i32 (result 0 of the for body block)"],
        );
    }

    #[test]
    fn for_yields_one_value_per_init() {
        check(
            "    %1 = const 1 : i32
    %4 = for %2: i32 = %1 to %1 step %1 iter(%3: i32 = %1) : i32 {
      yield %3, %3
    }",
            expect!["`yield %3, %3`: the for body block yields 2 value(s); it must yield 1"],
        );
    }

    #[test]
    fn for_body_ends_with_yield() {
        check(
            "    %1 = const 1 : i32\n    for %2: i32 = %1 to %1 step %1 {\n      %3 = neg %2 : i32\n    }",
            expect!["`for %2: i32 = %1 to %1 step %1 { ... }`: the for body block must end with `yield`"],
        );
    }

    #[test]
    fn yield_is_last() {
        check(
            "    %1 = const 1 : i32\n    for %2: i32 = %1 to %1 step %1 {\n      yield\n      %3 = neg %2 : i32\n      yield\n    }",
            expect!["`yield`: `yield` may only be the last instruction of a `for` body, an `if` block or the grid block"],
        );
    }

    #[test]
    fn yield_not_in_the_body_block() {
        check(
            "    yield",
            expect![
                "`yield`: `yield` may only be the last instruction of a `for` body, an `if` block or the grid block"
            ],
        );
    }

    #[test]
    fn for_body_args_match_init() {
        let mut k = built();
        if let Op::For { body, .. } = &mut k.body.insts[4].op {
            body.args.pop();
        }
        check_kernel(&k, expect!["`%9 = for %5: i32 = %1 to %2 step %3 iter(? = %4) : f32 { ... }`: the for body has 1 argument(s); it takes 2: the induction variable and one per init value"]);
    }

    #[test]
    fn if_cond_is_bool() {
        check(
            "    %1 = const 1 : i32\n    if %1 {\n      yield\n    } else {\n      yield\n    }",
            expect!["`if %1 { ... } else { ... }`: operand `cond` (%1) has type i32; expected bool"],
        );
    }

    #[test]
    fn if_cond_is_scalar() {
        check(
            "    %1 = const 1 : i32\n    %2 = arange %1, 4 : i32[4]\n    %3 = cmp_eq %2, %2 : bool[4]\n    if %3 {\n      yield\n    } else {\n      yield\n    }",
            expect!["`if %3 { ... } else { ... }`: operand `cond` (%3) has type bool[4]; expected bool"],
        );
    }

    #[test]
    fn if_blocks_take_no_arguments() {
        check(
            "    %1 = arg %b : bool\n    if %1 args(%2: i32) {\n      yield\n    } else {\n      yield\n    }",
            expect!["`if %1 { ... } else { ... }`: the then block takes no arguments; it has 1"],
        );
    }

    #[test]
    fn else_block_ends_with_yield() {
        check(
            "    %1 = arg %b : bool\n    if %1 {\n      yield\n    } else {\n    }",
            expect!["`if %1 { ... } else { ... }`: the else block must end with `yield`"],
        );
    }

    #[test]
    fn if_yields_match_results() {
        check(
            "    %1 = arg %b : bool
    %2 = arg %s : f32
    %3 = if %1 : i32 {
      yield %2
    } else {
      yield %2
    }",
            expect!["`yield %2`: yielded value 0 (%2) has type f32; expected i32 (result 0 of the then block)"],
        );
    }

    #[test]
    fn errors_inside_blocks_name_the_inner_instruction() {
        check(
            "    %1 = arg %b : bool
    if %1 {
      %2 = program_id 5 : i32
      yield
    } else {
      yield
    }",
            expect!["`%2 = program_id 5 : i32`: axis 5 is out of range for program_id; supported: 0..3"],
        );
    }

    /// A body loading `a` as bf16 `[M, K]` and `b` as bf16 `[K, N]` from `%m`, then `last`.
    fn check_dot(a: &str, b: &str, last: &str, expected: Expect) {
        let body = format!(
            "    %1 = const 0 : i32\n    %2 = load %m[%1 +: {}] : bf16[{a}]\n    %3 = load %m[%1 +: {}] : bf16[{b}]\n    \
             %4 = cast %2 : f32[{a}]\n    %5 = cast %2 : f16[{a}]\n{last}",
            a.replace(", ", ", %1 +: "),
            b.replace(", ", ", %1 +: "),
        );
        check(&body, expected);
    }

    #[test]
    fn dot_is_valid() {
        check_dot("32, 16", "16, 8", "    %6 = dot %2, %3 : f32[32, 8]", expect!["ok"]);
    }

    #[test]
    fn dot_result_is_f32_m_by_n() {
        check_dot(
            "32, 16",
            "16, 8",
            "    %6 = dot %2, %3 : bf16[32, 8]",
            expect![
                "`%6 = dot %2, %3 : bf16[32, 8]`: result %6 has type bf16[32, 8]; expected f32[32, 8] (f32 [M, N])"
            ],
        );
    }

    #[test]
    fn dot_k_must_agree() {
        check_dot(
            "32, 16",
            "32, 8",
            "    %6 = dot %2, %3 : f32[32, 8]",
            expect!["`%6 = dot %2, %3 : f32[32, 8]`: operand `rhs` (%3) has type bf16[32, 8]; expected bf16[16, N] (dtype and K from `lhs`)"],
        );
    }

    #[test]
    fn dot_operand_dtypes_must_agree() {
        check_dot(
            "16, 16",
            "16, 8",
            "    %6 = dot %5, %3 : f32[16, 8]",
            expect!["`%6 = dot %5, %3 : f32[16, 8]`: operand `rhs` (%3) has type bf16[16, 8]; expected f16[16, N] (dtype and K from `lhs`)"],
        );
    }

    #[test]
    fn dot_rejects_f32_operands() {
        check_dot(
            "16, 16",
            "16, 8",
            "    %6 = dot %4, %3 : f32[16, 8]",
            expect!["`%6 = dot %4, %3 : f32[16, 8]`: `dot` on f32 is not supported; it takes bf16 or f16"],
        );
    }

    #[test]
    fn dot_k_is_a_multiple_of_16() {
        check_dot(
            "16, 8",
            "8, 8",
            "    %6 = dot %2, %3 : f32[16, 8]",
            expect![
                "`%6 = dot %2, %3 : f32[16, 8]`: `dot` needs K a multiple of 16 (the mma.sync m16n8k16 tile); got 8"
            ],
        );
    }

    #[test]
    fn dot_m_is_a_multiple_of_16() {
        check_dot(
            "8, 16",
            "16, 8",
            "    %6 = dot %2, %3 : f32[8, 8]",
            expect![
                "`%6 = dot %2, %3 : f32[8, 8]`: `dot` needs M a multiple of 16 (the mma.sync m16n8k16 tile); got 8"
            ],
        );
    }

    #[test]
    fn dot_n_is_a_multiple_of_8() {
        check_dot(
            "16, 16",
            "16, 4",
            "    %6 = dot %2, %3 : f32[16, 4]",
            expect![
                "`%6 = dot %2, %3 : f32[16, 4]`: `dot` needs N a multiple of 8 (the mma.sync m16n8k16 tile); got 4"
            ],
        );
    }

    #[test]
    fn dot_operands_are_rank_2() {
        check(
            "    %1 = const 0 : i32\n    %2 = load %m[%1, %1 +: 16] : bf16[16]\n    %3 = dot %2, %2 : f32[16, 16]",
            expect![
                "`%3 = dot %2, %2 : f32[16, 16]`: operand `lhs` (%2) has type bf16[16]; expected a rank-2 tile [M, K]"
            ],
        );
    }

    #[test]
    fn trans_swaps_dimensions() {
        check_dot(
            "32, 16",
            "16, 8",
            "    %6 = trans %2 : bf16[32, 16]",
            expect!["`%6 = trans %2 : bf16[32, 16]`: result %6 has type bf16[32, 16]; expected bf16[16, 32] (`value` with its two dimensions swapped)"],
        );
    }

    #[test]
    fn trans_is_rank_2() {
        check(
            "    %1 = const 0 : i32\n    %2 = load %m[%1, %1 +: 16] : bf16[16]\n    %3 = trans %2 : bf16[16]",
            expect!["`%3 = trans %2 : bf16[16]`: operand `value` (%2) has type bf16[16]; expected a rank-2 tile"],
        );
    }

    /// A body with an f32[4, 8] `%3`, an i32[4, 8] `%4` and an i32[8] `%5`, then `last`.
    fn check_bin_sum(last: &str, expected: Expect) {
        let body = format!(
            "    %1 = const 0 : i32\n    %2 = load %m[%1 +: 4, %1 +: 8] : bf16[4, 8]\n    %3 = cast %2 : f32[4, 8]\n    \
             %4 = cast %2 : i32[4, 8]\n    %5 = arange %1, 8 : i32[8]\n{last}"
        );
        check(&body, expected);
    }

    #[test]
    fn bin_sum_is_valid() {
        check_bin_sum("    %6 = bin_sum %3, %4 : f32[16]", expect!["ok"]);
    }

    #[test]
    fn bin_sum_of_i32_is_valid() {
        check_bin_sum("    %6 = bin_sum %4, %4 : i32[16]", expect!["ok"]);
    }

    #[test]
    fn bin_sum_takes_f32_or_i32_values() {
        check_bin_sum(
            "    %6 = bin_sum %2, %4 : bf16[16]",
            expect!["`%6 = bin_sum %2, %4 : bf16[16]`: `bin_sum` on bf16 is not supported; it takes f32 or i32"],
        );
    }

    #[test]
    fn bin_sum_result_has_the_value_dtype() {
        check_bin_sum(
            "    %6 = bin_sum %4, %4 : f32[16]",
            expect!["`%6 = bin_sum %4, %4 : f32[16]`: result %6 has type f32[16]; expected i32[N], one sum per bin"],
        );
    }

    #[test]
    fn bin_sum_bins_have_the_value_shape() {
        check_bin_sum(
            "    %6 = bin_sum %3, %5 : f32[16]",
            expect!["`%6 = bin_sum %3, %5 : f32[16]`: operand `bins` (%5) has type i32[8]; expected i32[4, 8] (`value`'s shape with dtype i32)"],
        );
    }

    #[test]
    fn bin_sum_bins_are_i32() {
        check_bin_sum(
            "    %6 = bin_sum %3, %3 : f32[16]",
            expect!["`%6 = bin_sum %3, %3 : f32[16]`: operand `bins` (%3) has type f32[4, 8]; expected i32[4, 8] (`value`'s shape with dtype i32)"],
        );
    }

    #[test]
    fn bin_sum_result_is_rank_1_f32() {
        check_bin_sum(
            "    %6 = bin_sum %3, %4 : f32[4, 4]",
            expect![
                "`%6 = bin_sum %3, %4 : f32[4, 4]`: result %6 has type f32[4, 4]; expected f32[N], one sum per bin"
            ],
        );
    }

    #[test]
    fn bin_sum_result_length_is_a_power_of_two() {
        check_bin_sum(
            "    %6 = bin_sum %3, %4 : f32[12]",
            expect![
                "`%6 = bin_sum %3, %4 : f32[12]`: %6 has type f32[12], but every tile dimension must be a power of two"
            ],
        );
    }
}
