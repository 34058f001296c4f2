//! Reads the Tile IR text form written by [`super::print::print_kernel`] (see there and
//! docs/tile-ir.md for the syntax).
//!
//! The parser resolves names and records the type written at each definition, but it
//! does not verify: IR that is ill-typed or uses a value out of scope parses as written,
//! so verifier tests can be written as text. Callers run [`super::verify::verify`].
//! It rejects only what a [`Kernel`] cannot hold or the text cannot mean: bad tokens,
//! unknown ops, dtypes or params, a value defined twice, a value used but defined
//! nowhere, and value ids that leave a gap in `value_types`.

use super::{
    BinaryOp, Block, CmpOp, ConstValue, DType, Index, Inst, Kernel, Literal, Op, Param, ParamId, ReduceOp, Type,
    UnaryOp, ValueId,
};
use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{line}:{col}: {kind}")]
pub struct IrParseError {
    pub line: usize,
    pub col: usize,
    pub kind: IrParseErrorKind,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IrParseErrorKind {
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    #[error("unterminated quoted name; it needs a closing `\"`")]
    UnterminatedString,
    #[error("unknown escape `\\{0}` in a quoted name; supported: \\\" \\\\ \\n")]
    BadEscape(char),
    #[error("malformed number `{0}`")]
    BadNumber(String),
    #[error("{value} does not fit {ty}")]
    OutOfRange { value: String, ty: &'static str },
    #[error("expected {expected}, found {found}")]
    Expected { expected: &'static str, found: String },
    #[error("unknown op `{0}`; ops are: {ops}", ops = op_names().join(", "))]
    UnknownOp(String),
    #[error("unknown dtype `{0}`; supported: bool, i32, f16, bf16, f32")]
    UnknownDType(String),
    #[error("`{0}[]` is not a type; a scalar is written `{0}`")]
    EmptyShape(DType),
    #[error("unknown param `%{0}`; params are declared with `param` at the top of the kernel")]
    UnknownParam(String),
    #[error("param `%{0}` is declared twice")]
    DuplicateParam(String),
    #[error("{value} is defined twice (first at {line}:{col})")]
    Redefined { value: ValueId, line: usize, col: usize },
    #[error("{0} is used but never defined")]
    Undefined(ValueId),
    #[error("{results} result(s) but {types} type(s); each result needs exactly one type")]
    TypeCount { results: usize, types: usize },
    #[error(
        "value ids must be dense: {missing} is neither defined nor listed on the `undefined` line, \
         but {max} is"
    )]
    MissingId { missing: ValueId, max: ValueId },
    #[error("blocks nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Far deeper than any real kernel nests; bounds the recursion of the parser and of every
/// later walk over parsed IR, which debug builds would otherwise overflow near 400 levels.
const MAX_DEPTH: usize = 64;

pub fn parse_kernel(text: &str) -> std::result::Result<Kernel, IrParseError> {
    let toks = Lexer { chars: text.chars().collect(), i: 0, line: 1, col: 1 }.run()?;
    Parser { toks, pos: 0, depth: 0, params: HashMap::new(), values: HashMap::new(), uses: Vec::new() }.kernel()
}

/// One op of each mnemonic, with placeholder operands. The parser finds ops by
/// [`super::op_name`] of these, so it spells every mnemonic as the printer does.
fn op_templates() -> Vec<Op> {
    let v = ValueId(0);
    let p = ParamId(0);
    let mut ops = vec![
        Op::Const(Literal::Int(0)),
        Op::ProgramId { axis: 0 },
        Op::GroupId,
        Op::Dim { tensor: p, axis: 0 },
        Op::Arg { param: p },
        Op::Arange { start: v, len: 0 },
        Op::Splat { value: v },
        Op::ExpandDims { value: v, axis: 0 },
        Op::Broadcast { value: v },
    ];
    ops.extend(BinaryOp::ALL.map(|op| Op::Binary { op, lhs: v, rhs: v }));
    ops.extend(UnaryOp::ALL.map(|op| Op::Unary { op, value: v }));
    ops.extend(CmpOp::ALL.map(|op| Op::Cmp { op, lhs: v, rhs: v }));
    ops.push(Op::Select { cond: v, on_true: v, on_false: v });
    ops.push(Op::Cast { value: v });
    ops.push(Op::Dot { lhs: v, rhs: v });
    ops.push(Op::Trans { value: v });
    ops.push(Op::BinSum { value: v, bins: v });
    ops.extend(ReduceOp::ALL.map(|op| Op::Reduce { op, value: v, axis: 0 }));
    ops.extend(ReduceOp::ALL.map(|op| Op::Scan { op, value: v, axis: 0 }));
    ops.extend([
        Op::Load { tensor: p, indices: Vec::new() },
        Op::Store { tensor: p, indices: Vec::new(), value: v },
        Op::For { lower: v, upper: v, step: v, init: Vec::new(), body: Block::default() },
        Op::If { cond: v, then_block: Block::default(), else_block: Block::default() },
        Op::Yield { values: Vec::new() },
    ]);
    ops
}

fn op_names() -> Vec<&'static str> {
    op_templates().iter().map(super::op_name).collect()
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Newline,
    Eof,
    /// One of `{ } ( ) [ ] < > , : =`.
    Punct(char),
    PlusColon,
    Value(u32),
    Param(String),
    Kernel(String),
    Word(String),
    Str(String),
    Int(i128),
    Float(f64),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Newline => f.write_str("end of line"),
            Tok::Eof => f.write_str("end of input"),
            Tok::Punct(c) => write!(f, "`{c}`"),
            Tok::PlusColon => f.write_str("`+:`"),
            Tok::Value(v) => write!(f, "`%{v}`"),
            Tok::Param(name) => write!(f, "`%{name}`"),
            Tok::Kernel(name) => write!(f, "`@{name}`"),
            Tok::Word(w) => write!(f, "`{w}`"),
            Tok::Str(s) => write!(f, "{s:?}"),
            Tok::Int(v) => write!(f, "`{v}`"),
            Tok::Float(x) => write!(f, "`{x:?}`"),
        }
    }
}

