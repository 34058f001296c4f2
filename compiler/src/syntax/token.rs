//! Tokens of the `.tile` language.

use crate::diag::Span;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    Ident(String),
    /// Always within i32 range; the lexer rejects larger literals.
    Int(i64),
    /// Always finite; `inf` is the keyword [`TokenKind::Inf`].
    Float(f64),
    // Keywords.
    Kernel,
    Fn,
    Let,
    Mut,
    For,
    In,
    If,
    Else,
    Grid,
    Warps,
    Tensor,
    Cast,
    True,
    False,
    None,
    Inf,
    // Punctuation.
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Lt,
    Gt,
    Le,
    Ge,
    EqEq,
    Ne,
    Eq,
    Arrow,
    Comma,
    Semi,
    Colon,
    Dot,
    DotDot,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    AndAnd,
    OrOr,
    Eof,
}

impl TokenKind {
    pub fn keyword(word: &str) -> Option<TokenKind> {
        Some(match word {
            "kernel" => TokenKind::Kernel,
            "fn" => TokenKind::Fn,
            "let" => TokenKind::Let,
            "mut" => TokenKind::Mut,
            "for" => TokenKind::For,
            "in" => TokenKind::In,
            "if" => TokenKind::If,
            "else" => TokenKind::Else,
            "grid" => TokenKind::Grid,
            "warps" => TokenKind::Warps,
            "tensor" => TokenKind::Tensor,
            "cast" => TokenKind::Cast,
            "true" => TokenKind::True,
            "false" => TokenKind::False,
            "None" => TokenKind::None,
            "inf" => TokenKind::Inf,
            _ => return None,
        })
    }

    /// How the token reads in "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Ident(name) => format!("identifier `{name}`"),
            TokenKind::Int(v) => format!("integer `{v}`"),
            TokenKind::Float(v) => format!("float `{v:?}`"),
            TokenKind::Eof => "end of file".to_string(),
            other => format!("`{other}`"),
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            TokenKind::Ident(name) => return f.write_str(name),
            TokenKind::Int(v) => return write!(f, "{v}"),
            TokenKind::Float(v) => return write!(f, "{v:?}"),
            TokenKind::Kernel => "kernel",
            TokenKind::Fn => "fn",
            TokenKind::Let => "let",
            TokenKind::Mut => "mut",
            TokenKind::For => "for",
            TokenKind::In => "in",
            TokenKind::If => "if",
            TokenKind::Else => "else",
            TokenKind::Grid => "grid",
            TokenKind::Warps => "warps",
            TokenKind::Tensor => "tensor",
            TokenKind::Cast => "cast",
            TokenKind::True => "true",
            TokenKind::False => "false",
            TokenKind::None => "None",
            TokenKind::Inf => "inf",
            TokenKind::LParen => "(",
            TokenKind::RParen => ")",
            TokenKind::LBracket => "[",
            TokenKind::RBracket => "]",
            TokenKind::LBrace => "{",
            TokenKind::RBrace => "}",
            TokenKind::Lt => "<",
            TokenKind::Gt => ">",
            TokenKind::Le => "<=",
            TokenKind::Ge => ">=",
            TokenKind::EqEq => "==",
            TokenKind::Ne => "!=",
            TokenKind::Eq => "=",
            TokenKind::Arrow => "->",
            TokenKind::Comma => ",",
            TokenKind::Semi => ";",
            TokenKind::Colon => ":",
            TokenKind::Dot => ".",
            TokenKind::DotDot => "..",
            TokenKind::Plus => "+",
            TokenKind::Minus => "-",
            TokenKind::Star => "*",
            TokenKind::Slash => "/",
            TokenKind::Percent => "%",
            TokenKind::Bang => "!",
            TokenKind::AndAnd => "&&",
            TokenKind::OrOr => "||",
            TokenKind::Eof => "end of file",
        };
        f.write_str(text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}
