//! Recursive-descent parser from tokens to [`ast::File`].
//!
//! Errors inside a statement are recorded and the parser skips to the end of that
//! statement, so one run reports several independent mistakes; an error in a kernel
//! header drops that kernel and resumes at the next `kernel`. Nesting depth is
//! capped so hostile input cannot overflow the stack.

use super::ast::*;
use super::token::{Token, TokenKind as T};
use crate::diag::{DiagKind, Diagnostic, Span};
use crate::ir::DType;

/// Deep enough for any real kernel, shallow enough for a 2 MiB test-thread stack.
const MAX_DEPTH: usize = 96;

type PResult<T> = Result<T, Diagnostic>;

/// Parses `tokens`, which the lexer ends with `Eof` (added here if missing).
pub fn parse_tokens(mut tokens: Vec<Token>) -> (File, Vec<Diagnostic>) {
    if tokens.last().map(|t| &t.kind) != Some(&T::Eof) {
        let end = tokens.last().map_or(0, |t| t.span.end);
        tokens.push(Token { kind: T::Eof, span: Span::new(end, end) });
    }
    let mut p = Parser { tokens, pos: 0, errors: Vec::new(), depth: 0 };
    let file = p.file();
    (file, p.errors)
}

struct Parser {
    /// Never empty: ends with `Eof` (see [`parse_tokens`]).
    tokens: Vec<Token>,
    pos: usize,
    errors: Vec<Diagnostic>,
    depth: usize,
}

fn syntax(span: Span, message: impl Into<String>) -> Diagnostic {
    Diagnostic::new(DiagKind::Syntax, span, message)
}