struct Token {
    tok: Tok,
    line: usize,
    col: usize,
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek2(&self) -> Option<char> {
        self.chars.get(self.i + 1).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn error(&self, line: usize, col: usize, kind: IrParseErrorKind) -> IrParseError {
        IrParseError { line, col, kind }
    }

    /// Tokens ending with `Eof`. Blank lines and comment-only lines give no `Newline`,
    /// so a `Newline` always ends a statement.
    fn run(mut self) -> Result<Vec<Token>> {
        let mut out: Vec<Token> = Vec::new();
        loop {
            self.skip_blanks();
            let (line, col) = (self.line, self.col);
            let Some(c) = self.peek() else {
                out.push(Token { tok: Tok::Eof, line, col });
                return Ok(out);
            };
            let tok = match c {
                '\n' => {
                    self.bump();
                    if out.last().is_none_or(|t| t.tok == Tok::Newline) {
                        continue;
                    }
                    Tok::Newline
                }
                '{' | '}' | '(' | ')' | '[' | ']' | '<' | '>' | ',' | ':' | '=' => {
                    self.bump();
                    Tok::Punct(c)
                }
                '+' if self.peek2() == Some(':') => {
                    self.bump();
                    self.bump();
                    Tok::PlusColon
                }
                '%' | '@' => {
                    self.bump();
                    match self.peek() {
                        Some(d) if c == '%' && d.is_ascii_digit() => {
                            let digits = self.take_while(|c| c.is_ascii_digit());
                            let v = digits.parse().map_err(|_| {
                                self.error(
                                    line,
                                    col,
                                    IrParseErrorKind::OutOfRange { value: format!("%{digits}"), ty: "u32" },
                                )
                            })?;
                            Tok::Value(v)
                        }
                        Some('"') => {
                            let name = self.string(line, col)?;
                            self.named(c, name)
                        }
                        Some(d) if d.is_ascii_alphabetic() || d == '_' => {
                            let word = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
                            self.named(c, word)
                        }
                        _ => return Err(self.error(line, col, IrParseErrorKind::UnexpectedChar(c))),
                    }
                }
                '"' => Tok::Str(self.string(line, col)?),
                '-' => {
                    self.bump();
                    match self.peek() {
                        Some(d) if d.is_ascii_digit() => self.number(true, line, col)?,
                        Some(d) if d.is_ascii_alphabetic() => {
                            let word = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
                            if word != "inf" {
                                return Err(self.error(line, col, IrParseErrorKind::BadNumber(format!("-{word}"))));
                            }
                            Tok::Float(f64::NEG_INFINITY)
                        }
                        _ => return Err(self.error(line, col, IrParseErrorKind::UnexpectedChar('-'))),
                    }
                }
                c if c.is_ascii_digit() => self.number(false, line, col)?,
                c if c.is_ascii_alphabetic() || c == '_' => {
                    Tok::Word(self.take_while(|c| c.is_ascii_alphanumeric() || c == '_'))
                }
                c => return Err(self.error(line, col, IrParseErrorKind::UnexpectedChar(c))),
            };
            out.push(Token { tok, line, col });
        }
    }

    fn named(&self, sigil: char, name: String) -> Tok {
        if sigil == '%' {
            Tok::Param(name)
        } else {
            Tok::Kernel(name)
        }
    }

    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => {
                    self.bump();
                }
                Some('/') if self.peek2() == Some('/') => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(|&c| keep(c)) {
            s.push(c);
            self.bump();
        }
        s
    }

    /// A quoted name starting at the current `"`.
    fn string(&mut self, line: usize, col: usize) -> Result<String> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error(line, col, IrParseErrorKind::UnterminatedString)),
                Some('"') => return Ok(s),
                Some('\\') => {
                    let (escape_line, escape_col) = (self.line, self.col - 1);
                    match self.bump() {
                        Some('"') => s.push('"'),
                        Some('\\') => s.push('\\'),
                        Some('n') => s.push('\n'),
                        Some(c) => return Err(self.error(escape_line, escape_col, IrParseErrorKind::BadEscape(c))),
                        None => return Err(self.error(line, col, IrParseErrorKind::UnterminatedString)),
                    }
                }
                Some(c) => s.push(c),
            }
        }
    }

    /// An integer (decimal or `0x` hex) or a float with a `.` or an exponent; the sign,
    /// if any, is already consumed.
    fn number(&mut self, negative: bool, line: usize, col: usize) -> Result<Tok> {
        let mut text = String::new();
        while let Some(c) = self.peek() {
            let exponent_sign = (c == '+' || c == '-') && text.ends_with(['e', 'E']) && !text.starts_with("0x");
            if !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || exponent_sign) {
                break;
            }
            text.push(c);
            self.bump();
        }
        let sign = if negative { "-" } else { "" };
        let bad = || self.error(line, col, IrParseErrorKind::BadNumber(format!("{sign}{text}")));
        let tok = if let Some(hex) = text.strip_prefix("0x") {
            let v = u64::from_str_radix(hex, 16).map_err(|_| bad())?;
            Tok::Int(if negative { -i128::from(v) } else { i128::from(v) })
        } else if text.contains(['.', 'e', 'E']) {
            Tok::Float(format!("{sign}{text}").parse().map_err(|_| bad())?)
        } else if text.bytes().all(|b| b.is_ascii_digit()) {
            let v: i128 = text.parse().map_err(|_| {
                self.error(
                    line,
                    col,
                    IrParseErrorKind::OutOfRange { value: format!("{sign}{text}"), ty: "a 128-bit integer" },
                )
            })?;
            Tok::Int(if negative { -v } else { v })
        } else {
            return Err(bad());
        };
        Ok(tok)
    }
}

