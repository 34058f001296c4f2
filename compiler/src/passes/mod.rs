//! STUB (IR helper replaces): Tile IR → Tile IR passes.
use crate::ir::Kernel;
pub fn run_default(_kernel: &mut Kernel) {}
