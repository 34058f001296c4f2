//! Tile IR: the compiler's one intermediate representation.
//!
//! Invariants every producer keeps and every consumer may rely on (checked by
//! [`verify::verify`]):
//! - SSA: every [`ValueId`] is defined exactly once, before its uses, and a use
//!   sees only definitions of its own block or of enclosing blocks.
//! - Every tile dimension is a power of two; a rank-0 type is a uniform scalar.
//! - Operands of elementwise ops have identical types (the front end inserts
//!   explicit [`Op::Broadcast`]/[`Op::ExpandDims`]/[`Op::Splat`]); there is no
//!   implicit broadcasting below the front end.
//! - Structured control flow only: [`Op::For`] and [`Op::If`] own their blocks,
//!   and every such block ends with exactly one [`Op::Yield`] whose operand types
//!   equal the op's result types.
//! - Const parameters are already substituted: the IR is one specialization.
//!
//! Tensors are not values: loads and stores name a kernel parameter by index.

pub mod builder;
pub mod parse;
pub mod print;
pub mod verify;

use std::fmt;

/// Element types. Tensors may hold any of them; scalars are `Bool`, `I32`, `F32`
/// in the source language but the IR allows every dtype at every rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    I32,
    F16,
    BF16,
    F32,
}

impl DType {
    pub const ALL: [DType; 5] = [DType::Bool, DType::I32, DType::F16, DType::BF16, DType::F32];

    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I32 => "i32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Every dtype's name, for messages that list what is supported: "bool, i32, f16, bf16, f32".
    pub fn names() -> String {
        DType::ALL.map(DType::name).join(", ")
    }

    /// Size of one element in a tensor in memory. `Bool` tensors are one byte per element.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I32 | DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::I32)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of a value: a dtype and a shape. An empty shape is a uniform scalar.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Type {
    pub dtype: DType,
    pub shape: Vec<u32>,
}

impl Type {
    pub fn scalar(dtype: DType) -> Type {
        Type { dtype, shape: Vec::new() }
    }

    pub fn tile(dtype: DType, shape: Vec<u32>) -> Type {
        Type { dtype, shape }
    }

    pub fn is_scalar(&self) -> bool {
        self.shape.is_empty()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn num_elements(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }

    pub fn with_dtype(&self, dtype: DType) -> Type {
        Type { dtype, shape: self.shape.clone() }
    }
}

impl fmt::Display for Type {
    /// `f32` for a scalar, `f32[128, 64]` for a tile. The IR text form uses this.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dtype)?;
        if !self.shape.is_empty() {
            f.write_str("[")?;
            for (i, d) in self.shape.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{d}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// An SSA value. Its type lives in [`Kernel::value_types`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// Index of a kernel parameter in [`Kernel::params`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub u32);

/// A runtime kernel parameter. Runtime values are arguments, never specializations:
/// a new sequence length must not trigger a recompile.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Param {
    /// A strided tensor in device memory. `dims` are the dimension names from the
    /// source (`tensor<bf16>[N, D]`); two tensors that share a name must agree on
    /// that size at launch. A name that is also a const parameter must equal it;
    /// `const_dims` records those (`None` = free runtime size).
    ///
    /// `aligned` specializes on where the argument lies, never on the sizes themselves:
    /// its base address is 16-byte aligned, its last dimension's stride is 1, every other
    /// stride (of a dimension longer than one) is a nonzero multiple of 16 bytes, and no
    /// dimension is empty. Code generation then moves whole 16-byte chunks without
    /// run-time alignment tests or an element-by-element fallback for them, and on sm_90a
    /// copies swizzled `dot` tiles with TMA (`codegen::tma`), whose tensor maps take
    /// exactly such tensors. The
    /// runtime launches each kernel as its variant with the contract on exactly the
    /// arguments that satisfy it, and with specializing turned off refuses one that claims
    /// it for an argument that does not.
    Tensor { name: String, dtype: DType, dims: Vec<String>, const_dims: Vec<Option<u32>>, aligned: bool },
    /// A scalar passed by value (`Bool` is passed as a 32-bit 0/1).
    Scalar { name: String, dtype: DType },
}

impl Param {
    pub fn name(&self) -> &str {
        match self {
            Param::Tensor { name, .. } | Param::Scalar { name, .. } => name,
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Param::Tensor { dtype, .. } | Param::Scalar { dtype, .. } => *dtype,
        }
    }
}

/// A specialization constant's value, kept on the kernel for printing and fingerprints.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConstValue {
    Int(i64),
    Bool(bool),
    /// A `dtype` const: an element type chosen per specialization (`DT = f16`).
    DType(DType),
}

impl fmt::Display for ConstValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConstValue::Int(v) => write!(f, "{v}"),
            ConstValue::Bool(v) => write!(f, "{v}"),
            ConstValue::DType(d) => write!(f, "{d}"),
        }
    }
}