impl Parser {
    fn tok(&self) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[self.pos.min(last)]
    }

    fn peek(&self) -> &T {
        &self.tok().kind
    }

    fn peek_at(&self, n: usize) -> &T {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + n).min(last)].kind
    }

    fn span(&self) -> Span {
        self.tok().span
    }

    /// End of the last consumed token: where a node that just finished ends.
    fn prev_end(&self) -> usize {
        match self.pos.checked_sub(1) {
            Some(i) => self.tokens[i].span.end,
            None => 0,
        }
    }

    fn since(&self, start: Span) -> Span {
        Span::new(start.start, self.prev_end().max(start.start))
    }

    fn bump(&mut self) -> Token {
        let t = self.tok().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn at(&self, kind: &T) -> bool {
        self.peek() == kind
    }

    fn eat(&mut self, kind: &T) -> bool {
        let found = self.at(kind);
        if found {
            self.bump();
        }
        found
    }

    fn unexpected(&self, expected: &str) -> Diagnostic {
        syntax(self.span(), format!("expected {expected}, found {}", self.peek().describe()))
    }

    fn expect(&mut self, kind: &T) -> PResult<Token> {
        if self.at(kind) {
            Ok(self.bump())
        } else {
            Err(self.unexpected(&format!("`{kind}`")))
        }
    }

    fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.peek().clone() {
            T::Ident(name) => {
                let span = self.bump().span;
                Ok(Ident { name, span })
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// A builtin dtype, or any other name, which may be a `dtype` const: what a
    /// name means is the checker's to decide (it reports unknown dtypes).
    fn dtype(&mut self) -> PResult<(DTypeName, Span)> {
        let id = self.ident("a dtype")?;
        let span = id.span;
        match DType::from_name(&id.name) {
            Some(d) => Ok((DTypeName::Builtin(d), span)),
            None => Ok((DTypeName::Const(id), span)),
        }
    }

    /// A comma-separated list up to `close`, allowing a trailing comma.
    fn list<X>(&mut self, close: &T, mut item: impl FnMut(&mut Parser) -> PResult<X>) -> PResult<Vec<X>> {
        let mut items = Vec::new();
        while !self.at(close) {
            items.push(item(self)?);
            if !self.eat(&T::Comma) {
                break;
            }
        }
        self.expect(close)?;
        Ok(items)
    }

    /// Runs `f` one nesting level deeper; the level is restored afterwards.
    fn nested<X>(&mut self, f: impl FnOnce(&mut Parser) -> PResult<X>) -> PResult<X> {
        let outer = self.depth;
        let result = self.deepen().and_then(|()| f(self));
        self.depth = outer;
        result
    }

    /// Counts one more level of tree depth; loops that build left-nested chains
    /// (`a + b + c`, `t[i][j]`) call it per link, since the tree they build is as
    /// deep as a nested one and is walked recursively later.
    fn deepen(&mut self) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            return Err(syntax(self.span(), format!("nesting deeper than {MAX_DEPTH} levels is not supported")));
        }
        self.depth += 1;
        Ok(())
    }

    // ---- File and kernel header ------------------------------------------------

    fn file(&mut self) -> File {
        let mut file = File { fns: Vec::new(), kernels: Vec::new() };
        while !self.at(&T::Eof) {
            let start = self.pos;
            let item = if self.at(&T::Fn) {
                self.fn_item().map(|f| file.fns.push(f))
            } else {
                self.kernel().map(|k| file.kernels.push(k))
            };
            if let Err(e) = item {
                self.errors.push(e);
                if self.pos == start {
                    self.bump();
                }
                while !matches!(self.peek(), T::Kernel | T::Fn | T::Eof) {
                    self.bump();
                }
            }
        }
        if file.kernels.is_empty() && file.fns.is_empty() && self.errors.is_empty() {
            self.errors.push(self.unexpected("`kernel` or `fn`"));
        }
        file
    }

    fn kernel(&mut self) -> PResult<Kernel> {
        self.expect(&T::Kernel)?;
        let name = self.ident("a kernel name")?;
        let consts = if self.eat(&T::Lt) { self.list(&T::Gt, Parser::const_param)? } else { Vec::new() };
        self.expect(&T::LParen)?;
        let params = self.list(&T::RParen, Parser::param)?;
        let grid_start = self.expect(&T::Grid)?.span;
        self.expect(&T::LParen)?;
        let grid = self.list(&T::RParen, Parser::expr)?;
        let grid_span = self.since(grid_start);
        if grid.is_empty() || grid.len() > 3 {
            return Err(syntax(grid_span, format!("grid takes 1 to 3 sizes; got {}", grid.len())));
        }
        let (mut warps, mut groups, mut stages, mut occupancy) = (None, None, None, None);
        // Header options, in any order, each at most once. `groups`, `stages` and
        // `occupancy` are not keywords (they stay usable names everywhere else): here,
        // before the body's `{`, a name followed by `(` can only be an option.
        loop {
            let slot = match self.peek() {
                T::Warps => &mut warps,
                T::Ident(name) if self.peek_at(1) == &T::LParen => match name.as_str() {
                    "groups" => &mut groups,
                    "stages" => &mut stages,
                    "occupancy" => &mut occupancy,
                    _ => {
                        let message = format!(
                            "unknown kernel option `{name}`; the options are warps(E), groups(E), stages(E) and \
                             occupancy(E)"
                        );
                        return Err(syntax(self.span(), message));
                    }
                },
                _ => break,
            };
            let option = self.bump();
            self.expect(&T::LParen)?;
            let e = self.expr()?;
            self.expect(&T::RParen)?;
            if slot.is_some() {
                let message = format!("`{}` is given twice; a kernel takes each option once", option.kind);
                return Err(syntax(self.since(option.span), message));
            }
            *slot = Some(e);
        }
        let body = self.block()?;
        Ok(Kernel { name, consts, params, grid, grid_span, warps, groups, stages, occupancy, body })
    }

    fn fn_item(&mut self) -> PResult<Fn> {
        self.expect(&T::Fn)?;
        let name = self.ident("a fn name")?;
        let consts = if self.eat(&T::Lt) { self.list(&T::Gt, Parser::fn_const)? } else { Vec::new() };
        self.expect(&T::LParen)?;
        let params = self.list(&T::RParen, Parser::fn_param)?;
        if !self.at(&T::Arrow) {
            // Fns cannot store or assign outside themselves, so one without a result does nothing.
            return Err(self.unexpected("`->` and the result type (a fn's only effect is its result)"));
        }
        self.bump();
        let result = if self.at(&T::LParen) {
            let open = self.bump().span;
            let types = self.list(&T::RParen, Parser::value_type)?;
            if types.len() < 2 {
                return Err(syntax(self.since(open), "a tuple result type needs at least two types"));
            }
            FnResult::Tuple(types)
        } else {
            FnResult::One(self.value_type()?)
        };
        let (body, value) = self.fn_body(&name)?;
        Ok(Fn { name, consts, params, result, body, value })
    }

    /// `N: i32` or `DT: dtype`; fn consts are inferred from the arguments, so they
    /// are sizes or element types, never flags.
    fn fn_const(&mut self) -> PResult<FnConst> {
        let name = self.ident("a const parameter name")?;
        self.expect(&T::Colon)?;
        let ty = self.ident("`i32` or `dtype`")?;
        let ty = match ty.name.as_str() {
            "i32" => ConstType::I32,
            "dtype" => ConstType::DType,
            other => {
                return Err(syntax(
                    ty.span,
                    format!("fn const parameters must be i32 (sizes) or dtype (element types); got `{other}`"),
                ))
            }
        };
        Ok(FnConst { name, ty })
    }

    fn fn_param(&mut self) -> PResult<FnParam> {
        let mutable = self.eat(&T::Mut);
        let name = self.ident("a parameter name")?;
        self.expect(&T::Colon)?;
        Ok(FnParam { name, mutable, ty: self.value_type()? })
    }

    /// `f32` or `f32[BM, BN]`.
    fn value_type(&mut self) -> PResult<ValueType> {
        let start = self.span();
        let (dtype, _) = self.dtype()?;
        let dims = if self.at(&T::LBracket) {
            let open = self.bump().span;
            let dims = self.list(&T::RBracket, Parser::expr)?;
            if dims.is_empty() {
                return Err(syntax(self.since(open), "a tile type needs at least one dimension, e.g. `f32[N]`"));
            }
            dims
        } else {
            Vec::new()
        };
        Ok(ValueType { dtype, dims, span: self.since(start) })
    }

    /// `{ stmts; value }`: like a block, but ending in the expression that is the fn's value.
    fn fn_body(&mut self, name: &Ident) -> PResult<(Block, Expr)> {
        self.nested(|p| {
            let open = p.expect(&T::LBrace)?.span;
            let mut stmts = Vec::new();
            loop {
                if matches!(p.peek(), T::RBrace | T::Eof) {
                    return Err(p.unexpected(&format!("the result expression of `{}` before `}}`", name.name)));
                }
                let start = p.span();
                let item = match p.peek() {
                    T::Let | T::For | T::If => p.stmt().map(|s| stmts.push(s)),
                    _ => match p.expr() {
                        Ok(value) if p.at(&T::RBrace) => {
                            p.bump();
                            return Ok((Block { stmts, span: p.since(open) }, value));
                        }
                        Ok(target) => p.assign_rest(target).map(|kind| stmts.push(Stmt { kind, span: p.since(start) })),
                        Err(e) => Err(e),
                    },
                };
                if let Err(e) = item {
                    p.errors.push(e);
                    p.skip_statement();
                }
            }
        })
    }

    fn const_param(&mut self) -> PResult<ConstParam> {
        let name = self.ident("a const parameter name")?;
        self.expect(&T::Colon)?;
        let ty_id = self.ident("`i32`, `bool` or `dtype`")?;
        let ty = match ty_id.name.as_str() {
            "i32" => ConstType::I32,
            "bool" => ConstType::Bool,
            "dtype" => ConstType::DType,
            other => {
                return Err(syntax(ty_id.span, format!("const parameters must be i32, bool or dtype; got `{other}`")))
            }
        };
        // Stop below comparisons: in `<A: i32 = 4>` the `>` closes the list.
        let default = if self.eat(&T::Eq) { Some(self.binary(BinaryOp::Add.precedence())?) } else { None };
        Ok(ConstParam { name, ty, default })
    }

    fn param(&mut self) -> PResult<Param> {
        let name = self.ident("a parameter name")?;
        self.expect(&T::Colon)?;
        if self.eat(&T::Tensor) {
            self.expect(&T::Lt)?;
            let (dtype, _) = self.dtype()?;
            self.expect(&T::Gt)?;
            let open = self.expect(&T::LBracket)?.span;
            let dims = self.list(&T::RBracket, |p| p.ident("a dimension name"))?;
            if dims.is_empty() {
                return Err(syntax(self.since(open), "a tensor needs at least one named dimension, e.g. `[N]`"));
            }
            return Ok(Param { name, ty: ParamType::Tensor { dtype, dims } });
        }
        let (dtype, span) = self.dtype()?;
        // A `dtype` const is checked once its value is known (`check::header`).
        if let DTypeName::Builtin(d @ (DType::F16 | DType::BF16)) = dtype {
            return Err(syntax(span, format!("scalar parameters must be f32, i32 or bool; got {d}")));
        }
        Ok(Param { name, ty: ParamType::Scalar(dtype) })
    }

    // ---- Statements -------------------------------------------------------------

    fn block(&mut self) -> PResult<Block> {
        self.nested(|p| {
            let open = p.expect(&T::LBrace)?.span;
            let mut stmts = Vec::new();
            while !matches!(p.peek(), T::RBrace | T::Eof) {
                match p.stmt() {
                    Ok(s) => stmts.push(s),
                    Err(e) => {
                        p.errors.push(e);
                        p.skip_statement();
                    }
                }
            }
            p.expect(&T::RBrace)?;
            Ok(Block { stmts, span: p.since(open) })
        })
    }

    /// Error recovery: skips past the next `;` of this block, or up to its `}`.
    fn skip_statement(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                T::Eof => return,
                T::Semi if depth == 0 => {
                    self.bump();
                    return;
                }
                T::RBrace if depth == 0 => return,
                T::LBrace => depth += 1,
                T::RBrace => depth -= 1,
                _ => {}
            }
            self.bump();
        }
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        let start = self.span();
        let kind = match self.peek() {
            T::Let => self.let_stmt()?,
            T::For => self.for_stmt()?,
            T::If => self.if_stmt()?,
            _ => self.assign_stmt()?,
        };
        Ok(Stmt { kind, span: self.since(start) })
    }

    fn let_stmt(&mut self) -> PResult<StmtKind> {
        self.expect(&T::Let)?;
        if self.at(&T::LParen) {
            let open = self.bump().span;
            let names = self.list(&T::RParen, |p| {
                let mutable = p.eat(&T::Mut);
                Ok(LetName { name: p.ident("a variable name")?, mutable })
            })?;
            if names.len() < 2 {
                return Err(syntax(self.since(open), "`let (...)` needs at least two names"));
            }
            self.expect(&T::Eq)?;
            let value = self.expr()?;
            self.expect(&T::Semi)?;
            return Ok(StmtKind::LetTuple { names, value });
        }
        let mutable = self.eat(&T::Mut);
        let name = self.ident("a variable name")?;
        self.expect(&T::Eq)?;
        let value = self.expr()?;
        self.expect(&T::Semi)?;
        Ok(StmtKind::Let { name, mutable, value })
    }

    fn assign_stmt(&mut self) -> PResult<StmtKind> {
        let target = self.expr()?;
        self.assign_rest(target)
    }

    /// The rest of an assignment or store whose left side `target` is parsed.
    fn assign_rest(&mut self, target: Expr) -> PResult<StmtKind> {
        if self.at(&T::Semi) {
            return Err(syntax(target.span, "an expression alone is not a statement; bind it with `let`"));
        }
        self.expect(&T::Eq)?;
        let value = self.expr()?;
        self.expect(&T::Semi)?;
        match target.kind {
            ExprKind::Name(name) => Ok(StmtKind::Assign { target: Ident { name, span: target.span }, value }),
            ExprKind::Index { base, indices } => match base.kind {
                ExprKind::Name(name) => Ok(StmtKind::Store { tensor: Ident { name, span: base.span }, indices, value }),
                _ => Err(syntax(base.span, "only a tensor parameter can be stored to: `t[i, lo .. hi] = value;`")),
            },
            _ => Err(syntax(target.span, "expected a variable or `tensor[indices]` before `=`")),
        }
    }

    fn for_stmt(&mut self) -> PResult<StmtKind> {
        self.expect(&T::For)?;
        let var = self.ident("a loop variable")?;
        self.expect(&T::In)?;
        let (lower, upper, step) = self.for_range()?;
        let body = self.block()?;
        Ok(StmtKind::For { var, lower, upper, step, body })
    }

    /// `lo .. hi` or `(lo .. hi).step_by(s)`. A leading `(` may also just open a
    /// parenthesized `lo`, as in `(a + b) * 2 .. hi`.
    fn for_range(&mut self) -> PResult<(Expr, Expr, Option<Expr>)> {
        if self.at(&T::LParen) {
            let open = self.bump().span;
            let first = self.expr()?;
            if self.eat(&T::DotDot) {
                let upper = self.expr()?;
                self.expect(&T::RParen)?;
                let step = if self.eat(&T::Dot) {
                    let method = self.ident("`step_by`")?;
                    if method.name != "step_by" {
                        return Err(syntax(method.span, format!("expected `step_by`, found `{}`", method.name)));
                    }
                    self.expect(&T::LParen)?;
                    let s = self.expr()?;
                    self.expect(&T::RParen)?;
                    Some(s)
                } else {
                    None
                };
                return Ok((first, upper, step));
            }
            self.expect(&T::RParen)?;
            let paren = Expr { kind: first.kind, span: self.since(open) };
            let operand = self.postfix(paren)?;
            let lower = self.binary_rest(operand, 1)?;
            self.expect(&T::DotDot)?;
            return Ok((lower, self.expr()?, None));
        }
        let lower = self.expr()?;
        self.expect(&T::DotDot)?;
        Ok((lower, self.expr()?, None))
    }

    fn if_stmt(&mut self) -> PResult<StmtKind> {
        self.expect(&T::If)?;
        let cond = self.expr()?;
        let then_block = self.block()?;
        let else_block = if self.eat(&T::Else) {
            if self.at(&T::If) {
                let start = self.span();
                let nested = self.nested(Parser::if_stmt)?;
                let span = self.since(start);
                Some(Block { stmts: vec![Stmt { kind: nested, span }], span })
            } else {
                Some(self.block()?)
            }
        } else {
            None
        };
        Ok(StmtKind::If { cond, then_block, else_block })
    }

    // ---- Expressions ------------------------------------------------------------

    pub fn expr(&mut self) -> PResult<Expr> {
        self.binary(1)
    }

    /// Precedence climbing over operators that bind at least `min_prec`.
    fn binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let lhs = self.unary()?;
        self.binary_rest(lhs, min_prec)
    }

    fn binary_rest(&mut self, lhs: Expr, min_prec: u8) -> PResult<Expr> {
        self.nested(|p| p.binary_chain(lhs, min_prec))
    }

    fn binary_chain(&mut self, mut lhs: Expr, min_prec: u8) -> PResult<Expr> {
        while let Some(op) = binary_op(self.peek()).filter(|op| op.precedence() >= min_prec) {
            self.deepen()?;
            self.bump();
            let rhs = self.binary(op.precedence() + 1)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        self.nested(|p| {
            let op = match p.peek() {
                T::Minus => UnaryOp::Neg,
                T::Bang => UnaryOp::Not,
                _ => {
                    let e = p.primary()?;
                    return p.postfix(e);
                }
            };
            let start = p.bump().span;
            let operand = p.unary()?;
            let span = start.to(operand.span);
            Ok(Expr { kind: ExprKind::Unary { op, operand: Box::new(operand) }, span })
        })
    }

    fn postfix(&mut self, e: Expr) -> PResult<Expr> {
        self.nested(|p| p.index_chain(e))
    }

    fn index_chain(&mut self, mut e: Expr) -> PResult<Expr> {
        while self.at(&T::LBracket) {
            self.deepen()?;
            self.bump();
            let open = self.prev_end();
            let indices = self.list(&T::RBracket, Parser::index_entry)?;
            if indices.is_empty() {
                return Err(syntax(Span::new(open, self.prev_end()), "expected at least one index inside `[]`"));
            }
            let span = self.since(e.span);
            e = Expr { kind: ExprKind::Index { base: Box::new(e), indices }, span };
        }
        Ok(e)
    }

    fn index_entry(&mut self) -> PResult<IndexEntry> {
        match self.peek() {
            T::Colon => Ok(IndexEntry::Keep(self.bump().span)),
            T::None => Ok(IndexEntry::NewAxis(self.bump().span)),
            T::DotDot => {
                let span = self.bump().span;
                if matches!(self.peek(), T::Comma | T::RBracket) {
                    Ok(IndexEntry::Full(span))
                } else {
                    Err(self.unexpected("`,` or `]` after `..` (a range needs a start: `lo .. hi`)"))
                }
            }
            _ => {
                let lo = self.expr()?;
                if self.eat(&T::DotDot) {
                    let hi = self.expr()?;
                    Ok(IndexEntry::Range { lo, hi })
                } else {
                    Ok(IndexEntry::Point(lo))
                }
            }
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let start = self.span();
        let kind = match self.peek().clone() {
            T::Int(v) => {
                self.bump();
                ExprKind::Int(v)
            }
            T::Float(v) => {
                self.bump();
                ExprKind::Float(v)
            }
            T::Inf => {
                self.bump();
                ExprKind::Float(f64::INFINITY)
            }
            T::True | T::False => ExprKind::Bool(self.bump().kind == T::True),
            T::Ident(name) => {
                let func = Ident { name, span: self.bump().span };
                if self.eat(&T::LParen) {
                    let args = self.list(&T::RParen, Parser::call_arg)?;
                    ExprKind::Call { func, args }
                } else {
                    ExprKind::Name(func.name)
                }
            }
            T::Cast => {
                self.bump();
                self.expect(&T::Lt)?;
                let (dtype, _) = self.dtype()?;
                self.expect(&T::Gt)?;
                self.expect(&T::LParen)?;
                let value = self.expr()?;
                self.expect(&T::RParen)?;
                ExprKind::Cast { dtype, value: Box::new(value) }
            }
            T::LParen => {
                self.bump();
                let inner = self.expr()?;
                if self.eat(&T::Comma) {
                    let mut items = vec![inner];
                    items.extend(self.list(&T::RParen, Parser::expr)?);
                    if items.len() < 2 {
                        return Err(syntax(self.since(start), "a tuple needs at least two values; drop the `,`"));
                    }
                    ExprKind::Tuple(items)
                } else {
                    self.expect(&T::RParen)?;
                    inner.kind
                }
            }
            T::LBracket => {
                self.bump();
                ExprKind::List(self.list(&T::RBracket, Parser::expr)?)
            }
            T::If => self.if_expr()?,
            _ => return Err(self.unexpected("an expression")),
        };
        Ok(Expr { kind, span: self.since(start) })
    }

    fn call_arg(&mut self) -> PResult<Arg> {
        let name = match (self.peek().clone(), self.peek_at(1)) {
            (T::Ident(name), T::Colon) => {
                let span = self.bump().span;
                self.bump();
                Some(Ident { name, span })
            }
            _ => None,
        };
        Ok(Arg { name, value: self.expr()? })
    }

    /// `if c { a } else { b }`; the else branch may be another `if` expression.
    fn if_expr(&mut self) -> PResult<ExprKind> {
        self.expect(&T::If)?;
        let cond = self.expr()?;
        let then_value = self.braced_expr()?;
        self.expect(&T::Else)?;
        let else_value = if self.at(&T::If) {
            let start = self.span();
            let kind = self.nested(Parser::if_expr)?;
            Expr { kind, span: self.since(start) }
        } else {
            self.braced_expr()?
        };
        Ok(ExprKind::If { cond: Box::new(cond), then_value: Box::new(then_value), else_value: Box::new(else_value) })
    }

    fn braced_expr(&mut self) -> PResult<Expr> {
        self.expect(&T::LBrace)?;
        let e = self.expr()?;
        self.expect(&T::RBrace)?;
        Ok(e)
    }
}

fn binary_op(t: &T) -> Option<BinaryOp> {
    Some(match t {
        T::Star => BinaryOp::Mul,
        T::Slash => BinaryOp::Div,
        T::Percent => BinaryOp::Rem,
        T::Plus => BinaryOp::Add,
        T::Minus => BinaryOp::Sub,
        T::Lt => BinaryOp::Lt,
        T::Le => BinaryOp::Le,
        T::Gt => BinaryOp::Gt,
        T::Ge => BinaryOp::Ge,
        T::EqEq => BinaryOp::Eq,
        T::Ne => BinaryOp::Ne,
        T::AndAnd => BinaryOp::And,
        T::OrOr => BinaryOp::Or,
        _ => return None,
    })
}
