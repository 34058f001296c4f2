//! The syntax tree of a `.tile` file, as written: names are unresolved, consts are
//! not substituted and nothing is typed. Every node keeps its source span so the
//! checker can point at it.

use crate::diag::Span;
use crate::ir::DType;

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Helper functions, in source order; they may appear before or after the kernels.
    pub fns: Vec<Fn>,
    pub kernels: Vec<Kernel>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `kernel NAME<CONSTS>(PARAMS) grid(...) warps(...) groups(...) stages(...) occupancy(...) { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    pub name: Ident,
    pub consts: Vec<ConstParam>,
    pub params: Vec<Param>,
    /// One to three expressions; missing axes are 1.
    pub grid: Vec<Expr>,
    pub grid_span: Span,
    pub warps: Option<Expr>,
    /// `groups(E)`: warp groups per program, each running the body on its own.
    pub groups: Option<Expr>,
    /// `stages(E)`: how many buffers each `cp.async`-prefetched `dot` operand gets.
    pub stages: Option<Expr>,
    /// `occupancy(E)`: programs an SM must hold as far as registers go.
    pub occupancy: Option<Expr>,
    pub body: Block,
}

/// `fn NAME<CONSTS>(PARAMS) -> RESULT { stmts; result }`: a helper inlined at
/// every call.
#[derive(Debug, Clone, PartialEq)]
pub struct Fn {
    pub name: Ident,
    /// `<N: i32, DT: dtype, ...>`: sizes inferred from the arguments' shapes and
    /// dtypes inferred from their element types, at each call.
    pub consts: Vec<FnConst>,
    pub params: Vec<FnParam>,
    pub result: FnResult,
    pub body: Block,
    /// The tail expression: the fn's value.
    pub value: Expr,
}

/// A fn const: `N: i32` (a size) or `DT: dtype` (an element type).
#[derive(Debug, Clone, PartialEq)]
pub struct FnConst {
    pub name: Ident,
    pub ty: ConstType,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FnParam {
    pub name: Ident,
    pub mutable: bool,
    pub ty: ValueType,
}

/// A scalar (`f32`, no dims) or tile (`f32[BM, BN]`) type; dims are const
/// expressions over the fn's consts.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueType {
    pub dtype: DTypeName,
    pub dims: Vec<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FnResult {
    One(ValueType),
    /// `(T, U, ...)`, two or more.
    Tuple(Vec<ValueType>),
}

impl FnResult {
    pub fn types(&self) -> &[ValueType] {
        match self {
            FnResult::One(t) => std::slice::from_ref(t),
            FnResult::Tuple(ts) => ts,
        }
    }
}

/// A dtype as written: a builtin (`bf16`) or the name of a `dtype` const (`DT`),
/// which the checker resolves, since its value depends on the specialization.
#[derive(Debug, Clone, PartialEq)]
pub enum DTypeName {
    Builtin(DType),
    Const(Ident),
}

impl DTypeName {
    pub fn text(&self) -> &str {
        match self {
            DTypeName::Builtin(d) => d.name(),
            DTypeName::Const(id) => &id.name,
        }
    }

    fn same_as(&self, other: &DTypeName) -> bool {
        self.text() == other.text()
    }
}

impl std::fmt::Display for DTypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

/// A specialization constant: `NAME: i32 = 64`, `NAME: bool` or `NAME: dtype = bf16`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstParam {
    pub name: Ident,
    pub ty: ConstType,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstType {
    I32,
    Bool,
    /// An element type; its values are the dtype names.
    DType,
}

impl ConstType {
    pub fn name(self) -> &'static str {
        match self {
            ConstType::I32 => "i32",
            ConstType::Bool => "bool",
            ConstType::DType => "dtype",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: ParamType,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    /// `tensor<bf16>[N, D]`: each dimension is named, never a number.
    Tensor { dtype: DTypeName, dims: Vec<Ident> },
    /// `f32`, `i32` or `bool` (or a `dtype` const that is one), passed by value.
    Scalar(DTypeName),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    Let {
        name: Ident,
        mutable: bool,
        value: Expr,
    },
    /// `let (a, mut b) = value;` binds the values of a tuple or of a fn returning one.
    LetTuple {
        names: Vec<LetName>,
        value: Expr,
    },
    Assign {
        target: Ident,
        value: Expr,
    },
    /// `t[indices] = value;` on a tensor parameter.
    Store {
        tensor: Ident,
        indices: Vec<IndexEntry>,
        value: Expr,
    },
    /// `for var in lower .. upper` (step 1) or `for var in (lower .. upper).step_by(step)`.
    For {
        var: Ident,
        lower: Expr,
        upper: Expr,
        step: Option<Expr>,
        body: Block,
    },
    /// `else if` is an else block holding a single `If` statement.
    If {
        cond: Expr,
        then_block: Block,
        else_block: Option<Block>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LetName {
    pub name: Ident,
    pub mutable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    /// `inf` is `Float(f64::INFINITY)`.
    Float(f64),
    Bool(bool),
    Name(String),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// A builtin or fn call: `sum(t, axis: 1)`, `scale(x, 2.0)`.
    Call {
        func: Ident,
        args: Vec<Arg>,
    },
    /// `cast<f32>(value)`.
    Cast {
        dtype: DTypeName,
        value: Box<Expr>,
    },
    If {
        cond: Box<Expr>,
        then_value: Box<Expr>,
        else_value: Box<Expr>,
    },
    /// `base[entries]`: a load when `base` names a tensor, else an expand-dims.
    Index {
        base: Box<Expr>,
        indices: Vec<IndexEntry>,
    },
    /// `[a, b]`: a shape argument of `full`/`zeros`.
    List(Vec<Expr>),
    /// `(a, b)`, two or more: a fn's result or the value of `let (x, y) = ...`.
    Tuple(Vec<Expr>),
}

/// A call argument; `name` is set for keyword arguments (`axis: 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IndexEntry {
    /// A single position: `t[i, ...]`.
    Point(Expr),
    /// `lo .. hi`.
    Range { lo: Expr, hi: Expr },
    /// `..`: the whole dimension.
    Full(Span),
    /// `:` keeps a dimension in an expand-dims.
    Keep(Span),
    /// `None` inserts a size-1 dimension.
    NewAxis(Span),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Mul,
    Div,
    Rem,
    Add,
    Sub,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }

    /// Binding strength; higher binds tighter. All levels are left-associative.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 5,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::And => 2,
            BinaryOp::Or => 1,
        }
    }
}