/// A scalar literal in an [`Op::Const`]. Floats are stored as f64 and rounded to
/// the result dtype; `-inf`/`inf`/`nan` are allowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// Float division, or integer division truncating toward zero.
    Div,
    /// Integer remainder with the sign of the dividend (C semantics).
    Rem,
    Max,
    Min,
    /// Logical and/or on `Bool`.
    And,
    Or,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 9] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Rem,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::And,
        BinaryOp::Or,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    /// Logical not on `Bool`.
    Not,
    Abs,
    Exp,
    Exp2,
    Log2,
    Sqrt,
    Rsqrt,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 8] = [
        UnaryOp::Neg,
        UnaryOp::Not,
        UnaryOp::Abs,
        UnaryOp::Exp,
        UnaryOp::Exp2,
        UnaryOp::Log2,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub const ALL: [CmpOp; 6] = [CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge, CmpOp::Eq, CmpOp::Ne];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
}

impl ReduceOp {
    pub const ALL: [ReduceOp; 3] = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min];
}

/// One index of a tensor access, per tensor dimension.
#[derive(Clone, Debug, PartialEq)]
pub enum Index {
    /// A single position (an i32 scalar); the dimension does not appear in the tile.
    Point(ValueId),
    /// `start .. start + len`: `len` (a power of two) becomes a tile dimension.
    Range { start: ValueId, len: u32 },
    /// The positions held by an i32 tile `[L]`: `L` becomes a tile dimension whose
    /// element `i` is at the tile's value `i`. Loads only; positions outside the
    /// tensor read 0 like a range's, so `-1` is a masked-off row.
    Gather(ValueId),
}

impl Index {
    /// The value the index reads.
    pub fn value(&self) -> ValueId {
        match self {
            Index::Point(v) | Index::Range { start: v, .. } | Index::Gather(v) => *v,
        }
    }

    /// The value the index reads, for passes that rename values.
    pub fn value_mut(&mut self) -> &mut ValueId {
        match self {
            Index::Point(v) | Index::Range { start: v, .. } | Index::Gather(v) => v,
        }
    }
}

/// An operation. Operands are [`ValueId`]s; results are listed on the [`Inst`].
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A scalar constant of the result type.
    Const(Literal),
    /// `program_id(axis)`: i32 scalar, axis in 0..3.
    ProgramId {
        axis: u8,
    },
    /// `group_id()`: i32 scalar, which of the program's [`Kernel::num_groups`] warp groups
    /// runs the body (0 when the kernel has one). Uniform within a group, not across groups.
    GroupId,
    /// Runtime size of a tensor parameter's dimension: i32 scalar.
    Dim {
        tensor: ParamId,
        axis: u32,
    },
    /// A scalar parameter's value.
    Arg {
        param: ParamId,
    },
    /// `[start, start+1, ..., start+len-1]`: i32 tile `[len]`; `start` is an i32 scalar.
    Arange {
        start: ValueId,
        len: u32,
    },
    /// Scalar to tile: every element equals `value`. The result type gives the shape.
    Splat {
        value: ValueId,
    },
    /// Inserts a size-1 dimension at `axis` (`t[:, None]` is axis 1).
    ExpandDims {
        value: ValueId,
        axis: u32,
    },
    /// Repeats size-1 dimensions to the result shape (same rank).
    Broadcast {
        value: ValueId,
    },
    Binary {
        op: BinaryOp,
        lhs: ValueId,
        rhs: ValueId,
    },
    Unary {
        op: UnaryOp,
        value: ValueId,
    },
    /// Elementwise comparison; the result has dtype `Bool`.
    Cmp {
        op: CmpOp,
        lhs: ValueId,
        rhs: ValueId,
    },
    /// `where(cond, on_true, on_false)`, elementwise.
    Select {
        cond: ValueId,
        on_true: ValueId,
        on_false: ValueId,
    },
    /// Converts to the result dtype (round to nearest even for floats; float→int truncates).
    Cast {
        value: ValueId,
    },
    /// Matrix product `lhs @ rhs`: lhs `[M, K]` and rhs `[K, N]` of one 16-bit float dtype
    /// (bf16 or f16), result f32 `[M, N]`. M and K are multiples of 16 and N of 8, the
    /// `mma.sync.m16n8k16` tile the GPU computes it in.
    Dot {
        lhs: ValueId,
        rhs: ValueId,
    },
    /// Transpose of a rank-2 tile: `[M, N]` → `[N, M]`, same dtype.
    Trans {
        value: ValueId,
    },
    /// Sums the elements of `value` (an f32 or i32 tile of rank >= 1) into bins: the result
    /// is `[N]` of `value`'s dtype (N from the result type) with element `b` the sum of the
    /// elements whose entry in `bins` (an i32 tile of `value`'s shape) is `b`. Elements
    /// whose bin is outside `0..N` are dropped, so a mask routes elements to -1; a bin
    /// nothing falls into is 0. The summation order is unspecified (the GPU adds with
    /// shared-memory atomics), so f32 results agree only within rounding; i32 sums wrap
    /// and are exact.
    BinSum {
        value: ValueId,
        bins: ValueId,
    },
    /// Reduces along `axis`, removing it from the shape (a rank-1 tile reduces to a scalar).
    Reduce {
        op: ReduceOp,
        value: ValueId,
        axis: u32,
    },
    /// Inclusive scan along `axis`, same shape: element `i` of the axis combines elements
    /// `0 ..= i` with `op` (`cumsum`, `cummax`, `cummin`). f32 sums are grouped as the
    /// target finds fastest, so they agree only within rounding; i32 sums wrap.
    Scan {
        op: ReduceOp,
        value: ValueId,
        axis: u32,
    },
    /// A masked tile load. Positions outside `[0, dim)` in any dimension read 0.
    /// The result shape is the `len`s of the `Range` and `Gather` indices, in order
    /// (see [`Kernel::access_shape`]).
    Load {
        tensor: ParamId,
        indices: Vec<Index>,
    },
    /// A masked tile store; positions outside the tensor are not written.
    /// `value`'s shape is the `len`s of the `Range` indices.
    Store {
        tensor: ParamId,
        indices: Vec<Index>,
        value: ValueId,
    },
    /// `for iv in (lower .. upper).step_by(step)` with loop-carried values.
    /// `body.args` = `[iv, carried...]`; the body yields the next carried values;
    /// the instruction's results are the carried values after the last iteration.
    /// `step` must be positive at run time; a loop with `lower >= upper` runs zero times.
    For {
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: Vec<ValueId>,
        body: Block,
    },
    /// Both blocks take no arguments and yield values of the result types.
    If {
        cond: ValueId,
        then_block: Block,
        else_block: Block,
    },
    /// Terminates a `For`/`If` block or the grid block.
    Yield {
        values: Vec<ValueId>,
    },
}

