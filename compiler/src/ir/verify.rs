//! STUB (IR helper replaces): checks the invariants listed in ir/mod.rs.
use super::Kernel;
#[derive(Debug, thiserror::Error)]
#[error("invalid Tile IR: {0}")]
pub struct VerifyError(pub String);
pub fn verify(_kernel: &Kernel) -> Result<(), VerifyError> { Ok(()) }
