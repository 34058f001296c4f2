//! STUB (IR helper replaces): the Tile IR text form.
use super::Kernel;
pub fn print_kernel(kernel: &Kernel) -> String { format!("{kernel:?}") }