impl Expr {
    /// Structural equality ignoring spans: `c0 .. c0 + BLOCK` is recognized as a
    /// range of length `BLOCK` by comparing the two `c0`s this way.
    pub fn same_as(&self, other: &Expr) -> bool {
        use ExprKind as K;
        match (&self.kind, &other.kind) {
            (K::Int(a), K::Int(b)) => a == b,
            (K::Float(a), K::Float(b)) => a == b,
            (K::Bool(a), K::Bool(b)) => a == b,
            (K::Name(a), K::Name(b)) => a == b,
            (K::Unary { op: o1, operand: a }, K::Unary { op: o2, operand: b }) => o1 == o2 && a.same_as(b),
            (K::Binary { op: o1, lhs: l1, rhs: r1 }, K::Binary { op: o2, lhs: l2, rhs: r2 }) => {
                o1 == o2 && l1.same_as(l2) && r1.same_as(r2)
            }
            (K::Call { func: f1, args: a1 }, K::Call { func: f2, args: a2 }) => {
                f1.name == f2.name
                    && a1.len() == a2.len()
                    && a1.iter().zip(a2).all(|(x, y)| {
                        x.name.as_ref().map(|n| &n.name) == y.name.as_ref().map(|n| &n.name)
                            && x.value.same_as(&y.value)
                    })
            }
            (K::Cast { dtype: d1, value: v1 }, K::Cast { dtype: d2, value: v2 }) => d1.same_as(d2) && v1.same_as(v2),
            (
                K::If { cond: c1, then_value: t1, else_value: e1 },
                K::If { cond: c2, then_value: t2, else_value: e2 },
            ) => c1.same_as(c2) && t1.same_as(t2) && e1.same_as(e2),
            (K::Index { base: b1, indices: i1 }, K::Index { base: b2, indices: i2 }) => {
                b1.same_as(b2) && i1.len() == i2.len() && i1.iter().zip(i2).all(|(x, y)| x.same_as(y))
            }
            (K::List(a), K::List(b)) | (K::Tuple(a), K::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            _ => false,
        }
    }
}

impl IndexEntry {
    fn same_as(&self, other: &IndexEntry) -> bool {
        match (self, other) {
            (IndexEntry::Point(a), IndexEntry::Point(b)) => a.same_as(b),
            (IndexEntry::Range { lo: l1, hi: h1 }, IndexEntry::Range { lo: l2, hi: h2 }) => {
                l1.same_as(l2) && h1.same_as(h2)
            }
            (IndexEntry::Full(_), IndexEntry::Full(_))
            | (IndexEntry::Keep(_), IndexEntry::Keep(_))
            | (IndexEntry::NewAxis(_), IndexEntry::NewAxis(_)) => true,
            _ => false,
        }
    }

    pub fn span(&self) -> Span {
        match self {
            IndexEntry::Point(e) => e.span,
            IndexEntry::Range { lo, hi } => lo.span.to(hi.span),
            IndexEntry::Full(span) | IndexEntry::Keep(span) | IndexEntry::NewAxis(span) => *span,
        }
    }
}
