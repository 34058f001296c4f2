//! Front-end diagnostics: an error with a byte span into the source, rendered with
//! ariadne for the command line. Everything the front end rejects ends up here, so
//! the message alone must say what was wrong and what is supported; the span and
//! the notes only add where and why.

use std::fmt;

/// A byte range `start..end` into the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// What kind of rule an error broke; shown as the report's code (`[type]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiagKind {
    /// Malformed source text: the lexer or the parser.
    Syntax,
    /// A name that resolves to nothing: variable, function or kernel.
    UnknownName,
    /// A const override that names no const parameter of the kernel.
    UnknownConst,
    /// Operand dtypes or kinds that an operation does not accept.
    Type,
    /// Tile shapes: not a power of two, ranks that do not broadcast, wrong index counts.
    Shape,
    /// A value that must be known at specialization time is not, or is out of range.
    Const,
    /// Assignment to something that is not a `let mut` variable.
    Mutability,
    /// Two declarations of one name where only one is allowed.
    Duplicate,
    /// Which kernel to specialize: none in the file, or several and no name given.
    Kernel,
    /// A construct the language has but this compiler does not implement yet.
    Unsupported,
}

impl DiagKind {
    pub fn code(self) -> &'static str {
        match self {
            DiagKind::Syntax => "syntax",
            DiagKind::UnknownName => "unknown-name",
            DiagKind::UnknownConst => "unknown-const",
            DiagKind::Type => "type",
            DiagKind::Shape => "shape",
            DiagKind::Const => "const",
            DiagKind::Mutability => "mutability",
            DiagKind::Duplicate => "duplicate",
            DiagKind::Kernel => "kernel",
            DiagKind::Unsupported => "unsupported",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    pub kind: DiagKind,
    pub message: String,
    pub span: Span,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(kind: DiagKind, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { kind, message: message.into(), span, notes: Vec::new() }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// 1-based line and column (in characters) of the span's start.
    pub fn line_col(&self, src: &str) -> (usize, usize) {
        line_col(src, self.span.start)
    }
}

/// 1-based line and column (in characters) of byte offset `offset`, clamped to the source.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(src, offset);
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(src: &str, offset: usize) -> usize {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// All errors of one front-end run, in source order of discovery. Never empty when
/// returned as an error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }
}

impl Diagnostics {
    /// Renders every diagnostic as an ariadne report without colors; each report's
    /// header names `file_name:line:col`.
    pub fn render(&self, file_name: &str, src: &str) -> String {
        use ariadne::{Config, IndexType, Label, Report, ReportKind, Source};
        let config = Config::default().with_color(false).with_index_type(IndexType::Byte);
        let mut out = Vec::new();
        for d in &self.0 {
            // ariadne indexes the source with these offsets; keep them inside it.
            let start = floor_char_boundary(src, d.span.start);
            let end = floor_char_boundary(src, d.span.end).max(start);
            let mut report = Report::build(ReportKind::Error, (file_name, start..end))
                .with_config(config)
                .with_code(d.kind.code())
                .with_message(&d.message)
                // ariadne draws no underline for a label without a message.
                .with_label(Label::new((file_name, start..end)).with_message(&d.message));
            report.with_notes(&d.notes);
            // Writing into a Vec cannot fail; an io error here would be an ariadne bug,
            // and the plain message below still reaches the user.
            if report.finish().write((file_name, Source::from(src)), &mut out).is_err() {
                let (line, col) = d.line_col(src);
                out.extend(format!("error: {file_name}:{line}:{col}: {}\n", d.message).bytes());
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag_at(start: usize, end: usize) -> Diagnostic {
        Diagnostic::new(DiagKind::Type, Span::new(start, end), "cannot add i32 and f32")
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(diag_at(0, 1).line_col("abc"), (1, 1));
    }

    #[test]
    fn line_col_after_newline() {
        assert_eq!(diag_at(6, 7).line_col("ab\ncd\nef"), (3, 1));
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        assert_eq!(diag_at(5, 6).line_col("é = x"), (1, 5));
    }

    #[test]
    fn line_col_clamps_past_end() {
        assert_eq!(diag_at(99, 99).line_col("ab\nc"), (2, 2));
    }

    #[test]
    fn display_of_diagnostic_is_its_message() {
        assert_eq!(diag_at(0, 1).to_string(), "cannot add i32 and f32");
    }

    #[test]
    fn display_of_diagnostics_joins_lines() {
        let ds = Diagnostics(vec![diag_at(0, 1), Diagnostic::new(DiagKind::Syntax, Span::new(0, 0), "expected `)`")]);
        assert_eq!(ds.to_string(), "cannot add i32 and f32\nexpected `)`");
    }

    #[test]
    fn span_to_covers_both() {
        assert_eq!(Span::new(4, 6).to(Span::new(1, 2)), Span::new(1, 6));
    }

    #[test]
    fn render_snapshot() {
        let src = "let a = 1;\nlet b = a + x;\n";
        let ds = Diagnostics(vec![diag_at(19, 24).with_note("use cast<f32>(a)")]);
        expect_test::expect![[r#"
            [type] Error: cannot add i32 and f32
               ╭─[ k.tile:2:9 ]
               │
             2 │ let b = a + x;
               │         ──┬──  
               │           ╰──── cannot add i32 and f32
               │ 
               │ Note: use cast<f32>(a)
            ───╯
        "#]]
        .assert_eq(&ds.render("k.tile", src));
    }

    #[test]
    fn render_has_no_color_codes() {
        let ds = Diagnostics(vec![diag_at(0, 3)]);
        assert!(!ds.render("k.tile", "abc").contains('\u{1b}'));
    }

    #[test]
    fn render_accepts_span_at_end_of_input() {
        let ds = Diagnostics(vec![diag_at(3, 3)]);
        assert!(ds.render("k.tile", "abc").contains("k.tile:1:4"));
    }

    #[test]
    fn render_accepts_span_inside_multibyte_char() {
        let ds = Diagnostics(vec![diag_at(1, 2)]);
        assert!(ds.render("k.tile", "é").contains("k.tile:1:1"));
    }
}
