//! Source text to tokens. Errors are collected, not fatal: a bad character is
//! reported and skipped so the parser still sees the rest of the file.

use super::token::{Token, TokenKind};
use crate::diag::{DiagKind, Diagnostic, Span};

/// Tokens ending with one `Eof` at the end of the source, plus any lexical errors.
pub fn lex(src: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut lexer = Lexer { src, pos: 0, tokens: Vec::new(), errors: Vec::new() };
    lexer.run();
    (lexer.tokens, lexer.errors)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    errors: Vec<Diagnostic>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat_while(&mut self, pred: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token { kind, span: Span::new(start, self.pos) });
    }

    fn error(&mut self, start: usize, message: String) {
        self.errors.push(Diagnostic::new(DiagKind::Syntax, Span::new(start, self.pos), message));
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            if c.is_whitespace() {
                self.bump();
            } else if c == '/' && self.peek_at(1) == Some('/') {
                self.eat_while(|c| c != '\n');
            } else if c.is_ascii_digit() {
                self.number(start);
            } else if c.is_ascii_alphabetic() || c == '_' {
                self.eat_while(|c| c.is_ascii_alphanumeric() || c == '_');
                let word = &self.src[start..self.pos];
                let kind = TokenKind::keyword(word).unwrap_or_else(|| TokenKind::Ident(word.to_string()));
                self.push(kind, start);
            } else {
                self.punct(start, c);
            }
        }
        let end = self.src.len();
        self.tokens.push(Token { kind: TokenKind::Eof, span: Span::new(end, end) });
    }

    fn number(&mut self, start: usize) {
        self.eat_while(|c| c.is_ascii_digit());
        let mut is_float = false;
        // `0..D` is an int and a range, not the float `0.`: a fraction needs a digit.
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.bump();
            self.eat_while(|c| c.is_ascii_digit());
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let signed = matches!(self.peek_at(1), Some('+' | '-'));
            let digit_at = if signed { 2 } else { 1 };
            if self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                is_float = true;
                for _ in 0..digit_at {
                    self.bump();
                }
                self.eat_while(|c| c.is_ascii_digit());
            }
        }
        let text = &self.src[start..self.pos];
        if is_float {
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => self.push(TokenKind::Float(v), start),
                _ => {
                    self.error(start, format!("float literal `{text}` is out of range; use `inf` for infinity"));
                    self.push(TokenKind::Float(0.0), start);
                }
            }
        } else {
            match text.parse::<i64>() {
                Ok(v) if v <= i32::MAX as i64 => self.push(TokenKind::Int(v), start),
                _ => {
                    let text = text.to_string();
                    self.error(start, format!("integer literal `{text}` does not fit in i32 (at most {})", i32::MAX));
                    self.push(TokenKind::Int(0), start);
                }
            }
        }
    }

    fn punct(&mut self, start: usize, c: char) {
        self.bump();
        let next = self.peek();
        let two = |kind| (kind, true);
        let one = |kind| (kind, false);
        let (kind, double) = match (c, next) {
            ('(', _) => one(TokenKind::LParen),
            (')', _) => one(TokenKind::RParen),
            ('[', _) => one(TokenKind::LBracket),
            (']', _) => one(TokenKind::RBracket),
            ('{', _) => one(TokenKind::LBrace),
            ('}', _) => one(TokenKind::RBrace),
            ('<', Some('=')) => two(TokenKind::Le),
            ('<', _) => one(TokenKind::Lt),
            ('>', Some('=')) => two(TokenKind::Ge),
            ('>', _) => one(TokenKind::Gt),
            ('=', Some('=')) => two(TokenKind::EqEq),
            ('=', _) => one(TokenKind::Eq),
            ('!', Some('=')) => two(TokenKind::Ne),
            ('!', _) => one(TokenKind::Bang),
            ('&', Some('&')) => two(TokenKind::AndAnd),
            ('|', Some('|')) => two(TokenKind::OrOr),
            (',', _) => one(TokenKind::Comma),
            (';', _) => one(TokenKind::Semi),
            (':', _) => one(TokenKind::Colon),
            ('.', Some('.')) => two(TokenKind::DotDot),
            ('.', _) => one(TokenKind::Dot),
            ('+', _) => one(TokenKind::Plus),
            ('-', Some('>')) => two(TokenKind::Arrow),
            ('-', _) => one(TokenKind::Minus),
            ('*', _) => one(TokenKind::Star),
            ('/', _) => one(TokenKind::Slash),
            ('%', _) => one(TokenKind::Percent),
            _ => {
                let hint = match c {
                    '&' => "; logical and is `&&`",
                    '|' => "; logical or is `||`",
                    _ => "",
                };
                self.error(start, format!("unexpected character `{}`{hint}", c.escape_debug()));
                return;
            }
        };
        if double {
            self.bump();
        }
        self.push(kind, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        lex(src).0.into_iter().map(|t| t.kind).collect()
    }

    fn first_error(src: &str) -> String {
        lex(src).1.first().map(|d| d.message.clone()).unwrap_or_default()
    }

    #[test]
    fn int_then_range_is_not_a_float() {
        assert_eq!(kinds("0..D"), [TokenKind::Int(0), TokenKind::DotDot, TokenKind::Ident("D".into()), TokenKind::Eof]);
    }

    #[test]
    fn float_forms() {
        assert_eq!(
            kinds("1.5 1e-5 2E3"),
            [TokenKind::Float(1.5), TokenKind::Float(1e-5), TokenKind::Float(2e3), TokenKind::Eof]
        );
    }

    #[test]
    fn keywords_and_idents() {
        assert_eq!(
            kinds("let mut x_1"),
            [TokenKind::Let, TokenKind::Mut, TokenKind::Ident("x_1".into()), TokenKind::Eof]
        );
    }

    #[test]
    fn two_char_operators() {
        assert_eq!(
            kinds("<= >= == != && || .."),
            [
                TokenKind::Le,
                TokenKind::Ge,
                TokenKind::EqEq,
                TokenKind::Ne,
                TokenKind::AndAnd,
                TokenKind::OrOr,
                TokenKind::DotDot,
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn arrow_is_one_token() {
        assert_eq!(kinds("->"), [TokenKind::Arrow, TokenKind::Eof]);
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(kinds("a // b c\nd"), [TokenKind::Ident("a".into()), TokenKind::Ident("d".into()), TokenKind::Eof]);
    }

    #[test]
    fn spans_are_byte_offsets() {
        assert_eq!(lex("ab  cd").0[1].span, Span::new(4, 6));
    }

    #[test]
    fn bad_character_is_reported() {
        assert_eq!(first_error("a $ b"), "unexpected character `$`");
    }

    #[test]
    fn bad_character_is_skipped() {
        assert_eq!(kinds("a $ b").len(), 3);
    }

    #[test]
    fn single_ampersand_hints_at_double() {
        assert_eq!(first_error("a & b"), "unexpected character `&`; logical and is `&&`");
    }

    #[test]
    fn int_literal_too_large() {
        assert_eq!(first_error("2147483648"), "integer literal `2147483648` does not fit in i32 (at most 2147483647)");
    }

    #[test]
    fn float_literal_too_large() {
        assert_eq!(first_error("1e999"), "float literal `1e999` is out of range; use `inf` for infinity");
    }

    #[test]
    fn eof_token_sits_at_end() {
        assert_eq!(lex("abc").0.last().map(|t| t.span), Some(Span::new(3, 3)));
    }
}
