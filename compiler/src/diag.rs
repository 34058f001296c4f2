//! STUB (front-end helper replaces): diagnostics with source spans.
#[derive(Debug, Clone, PartialEq, Eq, Copy, Default)]
pub struct Span { pub start: usize, pub end: usize }
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic { pub message: String, pub span: Span }
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("\n"))]
pub struct Diagnostics(pub Vec<Diagnostic>);