/// What the parser knows about one value id.
struct ValueInfo {
    ty: Type,
    /// False for ids listed on the `undefined` line.
    defined: bool,
    line: usize,
    col: usize,
}

/// The part of a `for`/`if` read before its result types; the blocks come after them.
enum Head {
    Plain(Op),
    For { lower: ValueId, upper: ValueId, step: ValueId, init: Vec<ValueId>, args: Vec<ValueId> },
    If { cond: ValueId },
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    params: HashMap<String, ParamId>,
    values: HashMap<u32, ValueInfo>,
    /// Every use, in text order, checked once all definitions are known: the verifier,
    /// not the parser, decides whether a definition is visible at the use.
    uses: Vec<(ValueId, usize, usize)>,
}

type Result<T> = std::result::Result<T, IrParseError>;

impl Parser {
    /// The token at `i`; past the end, the final `Eof` (the lexer always emits one).
    fn token_at(&self, i: usize) -> &Token {
        &self.toks[i.min(self.toks.len() - 1)]
    }

    fn token(&self) -> &Token {
        self.token_at(self.pos)
    }

    fn peek(&self) -> &Tok {
        &self.token().tok
    }

    /// Moves on even past `Eof`, so that `pos - 1` is always the token just consumed.
    fn advance(&mut self) -> Tok {
        let tok = self.peek().clone();
        self.pos += 1;
        tok
    }

    fn error(&self, kind: IrParseErrorKind) -> IrParseError {
        let t = self.token();
        IrParseError { line: t.line, col: t.col, kind }
    }