/// An instruction: an op and the values it defines.
#[derive(Clone, Debug, PartialEq)]
pub struct Inst {
    pub results: Vec<ValueId>,
    pub op: Op,
}

/// A straight-line list of instructions with block arguments.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Block {
    pub args: Vec<ValueId>,
    pub insts: Vec<Inst>,
}

/// Prefetch stages when the kernel does not say: one buffer read while the next fills.
pub const DEFAULT_STAGES: u32 = 2;
/// Fewer than two stages would leave nothing to overlap: the copy would have to finish
/// before the buffer it fills is read in the same iteration.
pub const MIN_STAGES: u32 = 2;
/// A cap, not a hardware limit: the prologue emits its `num_stages - 1` copies
/// unrolled, so code size grows with every stage, and deep pipelines are past what
/// Triton and CUTLASS use for these tile sizes (3 to 5). Shared memory bounds it sooner
/// for large tiles: `codegen::shared` reports a kernel whose stages do not fit.
pub const MAX_STAGES: u32 = 8;

/// Programs one SM runs at once at most (sm_80 and sm_90).
pub const MAX_PROGRAMS_PER_SM: u32 = 32;
/// Threads one SM runs at once at most (sm_80 and sm_90).
pub const MAX_THREADS_PER_SM: u32 = 2048;
/// The most warp groups a program may have ([`Kernel::num_groups`]).
pub const MAX_GROUPS: u32 = 4;
/// Threads one program may have, every group's together (a CUDA block's limit).
pub const MAX_THREADS_PER_PROGRAM: u32 = 1024;

