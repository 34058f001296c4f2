//! Turns what the grid block yields into launch sizes.

use super::error::InterpError;
use super::eval::{Evaluator, Memory};
use super::value::{GridArg, Tile};
use crate::ir::{DType, Kernel};

/// Evaluates the grid block over already-validated arguments.
pub(super) fn evaluate(kernel: &Kernel, args: &[GridArg<'_>]) -> Result<[u32; 3], InterpError> {
    let yielded = Evaluator::new(kernel, Memory::Shapes(args)).grid_block()?;
    let [x, y, z] = yielded.as_slice() else {
        return Err(InterpError::Malformed {
            op: "yield",
            detail: format!("the grid block yields {} values; it must yield 3", yielded.len()),
        });
    };
    Ok([size(0, x)?, size(1, y)?, size(2, z)?])
}

fn size(axis: usize, tile: &Tile) -> Result<u32, InterpError> {
    match *tile.data.as_slice() {
        // An i32 never exceeds 2^31 - 1, so only negative sizes need rejecting.
        [value] if tile.dtype() == DType::I32 && tile.ty.is_scalar() => {
            u32::try_from(value as i64).map_err(|_| InterpError::GridSize { axis, size: value as i64 })
        }
        _ => Err(InterpError::Malformed {
            op: "yield",
            detail: format!("grid size {axis} is {}; it must be an i32 scalar", tile.ty),
        }),
    }
}