    fn expected(&self, expected: &'static str) -> IrParseError {
        self.error(IrParseErrorKind::Expected { expected, found: self.peek().to_string() })
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == tok {
            self.advance();
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Tok::Word(w) if w == word) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn punct(&mut self, c: char, expected: &'static str) -> Result<()> {
        if self.eat(&Tok::Punct(c)) {
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn word(&mut self, word: &'static str, expected: &'static str) -> Result<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn line_end(&mut self) -> Result<()> {
        match self.peek() {
            Tok::Newline => {
                self.advance();
                Ok(())
            }
            Tok::Eof => Ok(()),
            _ => Err(self.expected("end of line")),
        }
    }

    fn kernel(mut self) -> Result<Kernel> {
        self.word("kernel", "`kernel`")?;
        let name = match self.advance() {
            Tok::Kernel(name) => name,
            _ => return Err(self.back_expected("a kernel name like `@name`")),
        };
        let mut consts = Vec::new();
        if self.eat_word("consts") {
            self.punct('(', "`(`")?;
            if !self.eat(&Tok::Punct(')')) {
                loop {
                    let name = self.name()?;
                    self.punct('=', "`=`")?;
                    consts.push((name, self.const_value()?));
                    if !self.eat(&Tok::Punct(',')) {
                        break;
                    }
                }
                self.punct(')', "`,` or `)`")?;
            }
        }
        self.word("warps", "`warps`")?;
        self.punct('(', "`(`")?;
        let num_warps = self.u32()?;
        self.punct(')', "`)`")?;
        // Absent means one group, as the printer writes it.
        let mut num_groups = 1;
        if self.eat_word("groups") {
            self.punct('(', "`(`")?;
            num_groups = self.u32()?;
            self.punct(')', "`)`")?;
        }
        // Absent means the default, as the printer writes it.
        let mut num_stages = super::DEFAULT_STAGES;
        if self.eat_word("stages") {
            self.punct('(', "`(`")?;
            num_stages = self.u32()?;
            self.punct(')', "`)`")?;
        }
        let mut occupancy = None;
        if self.eat_word("occupancy") {
            self.punct('(', "`(`")?;
            occupancy = Some(self.u32()?);
            self.punct(')', "`)`")?;
        }
        self.punct('{', "`groups`, `stages`, `occupancy` or `{`")?;
        self.line_end()?;
        let mut params = Vec::new();
        while self.eat_word("param") {
            params.push(self.param(params.len())?);
            self.line_end()?;
        }
        self.word("grid", "`param` or `grid`")?;
        let grid = self.block_with_args()?;
        self.line_end()?;
        self.word("body", "`body`")?;
        let body = self.block_with_args()?;
        self.line_end()?;
        if self.eat_word("undefined") {
            loop {
                self.typed_value(false)?;
                if !self.eat(&Tok::Punct(',')) {
                    break;
                }
            }
            self.line_end()?;
        }
        let close = (self.token().line, self.token().col);
        self.punct('}', "`undefined` or `}`")?;
        self.line_end()?;
        if *self.peek() != Tok::Eof {
            return Err(self.expected("end of input"));
        }
        let value_types = self.value_types(close)?;
        Ok(Kernel { name, consts, params, num_warps, num_groups, num_stages, occupancy, grid, body, value_types })
    }

    /// An error for the token just consumed by `advance`.
    fn back_expected(&mut self, expected: &'static str) -> IrParseError {
        self.pos -= 1;
        self.expected(expected)
    }

    fn value_types(&self, (line, col): (usize, usize)) -> Result<Vec<Type>> {
        for &(v, line, col) in &self.uses {
            if !self.values.get(&v.0).is_some_and(|info| info.defined) {
                return Err(IrParseError { line, col, kind: IrParseErrorKind::Undefined(v) });
            }
        }
        let count = self.values.len() as u32;
        (0..count)
            .map(|id| match self.values.get(&id) {
                Some(info) => Ok(info.ty.clone()),
                None => {
                    let max = self.values.keys().max().copied().unwrap_or(id);
                    let kind = IrParseErrorKind::MissingId { missing: ValueId(id), max: ValueId(max) };
                    Err(IrParseError { line, col, kind })
                }
            })
            .collect()
    }

    fn name(&mut self) -> Result<String> {
        match self.advance() {
            Tok::Word(w) => Ok(w),
            Tok::Str(s) => Ok(s),
            _ => Err(self.back_expected("a name")),
        }
    }

    fn const_value(&mut self) -> Result<ConstValue> {
        match self.advance() {
            Tok::Int(v) => Ok(ConstValue::Int(self.fit(v, "i64", 1)?)),
            Tok::Word(w) => match (w.as_str(), DType::from_name(&w)) {
                ("true", _) => Ok(ConstValue::Bool(true)),
                ("false", _) => Ok(ConstValue::Bool(false)),
                (_, Some(d)) => Ok(ConstValue::DType(d)),
                _ => Err(self.back_expected("an integer, `true`, `false` or a dtype")),
            },
            _ => Err(self.back_expected("an integer, `true`, `false` or a dtype")),
        }
    }

    /// `v` as `T`, or an out-of-range error at the token `back` tokens ago.
    fn fit<T: TryFrom<i128>>(&self, v: i128, ty: &'static str, back: usize) -> Result<T> {
        T::try_from(v).map_err(|_| {
            let t = self.token_at(self.pos - back);
            IrParseError { line: t.line, col: t.col, kind: IrParseErrorKind::OutOfRange { value: v.to_string(), ty } }
        })
    }

    fn int<T: TryFrom<i128>>(&mut self, ty: &'static str) -> Result<T> {
        match self.advance() {
            Tok::Int(v) => self.fit(v, ty, 1),
            _ => Err(self.back_expected("an integer")),
        }
    }

    fn u32(&mut self) -> Result<u32> {
        self.int("u32")
    }

    fn param(&mut self, index: usize) -> Result<Param> {
        let name = match self.advance() {
            Tok::Param(name) => name,
            _ => return Err(self.back_expected("a param name like `%x`")),
        };
        if self.params.contains_key(&name) {
            self.pos -= 1;
            return Err(self.error(IrParseErrorKind::DuplicateParam(name)));
        }
        self.params.insert(name.clone(), ParamId(index as u32));
        self.punct(':', "`:`")?;
        if !self.eat_word("tensor") {
            return Ok(Param::Scalar { name, dtype: self.dtype()? });
        }
        self.punct('<', "`<`")?;
        let dtype = self.dtype()?;
        self.punct('>', "`>`")?;
        self.punct('[', "`[`")?;
        let (mut dims, mut const_dims) = (Vec::new(), Vec::new());
        if !self.eat(&Tok::Punct(']')) {
            loop {
                dims.push(self.name()?);
                const_dims.push(if self.eat(&Tok::Punct('=')) { Some(self.u32()?) } else { None });
                if !self.eat(&Tok::Punct(',')) {
                    break;
                }
            }
            self.punct(']', "`,` or `]`")?;
        }
        let aligned = self.eat_word("aligned");
        Ok(Param::Tensor { name, dtype, dims, const_dims, aligned })
    }

    fn dtype(&mut self) -> Result<DType> {
        match self.advance() {
            Tok::Word(w) => DType::from_name(&w).ok_or_else(|| {
                self.pos -= 1;
                self.error(IrParseErrorKind::UnknownDType(w))
            }),
            _ => Err(self.back_expected("a dtype")),
        }
    }

    fn ty(&mut self) -> Result<Type> {
        let dtype = self.dtype()?;
        let mut shape = Vec::new();
        if self.eat(&Tok::Punct('[')) {
            if *self.peek() == Tok::Punct(']') {
                return Err(self.error(IrParseErrorKind::EmptyShape(dtype)));
            }
            loop {
                shape.push(self.u32()?);
                if !self.eat(&Tok::Punct(',')) {
                    break;
                }
            }
            self.punct(']', "`,` or `]`")?;
        }
        Ok(Type { dtype, shape })
    }

    fn param_ref(&mut self) -> Result<ParamId> {
        match self.advance() {
            Tok::Param(name) => self.params.get(&name).copied().ok_or_else(|| {
                self.pos -= 1;
                self.error(IrParseErrorKind::UnknownParam(name))
            }),
            _ => Err(self.back_expected("a param like `%x`")),
        }
    }

    fn use_value(&mut self) -> Result<ValueId> {
        let (line, col) = (self.token().line, self.token().col);
        match self.advance() {
            Tok::Value(v) => {
                self.uses.push((ValueId(v), line, col));
                Ok(ValueId(v))
            }
            _ => Err(self.back_expected("a value like `%3`")),
        }
    }

    fn value_token(&mut self) -> Result<(ValueId, usize, usize)> {
        let (line, col) = (self.token().line, self.token().col);
        match self.advance() {
            Tok::Value(v) => Ok((ValueId(v), line, col)),
            _ => Err(self.back_expected("a value like `%3`")),
        }
    }

    fn record(&mut self, (v, line, col): (ValueId, usize, usize), ty: Type, defined: bool) -> Result<()> {
        if let Some(first) = self.values.get(&v.0) {
            let kind = IrParseErrorKind::Redefined { value: v, line: first.line, col: first.col };
            return Err(IrParseError { line, col, kind });
        }
        self.values.insert(v.0, ValueInfo { ty, defined, line, col });
        Ok(())
    }

    /// `%3: f32`, defining `%3` (or, on the `undefined` line, only typing it).
    fn typed_value(&mut self, defined: bool) -> Result<ValueId> {
        let v = self.value_token()?;
        self.punct(':', "`:` and a type")?;
        let ty = self.ty()?;
        self.record(v, ty, defined)?;
        Ok(v.0)
    }

    /// `[args(%1: T, ...)] { insts }`: the grid, the body and `if` blocks.
    fn block_with_args(&mut self) -> Result<Block> {
        let mut args = Vec::new();
        if self.eat_word("args") {
            self.punct('(', "`(`")?;
            loop {
                args.push(self.typed_value(true)?);
                if !self.eat(&Tok::Punct(',')) {
                    break;
                }
            }
            self.punct(')', "`,` or `)`")?;
        }
        self.block(args)
    }

    fn block(&mut self, args: Vec<ValueId>) -> Result<Block> {
        self.punct('{', "`{`")?;
        if *self.peek() != Tok::Newline {
            return Err(self.expected("end of line after `{`"));
        }
        self.advance();
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(IrParseErrorKind::TooDeep));
        }
        let mut insts = Vec::new();
        while !self.eat(&Tok::Punct('}')) {
            if *self.peek() == Tok::Eof {
                return Err(self.expected("an instruction or `}`"));
            }
            insts.push(self.inst()?);
        }
        self.depth -= 1;
        Ok(Block { args, insts })
    }

    fn inst(&mut self) -> Result<Inst> {
        let mut results = Vec::new();
        if matches!(self.peek(), Tok::Value(_)) {
            loop {
                results.push(self.value_token()?);
                if !self.eat(&Tok::Punct(',')) {
                    break;
                }
            }
            self.punct('=', "`,` or `=`")?;
        }
        let head = self.head()?;
        if !results.is_empty() {
            let (line, col) = (self.token().line, self.token().col);
            self.punct(':', "`:` and the result types")?;
            let mut types = vec![self.ty()?];
            while self.eat(&Tok::Punct(',')) {
                types.push(self.ty()?);
            }
            if types.len() != results.len() {
                let kind = IrParseErrorKind::TypeCount { results: results.len(), types: types.len() };
                return Err(IrParseError { line, col, kind });
            }
            for (&v, ty) in results.iter().zip(types) {
                self.record(v, ty, true)?;
            }
        }
        let op = match head {
            Head::Plain(op) => op,
            Head::For { lower, upper, step, init, args } => {
                Op::For { lower, upper, step, init, body: self.block(args)? }
            }
            Head::If { cond } => {
                let then_block = self.block_with_args()?;
                self.word("else", "`else`")?;
                Op::If { cond, then_block, else_block: self.block_with_args()? }
            }
        };
        self.line_end()?;
        Ok(Inst { results: results.into_iter().map(|(v, _, _)| v).collect(), op })
    }

    fn comma(&mut self) -> Result<()> {
        self.punct(',', "`,`")
    }

    /// The op and its operands. The mnemonic is looked up among [`op_templates`], and the
    /// template's variant (and operator) says which operands follow.
    fn head(&mut self) -> Result<Head> {
        let word = match self.advance() {
            Tok::Word(w) => w,
            _ => return Err(self.back_expected("an op name")),
        };
        let Some(template) = op_templates().into_iter().find(|op| super::op_name(op) == word) else {
            self.pos -= 1;
            return Err(self.error(IrParseErrorKind::UnknownOp(word)));
        };
        let op = match template {
            Op::Const(_) => Op::Const(self.literal()?),
            Op::ProgramId { .. } => Op::ProgramId { axis: self.int("u8")? },
            Op::GroupId => Op::GroupId,
            Op::Dim { .. } => {
                let tensor = self.param_ref()?;
                self.comma()?;
                Op::Dim { tensor, axis: self.u32()? }
            }
            Op::Arg { .. } => Op::Arg { param: self.param_ref()? },
            Op::Arange { .. } => {
                let start = self.use_value()?;
                self.comma()?;
                Op::Arange { start, len: self.u32()? }
            }
            Op::Splat { .. } => Op::Splat { value: self.use_value()? },
            Op::Broadcast { .. } => Op::Broadcast { value: self.use_value()? },
            Op::Cast { .. } => Op::Cast { value: self.use_value()? },
            Op::Trans { .. } => Op::Trans { value: self.use_value()? },
            Op::Dot { .. } => {
                let lhs = self.use_value()?;
                self.comma()?;
                Op::Dot { lhs, rhs: self.use_value()? }
            }
            Op::BinSum { .. } => {
                let value = self.use_value()?;
                self.comma()?;
                Op::BinSum { value, bins: self.use_value()? }
            }
            Op::Unary { op, .. } => Op::Unary { op, value: self.use_value()? },
            Op::ExpandDims { .. } => {
                let value = self.use_value()?;
                self.comma()?;
                Op::ExpandDims { value, axis: self.u32()? }
            }
            Op::Reduce { op, .. } => {
                let value = self.use_value()?;
                self.comma()?;
                Op::Reduce { op, value, axis: self.u32()? }
            }
            Op::Scan { op, .. } => {
                let value = self.use_value()?;
                self.comma()?;
                Op::Scan { op, value, axis: self.u32()? }
            }
            Op::Binary { op, .. } => {
                let lhs = self.use_value()?;
                self.comma()?;
                Op::Binary { op, lhs, rhs: self.use_value()? }
            }
            Op::Cmp { op, .. } => {
                let lhs = self.use_value()?;
                self.comma()?;
                Op::Cmp { op, lhs, rhs: self.use_value()? }
            }
            Op::Select { .. } => {
                let cond = self.use_value()?;
                self.comma()?;
                let on_true = self.use_value()?;
                self.comma()?;
                Op::Select { cond, on_true, on_false: self.use_value()? }
            }
            Op::Load { .. } => {
                let tensor = self.param_ref()?;
                Op::Load { tensor, indices: self.indices()? }
            }
            Op::Store { .. } => {
                let tensor = self.param_ref()?;
                let indices = self.indices()?;
                self.comma()?;
                Op::Store { tensor, indices, value: self.use_value()? }
            }
            Op::Yield { .. } => {
                let mut values = Vec::new();
                if !matches!(self.peek(), Tok::Newline | Tok::Eof) {
                    values.push(self.use_value()?);
                    while self.eat(&Tok::Punct(',')) {
                        values.push(self.use_value()?);
                    }
                }
                Op::Yield { values }
            }
            Op::For { .. } => return self.for_head(),
            Op::If { .. } => return Ok(Head::If { cond: self.use_value()? }),
        };
        Ok(Head::Plain(op))
    }

    /// `%iv: i32 = %lo to %hi step %st [iter(%c: T = %init, ...)]`.
    fn for_head(&mut self) -> Result<Head> {
        let mut args = vec![self.typed_value(true)?];
        self.punct('=', "`=`")?;
        let lower = self.use_value()?;
        self.word("to", "`to`")?;
        let upper = self.use_value()?;
        self.word("step", "`step`")?;
        let step = self.use_value()?;
        let mut init = Vec::new();
        if self.eat_word("iter") {
            self.punct('(', "`(`")?;
            loop {
                args.push(self.typed_value(true)?);
                self.punct('=', "`=`")?;
                init.push(self.use_value()?);
                if !self.eat(&Tok::Punct(',')) {
                    break;
                }
            }
            self.punct(')', "`,` or `)`")?;
        }
        Ok(Head::For { lower, upper, step, init, args })
    }

    /// `%v`, `%v +: LEN` or `gather %v`.
    fn index(&mut self) -> Result<Index> {
        if self.eat_word("gather") {
            return Ok(Index::Gather(self.use_value()?));
        }
        let start = self.use_value()?;
        Ok(if self.eat(&Tok::PlusColon) { Index::Range { start, len: self.u32()? } } else { Index::Point(start) })
    }

    fn indices(&mut self) -> Result<Vec<Index>> {
        self.punct('[', "`[`")?;
        let mut indices = Vec::new();
        if self.eat(&Tok::Punct(']')) {
            return Ok(indices);
        }
        loop {
            indices.push(self.index()?);
            if !self.eat(&Tok::Punct(',')) {
                break;
            }
        }
        self.punct(']', "`,` or `]`")?;
        Ok(indices)
    }

    fn literal(&mut self) -> Result<Literal> {
        match self.advance() {
            Tok::Int(v) => Ok(Literal::Int(self.fit(v, "i64", 1)?)),
            Tok::Float(x) => Ok(Literal::Float(x)),
            Tok::Word(w) => match w.as_str() {
                "true" => Ok(Literal::Bool(true)),
                "false" => Ok(Literal::Bool(false)),
                "inf" => Ok(Literal::Float(f64::INFINITY)),
                "nan" if self.eat(&Tok::Punct('(')) => {
                    let bits: u64 = self.int("u64")?;
                    self.punct(')', "`)`")?;
                    Ok(Literal::Float(f64::from_bits(bits)))
                }
                "nan" => Ok(Literal::Float(f64::NAN)),
                _ => Err(self.back_expected("a literal (integer, float, `true`, `false`, `inf`, `nan`)")),
            },
            _ => Err(self.back_expected("a literal (integer, float, `true`, `false`, `inf`, `nan`)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::print::print_kernel;
    use expect_test::{expect, Expect};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const VALID: &str = "\
// A comment line, then a blank one.

kernel @copy consts(BLOCK = 64, \"odd name\" = false) warps(2) {
  param %x: tensor<f32>[N, \"64\" = 64]
  param %y: tensor<f32>[N, \"64\" = 64]
  param %s: f32
  grid {
    %0 = dim %x, 0 : i32   // trailing comment
    %1 = const 1 : i32
    yield %0, %1, %1
  }
  body {
    %2 = program_id 0 : i32
    %3 = const 0 : i32
    %4 = load %x[%2, %3 +: 64] : f32[64]
    %5 = const nan(0x7ff8000000000001) : f32
    %6 = cmp_eq %2, %3 : bool
    %7 = if %6 : f32[64] {
      yield %4
    } else {
      yield %4
    }
    store %y[%2, %3 +: 64], %7
  }
  undefined %8: bool
}
";

    fn check(text: &str, expected: Expect) {
        let actual = match parse_kernel(text) {
            Ok(k) => format!("parsed `{}`", k.name),
            Err(e) => e.to_string(),
        };
        expected.assert_eq(&actual);
    }

    /// A kernel whose body is `body` (ids from 1 on), with params `%x: tensor<f32>[N]`
    /// and `%s: f32`.
    fn with_body(body: &str) -> String {
        format!(
            "kernel @k warps(1) {{\n  param %x: tensor<f32>[N]\n  param %s: f32\n  grid {{\n    %0 = const 1 : i32\n    \
             yield %0, %0, %0\n  }}\n  body {{\n{body}\n  }}\n}}\n"
        )
    }

    #[test]
    fn parses_comments_quoted_names_and_nan_bits() {
        check(VALID, expect!["parsed `copy`"]);
    }

    #[test]
    fn groups_parse_after_warps() {
        let text = with_body("    %1 = group_id : i32").replace("warps(1) {", "warps(1) groups(2) stages(3) {");
        let k = parse_kernel(&text).map(|k| (k.num_warps, k.num_groups, k.num_stages)).map_err(|e| e.to_string());
        assert_eq!(k, Ok((1, 2, 3)));
    }

    #[test]
    fn groups_absent_is_one() {
        assert_eq!(parse_kernel(&with_body("")).map(|k| k.num_groups).map_err(|e| e.to_string()), Ok(1));
    }

    #[test]
    fn groups_before_warps_is_an_error() {
        check(
            &with_body("").replace("warps(1) {", "groups(2) warps(1) {"),
            expect!["1:11: expected `warps`, found `groups`"],
        );
    }

    #[test]
    fn groups_after_stages_is_an_error() {
        check(
            &with_body("").replace("warps(1) {", "warps(1) stages(3) groups(2) {"),
            expect!["1:30: expected `groups`, `stages`, `occupancy` or `{`, found `groups`"],
        );
    }

    #[test]
    fn groups_need_a_count() {
        check(
            &with_body("").replace("warps(1) {", "warps(1) groups() {"),
            expect!["1:27: expected an integer, found `)`"],
        );
    }

    #[test]
    fn dtype_const_parses_back() {
        let text = with_body("    %1 = program_id 0 : i32").replace("kernel @k", "kernel @k consts(DT = f16, B = 4)");
        let consts = parse_kernel(&text).map(|k| k.consts).map_err(|e| e.to_string());
        assert_eq!(
            consts,
            Ok(vec![("DT".to_string(), ConstValue::DType(DType::F16)), ("B".to_string(), ConstValue::Int(4))])
        );
    }

    #[test]
    fn const_value_that_is_no_dtype_is_an_error() {
        let text = with_body("    %1 = program_id 0 : i32").replace("kernel @k", "kernel @k consts(DT = f64)");
        check(&text, expect!["1:23: expected an integer, `true`, `false` or a dtype, found `f64`"]);
    }

    #[test]
    fn quoted_dimension_name_is_unquoted() {
        let k = parse_kernel(VALID).map(|k| k.params[0].clone());
        let dims = match k {
            Ok(Param::Tensor { dims, .. }) => dims,
            _ => Vec::new(),
        };
        assert_eq!(dims, ["N", "64"]);
    }

    #[test]
    fn nan_bits_survive() {
        let bits = parse_kernel(VALID).ok().and_then(|k| match k.body.insts[3].op {
            Op::Const(Literal::Float(x)) => Some(x.to_bits()),
            _ => None,
        });
        assert_eq!(bits, Some(0x7ff8000000000001));
    }

    #[test]
    fn reprints_identically() {
        let printed = parse_kernel(VALID).map(|k| print_kernel(&k));
        let expected = VALID.lines().skip(2).map(|l| l.split("   //").next().unwrap_or(l).to_string() + "\n");
        assert_eq!(printed, Ok(expected.collect::<String>()));
    }

    #[test]
    fn unknown_op() {
        check(&with_body("    %1 = frobnicate %0 : i32"), expect!["9:10: unknown op `frobnicate`; ops are: const, program_id, group_id, dim, arg, arange, splat, expand_dims, broadcast, add, sub, mul, div, rem, max, min, and, or, neg, not, abs, exp, exp2, log2, sqrt, rsqrt, cmp_lt, cmp_le, cmp_gt, cmp_ge, cmp_eq, cmp_ne, select, cast, dot, trans, bin_sum, reduce_sum, reduce_max, reduce_min, scan_sum, scan_max, scan_min, load, store, for, if, yield"]);
    }

    #[test]
    fn undefined_value() {
        check(&with_body("    %1 = neg %9 : i32"), expect!["9:14: %9 is used but never defined"]);
    }

    #[test]
    fn value_listed_as_undefined_cannot_be_used() {
        check(
            &with_body("    %1 = neg %2 : i32").replace("  }\n}", "  }\n  undefined %2: i32\n}"),
            expect!["9:14: %2 is used but never defined"],
        );
    }

    #[test]
    fn redefined_value() {
        check(
            &with_body("    %1 = const 1 : i32\n    %1 = const 2 : i32"),
            expect!["10:5: %1 is defined twice (first at 9:5)"],
        );
    }

    #[test]
    fn unknown_dtype() {
        check(
            &with_body("    %1 = const 1 : f64"),
            expect!["9:20: unknown dtype `f64`; supported: bool, i32, f16, bf16, f32"],
        );
    }

    #[test]
    fn empty_shape() {
        check(
            &with_body("    %1 = const 1 : i32[]"),
            expect!["9:24: `i32[]` is not a type; a scalar is written `i32`"],
        );
    }

    #[test]
    fn unclosed_shape() {
        check(&with_body("    %1 = const 1 : i32[4"), expect!["9:25: expected `,` or `]`, found end of line"]);
    }

    #[test]
    fn unknown_param() {
        check(
            &with_body("    %1 = arg %nope : f32"),
            expect!["9:14: unknown param `%nope`; params are declared with `param` at the top of the kernel"],
        );
    }

    #[test]
    fn duplicate_param() {
        check(&with_body("").replace("param %s: f32", "param %x: f32"), expect!["3:9: param `%x` is declared twice"]);
    }

    #[test]
    fn fewer_types_than_results() {
        check(
            &with_body("    %1, %2 = const 1 : i32"),
            expect!["9:22: 2 result(s) but 1 type(s); each result needs exactly one type"],
        );
    }

    #[test]
    fn gap_in_value_ids() {
        check(
            &with_body("    %2 = const 1 : i32"),
            expect![
                "11:1: value ids must be dense: %1 is neither defined nor listed on the `undefined` line, but %2 is"
            ],
        );
    }

    #[test]
    fn missing_result_types() {
        check(&with_body("    %1 = const 1"), expect!["9:17: expected `:` and the result types, found end of line"]);
    }

    #[test]
    fn missing_else() {
        check(&with_body("    if %0 {\n      yield\n    }"), expect!["11:6: expected `else`, found end of line"]);
    }

    #[test]
    fn unexpected_character() {
        check(&with_body("    %1 = const 1 : i32 ;"), expect!["9:24: unexpected character ';'"]);
    }

    #[test]
    fn unterminated_quoted_name() {
        check("kernel @\"k warps(1) {", expect![[r#"1:8: unterminated quoted name; it needs a closing `"`"#]]);
    }

    #[test]
    fn bad_escape() {
        check(
            "kernel @\"a\\tb\" warps(1) {",
            expect![[r#"1:11: unknown escape `\t` in a quoted name; supported: \" \\ \n"#]],
        );
    }

    #[test]
    fn value_id_too_large() {
        check(&with_body("    %99999999999 = const 1 : i32"), expect!["9:5: %99999999999 does not fit u32"]);
    }

    #[test]
    fn axis_too_large() {
        check(&with_body("    %1 = program_id 300 : i32"), expect!["9:21: 300 does not fit u8"]);
    }

    #[test]
    fn literal_too_large() {
        check(
            &with_body("    %1 = const 99999999999999999999 : i32"),
            expect!["9:16: 99999999999999999999 does not fit i64"],
        );
    }

    #[test]
    fn malformed_float() {
        check(&with_body("    %1 = const 1.2.3 : f32"), expect!["9:16: malformed number `1.2.3`"]);
    }

    #[test]
    fn minus_before_a_word() {
        check(&with_body("    %1 = const -nan : f32"), expect!["9:16: malformed number `-nan`"]);
    }

    #[test]
    fn two_instructions_on_one_line() {
        check(
            &with_body("    %1 = const 1 : i32 %2 = const 2 : i32"),
            expect!["9:24: expected end of line, found `%2`"],
        );
    }

    #[test]
    fn text_after_the_kernel() {
        check(&(with_body("") + "kernel"), expect!["12:1: expected end of input, found `kernel`"]);
    }

    #[test]
    fn missing_body() {
        check("kernel @k warps(1) {\n  grid {\n    yield\n  }\n}\n", expect!["5:1: expected `body`, found `}`"]);
    }

    #[test]
    fn empty_input() {
        check("", expect!["1:1: expected `kernel`, found end of input"]);
    }

    #[test]
    fn nesting_is_bounded() {
        let depth = MAX_DEPTH + 1;
        let body = "    if %0 {\n".repeat(depth);
        check(&with_body(&body), expect!["73:5: blocks nest deeper than 64 levels"]);
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let end = VALID.rfind('}').unwrap_or(0);
        let accepted: Vec<usize> =
            VALID.char_indices().map(|(i, _)| i).filter(|&i| i < end && parse_kernel(&VALID[..i]).is_ok()).collect();
        assert_eq!(accepted, Vec::<usize>::new());
    }

    /// Random edits of a valid kernel: parsing must return, never panic, and whatever
    /// parses must print, verify and re-parse without panicking either.
    #[test]
    fn mutated_text_never_panics() {
        let mut rng = StdRng::seed_from_u64(7);
        let alphabet: Vec<char> = "%@{}()[]<>,:=+-.0123456789abcdefxyz_ \n\"\\/#".chars().collect();
        let chars: Vec<char> = VALID.chars().collect();
        let mut parsed = 0;
        for _ in 0..3000 {
            let mut text = chars.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..text.len());
                match rng.random_range(0..3) {
                    0 => {
                        text.remove(at);
                    }
                    1 => text.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                    _ => text[at] = alphabet[rng.random_range(0..alphabet.len())],
                }
            }
            let text: String = text.into_iter().collect();
            if let Ok(k) = parse_kernel(&text) {
                parsed += 1;
                let _ = crate::ir::verify::verify(&k);
                let _ = parse_kernel(&print_kernel(&k));
            }
        }
        assert!(parsed > 0, "no mutation parsed, so the test exercised only errors");
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..rng.random_range(0..80)).map(|_| rng.random()).collect();
            let _ = parse_kernel(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn gather_round_trip() {
        let text = with_body(
            "    %1 = const 0 : i32\n    %2 = arange %1, 16 : i32[16]\n    %3 = load %x[gather %2] : f32[16]",
        );
        let printed = parse_kernel(&text).map(|k| print_kernel(&k));
        assert_eq!(printed, Ok(text));
    }

    #[test]
    fn scans_round_trip() {
        let text = with_body(
            "    %1 = const 0 : i32\n    %2 = arange %1, 16 : i32[16]\n    %3 = scan_sum %2, 0 : i32[16]\n    \
             %4 = scan_max %3, 0 : i32[16]\n    %5 = scan_min %4, 0 : i32[16]",
        );
        let printed = parse_kernel(&text).map(|k| print_kernel(&k));
        assert_eq!(printed, Ok(text));
    }

    #[test]
    fn i32_bin_sum_round_trips() {
        let text =
            with_body("    %1 = const 0 : i32\n    %2 = arange %1, 16 : i32[16]\n    %3 = bin_sum %2, %2 : i32[16]");
        let printed = parse_kernel(&text).map(|k| print_kernel(&k));
        assert_eq!(printed, Ok(text));
    }

    #[test]
    fn gather_without_a_value_is_an_error() {
        check(&with_body("    %1 = load %x[gather] : f32[16]"), expect!["9:24: expected a value like `%3`, found `]`"]);
    }

    #[test]
    fn dot_and_trans_round_trip() {
        let text = with_body(
            "    %1 = const 0 : i32\n    %2 = load %x[%1 +: 16] : f32[16]\n    %3 = expand_dims %2, 1 : f32[16, 1]\n    \
             %4 = broadcast %3 : f32[16, 16]\n    %5 = cast %4 : f16[16, 16]\n    %6 = trans %5 : f16[16, 16]\n    \
             %7 = dot %5, %6 : f32[16, 16]",
        );
        let printed = parse_kernel(&text).map(|k| print_kernel(&k));
        assert_eq!(printed, Ok(text));
    }
}