/// One specialized kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    pub name: String,
    /// Const parameters after specialization, in declaration order.
    pub consts: Vec<(String, ConstValue)>,
    pub params: Vec<Param>,
    /// Warps per group: each group's threads = 32 * num_warps. A power of two in 1..=32.
    pub num_warps: u32,
    /// `groups(G)`: warp groups per program, each of `num_warps` warps, each running the
    /// whole body on its own with its own [`Op::GroupId`] (tiles are per group). A power
    /// of two, at most [`MAX_GROUPS`], and `num_groups * 32 * num_warps` at most
    /// [`MAX_THREADS_PER_PROGRAM`]. 1 unless the kernel says otherwise.
    pub num_groups: u32,
    /// Shared-memory buffers per `dot` operand prefetched with `cp.async` across a
    /// loop's iterations (`codegen::prefetch`): the copy runs `num_stages - 1`
    /// iterations ahead. In [`MIN_STAGES`]..=[`MAX_STAGES`]; code generation only.
    pub num_stages: u32,
    /// `occupancy(N)`: programs an SM must hold as far as registers go; code generation
    /// caps a thread's registers to fit them. In 1..=[`MAX_PROGRAMS_PER_SM`], and N times
    /// the program's threads at most [`MAX_THREADS_PER_SM`]. `None`: one program's budget.
    pub occupancy: Option<u32>,
    /// Evaluated on the host at launch: scalar-only ops (`Const`, `Dim`, `Arg`,
    /// `Binary`, `Cmp`, `Select`, `Unary` on scalars) ending in a `Yield` of three i32.
    pub grid: Block,
    pub body: Block,
    /// Type of every value, indexed by `ValueId.0`.
    pub value_types: Vec<Type>,
}

impl Kernel {
    pub fn value_type(&self, v: ValueId) -> &Type {
        &self.value_types[v.0 as usize]
    }

    pub fn param(&self, p: ParamId) -> &Param {
        &self.params[p.0 as usize]
    }

    /// Sets or clears the `aligned` contract of the tensor parameter named `name`
    /// ([`Param::Tensor`]). `false` when the kernel has no tensor parameter of that name.
    pub fn set_aligned(&mut self, name: &str, value: bool) -> bool {
        match self.params.iter_mut().find(|p| p.name() == name) {
            Some(Param::Tensor { aligned, .. }) => {
                *aligned = value;
                true
            }
            _ => false,
        }
    }

    /// Threads of one group: what every tile of the body is spread over.
    pub fn threads_per_group(&self) -> u32 {
        self.num_warps * 32
    }

    /// Threads of the whole program: every group's.
    pub fn threads_per_program(&self) -> u32 {
        self.num_groups * self.threads_per_group()
    }

    /// Shape of the tile an access with `indices` moves: a `Range` adds its `len`, a
    /// `Gather` its index tile's shape (`[L]` in verified IR), a `Point` nothing.
    /// An unknown gather value adds nothing; the verifier reports it.
    pub fn access_shape(&self, indices: &[Index]) -> Vec<u32> {
        let mut shape = Vec::new();
        for index in indices {
            match index {
                Index::Point(_) => {}
                Index::Range { len, .. } => shape.push(*len),
                Index::Gather(v) => {
                    if let Some(ty) = self.value_types.get(v.0 as usize) {
                        shape.extend_from_slice(&ty.shape);
                    }
                }
            }
        }
        shape
    }
}

/// Short mnemonic of each op, shared by the printer, the parser and error messages.
pub fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Const(_) => "const",
        Op::ProgramId { .. } => "program_id",
        Op::GroupId => "group_id",
        Op::Dim { .. } => "dim",
        Op::Arg { .. } => "arg",
        Op::Arange { .. } => "arange",
        Op::Splat { .. } => "splat",
        Op::ExpandDims { .. } => "expand_dims",
        Op::Broadcast { .. } => "broadcast",
        Op::Binary { op, .. } => match op {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Rem => "rem",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        },
        Op::Unary { op, .. } => match op {
            UnaryOp::Neg => "neg",
            UnaryOp::Not => "not",
            UnaryOp::Abs => "abs",
            UnaryOp::Exp => "exp",
            UnaryOp::Exp2 => "exp2",
            UnaryOp::Log2 => "log2",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
        },
        Op::Cmp { op, .. } => match op {
            CmpOp::Lt => "cmp_lt",
            CmpOp::Le => "cmp_le",
            CmpOp::Gt => "cmp_gt",
            CmpOp::Ge => "cmp_ge",
            CmpOp::Eq => "cmp_eq",
            CmpOp::Ne => "cmp_ne",
        },
        Op::Select { .. } => "select",
        Op::Cast { .. } => "cast",
        Op::Dot { .. } => "dot",
        Op::Trans { .. } => "trans",
        Op::BinSum { .. } => "bin_sum",
        Op::Reduce { op, .. } => match op {
            ReduceOp::Sum => "reduce_sum",
            ReduceOp::Max => "reduce_max",
            ReduceOp::Min => "reduce_min",
        },
        Op::Scan { op, .. } => match op {
            ReduceOp::Sum => "scan_sum",
            ReduceOp::Max => "scan_max",
            ReduceOp::Min => "scan_min",
        },
        Op::Load { .. } => "load",
        Op::Store { .. } => "store",
        Op::For { .. } => "for",
        Op::If { .. } => "if",
        Op::Yield { .. } => "yield",
    }
}
