//! STUB (IR helper replaces): parses the Tile IR text form back.
use super::Kernel;
#[derive(Debug, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct IrParseError { pub line: usize, pub col: usize, pub message: String }
pub fn parse_kernel(_text: &str) -> Result<Kernel, IrParseError> { Err(IrParseError { line: 1, col: 1, message: "not implemented".into() }) }
